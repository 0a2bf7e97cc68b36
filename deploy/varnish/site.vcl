# This site's part of the edge cache: where the shop is, and who may purge.
#
# default.vcl includes this file by name, looked up on varnishd's vcl_path: edit it here, or
# keep your own site.vcl in a directory listed before this one
# (varnishd -p vcl_path=/etc/varnish/shop:/path/to/repo/deploy/varnish ...).

# The shop: one gunicorn (or the load balancer in front of several app servers).
backend shop {
    .host = "127.0.0.1";
    .port = "8000";
    .connect_timeout = 2s;
    .first_byte_timeout = 60s;
    .between_bytes_timeout = 30s;
}

# Addresses allowed to purge: the hosts running the shop and its Celery workers (they send the
# purges after changes; EDGE_PURGE_URLS lists this Varnish). Everyone else gets 403.
acl purgers {
    "127.0.0.1";
    "::1";
}

# Several app servers without a load balancer: replace the backend above with one per server
# and spread requests with a director (this file is included before default.vcl's own
# vcl_recv, so the backend is chosen first):
#
#   import directors;
#   backend app1 { .host = "10.0.0.11"; .port = "8000"; }
#   backend app2 { .host = "10.0.0.12"; .port = "8000"; }
#   sub vcl_init { new shop_servers = directors.round_robin();
#                  shop_servers.add_backend(app1); shop_servers.add_backend(app2); }
#   sub vcl_recv { set req.backend_hint = shop_servers.backend(); }

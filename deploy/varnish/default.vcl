# The shop's edge cache: Varnish 7 with the xkey module (Debian packages varnish and
# varnish-modules). README "The edge cache" says how to run it; site.vcl holds the backend and
# the purge ACL.
#
# What is stored: only what the shop marks for the edge. Shared shop pages (home, categories,
# collections, products, search, suggestions) answer with Surrogate-Control: max-age=N (when
# the shop runs with EDGE_CACHE=varnish) and surrogate keys in an xkey header; they are kept N
# seconds, or until a purge of one of their keys (the shop sends those after a change, through
# its outbox). Static files and product images are kept as their Cache-Control says.
#
# What is never stored: a response that sets a cookie, says private / no-store / no-cache, or
# varies by cookie; anything not marked for the edge (error pages, 404s); cart, checkout,
# account, orders, fragments, the console and every request that is not GET or HEAD (passed
# with their cookies). Cookies are removed from requests for shared pages, so the shop renders
# them as for an anonymous visitor and a shopper's session can never end up in one.
#
# Grace: a page past its lifetime is served stale for up to 6 hours while a fresh copy is
# fetched in the background, so shoppers never wait for a slow shop, and a shop that is down
# (or answers 5xx) leaves the stale copy in place. A purged page is gone at once (a hard purge:
# the next visitor gets the new page; Varnish sends one request to the shop per page however
# many visitors ask at once).

vcl 4.1;

import std;
import xkey;

include "site.vcl";

sub vcl_recv {
    if (req.method == "PURGE") {
        if (client.ip !~ purgers) {
            return (synth(403, "Forbidden"));
        }
        if (req.http.xkey-purge) {
            set req.http.xkey-purged = xkey.purge(req.http.xkey-purge);
        } elsif (req.http.xkey-softpurge) {
            set req.http.xkey-purged = xkey.softpurge(req.http.xkey-softpurge);
        } else {
            return (synth(400, "Send the surrogate keys in an xkey-purge header"));
        }
        return (synth(200, "Purged"));
    }
    unset req.http.xkey-purged;
    if (req.method != "GET" && req.method != "HEAD") {
        return (pass);
    }
    if (req.url ~ "^/(\?|$)"
        || req.url ~ "^/(c|collections|products)/"
        || req.url ~ "^/search(/suggest)?(\?|$)"
        || req.url ~ "^/checkout/queue/board\?") {
        # Shared pages: the same for every visitor (the checkout line's board included: a
        # crowd of waiting pages reads it every second, the shop answers it once a second).
        unset req.http.Cookie;
        unset req.http.Authorization;
        # Campaign tags do not change a page: one stored copy for all of them.
        if (req.url ~ "[?&](utm_[a-z]+|gclid|fbclid|msclkid)=") {
            set req.url = regsuball(req.url, "(?<=[?&])(utm_[a-z]+|gclid|fbclid|msclkid)=[^&]*&?", "");
            set req.url = regsub(req.url, "[?&]$", "");
        }
        set req.url = std.querysort(req.url);
        return (hash);
    }
    if (req.url ~ "^/(static|media)/") {
        unset req.http.Cookie;
        return (hash);
    }
    # Cart, checkout, account, orders, fragments, console, webhooks: per visitor.
    return (pass);
}

sub vcl_hit {
    set req.http.X-Cache = "HIT";
    if (obj.ttl <= 0s) {
        set req.http.X-Cache = "HIT-STALE";
    }
}

sub vcl_miss {
    set req.http.X-Cache = "MISS";
}

sub vcl_pass {
    set req.http.X-Cache = "PASS";
}

sub vcl_backend_response {
    if (bereq.uncacheable) {
        return (deliver);
    }
    if (bereq.is_bgfetch && beresp.status >= 500) {
        # Refreshing a stale copy failed: keep serving it.
        return (abandon);
    }
    if (beresp.http.Set-Cookie
        || beresp.http.Cache-Control ~ "(?i)(private|no-store|no-cache)"
        || beresp.http.Vary ~ "(?i)(cookie|\*)") {
        set beresp.uncacheable = true;
        set beresp.ttl = 120s;
        return (deliver);
    }
    if (beresp.http.Surrogate-Control ~ "max-age=[0-9]+") {
        set beresp.ttl = std.duration(
            regsub(beresp.http.Surrogate-Control, "^.*max-age=([0-9]+).*$", "\1s"), 0s);
    } elsif (bereq.url !~ "^/(static|media)/") {
        # Not marked for the edge by the shop (an error page, a 404): passed on, not stored.
        set beresp.uncacheable = true;
        set beresp.ttl = 120s;
        return (deliver);
    }
    set beresp.grace = 6h;
    if (bereq.url ~ "^/checkout/queue/board\?") {
        # The line moves, and the shop answers the board in a millisecond: no stale copy
        # (concurrent readers of an expired board still wait on one fetch together).
        set beresp.grace = 0s;
    }
    if (beresp.http.Content-Type ~ "^(text/|application/(javascript|json)|image/svg)") {
        set beresp.do_gzip = true;
    }
    return (deliver);
}

sub vcl_backend_error {
    if (bereq.is_bgfetch) {
        # The shop did not answer a background refresh: keep serving the stale copy.
        return (abandon);
    }
}

sub vcl_deliver {
    set resp.http.X-Cache = req.http.X-Cache;
    # The keys and the edge lifetime are this cache's business, not the browser's.
    unset resp.http.xkey;
    unset resp.http.Surrogate-Key;
    unset resp.http.Cache-Tag;
    unset resp.http.Surrogate-Control;
}

sub vcl_synth {
    if (req.http.xkey-purged) {
        set resp.http.xkey-purged = req.http.xkey-purged;
    }
}

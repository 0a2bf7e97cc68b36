"""The edge cache: surrogate keys on shared shop pages, and purges by key after changes.

Shop pages that are the same for every visitor are stored by an edge cache (Varnish with the
xkey module; deploy/varnish/default.vcl) for EDGE_MAX_AGE seconds, far longer than browsers
keep them, because every change that alters a page purges it by key:

- `keys`: the key names ("catalog", "home", "search", "product-12", "category-3",
  "collection-5") and the response headers that carry them (`xkey`, `Surrogate-Key`,
  `Cache-Tag`). The storefront derives a page's keys from what it already loaded.
- `places`: which keys a change touches (a product's page, the listings of its categories
  and collections, the home page...), read when the purge is made, off the request path.
- `purge`: the adapter chosen by EDGE_CACHE ("none": the embedded mode, nothing to purge;
  "varnish": PURGE requests with an `xkey-purge` header to every EDGE_PURGE_URLS host).
- `tasks`: the outbox consumers that turn domain events into purges (outside effects, so
  `atomic=False`: a failed purge is retried by the outbox until every host took it).
"""

"""Helpers the storefront views share: page-or-fragment rendering and HTTP caching.

Catalog pages are the same for every shopper, so they are publicly cacheable for a minute and
carry an ETag of their body. They must therefore never hold per-shopper data: no session, no
CSRF token, no stock counts (availability comes from `private, no-store` fragments).

They also carry surrogate keys for what they show (commerce.edge.keys), and with an edge cache
configured (EDGE_CACHE) a far longer lifetime for the edge alone (Surrogate-Control, which the
edge reads and strips): browsers cannot be told of a change, the edge is, by a purge of those
keys (commerce.edge.tasks).
"""

from __future__ import annotations

from collections.abc import Iterable

from flask import current_app, request
from werkzeug.wrappers import Response

from commerce.edge.keys import key_headers
from commerce.edge.purge import edge_enabled
from web.pages import is_htmx

CATALOG_MAX_AGE = 60


def htmx_target() -> str:
    return request.headers.get("HX-Target", "") if is_htmx() else ""


def public(
    response: Response,
    *,
    keys: Iterable[str] = (),
    max_age: int = CATALOG_MAX_AGE,
    edge_max_age: int | None = None,
) -> Response:
    """Shared-cacheable for `max_age` seconds with an ETag; If-None-Match answers 304.

    `keys`: the surrogate keys of what the page shows (products, its category or collection;
    "catalog" is added), derived from what the view loaded anyway. At the edge the page lives
    `edge_max_age` seconds (EDGE_MAX_AGE unless given), until a purge of one of its keys."""
    response.headers["Cache-Control"] = f"public, max-age={max_age}"
    response.headers.update(key_headers(keys))
    if edge_enabled():
        lifetime = current_app.config["EDGE_MAX_AGE"] if edge_max_age is None else edge_max_age
        response.headers["Surrogate-Control"] = f"max-age={int(lifetime)}"
    # The same URL answers a full page or, for htmx, a fragment chosen by the target (a boosted
    # link and a history restore get the page): a shared cache keeps one copy of each.
    response.vary.update(("HX-Request", "HX-Target", "HX-Boosted", "HX-History-Restore-Request"))
    response.add_etag()
    response.shared_cacheable = True  # type: ignore[attr-defined]  # no cookie, no Vary: Cookie
    return response.make_conditional(request)


def private(response: Response) -> Response:
    """Per-shopper or live data (stock): never stored by any cache."""
    response.headers["Cache-Control"] = "private, no-store"
    return response

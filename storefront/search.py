"""Catalog search from the header box: a plain GET form, enhanced by htmx.

A simple LIKE over title, vendor, tags and SKU of active products; the search issue replaces
the backend (commerce.search) without changing this page.
"""

from __future__ import annotations

from flask import Response, current_app, request

from storefront import bp, listing
from storefront.browse import listing_context
from storefront.web import htmx_target, public, render

MAX_QUERY = 100


@bp.route("/search")
def search() -> Response:
    q = " ".join((request.args.get("q") or "").split())[:MAX_QUERY]
    currency = current_app.config["SHOP_CURRENCY"]
    flt = listing.ShopFilter.from_args(request.args, currency)
    shown = listing.listing(listing.search_scope(q), flt) if q else None
    fragments = {"listing": "storefront/_listing.html", "main": "storefront/_search.html"}
    return public(
        render(
            "storefront/search.html",
            fragments.get(htmx_target()),
            q=q,
            shown=shown,
            **listing_context(flt, "storefront.search", {"q": q}),
        )
    )

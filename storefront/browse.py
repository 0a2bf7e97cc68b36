"""Browsing the catalog: home, categories, collections, product pages, availability fragments.

Every page here is the same for every shopper and is served `public, max-age=60` with an
ETag (storefront.web.public), carrying the surrogate keys of what it shows. Stock never appears
in those pages: badges are filled in by `availability_fragment`, which is `private, no-store`.
"""

from __future__ import annotations

import re
from typing import Any

from babel.dates import format_date
from flask import Response, abort, current_app, request, send_from_directory, url_for

from commerce.catalog import listing as catalog
from commerce.catalog.models import Collection, Media, Product, Variant
from commerce.edge.keys import HOME, category_key, collection_key, product_key
from commerce.inventory.services import BACKORDER, IN_STOCK, LOW, SOLD_OUT, availability
from commerce.purchasing.queries import back_soon
from storefront import bp, listing
from storefront.web import htmx_target, private, public
from web.pages import render

BADGES = {
    IN_STOCK: "In stock",
    LOW: "Low stock",
    SOLD_OUT: "Sold out",
    BACKORDER: "Available on backorder",
}
MAX_FRAGMENT_IDS = 100


@bp.app_template_global("shop_image_url")
def shop_image_url(media: Media | None, *, thumb: bool = False) -> str:
    if media is None:
        return ""
    if media.kind == "external":
        return media.external_url or ""
    path = (media.thumb_path if thumb else None) or media.path or media.thumb_path
    return url_for("storefront.media_file", path=path) if path else ""


@bp.context_processor
def shop_context() -> dict[str, Any]:
    return {"nav_categories": listing.top_categories, "badges": BADGES}


def _currency() -> str:
    return current_app.config["SHOP_CURRENCY"]


# -- home, categories, collections --------------------------------------------------------------


def card_keys(cards: list[catalog.Card]) -> list[str]:
    return [product_key(card.product.id) for card in cards]


@bp.route("/")
def home() -> Response:
    front = catalog.front_page()
    keys = [HOME, *card_keys(front.new_in)]
    for collection, shown in front.featured:
        keys += [collection_key(collection.id), *card_keys(shown.cards)]
    return public(
        render("storefront/home.html", new_in=front.new_in, featured=front.featured), keys=keys
    )


def listing_context(
    flt: listing.ShopFilter, endpoint: str, endpoint_args: dict[str, Any]
) -> dict[str, Any]:
    """What _listing.html needs besides the listing: sorts, links keeping the filter state."""
    currency = _currency()

    def link(**changes: Any) -> str:
        return url_for(endpoint, **endpoint_args, **flt.args(currency, **changes))

    return {
        "flt": flt,
        "sorts": catalog.SORTS,
        "currency": currency,
        "listing_url": url_for(endpoint, **{k: v for k, v in endpoint_args.items() if k != "q"}),
        "clear_url": url_for(endpoint, **endpoint_args),
        "link": link,
    }


def _listing_page(
    page: str, scope: Any, *, key: str, collection: Collection | None = None, **context: Any
) -> Response:
    """A listing; `key`: the surrogate key of its scope (its category or collection)."""
    flt = listing.ShopFilter.from_args(request.args, _currency())
    shown = catalog.listing(scope, flt, collection=collection)
    endpoint = request.endpoint or "storefront.home"
    context.update(listing_context(flt, endpoint, dict(request.view_args or {})), shown=shown)
    if collection is not None:
        context["collection"] = collection
    fragment = "storefront/_listing.html" if htmx_target() == "listing" else None
    return public(render(page, fragment, **context), keys=[key, *card_keys(shown.cards)])


@bp.route("/c/<handle>")
def category(handle: str) -> Response:
    found = catalog.category_by_handle(handle)
    if found is None:
        abort(404)
    trail, children, top = catalog.family(found)
    listing.remember_top_categories(top)
    return _listing_page(
        "storefront/category.html",
        catalog.category_scope(found),
        key=category_key(found.id),
        category=found,
        trail=trail,
        children=children,
    )


@bp.route("/collections/<handle>")
def collection(handle: str) -> Response:
    found = catalog.collection_by_handle(handle)
    if found is None:
        abort(404)
    return _listing_page(
        "storefront/collection.html",
        catalog.collection_scope(found),
        key=collection_key(found.id),
        collection=found,
    )


# -- product page -------------------------------------------------------------------------------


def _active_product(handle: str) -> Product:
    product = catalog.active_product(handle)
    if product is None:
        abort(404)
    return product


def chosen_variant(product: Product, args: Any) -> tuple[Variant | None, dict[int, str]]:
    """The variant matching option1..3 in the query string; the first variant if none given.

    Returns (None, chosen) when the shopper picked a combination that does not exist.
    """
    chosen: dict[int, str] = {}
    for option in product.options:
        value = args.get(f"option{option.position}")
        if value in (option.values or []):
            chosen[option.position] = value
    variants = product.variants
    if not chosen:
        return (variants[0] if variants else None), _options_of(variants[0] if variants else None)
    for variant in variants:
        values = {1: variant.option1, 2: variant.option2, 3: variant.option3}
        if all(values[pos] == value for pos, value in chosen.items()):
            if len(chosen) == len(product.options):
                return variant, chosen
            # A partial choice: the first variant that fits, with its other options.
            return variant, _options_of(variant)
    return None, chosen


def _options_of(variant: Variant | None) -> dict[int, str]:
    if variant is None:
        return {}
    return {
        pos: value
        for pos, value in ((1, variant.option1), (2, variant.option2), (3, variant.option3))
        if value is not None
    }


def _variant_image(product: Product, variant: Variant | None) -> Media | None:
    """The first image whose alt text names one of the variant's option values ("Red mug")."""
    if variant is None or not variant.option_values:
        return None
    for media in product.media:
        words = set(re.findall(r"\w+", (media.alt or "").lower()))
        for value in variant.option_values:
            if value and set(re.findall(r"\w+", value.lower())) <= words:
                return media
    return None


@bp.route("/products/<handle>")
def product(handle: str) -> Response:
    """The product page; htmx asks for `buy-box` (a variant was picked) or `gallery`."""
    found = _active_product(handle)
    variant, chosen = chosen_variant(found, request.args)
    image = None
    image_id = request.args.get("image", type=int)
    if image_id:
        image = next((m for m in found.media if m.id == image_id), None)
    variant_image = _variant_image(found, variant)
    image = image or variant_image or (found.media[0] if found.media else None)
    compare_at = (
        variant.compare_at_price
        if variant is not None
        and variant.compare_at_price
        and variant.compare_at_price > variant.price
        else None
    )
    fragments = {"buy-box": "storefront/_buy_box.html", "gallery": "storefront/_gallery.html"}
    target = htmx_target()
    keys = [product_key(found.id)]
    if found.category_id:
        keys.append(category_key(found.category_id))  # the breadcrumb names it
    return public(
        render(
            "storefront/product.html",
            fragments.get(target) if target else None,
            product=found,
            variant=variant,
            chosen=chosen,
            chosen_args={f"option{k}": v for k, v in chosen.items()},
            image=image,
            swap_gallery=variant_image is not None,
            compare_at=compare_at,
            category=found.category,
        ),
        keys=keys,
    )


# -- availability (live, per request, never cached) ---------------------------------------------


def _ids(name: str) -> list[int]:
    ids: list[int] = []
    for raw in request.args.getlist(name)[:MAX_FRAGMENT_IDS]:
        try:
            ids.append(int(raw))
        except ValueError:
            abort(400)
    return ids


def product_status(statuses: list[str]) -> str:
    """One badge for a product from its variants' statuses (best first)."""
    for status in (IN_STOCK, LOW, BACKORDER):
        if status in statuses:
            return status
    return SOLD_OUT


def _back_soon(variants: list[Any]) -> dict[int, str]:
    """Sold-out variants with units on an ordered purchase order, when the merchant shows
    them: "expected <date>" (or "" without a date). Read live here, in the private fragment,
    so a changed date needs no purge of the shared pages."""
    found = back_soon([a.variant_id for a in variants if a.status == SOLD_OUT])
    locale = current_app.config["SHOP_LOCALE"]
    return {
        vid: format_date(when, format="medium", locale=locale) if when else ""
        for vid, when in found.items()
    }


@bp.route("/fragments/availability")
def availability_fragment() -> Response:
    """`?variant=ID`: the badge for one variant (product page).
    `?product=ID&product=...`: out-of-band badges for a grid, one request for the whole page.
    Only active products' variants are answered.
    """
    variant_ids = _ids("variant")
    product_ids = _ids("product")
    if not variant_ids and not product_ids:
        abort(400)
    rows = catalog.active_variants(variant_ids, product_ids)
    found = availability([vid for vid, _ in rows])
    variants = [found[vid] for vid, _ in rows if vid in found and vid in variant_ids]
    per_product: dict[int, list[str]] = {}
    for vid, pid in rows:
        if pid in product_ids and vid in found:
            per_product.setdefault(pid, []).append(found[vid].status)
    return private(
        render(
            "storefront/_availability.html",
            variants=variants,
            back_soon=_back_soon(variants),
            products={pid: product_status(s) for pid, s in per_product.items()},
        )
    )


@bp.route("/media/<path:path>")
def media_file(path: str) -> Response:
    """Stored product images; file names are random, so they may be cached for long."""
    return send_from_directory(current_app.config["MEDIA_ROOT"], path, max_age=7 * 24 * 3600)

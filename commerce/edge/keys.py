"""Surrogate key names, and the headers the common edge caches read them from.

Every shared page carries CATALOG (the navigation is on all of them: purging it empties the
whole cache). Listings carry the key of their scope (a category, a collection, HOME) and the
keys of the products they show; a product page carries its product and its category (the
breadcrumb). Search results and suggestions carry SEARCH and their products.
"""

from __future__ import annotations

from collections.abc import Iterable

CATALOG = "catalog"
HOME = "home"
SEARCH = "search"

# Response headers: Varnish's xkey module and Fastly read space-separated keys; Cloudflare
# and others read Cache-Tag, comma-separated.
XKEY, SURROGATE_KEY, CACHE_TAG = "xkey", "Surrogate-Key", "Cache-Tag"


def product_key(product_id: int) -> str:
    return f"product-{int(product_id)}"


def category_key(category_id: int) -> str:
    return f"category-{int(category_id)}"


def collection_key(collection_id: int) -> str:
    return f"collection-{int(collection_id)}"


def category_path_keys(path_ids: str | None) -> list[str]:
    """The keys of a category and its ancestors, from its path ("/1/4/9/")."""
    return [category_key(int(i)) for i in (path_ids or "").strip("/").split("/") if i]


def ordered(keys: Iterable[str]) -> list[str]:
    """CATALOG first, then the others once each, in a stable order."""
    unique = {k for k in keys if k and k != CATALOG}
    return [CATALOG, *sorted(unique)]


def key_headers(keys: Iterable[str]) -> dict[str, str]:
    """The surrogate-key headers of a shared response (CATALOG always included)."""
    names = ordered(keys)
    spaced = " ".join(names)
    return {XKEY: spaced, SURROGATE_KEY: spaced, CACHE_TAG: ",".join(names)}

"""Where a change shows: the surrogate keys of the shared pages a changed record appears on.

Read when the purge is made (by the outbox consumer, off the request path), so the catalog as
it is now decides: a product's page, the listings of its category and every category above it
(a listing includes its subcategories' products), the collections it is in now (manual and
rule-based), and the home page while it is on sale. Pages that showed a product which has
since left a scope carry its own key, so they are purged too; a listing that only counted it
(the "N products" line of a later page) catches up within EDGE_MAX_AGE.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import select

from commerce.catalog.models import (
    ACTIVE,
    Category,
    Collection,
    CollectionProduct,
    Product,
    Variant,
)
from commerce.catalog.taxonomy import collection_condition
from commerce.edge.keys import (
    CATALOG,
    HOME,
    SEARCH,
    category_key,
    category_path_keys,
    collection_key,
    product_key,
)
from commerce.extensions import db

CHUNK = 500


def _chunks(ids: Sequence[int]) -> Iterable[list[int]]:
    for start in range(0, len(ids), CHUNK):
        yield list(ids[start : start + CHUNK])


def product_places(product_ids: Iterable[int]) -> set[str]:
    """The products' own pages and every listing they are in now."""
    ids = sorted({int(i) for i in product_ids})
    keys = {product_key(i) for i in ids}
    rule_collections = list(db.session.scalars(select(Collection).where(Collection.kind == "rule")))
    for chunk in _chunks(ids):
        rows = db.session.execute(
            select(Product.status, Category.path_ids)
            .outerjoin(Category, Category.id == Product.category_id)
            .where(Product.id.in_(chunk))
        ).all()
        for status, path in rows:
            keys.update(category_path_keys(path))
            if status == ACTIVE:
                keys.add(HOME)  # the newest products, and counts of featured collections
        keys.update(
            collection_key(c)
            for c in db.session.scalars(
                select(CollectionProduct.collection_id)
                .where(CollectionProduct.product_id.in_(chunk))
                .distinct()
            )
        )
        for collection in rule_collections:
            if collection_key(collection.id) in keys:
                continue
            matched = db.session.scalar(
                select(Product.id)
                .where(Product.id.in_(chunk), collection_condition(collection))
                .limit(1)
            )
            if matched is not None:
                keys.add(collection_key(collection.id))
    return keys


def variant_places(variant_ids: Iterable[int]) -> set[str]:
    ids = sorted({int(v) for v in variant_ids})
    products: set[int] = set()
    for chunk in _chunks(ids):
        products.update(
            db.session.scalars(select(Variant.product_id).where(Variant.id.in_(chunk)).distinct())
        )
    return product_places(products)


def deleted_product_places(payload: dict[str, Any]) -> set[str]:
    """A deleted product's page, and the listings of the category it was in."""
    keys = {product_key(payload["product_id"]), HOME}
    category_id = payload.get("category_id")
    if category_id:
        path = db.session.scalar(select(Category.path_ids).where(Category.id == int(category_id)))
        keys.update(category_path_keys(path) or [category_key(int(category_id))])
    return keys


def category_places(payload: dict[str, Any]) -> set[str]:
    """A category's record changed (name, handle, place in the tree, description, position):
    its own listing and those above it, where it was and where it is (their subcategory lists),
    every listing under it (their breadcrumbs), search (facet names), and every page when it
    is or was in the navigation (a top-level category)."""
    if payload.get("top_level"):
        return {CATALOG}
    keys = {SEARCH, category_key(payload["category_id"])}
    for path in payload.get("paths") or []:
        keys.update(category_path_keys(path))
        below = select(Category.id).where(Category.path_ids.startswith(path))
        keys.update(category_key(c) for c in db.session.scalars(below))
    return keys


def collection_places(payload: dict[str, Any]) -> set[str]:
    """A collection's record, members or order changed: its page and the home page (featured
    collections); search too unless only the order changed (facet names)."""
    keys = {collection_key(payload["collection_id"]), HOME}
    if not payload.get("order_only"):
        keys.add(SEARCH)
    return keys

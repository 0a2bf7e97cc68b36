"""The product document every backend indexes, built from the catalog in batches.

A document holds what shoppers search by, filter on, sort by and see in a result:

    id, handle, title, description (plain text), vendor, product_type, tags, skus, barcodes,
    category_id, category_ids (the category and its ancestors), category_names,
    collection_ids, collection_titles, options ("Size:M"), option_values ("M"),
    keywords (joined forms of hyphenated words: "tshirt"), price_min, price_max (minor units),
    compare_at_max, currency, in_stock, popularity (units sold in the last 30 days),
    created_at (unix seconds), image ({path, thumb_path, external_url, alt} or None)

Only active products have documents: a draft or archived product is never indexed.
A batch costs a fixed number of queries whatever its size.
"""

from __future__ import annotations

import html
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, func, select

from commerce.catalog.models import (
    ACTIVE,
    CONTINUE,
    Category,
    Collection,
    CollectionProduct,
    Media,
    OptionType,
    Product,
    ProductTag,
    Variant,
)
from commerce.catalog.taxonomy import collection_condition
from commerce.db import utcnow
from commerce.extensions import db
from commerce.inventory.bundles import bundles_stock
from commerce.inventory.models import Location, StockLevel
from commerce.orders.popularity import POPULARITY_DAYS as POPULARITY_DAYS  # for indexing.py
from commerce.orders.popularity import popularity as units_sold_per_product
from commerce.search import text

MAX_DESCRIPTION = 1000
_TAG = re.compile(r"<[^>]+>")


@dataclass
class Context:
    """Catalog-wide lookups shared by the batches of one build (categories, collections)."""

    categories: dict[int, tuple[str, str]] = field(default_factory=dict)  # id -> (path, name)
    collections: dict[int, str] = field(default_factory=dict)  # id -> title
    rule_collections: list[Collection] = field(default_factory=list)
    # product id -> rule-based collections, for the whole catalog (a full build asks once per
    # collection rather than once per batch)
    rule_members: dict[int, set[int]] | None = None
    now: datetime = field(default_factory=utcnow)

    @classmethod
    def load(cls, *, now: datetime | None = None, whole_catalog: bool = False) -> Context:
        ctx = cls(now=now or utcnow())
        for cid, path, name in db.session.execute(
            select(Category.id, Category.path_ids, Category.name)
        ):
            ctx.categories[cid] = (path, name)
        for collection in db.session.scalars(select(Collection)):
            ctx.collections[collection.id] = collection.title
            if collection.kind == "rule":
                ctx.rule_collections.append(collection)
        if whole_catalog:
            ctx.rule_members = defaultdict(set)
            for collection in ctx.rule_collections:
                for pid in db.session.scalars(
                    select(Product.id).where(
                        Product.status == ACTIVE, collection_condition(collection)
                    )
                ):
                    ctx.rule_members[pid].add(collection.id)
        return ctx


def plain_text(markup: str) -> str:
    return " ".join(html.unescape(_TAG.sub(" ", markup or "")).split())


def _timestamp(moment: datetime | None) -> int:
    if moment is None:
        return 0
    return int(moment.replace(tzinfo=UTC).timestamp())


def active_product_ids(*, after: int = 0, limit: int = 1000) -> list[int]:
    return list(
        db.session.scalars(
            select(Product.id)
            .where(Product.status == ACTIVE, Product.id > after)
            .order_by(Product.id)
            .limit(limit)
        )
    )


def iter_active_ids(batch: int = 1000) -> Iterator[list[int]]:
    last = 0
    while True:
        ids = active_product_ids(after=last, limit=batch)
        if not ids:
            return
        yield ids
        last = ids[-1]


def count_active() -> int:
    return db.session.scalar(select(func.count(Product.id)).where(Product.status == ACTIVE)) or 0


def build_documents(
    product_ids: Iterable[int], *, ctx: Context | None = None
) -> tuple[list[dict[str, Any]], list[int]]:
    """Documents for the active products among `product_ids`, and the ids that have none
    (draft, archived or deleted products: remove them from the index)."""
    ids = sorted({int(i) for i in product_ids})
    if not ids:
        return [], []
    ctx = ctx or Context.load()
    products = list(
        db.session.execute(
            select(
                Product.id,
                Product.title,
                Product.handle,
                Product.description_html,
                Product.vendor,
                Product.product_type,
                Product.category_id,
                Product.min_price,
                Product.max_price,
                Product.currency,
                Product.created_at,
            ).where(Product.id.in_(ids), Product.status == ACTIVE)
        )
    )
    found = [row.id for row in products]
    absent = sorted(set(ids) - set(found))
    if not found:
        return [], absent

    variants: dict[int, list[Any]] = defaultdict(list)
    for row in db.session.execute(
        select(
            Variant.id,
            Variant.product_id,
            Variant.sku,
            Variant.barcode,
            Variant.option1,
            Variant.option2,
            Variant.option3,
            Variant.inventory_policy,
            Variant.compare_at_price,
            Variant.price,
        )
        .where(Variant.product_id.in_(found))
        .order_by(Variant.product_id, Variant.position, Variant.id)
    ):
        variants[row.product_id].append(row)
    options: dict[int, list[Any]] = defaultdict(list)
    for row in db.session.execute(
        select(OptionType.product_id, OptionType.name, OptionType.position, OptionType.values)
        .where(OptionType.product_id.in_(found))
        .order_by(OptionType.product_id, OptionType.position)
    ):
        options[row.product_id].append(row)
    tags: dict[int, list[str]] = defaultdict(list)
    for pid, tag in db.session.execute(
        select(ProductTag.product_id, ProductTag.tag)
        .where(ProductTag.product_id.in_(found))
        .order_by(ProductTag.product_id, ProductTag.tag)
    ):
        tags[pid].append(tag)
    collections = _collections(found, ctx)
    available = _available(found)
    made_of = bundles_stock(v.id for rows in variants.values() for v in rows)
    for bundle_id, stock in made_of.items():  # a bundle sells what its components allow
        available[bundle_id] = 1 if stock.unlimited else stock.available
    popularity = units_sold_per_product(found, now=ctx.now)
    images = _first_images(found)

    documents = []
    for row in products:
        documents.append(
            _document(
                row,
                variants=variants[row.id],
                options=options[row.id],
                tags=tags[row.id],
                collection_ids=collections.get(row.id, []),
                available=available,
                bundle_ids=set(made_of),
                popularity=popularity.get(row.id, 0),
                image=images.get(row.id),
                ctx=ctx,
            )
        )
    return documents, absent


def _document(
    row: Any,
    *,
    variants: Sequence[Any],
    options: Sequence[Any],
    tags: list[str],
    collection_ids: list[int],
    available: dict[int, int],
    bundle_ids: set[int],
    popularity: int,
    image: dict[str, Any] | None,
    ctx: Context,
) -> dict[str, Any]:
    category_ids: list[int] = []
    category_names: list[str] = []
    if row.category_id in ctx.categories:
        path, _name = ctx.categories[row.category_id]
        for part in path.strip("/").split("/"):
            if part and int(part) in ctx.categories:
                category_ids.append(int(part))
                category_names.append(ctx.categories[int(part)][1])
    names = {o.position: o.name for o in options}
    option_pairs: list[str] = []
    option_values: list[str] = []
    for variant in variants:
        for position, value in enumerate((variant.option1, variant.option2, variant.option3), 1):
            if value is None or position not in names:
                continue
            pair = f"{names[position]}:{value}"
            if pair not in option_pairs:
                option_pairs.append(pair)
            if value not in option_values:
                option_values.append(value)
    skus = [v.sku for v in variants if v.sku]
    barcodes = [v.barcode for v in variants if v.barcode]
    compare = [
        v.compare_at_price
        for v in variants
        if v.compare_at_price is not None and v.compare_at_price > v.price
    ]
    in_stock = any(
        available.get(v.id, 0) > 0 or (v.inventory_policy == CONTINUE and v.id not in bundle_ids)
        for v in variants
    )
    description = plain_text(row.description_html)[:MAX_DESCRIPTION]
    keywords: list[str] = []
    for source in (row.title, row.vendor, row.product_type, *tags, *skus):
        for _parts, joined in text.words(source or ""):
            if joined and joined not in keywords:
                keywords.append(joined)
    return {
        "id": row.id,
        "handle": row.handle,
        "title": row.title,
        "description": description,
        "vendor": row.vendor or "",
        "product_type": row.product_type or "",
        "tags": tags,
        "skus": skus,
        "barcodes": barcodes,
        "category_id": row.category_id,
        "category_ids": category_ids,
        "category_names": category_names,
        "collection_ids": collection_ids,
        "collection_titles": [ctx.collections[c] for c in collection_ids if c in ctx.collections],
        "options": option_pairs,
        "option_values": option_values,
        "keywords": keywords,
        "price_min": row.min_price,
        "price_max": row.max_price,
        "compare_at_max": max(compare) if compare else None,
        "currency": row.currency,
        "in_stock": in_stock,
        "popularity": popularity,
        "created_at": _timestamp(row.created_at),
        "image": image,
    }


def _collections(ids: list[int], ctx: Context) -> dict[int, list[int]]:
    found: dict[int, set[int]] = defaultdict(set)
    for cid, pid in db.session.execute(
        select(CollectionProduct.collection_id, CollectionProduct.product_id).where(
            CollectionProduct.product_id.in_(ids)
        )
    ):
        found[pid].add(cid)
    if ctx.rule_members is not None:
        for pid in ids:
            found[pid].update(ctx.rule_members.get(pid, ()))
    else:
        for collection in ctx.rule_collections:
            for pid in db.session.scalars(
                select(Product.id).where(Product.id.in_(ids), collection_condition(collection))
            ):
                found[pid].add(collection.id)
    return {pid: sorted(cids) for pid, cids in found.items() if cids}


def _available(ids: list[int]) -> dict[int, int]:
    """Units free to sell per variant (on hand minus allocated and held), active locations."""
    return {
        vid: int(free or 0)
        for vid, free in db.session.execute(
            select(
                StockLevel.variant_id,
                func.sum(StockLevel.available),
            )
            .join(Location, Location.id == StockLevel.location_id)
            .join(Variant, Variant.id == StockLevel.variant_id)
            .where(Variant.product_id.in_(ids), Location.is_active.is_(True))
            .group_by(StockLevel.variant_id)
        )
    }


def _first_images(ids: list[int]) -> dict[int, dict[str, Any]]:
    first = (
        select(Media.product_id, func.min(Media.position).label("position"))
        .where(Media.product_id.in_(ids))
        .group_by(Media.product_id)
        .subquery()
    )
    images: dict[int, dict[str, Any]] = {}
    for media in db.session.execute(
        select(Media.product_id, Media.path, Media.thumb_path, Media.external_url, Media.alt)
        .join(
            first,
            and_(first.c.product_id == Media.product_id, first.c.position == Media.position),
        )
        .order_by(Media.product_id, Media.id)
    ):
        images.setdefault(
            media.product_id,
            {
                "path": media.path,
                "thumb_path": media.thumb_path,
                "external_url": media.external_url,
                "alt": media.alt,
            },
        )
    return images


def searchable_text(document: dict[str, Any]) -> tuple[str, str]:
    """(title words, every other word) as the db backend indexes them, compounds included."""
    title = " ".join(text.tokens(document["title"]))
    others = [
        document.get("vendor", ""),
        document.get("product_type", ""),
        *document.get("tags", []),
        *document.get("category_names", []),
        *document.get("collection_titles", []),
        *document.get("option_values", []),
        *document.get("skus", []),
        *document.get("barcodes", []),
        document.get("description", ""),
    ]
    body = " ".join(t for source in others for t in text.tokens(source or ""))
    return title, body


def shopper_words(document: dict[str, Any]) -> set[str]:
    """The words a shopper reads on the product (title, vendor, type, tags, categories,
    collections, option values, description), not its SKUs or barcodes: typo tolerance and
    did-you-mean draw on these, so a SKU code ("SHRT") is never offered as a correction."""
    sources = [
        document["title"],
        document.get("vendor", ""),
        document.get("product_type", ""),
        *document.get("tags", []),
        *document.get("category_names", []),
        *document.get("collection_titles", []),
        *document.get("option_values", []),
        document.get("description", ""),
    ]
    return {
        token
        for source in sources
        for token in text.tokens(source or "")
        if 1 < len(token) <= 64 and token.isalpha()
    }


def facet_values(document: dict[str, Any]) -> list[tuple[str, str]]:
    """(facet, value) pairs of a document, the port's facet names (see port.FACETS)."""
    values: list[tuple[str, str]] = []
    values += [("category", str(c)) for c in document.get("category_ids", [])]
    values += [("collection", str(c)) for c in document.get("collection_ids", [])]
    if document.get("vendor"):
        values.append(("vendor", document["vendor"][:255]))
    if document.get("product_type"):
        values.append(("product_type", document["product_type"][:255]))
    values += [("tag", t[:255]) for t in document.get("tags", [])]
    values += [("option", o[:255]) for o in document.get("options", [])]
    values.append(("in_stock", "true" if document.get("in_stock") else "false"))
    return list(dict.fromkeys(values))

"""Catalog reads for the console: the filtered, sorted, keyset-paged product list.

Keyset pagination (WHERE (sort_key, id) > (last_key, last_id)) keeps every page as fast as
the first, even at 50,000 products, where OFFSET would scan all the skipped rows.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, case, exists, func, or_, select, union
from sqlalchemy.orm import selectinload

from commerce.audit import AuditEntry, query_entries
from commerce.catalog.models import (
    PRODUCT_STATUSES,
    Category,
    Collection,
    CollectionProduct,
    Media,
    Product,
    ProductTag,
    Variant,
)
from commerce.catalog.quick_search import (
    product_contains,
    product_ids,
    sku_variant_ids,
    uses_trigrams,
)
from commerce.catalog.taxonomy import collection_condition
from commerce.extensions import db
from commerce.paging import Page, bounded_count, ids_after, keyset_page

SORTS = {
    "updated": (Product.updated_at, "Last updated"),
    "created": (Product.created_at, "Created"),
    "title": (Product.title, "Title"),
    "price": (Product.min_price, "Price"),
    "vendor": (Product.vendor, "Vendor"),
    "status": (Product.status, "Status"),
}
DEFAULT_SORT = "updated"


@dataclass(frozen=True)
class ProductFilter:
    q: str = ""
    status: str = ""
    category_id: int | None = None
    collection_id: int | None = None
    vendor: str = ""
    tag: str = ""
    price_min: int | None = None
    price_max: int | None = None
    sort: str = DEFAULT_SORT
    direction: str = "desc"

    def normalized(self) -> ProductFilter:
        sort = self.sort if self.sort in SORTS else DEFAULT_SORT
        direction = self.direction if self.direction in ("asc", "desc") else "desc"
        status = self.status if self.status in PRODUCT_STATUSES else ""
        return replace(self, sort=sort, direction=direction, status=status, q=self.q.strip())

    def is_filtered(self) -> bool:
        return any(
            [
                self.q,
                self.status,
                self.category_id,
                self.collection_id,
                self.vendor,
                self.tag,
                self.price_min is not None,
                self.price_max is not None,
            ]
        )


def text_condition(q: str) -> Any:
    """Products whose title, handle or vendor contains `q`, or with a variant whose SKU contains
    it or whose barcode is it.

    One id set per table, each answered by its trigram index and OR-ed, never a scan of the
    catalog: pg_trgm indexes on PostgreSQL (migration 0011_search), the FTS5 trigram tables on
    SQLite (commerce/catalog/quick_search.py, migration 0012_console_lists)."""
    like = f"%{q}%"
    if uses_trigrams(db.session.get_bind()):
        variants = or_(Variant.id.in_(sku_variant_ids(q)), Variant.barcode == q)
        return Product.id.in_(union(*product_ids(q), select(Variant.product_id).where(variants)))
    variants = or_(Variant.sku.ilike(like), Variant.barcode == q)
    return Product.id.in_(
        select(Product.id)
        .where(product_contains(q))
        .union(select(Variant.product_id).where(variants))
    )


def filtered_products(flt: ProductFilter) -> Select[Any]:
    """The WHERE part of the list, shared by the page, the count, bulk 'select all' and export."""
    flt = flt.normalized()
    stmt = select(Product)
    if flt.status:
        stmt = stmt.where(Product.status == flt.status)
    if flt.vendor:
        stmt = stmt.where(Product.vendor == flt.vendor)
    if flt.tag:
        stmt = stmt.where(
            exists().where(ProductTag.product_id == Product.id, ProductTag.tag == flt.tag)
        )
    if flt.category_id:
        prefix = select(Category.path_ids).where(Category.id == flt.category_id).scalar_subquery()
        stmt = stmt.where(
            Product.category_id.in_(select(Category.id).where(Category.path_ids.startswith(prefix)))
        )
    if flt.collection_id:
        collection = db.session.get(Collection, flt.collection_id)
        if collection is not None:
            stmt = stmt.where(collection_condition(collection))
    if flt.price_min is not None:
        stmt = stmt.where(Product.max_price >= flt.price_min)
    if flt.price_max is not None:
        stmt = stmt.where(Product.min_price <= flt.price_max)
    if flt.q:
        stmt = stmt.where(text_condition(flt.q))
    return stmt


def _sort_value(product: Product, sort: str) -> Any:
    value = getattr(product, SORTS[sort][0].key)
    return value.isoformat(sep=" ") if hasattr(value, "isoformat") else value


def list_products(
    flt: ProductFilter, *, after: str | None = None, before: str | None = None, limit: int = 50
) -> Page:
    """One page of products; `after`/`before` are cursors from a previous page."""
    flt = flt.normalized()
    column = SORTS[flt.sort][0]
    base = filtered_products(flt)
    # A filtered total is counted up to COUNT_LIMIT ("1,000+"): counting every product of a
    # broad filter (a rule collection, a price range, a common word) reads the catalog. The
    # whole catalog's count is one index read.
    if flt.is_filtered():
        total, exact = bounded_count(base.with_only_columns(Product.id))
    else:
        total, exact = int(db.session.scalar(select(func.count()).select_from(Product)) or 0), True
    parse = datetime.fromisoformat if flt.sort in ("updated", "created") else None
    keyset = keyset_page(
        base.options(
            selectinload(Product.tag_rows),
            selectinload(Product.media.and_(Media.position == 1)),
        ),
        column,
        Product.id,
        descending=flt.direction == "desc",
        after=after,
        before=before,
        limit=limit,
        parse=parse,
        scalars=True,
    )
    return keyset.page(
        keyset.rows,
        lambda product: (_sort_value(product, flt.sort), product.id),
        total=total,
        total_exact=exact,
    )


def vendors() -> list[str]:
    """Every vendor, in order: one index seek per vendor (a loose index scan on ix_product_vendor)
    rather than reading every product, so the filter's list costs the same at 50,000 products."""
    walk = (
        select(func.min(Product.vendor).label("vendor"))
        .where(Product.vendor > "")
        .cte("walk", recursive=True)
    )
    following = select(func.min(Product.vendor)).where(Product.vendor > walk.c.vendor)
    walk = walk.union_all(select(following.scalar_subquery()).where(walk.c.vendor.is_not(None)))
    return [v for v in db.session.scalars(select(walk.c.vendor)) if v is not None]


_TAGS_TTL = 300.0
_tags_cache: dict[tuple[str, Any, int], tuple[float, list[str]]] = {}


def popular_tags(limit: int = 200) -> list[str]:
    """The most used tags. Counting them reads every tag row, so the answer is kept per process
    until a product changes (the newest updated_at, one index read) or five minutes pass."""
    key = (
        db.engine.url.render_as_string(),
        db.session.scalar(select(func.max(Product.updated_at))),
        limit,
    )
    found = _tags_cache.get(key)
    if found is not None and time.monotonic() - found[0] < _TAGS_TTL:
        return list(found[1])
    tags = list(
        db.session.scalars(
            select(ProductTag.tag)
            .group_by(ProductTag.tag)
            .order_by(func.count().desc(), ProductTag.tag)
            .limit(limit)
        )
    )
    if len(_tags_cache) > 64:
        _tags_cache.clear()
    _tags_cache[key] = (time.monotonic(), tags)
    return list(tags)


_COUNTS_TTL = 300.0
_counts_cache: dict[tuple[Any, ...], tuple[float, dict[int, int]]] = {}


def rule_collection_counts(collections: list[Collection]) -> dict[int, int]:
    """Products matching each rule-based collection. The rules test titles, tags, vendors, so
    the counts read the whole catalog: once for all the collections (one count column each),
    and the answers are kept per process until a product or a collection's rules change (or
    five minutes pass): the collections page stays fast at 50,000 products."""
    rules = tuple((c.id, repr(c.rules)) for c in collections)
    key = (
        db.engine.url.render_as_string(),
        db.session.scalar(select(func.max(Product.updated_at))),
        rules,
    )
    found = _counts_cache.get(key)
    if found is not None and time.monotonic() - found[0] < _COUNTS_TTL:
        return dict(found[1])
    counts: dict[int, int] = {}
    if collections:
        row = db.session.execute(
            select(
                *(func.count(case((collection_condition(c), 1))) for c in collections)
            ).select_from(Product)
        ).one()
        counts = {c.id: int(n or 0) for c, n in zip(collections, row, strict=True)}
    if len(_counts_cache) > 64:
        _counts_cache.clear()
    _counts_cache[key] = (time.monotonic(), counts)
    return dict(counts)


def collections_with_counts() -> tuple[list[Collection], dict[int, int]]:
    """Every collection by title, with its number of products (the console's list): manual
    ones counted in one grouped query, rule-based ones by `rule_collection_counts`; a fixed
    number of queries whatever the number of collections."""
    collections = list(db.session.scalars(select(Collection).order_by(Collection.title)))
    manual = dict(
        db.session.execute(
            select(CollectionProduct.collection_id, func.count()).group_by(
                CollectionProduct.collection_id
            )
        ).all()
    )
    counts = rule_collection_counts([c for c in collections if c.kind != "manual"])
    for c in collections:
        if c.kind == "manual":
            counts[c.id] = manual.get(c.id, 0)
    return collections, counts


def jump_to(query: str, *, limit: int = 8) -> list[dict[str, Any]]:
    """Ctrl+K: variants by SKU prefix or whole barcode, products by title or handle (contains),
    each list bounded by `limit`; every hit carries the texts it can be ranked on (`keys`)."""
    query = (query or "").strip()
    if not query:
        return []
    like = f"%{query}%"
    results: list[dict[str, Any]] = []
    sku = Variant.sku.ilike(f"{query}%")
    if (
        db.session.get_bind().dialect.name == "sqlite"
        and not any(c in query for c in "%_\\")
        and ord(query[-1].lower()) < 0x10FFFF
    ):
        # The prefix as a range on lower(sku) too, so ix_variant_sku_lower answers it (an ILIKE
        # alone reads every SKU). SQLite only: its comparison is by code point, as a prefix
        # range needs; a PostgreSQL collation may order "shirt-1" outside ["shirt", "shiru").
        low = query.lower()
        sku = and_(
            func.lower(Variant.sku) >= low,
            func.lower(Variant.sku) < low[:-1] + chr(ord(low[-1]) + 1),
            sku,
        )
    for variant, title in db.session.execute(
        select(Variant, Product.title)
        .join(Product)
        .where(or_(sku, Variant.barcode == query))
        .limit(limit)
    ):
        options = f" ({variant.title})" if variant.option_values else ""
        barcode = variant.barcode == query
        results.append(
            {
                "kind": "Barcode" if barcode else "SKU",
                "label": f"{variant.barcode if barcode else variant.sku} · {title}{options}",
                "product_id": variant.product_id,
                "keys": [variant.barcode if barcode else variant.sku or ""],
            }
        )
    named = or_(Product.title.ilike(like), Product.handle.ilike(like))
    if db.session.get_bind().dialect.name == "postgresql":
        named = product_contains(query, Product.title, Product.handle)
    for product in db.session.execute(
        select(Product.id, Product.title, Product.handle)
        .where(named)
        .order_by(Product.title)
        .limit(limit)
    ):
        results.append(
            {
                "kind": "Product",
                "label": product.title,
                "product_id": product.id,
                "keys": [product.title, product.handle],
            }
        )
    return results[: limit * 2]


def product_changes(
    product: Product, *, before_id: int | None = None, limit: int = 50
) -> list[AuditEntry]:
    """A product's changes and its variants' (a bulk price change is logged on each variant):
    what the product's History panel shows, newest first."""
    variants = select(Variant.id).where(Variant.product_id == product.id)
    variant_ids = list(db.session.scalars(variants))
    return query_entries(
        subjects={"product": [str(product.id)], "variant": [str(v) for v in variant_ids]},
        before_id=before_id,
        limit=limit,
    )


def products_after(
    cursor: str | None, *, limit: int, status: str | None = None
) -> tuple[list[Product], str | None]:
    """Products in id order after `cursor`, with their variants and tags, and the next page's
    cursor (None on the last): the Admin API's walk over the catalog, stable while products
    are added (new ids come last) and the same cost at any depth (a keyset, never OFFSET)."""
    stmt = select(Product).options(
        selectinload(Product.variants),
        selectinload(Product.tag_rows),
        selectinload(Product.options),
    )
    if status:
        stmt = stmt.where(Product.status == status)
    return ids_after(stmt, Product.id, after=cursor, limit=limit, scalars=True)

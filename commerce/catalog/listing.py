"""The catalog's read side for the shop: active products in a scope (category, collection),
filtered and sorted, paged by a bounded offset, with what a grid card shows; the home page's
sections; search hits' cards; the navigation's categories. The storefront parses the request
into a ListingFilter, calls these and renders.

A page costs a fixed number of queries whatever its size: the count, the page, the facets,
first images and compare-at prices (one query each). Offset paging is capped at MAX_PAGE so
deep pages never scan far; a shopper narrows with filters instead.

Two reads need packages above the catalog: "in stock only" asks inventory, and a collection
sorted by best selling asks orders for its sales. `wsgi._wire_layers` hands them in as
`app.extensions[IN_STOCK]` and `app.extensions[SALES]`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from flask import current_app
from sqlalchemy import Select, and_, exists, func, literal, or_, select, union_all
from sqlalchemy.orm import joinedload, lazyload, selectinload
from sqlalchemy.sql.elements import ColumnElement

from commerce.catalog import collection_order
from commerce.catalog.models import (
    ACTIVE,
    Category,
    Collection,
    Media,
    OptionType,
    Product,
    Variant,
)
from commerce.catalog.taxonomy import collection_condition
from commerce.extensions import db

IN_STOCK = "catalog.in_stock"  # app.extensions key: InStock (inventory's condition)
SALES = "catalog.sales"  # app.extensions key: collection_order.Sales (orders' units sold)

InStock = Callable[[], ColumnElement[bool]]
"""A condition on Product: it has a variant a shopper can buy now."""

SORTS = {
    "featured": "Featured",
    "newest": "Newest",
    "price-asc": "Price: low to high",
    "price-desc": "Price: high to low",
    "title": "Name: A to Z",
}
PER_PAGE = 24
MAX_PAGE = 50


@dataclass(frozen=True)
class ListingFilter:
    """What a shopper asked of a listing: a sort (one of SORTS), a price range in minor units,
    option values ((option name, value) pairs), in stock only, and the page."""

    sort: str = "featured"
    price_min: int | None = None
    price_max: int | None = None
    options: tuple[tuple[str, str], ...] = ()
    in_stock: bool = False
    page: int = 1

    def is_filtered(self) -> bool:
        prices = (self.price_min, self.price_max)
        return bool(self.options or self.in_stock or any(p is not None for p in prices))

    def chosen(self, name: str, value: str) -> bool:
        return (name, value) in self.options


@dataclass
class Card:
    """A product as a grid shows it: no stock figures (those are per-request fragments)."""

    product: Product
    image: Media | None
    compare_at: int | None

    @property
    def on_sale(self) -> bool:
        return self.compare_at is not None and self.compare_at > self.product.min_price


@dataclass
class Listing:
    cards: list[Card]
    total: int
    page: int
    pages: int
    facets: list[tuple[str, list[str]]]

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    @property
    def has_prev(self) -> bool:
        return self.page > 1


# -- scopes -------------------------------------------------------------------------------------


def category_scope(category: Category) -> ColumnElement[bool]:
    """The category and all its subcategories (path prefix)."""
    return Product.category_id.in_(
        select(Category.id).where(Category.path_ids.startswith(category.path_ids))
    )


def collection_scope(collection: Collection) -> ColumnElement[bool]:
    return collection_condition(collection)


def _option_clause(name: str, values: list[str]) -> ColumnElement[bool]:
    slot = {1: Variant.option1, 2: Variant.option2, 3: Variant.option3}
    return exists().where(
        OptionType.product_id == Product.id,
        func.lower(OptionType.name) == name.lower(),
        Variant.product_id == Product.id,
        or_(*[and_(OptionType.position == p, col.in_(values)) for p, col in slot.items()]),
    )


# -- the listing --------------------------------------------------------------------------------


def visible(scope: ColumnElement[bool] | None = None) -> list[ColumnElement[bool]]:
    clauses: list[ColumnElement[bool]] = [Product.status == ACTIVE]
    if scope is not None:
        clauses.append(scope)
    return clauses


def ordered(stmt: Select[Any], sort: str, collection: Collection | None) -> Select[Any]:
    """The shopper's sort; "Featured" on a collection page is the merchandiser's order (pinned
    products first, then the collection's sort), elsewhere the newest products first. The
    shopper's own sorts ignore pins."""
    stmt, order = _ordering(stmt, sort, collection)
    return stmt.order_by(*order)


def _ordering(
    stmt: Select[Any], sort: str, collection: Collection | None
) -> tuple[Select[Any], list[ColumnElement[Any]]]:
    """`ordered`'s ORDER BY terms (and the join best selling needs), for a window too."""
    if sort == "featured" and collection is not None:
        units = None
        if collection_order.effective_sort(collection) == collection_order.BEST_SELLING:
            sales: collection_order.Sales = current_app.extensions[SALES]
            stmt, units = sales(stmt)
        return stmt, list(collection_order.shop_order(collection, units_sold=units))
    return stmt, list(collection_order.product_order(sort))


def compare_at_column() -> Any:
    """The highest compare-at price above the price among a product's variants, as a column
    of a query of products (what a card shows struck through)."""
    return (
        select(func.max(Variant.compare_at_price))
        .where(Variant.product_id == Product.id, Variant.compare_at_price > Variant.price)
        .correlate(Product)
        .scalar_subquery()
    )


def facets(scope: ColumnElement[bool] | None) -> list[tuple[str, list[str]]]:
    """Option names and values of the products in view, in first-seen order (one query)."""
    ids = select(Product.id).where(*visible(scope))
    merged: dict[str, tuple[str, list[str], set[str]]] = {}
    rows = db.session.execute(
        select(OptionType.name, OptionType.values)
        .where(OptionType.product_id.in_(ids))
        .order_by(OptionType.position, OptionType.id)
    )
    for name, values in rows:
        key = name.lower()
        _display, ordered, seen = merged.setdefault(key, (name, [], set()))
        for value in values or []:
            if value not in seen:
                seen.add(value)
                ordered.append(value)
    return [(display, ordered) for display, ordered, _ in merged.values() if ordered]


def cards(products: list[Product], compare: dict[int, int | None] | None = None) -> list[Card]:
    """First image and highest compare-at price per product. Products read by `card_rows`
    bring both (their images joined, the price as a column: `compare`); otherwise one query
    each for the whole grid."""
    ids = [p.id for p in products]
    images: dict[int, Media] = {}
    unloaded = [p.id for p in products if "media" not in p.__dict__]
    if unloaded:
        for media in db.session.scalars(
            select(Media)
            .where(Media.product_id.in_(unloaded))
            .order_by(Media.product_id, Media.position, Media.id)
            .options(lazyload(Media.product))
        ):
            images.setdefault(media.product_id, media)
    for product in products:
        if "media" in product.__dict__ and product.media:
            images[product.id] = product.media[0]  # ordered by position, id
    if compare is None and ids:
        compare = dict(
            db.session.execute(
                select(Variant.product_id, func.max(Variant.compare_at_price))
                .where(Variant.product_id.in_(ids), Variant.compare_at_price > Variant.price)
                .group_by(Variant.product_id)
            ).all()
        )
    compare = compare or {}
    return [Card(p, images.get(p.id), compare.get(p.id)) for p in products]


_LIGHT = (lazyload(Product.category), lazyload(Product.tag_rows))  # a card needs neither


def card_rows(stmt: Select[Any]) -> list[Any]:
    """Rows of a `select(Product, compare_at_column(), ...)` with the products' images
    joined: a grid's cards from one query."""
    return list(db.session.execute(stmt.options(*_LIGHT, joinedload(Product.media))).unique().all())


def listing(
    scope: ColumnElement[bool] | None,
    flt: ListingFilter,
    *,
    collection: Collection | None = None,
    per_page: int = PER_PAGE,
    with_facets: bool = True,
) -> Listing:
    """One page of products: the page, its total (a window count) and compare-at prices in
    one query, first images in a second, the facets in a third."""
    where = visible(scope)
    if flt.price_min is not None:
        where.append(Product.max_price >= flt.price_min)
    if flt.price_max is not None:
        where.append(Product.min_price <= flt.price_max)
    by_name: dict[str, tuple[str, list[str]]] = {}
    for name, value in flt.options:
        by_name.setdefault(name.lower(), (name, []))[1].append(value)
    for name, values in by_name.values():
        where.append(_option_clause(name, values))
    if flt.in_stock:
        in_stock: InStock = current_app.extensions[IN_STOCK]
        where.append(in_stock())
    stmt = ordered(
        select(Product, compare_at_column(), func.count().over()).where(*where),
        flt.sort,
        collection,
    )
    page = flt.page
    rows = card_rows(stmt.offset((page - 1) * per_page).limit(per_page))
    if rows:
        total = int(rows[0][2])
    else:  # an empty shop, or a page past the end: the last page instead
        total = db.session.scalar(select(func.count(Product.id)).where(*where)) or 0
    pages = max(min(math.ceil(total / per_page), MAX_PAGE), 1)
    if not rows and total and page > pages:
        page = pages
        rows = card_rows(stmt.offset((page - 1) * per_page).limit(per_page))
    page = min(page, pages)
    products = [row[0] for row in rows]
    return Listing(
        cards=cards(products, {row[0].id: row[1] for row in rows}),
        total=total,
        page=page,
        pages=pages,
        facets=facets(scope) if with_facets else [],
    )


def cards_for(product_ids: Sequence[int]) -> list[Card]:
    """Cards for search hits, in the hits' order. Only active products: an index a moment
    behind the catalog never shows a product that was just unpublished or deleted."""
    if not product_ids:
        return []
    rows = card_rows(
        select(Product, compare_at_column()).where(Product.id.in_(list(product_ids)), *visible())
    )
    found = {row[0].id: row for row in rows}
    return cards(
        [found[i][0] for i in product_ids if i in found], {i: row[1] for i, row in found.items()}
    )


def facet_labels(
    *, categories: Sequence[int], collections: Sequence[int]
) -> dict[tuple[str, str], str]:
    """Names for the category and collection ids of search facets (one query)."""
    parts = []
    if categories:
        parts.append(
            select(literal("category"), Category.id, Category.full_name).where(
                Category.id.in_(list(categories))
            )
        )
    if collections:
        parts.append(
            select(literal("collection"), Collection.id, Collection.title).where(
                Collection.id.in_(list(collections))
            )
        )
    if not parts:
        return {}
    query = union_all(*parts) if len(parts) > 1 else parts[0]
    return {(kind, str(cid)): name for kind, cid, name in db.session.execute(query)}


@dataclass
class Front:
    """What the home page shows: the newest products and featured collections' first cards."""

    new_in: list[Card]
    featured: list[tuple[Collection, Listing]]


def front_page(new_in: int = 12, limit: int = 4, per_collection: int = 4) -> Front:
    """The newest products and the first collections that have active products (each with
    its first few, in the shop's order, and its total), in a fixed number of queries
    whatever the number of collections: the collections, one UNION of each section's ranked
    product ids, the products, their images."""
    collections = list(db.session.scalars(select(Collection).order_by(Collection.id).limit(8)))
    sections: list[tuple[int, Select[Any]]] = [(0, _ranked(None, "newest", None, new_in))]
    sections += [
        (c.id, _ranked(collection_scope(c), "featured", c, per_collection)) for c in collections
    ]
    ranked = union_all(
        *(select(literal(key).label("section"), *q.subquery().c) for key, q in sections)
    ).subquery()
    rows = db.session.execute(
        select(ranked.c.section, ranked.c.product_id, ranked.c.total).order_by(
            ranked.c.section, ranked.c.rank
        )
    ).all()
    ids = sorted({row.product_id for row in rows})
    loaded = {
        row[0].id: row
        for row in card_rows(select(Product, compare_at_column()).where(Product.id.in_(ids)))
    }
    shown = cards(
        [loaded[i][0] for i in ids if i in loaded], {i: row[1] for i, row in loaded.items()}
    )
    by_id = {card.product.id: card for card in shown}
    per_section: dict[int, list[Card]] = {}
    totals: dict[int, int] = {}
    for row in rows:
        if row.product_id in by_id:
            per_section.setdefault(row.section, []).append(by_id[row.product_id])
            totals[row.section] = int(row.total)
    featured = []
    for collection in collections:
        found = per_section.get(collection.id)
        if found and len(featured) < limit:
            pages = max(min(math.ceil(totals[collection.id] / per_collection), MAX_PAGE), 1)
            featured.append(
                (collection, Listing(found, totals[collection.id], 1, pages, facets=[]))
            )
    return Front(per_section.get(0, []), featured)


def _ranked(
    scope: ColumnElement[bool] | None, sort: str, collection: Collection | None, limit: int
) -> Select[Any]:
    """The first `limit` product ids of a section with their rank and the section's total."""
    stmt, order = _ordering(select(Product.id.label("product_id")), sort, collection)
    return (
        stmt.add_columns(
            func.row_number().over(order_by=order).label("rank"),
            func.count().over().label("total"),
        )
        .where(*visible(scope))
        .order_by(*order)
        .limit(limit)
    )


# -- navigation and lookups ---------------------------------------------------------------------


def _by_position() -> Select[Any]:
    return (
        select(Category)
        .order_by(Category.position, Category.name)
        .options(lazyload(Category.parent))
    )


def top_categories() -> list[Category]:
    """The navigation's categories: the top level, in the merchant's order."""
    return list(db.session.scalars(_by_position().where(Category.parent_id.is_(None))))


def family(category: Category) -> tuple[list[Category], list[Category], list[Category]]:
    """The category's ancestors (root first, itself excluded), its subcategories and the top
    categories (the navigation's), read in one query."""
    ids = [int(i) for i in category.path_ids.strip("/").split("/") if i][:-1]
    rows = list(
        db.session.scalars(
            _by_position().where(
                or_(
                    Category.parent_id.is_(None),
                    Category.parent_id == category.id,
                    Category.id.in_(ids),
                )
            )
        )
    )
    found = {c.id: c for c in rows}
    return (
        [found[i] for i in ids if i in found],
        [c for c in rows if c.parent_id == category.id],
        [c for c in rows if c.parent_id is None],
    )


def category_by_handle(handle: str) -> Category | None:
    return db.session.scalar(select(Category).where(Category.handle == handle))


def collection_by_handle(handle: str) -> Collection | None:
    return db.session.scalar(select(Collection).where(Collection.handle == handle))


def active_product(handle: str) -> Product | None:
    """An active product with what its page shows (variants, options, media), or None."""
    return db.session.scalar(
        select(Product)
        .where(Product.handle == handle, Product.status == ACTIVE)
        .options(
            selectinload(Product.variants),
            selectinload(Product.options),
            selectinload(Product.media),
            lazyload(Product.tag_rows),
        )
    )


def active_variants(variant_ids: Sequence[int], product_ids: Sequence[int]) -> list[Any]:
    """`(variant_id, product_id)` rows of active products' variants: those asked for by id,
    and every variant of the products asked for (one query)."""
    return list(
        db.session.execute(
            select(Variant.id, Variant.product_id)
            .join(Product, Product.id == Variant.product_id)
            .where(
                Product.status == ACTIVE,
                (Variant.id.in_(variant_ids) | Variant.product_id.in_(product_ids)),
            )
        ).all()
    )

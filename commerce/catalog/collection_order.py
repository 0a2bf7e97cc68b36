"""Collection order (the console's collection merchandising): the order shoppers see a
collection in, and who changed it.

A collection's shop order is its pinned products first (Collection.pinned_ids, in that order,
at most MAX_PINS), then the rest by the collection's sort: the hand-made positions of a manual
collection ("manual"), or a rule (best selling, newest, price, title). A pin that is no longer
in the collection, or no longer active, is skipped in the shop and flagged in the console.

Every write locks the collection row first (PostgreSQL; SQLite serialises writers anyway), so
two merchandisers reordering at once apply one after the other, each against the list the
other left. A write made from a list that has since lost or gained a member is refused with
StaleOrder (409) rather than guessed at; the console answers with the fresh list.

No search event: the search documents hold which collections a product is in, not its place
in them, so a sort, a reorder or a pin changes nothing in the index. The shop's pages show
the order, so each change queues `collection.updated` (order only) for the edge cache.

Best selling needs sales, and orders sit above the catalog: the caller passes `sales`, a
function that outer-joins units sold to a select of products (commerce.orders.popularity's
`with_units_sold`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, case, func, select, update
from sqlalchemy.orm import lazyload
from sqlalchemy.sql.elements import ColumnElement

from commerce import audit
from commerce.catalog.models import ACTIVE, Collection, CollectionProduct, Product
from commerce.catalog.taxonomy import (
    BEST_SELLING,
    MANUAL_SORT,
    NEWEST,
    check_sort,
    collection_condition,
    collection_updated,
)
from commerce.db import service
from commerce.errors import Conflict, ValidationError
from commerce.extensions import db

MAX_PINS = 50
MEMBERS_PER_PAGE = 100
PREVIEW_SIZE = 24

Sales = Callable[[Select[Any]], tuple[Select[Any], ColumnElement[int]]]


class StaleOrder(Conflict):
    """The list the change was made on is not the collection's list any more."""

    code = "stale_order"


STALE_MESSAGE = (
    "This list changed since you opened it (products were added, removed or moved). "
    "It now shows the current order: make your change again."
)


# -- orders -------------------------------------------------------------------------------------


def product_order(sort: str) -> list[ColumnElement[Any]]:
    """ORDER BY for a sort that needs nothing but the product row (newest, price, title)."""
    if sort == "price-asc":
        return [Product.min_price.asc(), Product.id.asc()]
    if sort == "price-desc":
        return [Product.max_price.desc(), Product.id.desc()]
    if sort == "title":
        return [Product.title.asc(), Product.id.asc()]
    return [Product.published_at.desc(), Product.id.desc()]


def manual_position(collection: Collection) -> Any:
    """A product's position in a manual collection (a correlated primary-key lookup)."""
    return (
        select(CollectionProduct.position)
        .where(
            CollectionProduct.collection_id == collection.id,
            CollectionProduct.product_id == Product.id,
        )
        .scalar_subquery()
    )


def pin_rank(pinned_ids: Sequence[int]) -> ColumnElement[int] | None:
    """0, 1, 2... for the pinned products in their order, len(pins) for every other one."""
    pins = [int(p) for p in dict.fromkeys(pinned_ids or [])]
    if not pins:
        return None
    return case({pid: rank for rank, pid in enumerate(pins)}, value=Product.id, else_=len(pins))


def effective_sort(collection: Collection) -> str:
    """The sort the shop uses: the stored one, unless it cannot apply (a rule-based collection
    written with "manual", as rows made outside the services may be), then NEWEST."""
    sort = collection.sort or MANUAL_SORT
    if sort == MANUAL_SORT and collection.kind != "manual":
        return NEWEST
    return sort


def shop_order(
    collection: Collection, *, units_sold: ColumnElement[int] | None = None
) -> list[ColumnElement[Any]]:
    """ORDER BY for the collection as the shop shows it: pins, then the collection's sort.

    `units_sold` is required for a best-selling collection (see `in_shop_order`)."""
    order: list[ColumnElement[Any]] = []
    rank = pin_rank(collection.pinned_ids)
    if rank is not None:
        order.append(rank.asc())
    sort = effective_sort(collection)
    if sort == MANUAL_SORT:
        order += [manual_position(collection).asc(), Product.id.asc()]
    elif sort == BEST_SELLING:
        if units_sold is None:
            raise ValueError("a best-selling order needs the units sold (pass `sales`)")
        order += [units_sold.desc(), *product_order(NEWEST)]
    else:
        order += product_order(sort)
    return order


def in_shop_order(stmt: Select[Any], collection: Collection, *, sales: Sales) -> Select[Any]:
    """`stmt` (a select of products) ordered as the shop shows the collection. The sales join
    is added only when the collection sorts by best selling."""
    units = None
    if effective_sort(collection) == BEST_SELLING:
        stmt, units = sales(stmt)
    return stmt.order_by(*shop_order(collection, units_sold=units))


def shop_preview(
    collection: Collection, *, sales: Sales, limit: int = PREVIEW_SIZE
) -> list[Product]:
    """The first products shoppers see on the collection's page (its default order)."""
    stmt = select(Product).where(Product.status == ACTIVE, collection_condition(collection))
    return list(
        db.session.scalars(
            in_shop_order(stmt, collection, sales=sales)
            .limit(limit)
            .options(lazyload(Product.category), lazyload(Product.tag_rows))
        )
    )


# -- reading the hand-made order ----------------------------------------------------------------


def member_ids(collection: Collection) -> list[int]:
    """A manual collection's products in their order (position, then id for equal positions)."""
    return list(
        db.session.scalars(
            select(CollectionProduct.product_id)
            .where(CollectionProduct.collection_id == collection.id)
            .order_by(CollectionProduct.position, CollectionProduct.product_id)
        )
    )


@dataclass
class MembersPage:
    """One page of a manual collection in its order; `rows` are (1-based rank, product)."""

    rows: list[tuple[int, Product]]
    total: int
    page: int
    pages: int
    per_page: int

    @property
    def start(self) -> int:
        """How many products come before this page (the rank offset a reorder posts)."""
        return (self.page - 1) * self.per_page

    @property
    def ids(self) -> list[int]:
        return [p.id for _, p in self.rows]


def members_page(
    collection: Collection, *, page: int = 1, per_page: int = MEMBERS_PER_PAGE
) -> MembersPage:
    """Two queries whatever the collection's size: the count and one page (OFFSET is fine at
    a few thousand members; nobody pages a collection deeper by hand)."""
    total = (
        db.session.scalar(
            select(func.count()).where(CollectionProduct.collection_id == collection.id)
        )
        or 0
    )
    pages = max(math.ceil(total / per_page), 1)
    page = min(max(page, 1), pages)
    start = (page - 1) * per_page
    products = db.session.scalars(
        select(Product)
        .join(
            CollectionProduct,
            (CollectionProduct.product_id == Product.id)
            & (CollectionProduct.collection_id == collection.id),
        )
        .order_by(CollectionProduct.position, CollectionProduct.product_id)
        .offset(start)
        .limit(per_page)
        .options(lazyload(Product.category), lazyload(Product.tag_rows))
    )
    rows = [(start + i, p) for i, p in enumerate(products, start=1)]
    return MembersPage(rows=rows, total=total, page=page, pages=pages, per_page=per_page)


@dataclass
class Pin:
    """A pinned product as the console lists it; `shown` says whether shoppers see it first."""

    product_id: int
    product: Product | None
    member: bool

    @property
    def shown(self) -> bool:
        return self.product is not None and self.member and self.product.status == ACTIVE

    @property
    def problem(self) -> str:
        if self.product is None:
            return "Deleted: not shown"
        if not self.member:
            return "No longer in this collection: not shown"
        if self.product.status != ACTIVE:
            return f"{self.product.status.title()}: not shown until active"
        return ""


def pinned(collection: Collection) -> list[Pin]:
    """The collection's pins in order, each with its product (two queries)."""
    pins = [int(p) for p in collection.pinned_ids or []]
    if not pins:
        return []
    products = {
        p.id: p
        for p in db.session.scalars(
            select(Product)
            .where(Product.id.in_(pins))
            .options(lazyload(Product.category), lazyload(Product.tag_rows))
        )
    }
    members = set(
        db.session.scalars(
            select(Product.id).where(Product.id.in_(pins), collection_condition(collection))
        )
    )
    return [Pin(pid, products.get(pid), pid in members) for pid in pins]


# -- writes -------------------------------------------------------------------------------------


def _lock(collection: Collection) -> None:
    """Hold the collection row (and read its pins and sort afresh) for this transaction."""
    db.session.refresh(collection, with_for_update=True)


def _ids(product_ids: Sequence[Any], field: str) -> list[int]:
    try:
        ids = [int(p) for p in product_ids]
    except (TypeError, ValueError):
        raise ValidationError("Products are given by their ids.", field=field) from None
    if len(set(ids)) != len(ids):
        raise ValidationError("Each product can appear only once.", field=field)
    return ids


def _manual_only(collection: Collection, field: str) -> None:
    if collection.kind != "manual":
        raise ValidationError(
            "A rule-based collection is ordered by its sort; pin products to put them first.",
            field=field,
        )


def _write_positions(collection: Collection, order: Sequence[int]) -> None:
    """Positions 1..n in `order`, writing only the rows whose position changes."""
    current = dict(
        db.session.execute(
            select(CollectionProduct.product_id, CollectionProduct.position).where(
                CollectionProduct.collection_id == collection.id
            )
        ).all()
    )
    changes = [
        {"collection_id": collection.id, "product_id": pid, "position": position}
        for position, pid in enumerate(order, start=1)
        if current.get(pid) != position
    ]
    if changes:
        db.session.execute(update(CollectionProduct), changes)


@service
def set_collection_sort(collection: Collection, sort: str, *, by: Any) -> bool:
    """Choose the shop's order; True if it changed. Manual only for manual collections."""
    _lock(collection)
    sort = check_sort(collection.kind, sort)
    before = collection.sort
    if sort == before:
        return False
    collection.sort = sort
    collection_updated(collection, order_only=True)
    audit.record(by, "collection.sort", collection, before={"sort": before}, after={"sort": sort})
    return True


@service
def reorder_collection(
    collection: Collection,
    product_ids: Sequence[Any],
    *,
    by: Any,
    start: int = 0,
    total: int | None = None,
) -> bool:
    """Put a manual collection's products in the posted order; True if it changed.

    `product_ids` is the whole collection in its new order; or, with `start` and `total` (how
    many products the list held when the page was loaded), the new order of the page of
    products at ranks start+1..start+len. If the collection has gained or lost a product
    since, or other products now sit in those places, StaleOrder is raised and nothing moves."""
    _manual_only(collection, "product_id")
    ids = _ids(product_ids, "product_id")
    if not ids:
        raise ValidationError("Nothing to reorder: no products were sent.", field="product_id")
    if start < 0 or (total is None and start):
        raise ValidationError("A page of the list needs its start and total.", field="start")
    _lock(collection)
    current = member_ids(collection)
    window = current[start : start + len(ids)]
    expected = len(ids) if total is None else total
    if len(current) != expected or len(window) != len(ids) or set(window) != set(ids):
        raise StaleOrder(STALE_MESSAGE, field="product_id", current=window)
    if window == ids:
        return False
    _write_positions(collection, [*current[:start], *ids, *current[start + len(ids) :]])
    collection_updated(collection, order_only=True)
    audit.record(
        by,
        "collection.reorder",
        collection,
        before={"start": start, "product_ids": window},
        after={"start": start, "product_ids": ids},
    )
    return True


@service
def move_in_collection(
    collection: Collection,
    product_id: Any,
    *,
    by: Any,
    position: Any = None,
    step: int | None = None,
) -> int:
    """Move one product of a manual collection to `position` (1-based) or by `step` places
    (-1 up, +1 down, stopping at either end); returns its new position."""
    _manual_only(collection, "position")
    try:
        pid = int(product_id)
    except (TypeError, ValueError):
        raise ValidationError("Choose a product of this collection.", field="position") from None
    _lock(collection)
    current = member_ids(collection)
    if pid not in current:
        raise StaleOrder(STALE_MESSAGE, field="position", current=current[:MEMBERS_PER_PAGE])
    old = current.index(pid) + 1
    if step is not None:
        target = min(max(old + int(step), 1), len(current))
    else:
        try:
            target = int(str(position).strip())
        except (TypeError, ValueError):
            target = 0
        if not 1 <= target <= len(current):
            raise ValidationError(f"Enter a position from 1 to {len(current)}.", field="position")
    if target == old:
        return old
    current.remove(pid)
    current.insert(target - 1, pid)
    _write_positions(collection, current)
    collection_updated(collection, order_only=True)
    audit.record(
        by,
        "collection.reorder",
        collection,
        before={"product_id": pid, "position": old},
        after={"product_id": pid, "position": target},
    )
    return target


def _check_pinnable(collection: Collection, ids: list[int]) -> None:
    """Pins are products of the collection: its members, or what its rules match now."""
    if not ids:
        return
    found = dict(
        db.session.execute(select(Product.id, Product.title).where(Product.id.in_(ids))).all()
    )
    members = set(
        db.session.scalars(
            select(Product.id).where(Product.id.in_(ids), collection_condition(collection))
        )
    )
    problems = []
    for pid in ids:
        if pid not in found:
            problems.append(f"Product {pid} no longer exists.")
        elif pid not in members:
            where = (
                "its conditions do not match it" if collection.kind == "rule" else "add it first"
            )
            problems.append(f"“{found[pid]}” is not in this collection ({where}).")
    if problems:
        raise ValidationError(" ".join(problems), field="pinned_ids")


@service
def pin_products(collection: Collection, product_ids: Sequence[Any], *, by: Any) -> int:
    """Pin products after the ones already pinned; returns how many were new."""
    ids = _ids(list(dict.fromkeys(product_ids)), "pinned_ids")
    _lock(collection)
    pins = [int(p) for p in collection.pinned_ids or []]
    new = [pid for pid in ids if pid not in pins]
    if not new:
        return 0
    if len(pins) + len(new) > MAX_PINS:
        raise ValidationError(
            f"A collection pins at most {MAX_PINS} products; unpin some first.",
            field="pinned_ids",
        )
    _check_pinnable(collection, new)
    collection.pinned_ids = [*pins, *new]
    collection_updated(collection, order_only=True)
    audit.record(
        by,
        "collection.pin",
        collection,
        before={"pinned_ids": pins},
        after={"pinned_ids": collection.pinned_ids},
    )
    return len(new)


@service
def unpin_products(collection: Collection, product_ids: Sequence[Any], *, by: Any) -> int:
    """Unpin products (they stay in the collection); returns how many were pinned."""
    ids = set(_ids(list(dict.fromkeys(product_ids)), "pinned_ids"))
    _lock(collection)
    pins = [int(p) for p in collection.pinned_ids or []]
    kept = [pid for pid in pins if pid not in ids]
    if kept == pins:
        return 0
    collection.pinned_ids = kept
    collection_updated(collection, order_only=True)
    audit.record(
        by,
        "collection.unpin",
        collection,
        before={"pinned_ids": pins},
        after={"pinned_ids": kept},
    )
    return len(pins) - len(kept)


@service
def reorder_pins(collection: Collection, product_ids: Sequence[Any], *, by: Any) -> bool:
    """Put the pinned products in the posted order (exactly the current pins, or StaleOrder)."""
    ids = _ids(product_ids, "pinned_ids")
    _lock(collection)
    pins = [int(p) for p in collection.pinned_ids or []]
    if len(ids) != len(pins) or set(ids) != set(pins):
        raise StaleOrder(STALE_MESSAGE, field="pinned_ids", current=pins)
    if ids == pins:
        return False
    collection.pinned_ids = ids
    collection_updated(collection, order_only=True)
    audit.record(
        by,
        "collection.reorder_pins",
        collection,
        before={"pinned_ids": pins},
        after={"pinned_ids": ids},
    )
    return True

"""Inventory reads for the console: the stock overview, the ledger, transfers and low stock;
and for the shop, whether a product can be bought now (`product_available`).

Every list is one query for its rows (joined, never per row) plus at most one count, and pages
with keyset cursors (WHERE (key, id) > (last_key, last_id)), so page 400 of 200,000 stock levels
is as fast as page 1. Nothing here changes data.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import Select, and_, exists, func, literal, literal_column, or_, select, union
from sqlalchemy.orm import aliased
from sqlalchemy.sql.elements import ColumnElement

from commerce.catalog.models import CONTINUE, BundleComponent, Category, Product, Variant
from commerce.catalog.quick_search import (
    product_title_contains,
    sku_variant_ids,
    title_product_ids,
    uses_trigrams,
)
from commerce.csv_safe import SafeCsv
from commerce.extensions import db
from commerce.inventory.models import (
    REASONS,
    TRANSFER_IN,
    TRANSFER_OUT,
    Location,
    StockLevel,
    StockMovement,
)
from commerce.paging import Page, bounded_count, decode_cursor, ids_after, keyset_page
from commerce.staff.models import StaffMember

AVAILABLE = StockLevel.available.label("available")


def _threshold() -> Any:
    default = int(current_app.config["LOW_STOCK_THRESHOLD"])
    return func.coalesce(Variant.low_stock_threshold, literal(default))


STOCK_SORTS: dict[str, tuple[Any, str]] = {
    # '' as a literal, as in ix_variant_sku_sort: a bound parameter would not match the index.
    "sku": (func.coalesce(Variant.sku, literal_column("''")), "SKU"),
    "title": (Product.title, "Product"),
    "location": (Location.code, "Location"),
    "on_hand": (StockLevel.on_hand, "On hand"),
    "available": (StockLevel.available, "Available"),
    "updated": (StockLevel.updated_at, "Updated"),
}
DEFAULT_STOCK_SORT = "sku"
_TEXT_SORTS = ("sku", "title", "location")


@dataclass(frozen=True)
class StockFilter:
    q: str = ""
    location_id: int | None = None
    category_id: int | None = None
    low: bool = False
    out: bool = False
    sort: str = DEFAULT_STOCK_SORT
    direction: str = "asc"

    def normalized(self) -> StockFilter:
        sort = self.sort if self.sort in STOCK_SORTS else DEFAULT_STOCK_SORT
        direction = self.direction if self.direction in ("asc", "desc") else "asc"
        return replace(self, sort=sort, direction=direction, q=(self.q or "").strip())

    def is_filtered(self) -> bool:
        return any([self.q, self.location_id, self.category_id, self.low, self.out])


@dataclass
class StockRow:
    level_id: int
    variant_id: int
    sku: str | None
    barcode: str | None
    variant_title: str
    product_id: int
    product_title: str
    location_id: int
    location_code: str
    location_name: str
    on_hand: int
    allocated: int
    reserved: int
    available: int
    threshold: int
    updated_at: datetime
    unavailable: int = 0  # on hand, not for sale: damaged, in quality control, safety stock

    @property
    def is_low(self) -> bool:
        return 0 < self.available < self.threshold

    @property
    def is_out(self) -> bool:
        return self.available <= 0


def _stock_columns() -> list[Any]:
    return [
        StockLevel.id,
        Variant.id,
        Variant.sku,
        Variant.barcode,
        Variant.option1,
        Variant.option2,
        Variant.option3,
        Product.id,
        Product.title,
        Location.id,
        Location.code,
        Location.name,
        StockLevel.on_hand,
        StockLevel.allocated,
        StockLevel.reserved,
        AVAILABLE,
        _threshold().label("threshold"),
        StockLevel.updated_at,
        StockLevel.unavailable,
    ]


def _stock_row(row: Any) -> StockRow:
    options = [v for v in (row[4], row[5], row[6]) if v is not None]
    return StockRow(
        level_id=row[0],
        variant_id=row[1],
        sku=row[2],
        barcode=row[3],
        variant_title=" / ".join(options) or "Default Title",
        product_id=row[7],
        product_title=row[8],
        location_id=row[9],
        location_code=row[10],
        location_name=row[11],
        on_hand=row[12],
        allocated=row[13],
        reserved=row[14],
        available=row[15],
        threshold=row[16],
        updated_at=row[17],
        unavailable=row[18],
    )


def _stock_from(sort: str, leading: bool) -> Select[Any]:
    """The overview's joins. With `leading` (SQLite, no narrowing filter) the table whose index
    holds the sort key drives the join, so the page is read in order and stops at its LIMIT:
    SQLite, without statistics, otherwise scans every stock level and sorts them all. The
    `+ 0` keeps the leading table from being looked up by id, which is what lets it lead."""
    stmt = select(*_stock_columns())
    if leading and sort == "sku":
        stmt = (
            stmt.select_from(Variant)
            .join(StockLevel, StockLevel.variant_id == Variant.id + 0)
            .join(Product, Product.id == Variant.product_id)
        )
    elif leading and sort == "title":
        stmt = (
            stmt.select_from(Product)
            .join(Variant, Variant.product_id == Product.id + 0)
            .join(StockLevel, StockLevel.variant_id == Variant.id)
        )
    else:
        stmt = (
            stmt.select_from(StockLevel)
            .join(Variant, Variant.id == StockLevel.variant_id)
            .join(Product, Product.id == Variant.product_id)
        )
    return stmt.join(Location, Location.id == StockLevel.location_id)


def _narrowed(flt: StockFilter, broad: bool = False) -> bool:
    """Text and category filters pick their rows through their own indexes, and the page is
    sorted from those; the others keep most rows and are read along the sort's index. So is a
    text filter matching more than COUNT_LIMIT levels (`broad`): walking the sort's index and
    testing each row against the matches' id set finds a page sooner than sorting them all."""
    return bool((flt.q and not broad) or flt.category_id)


def filtered_stock(flt: StockFilter, *, leading: bool = False, broad: bool = False) -> Select[Any]:
    """The WHERE part of the overview, shared by the page, its count and the CSV export."""
    flt = flt.normalized()
    walk = leading and not _narrowed(flt, broad)
    stmt = _stock_from(flt.sort, walk)
    stmt = stmt.where(*_level_conditions(flt))
    if flt.category_id:
        stmt = stmt.where(_in_category(flt.category_id))
    if flt.low:
        stmt = stmt.where(_available() < _threshold())
    if flt.q:
        # Walking the sort's index, the matches are an id set each row is tested against
        # (`+ 0`: SQLite would otherwise look the matches up and sort them all).
        member = Variant.id + 0 if walk else Variant.id
        stmt = stmt.where(member.in_(_matching_variants(flt.q)))
    return stmt


def _in_category(category_id: int) -> Any:
    """Products of the category or of any category below it."""
    prefix = select(Category.path_ids).where(Category.id == category_id).scalar_subquery()
    return Product.category_id.in_(select(Category.id).where(Category.path_ids.startswith(prefix)))


def _matching_variants(q: str) -> Any:
    """Variants whose SKU or product title contains `q`, or whose barcode is `q`: one id set per
    table, each answered by its trigram index (pg_trgm on PostgreSQL, migration 0011_search; the
    FTS5 trigram tables on SQLite, commerce/catalog/quick_search.py)."""
    like = f"%{q}%"
    if uses_trigrams(db.session.get_bind()):
        skus, titles = Variant.id.in_(sku_variant_ids(q)), title_product_ids(q)
    else:
        skus, titles = Variant.sku.ilike(like), select(Product.id).where(product_title_contains(q))
    return union(
        select(Variant.id).where(or_(skus, Variant.barcode == q)),
        select(Variant.id).where(Variant.product_id.in_(titles)),
    )


def _available() -> Any:
    return StockLevel.available


def _level_conditions(flt: StockFilter) -> list[Any]:
    """The filters that read the stock level alone (its location, nothing available)."""
    where = []
    if flt.location_id:
        where.append(StockLevel.location_id == flt.location_id)
    if flt.out:
        where.append(_available() <= 0)
    return where


def _sort_value(row: StockRow, sort: str) -> Any:
    value = {
        "sku": row.sku or "",
        "title": row.product_title,
        "location": row.location_code,
        "on_hand": row.on_hand,
        "available": row.available,
        "updated": row.updated_at,
    }[sort]
    return value.isoformat(sep=" ") if isinstance(value, datetime) else value


def _count_stock(flt: StockFilter) -> tuple[int, bool]:
    """The matching total, counted up to COUNT_LIMIT ((count, exact)); without text, category
    or threshold filters no join is needed (every level has its variant, product and location:
    the foreign keys are NOT NULL)."""
    if flt.q or flt.category_id or flt.low:
        return bounded_count(filtered_stock(flt).with_only_columns(StockLevel.id))
    return bounded_count(select(StockLevel.id).where(*_level_conditions(flt)))


_VARIANT_SORTS = ("sku", "title")  # keys a variant's levels share


def _levels_of_ordered_variants(
    flt: StockFilter, *, after: str | None, before: str | None
) -> tuple[Select[Any], Any]:
    """(statement, key) of the overview's rows for a text or category filter on PostgreSQL,
    its variants' order fenced in a subquery: the variants matching the filter (each match read
    once through its index, no level yet) sorted by the page's key, joined to their levels."""
    key = STOCK_SORTS[flt.sort][0]
    backwards = bool(before and decode_cursor(before) is not None)
    reverse = (flt.direction == "desc") != backwards
    matches = _keyed_matches(flt, key)
    order = (matches.c.sort_key, matches.c.id)
    variants = select(*order).order_by(*((c.desc() for c in order) if reverse else order))
    ordered = variants.offset(0).subquery("ordered_variant")
    stmt = (
        select(*_stock_columns())
        .select_from(ordered)
        .join(Variant, Variant.id == ordered.c.id)
        .join(StockLevel, StockLevel.variant_id == ordered.c.id)
        .join(Product, Product.id == Variant.product_id)
        .join(Location, Location.id == StockLevel.location_id)
        .where(*_level_conditions(flt))
    )
    if flt.low:
        stmt = stmt.where(_available() < _threshold())
    return stmt, ordered.c.sort_key


def _keyed_matches(flt: StockFilter, key: Any) -> Any:
    """(id, sort_key) of the variants matching the text and category filters, each branch of
    the text match read through its own index with its key beside it (the title branch from
    the variant index by product, which holds the SKU): no second read of the variants."""
    by_title = flt.sort == "title" or bool(flt.category_id)

    def keyed(*where: Any) -> Select[Any]:
        stmt = select(Variant.id, key.label("sort_key"))
        if by_title:
            stmt = stmt.join(Product, Product.id == Variant.product_id)
        if flt.category_id:
            stmt = stmt.where(_in_category(flt.category_id))
        return stmt.where(*where)

    if not flt.q:
        return keyed().subquery("matching_variant")
    like = f"%{flt.q}%"
    titles = select(Product.id).where(product_title_contains(flt.q))
    return union(
        keyed(or_(Variant.sku.ilike(like), Variant.barcode == flt.q)),
        keyed(Variant.product_id.in_(titles)),
    ).subquery("matching_variant")


def list_stock(
    flt: StockFilter, *, after: str | None = None, before: str | None = None, limit: int = 50
) -> Page:
    """One page of the stock overview: a row per stock level (variant at a location)."""
    flt = flt.normalized()
    dialect = db.session.get_bind().dialect.name
    total, exact = _count_stock(flt)
    base = filtered_stock(flt, leading=dialect == "sqlite", broad=not exact)
    key, id_column = STOCK_SORTS[flt.sort][0], StockLevel.id
    if dialect == "postgresql" and flt.sort in _VARIANT_SORTS and _narrowed(flt):
        # The matching variants first, sorted by the page's key in the page's direction (a
        # variant's levels share its key; OFFSET 0 keeps that order), then their levels: the
        # page is read along that order and only the levels of the tie at its end are sorted
        # (an incremental sort), where sorting the levels of every match read them all.
        base, key = _levels_of_ordered_variants(flt, after=after, before=before)
    elif dialect == "postgresql" and _narrowed(flt, broad=not exact):
        # The matches first, then their order: PostgreSQL would otherwise walk the sort's index
        # and test every row, and a category's SKUs lie together (a few thousand levels deep
        # in a walk of the whole catalog). OFFSET 0 keeps the subquery as it is.
        fenced = base.add_columns(key.label("sort_key")).offset(0).subquery()
        base = select(*[c for c in fenced.c if c.name != "sort_key"])
        key, id_column = fenced.c.sort_key, fenced.c.id
    parse = datetime.fromisoformat if flt.sort == "updated" else None
    if flt.sort not in _TEXT_SORTS and parse is None:
        parse = int
    keyset = keyset_page(
        base,
        key,
        id_column,
        descending=flt.direction == "desc",
        after=after,
        before=before,
        limit=limit,
        parse=parse,
    )
    return keyset.page(
        [_stock_row(r) for r in keyset.rows],
        lambda row: (_sort_value(row, flt.sort), row.level_id),
        total=total,
        total_exact=exact,
    )


EXPORT_COLUMNS = [
    "sku",
    "barcode",
    "product",
    "variant",
    "location",
    "on_hand",
    "allocated",
    "reserved",
    "available",
    "threshold",
]


def export_stock_csv(flt: StockFilter, *, batch: int = 1000) -> Iterator[str]:
    """The filtered overview as CSV text chunks, read in id-ordered batches (never all at once)."""
    base = filtered_stock(flt)
    out = SafeCsv(quote_all=False)  # titles and negative figures get a quote (csv_safe)
    out.row(EXPORT_COLUMNS)
    yield out.take()
    last_id = 0
    while True:
        rows = list(
            db.session.execute(
                base.where(StockLevel.id > last_id).order_by(StockLevel.id).limit(batch)
            )
        )
        if not rows:
            return
        for raw in rows:
            r = _stock_row(raw)
            out.row(
                [
                    r.sku or "",
                    r.barcode or "",
                    r.product_title,
                    r.variant_title,
                    r.location_code,
                    r.on_hand,
                    r.allocated,
                    r.reserved,
                    r.available,
                    r.threshold,
                ]
            )
        last_id = rows[-1][0]
        yield out.take()


# -- the ledger ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class MovementFilter:
    variant_id: int | None = None
    location_id: int | None = None
    reason: str = ""
    date_from: date | None = None
    date_to: date | None = None

    def normalized(self) -> MovementFilter:
        return replace(self, reason=self.reason if self.reason in REASONS else "")

    def is_filtered(self) -> bool:
        return any([self.reason, self.date_from, self.date_to]) or bool(
            self.variant_id and self.location_id
        )


@dataclass
class MovementRow:
    id: int
    created_at: datetime
    delta: int
    reason: str
    reference: str
    note: str
    idempotency_key: str | None
    level_id: int
    variant_id: int
    sku: str | None
    barcode: str | None
    product_id: int
    product_title: str
    variant_title: str
    location_id: int
    location_code: str
    location_name: str
    actor: str
    undone_by: int | None = None


def _movement_select() -> Select[Any]:
    return (
        select(
            StockMovement.id,
            StockMovement.created_at,
            StockMovement.delta,
            StockMovement.reason,
            StockMovement.reference,
            StockMovement.note,
            StockMovement.idempotency_key,
            StockLevel.id,
            Variant.id,
            Variant.sku,
            Variant.barcode,
            Product.id,
            Product.title,
            Variant.option1,
            Variant.option2,
            Variant.option3,
            Location.id,
            Location.code,
            Location.name,
            StaffMember.name,
            StaffMember.email,
        )
        .select_from(StockMovement)
        .join(StockLevel, StockLevel.id == StockMovement.stock_level_id)
        .join(Variant, Variant.id == StockLevel.variant_id)
        .join(Product, Product.id == Variant.product_id)
        .join(Location, Location.id == StockLevel.location_id)
        .outerjoin(StaffMember, StaffMember.id == StockMovement.actor_id)
    )


def _movement_row(r: Any) -> MovementRow:
    options = [v for v in (r[13], r[14], r[15]) if v is not None]
    return MovementRow(
        id=r[0],
        created_at=r[1],
        delta=r[2],
        reason=r[3],
        reference=r[4],
        note=r[5],
        idempotency_key=r[6],
        level_id=r[7],
        variant_id=r[8],
        sku=r[9],
        barcode=r[10],
        product_id=r[11],
        product_title=r[12],
        variant_title=" / ".join(options) or "Default Title",
        location_id=r[16],
        location_code=r[17],
        location_name=r[18],
        actor=(r[19] or r[20] or "system"),
    )


def list_movements(
    flt: MovementFilter, *, after: str | None = None, before: str | None = None, limit: int = 50
) -> Page:
    """The ledger, newest first, filtered; keyset-paged on the movement id."""
    flt = flt.normalized()
    stmt = _movement_select()
    # Filter on the movement's own stock_level_id (IN the matching levels), so the ledger index
    # (stock_level_id, id) serves "newest first" for one SKU or location in a huge ledger.
    if flt.variant_id or flt.location_id:
        levels = select(StockLevel.id)
        if flt.variant_id:
            levels = levels.where(StockLevel.variant_id == flt.variant_id)
        if flt.location_id:
            levels = levels.where(StockLevel.location_id == flt.location_id)
        stmt = stmt.where(StockMovement.stock_level_id.in_(levels))
    if flt.reason:
        stmt = stmt.where(StockMovement.reason == flt.reason)
    if flt.date_from:
        stmt = stmt.where(
            StockMovement.created_at >= datetime.combine(flt.date_from, datetime.min.time())
        )
    if flt.date_to:
        end = datetime.combine(flt.date_to + timedelta(days=1), datetime.min.time())
        stmt = stmt.where(StockMovement.created_at < end)
    keyset = keyset_page(
        stmt,
        StockMovement.id,
        StockMovement.id,
        descending=True,
        after=after,
        before=before,
        limit=limit,
        parse=int,
    )
    return keyset.page([_movement_row(r) for r in keyset.rows], lambda row: (row.id, row.id))


def movements_by_id(ids: list[int]) -> list[MovementRow]:
    """The given movements, newest first, each marked with the movement that undid it."""
    if not ids:
        return []
    rows = [
        _movement_row(r)
        for r in db.session.execute(
            _movement_select().where(StockMovement.id.in_(ids)).order_by(StockMovement.id.desc())
        )
    ]
    undo_keys = {f"undo:{r.id}": r for r in rows}
    for key, undo_id in db.session.execute(
        select(StockMovement.idempotency_key, StockMovement.id).where(
            StockMovement.idempotency_key.in_(list(undo_keys))
        )
    ):
        undo_keys[key].undone_by = undo_id
    return rows


@dataclass
class Transfer:
    out: MovementRow
    into: MovementRow | None

    @property
    def quantity(self) -> int:
        return -self.out.delta


def _transfer_in_for(out: MovementRow) -> MovementRow | None:
    stmt = _movement_select().where(StockMovement.reason == TRANSFER_IN)
    if out.idempotency_key:
        stmt = stmt.where(StockMovement.idempotency_key == f"{out.idempotency_key}:in")
    else:  # written right after its transfer-out, in the same transaction
        stmt = stmt.where(StockMovement.id == out.id + 1)
    row = db.session.execute(stmt.limit(1)).first()
    return _movement_row(row) if row else None


def get_transfer(movement_id: int) -> Transfer | None:
    row = db.session.execute(
        _movement_select().where(
            StockMovement.id == movement_id, StockMovement.reason == TRANSFER_OUT
        )
    ).first()
    if row is None:
        return None
    out = _movement_row(row)
    return Transfer(out=out, into=_transfer_in_for(out))


def recent_transfers(limit: int = 30) -> list[Transfer]:
    """The latest transfers (two queries: the outs, then their ins)."""
    outs = [
        _movement_row(r)
        for r in db.session.execute(
            _movement_select()
            .where(StockMovement.reason == TRANSFER_OUT)
            # transfer documents' shipments are listed with their transfers
            .where(
                or_(
                    StockMovement.idempotency_key.is_(None),
                    ~StockMovement.idempotency_key.startswith("transfer:"),
                )
            )
            .order_by(StockMovement.id.desc())
            .limit(limit)
        )
    ]
    if not outs:
        return []
    keys = [f"{o.idempotency_key}:in" for o in outs if o.idempotency_key]
    next_ids = [o.id + 1 for o in outs if not o.idempotency_key]
    ins = [
        _movement_row(r)
        for r in db.session.execute(
            _movement_select().where(
                StockMovement.reason == TRANSFER_IN,
                or_(StockMovement.idempotency_key.in_(keys), StockMovement.id.in_(next_ids)),
            )
        )
    ]
    by_key = {i.idempotency_key: i for i in ins if i.idempotency_key}
    by_id = {i.id: i for i in ins}
    return [
        Transfer(
            out=o,
            into=by_key.get(f"{o.idempotency_key}:in")
            if o.idempotency_key
            else by_id.get(o.id + 1),
        )
        for o in outs
    ]


# -- per variant, per location, low stock ---------------------------------------------------------


def variant_levels(variant_id: int) -> list[StockLevel]:
    return list(
        db.session.scalars(
            select(StockLevel)
            .join(Location, Location.id == StockLevel.location_id)
            .where(StockLevel.variant_id == variant_id)
            .order_by(Location.priority, Location.id)
        )
    )


def all_locations() -> list[Location]:
    return list(db.session.scalars(select(Location).order_by(Location.priority, Location.id)))


def location_totals() -> dict[int, dict[str, int]]:
    """Per location: how many stock levels and units it holds (one grouped query)."""
    rows = db.session.execute(
        select(
            StockLevel.location_id,
            func.count(),
            func.coalesce(func.sum(StockLevel.on_hand), 0),
            func.coalesce(func.sum(AVAILABLE), 0),
        ).group_by(StockLevel.location_id)
    )
    return {
        loc: {"levels": n, "on_hand": int(on_hand), "available": int(avail)}
        for loc, n, on_hand, avail in rows
    }


@dataclass
class LowStock:
    variant_id: int
    sku: str | None
    product_id: int
    product_title: str
    available: int
    threshold: int


def low_stock(limit: int = 10) -> list[LowStock]:
    """Variants whose available total (active locations) is below their threshold, worst first.

    One grouped query over stock levels joined to their variant; variants never stocked anywhere
    are not listed (they have no levels).
    """
    available = func.sum(StockLevel.available)
    threshold = _threshold()
    rows = db.session.execute(
        select(
            Variant.id,
            Variant.sku,
            Product.id,
            Product.title,
            available.label("available"),
            threshold.label("threshold"),
        )
        .select_from(StockLevel)
        .join(Location, Location.id == StockLevel.location_id)
        .join(Variant, Variant.id == StockLevel.variant_id)
        .join(Product, Product.id == Variant.product_id)
        .where(Location.is_active.is_(True))
        .group_by(Variant.id, Variant.sku, Product.id, Product.title, Variant.low_stock_threshold)
        .having(available < threshold)
        .order_by(available.asc(), Variant.id)
        .limit(limit)
    )
    return [LowStock(*r) for r in rows]


def product_available() -> ColumnElement[bool]:
    """A condition on Product: it has a variant a shopper can buy now (stock free at an active
    location, or sold on backorder; a bundle when every component it needs stock of has a
    bundle's worth free). The shop's "in stock only" filter (catalog.listing)."""

    def free(variant_id: Any) -> Any:
        return (
            select(func.coalesce(func.sum(StockLevel.available), 0))
            .join(Location, Location.id == StockLevel.location_id)
            .where(StockLevel.variant_id == variant_id, Location.is_active.is_(True))
            .scalar_subquery()
        )

    component = aliased(Variant)
    is_bundle = exists().where(BundleComponent.bundle_variant_id == Variant.id)
    short = exists().where(
        BundleComponent.bundle_variant_id == Variant.id,
        component.id == BundleComponent.component_variant_id,
        component.inventory_policy != CONTINUE,
        free(BundleComponent.component_variant_id) < BundleComponent.quantity,
    )
    return exists().where(
        Variant.product_id == Product.id,
        or_(
            and_(~is_bundle, or_(Variant.inventory_policy == CONTINUE, free(Variant.id) > 0)),
            and_(is_bundle, ~short),
        ),
    )


def levels_after(
    cursor: str | None,
    *,
    limit: int,
    variant_id: int | None = None,
    location_id: int | None = None,
) -> tuple[list[tuple[StockLevel, str | None]], str | None]:
    """Stock levels (with their variant's SKU) in id order after `cursor`, and the next page's
    cursor: the Admin API's keyset walk, filtered by variant or location."""
    stmt = select(StockLevel, Variant.sku).join(Variant, Variant.id == StockLevel.variant_id)
    if variant_id is not None:
        stmt = stmt.where(StockLevel.variant_id == variant_id)
    if location_id is not None:
        stmt = stmt.where(StockLevel.location_id == location_id)
    return ids_after(stmt, StockLevel.id, after=cursor, limit=limit)


def movements_after(
    cursor: str | None,
    *,
    limit: int,
    variant_id: int | None = None,
    location_id: int | None = None,
) -> tuple[list[tuple[StockMovement, StockLevel]], str | None]:
    """Ledger rows (with their level) in id order after `cursor`: the Admin API's feed of
    stock movements, filtered by variant or location."""
    stmt = select(StockMovement, StockLevel).join(
        StockLevel, StockLevel.id == StockMovement.stock_level_id
    )
    if variant_id is not None:
        stmt = stmt.where(StockLevel.variant_id == variant_id)
    if location_id is not None:
        stmt = stmt.where(StockLevel.location_id == location_id)
    return ids_after(stmt, StockMovement.id, after=cursor, limit=limit)


def level_of(movement: StockMovement) -> StockLevel:
    """The stock level a ledger row moved (as it is now)."""
    return db.session.get(StockLevel, movement.stock_level_id, populate_existing=True)

"""Order reads for the console: the order list, customers, the dashboard's counts and the refund
approval queue.

Every list is one query for its rows (per-row figures are correlated subqueries inside that
query, never a query per row) plus at most one count, and pages with keyset cursors
(WHERE (key, id) > (last_key, last_id)), so a deep page costs what the first one does. Dates
the merchant types are days in the shop's time zone (SHOP_TIMEZONE); the database keeps naive
UTC. Nothing here changes data.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from babel.dates import get_timezone
from flask import current_app
from sqlalchemy import ColumnElement, Select, case, exists, func, or_, select
from sqlalchemy.orm import selectinload

from commerce import paging
from commerce.customers.models import Customer
from commerce.db import utcnow
from commerce.extensions import db
from commerce.orders.models import (
    CANCELLED,
    CONSOLE,
    FULFILLMENT_STATUSES,
    OPEN,
    ORDER_STATUSES,
    PARTIALLY_FULFILLED,
    PAYMENT_STATUSES,
    REFUND_AWAITING_APPROVAL,
    RETURN_CANCELLED,
    RETURN_OPEN,
    RETURN_RECEIVED,
    UNFULFILLED,
    WEB,
    Order,
    OrderEvent,
    OrderLine,
    Refund,
    Return,
    ReturnLine,
)
from commerce.paging import Page
from commerce.staff.models import StaffMember

CHANNELS = (WEB, CONSOLE)
NOTE = "note"  # OrderEvent.kind of an internal note (a "comment" is what the customer sees)
AWAITING_FULFILLMENT = (UNFULFILLED, PARTIALLY_FULFILLED)

# Sort key -> (column, label). "number" sorts by id: numbers are id + ORDER_NUMBER_OFFSET, and
# the primary key is indexed and never NULL.
ORDER_SORTS: dict[str, tuple[Any, str]] = {
    "placed": (Order.placed_at, "Placed"),
    "number": (Order.id, "Number"),
    "total": (Order.total, "Total"),
    "customer": (Order.customer_name, "Customer"),
}
DEFAULT_ORDER_SORT = "placed"


# -- time zone ----------------------------------------------------------------------------------


def shop_zone() -> Any:
    return get_timezone(current_app.config["SHOP_TIMEZONE"])


def shop_day_start(day: date) -> datetime:
    """Midnight of `day` in the shop's time zone, as the naive UTC the database stores."""
    local = datetime.combine(day, time.min, tzinfo=shop_zone())
    return local.astimezone(UTC).replace(tzinfo=None)


def shop_today(now: datetime | None = None) -> date:
    """The shop's calendar date at `now` (naive UTC; defaults to the current time)."""
    return (now or utcnow()).replace(tzinfo=UTC).astimezone(shop_zone()).date()


def to_shop_time(moment: datetime) -> datetime:
    """A naive UTC moment as local time in the shop's time zone, for display."""
    return moment.replace(tzinfo=UTC).astimezone(shop_zone())


# -- paging -------------------------------------------------------------------------------------


def _keyset_page(
    stmt: Select[Any],
    key: Any,
    id_column: Any,
    *,
    descending: bool,
    after: str | None,
    before: str | None,
    limit: int,
    parse: Any,
    row_key: Any,
    build: Any,
) -> Page:
    """One keyset page of `stmt` ordered by (key, id), its rows built into list items;
    `row_key(item)` reads (key, id) off an item for the neighbours' cursors."""
    keyset = paging.keyset_page(
        stmt,
        key,
        id_column,
        descending=descending,
        after=after,
        before=before,
        limit=limit,
        parse=parse,
    )
    return keyset.page([build(r) for r in keyset.rows], row_key)


def _like(text: str) -> str:
    """`text` as a LIKE pattern matching it anywhere, its own % and _ taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


# -- the order list -----------------------------------------------------------------------------


@dataclass(frozen=True)
class OrderFilter:
    """What the order list shows. Dates are shop-local days (both ends included); totals are
    minor units; empty tuples and None mean "any"."""

    q: str = ""
    statuses: tuple[str, ...] = ()
    payment_statuses: tuple[str, ...] = ()
    fulfillment_statuses: tuple[str, ...] = ()
    placed_from: date | None = None
    placed_to: date | None = None
    total_min: int | None = None
    total_max: int | None = None
    channel: str = ""
    has_note: bool | None = None
    email: str = ""
    sku: str = ""
    customer_id: int | None = None
    sort: str = DEFAULT_ORDER_SORT
    direction: str = "desc"

    def normalized(self) -> OrderFilter:
        """Unknown values dropped (the console reports them before they get here)."""
        return replace(
            self,
            q=(self.q or "").strip(),
            statuses=tuple(s for s in self.statuses if s in ORDER_STATUSES),
            payment_statuses=tuple(s for s in self.payment_statuses if s in PAYMENT_STATUSES),
            fulfillment_statuses=tuple(
                s for s in self.fulfillment_statuses if s in FULFILLMENT_STATUSES
            ),
            channel=self.channel if self.channel in CHANNELS else "",
            email=(self.email or "").strip().lower(),
            sku=(self.sku or "").strip(),
            sort=self.sort if self.sort in ORDER_SORTS else DEFAULT_ORDER_SORT,
            direction=self.direction if self.direction in ("asc", "desc") else "desc",
        )

    def is_filtered(self) -> bool:
        return any(
            [
                self.q,
                self.statuses,
                self.payment_statuses,
                self.fulfillment_statuses,
                self.placed_from,
                self.placed_to,
                self.total_min is not None,
                self.total_max is not None,
                self.channel,
                self.has_note is not None,
                self.email,
                self.sku,
                self.customer_id,
            ]
        )


@dataclass
class OrderRow:
    id: int
    number: int | None
    placed_at: datetime
    customer_name: str
    email: str
    customer_id: int | None
    channel: str
    currency: str
    total: int
    status: str
    payment_status: str
    fulfillment_status: str
    item_count: int
    has_note: bool

    @property
    def name(self) -> str:
        return f"#{self.number}" if self.number else f"order {self.id}"


def _has_note() -> Any:
    return exists().where(OrderEvent.order_id == Order.id, OrderEvent.kind == NOTE)


def _quick_search(q: str) -> ColumnElement[bool]:
    """ "#1001" or "1001" finds that order number; other text searches email and name."""
    digits = q.lstrip("#").strip()
    if digits.isdigit() and len(digits) <= 18:
        return Order.number == int(digits)
    pattern = _like(q.lower())
    return or_(
        func.lower(Order.email).like(pattern, escape="\\"),
        func.lower(Order.customer_name).like(pattern, escape="\\"),
    )


def order_conditions(flt: OrderFilter) -> list[ColumnElement[bool]]:
    """The WHERE part of the list, shared by the page and its count."""
    flt = flt.normalized()
    where: list[ColumnElement[bool]] = []
    if flt.q:
        where.append(_quick_search(flt.q))
    if flt.statuses:
        where.append(Order.status.in_(flt.statuses))
    if flt.payment_statuses:
        where.append(Order.payment_status.in_(flt.payment_statuses))
    if flt.fulfillment_statuses:
        where.append(Order.fulfillment_status.in_(flt.fulfillment_statuses))
    if flt.placed_from:
        where.append(Order.placed_at >= shop_day_start(flt.placed_from))
    if flt.placed_to:
        where.append(Order.placed_at < shop_day_start(flt.placed_to + timedelta(days=1)))
    if flt.total_min is not None:
        where.append(Order.total >= flt.total_min)
    if flt.total_max is not None:
        where.append(Order.total <= flt.total_max)
    if flt.channel:
        where.append(Order.channel == flt.channel)
    if flt.has_note is True:
        where.append(_has_note())
    elif flt.has_note is False:
        where.append(~_has_note())
    if flt.email:  # stored lowercased by checkout: the plain comparison uses ix_shop_order_email
        where.append(Order.email == flt.email)
    if flt.sku:
        # The orders holding that SKU, found through ix_order_line_sku (lower(sku)), not by
        # testing every order's lines.
        where.append(
            Order.id.in_(
                select(OrderLine.order_id).where(func.lower(OrderLine.sku) == flt.sku.lower())
            )
        )
    if flt.customer_id:
        where.append(Order.customer_id == flt.customer_id)
    return where


def items_count() -> Any:
    """The units on an order, as a correlated subquery (one statement for a whole list)."""
    return (
        select(func.coalesce(func.sum(OrderLine.quantity), 0))
        .where(OrderLine.order_id == Order.id)
        .correlate(Order)
        .scalar_subquery()
    )


def _order_select() -> Select[Any]:
    items = items_count()
    return select(
        Order.id,
        Order.number,
        Order.placed_at,
        Order.customer_name,
        Order.email,
        Order.customer_id,
        Order.channel,
        Order.currency,
        Order.total,
        Order.status,
        Order.payment_status,
        Order.fulfillment_status,
        items.label("item_count"),
        _has_note().label("has_note"),
    )


def _order_row(r: Any) -> OrderRow:
    return OrderRow(*r[:12], item_count=int(r[12] or 0), has_note=bool(r[13]))


def count_orders(flt: OrderFilter) -> int:
    return int(
        db.session.scalar(select(func.count()).select_from(Order).where(*order_conditions(flt)))
        or 0
    )


_SORT_PARSERS: dict[str, Any] = {
    "placed": datetime.fromisoformat,
    "number": int,
    "total": int,
    "customer": str,
}


def _sort_key(row: OrderRow, sort: str) -> tuple[Any, int]:
    value = {
        "placed": row.placed_at,
        "number": row.id,
        "total": row.total,
        "customer": row.customer_name,
    }[sort]
    return value, row.id


def list_orders(
    flt: OrderFilter,
    *,
    after: str | None = None,
    before: str | None = None,
    limit: int = 50,
    with_total: bool = True,
) -> Page:
    """One page of orders with their item counts and whether they carry an internal note:
    two statements (rows, count) whatever the page size."""
    flt = flt.normalized()
    sort = flt.sort
    page = _keyset_page(
        _order_select().where(*order_conditions(flt)),
        ORDER_SORTS[sort][0],
        Order.id,
        descending=flt.direction == "desc",
        after=after,
        before=before,
        limit=limit,
        parse=_SORT_PARSERS[sort],
        row_key=lambda row: _sort_key(row, sort),
        build=_order_row,
    )
    if with_total:
        page.total = count_orders(flt)
    return page


# -- customers ----------------------------------------------------------------------------------


@dataclass
class CustomerRow:
    id: int
    email: str
    name: str
    is_active: bool
    created_at: datetime
    order_count: int
    last_order_at: datetime | None

    @property
    def display_name(self) -> str:
        return self.name or self.email


def customer_conditions(q: str) -> list[ColumnElement[bool]]:
    """The WHERE part of the customer list (email or name contains `q`), shared by its export."""
    q = (q or "").strip().lower()
    if not q:
        return []
    pattern = _like(q)
    return [
        or_(
            func.lower(Customer.email).like(pattern, escape="\\"),
            func.lower(Customer.name).like(pattern, escape="\\"),
        )
    ]


def list_customers(
    q: str = "", *, after: str | None = None, before: str | None = None, limit: int = 50
) -> Page:
    """Customers newest first, searched by email or name, each with its order count and last
    order (correlated subqueries over ix_shop_order_customer, not a query per row)."""
    orders = select(func.count(Order.id)).where(Order.customer_id == Customer.id)
    last = select(func.max(Order.placed_at)).where(Order.customer_id == Customer.id)
    stmt = select(
        Customer.id,
        Customer.email,
        Customer.name,
        Customer.is_active,
        Customer.created_at,
        orders.correlate(Customer).scalar_subquery().label("order_count"),
        last.correlate(Customer).scalar_subquery().label("last_order_at"),
    ).where(*customer_conditions(q))
    page = _keyset_page(
        stmt,
        Customer.id,
        Customer.id,
        descending=True,
        after=after,
        before=before,
        limit=limit,
        parse=int,
        row_key=lambda row: (row.id, row.id),
        build=lambda r: CustomerRow(*r[:5], order_count=int(r[5] or 0), last_order_at=r[6]),
    )
    page.total = int(
        db.session.scalar(select(func.count()).select_from(Customer).where(*customer_conditions(q)))
        or 0
    )
    return page


@dataclass
class GuestRow:
    """A shopper who ordered without an account, known by the email on their orders."""

    email: str
    name: str
    order_count: int
    last_order_at: datetime | None


def guest_conditions(q: str) -> list[ColumnElement[bool]]:
    """Orders placed without an account (ix_shop_order_guest), their email or name containing
    `q`."""
    conditions: list[ColumnElement[bool]] = [Order.customer_id.is_(None)]
    q = (q or "").strip().lower()
    if q:
        pattern = _like(q)
        conditions.append(
            or_(
                Order.email.like(pattern, escape="\\"),
                func.lower(Order.customer_name).like(pattern, escape="\\"),
            )
        )
    return conditions


def list_guests(
    q: str = "", *, after: str | None = None, before: str | None = None, limit: int = 50
) -> Page:
    """Guest buyers by email (one row per email, however many orders), each with its order
    count and last order; keyset pages on the email, over the partial index of guest orders."""
    stmt = (
        select(
            Order.email,
            func.max(Order.customer_name),
            func.count(Order.id),
            func.max(Order.placed_at),
        )
        .where(*guest_conditions(q))
        .group_by(Order.email)
    )
    cursor = paging.decode_cursor(before or after)
    backwards = bool(before and cursor)
    if cursor:
        mark = str(cursor[0])
        stmt = stmt.where(Order.email < mark if backwards else Order.email > mark)
    ordered = stmt.order_by(Order.email.desc() if backwards else Order.email.asc())
    rows = list(db.session.execute(ordered.limit(limit + 1)))
    has_more = len(rows) > limit
    rows = rows[:limit]
    if backwards:
        rows.reverse()
    items = [GuestRow(r[0], r[1] or "", int(r[2] or 0), r[3]) for r in rows]
    page = paging.KeysetSlice(rows, has_more, backwards, bool(cursor)).page(
        items,
        lambda g: (g.email, 0),  # a cursor holds (key, id): the email is both
    )
    page.total = int(
        db.session.scalar(
            select(func.count(func.distinct(Order.email))).where(*guest_conditions(q))
        )
        or 0
    )
    return page


def get_customer_with_addresses(customer_id: int) -> Customer | None:
    """The customer and their address book (two statements, whatever the number of addresses)."""
    return db.session.scalar(
        select(Customer).where(Customer.id == customer_id).options(selectinload(Customer.addresses))
    )


@dataclass
class CustomerTotals:
    """A customer's orders in one currency: money kept (paid less refunded) and its average
    over the orders that were not cancelled."""

    currency: str
    orders: int
    cancelled: int
    spent: int

    @property
    def average(self) -> int | None:
        counted = self.orders - self.cancelled
        if counted <= 0:
            return None
        exact = Decimal(self.spent) / Decimal(counted)
        return int(exact.quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def customer_totals(customer_id: int) -> list[CustomerTotals]:
    """Per currency (one grouped query); most orders first."""
    rows = db.session.execute(
        select(
            Order.currency,
            func.count(Order.id),
            func.coalesce(func.sum(case((Order.status == CANCELLED, 1), else_=0)), 0),
            func.coalesce(func.sum(Order.paid_total - Order.refunded_total), 0),
        )
        .where(Order.customer_id == customer_id)
        .group_by(Order.currency)
        .order_by(func.count(Order.id).desc(), Order.currency)
    )
    return [CustomerTotals(c, int(n), int(x), int(s)) for c, n, x, s in rows]


@dataclass
class NoteRow:
    id: int
    order_id: int
    order_number: int | None
    message: str
    actor_label: str
    created_at: datetime

    @property
    def order_name(self) -> str:
        return f"#{self.order_number}" if self.order_number else f"order {self.order_id}"


def customer_notes(customer_id: int, *, limit: int = 50) -> list[NoteRow]:
    """Internal notes on the customer's orders, newest first (one joined query)."""
    rows = db.session.execute(
        select(
            OrderEvent.id,
            Order.id,
            Order.number,
            OrderEvent.message,
            OrderEvent.actor_label,
            OrderEvent.created_at,
        )
        .join(Order, Order.id == OrderEvent.order_id)
        .where(Order.customer_id == customer_id, OrderEvent.kind == NOTE)
        .order_by(OrderEvent.id.desc())
        .limit(limit)
    )
    return [NoteRow(*r) for r in rows]


# -- the dashboard ------------------------------------------------------------------------------


@dataclass
class Sales:
    """Orders placed in a period: how many (cancelled included) and revenue per currency (the
    totals of those not cancelled)."""

    orders: int = 0
    cancelled: int = 0
    revenue: dict[str, int] = field(default_factory=dict)


def sales_between(start: datetime, end: datetime) -> Sales:
    """One grouped query over ix_shop_order_placed; `start`/`end` are naive UTC, end excluded."""
    live = Order.status != CANCELLED
    rows = db.session.execute(
        select(
            Order.currency,
            func.count(Order.id),
            func.coalesce(func.sum(case((live, 0), else_=1)), 0),
            func.coalesce(func.sum(case((live, Order.total), else_=0)), 0),
        )
        .where(Order.placed_at >= start, Order.placed_at < end)
        .group_by(Order.currency)
        .order_by(Order.currency)
    )
    sales = Sales()
    for currency, count, cancelled, revenue in rows:
        sales.orders += int(count)
        sales.cancelled += int(cancelled)
        sales.revenue[currency] = int(revenue)
    return sales


def sales_today(now: datetime | None = None) -> Sales:
    """Orders placed since midnight in the shop's time zone."""
    today = shop_today(now)
    return sales_between(shop_day_start(today), shop_day_start(today + timedelta(days=1)))


AWAITING_FULFILLMENT_FILTER = OrderFilter(
    statuses=(OPEN,), fulfillment_statuses=AWAITING_FULFILLMENT, sort="placed", direction="asc"
)


def count_awaiting_fulfillment() -> int:
    """Open orders with items still to ship (unfulfilled or partially fulfilled)."""
    return count_orders(AWAITING_FULFILLMENT_FILTER)


# -- refunds awaiting approval ------------------------------------------------------------------


@dataclass
class RefundRequest:
    id: int
    order_id: int
    order_number: int | None
    customer_name: str
    email: str
    amount: int
    currency: str
    reason: str
    requested_by: str
    created_at: datetime

    @property
    def order_name(self) -> str:
        return f"#{self.order_number}" if self.order_number else f"order {self.order_id}"


def count_refunds_awaiting_approval() -> int:
    return int(
        db.session.scalar(
            select(func.count())
            .select_from(Refund)
            .where(Refund.status == REFUND_AWAITING_APPROVAL)
        )
        or 0
    )


def refunds_awaiting_approval(
    *, after: str | None = None, before: str | None = None, limit: int = 50
) -> Page:
    """The approval queue, oldest request first (one joined query over ix_refund_status)."""
    requester = func.coalesce(func.nullif(StaffMember.name, ""), StaffMember.email)
    stmt = (
        select(
            Refund.id,
            Order.id,
            Order.number,
            Order.customer_name,
            Order.email,
            Refund.amount,
            Refund.currency,
            Refund.reason,
            requester,
            Refund.created_at,
        )
        .join(Order, Order.id == Refund.order_id)
        .outerjoin(StaffMember, StaffMember.id == Refund.requested_by_id)
        .where(Refund.status == REFUND_AWAITING_APPROVAL)
    )
    page = _keyset_page(
        stmt,
        Refund.created_at,
        Refund.id,
        descending=False,
        after=after,
        before=before,
        limit=limit,
        parse=datetime.fromisoformat,
        row_key=lambda row: (row.created_at, row.id),
        build=lambda r: RefundRequest(*r[:8], requested_by=r[8] or "system", created_at=r[9]),
    )
    page.total = count_refunds_awaiting_approval()
    return page


# -- the returns queue ---------------------------------------------------------------------------

RETURN_FILTERS = (RETURN_OPEN, RETURN_RECEIVED, RETURN_CANCELLED, "all")


@dataclass
class ReturnRow:
    """A return in the queue, with its order's number and shopper and its units."""

    id: int
    status: str
    reason: str
    opened_by_customer: bool
    created_at: datetime
    received_at: datetime | None
    order_id: int
    order_number: int | None
    customer_name: str
    email: str
    units: int
    received_units: int

    @property
    def name(self) -> str:
        return f"RMA-{self.id}"

    @property
    def order_name(self) -> str:
        return f"#{self.order_number}" if self.order_number else f"order {self.order_id}"


def list_returns(
    status: str = RETURN_OPEN,
    *,
    after: str | None = None,
    before: str | None = None,
    limit: int = 50,
) -> Page:
    """Returns across orders. Open ones are a queue, oldest first (the one waiting longest is
    the next to receive); received, cancelled and "all" read newest first. One query for the
    rows (units summed by correlated subqueries over ix_order_return_line_return), keyset paged
    on (created_at, id) through ix_order_return_status, plus a count bounded at COUNT_LIMIT."""
    status = status if status in RETURN_FILTERS else RETURN_OPEN
    units = select(func.coalesce(func.sum(ReturnLine.quantity), 0)).where(
        ReturnLine.return_id == Return.id
    )
    received = select(func.coalesce(func.sum(ReturnLine.received_quantity), 0)).where(
        ReturnLine.return_id == Return.id
    )
    stmt = select(
        Return.id,
        Return.status,
        Return.reason,
        Return.opened_by_customer,
        Return.created_at,
        Return.received_at,
        Order.id,
        Order.number,
        Order.customer_name,
        Order.email,
        units.correlate(Return).scalar_subquery(),
        received.correlate(Return).scalar_subquery(),
    ).join(Order, Order.id == Return.order_id)
    if status != "all":
        stmt = stmt.where(Return.status == status)
    page = _keyset_page(
        stmt,
        Return.created_at,
        Return.id,
        descending=status != RETURN_OPEN,
        after=after,
        before=before,
        limit=limit,
        parse=datetime.fromisoformat,
        row_key=lambda row: (row.created_at, row.id),
        build=lambda r: ReturnRow(*r[:10], units=int(r[10] or 0), received_units=int(r[11] or 0)),
    )
    count = select(Return.id)
    if status != "all":
        count = count.where(Return.status == status)
    page.total, page.total_exact = paging.bounded_count(count)
    return page


# -- the console's command palette (Ctrl+K) -------------------------------------------------------

PALETTE_MIN_CONTAINS = 3  # shorter text matches too much, and a trigram index needs three


def order_number(q: str) -> int | None:
    """The order number in "#1001" or "1001", else None."""
    digits = (q or "").strip().lstrip("#").strip()
    return int(digits) if digits.isdigit() and len(digits) <= 18 else None


def palette_order_condition(q: str) -> ColumnElement[bool] | None:
    """The orders "#1001", "1001" or a shopper's text finds (None: too short to look for)."""
    number = order_number(q)
    if number is not None:
        return Order.number == number
    if len(q) < PALETTE_MIN_CONTAINS:
        return None
    low = q.lower()
    pattern = _like(low)
    return or_(
        Order.email == low,
        func.lower(Order.email).like(pattern, escape="\\"),
        func.lower(Order.customer_name).like(pattern, escape="\\"),
    )


def find_orders(q: str, *, limit: int = 5) -> list[dict[str, Any]]:
    """Orders for Ctrl+K: by number (the unique index), else by the shopper's email or name
    (ix_shop_order_email for a whole address; the lower(email)/lower(customer_name) trigram
    indexes on PostgreSQL for "contains"), newest first, at most `limit`. Each hit carries the
    texts it can be ranked on (`keys`)."""
    q = (q or "").strip()
    number = order_number(q)
    where = palette_order_condition(q)
    if where is None:
        return []
    rows = db.session.execute(
        select(Order.id, Order.number, Order.email, Order.customer_name, Order.status)
        .where(where)
        .order_by(Order.placed_at.desc(), Order.id.desc())
        .limit(limit)
    )
    return [
        {
            "kind": "Order",
            "label": f"#{r.number or r.id} · {r.customer_name or r.email}",
            "detail": r.status,
            "order_id": r.id,
            "keys": [str(r.number or r.id), f"#{r.number or r.id}"]
            if number is not None
            else [r.email, r.customer_name],
        }
        for r in rows
    ]


def find_customers(q: str, *, limit: int = 5) -> list[dict[str, Any]]:
    """Customers for Ctrl+K by email or name: a whole email through the unique index, else
    "contains" (three characters or more, through the trigram indexes on PostgreSQL), at most
    `limit`."""
    q = (q or "").strip().lower()
    if len(q) < PALETTE_MIN_CONTAINS:
        return []
    pattern = _like(q)
    rows = db.session.execute(
        select(Customer.id, Customer.email, Customer.name)
        .where(
            or_(
                Customer.email == q,
                func.lower(Customer.email).like(pattern, escape="\\"),
                func.lower(Customer.name).like(pattern, escape="\\"),
            )
        )
        .order_by(Customer.id.desc())
        .limit(limit)
    )
    return [
        {
            "kind": "Customer",
            "label": f"{r.name} · {r.email}" if r.name else r.email,
            "customer_id": r.id,
            "keys": [r.email, r.name],
        }
        for r in rows
    ]

"""Orders and customers as CSV: the console list's filter and sort, streamed in batches.

Like the product export (commerce/catalog/csv_export.py), a file is written batch by batch as
the response streams, so memory stays flat however many rows match; each batch is a fixed
number of statements (its rows, then what the rows need from other tables for all of them at
once), never a statement per row. The batches walk the list's own keyset order, so the file
lists orders exactly as the console list does.

Both files carry personal data (names, emails, addresses), so starting an export writes an
audit entry naming who exported which filter. Amounts are decimal strings in the currency's
digits, computed from integer minor units; times are ISO 8601 in the shop's time zone. Cells
are written through commerce.csv_safe, which keeps a typed formula from running.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict
from datetime import date, datetime
from typing import Any

from flask import current_app
from sqlalchemy import Select, func, select

from commerce import audit, paging
from commerce.csv_safe import BOM, SafeCsv
from commerce.customers.models import Address, Customer
from commerce.db import service
from commerce.extensions import db
from commerce.money import format_amount_plain
from commerce.orders.models import Order
from commerce.orders.queries import (
    ORDER_SORTS,
    OrderFilter,
    count_orders,
    customer_conditions,
    items_count,
    order_conditions,
    to_shop_time,
)
from commerce.promotions.models import Redemption

BATCH = 500

ORDER_COLUMNS = (
    "number",
    "placed_at",
    "status",
    "payment_status",
    "fulfillment_status",
    "customer_name",
    "email",
    "items",
    "subtotal",
    "discounts",
    "shipping",
    "tax",
    "total",
    "refunded",
    "currency",
    "channel",
    "shipping_country",
    "shipping_region",
    "shipping_city",
    "shipping_postal_code",
    "shipping_method",
    "codes",
)

CUSTOMER_COLUMNS = (
    "name",
    "email",
    "created_at",
    "orders",
    "total_spent",
    "currency",
    "spent_in_other_currencies",
    "last_order_at",
    "tags",
    "address_name",
    "address_line1",
    "address_line2",
    "address_city",
    "address_region",
    "address_postal_code",
    "address_country",
    "address_phone",
)


def shop_iso(moment: datetime | None) -> str:
    """A stored naive-UTC moment as ISO 8601 with the shop's offset, to the second."""
    return to_shop_time(moment).replace(microsecond=0).isoformat() if moment else ""


def _described(flt: OrderFilter) -> dict[str, Any]:
    """The filter as the audit log keeps it: only what narrows the list, plus its order."""
    described: dict[str, Any] = {}
    for key, value in asdict(flt.normalized()).items():
        if value in (None, "", ()):
            continue
        described[key] = value.isoformat() if isinstance(value, date) else value
    return described


# -- orders -------------------------------------------------------------------------------------


@service
def export_orders(flt: OrderFilter, *, by: Any, batch_size: int = BATCH) -> Iterator[str]:
    """Audit the export (who, which filter, how many orders matched), then the CSV in chunks."""
    flt = flt.normalized()
    audit.record(
        by,
        "order.export",
        subject_type="order",
        subject_label="Orders CSV",
        after={"filter": _described(flt), "orders": count_orders(flt)},
    )
    return _order_chunks(flt, batch_size)


def _order_select() -> Select[Any]:
    items = items_count()
    return select(
        Order.id,
        Order.number,
        Order.placed_at,
        Order.status,
        Order.payment_status,
        Order.fulfillment_status,
        Order.customer_name,
        Order.email,
        items.label("items"),
        Order.subtotal,
        Order.discount_total,
        Order.shipping_total,
        Order.tax_total,
        Order.total,
        Order.refunded_total,
        Order.currency,
        Order.channel,
        Order.shipping_address,
        Order.shipping_method_name,
    )


# The list's sort keys, read off an export row (for the next batch's cursor).
_ROW_KEYS = {"placed": "placed_at", "number": "id", "total": "total", "customer": "customer_name"}
_PARSERS: dict[str, Any] = {
    "placed": datetime.fromisoformat,
    "number": int,
    "total": int,
    "customer": str,
}


def _order_chunks(flt: OrderFilter, batch_size: int) -> Iterator[str]:
    out = SafeCsv()
    out.row(ORDER_COLUMNS)
    yield BOM + out.take()
    stmt = _order_select().where(*order_conditions(flt))
    key, attribute = ORDER_SORTS[flt.sort][0], _ROW_KEYS[flt.sort]
    cursor: str | None = None
    while True:
        batch = paging.keyset_page(
            stmt,
            key,
            Order.id,
            descending=flt.direction == "desc",
            after=cursor,
            before=None,
            limit=batch_size,
            parse=_PARSERS[flt.sort],
        )
        if not batch.rows:
            return
        codes = _codes([r.id for r in batch.rows])
        for r in batch.rows:
            out.row(_order_row(r, codes.get(r.id, [])))
        yield out.take()
        if not batch.has_more:
            return
        last = batch.rows[-1]
        cursor = paging.encode_cursor([paging.cursor_value(getattr(last, attribute)), last.id])


def _order_row(r: Any, codes: list[str]) -> list[str]:
    def money(amount: int) -> str:
        return format_amount_plain(int(amount or 0), r.currency)

    address = r.shipping_address or {}
    return [
        "" if r.number is None else str(r.number),
        shop_iso(r.placed_at),
        r.status,
        r.payment_status,
        r.fulfillment_status,
        r.customer_name or "",
        r.email,
        str(int(r.items or 0)),
        money(r.subtotal),
        money(r.discount_total),
        money(r.shipping_total),
        money(r.tax_total),
        money(r.total),
        money(r.refunded_total),
        r.currency,
        r.channel,
        str(address.get("country") or ""),
        str(address.get("region") or ""),
        str(address.get("city") or ""),
        str(address.get("postal_code") or ""),
        r.shipping_method_name or "",
        ", ".join(codes),
    ]


def _codes(order_ids: list[int]) -> dict[int, list[str]]:
    """The coupon codes each order was placed with (one statement for the batch); a cancelled
    order's codes were given back but are still the ones it used."""
    codes: dict[int, list[str]] = {}
    rows = db.session.execute(
        select(Redemption.order_id, Redemption.code)
        .where(Redemption.order_id.in_(order_ids), Redemption.code != "")
        .distinct()
        .order_by(Redemption.order_id, Redemption.code)
    )
    for order_id, code in rows:
        codes.setdefault(order_id, []).append(code)
    return codes


# -- customers ----------------------------------------------------------------------------------


@service
def export_customers(q: str, *, by: Any, batch_size: int = BATCH) -> Iterator[str]:
    """Audit the export (who, which search, how many customers matched), then the CSV."""
    q = (q or "").strip()
    matching = db.session.scalar(
        select(func.count()).select_from(Customer).where(*customer_conditions(q))
    )
    audit.record(
        by,
        "customer.export",
        subject_type="customer",
        subject_label="Customers CSV",
        after={"filter": {"q": q} if q else {}, "customers": int(matching or 0)},
    )
    return _customer_chunks(q, batch_size)


def _customer_chunks(q: str, batch_size: int) -> Iterator[str]:
    currency = current_app.config["SHOP_CURRENCY"]
    out = SafeCsv()
    out.row(CUSTOMER_COLUMNS)
    yield BOM + out.take()
    stmt = select(
        Customer.id, Customer.name, Customer.email, Customer.created_at, Customer.tags
    ).where(*customer_conditions(q))
    cursor: str | None = None
    while True:  # newest first, as the list shows them
        batch = paging.keyset_page(
            stmt,
            Customer.id,
            Customer.id,
            descending=True,
            after=cursor,
            before=None,
            limit=batch_size,
            parse=int,
        )
        if not batch.rows:
            return
        ids = [r.id for r in batch.rows]
        spending = _spending(ids)
        addresses = _default_addresses(ids)
        for r in batch.rows:
            out.row(_customer_row(r, spending.get(r.id), addresses.get(r.id), currency))
        yield out.take()
        if not batch.has_more:
            return
        cursor = paging.encode_cursor([ids[-1], ids[-1]])


class _Spending:
    """A customer's orders: how many, money kept per currency, the last one's time."""

    def __init__(self) -> None:
        self.orders = 0
        self.kept: dict[str, int] = {}
        self.last: datetime | None = None


def _spending(customer_ids: list[int]) -> dict[int, _Spending]:
    """Orders per customer and currency in one grouped statement (ix_shop_order_customer).
    Money kept is paid less refunded, as the customer page counts it."""
    found: dict[int, _Spending] = {}
    rows = db.session.execute(
        select(
            Order.customer_id,
            Order.currency,
            func.count(Order.id),
            func.coalesce(func.sum(Order.paid_total - Order.refunded_total), 0),
            func.max(Order.placed_at),
        )
        .where(Order.customer_id.in_(customer_ids))
        .group_by(Order.customer_id, Order.currency)
        .order_by(Order.customer_id, Order.currency)
    )
    for customer_id, currency, count, kept, last in rows:
        spending = found.setdefault(customer_id, _Spending())
        spending.orders += int(count)
        spending.kept[currency] = int(kept)
        if last is not None and (spending.last is None or last > spending.last):
            spending.last = last
    return found


_ADDRESS_FIELDS = ("name", "line1", "line2", "city", "region", "postal_code", "country", "phone")


def _default_addresses(customer_ids: list[int]) -> dict[int, tuple[str, ...]]:
    """Each customer's default address (one statement; plain values, so nothing piles up in
    the session over a long export)."""
    rows = db.session.execute(
        select(Address.customer_id, *(getattr(Address, f) for f in _ADDRESS_FIELDS)).where(
            Address.customer_id.in_(customer_ids), Address.is_default.is_(True)
        )
    )
    return {row[0]: tuple(v or "" for v in row[1:]) for row in rows}


def _customer_row(
    r: Any, spending: _Spending | None, address: tuple[str, ...] | None, currency: str
) -> list[str]:
    spending = spending or _Spending()
    others = "; ".join(
        f"{format_amount_plain(amount, code)} {code}"
        for code, amount in sorted(spending.kept.items())
        if code != currency
    )
    return [
        r.name or "",
        r.email,
        shop_iso(r.created_at),
        str(spending.orders),
        format_amount_plain(spending.kept.get(currency, 0), currency),
        currency,
        others,
        shop_iso(spending.last),
        ", ".join(r.tags or []),
        *(address or ("",) * len(_ADDRESS_FIELDS)),
    ]

"""Purchasing reads: suppliers, purchase orders, incoming units and stock value at cost."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy import BigInteger, case, cast, func, select
from sqlalchemy.orm import selectinload

from commerce.catalog.models import Variant
from commerce.extensions import db
from commerce.inventory.models import Location, StockLevel
from commerce.purchasing.models import (
    OPEN_STATUSES,
    STATUSES,
    PurchaseOrder,
    PurchaseOrderLine,
    PurchaseReceipt,
    PurchasingSettings,
    Supplier,
    SupplierVariant,
)

MAX_LISTED = 200  # purchase orders on the list page (newest first, filtered by status)


def all_suppliers(*, active_only: bool = False) -> list[Supplier]:
    query = select(Supplier).order_by(Supplier.name)
    if active_only:
        query = query.where(Supplier.is_active.is_(True))
    return list(db.session.scalars(query))


def list_purchase_orders(status: str = "", supplier_id: int | None = None) -> list[PurchaseOrder]:
    query = (
        select(PurchaseOrder)
        .options(selectinload(PurchaseOrder.lines))
        .order_by(PurchaseOrder.id.desc())
        .limit(MAX_LISTED)
    )
    if status == "open":
        query = query.where(PurchaseOrder.status.in_(OPEN_STATUSES))
    elif status in STATUSES:
        query = query.where(PurchaseOrder.status == status)
    if supplier_id:
        query = query.where(PurchaseOrder.supplier_id == supplier_id)
    return list(db.session.scalars(query))


def open_purchase_orders(location_id: int | None = None) -> list[PurchaseOrder]:
    """POs that can be received now (the receive screen's PO mode), oldest expected first."""
    query = (
        select(PurchaseOrder)
        .where(PurchaseOrder.status.in_(OPEN_STATUSES))
        .order_by(PurchaseOrder.expected_on.is_(None), PurchaseOrder.expected_on, PurchaseOrder.id)
        .limit(MAX_LISTED)
    )
    if location_id:
        query = query.where(PurchaseOrder.location_id == location_id)
    return list(db.session.scalars(query))


@dataclass(frozen=True)
class ReceiptRow:
    id: int
    line_id: int
    sku: str
    quantity: int
    over_received: bool
    movement_id: int
    at: object


def receipts_of(po_id: int) -> list[ReceiptRow]:
    rows = db.session.execute(
        select(
            PurchaseReceipt.id,
            PurchaseReceipt.line_id,
            Variant.sku,
            PurchaseReceipt.quantity,
            PurchaseReceipt.over_received,
            PurchaseReceipt.movement_id,
            PurchaseReceipt.created_at,
        )
        .join(PurchaseOrderLine, PurchaseOrderLine.id == PurchaseReceipt.line_id)
        .join(Variant, Variant.id == PurchaseOrderLine.variant_id)
        .where(PurchaseOrderLine.purchase_order_id == po_id)
        .order_by(PurchaseReceipt.id.desc())
        .limit(500)
    ).all()
    return [ReceiptRow(r[0], r[1], r[2] or "", r[3], r[4], r[5], r[6]) for r in rows]


def line_of_receipt_movement(movement_ids: Iterable[int]) -> dict[int, str]:
    """Movement id -> the PO number it received against (the ledger's "reference" says it too)."""
    ids = list(movement_ids)
    if not ids:
        return {}
    rows = db.session.execute(
        select(PurchaseReceipt.movement_id, PurchaseOrder.number)
        .join(PurchaseOrderLine, PurchaseOrderLine.id == PurchaseReceipt.line_id)
        .join(PurchaseOrder, PurchaseOrder.id == PurchaseOrderLine.purchase_order_id)
        .where(PurchaseReceipt.movement_id.in_(ids))
    ).all()
    return {int(m): n or "" for m, n in rows}


# -- incoming -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Incoming:
    """Units on open POs not received yet, and the earliest date one of them is expected."""

    units: int
    expected_on: date | None


_OUTSTANDING = case(
    (
        PurchaseOrderLine.quantity > PurchaseOrderLine.received,
        PurchaseOrderLine.quantity - PurchaseOrderLine.received,
    ),
    else_=0,
)


def incoming_for(variant_ids: Sequence[int]) -> dict[int, Incoming]:
    """Variant id -> its incoming units (all locations); variants with none are left out."""
    ids = sorted({int(v) for v in variant_ids})
    if not ids:
        return {}
    rows = db.session.execute(
        select(
            PurchaseOrderLine.variant_id,
            func.sum(_OUTSTANDING),
            func.min(
                case(
                    (
                        PurchaseOrderLine.quantity > PurchaseOrderLine.received,
                        PurchaseOrder.expected_on,
                    )
                )
            ),
        )
        .join(PurchaseOrder, PurchaseOrder.id == PurchaseOrderLine.purchase_order_id)
        .where(PurchaseOrder.status.in_(OPEN_STATUSES), PurchaseOrderLine.variant_id.in_(ids))
        .group_by(PurchaseOrderLine.variant_id)
    ).all()
    return {
        int(vid): Incoming(int(units), _as_date(expected))
        for vid, units, expected in rows
        if units and int(units) > 0
    }


def incoming_at(pairs: Iterable[tuple[int, int]]) -> dict[tuple[int, int], Incoming]:
    """(variant id, location id) -> incoming units delivered there (the stock overview's rows)."""
    wanted = {(int(v), int(loc)) for v, loc in pairs}
    if not wanted:
        return {}
    rows = db.session.execute(
        select(
            PurchaseOrderLine.variant_id,
            PurchaseOrder.location_id,
            func.sum(_OUTSTANDING),
            func.min(PurchaseOrder.expected_on),
        )
        .join(PurchaseOrder, PurchaseOrder.id == PurchaseOrderLine.purchase_order_id)
        .where(
            PurchaseOrder.status.in_(OPEN_STATUSES),
            PurchaseOrderLine.variant_id.in_(sorted({v for v, _ in wanted})),
            PurchaseOrderLine.quantity > PurchaseOrderLine.received,
        )
        .group_by(PurchaseOrderLine.variant_id, PurchaseOrder.location_id)
    ).all()
    return {
        (int(v), int(loc)): Incoming(int(units), _as_date(expected))
        for v, loc, units, expected in rows
        if (int(v), int(loc)) in wanted and units
    }


@dataclass(frozen=True)
class IncomingLine:
    po_id: int
    number: str
    supplier: str
    location_code: str
    outstanding: int
    expected_on: date | None
    status: str


def incoming_lines(variant_id: int) -> list[IncomingLine]:
    """The open PO lines of one variant (the console's variant page)."""
    return [line for _, line in incoming_lines_of([variant_id])]


def incoming_lines_of(variant_ids: Sequence[int]) -> list[tuple[str, IncomingLine]]:
    """(SKU, open PO line) of some variants (a product's), earliest expected first, at most 50."""
    ids = sorted({int(v) for v in variant_ids})
    if not ids:
        return []
    rows = db.session.execute(
        select(
            Variant.sku,
            PurchaseOrder.id,
            PurchaseOrder.number,
            Supplier.name,
            Location.code,
            _OUTSTANDING,
            PurchaseOrder.expected_on,
            PurchaseOrder.status,
        )
        .select_from(PurchaseOrderLine)
        .join(PurchaseOrder, PurchaseOrder.id == PurchaseOrderLine.purchase_order_id)
        .join(Supplier, Supplier.id == PurchaseOrder.supplier_id)
        .join(Location, Location.id == PurchaseOrder.location_id)
        .join(Variant, Variant.id == PurchaseOrderLine.variant_id)
        .where(
            PurchaseOrderLine.variant_id.in_(ids),
            PurchaseOrder.status.in_(OPEN_STATUSES),
            PurchaseOrderLine.quantity > PurchaseOrderLine.received,
        )
        .order_by(PurchaseOrder.expected_on, PurchaseOrder.id)
        .limit(50)
    ).all()
    return [
        (r[0] or "", IncomingLine(r[1], r[2] or "", r[3], r[4], int(r[5]), _as_date(r[6]), r[7]))
        for r in rows
    ]


def _as_date(value: object) -> date | None:
    if value is None or isinstance(value, date):
        return value  # type: ignore[return-value]
    return date.fromisoformat(str(value)[:10])  # SQLite's MIN() answers text


# -- stock value at cost ------------------------------------------------------------------------


@dataclass(frozen=True)
class LocationValue:
    """What the units on hand at a location cost, per currency; units of variants without a
    cost yet are counted apart (not valued at zero silently)."""

    location_id: int
    code: str
    name: str
    currency: str | None
    value: int
    units: int
    uncosted_units: int


def stock_value_by_location() -> list[LocationValue]:
    """On hand x average unit cost, summed per location and currency (for the reports)."""
    on_hand = cast(StockLevel.on_hand, BigInteger)
    rows = db.session.execute(
        select(
            Location.id,
            Location.code,
            Location.name,
            Variant.currency,
            func.coalesce(func.sum(on_hand * cast(Variant.cost, BigInteger)), 0),
            func.coalesce(func.sum(case((Variant.cost.is_not(None), on_hand), else_=0)), 0),
            func.coalesce(func.sum(case((Variant.cost.is_(None), on_hand), else_=0)), 0),
        )
        .join(StockLevel, StockLevel.location_id == Location.id)
        .join(Variant, Variant.id == StockLevel.variant_id)
        .where(StockLevel.on_hand > 0)
        .group_by(Location.id, Location.code, Location.name, Variant.currency)
        .order_by(Location.priority, Location.id, Variant.currency)
    ).all()
    return [
        LocationValue(int(r[0]), r[1], r[2], r[3], int(r[4]), int(r[5]), int(r[6])) for r in rows
    ]


def preferred_suppliers(variant_ids: Sequence[int]) -> dict[int, SupplierVariant]:
    ids = sorted({int(v) for v in variant_ids})
    if not ids:
        return {}
    return {
        link.variant_id: link
        for link in db.session.scalars(
            select(SupplierVariant).where(SupplierVariant.variant_id.in_(ids))
        )
    }


def back_soon(variant_ids: Sequence[int]) -> dict[int, date | None]:
    """Sold-out variants the shop may say are coming back: variant id -> the earliest expected
    date on an open PO (None when no date was given). Empty unless the merchant turned
    "show incoming in the shop" on; no query at all for an empty list."""
    ids = list(variant_ids)
    if not ids:
        return {}
    shown = db.session.scalar(
        select(PurchasingSettings.show_incoming_in_shop).where(PurchasingSettings.id == 1)
    )
    if not shown:
        return {}
    return {vid: found.expected_on for vid, found in incoming_for(ids).items()}

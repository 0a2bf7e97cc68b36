"""Purchasing verbs: suppliers, purchase orders from draft to received, receiving against a
line, and the merchant's purchasing settings.

A purchase order (PO) goes draft -> ordered -> partly received -> received; draft, ordered
and partly received ones may be cancelled (units already received stay in stock; the rest is
no longer incoming). Every receipt is one ledger movement (inventory.receive_stock, reason
"received", reference the PO's number) linked to its line by a `purchase_receipt` row; the PO's
row is locked first, so receipts of one PO, and a receipt and a cancel, go one after another.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date
from typing import Any

from babel.numbers import list_currencies
from sqlalchemy import and_, case, exists, select, update

from commerce import audit, outbox
from commerce.catalog.models import Variant
from commerce.db import service, transaction, utcnow
from commerce.errors import Conflict, InvalidTransition, NotFound, ValidationError
from commerce.extensions import db
from commerce.inventory.models import StockMovement
from commerce.inventory.services import (
    MAX_QUANTITY,
    get_location,
    receive_stock,
    stock_level_for,
)
from commerce.money import MAX_AMOUNT, format_money
from commerce.purchasing.models import (
    CANCELLED,
    DRAFT,
    OPEN_STATUSES,
    ORDERED,
    PARTLY_RECEIVED,
    RECEIVED,
    STATUS_LABELS,
    PurchaseOrder,
    PurchaseOrderLine,
    PurchaseReceipt,
    PurchasingSettings,
    Supplier,
    SupplierVariant,
)

MAX_LINES = 500  # lines on one purchase order
MAX_LEAD_TIME_DAYS = 365
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class OverReceipt(Conflict):
    """More units than the line still expects: booked only when the person confirms."""

    code = "over_receipt"


# -- suppliers ----------------------------------------------------------------------------------


def get_supplier(supplier_id: int) -> Supplier:
    supplier = db.session.get(Supplier, supplier_id)
    if supplier is None:
        raise NotFound("No such supplier.")
    return supplier


def _supplier_values(
    *, name: str, email: str, phone: str, lead_time_days: Any, currency: str, notes: str
) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    name = (name or "").strip()
    if not name:
        errors["name"] = ["Enter the supplier's name."]
    elif len(name) > 120:
        errors["name"] = ["Keep the name within 120 characters."]
    email = (email or "").strip()
    if email and (len(email) > 254 or not EMAIL_RE.match(email)):
        errors["email"] = ["Enter an email address like orders@supplier.example."]
    phone = (phone or "").strip()
    if len(phone) > 40:
        errors["phone"] = ["Keep the phone number within 40 characters."]
    if (
        not isinstance(lead_time_days, int)
        or isinstance(lead_time_days, bool)
        or not 0 <= lead_time_days <= MAX_LEAD_TIME_DAYS
    ):
        errors["lead_time_days"] = [f"Enter a number of days from 0 to {MAX_LEAD_TIME_DAYS}."]
    currency = (currency or "").strip().upper()
    if currency not in list_currencies():
        errors["currency"] = ["Enter a three-letter currency code such as EUR or USD."]
    if errors:
        raise ValidationError(errors=errors)
    return {
        "name": name,
        "email": email,
        "phone": phone,
        "lead_time_days": lead_time_days,
        "currency": currency,
        "notes": (notes or "").strip(),
    }


def _name_taken(name: str, supplier_id: int | None = None) -> bool:
    query = select(Supplier.id).where(Supplier.name == name)
    if supplier_id is not None:
        query = query.where(Supplier.id != supplier_id)
    return db.session.scalar(query.limit(1)) is not None


@service
def create_supplier(
    *,
    by: Any,
    name: str,
    email: str = "",
    phone: str = "",
    lead_time_days: int = 7,
    currency: str,
    notes: str = "",
) -> Supplier:
    values = _supplier_values(
        name=name,
        email=email,
        phone=phone,
        lead_time_days=lead_time_days,
        currency=currency,
        notes=notes,
    )
    if _name_taken(values["name"]):
        raise ValidationError("A supplier with this name exists already.", field="name")
    supplier = Supplier(**values)
    db.session.add(supplier)
    db.session.flush()
    audit.record(by, "supplier.create", supplier, after=_supplier_audit(supplier))
    return supplier


@service
def update_supplier(
    supplier: Supplier,
    *,
    by: Any,
    name: str,
    email: str = "",
    phone: str = "",
    lead_time_days: int = 7,
    currency: str,
    notes: str = "",
    is_active: bool = True,
) -> Supplier:
    values = _supplier_values(
        name=name,
        email=email,
        phone=phone,
        lead_time_days=lead_time_days,
        currency=currency,
        notes=notes,
    )
    if _name_taken(values["name"], supplier.id):
        raise ValidationError("A supplier with this name exists already.", field="name")
    before = _supplier_audit(supplier)
    for key, value in values.items():
        setattr(supplier, key, value)
    supplier.is_active = bool(is_active)
    db.session.flush()
    after = _supplier_audit(supplier)
    if after != before:
        audit.record(by, "supplier.update", supplier, before=before, after=after)
    return supplier


def _supplier_audit(supplier: Supplier) -> dict[str, Any]:
    return {
        "name": supplier.name,
        "email": supplier.email,
        "phone": supplier.phone,
        "lead_time": f"{supplier.lead_time_days} days",
        "currency": supplier.currency,
        "active": "yes" if supplier.is_active else "no",
    }


@service
def set_preferred_supplier(
    variant_id: int,
    *,
    by: Any,
    supplier_id: int | None,
    supplier_sku: str = "",
    unit_cost: int | None = None,
) -> SupplierVariant | None:
    """Name the supplier a variant is reordered from (None: no preferred supplier)."""
    variant = db.session.get(Variant, variant_id)
    if variant is None:
        raise NotFound("No such variant.")
    link = db.session.get(SupplierVariant, variant_id)
    before = _link_audit(link)
    if supplier_id is None:
        if link is not None:
            db.session.delete(link)
            db.session.flush()
            audit.record(by, "variant.clear_supplier", variant, before=before)
        return None
    supplier = db.session.get(Supplier, supplier_id)
    if supplier is None:
        raise ValidationError("Choose a supplier from the list.", field="supplier_id")
    if unit_cost is not None and not 0 <= unit_cost <= MAX_AMOUNT:
        raise ValidationError("Enter a unit cost of zero or more.", field="unit_cost")
    if len(supplier_sku or "") > 64:
        raise ValidationError(
            "Keep the supplier's code within 64 characters.", field="supplier_sku"
        )
    if link is None:
        link = SupplierVariant(variant_id=variant_id)
        db.session.add(link)
    link.supplier_id = supplier.id
    link.supplier = supplier
    link.supplier_sku = (supplier_sku or "").strip()
    link.unit_cost = unit_cost
    db.session.flush()
    after = _link_audit(link)
    if after != before:
        audit.record(by, "variant.set_supplier", variant, before=before, after=after)
    return link


def _link_audit(link: SupplierVariant | None) -> dict[str, Any]:
    if link is None:
        return {"supplier": None}
    return {
        "supplier": link.supplier.name,
        "supplier_code": link.supplier_sku,
        "unit_cost": format_money(link.unit_cost, link.supplier.currency),
    }


# -- purchase orders ----------------------------------------------------------------------------


def get_purchase_order(po_id: int) -> PurchaseOrder:
    po = db.session.get(PurchaseOrder, po_id)
    if po is None:
        raise NotFound("No such purchase order.")
    return po


def get_purchase_order_line(line_id: int) -> PurchaseOrderLine:
    line = db.session.get(PurchaseOrderLine, line_id)
    if line is None:
        raise NotFound("No such purchase order line.")
    return line


def _lock_order(po_id: int) -> PurchaseOrder:
    """The PO's row, locked and read fresh: receipts, edits and cancels of one PO queue here."""
    po = db.session.scalar(
        select(PurchaseOrder)
        .where(PurchaseOrder.id == po_id)
        .with_for_update(of=PurchaseOrder)
        .execution_options(populate_existing=True)
    )
    if po is None:
        raise NotFound("No such purchase order.")
    return po


def po_number(po_id: int) -> str:
    """The PO's number: PO- and its sequence number (the table's id sequence), 5 digits."""
    return f"PO-{po_id:05d}"


def _check_expected(expected_on: Any) -> date | None:
    if expected_on is None or expected_on == "":
        return None
    if not isinstance(expected_on, date):
        raise ValidationError("Enter a date like 2026-12-31.", field="expected_on")
    return expected_on


def _check_line(quantity: Any, unit_cost: Any, *, path: Any = None) -> None:
    errors: dict[Any, list[str]] = {}
    if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity <= 0:
        errors["quantity" if path is None else (*path, "quantity")] = [
            "Enter a number of units above zero."
        ]
    elif quantity > MAX_QUANTITY:
        errors["quantity" if path is None else (*path, "quantity")] = [
            "That is more units than one line can order."
        ]
    if (
        not isinstance(unit_cost, int)
        or isinstance(unit_cost, bool)
        or not (0 <= unit_cost <= MAX_AMOUNT)
    ):
        errors["unit_cost" if path is None else (*path, "unit_cost")] = [
            "Enter a unit cost of zero or more."
        ]
    if errors:
        raise ValidationError(errors=errors)


@service
def create_purchase_order(
    *,
    by: Any,
    supplier_id: int | None,
    location_id: int | None,
    expected_on: date | None = None,
    note: str = "",
    lines: Sequence[tuple[int, int, int]] = (),
) -> PurchaseOrder:
    """A draft PO in the supplier's currency; `lines` are (variant id, quantity, unit cost)."""
    errors: dict[str, list[str]] = {}
    supplier = db.session.get(Supplier, supplier_id) if supplier_id else None
    if supplier is None:
        errors["supplier_id"] = ["Choose a supplier."]
    if not location_id:
        errors["location_id"] = ["Choose where the units are delivered."]
    if errors:
        raise ValidationError(errors=errors)
    assert supplier is not None and location_id
    try:
        location = get_location(location_id)
    except NotFound:
        raise ValidationError("Choose an existing location.", field="location_id") from None
    po = PurchaseOrder(
        supplier_id=supplier.id,
        location_id=location.id,
        currency=supplier.currency,
        status=DRAFT,
        expected_on=_check_expected(expected_on),
        note=(note or "").strip(),
        created_by_id=getattr(by, "id", None),
        created_at=utcnow(),
    )
    po.supplier = supplier
    db.session.add(po)
    db.session.flush()
    po.number = po_number(po.id)
    for index, (variant_id, quantity, unit_cost) in enumerate(lines):
        _check_line(quantity, unit_cost, path=("lines", index))
        _add_line(po, variant_id, quantity, unit_cost)
    db.session.flush()
    audit.record(
        by,
        "purchase_order.create",
        po,
        after={
            "supplier": supplier.name,
            "deliver_to": location.name,
            "expected": po.expected_on.isoformat() if po.expected_on else None,
            "lines": len(po.lines),
        },
    )
    return po


def _add_line(po: PurchaseOrder, variant_id: int, quantity: int, unit_cost: int) -> None:
    if len(po.lines) >= MAX_LINES:
        raise ValidationError(f"A purchase order holds at most {MAX_LINES} lines.", field="code")
    if db.session.get(Variant, variant_id) is None:
        raise ValidationError("No such variant.", field="code")
    for line in po.lines:
        if line.variant_id == variant_id:
            line.quantity = min(line.quantity + quantity, MAX_QUANTITY)
            line.unit_cost = unit_cost
            return
    po.lines.append(
        PurchaseOrderLine(variant_id=variant_id, quantity=quantity, received=0, unit_cost=unit_cost)
    )


def _refuse_unless_draft(po: PurchaseOrder, doing: str) -> None:
    if po.status != DRAFT:
        raise InvalidTransition(
            f"{po.number} is {po.status_label.lower()}: only a draft can {doing}.",
            status=po.status,
        )


def _sku(variant: Variant | None) -> str:
    if variant is None:
        return "?"
    return variant.sku or f"variant {variant.id}"


@service
def add_purchase_order_line(
    po: PurchaseOrder, *, by: Any, variant_id: int, quantity: int, unit_cost: int
) -> PurchaseOrder:
    """Add units of a variant to a draft (added to its line when the variant is on it)."""
    _check_line(quantity, unit_cost)
    po = _lock_order(po.id)
    _refuse_unless_draft(po, "take new lines")
    _add_line(po, variant_id, quantity, unit_cost)
    db.session.flush()
    audit.record(
        by,
        "purchase_order.add_line",
        po,
        after={
            "sku": _sku(db.session.get(Variant, variant_id)),
            "quantity": quantity,
            "unit_cost": format_money(unit_cost, po.currency),
        },
    )
    return po


@service
def change_purchase_order_line(
    line_id: int, *, by: Any, quantity: int, unit_cost: int
) -> PurchaseOrderLine:
    line = db.session.get(PurchaseOrderLine, line_id)
    if line is None:
        raise NotFound("No such purchase order line.")
    _check_line(quantity, unit_cost)
    po = _lock_order(line.purchase_order_id)
    _refuse_unless_draft(po, "change its lines")
    before = {"quantity": line.quantity, "unit_cost": format_money(line.unit_cost, po.currency)}
    line.quantity, line.unit_cost = quantity, unit_cost
    after = {"quantity": quantity, "unit_cost": format_money(unit_cost, po.currency)}
    db.session.flush()
    if after != before:
        audit.record(
            by,
            "purchase_order.change_line",
            po,
            before={"sku": _sku(line.variant), **before},
            after={"sku": _sku(line.variant), **after},
        )
    return line


@service
def remove_purchase_order_line(line_id: int, *, by: Any) -> PurchaseOrder:
    line = db.session.get(PurchaseOrderLine, line_id)
    if line is None:
        raise NotFound("No such purchase order line.")
    po = _lock_order(line.purchase_order_id)
    _refuse_unless_draft(po, "lose lines")
    sku = _sku(line.variant)
    po.lines.remove(line)
    db.session.flush()
    audit.record(
        by, "purchase_order.remove_line", po, before={"sku": sku, "quantity": line.quantity}
    )
    return po


@service
def update_purchase_order(
    po: PurchaseOrder,
    *,
    by: Any,
    expected_on: date | None,
    note: str = "",
    location_id: int | None = None,
) -> PurchaseOrder:
    """The expected date and note of an open PO (the delivery location while a draft). A new
    expected date is what the shop's "Back soon" says (read live, in the private fragment)."""
    po = _lock_order(po.id)
    if po.status not in (DRAFT, *OPEN_STATUSES):
        raise InvalidTransition(f"{po.number} is {po.status_label.lower()}: it is closed.")
    before = {
        "expected": po.expected_on.isoformat() if po.expected_on else None,
        "note": po.note,
        "deliver_to": po.location_id,
    }
    po.expected_on = _check_expected(expected_on)
    po.note = (note or "").strip()
    if location_id and location_id != po.location_id:
        _refuse_unless_draft(po, "change where it is delivered")
        try:
            po.location_id = get_location(location_id).id
        except NotFound:
            raise ValidationError("Choose an existing location.", field="location_id") from None
    db.session.flush()
    after = {
        "expected": po.expected_on.isoformat() if po.expected_on else None,
        "note": po.note,
        "deliver_to": po.location_id,
    }
    if after != before:
        for key in ("deliver_to",):
            before[key] = get_location(before[key]).name
            after[key] = get_location(after[key]).name
        audit.record(by, "purchase_order.update", po, before=before, after=after)
    return po


@service
def place_purchase_order(po: PurchaseOrder, *, by: Any) -> PurchaseOrder:
    """Draft -> ordered: from now on its lines are incoming stock."""
    po = _lock_order(po.id)
    _refuse_unless_draft(po, "be ordered")
    if not po.lines:
        raise ValidationError("Add at least one line before ordering.", field="code")
    po.status = ORDERED
    po.ordered_at = utcnow()
    for line in po.lines:  # an empty level, so the stock overview lists what is incoming
        stock_level_for(line.variant_id, po.location_id)
    db.session.flush()
    audit.record(
        by,
        "purchase_order.order",
        po,
        before={"status": STATUS_LABELS[DRAFT]},
        after={
            "status": STATUS_LABELS[ORDERED],
            "total": format_money(po.total, po.currency),
            "units": sum(line.quantity for line in po.lines),
        },
    )
    return po


@service
def cancel_purchase_order(po: PurchaseOrder, *, by: Any, reason: str = "") -> PurchaseOrder:
    """Close a PO that will not (fully) arrive: what was received stays, the rest is no longer
    incoming."""
    po = _lock_order(po.id)
    if po.status not in (DRAFT, *OPEN_STATUSES):
        raise InvalidTransition(
            f"{po.number} is {po.status_label.lower()}: it cannot be cancelled.", status=po.status
        )
    before = po.status_label
    po.status = CANCELLED
    po.closed_at = utcnow()
    received = sum(line.received for line in po.lines)
    db.session.flush()
    after: dict[str, Any] = {"status": STATUS_LABELS[CANCELLED]}
    if received:
        after["kept"] = f"{received} units already received stay in stock"
    if reason:
        after["reason"] = reason.strip()[:500]
    audit.record(by, "purchase_order.cancel", po, before={"status": before}, after=after)
    return po


PURCHASE_ORDER_SEND = "purchase_order.send"  # outbox topic: email the PDF (tasks.py)


@service
def send_purchase_order(po: PurchaseOrder, *, by: Any) -> PurchaseOrder:
    """Email the PO's PDF to the supplier, after commit, through the outbox (each request
    sends one email, however often the event is delivered)."""
    po = _lock_order(po.id)
    if po.status not in OPEN_STATUSES:
        raise InvalidTransition(
            f"{po.number} is {po.status_label.lower()}: only an ordered purchase order is sent.",
            status=po.status,
        )
    to = po.supplier.email
    if not to:
        raise ValidationError(
            f"{po.supplier.name} has no email address: add one to the supplier first.",
            field="email",
        )
    po.sent_at = utcnow()
    outbox.enqueue(PURCHASE_ORDER_SEND, {"purchase_order_id": po.id, "to": to})
    audit.record(by, "purchase_order.send", po, after={"sent_to": to})
    return po


# -- receiving ----------------------------------------------------------------------------------


def receipt_for_key(key: str | None) -> PurchaseReceipt | None:
    if not key:
        return None
    return db.session.scalar(
        select(PurchaseReceipt)
        .join(StockMovement, StockMovement.id == PurchaseReceipt.movement_id)
        .where(StockMovement.idempotency_key == key)
    )


def receive_purchase_order_line(
    line_id: int,
    *,
    quantity: int,
    by: Any,
    idempotency_key: str | None = None,
    accept_over: bool = False,
) -> PurchaseReceipt:
    """Book units that arrived for a line: a ledger movement at the PO's location, the line's
    received count, the PO's status, and the variant's average cost (when the PO is in the
    variant's currency). More than the line still expects raises OverReceipt unless
    `accept_over`. A repeated idempotency key returns the first receipt, unchanged."""
    if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity <= 0:
        raise ValidationError("Enter a number of units above zero.", field="quantity")
    if quantity > MAX_QUANTITY:
        raise ValidationError("That is more units than we can book at once.", field="quantity")
    first = receipt_for_key(idempotency_key)
    if first is not None:
        return first
    with transaction():
        line = db.session.get(PurchaseOrderLine, line_id)
        if line is None:
            raise NotFound("No such purchase order line.")
        po = _lock_order(line.purchase_order_id)
        first = receipt_for_key(idempotency_key)  # a duplicate that waited for the lock
        if first is not None:
            return first
        if po.status not in OPEN_STATUSES:
            raise InvalidTransition(
                f"{po.number} is {po.status_label.lower()}: only an ordered purchase order can "
                "be received.",
                status=po.status,
            )
        stmt = update(PurchaseOrderLine).where(PurchaseOrderLine.id == line.id)
        if not accept_over:
            stmt = stmt.where(PurchaseOrderLine.received + quantity <= PurchaseOrderLine.quantity)
        done = db.session.execute(
            stmt.values(received=PurchaseOrderLine.received + quantity).execution_options(
                synchronize_session=False
            )
        )
        db.session.refresh(line)
        if done.rowcount != 1:
            outstanding = line.outstanding
            raise OverReceipt(
                f"{po.number} expects {outstanding} more of {_sku(line.variant)} "
                f"({line.received} of {line.quantity} received): confirm to receive "
                f"{quantity} anyway.",
                field="quantity",
                outstanding=outstanding,
                requested=quantity,
            )
        over = line.received > line.quantity
        _settle_status(po)
        variant = line.variant
        same_currency = variant is not None and variant.currency == po.currency
        movement = receive_stock(
            line.variant_id,
            quantity=quantity,
            by=by,
            location_id=po.location_id,
            reference=po.number or "",
            note=f"Purchase order {po.number}, line {line.id}",
            idempotency_key=idempotency_key,
            unit_cost=line.unit_cost if same_currency else None,
        )
        receipt = PurchaseReceipt(
            line_id=line.id,
            movement_id=movement.id,
            quantity=quantity,
            over_received=over,
            actor_id=getattr(by, "id", None),
            created_at=utcnow(),
        )
        db.session.add(receipt)
        db.session.flush()
        after: dict[str, Any] = {
            "received": f"{quantity} x {_sku(variant)}",
            "line": f"{line.received} of {line.quantity} received",
            "status": po.status_label,
        }
        if over:
            after["over_receipt"] = "confirmed by the receiver"
        if not same_currency:
            after["cost"] = f"not averaged ({po.currency} is not the variant's currency)"
        audit.record(by, "purchase_order.receive", po, after=after)
    return receipt


def _settle_status(po: PurchaseOrder) -> None:
    """Partly received, or received once every line has all its units (one UPDATE)."""
    missing = exists().where(
        and_(
            PurchaseOrderLine.purchase_order_id == po.id,
            PurchaseOrderLine.received < PurchaseOrderLine.quantity,
        )
    )
    db.session.execute(
        update(PurchaseOrder)
        .where(PurchaseOrder.id == po.id)
        .values(
            status=case((missing, PARTLY_RECEIVED), else_=RECEIVED),
            closed_at=case((missing, None), else_=utcnow()),
        )
        .execution_options(synchronize_session=False)
    )
    db.session.refresh(po)


# -- settings -----------------------------------------------------------------------------------


def purchasing_settings() -> PurchasingSettings:
    """The settings row, or the defaults when never saved (not added to the session)."""
    return db.session.get(PurchasingSettings, 1) or PurchasingSettings(
        id=1, show_incoming_in_shop=False
    )


@service
def set_show_incoming_in_shop(show: bool, *, by: Any) -> PurchasingSettings:
    settings = db.session.get(PurchasingSettings, 1)
    if settings is None:
        settings = PurchasingSettings(id=1, show_incoming_in_shop=False)
        db.session.add(settings)
    before = settings.show_incoming_in_shop
    settings.show_incoming_in_shop = bool(show)
    db.session.flush()
    if before != settings.show_incoming_in_shop:
        audit.record(
            by,
            "purchasing.settings",
            subject_type="settings",
            subject_label="Purchasing",
            before={"back_soon_in_shop": "shown" if before else "hidden"},
            after={"back_soon_in_shop": "shown" if show else "hidden"},
        )
    return settings

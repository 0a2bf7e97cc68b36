"""Returns (RMAs): the customer sends shipped units back; on receipt each unit is restocked or
written off, and the refund for what came back follows.

Only shipped units can be returned, and a unit can be in one open return at a time: opening a
return counts the lines' `fulfilled_quantity - returned_quantity` less what other open returns
already expect, under the lines' row locks. `returned_quantity` moves only when units arrive, by
a conditional UPDATE (`returned_quantity + q <= fulfilled_quantity`).

Receiving commits first and refunds second: the parcel is on the warehouse's table whatever the
payment provider says, so the receipt (stock, counters, fulfillment status) is its own
transaction, and the refund goes through `issue_refund` afterwards with the caller's key. A
repeat of `receive_return` with the same key finishes a refund that did not happen the first
time, and never books the units twice.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select, update

from commerce import audit, outbox
from commerce.db import service, transaction, utcnow, workflow
from commerce.errors import CommerceError, ErrorPath, InvalidTransition, NotFound, ValidationError
from commerce.extensions import db
from commerce.inventory.bundles import component_units
from commerce.inventory.models import Location
from commerce.inventory.services import restock
from commerce.orders.models import (
    REFUND_REJECTED,
    RESTOCK,
    RETURN_CANCELLED,
    RETURN_OPEN,
    RETURN_RECEIVED,
    WRITE_OFF,
    Order,
    OrderLine,
    Refund,
    Return,
    ReturnLine,
)
from commerce.orders.refunds import (
    issue_refund,
    returnable_quantities,
    update_returned_status,
)
from commerce.orders.services import record_event

DISPOSITIONS = (RESTOCK, WRITE_OFF)

RETURN_OPENED = "return.opened"  # outbox topic: webhooks listen


def get_return(return_id: int) -> Return:
    order_return = db.session.get(Return, return_id, populate_existing=True)
    if order_return is None:
        raise NotFound("No such return.")
    return order_return


def _lock_lines(order_id: int, line_ids: list[int]) -> Order:
    """Row-lock the lines (in id order) and reload the order's lines (no-op on SQLite)."""
    if line_ids:
        db.session.execute(
            select(OrderLine.id)
            .where(OrderLine.id.in_(sorted(set(line_ids))))
            .order_by(OrderLine.id)
            .with_for_update(key_share=True)
        ).all()
    order = db.session.get(Order, order_id, populate_existing=True)
    if order is None:
        raise NotFound("No such order.")
    db.session.scalars(
        select(OrderLine)
        .where(OrderLine.order_id == order_id)
        .execution_options(populate_existing=True)
    ).all()
    return order


def _audit_lines(order_return: Return) -> dict[str, Any]:
    return {
        str(line.order_line_id): {
            "quantity": line.quantity,
            "received": line.received_quantity,
            "disposition": line.disposition,
            "location": line.location_id,
        }
        for line in order_return.lines
    }


@service
def open_return(
    order: Order,
    *,
    lines: Mapping[int, int],
    reason: str,
    by: Any = None,
    by_customer: bool = False,
) -> Return:
    """Start an RMA for shipped units (order_line_id -> quantity). Quantities above what was
    shipped and is not already back or on its way back are refused per line (("line", id))."""
    reason = str(reason or "").strip()
    errors: dict[ErrorPath, list[str]] = {}
    if not reason:
        errors["reason"] = ["Say why the units come back."]
    if not isinstance(lines, Mapping):
        raise ValidationError("Choose the lines to return.", field="lines")
    order_id = order.id
    order = _lock_lines(order_id, [k for k in lines if isinstance(k, int)])
    allowed = returnable_quantities(order)
    for line_id, quantity in lines.items():
        field = ("line", line_id)
        if line_id not in allowed:
            errors[field] = ["This is not a line of this order."]
        elif not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < 0:
            errors[field] = ["Enter a quantity of 0 or more."]
        elif quantity > allowed[line_id]:
            errors[field] = [f"Only {allowed[line_id]} shipped unit(s) can come back."]
    if errors:
        raise ValidationError("Some units cannot be returned.", errors=errors)
    wanted = {k: v for k, v in lines.items() if v}
    if not wanted:
        raise ValidationError("Choose at least one unit to return.", field="lines")
    order_return = Return(
        order_id=order.id,
        status=RETURN_OPEN,
        reason=reason,
        opened_by_customer=bool(by_customer),
        opened_by_id=getattr(by, "id", None),
        created_at=utcnow(),
    )
    for line_id, quantity in sorted(wanted.items()):
        order_return.lines.append(ReturnLine(order_line_id=line_id, quantity=quantity))
    db.session.add(order_return)
    db.session.flush()
    units = sum(wanted.values())
    who = "the customer" if by_customer else "staff"
    record_event(
        order,
        "return.opened",
        f"Return {order_return.name} opened by {who} for {units} unit(s): {reason}",
        by=by,
        return_id=order_return.id,
    )
    audit.record(
        by,
        "order.return_open",
        order,
        after={
            "return": order_return.id,
            "by_customer": bool(by_customer),
            "lines": {str(k): v for k, v in wanted.items()},
            "reason": reason,
        },
    )
    outbox.enqueue(RETURN_OPENED, {"return_id": order_return.id, "order_id": order.id})
    return order_return


def _check_received(
    order_return: Return, received: Mapping[int, tuple[int, str, int | None]]
) -> dict[int, tuple[int, str, int | None]]:
    """Validate what arrived, per return line (("line", return line id))."""
    if not isinstance(received, Mapping):
        raise ValidationError("Say what arrived.", field="received")
    by_id = {line.id: line for line in order_return.lines}
    errors: dict[ErrorPath, list[str]] = {}
    checked: dict[int, tuple[int, str, int | None]] = {}
    for line_id, entry in received.items():
        field = ("line", line_id)
        line = by_id.get(line_id)
        if line is None:
            errors[field] = ["This is not a line of this return."]
            continue
        try:
            quantity, disposition, location_id = entry
        except (TypeError, ValueError):
            errors[field] = ["Give the quantity, what happens to it, and the location."]
            continue
        if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < 0:
            errors[field] = ["Enter a quantity of 0 or more."]
        elif quantity > line.quantity:
            errors[field] = [f"Only {line.quantity} unit(s) were expected."]
        elif disposition not in DISPOSITIONS:
            errors[field] = ["Choose restock or write off."]
        elif quantity and disposition == RESTOCK:
            location = db.session.get(Location, location_id) if location_id else None
            if location is None or not location.is_active:
                errors[field] = ["Choose the active location the units go back to."]
            elif line.order_line.is_custom:
                errors[field] = ["A custom item holds no stock: write the units off."]
            elif line.order_line.variant_id is None:
                errors[field] = ["This product no longer exists; write the units off."]
        if field not in errors and quantity:
            checked[line_id] = (quantity, disposition, location_id)
    if errors:
        raise ValidationError("Some received lines are not right.", errors=errors)
    if not checked:
        raise ValidationError("Nothing was received; cancel the return instead.", field="received")
    return checked


def refund_for_return(order_return: Return) -> Refund | None:
    """The refund a return has: a failed one counts (it is retried, not replaced), a rejected
    one does not (receiving again with a new key may ask anew)."""
    return db.session.scalar(
        select(Refund)
        .where(Refund.return_id == order_return.id, Refund.status != REFUND_REJECTED)
        .order_by(Refund.id)
        .limit(1)
    )


@workflow
def receive_return(
    order_return: Return,
    *,
    received: Mapping[int, tuple[int, str, int | None]],
    refund: bool = True,
    idempotency_key: str,
    by: Any,
) -> Return:
    """Book what arrived: return_line_id -> (quantity, "restock" | "write_off", location_id).

    Restocked units go back on the shelf through the stock ledger (reason RETURNED, reference the
    RMA name). Written-off units are recorded on the return line and the timeline only: they left
    on_hand when they shipped (a SOLD movement), so they never re-entered stock and booking a
    loss now would take units that are still sellable; the ledger stays the sum of real moves.
    Then the lines' returned_quantity, the fulfillment status, and (refund=True) the refund of
    the received units through issue_refund with `idempotency_key` (restocking is already done,
    so the refund restocks nothing). Units already refunded are not refunded again.

    The receipt commits before the refund is asked for: if the refund cannot be issued its error
    is raised after the receipt, and calling again with the same key tries the refund again.
    A refund failed at the provider is returned linked, for retry_refund.
    """
    return_id = order_return.id
    current = get_return(return_id)
    if current.status == RETURN_CANCELLED:
        raise InvalidTransition("This return was cancelled.", field="status")
    if current.status == RETURN_OPEN:
        checked = _check_received(current, received)
        _book_receipt(return_id, checked, by=by)
    order_return = get_return(return_id)
    if refund:
        _refund_received(order_return, idempotency_key=idempotency_key, by=by)
    return get_return(return_id)


@service
def _book_receipt(
    return_id: int, checked: dict[int, tuple[int, str, int | None]], *, by: Any
) -> None:
    claimed = db.session.execute(
        update(Return)
        .where(Return.id == return_id, Return.status == RETURN_OPEN)
        .values(status=RETURN_RECEIVED, received_at=utcnow())
        .execution_options(synchronize_session=False)
    ).rowcount
    order_return = get_return(return_id)
    if claimed != 1:
        if order_return.status == RETURN_RECEIVED:
            return  # a concurrent receipt of the same parcel got there first
        raise InvalidTransition("This return was cancelled.", field="status")
    order = db.session.get(Order, order_return.order_id)
    assert order is not None
    back: dict[int, int] = defaultdict(int)
    # Stock rows first, then order lines, then the order: the order shipping locks them in.
    for line in order_return.lines:
        if line.id not in checked:
            line.received_quantity, line.disposition = 0, None
            continue
        quantity, disposition, location_id = checked[line.id]
        line.received_quantity = quantity
        line.disposition = disposition
        line.location_id = location_id if disposition == RESTOCK else None
        back[line.order_line_id] += quantity
        if disposition == RESTOCK:
            sold = line.order_line
            # A returned bundle goes back on the shelf as its components.
            for variant_id, units in (
                component_units(sold.components, quantity)
                if sold.components
                else [(sold.variant_id, quantity)]
            ):
                restock(
                    variant_id,
                    location_id=location_id,
                    quantity=units,
                    by=by,
                    reference=order_return.name,
                    note=f"{order.reference} return",
                )
    for line_id, quantity in sorted(back.items()):
        moved = db.session.execute(
            update(OrderLine)
            .where(
                OrderLine.id == line_id,
                OrderLine.returned_quantity + quantity <= OrderLine.fulfilled_quantity,
            )
            .values(returned_quantity=OrderLine.returned_quantity + quantity)
            .execution_options(synchronize_session=False)
        ).rowcount
        if moved != 1:
            raise ValidationError(
                "These units were booked back meanwhile.", field=("line", line_id)
            )
    for order_line in order.lines:
        db.session.refresh(order_line)
    restocked = sum(q for q, d, _ in checked.values() if d == RESTOCK)
    written_off = sum(q for q, d, _ in checked.values() if d == WRITE_OFF)
    message = f"Return {order_return.name} received: {restocked} restocked"
    message += f", {written_off} written off." if written_off else "."
    update_returned_status(order, by=by, message=message)
    record_event(
        order,
        "return.received",
        message,
        by=by,
        return_id=return_id,
        lines=_audit_lines(order_return),
    )
    audit.record(
        by,
        "order.return_receive",
        order,
        before={"return": return_id, "status": RETURN_OPEN},
        after={
            "return": return_id,
            "status": RETURN_RECEIVED,
            "lines": _audit_lines(order_return),
        },
    )


def _refund_received(order_return: Return, *, idempotency_key: str, by: Any) -> Refund | None:
    """The refund of what arrived, once per return; None when every unit was already refunded."""
    linked = refund_for_return(order_return)
    if linked is not None:
        return linked
    order = db.session.get(Order, order_return.order_id, populate_existing=True)
    assert order is not None
    wanted: dict[int, int] = defaultdict(int)
    for line in order_return.lines:
        if line.received_quantity:
            wanted[line.order_line_id] += line.received_quantity
    for order_line in order.lines:
        db.session.refresh(order_line)
    refundable = {line.id: line.refundable_quantity for line in order.lines}
    lines = {k: min(v, refundable.get(k, 0)) for k, v in wanted.items()}
    lines = {k: v for k, v in lines.items() if v > 0}
    if not lines:
        return None
    try:
        return issue_refund(
            order,
            lines=lines,
            reason=f"Return {order_return.name}: {order_return.reason}",
            restock={},
            idempotency_key=idempotency_key,
            by=by,
            order_return=order_return,
        )
    except CommerceError as exc:
        with transaction():
            record_event(
                order,
                "return.refund_not_issued",
                f"Return {order_return.name}: the refund was not issued ({exc.message}).",
                by=by,
                return_id=order_return.id,
            )
        raise


@service
def cancel_return(order_return: Return, *, by: Any, reason: str = "") -> Return:
    """Nothing will come back (or it was opened by mistake): an open return is closed; its
    units become returnable again. A received return cannot be cancelled."""
    return_id = order_return.id
    claimed = db.session.execute(
        update(Return)
        .where(Return.id == return_id, Return.status == RETURN_OPEN)
        .values(status=RETURN_CANCELLED)
        .execution_options(synchronize_session=False)
    ).rowcount
    order_return = get_return(return_id)
    if claimed != 1:
        if order_return.status == RETURN_CANCELLED:
            return order_return
        raise InvalidTransition(
            "A received return cannot be cancelled.", field="status", status=RETURN_RECEIVED
        )
    order = db.session.get(Order, order_return.order_id)
    assert order is not None
    note = str(reason or "").strip()
    record_event(
        order,
        "return.cancelled",
        f"Return {order_return.name} cancelled" + (f": {note}" if note else "."),
        by=by,
        return_id=return_id,
    )
    audit.record(
        by,
        "order.return_cancel",
        order,
        before={"return": return_id, "status": RETURN_OPEN},
        after={"return": return_id, "status": RETURN_CANCELLED, "reason": note},
    )
    return order_return

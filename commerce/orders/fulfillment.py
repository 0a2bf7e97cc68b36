"""Fulfillment: pick what the order's allocations hold at a location, pack it, ship it.

A fulfillment is one parcel from one location. Creating it reserves nothing new: the units were
allocated at placement; it records which of them go in this parcel (status "picking"). Shipping
it ships those allocations in the stock ledger (allocated and on_hand go down, a SOLD movement),
moves the lines' fulfilled quantities and the order's fulfillment status, queues the shipment
email, and (with PAYMENTS_CAPTURE=fulfillment) captures the payment.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from flask import current_app
from sqlalchemy import func, select, update

from commerce import audit, outbox
from commerce.db import service, transaction, utcnow, workflow
from commerce.errors import (
    CommerceError,
    ErrorPath,
    InvalidTransition,
    NotFound,
    ValidationError,
)
from commerce.extensions import db
from commerce.inventory.bundles import component_units
from commerce.inventory.models import ALLOCATED, Allocation, Location, StockLevel
from commerce.inventory.services import release_allocated, ship_allocation
from commerce.orders.models import (
    FULFILLED,
    FULFILLMENT_CANCELLED,
    OPEN,
    PARTIALLY_FULFILLED,
    PICKING,
    SHIPPED,
    Fulfillment,
    FulfillmentLine,
    Order,
    OrderLine,
)
from commerce.orders.services import (
    capture_order_payment,
    complete_if_done,
    record_event,
    transition,
)

ORDER_SHIPPED = "order.shipped"  # outbox topic: the shipment email listens
MAX_TRACKING = 120


log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PickLine:
    """Units of one order line waiting at one location, from one allocation (a custom item:
    none, and variant 0; it goes in a parcel from any location, moving no stock)."""

    order_line_id: int
    allocation_id: int | None
    location_id: int
    variant_id: int
    title: str
    sku: str | None
    quantity: int
    per_bundle: int = 0  # a bundle line's component: its units per bundle (0: a plain line)


def pickable(order: Order) -> dict[int, list[PickLine]]:
    """What can still go into a parcel, per location id (in the locations' priority order):
    the order's live allocations, less what open (picking) fulfillments already hold. An
    order with bundles shares its allocations out between the lines (bundle_picks). Custom
    items that ship wait wherever the order's goods wait (or at the first active location)."""
    found = bundle_picks(order) if any(line.components for line in order.lines) else None
    if found is None:
        found = _stock_picks(order)
    return _with_custom_items(order, found)


def custom_outstanding(order: Order) -> dict[int, int]:
    """Units of custom items that ship and have not shipped (nor been refunded unshipped),
    per order line: they keep the order from being fulfilled as unshipped goods do."""
    left = {}
    for line in order.lines:
        if not line.is_custom or not line.requires_shipping:
            continue
        units = line.quantity - line.fulfilled_quantity
        units -= max(line.refunded_quantity - line.fulfilled_quantity, 0)
        if units > 0:
            left[line.id] = units
    return left


def _with_custom_items(order: Order, found: dict[int, list[PickLine]]) -> dict[int, list[PickLine]]:
    waiting = custom_outstanding(order)
    if not waiting:
        return found
    picking = _picking_by_line(order)
    waiting = {k: v - picking.get(k, 0) for k, v in waiting.items() if v > picking.get(k, 0)}
    if not waiting:
        return found
    places = list(found)
    if not places:
        first = db.session.scalar(
            select(Location.id)
            .where(Location.is_active.is_(True))
            .order_by(Location.priority, Location.id)
            .limit(1)
        )
        places = [first] if first is not None else []
    lines = {line.id: line for line in order.lines}
    result = {k: list(v) for k, v in found.items()}
    for location_id in places:
        result.setdefault(location_id, []).extend(
            PickLine(line_id, None, location_id, 0, lines[line_id].title, lines[line_id].sku, units)
            for line_id, units in sorted(waiting.items())
        )
    return result


def _stock_picks(order: Order) -> dict[int, list[PickLine]]:
    rows = db.session.execute(
        select(Allocation, StockLevel.location_id)
        .join(StockLevel, StockLevel.id == Allocation.stock_level_id)
        .join(Location, Location.id == StockLevel.location_id)
        .where(Allocation.reference == order.reference, Allocation.status == ALLOCATED)
        .order_by(Location.priority, Location.id, Allocation.id)
    ).all()
    held = dict(
        db.session.execute(
            select(FulfillmentLine.allocation_id, func.sum(FulfillmentLine.quantity))
            .join(Fulfillment, Fulfillment.id == FulfillmentLine.fulfillment_id)
            .where(Fulfillment.order_id == order.id, Fulfillment.status == PICKING)
            .group_by(FulfillmentLine.allocation_id)
        ).all()
    )
    by_variant = {line.variant_id: line for line in order.lines if line.variant_id is not None}
    result: dict[int, list[PickLine]] = defaultdict(list)
    for allocation, location_id in rows:
        line = by_variant.get(allocation.variant_id)
        left = allocation.outstanding - int(held.get(allocation.id) or 0)
        if line is None or left <= 0:
            continue
        result[location_id].append(
            PickLine(
                line.id,
                allocation.id,
                location_id,
                allocation.variant_id,
                line.title,
                line.sku,
                left,
            )
        )
    return dict(result)


def _picking_by_allocation(order: Order) -> dict[int, int]:
    return {
        allocation_id: int(units or 0)
        for allocation_id, units in db.session.execute(
            select(FulfillmentLine.allocation_id, func.sum(FulfillmentLine.quantity))
            .join(Fulfillment, Fulfillment.id == FulfillmentLine.fulfillment_id)
            .where(Fulfillment.order_id == order.id, Fulfillment.status == PICKING)
            .group_by(FulfillmentLine.allocation_id)
        ).all()
    }


def _picking_by_line(order: Order) -> dict[int, int]:
    """Units (bundles for a bundle line) in open parcels, per order line."""
    found: dict[int, int] = defaultdict(int)
    for parcel in db.session.scalars(
        select(Fulfillment).where(Fulfillment.order_id == order.id, Fulfillment.status == PICKING)
    ):
        for line_id, units in parcel.units_by_line().items():
            found[line_id] += units
    return found


def bundle_picks(
    order: Order, releasing: dict[int, int] | None = None
) -> dict[int, list[PickLine]]:
    """pickable() for an order with bundles: the allocations of a variant are one pool shared
    by the lines that use it (a loose mug and a gift box's mug), plain lines served first,
    each location in priority order. A bundle line's picks are its components' units. A line
    refunded before shipping waits for less (its units were released), except the units of
    `releasing` (order line -> units): a refund being booked, whose allocations go next."""
    rows = db.session.execute(
        select(Allocation, StockLevel.location_id)
        .join(StockLevel, StockLevel.id == Allocation.stock_level_id)
        .join(Location, Location.id == StockLevel.location_id)
        .where(Allocation.reference == order.reference, Allocation.status == ALLOCATED)
        .order_by(Location.priority, Location.id, Allocation.id)
    ).all()
    held = _picking_by_allocation(order)
    pool: dict[int, list[list[int]]] = defaultdict(list)  # variant -> [[alloc, location, left]]
    for allocation, location_id in rows:
        left = allocation.outstanding - held.get(allocation.id, 0)
        if left > 0:
            pool[allocation.variant_id].append([allocation.id, location_id, left])
    picking = _picking_by_line(order)
    result: dict[int, list[PickLine]] = defaultdict(list)
    for line in sorted(order.lines, key=lambda ln: (bool(ln.components), ln.id)):
        if line.variant_id is None:
            continue
        refunded_unshipped = max(line.refunded_quantity - line.fulfilled_quantity, 0)
        refunded_unshipped -= (releasing or {}).get(line.id, 0)
        left = line.quantity - line.fulfilled_quantity - picking.get(line.id, 0)
        left -= max(refunded_unshipped, 0)
        if left <= 0:
            continue
        parts = (
            [(int(c["variant_id"]), int(c["quantity"])) for c in line.components]
            if line.components
            else [(line.variant_id, 0)]
        )
        for variant_id, per_bundle in parts:
            wanted = left * (per_bundle or 1)
            for place in pool.get(variant_id, []):
                take = min(wanted, place[2])
                if take <= 0:
                    continue
                place[2] -= take
                wanted -= take
                result[place[1]].append(
                    PickLine(
                        line.id,
                        place[0],
                        place[1],
                        variant_id,
                        line.title,
                        line.sku,
                        take,
                        per_bundle,
                    )
                )
    return dict(result)


def _outstanding_units(order: Order) -> int:
    return int(
        db.session.scalar(
            select(func.coalesce(func.sum(Allocation.quantity - Allocation.shipped), 0)).where(
                Allocation.reference == order.reference, Allocation.status == ALLOCATED
            )
        )
        or 0
    )


def release_unshipped(order: Order, order_line_id: int, quantity: int, *, by: Any) -> int:
    """Refunded units that have not shipped will not ship: give up to `quantity` of the line's
    allocated units back to available stock, never those a picking parcel holds (the packer
    has them in hand; the parcel ships or is cancelled first). Call inside the refund's
    transaction; returns the units released, and moves the order to fulfilled when nothing is
    left to ship."""
    line = next((ln for ln in order.lines if ln.id == order_line_id), None)
    if line is not None and line.is_custom and quantity > 0:
        _fulfilled_if_done(order, by=by)  # nothing to release; it may have been the last
        return 0
    if line is None or line.variant_id is None or quantity <= 0:
        return 0
    waiting = (
        bundle_picks(order, releasing={order_line_id: quantity})
        if any(ln.components for ln in order.lines)
        else pickable(order)
    )
    mine = [
        pick for picks in waiting.values() for pick in picks if pick.order_line_id == order_line_id
    ]
    take = min(quantity, _whole_units(mine) if line.components else sum(p.quantity for p in mine))
    if take <= 0:
        return 0
    if line.components:  # a bundle gives back its components, whole bundles at a time
        for variant_id, units in sorted(component_units(line.components, take)):
            release_allocated(order.reference, variant_id, units, by=by)
        released = take
    else:
        released = release_allocated(order.reference, line.variant_id, take, by=by)
    if released and any(ln.fulfilled_quantity for ln in order.lines):
        _fulfilled_if_done(order, by=by, shipped_some=True)
    return released


def _fulfilled_if_done(order: Order, *, by: Any, shipped_some: bool = False) -> None:
    """An order partly shipped (`shipped_some`: known to be) whose rest was refunded is
    fulfilled: nothing is left to ship."""
    if not shipped_some and order.fulfillment_status != PARTIALLY_FULFILLED:
        return
    if not _outstanding_units(order) and not custom_outstanding(order):
        transition(
            order,
            "fulfillment_status",
            FULFILLED,
            "Nothing is left to ship: the rest was refunded.",
            by=by,
        )


def _require_open(order: Order) -> None:
    if order.status != OPEN:
        raise InvalidTransition(
            f"A {order.status} order cannot be fulfilled.", field="status", status=order.status
        )


@service
def create_fulfillment(
    order: Order,
    *,
    location_id: int,
    lines: dict[int, int] | None = None,
    by: Any,
) -> Fulfillment:
    """Start a parcel at `location_id`: `lines` maps order line id to quantity (None: all that
    waits there). Quantities above what waits there are refused line by line."""
    _require_open(order)
    waiting = pickable(order).get(location_id, [])
    if not waiting:
        raise ValidationError("Nothing of this order waits at that location.", field="location_id")
    per_line: dict[int, list[PickLine]] = defaultdict(list)
    for pick in waiting:
        per_line[pick.order_line_id].append(pick)
    ready = {line_id: _whole_units(picks) for line_id, picks in per_line.items()}
    wanted = lines if lines is not None else {k: v for k, v in ready.items() if v}
    errors: dict[ErrorPath, list[str]] = {}
    for line_id, quantity in wanted.items():
        available = ready.get(line_id, 0)
        if not isinstance(quantity, int) or quantity < 0:
            errors[("line", line_id)] = ["Enter a quantity of 0 or more."]
        elif quantity > available:
            errors[("line", line_id)] = [f"Only {available} of this line wait at this location."]
    if errors:
        raise ValidationError("Some quantities cannot be picked here.", errors=errors)
    if not any(wanted.values()):
        raise ValidationError("Choose at least one unit to pick.", field="lines")
    fulfillment = Fulfillment(
        order_id=order.id,
        location_id=location_id,
        status=PICKING,
        created_by_id=getattr(by, "id", None),
        created_at=utcnow(),
    )
    for line_id, quantity in wanted.items():
        left: dict[int, int] = {}  # variant -> units still to take (a bundle's per component)
        for pick in per_line.get(line_id, []):
            left.setdefault(pick.variant_id, quantity * (pick.per_bundle or 1))
            take = min(left[pick.variant_id], pick.quantity)
            if take <= 0:
                continue
            fulfillment.lines.append(
                FulfillmentLine(
                    order_line_id=line_id,
                    allocation_id=pick.allocation_id,
                    quantity=take,
                    per_bundle=pick.per_bundle or None,
                )
            )
            left[pick.variant_id] -= take
    db.session.add(fulfillment)
    db.session.flush()
    location = db.session.get(Location, location_id)
    record_event(
        order,
        "fulfillment.created",
        f"Picking {fulfillment.item_count} item(s) at {location.name if location else '?'}.",
        by=by,
        fulfillment_id=fulfillment.id,
    )
    audit.record(
        by,
        "order.fulfillment_create",
        order,
        after={"fulfillment": fulfillment.id, "location": location_id, "lines": wanted},
    )
    return fulfillment


def _whole_units(picks: list[PickLine]) -> int:
    """Units of a line that can be picked from these picks: a bundle's whole bundles (its
    scarcest component's units per bundle), a plain line's units."""
    per_variant: dict[int, int] = defaultdict(int)
    per_bundle: dict[int, int] = {}
    for pick in picks:
        per_variant[pick.variant_id] += pick.quantity
        per_bundle[pick.variant_id] = pick.per_bundle
    return min((units // (per_bundle[v] or 1) for v, units in per_variant.items()), default=0)


@dataclass(frozen=True)
class WaitingLine:
    """An order line as the pick form shows it at one location: whole units (bundles for a
    bundle line) and, for a bundle, the component units that are picked for them."""

    order_line_id: int
    title: str
    sku: str | None
    quantity: int
    components: tuple[tuple[str | None, int], ...] = ()


def waiting_lines(picks: list[PickLine], order: Order) -> list[WaitingLine]:
    """The picks at one location grouped per order line, in line order."""
    per_line: dict[int, list[PickLine]] = defaultdict(list)
    for pick in picks:
        per_line[pick.order_line_id].append(pick)
    lines = {line.id: line for line in order.lines}
    rows = []
    for line_id, mine in sorted(per_line.items()):
        line = lines[line_id]
        units = _whole_units(mine)
        parts = tuple(
            (str(c.get("sku") or ""), int(c["quantity"]) * units) for c in line.components
        )
        rows.append(WaitingLine(line_id, line.title, line.sku, units, parts))
    return [row for row in rows if row.quantity > 0]


def get_fulfillment(fulfillment_id: int) -> Fulfillment:
    fulfillment = db.session.get(Fulfillment, fulfillment_id)
    if fulfillment is None:
        raise NotFound("No such fulfillment.")
    return fulfillment


@workflow
def ship_fulfillment(
    fulfillment: Fulfillment, *, carrier: str, tracking_number: str, by: Any
) -> Fulfillment:
    """The parcel left: ship its allocations in the ledger, once (a repeat returns it as is)."""
    carrier = (carrier or "").strip()[:60]
    tracking_number = (tracking_number or "").strip()
    errors: dict[str, list[str]] = {}
    if not carrier:
        errors["carrier"] = ["Enter the carrier."]
    if not tracking_number:
        errors["tracking_number"] = ["Enter the tracking number."]
    elif len(tracking_number) > MAX_TRACKING:
        errors["tracking_number"] = [f"At most {MAX_TRACKING} characters."]
    if errors:
        raise ValidationError(errors=errors)
    fulfillment_id = fulfillment.id
    with transaction():
        claimed = db.session.execute(
            update(Fulfillment)
            .where(Fulfillment.id == fulfillment_id, Fulfillment.status == PICKING)
            .values(
                status=SHIPPED,
                carrier=carrier,
                tracking_number=tracking_number,
                shipped_at=utcnow(),
            )
            .execution_options(synchronize_session=False)
        ).rowcount
        fulfillment = get_fulfillment(fulfillment_id)
        db.session.refresh(fulfillment)
        if claimed != 1:
            if fulfillment.status == SHIPPED:
                return fulfillment
            raise InvalidTransition("This parcel was cancelled.", field="status")
        order = db.session.get(Order, fulfillment.order_id)
        _require_open(order)
        custom = {line.id for line in order.lines if line.is_custom}
        for line in sorted(fulfillment.lines, key=lambda fl: fl.allocation_id or 0):
            if line.order_line_id in custom:
                continue  # a custom item: it ships, no stock moves
            if line.allocation_id is None:
                raise InvalidTransition("A picked allocation no longer exists.", field="lines")
            ship_allocation(
                line.allocation_id, by=by, quantity=line.quantity, reference=order.reference
            )
        # A bundle line moves by whole bundles (its components' units counted back).
        for line_id, units in sorted(fulfillment.units_by_line().items()):
            moved = db.session.execute(
                update(OrderLine)
                .where(
                    OrderLine.id == line_id,
                    OrderLine.fulfilled_quantity + units <= OrderLine.quantity,
                )
                .values(fulfilled_quantity=OrderLine.fulfilled_quantity + units)
                .execution_options(synchronize_session=False)
            ).rowcount
            if moved != 1:
                raise InvalidTransition("That is more than was ordered.", field="lines")
        for line in order.lines:
            db.session.refresh(line)
        # Done when nothing promised to the order waits anywhere (units refunded before they
        # shipped were released from the allocations, so they do not count as missing).
        done = not _outstanding_units(order) and not custom_outstanding(order)
        transition(
            order,
            "fulfillment_status",
            FULFILLED if done else PARTIALLY_FULFILLED,
            f"Shipped {fulfillment.item_count} item(s) with {carrier}, tracking {tracking_number}.",
            by=by,
        )
        record_event(
            order,
            "fulfillment.shipped",
            f"{carrier} {tracking_number}",
            by=by,
            fulfillment_id=fulfillment.id,
        )
        audit.record(
            by,
            "order.ship",
            order,
            after={"fulfillment": fulfillment.id, "carrier": carrier, "tracking": tracking_number},
        )
        outbox.enqueue(ORDER_SHIPPED, {"fulfillment_id": fulfillment.id})
        order_id = order.id
    order = db.session.get(Order, order_id)
    if current_app.config.get("PAYMENTS_CAPTURE") == "fulfillment":
        order = capture_order_payment(order, by=by)
    complete_if_done(order, by=by)
    return fulfillment


@workflow
def fulfil_and_ship(
    order: Order,
    *,
    location_id: int,
    carrier: str,
    tracking_number: str,
    lines: dict[int, int] | None = None,
    by: Any,
) -> Fulfillment:
    """A parcel picked and shipped in one step (an integration that ships from its own
    warehouse system): the carrier and tracking are checked before the parcel is started, so
    bad input leaves no parcel behind; then the same two steps as the console."""
    errors: dict[str, list[str]] = {}
    if not (carrier or "").strip():
        errors["carrier"] = ["Enter the carrier."]
    if not (tracking_number or "").strip():
        errors["tracking_number"] = ["Enter the tracking number."]
    elif len(tracking_number.strip()) > MAX_TRACKING:
        errors["tracking_number"] = [f"At most {MAX_TRACKING} characters."]
    if errors:
        raise ValidationError(errors=errors)
    parcel = create_fulfillment(order, location_id=location_id, lines=lines, by=by)
    return ship_fulfillment(parcel, carrier=carrier, tracking_number=tracking_number, by=by)


@service
def cancel_fulfillment(fulfillment: Fulfillment, *, by: Any) -> Fulfillment:
    """A parcel that did not go: its units wait to be picked again."""
    cancelled = db.session.execute(
        update(Fulfillment)
        .where(Fulfillment.id == fulfillment.id, Fulfillment.status == PICKING)
        .values(status=FULFILLMENT_CANCELLED)
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.refresh(fulfillment)
    if cancelled != 1:
        if fulfillment.status == FULFILLMENT_CANCELLED:
            return fulfillment
        raise InvalidTransition("A shipped parcel cannot be cancelled.", field="status")
    order = db.session.get(Order, fulfillment.order_id)
    record_event(
        order,
        "fulfillment.cancelled",
        "Parcel cancelled before shipping.",
        by=by,
        fulfillment_id=fulfillment.id,
    )
    audit.record(by, "order.fulfillment_cancel", order, after={"fulfillment": fulfillment.id})
    return fulfillment


EMAIL_CARRIER = "Email"  # gift cards: their codes are the delivery


@workflow
def deliver_gift_card_lines(order_id: int) -> int:
    """The gift card lines' codes were emailed: their units are shipped (carrier "Email"),
    from wherever they were allocated, so the warehouse never sees them to pick. Units sold
    beyond stock (no allocation) stay for a person to mark. The units delivered now; a line
    already delivered, or an order closed meanwhile, delivers nothing."""
    order = db.session.get(Order, order_id)
    if order is None or order.status != OPEN or not order.has_gift_cards:
        return 0
    cards = {line.id for line in order.lines if line.is_gift_card}
    delivered = 0
    for location_id, picks in pickable(order).items():
        lines: dict[int, int] = defaultdict(int)
        for pick in picks:
            if pick.order_line_id in cards:
                lines[pick.order_line_id] += pick.quantity
        if not lines:
            continue
        try:
            fulfil_and_ship(
                order,
                location_id=location_id,
                carrier=EMAIL_CARRIER,
                tracking_number=f"gift-cards-{order.number}",
                lines=dict(lines),
                by=None,
            )
        except CommerceError as exc:  # cancelled, or changed meanwhile: a person decides
            log.warning("gift cards of %s not marked delivered: %s", order.name, exc.message)
            continue
        delivered += sum(lines.values())
        order = db.session.get(Order, order_id)
    return delivered

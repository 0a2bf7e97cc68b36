"""Stock services: the only way counters change.

Rules (see ARCHITECTURE.md): every change of on_hand is a ledger row written with the counter
update in one transaction; a decrement is one conditional UPDATE whose row count says whether
it fitted (never read-then-write in Python); the CHECK constraints on stock_level are the last
guard; levels are changed in id order so concurrent multi-line changes never deadlock.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import and_, case, exists, func, join, or_, select, update
from sqlalchemy.exc import IntegrityError

from commerce import audit, outbox
from commerce.catalog.models import CONTINUE, BundleComponent, Variant
from commerce.db import in_transaction, service, transaction, utcnow
from commerce.errors import Conflict, NotFound, OutOfStock, ValidationError
from commerce.extensions import db
from commerce.inventory import bundles, sold_out
from commerce.inventory.costing import book_receipt_cost
from commerce.inventory.models import (
    ACTIVE,
    ALLOCATED,
    CANCELLED,
    COMMITTED,
    CORRECTION,
    CYCLE_COUNT,
    DAMAGED,
    EXPIRED,
    FOUND,
    HOLD_BACK,
    LOST,
    ON_HAND,
    RECEIVED,
    RELEASE,
    RELEASED,
    RETURNED,
    SAFETY_STOCK,
    SHIPPED,
    SOLD,
    TRANSFER_IN,
    TRANSFER_OUT,
    UNAVAILABLE_STATES,
    Allocation,
    Location,
    Reservation,
    StockLevel,
    StockMovement,
)
from commerce.money import MAX_AMOUNT, format_money

# Reasons a person may choose on the adjust screen, with the sign they allow.
ADJUST_REASONS = {DAMAGED: -1, LOST: -1, FOUND: 1, CORRECTION: 0}
REASON_LABELS = {
    RECEIVED: "Received",
    SOLD: "Sold / shipped",
    RETURNED: "Returned",
    DAMAGED: "Damaged",
    LOST: "Lost",
    FOUND: "Found",
    CYCLE_COUNT: "Cycle count correction",
    TRANSFER_OUT: "Transfer out",
    TRANSFER_IN: "Transfer in",
    CORRECTION: "Manual correction",
    HOLD_BACK: "Set aside (not for sale)",
    RELEASE: "Back to sale",
}
DEFAULT_RESERVATION_TTL = timedelta(minutes=10)
MAX_QUANTITY = 1_000_000
MAX_COST = MAX_AMOUNT


# -- lookups ------------------------------------------------------------------------------------


def get_location(location_id: int) -> Location:
    location = db.session.get(Location, location_id)
    if location is None:
        raise NotFound("No such location.")
    return location


def _chosen_location(location_id: Any, *, field: str = "location_id") -> Location:
    """A location named by the caller's input: an unknown one is that field's error."""
    location = db.session.get(Location, location_id) if location_id else None
    if location is None:
        raise ValidationError("Choose an existing location.", field=field)
    return location


def active_locations() -> list[Location]:
    return list(
        db.session.scalars(
            select(Location)
            .where(Location.is_active.is_(True))
            .order_by(Location.priority, Location.id)
        )
    )


def default_location() -> Location:
    locations = active_locations()
    if not locations:
        raise NotFound("Create a stock location first.")
    return locations[0]


def find_variant_by_code(code: str) -> Variant | None:
    """What a scanner types: a barcode or a SKU, exactly."""
    code = (code or "").strip()
    if not code:
        return None
    return db.session.scalar(
        select(Variant)
        .where(or_(Variant.barcode == code, Variant.sku == code))
        .order_by(Variant.id)
        .limit(1)
    )


def stock_level_for(variant_id: int, location_id: int) -> StockLevel:
    """The level row for a variant at a location, created empty when missing."""
    level = db.session.scalar(
        select(StockLevel).where(
            StockLevel.variant_id == variant_id, StockLevel.location_id == location_id
        )
    )
    if level is None:
        if db.session.get(Variant, variant_id) is None:
            raise ValidationError("No such variant.", field="variant_id")
        if bundles.components_of([variant_id]):
            raise ValidationError(
                "A bundle holds no stock of its own: book its components instead.",
                field="variant_id",
            )
        if db.session.get(Location, location_id) is None:
            raise ValidationError("Choose an existing location.", field="location_id")
        level = StockLevel(
            variant_id=variant_id, location_id=location_id, on_hand=0, allocated=0, reserved=0
        )
        try:
            with db.session.begin_nested():  # two first receipts at once: one creates the row
                db.session.add(level)
        except IntegrityError:
            level = db.session.scalars(
                select(StockLevel).where(
                    StockLevel.variant_id == variant_id, StockLevel.location_id == location_id
                )
            ).one()
    return level


def lock_levels(level_ids: Iterable[int]) -> dict[int, StockLevel]:
    """Row-lock levels in id order (the one place that locks stock rows; no-op on SQLite,
    whose single writer serialises anyway)."""
    ids = sorted(set(level_ids))
    rows = db.session.scalars(
        select(StockLevel)
        .where(StockLevel.id.in_(ids))
        .order_by(StockLevel.id)
        # OF stock_level: the eager-joined location must not be locked (PostgreSQL refuses FOR
        # UPDATE on the nullable side of that outer join, and would serialise a whole location).
        .with_for_update(of=StockLevel)
        .execution_options(populate_existing=True)
    ).all()
    return {row.id: row for row in rows}


def _check_quantity(quantity: Any, *, field: str = "quantity", allow_zero: bool = False) -> int:
    if not isinstance(quantity, int) or isinstance(quantity, bool):
        raise ValidationError("Enter a whole number of units.", field=field)
    if quantity < 0 or (quantity == 0 and not allow_zero):
        raise ValidationError("Enter a number of units above zero.", field=field)
    if quantity > MAX_QUANTITY:
        raise ValidationError("That is more units than we can book at once.", field=field)
    return quantity


# -- the ledger ---------------------------------------------------------------------------------


def _change_on_hand(
    level: StockLevel,
    delta: int,
    *,
    reason: str,
    by: Any,
    reference: str = "",
    note: str = "",
    key: str | None = None,
) -> StockMovement:
    """One conditional UPDATE of on_hand plus its ledger row. A decrement fits only if the units
    are available (not allocated or reserved)."""
    stmt = update(StockLevel).where(StockLevel.id == level.id)
    if delta < 0:
        stmt = stmt.where(StockLevel.available + delta >= 0)
    result = db.session.execute(
        stmt.values(on_hand=StockLevel.on_hand + delta, updated_at=utcnow()).execution_options(
            synchronize_session=False
        )
    )
    if result.rowcount != 1:
        db.session.refresh(level)
        raise OutOfStock(
            f"Only {max(level.available, 0)} available to take from {level.location.name}.",
            field="quantity",
            variant_id=level.variant_id,
            location_id=level.location_id,
            requested=-delta,
            available=max(level.available, 0),
        )
    movement = StockMovement(
        stock_level_id=level.id,
        delta=delta,
        reason=reason,
        reference=(reference or "")[:120],
        note=note or "",
        actor_id=getattr(by, "id", None),
        idempotency_key=key,
        created_at=utcnow(),
    )
    db.session.add(movement)
    db.session.flush()
    db.session.expire(level)
    _note_stock_changed([level.variant_id])
    _note_stock_crossed(_crossed({level.variant_id: delta}))
    return movement


def _existing_movement(key: str | None) -> StockMovement | None:
    if not key:
        return None
    return db.session.scalar(select(StockMovement).where(StockMovement.idempotency_key == key))


def _idempotent(key: str | None, work: Any) -> Any:
    """Run `work` once per key: a repeat returns the first result, and so does a concurrent
    duplicate that loses the race on the unique key, the same whether the call is outermost
    or joins its caller's transaction (there the attempt runs in a savepoint, so losing the
    race undoes the attempt alone, not the caller's work)."""
    first = _existing_movement(key)
    if first is not None:
        return first
    if not key:
        return work()
    try:
        if not in_transaction():
            return work()  # its own transaction, rolled back when it fails
        with db.session.begin_nested():
            return work()
    except IntegrityError:
        first = _existing_movement(key)
        if first is None:
            raise
        return first


def _record(by: Any, action: str, level: StockLevel, **after: Any) -> None:
    audit.record(
        by,
        action,
        subject_type="stock_level",
        subject_id=level.id,
        subject_label=f"{_variant_label(level.variant_id)} @ {level.location.code}",
        after=after,
    )


def _variant_label(variant_id: int) -> str:
    sku = db.session.scalar(select(Variant.sku).where(Variant.id == variant_id))
    return sku or f"variant {variant_id}"


def receive_stock(
    variant_id: int,
    *,
    quantity: int,
    by: Any,
    location_id: int | None = None,
    reference: str = "",
    note: str = "",
    idempotency_key: str | None = None,
    unit_cost: int | None = None,
) -> StockMovement:
    """Book received units; a repeated idempotency key returns the first movement unchanged.
    A `unit_cost` (minor units of the variant's currency) moves its average cost (costing.py)."""
    _check_quantity(quantity)
    if unit_cost is not None and (not isinstance(unit_cost, int) or not 0 <= unit_cost <= MAX_COST):
        raise ValidationError("Enter a unit cost of zero or more.", field="unit_cost")

    def work() -> StockMovement:
        with transaction():
            location = _chosen_location(location_id) if location_id else default_location()
            level = stock_level_for(variant_id, location.id)
            if unit_cost is not None:
                book_receipt_cost(variant_id, quantity=quantity, unit_cost=unit_cost)
            movement = _change_on_hand(
                level,
                quantity,
                reason=RECEIVED,
                by=by,
                reference=reference,
                note=note,
                key=idempotency_key,
            )
            cost = {} if unit_cost is None else {"unit_cost": _cost_text(variant_id, unit_cost)}
            _record(by, "stock.receive", level, delta=quantity, reference=reference, **cost)
        return movement

    return _idempotent(idempotency_key, work)


def _cost_text(variant_id: int, amount: int) -> str:
    currency = db.session.scalar(select(Variant.currency).where(Variant.id == variant_id))
    return format_money(amount, currency or "USD")


def adjust_stock(
    variant_id: int,
    *,
    location_id: int,
    delta: int,
    reason: str,
    by: Any,
    note: str = "",
    reference: str = "",
    idempotency_key: str | None = None,
) -> StockMovement:
    """Damaged, lost, found or a manual correction; the reason decides the sign it may have."""
    if reason not in ADJUST_REASONS:
        raise ValidationError("Choose damaged, lost, found or manual correction.", field="reason")
    if not isinstance(delta, int) or isinstance(delta, bool) or delta == 0:
        raise ValidationError("Enter a number of units other than zero.", field="quantity")
    sign = ADJUST_REASONS[reason]
    if sign and (delta > 0) != (sign > 0):
        word = "remove" if sign < 0 else "add"
        raise ValidationError(f"“{REASON_LABELS[reason]}” can only {word} units.", field="quantity")
    _check_quantity(abs(delta))

    def work() -> StockMovement:
        with transaction():
            level = stock_level_for(variant_id, _chosen_location(location_id).id)
            movement = _change_on_hand(
                level,
                delta,
                reason=reason,
                by=by,
                reference=reference,
                note=note,
                key=idempotency_key,
            )
            _record(by, "stock.adjust", level, delta=delta, reason=reason, note=note)
            if delta < 0:
                _note_low_stock({variant_id: -delta})
        return movement

    return _idempotent(idempotency_key, work)


def shrink_unavailable(level: StockLevel, state: str, units: int, *, by: Any) -> None:
    """(Under the level's lock.) Take `units` out of an unavailable state: one conditional
    UPDATE and its ledger row in the state's bucket (a cycle count that found fewer units
    than the safety stock keeps)."""
    counter = getattr(StockLevel, state)
    moved = db.session.execute(
        update(StockLevel)
        .where(StockLevel.id == level.id, counter >= units)
        .values({state: counter - units, "updated_at": utcnow()})
        .execution_options(synchronize_session=False)
    ).rowcount
    if moved != 1:
        raise Conflict("Fewer units are set aside than that.", field="quantity")
    db.session.add(
        StockMovement(
            stock_level_id=level.id,
            delta=-units,
            reason=CYCLE_COUNT,
            bucket=state,
            actor_id=getattr(by, "id", None),
            created_at=utcnow(),
        )
    )
    db.session.flush()
    db.session.expire(level)


@service
def set_counted_quantity(
    variant_id: int, *, location_id: int, counted: int, by: Any, reference: str = "", note: str = ""
) -> StockMovement | None:
    """A cycle count: the difference to the counted number becomes one movement (None if none)."""
    _check_quantity(counted, field="counted", allow_zero=True)
    level = stock_level_for(variant_id, _chosen_location(location_id).id)
    level = lock_levels([level.id])[level.id]
    delta = counted - level.on_hand
    if delta == 0:
        return None
    kept = level.allocated + level.reserved + level.damaged + level.quality_control
    if counted < kept:
        raise OutOfStock(
            f"{counted} counted, but {kept} are promised to orders, held by checkouts or set "
            "aside as damaged or in quality control; resolve those first.",
            field="counted",
            variant_id=variant_id,
            location_id=location_id,
        )
    if counted - kept < level.safety_stock:  # fewer than the safety stock: it shrinks to fit
        shrink_unavailable(level, SAFETY_STOCK, level.safety_stock - (counted - kept), by=by)
    movement = _change_on_hand(
        level, delta, reason=CYCLE_COUNT, by=by, reference=reference, note=note
    )
    _record(by, "stock.count", level, counted=counted, delta=delta)
    if delta < 0:
        _note_low_stock({variant_id: -delta})
    return movement


def transfer_stock(
    variant_id: int,
    *,
    from_location_id: int,
    to_location_id: int,
    quantity: int,
    by: Any,
    reference: str = "",
    note: str = "",
    idempotency_key: str | None = None,
) -> tuple[StockMovement, StockMovement]:
    """Out of one location and into another, in one transaction."""
    _check_quantity(quantity)
    if from_location_id == to_location_id:
        raise ValidationError("Choose two different locations.", field="to_location_id")
    first = _existing_movement(idempotency_key)
    if first is not None:
        second = db.session.scalar(
            select(StockMovement).where(StockMovement.idempotency_key == f"{idempotency_key}:in")
        )
        return first, second
    with transaction():
        source = stock_level_for(
            variant_id, _chosen_location(from_location_id, field="from_location_id").id
        )
        target = stock_level_for(
            variant_id, _chosen_location(to_location_id, field="to_location_id").id
        )
        lock_levels([source.id, target.id])
        reference = reference or f"transfer {source.location.code}→{target.location.code}"
        out = _change_on_hand(
            source,
            -quantity,
            reason=TRANSFER_OUT,
            by=by,
            reference=reference,
            note=note,
            key=idempotency_key,
        )
        into = _change_on_hand(
            target,
            quantity,
            reason=TRANSFER_IN,
            by=by,
            reference=reference,
            note=note,
            key=f"{idempotency_key}:in" if idempotency_key else None,
        )
        _record(by, "stock.transfer", source, quantity=quantity, to=target.location.code)
    return out, into


@service
def restock(
    variant_id: int,
    *,
    location_id: int,
    quantity: int,
    by: Any,
    reference: str = "",
    note: str = "",
) -> StockMovement:
    """Returned units back on the shelf."""
    _check_quantity(quantity)
    level = stock_level_for(variant_id, _chosen_location(location_id).id)
    movement = _change_on_hand(
        level, quantity, reason=RETURNED, by=by, reference=reference, note=note
    )
    _record(by, "stock.restock", level, delta=quantity, reference=reference)
    return movement


def undo_movement(movement_id: int, *, by: Any) -> StockMovement:
    """Book the reverse of a movement (the scan screens' undo); each movement undoes once."""
    original = db.session.get(StockMovement, movement_id)
    if original is None:
        raise NotFound("No such movement.")
    if original.reason in (SOLD, TRANSFER_OUT, TRANSFER_IN):
        raise ValidationError("Sales and transfers are reversed by their own workflows.")
    if original.bucket != ON_HAND:
        raise ValidationError("Units set aside are released from the stock page, not undone.")
    key = f"undo:{original.id}"

    def work() -> StockMovement:
        with transaction():
            level = db.session.get(StockLevel, original.stock_level_id)
            movement = _change_on_hand(
                level,
                -original.delta,
                reason=CORRECTION,
                by=by,
                reference=f"undo of #{original.id}",
                key=key,
            )
            _record(by, "stock.undo", level, delta=-original.delta, undoes=original.id)
            if original.delta > 0:
                _note_low_stock({level.variant_id: original.delta})
        return movement

    return _idempotent(key, work)


# -- reservations and allocations ---------------------------------------------------------------


@dataclass(frozen=True)
class Shortage:
    variant_id: int
    requested: int
    available: int


@dataclass(frozen=True)
class _Level:
    """A level a reservation may take from, as read before any row is locked."""

    level_id: int
    available: int
    location_id: int = 0


@dataclass
class _Stock:
    """One variant's sale rules and its levels at active locations, in priority order."""

    policy: str
    threshold: int | None
    label: str = ""  # how a shortage names it (its SKU, else its options)
    levels: list[_Level] = dataclass_field(default_factory=list)
    is_bundle: bool = False  # holds no stock: its components do (inventory.bundles.expand)

    @property
    def available(self) -> int:
        return sum(level.available for level in self.levels)


def _stock_of(variant_ids: Iterable[int]) -> dict[int, _Stock]:
    """Every variant with its levels at active locations (by priority): one query, no lock."""
    levels = join(StockLevel, Location, Location.id == StockLevel.location_id)
    rows = db.session.execute(
        select(
            Variant.id,
            Variant.inventory_policy,
            Variant.low_stock_threshold,
            Variant.sku,
            Variant.option1,
            Variant.option2,
            Variant.option3,
            StockLevel.id,
            StockLevel.available,
            exists().where(BundleComponent.bundle_variant_id == Variant.id),
            Location.id,
        )
        .select_from(Variant)
        .outerjoin(levels, and_(StockLevel.variant_id == Variant.id, Location.is_active.is_(True)))
        .where(Variant.id.in_(list(variant_ids)))
        .order_by(Variant.id, Location.priority, Location.id)
    ).all()
    found: dict[int, _Stock] = {}
    for row in rows:
        variant_id, policy, threshold, sku, *options = row[:7]
        level_id, available, is_bundle, location_id = row[7:]
        label = sku or " / ".join(o for o in options if o is not None) or "Default Title"
        stock = found.setdefault(variant_id, _Stock(policy, threshold, label, [], is_bundle))
        if level_id is not None:
            stock.levels.append(_Level(level_id, int(available), location_id))
    return found


def _one_location(stock: dict[int, _Stock], demand: dict[int, int]) -> int | None:
    """The first location (by priority) that has every variant of the demand in full, so
    the order ships in one parcel (and a bundle's components from one shelf); None when
    none has: each variant is then planned on its own (_plan_variant)."""
    if len(demand) < 2:
        return None
    serving = [
        {lv.location_id for lv in stock[variant_id].levels if lv.available >= quantity}
        for variant_id, quantity in demand.items()
    ]
    everywhere = set.intersection(*serving)
    first = stock[next(iter(demand))].levels  # every location's levels come by priority
    return next((lv.location_id for lv in first if lv.location_id in everywhere), None)


def _plan_variant(stock: _Stock, quantity: int) -> tuple[list[tuple[int, int]], int]:
    """Where to take `quantity` from: the first location (by priority) that has it all, else a
    split in priority order. Returns [(level_id, units)] and the units it could not place."""
    for level in stock.levels:
        if level.available >= quantity:
            return [(level.level_id, quantity)], 0
    plan, remaining = [], quantity
    for level in stock.levels:
        take = min(max(level.available, 0), remaining)
        if take:
            plan.append((level.level_id, take))
            remaining -= take
    return plan, remaining


@service
def reserve_stock(
    lines: Sequence[tuple[int, int]],
    *,
    reference: str,
    ttl: timedelta | None = None,
    now: datetime | None = None,
) -> list[Reservation]:
    """Hold a cart's units for `ttl`. All lines or none: an OutOfStock names every short variant.

    Demand is summed per variant and per level first (two lines of one variant must not each
    pass alone), and levels are updated in id order so overlapping carts cannot deadlock.

    The hot row's lock is held as briefly as possible: everything is read and the
    reservation rows are written first, and the conditional UPDATEs of the stock levels come
    last, so the caller's COMMIT follows them at once (the news that a variant just sold out
    or ran low is the only write that may follow). A refusal after some rows were written
    raises OutOfStock inside the transaction, which must then be rolled back (transaction()
    does; callers joining it let the error through).
    """
    if not reference:
        raise ValidationError("A reservation needs a reference.", field="reference")
    demand: dict[int, int] = defaultdict(int)
    for variant_id, quantity in lines:
        demand[int(variant_id)] += _check_quantity(quantity)
    now = now or utcnow()
    expires_at = now + (ttl or current_app.config.get("RESERVATION_TTL", DEFAULT_RESERVATION_TTL))
    with db.session.no_autoflush:  # a refusal leaves the caller's pending rows unwritten
        stock = _stock_of(demand)
        if any(found.is_bundle for found in stock.values()):  # its components are held
            demand = defaultdict(int, bundles.expand(demand.items()))
            stock = _stock_of(demand)
    if set(demand) - set(stock):
        raise ValidationError("A line refers to a variant that no longer exists.", field="lines")
    per_level: dict[int, int] = defaultdict(int)
    level_variant: dict[int, int] = {}
    shortages: list[Shortage] = []
    together = _one_location(stock, demand)
    for variant_id, quantity in sorted(demand.items()):
        if together is not None:
            level = next(lv for lv in stock[variant_id].levels if lv.location_id == together)
            plan, missing = [(level.level_id, quantity)], 0
        else:
            plan, missing = _plan_variant(stock[variant_id], quantity)
        if missing and stock[variant_id].policy != CONTINUE:
            shortages.append(Shortage(variant_id, quantity, quantity - missing))
        for level_id, units in plan:
            per_level[level_id] += units
            level_variant[level_id] = variant_id
    if shortages:
        raise _out_of_stock(shortages, stock)
    watched = bundles.watch(demand)  # read now: nothing is read after the UPDATEs below
    reservations = [
        Reservation(
            stock_level_id=level_id,
            variant_id=level_variant[level_id],
            quantity=per_level[level_id],
            reference=reference,
            status=ACTIVE,
            expires_at=expires_at,
            created_at=now,
        )
        for level_id in sorted(per_level)
    ]
    db.session.add_all(reservations)
    db.session.flush()
    left: dict[int, int] = {}  # level id -> available after our update
    for reservation in list(reservations):
        level_id, units = reservation.stock_level_id, reservation.quantity
        after = db.session.execute(
            update(StockLevel)
            .where(
                StockLevel.id == level_id,
                StockLevel.available >= units,
            )
            .values(reserved=StockLevel.reserved + units, updated_at=now)
            .returning(StockLevel.available)
            .execution_options(synchronize_session=False)
        ).scalar()
        if after is None:  # someone else got there between the plan and the update
            variant_id = level_variant[level_id]
            if stock[variant_id].policy == CONTINUE:
                # sold beyond stock anyway: hold nothing here rather than fail
                reservations.remove(reservation)
                db.session.delete(reservation)
                continue
            raise _out_of_stock([Shortage(variant_id, demand[variant_id], _available(variant_id))])
        left[level_id] = int(after)
    held: dict[int, int] = defaultdict(int)
    for reservation in reservations:
        held[reservation.variant_id] += reservation.quantity
    after_total = {
        variant_id: sum(left.get(lv.level_id, lv.available) for lv in stock[variant_id].levels)
        for variant_id in held
    }
    _note_hold_news(held, after_total, stock)
    gone = watched.crossed({v: -units for v, units in held.items()}, after_total)
    _note_stock_changed(gone)
    _note_stock_crossed(gone)
    return reservations


def refuse_if_short(lines: Sequence[tuple[int, int]]) -> None:
    """OutOfStock, worded as reserve_stock words it, when a line asks more than the shop can
    sell now: one read, no lock, nothing written, so "sold out" is said at once and the stock
    row is left to the shoppers who can still have it. Only a refusal is decided this way:
    a hold is still taken by reserve_stock's conditional UPDATE."""
    demand: dict[int, int] = defaultdict(int)
    for variant_id, quantity in lines:
        demand[int(variant_id)] += int(quantity)
    stock = _stock_of(demand)
    if any(found.is_bundle for found in stock.values()):
        demand = defaultdict(int, bundles.expand(demand.items()))
        stock = _stock_of(demand)
    shortages = [
        Shortage(variant_id, quantity, max(stock[variant_id].available, 0))
        for variant_id, quantity in sorted(demand.items())
        if variant_id in stock
        and stock[variant_id].policy != CONTINUE
        and stock[variant_id].available < quantity
    ]
    if shortages:
        raise _out_of_stock(shortages, stock)


def _note_hold_news(held: dict[int, int], after: dict[int, int], stock: dict[int, _Stock]) -> None:
    """The outbox events a hold may cause, from the counts its own UPDATEs returned: a variant
    that ran low (below its threshold) or sold out. Written only then, after the UPDATE."""
    for variant_id, units in held.items():
        now_available = after[variant_id]
        threshold = stock[variant_id].threshold
        if threshold is None:
            threshold = int(current_app.config["LOW_STOCK_THRESHOLD"])
        if now_available < threshold <= now_available + units:
            outbox.enqueue(
                "stock.low",
                {"variant_id": variant_id, "available": now_available, "threshold": threshold},
            )
    crossed = [v for v, units in held.items() if (after[v] > 0) != (after[v] + units > 0)]
    _note_stock_changed(crossed)
    _note_stock_crossed(crossed)  # sold out: the edge purges what lists it as in stock


def _available(variant_id: int) -> int:
    return int(
        db.session.scalar(
            select(func.coalesce(func.sum(StockLevel.available), 0))
            .join(Location, Location.id == StockLevel.location_id)
            .where(StockLevel.variant_id == variant_id, Location.is_active.is_(True))
        )
    )


def _out_of_stock(shortages: list[Shortage], stock: dict[int, _Stock] | None = None) -> OutOfStock:
    labels = {v: found.label for v, found in (stock or {}).items()}
    for shortage in shortages:
        if shortage.variant_id not in labels:
            variant = db.session.get(Variant, shortage.variant_id)
            if variant is not None:
                labels[variant.id] = variant.sku or variant.title
    parts = [
        f"{labels.get(s.variant_id, s.variant_id)}: {s.available} of {s.requested} available"
        for s in shortages
    ]
    return OutOfStock(
        "Not enough stock — " + "; ".join(parts) + ".",
        field="lines",
        shortages=[s.__dict__ for s in shortages],
    )


def _end_reservation(reservation_id: int, status: str, now: datetime) -> bool:
    """Move an active reservation to its end state exactly once (the row count decides)."""
    return (
        db.session.execute(
            update(Reservation)
            .where(Reservation.id == reservation_id, Reservation.status == ACTIVE)
            .values(status=status, ended_at=now)
            .execution_options(synchronize_session=False)
        ).rowcount
        == 1
    )


def _give_back(reservations: Iterable[Reservation], status: str, now: datetime) -> int:
    released = 0
    per_variant: dict[int, int] = defaultdict(int)
    for reservation in sorted(reservations, key=lambda r: (r.stock_level_id, r.id)):
        if _end_reservation(reservation.id, status, now):
            db.session.execute(
                update(StockLevel)
                .where(StockLevel.id == reservation.stock_level_id)
                .values(reserved=StockLevel.reserved - reservation.quantity, updated_at=now)
                .execution_options(synchronize_session=False)
            )
            released += reservation.quantity
            per_variant[reservation.variant_id] += reservation.quantity
    if per_variant:
        _note_availability_crossed(per_variant)
    return released


def active_reservations(reference: str) -> list[Reservation]:
    return list(
        db.session.scalars(
            select(Reservation)
            .where(Reservation.reference == reference, Reservation.status == ACTIVE)
            .order_by(Reservation.stock_level_id, Reservation.id)
        )
    )


@service
def release_reservation(reference: str, *, now: datetime | None = None) -> int:
    """Give a checkout's held units back (cart emptied, checkout abandoned); returns units."""
    return _give_back(active_reservations(reference), RELEASED, now or utcnow())


@service
def release_expired_reservations(*, now: datetime | None = None, limit: int = 1000) -> int:
    """The periodic sweep: expired holds go back to available. Returns units released."""
    now = now or utcnow()
    expired = list(
        db.session.scalars(
            select(Reservation)
            .where(Reservation.status == ACTIVE, Reservation.expires_at < now)
            .order_by(Reservation.stock_level_id, Reservation.id)
            .limit(limit)
        )
    )
    return _give_back(expired, EXPIRED, now)


def held_for(
    reference: str, *, extend_to: datetime, now: datetime | None = None
) -> list[tuple[int, int]] | None:
    """What a live hold holds, (variant_id, units) summed per variant, kept until at least
    `extend_to` on the way (one statement; no stock row is touched). None when nothing is
    held or part of the hold lapsed (an expired hold is not revived: its units may be
    someone else's by now)."""
    now = now or utcnow()
    live = and_(Reservation.expires_at >= now, Reservation.expires_at < extend_to)
    with transaction():
        rows = db.session.execute(
            update(Reservation)
            .where(Reservation.reference == reference, Reservation.status == ACTIVE)
            .values(expires_at=case((live, extend_to), else_=Reservation.expires_at))
            .returning(Reservation.variant_id, Reservation.quantity, Reservation.expires_at)
            .execution_options(synchronize_session=False)
        ).all()
    if not rows or any(expires_at < now for _, _, expires_at in rows):
        return None
    held: dict[int, int] = defaultdict(int)
    for variant_id, quantity, _ in rows:
        held[variant_id] += quantity
    return sorted(held.items())


@service
def commit_reservation(
    reference: str,
    *,
    order_reference: str,
    now: datetime | None = None,
    expect: Sequence[tuple[int, int]] | None = None,
) -> list[Allocation]:
    """An order was placed: its held units become allocated to it, at the same locations.

    One conditional UPDATE ends the holds (returning what they held), the allocations are
    written, and the stock levels' counters move last (see reserve_stock). `expect` is what
    the caller saw held, (variant_id, units) per variant: anything else is a Conflict."""
    now = now or utcnow()
    holds = db.session.execute(
        update(Reservation)
        .where(Reservation.reference == reference, Reservation.status == ACTIVE)
        .values(status=COMMITTED, ended_at=now)
        .returning(
            Reservation.id,
            Reservation.stock_level_id,
            Reservation.variant_id,
            Reservation.quantity,
            Reservation.expires_at,
        )
        .execution_options(synchronize_session=False)
    ).all()
    if not holds:
        raise Conflict("This checkout holds no stock (it may have expired).", field="reference")
    if any(hold.expires_at < now for hold in holds):
        raise Conflict("The stock hold for this checkout has expired.", field="reference")
    if expect is not None:
        have: dict[int, int] = defaultdict(int)
        for hold in holds:
            have[hold.variant_id] += hold.quantity
        if sorted(have.items()) != sorted(expect):
            raise Conflict("The items held do not match the order.", field="reference")
    holds = sorted(holds, key=lambda h: (h.stock_level_id, h.id))
    allocations = [
        Allocation(
            stock_level_id=hold.stock_level_id,
            variant_id=hold.variant_id,
            quantity=hold.quantity,
            reference=order_reference,
            status=ALLOCATED,
            created_at=now,
        )
        for hold in holds
    ]
    db.session.add_all(allocations)
    db.session.flush()
    moved: dict[int, int] = defaultdict(int)
    for hold in holds:
        moved[hold.stock_level_id] += hold.quantity
    for level_id in sorted(moved):
        db.session.execute(
            update(StockLevel)
            .where(StockLevel.id == level_id)
            .values(
                reserved=StockLevel.reserved - moved[level_id],
                allocated=StockLevel.allocated + moved[level_id],
                updated_at=now,
            )
            .execution_options(synchronize_session=False)
        )
    return allocations


@service
def ship_allocation(
    allocation_id: int, *, by: Any, quantity: int | None = None, reference: str = ""
) -> StockMovement:
    """Units leave the building: allocated and on_hand both go down, and the ledger says sold."""
    allocation = db.session.get(Allocation, allocation_id)
    if allocation is None:
        raise NotFound("No such allocation.")
    quantity = allocation.outstanding if quantity is None else _check_quantity(quantity)
    if quantity <= 0:
        raise Conflict("Nothing left to ship on this allocation.", field="quantity")
    moved = db.session.execute(
        update(Allocation)
        .where(
            Allocation.id == allocation.id,
            Allocation.status == ALLOCATED,
            Allocation.shipped + quantity <= Allocation.quantity,
        )
        .values(shipped=Allocation.shipped + quantity)
        .execution_options(synchronize_session=False)
    ).rowcount
    if moved != 1:
        raise Conflict("That is more than is left to ship on this allocation.", field="quantity")
    db.session.execute(
        update(StockLevel)
        .where(StockLevel.id == allocation.stock_level_id)
        .values(
            allocated=StockLevel.allocated - quantity,
            on_hand=StockLevel.on_hand - quantity,
            updated_at=utcnow(),
        )
        .execution_options(synchronize_session=False)
    )
    movement = StockMovement(
        stock_level_id=allocation.stock_level_id,
        delta=-quantity,
        reason=SOLD,
        reference=(reference or allocation.reference)[:120],
        actor_id=getattr(by, "id", None),
        created_at=utcnow(),
    )
    db.session.add(movement)
    db.session.flush()
    db.session.refresh(allocation)
    if allocation.shipped == allocation.quantity:
        allocation.status = SHIPPED
    db.session.expire(allocation.stock_level)
    return movement


@service
def cancel_allocation(allocation_id: int, *, by: Any) -> int:
    """An order line was cancelled before shipping: its outstanding units become available."""
    allocation = db.session.get(Allocation, allocation_id)
    if allocation is None:
        raise NotFound("No such allocation.")
    ended = db.session.execute(
        update(Allocation)
        .where(Allocation.id == allocation.id, Allocation.status == ALLOCATED)
        .values(status=CANCELLED)
        .execution_options(synchronize_session=False)
    ).rowcount
    if ended != 1:
        return 0
    # Read what is left to ship only now that our UPDATE holds the row: a shipment committed
    # after the object was loaded must not be given back to available a second time.
    db.session.refresh(allocation)
    outstanding = allocation.quantity - allocation.shipped
    if outstanding <= 0:
        return 0
    db.session.execute(
        update(StockLevel)
        .where(StockLevel.id == allocation.stock_level_id)
        .values(allocated=StockLevel.allocated - outstanding, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    _note_stock_changed([allocation.variant_id])
    _note_stock_crossed(_crossed({allocation.variant_id: outstanding}))
    audit.record(
        by,
        "stock.cancel_allocation",
        subject_type="allocation",
        subject_id=allocation.id,
        subject_label=allocation.reference,
        after={"released": outstanding},
    )
    return outstanding


@service
def release_allocated(reference: str, variant_id: int, quantity: int, *, by: Any) -> int:
    """Give back `quantity` units of a variant promised to `reference` (an order line was
    reduced before shipping), from its lowest-priority allocations first. Each allocation is
    shrunk by a conditional UPDATE, so units already shipped are never given back. Returns the
    units released (less than asked when fewer were outstanding)."""
    _check_quantity(quantity)
    released = 0
    allocations = list(
        db.session.scalars(
            select(Allocation)
            .join(StockLevel, StockLevel.id == Allocation.stock_level_id)
            .join(Location, Location.id == StockLevel.location_id)
            .where(
                Allocation.reference == reference,
                Allocation.variant_id == variant_id,
                Allocation.status == ALLOCATED,
            )
            .order_by(Location.priority.desc(), Allocation.id.desc())
        )
    )
    for allocation in allocations:
        if released >= quantity:
            break
        take = min(quantity - released, allocation.quantity - allocation.shipped)
        if take <= 0:
            continue
        # Decided by the row as the UPDATE finds it (another release may have shrunk it
        # since it was read): releasing all that is left closes the allocation, cancelled
        # (quantity kept for the record) if nothing shipped, otherwise shipped.
        empties = Allocation.quantity - take == Allocation.shipped
        untouched = Allocation.shipped == 0
        moved = db.session.execute(
            update(Allocation)
            .where(
                Allocation.id == allocation.id,
                Allocation.status == ALLOCATED,
                Allocation.quantity - Allocation.shipped >= take,
            )
            .values(
                quantity=case(
                    (and_(empties, untouched), Allocation.quantity),
                    else_=Allocation.quantity - take,
                ),
                status=case(
                    (and_(empties, untouched), CANCELLED),
                    (empties, SHIPPED),
                    else_=Allocation.status,
                ),
            )
            .execution_options(synchronize_session=False)
        ).rowcount
        if moved != 1:
            continue
        db.session.execute(
            update(StockLevel)
            .where(StockLevel.id == allocation.stock_level_id)
            .values(allocated=StockLevel.allocated - take, updated_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        released += take
    if released:
        _note_stock_changed([variant_id])
        _note_stock_crossed(_crossed({variant_id: released}))
    audit.record(
        by,
        "stock.release_allocated",
        subject_type="allocation",
        subject_label=reference,
        after={"variant": variant_id, "released": released},
    )
    return released


# -- low stock and availability -----------------------------------------------------------------


def low_stock_threshold(variant: Variant) -> int:
    if variant.low_stock_threshold is not None:
        return variant.low_stock_threshold
    return int(current_app.config["LOW_STOCK_THRESHOLD"])


def _note_low_stock(drops: dict[int, int]) -> None:
    """An outbox event when a variant's available total crosses below its threshold."""
    for variant in db.session.scalars(select(Variant).where(Variant.id.in_(drops))):
        after = _available(variant.id)
        threshold = low_stock_threshold(variant)
        if after < threshold <= after + drops[variant.id]:
            outbox.enqueue(
                "stock.low", {"variant_id": variant.id, "available": after, "threshold": threshold}
            )


STOCK_CHANGED = "stock.changed"  # outbox topic: search refreshes the products' availability
# Outbox topic: variants that just sold out or came back (available units crossed zero); the
# edge cache purges the pages that filter or count by stock. Holds, sales and receipts that
# leave a variant on the same side of zero are not news, so a flash sale purges once.
STOCK_CROSSED = "stock.crossed"


def _note_stock_changed(variant_ids: Iterable[int]) -> None:
    """One `stock.changed` outbox event per transaction for variants whose stock moved."""
    marked: set[int] = db.session.info.setdefault("tx.stock_changed", set())
    fresh = sorted(set(bundles.with_bundles(variant_ids)) - marked)
    if fresh:
        marked.update(fresh)
        outbox.enqueue(STOCK_CHANGED, {"variant_ids": fresh})
        sold_out.recheck_after_commit(fresh)  # stock may be back: no stale "sold out"


def _note_stock_crossed(variant_ids: Iterable[int]) -> None:
    """One `stock.crossed` outbox event per transaction for variants that crossed zero."""
    marked: set[int] = db.session.info.setdefault("tx.stock_crossed", set())
    fresh = sorted({int(v) for v in variant_ids} - marked)
    if fresh:
        marked.update(fresh)
        outbox.enqueue(STOCK_CROSSED, {"variant_ids": fresh})


def _crossed(changes: dict[int, int]) -> list[int]:
    """The variants whose available units crossed zero by `changes` (variant id to the change
    of its available units, already applied in this transaction)."""
    after = dict(
        db.session.execute(
            select(
                StockLevel.variant_id,
                func.sum(StockLevel.available),
            )
            .join(Location, Location.id == StockLevel.location_id)
            .where(StockLevel.variant_id.in_(list(changes)), Location.is_active.is_(True))
            .group_by(StockLevel.variant_id)
        ).all()
    )
    return [
        variant_id
        for variant_id, delta in changes.items()
        if (int(after.get(variant_id) or 0) > 0) != (int(after.get(variant_id) or 0) - delta > 0)
    ] + bundles.watch(changes).crossed(changes)


def _note_availability_crossed(changes: dict[int, int]) -> None:
    """Holds come and go all day: only a variant that just sold out (or came back) is news for
    search and the edge cache. `changes` maps variant id to the change of its available units."""
    crossed = _crossed(changes)
    _note_stock_changed(crossed)
    _note_stock_crossed(crossed)


IN_STOCK, LOW, SOLD_OUT, BACKORDER = "in_stock", "low", "sold_out", "backorder"


@dataclass(frozen=True)
class Availability:
    variant_id: int
    available: int
    status: str
    can_buy: bool


def availability(variant_ids: Sequence[int]) -> dict[int, Availability]:
    """What the shop shows for each variant, from the same counters reservations use (one
    query)."""
    ids = list(set(variant_ids))
    if not ids:
        return {}
    levels = join(StockLevel, Location, Location.id == StockLevel.location_id)
    rows = db.session.execute(
        select(
            Variant.id,
            Variant.inventory_policy,
            Variant.low_stock_threshold,
            func.sum(StockLevel.available),
            exists().where(BundleComponent.bundle_variant_id == Variant.id),
        )
        .select_from(Variant)
        .outerjoin(levels, and_(StockLevel.variant_id == Variant.id, Location.is_active.is_(True)))
        .where(Variant.id.in_(ids))
        .group_by(Variant.id, Variant.inventory_policy, Variant.low_stock_threshold)
    ).all()
    default_threshold = int(current_app.config["LOW_STOCK_THRESHOLD"])
    # A bundle's stock is what its components allow (read only when there is one).
    made_of = bundles.bundles_stock(row[0] for row in rows if row[4])
    result = {}
    for variant_id, policy, threshold, total, _ in rows:
        available = max(int(total or 0), 0)
        continue_selling = policy == CONTINUE
        if variant_id in made_of:
            available = made_of[variant_id].available
            continue_selling = made_of[variant_id].unlimited
        if available <= 0:
            status = BACKORDER if continue_selling else SOLD_OUT
        elif available < (default_threshold if threshold is None else threshold):
            status = LOW
        else:
            status = IN_STOCK
        result[variant_id] = Availability(
            variant_id, available, status, available > 0 or continue_selling
        )
    return result


# -- reconcile ----------------------------------------------------------------------------------


@dataclass
class Drift:
    level_id: int
    field: str
    counter: int
    computed: int


def _drifts(levels: dict[int, StockLevel] | None = None) -> list[Drift]:
    """Counters that differ from the ledger and the hold rows: every level, or only `levels`
    (then their loaded counters are compared)."""

    def only(stmt: Any, column: Any) -> Any:
        return stmt if levels is None else stmt.where(column.in_(list(levels)))

    ledger: dict[str, dict[int, int]] = defaultdict(dict)  # bucket -> level -> its sum
    for level_id, bucket, total in db.session.execute(
        only(
            select(
                StockMovement.stock_level_id, StockMovement.bucket, func.sum(StockMovement.delta)
            ),
            StockMovement.stock_level_id,
        ).group_by(StockMovement.stock_level_id, StockMovement.bucket)
    ).all():
        ledger[bucket][level_id] = int(total or 0)
    held = dict(
        db.session.execute(
            only(
                select(Reservation.stock_level_id, func.sum(Reservation.quantity)),
                Reservation.stock_level_id,
            )
            .where(Reservation.status == ACTIVE)
            .group_by(Reservation.stock_level_id)
        ).all()
    )
    promised = dict(
        db.session.execute(
            only(
                select(
                    Allocation.stock_level_id, func.sum(Allocation.quantity - Allocation.shipped)
                ),
                Allocation.stock_level_id,
            )
            .where(Allocation.status == ALLOCATED)
            .group_by(Allocation.stock_level_id)
        ).all()
    )
    columns = (
        StockLevel.id,
        StockLevel.on_hand,
        StockLevel.reserved,
        StockLevel.allocated,
        *(getattr(StockLevel, state) for state in UNAVAILABLE_STATES),
    )
    if levels is None:
        rows = db.session.execute(select(*columns)).all()
    else:
        rows = [tuple(getattr(lv, c.key) for c in columns) for lv in levels.values()]
    drifts: list[Drift] = []
    for level_id, on_hand, reserved, allocated, *states in rows:
        for field, counter, computed in (
            ("on_hand", on_hand, ledger[ON_HAND].get(level_id, 0)),
            ("reserved", reserved, int(held.get(level_id) or 0)),
            ("allocated", allocated, int(promised.get(level_id) or 0)),
            *(
                (state, units, ledger[state].get(level_id, 0))
                for state, units in zip(UNAVAILABLE_STATES, states, strict=True)
            ),
        ):
            if counter != computed:
                drifts.append(Drift(level_id, field, counter, computed))
    return drifts


def reconcile(*, fix: bool = False, by: Any = None) -> list[Drift]:
    """Compare every level's counters with what the ledger and the live holds say.

    on_hand must equal the sum of its movements (each unavailable state the sum of the
    movements of its bucket); reserved the active reservations; allocated the unshipped part
    of live allocations. With `fix`, counters are set to the computed values
    (the ledger and the hold rows are the truth), each repair audited. The repair re-checks each
    drifted level under its row lock, so a change committed between the report's queries (a
    live shop) is never "repaired" to a value computed before it.
    """
    drifts = _drifts()
    if fix and drifts:
        with transaction():
            levels = lock_levels(d.level_id for d in drifts)
            drifts = _drifts(levels)
            for drift in drifts:
                level = levels[drift.level_id]
                setattr(level, drift.field, drift.computed)
                _record(
                    by,
                    "stock.reconcile",
                    level,
                    field=drift.field,
                    before=drift.counter,
                    after=drift.computed,
                )
    return drifts

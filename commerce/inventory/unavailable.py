"""Unavailable stock: units on hand that are not for sale, damaged, in quality control, or kept
back as safety stock (per variant and location).

Each state is a counter on the stock level, moved only by a ledger row in that state's bucket
(`StockMovement.bucket`; on_hand does not move), written with one conditional UPDATE: setting
units aside fits only if they are available (the same expression the CHECK and reservations
use: on hand - allocated - reserved - damaged - quality control - safety stock), releasing them
only if the state holds that many. Reconcile checks each counter against its bucket's sum.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import update

from commerce import audit
from commerce.db import service, utcnow
from commerce.errors import Conflict, OutOfStock, ValidationError
from commerce.extensions import db
from commerce.inventory.models import (
    DAMAGED,
    HOLD_BACK,
    QUALITY_CONTROL,
    RELEASE,
    SAFETY_STOCK,
    UNAVAILABLE_STATES,
    StockLevel,
    StockMovement,
)
from commerce.inventory.services import (
    _check_quantity,
    _chosen_location,
    _note_availability_crossed,
    _note_low_stock,
    _variant_label,
    lock_levels,
    stock_level_for,
)

STATE_LABELS = {
    DAMAGED: "Damaged",
    QUALITY_CONTROL: "Quality control",
    SAFETY_STOCK: "Safety stock",
}
MAX_REASON = 200


def _checked(state: Any, reason: Any) -> str:
    if state not in UNAVAILABLE_STATES:
        raise ValidationError("Choose damaged, quality control or safety stock.", field="state")
    reason = str(reason or "").strip()
    if not reason:
        raise ValidationError("Say why (it goes in the stock ledger).", field="reason")
    if len(reason) > MAX_REASON:
        raise ValidationError(f"At most {MAX_REASON} characters.", field="reason")
    return reason


def _move(level: StockLevel, state: str, delta: int, *, reason: str, by: Any) -> StockMovement:
    """One conditional UPDATE of the state's counter and its ledger row. Setting aside
    (delta > 0) fits only if the units are available; releasing only if the state has them."""
    counter = getattr(StockLevel, state)
    fits = StockLevel.available >= delta if delta > 0 else counter >= -delta
    moved = db.session.execute(
        update(StockLevel)
        .where(StockLevel.id == level.id, fits)
        .values({state: counter + delta, "updated_at": utcnow()})
        .execution_options(synchronize_session=False)
    ).rowcount
    if moved != 1:
        db.session.refresh(level)
        if delta > 0:
            raise OutOfStock(
                f"Only {max(level.available, 0)} available to set aside at {level.location.name}.",
                field="quantity",
                available=max(level.available, 0),
            )
        raise Conflict(
            f"Only {getattr(level, state)} {STATE_LABELS[state].lower()} at "
            f"{level.location.name} to release.",
            field="quantity",
        )
    movement = StockMovement(
        stock_level_id=level.id,
        delta=delta,
        reason=HOLD_BACK if delta > 0 else RELEASE,
        bucket=state,
        note=reason,
        actor_id=getattr(by, "id", None),
        created_at=utcnow(),
    )
    db.session.add(movement)
    db.session.flush()
    db.session.expire(level)
    _note_availability_crossed({level.variant_id: -delta})
    if delta > 0:
        _note_low_stock({level.variant_id: delta})
    audit.record(
        by,
        "stock.set_aside" if delta > 0 else "stock.release_set_aside",
        subject_type="stock_level",
        subject_id=level.id,
        subject_label=f"{_variant_label(level.variant_id)} @ {level.location.code}",
        after={"state": STATE_LABELS[state], "units": abs(delta), "reason": reason},
    )
    return movement


@service
def set_aside(
    variant_id: int, *, location_id: Any, state: Any, quantity: Any, reason: Any, by: Any
) -> StockMovement:
    """Available units become damaged, in quality control or safety stock: still on hand, no
    longer for sale (OutOfStock when fewer are available)."""
    reason = _checked(state, reason)
    _check_quantity(quantity)
    level = stock_level_for(variant_id, _chosen_location(location_id).id)
    return _move(level, state, quantity, reason=reason, by=by)


@service
def release_set_aside(
    variant_id: int, *, location_id: Any, state: Any, quantity: Any, reason: Any, by: Any
) -> StockMovement:
    """Units of a state go back to sale (passed quality control, repaired, safety lowered)."""
    reason = _checked(state, reason)
    _check_quantity(quantity)
    level = stock_level_for(variant_id, _chosen_location(location_id).id)
    return _move(level, state, -quantity, reason=reason, by=by)


@service
def write_off_set_aside(
    variant_id: int, *, location_id: Any, state: Any, quantity: Any, reason: Any, by: Any
) -> StockMovement:
    """Damaged (or failed quality control) units leave the building: the state's counter and
    on hand go down together, in one conditional UPDATE (the state must hold them), with a
    ledger row in each bucket. Available does not change, so they are never for sale between
    the two."""
    reason = _checked(state, reason)
    if state == SAFETY_STOCK:
        raise ValidationError("Safety stock is lowered, not written off.", field="state")
    _check_quantity(quantity)
    level = stock_level_for(variant_id, _chosen_location(location_id).id)
    counter = getattr(StockLevel, state)
    moved = db.session.execute(
        update(StockLevel)
        .where(StockLevel.id == level.id, counter >= quantity, StockLevel.on_hand >= quantity)
        .values(
            {
                state: counter - quantity,
                "on_hand": StockLevel.on_hand - quantity,
                "updated_at": utcnow(),
            }
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    if moved != 1:
        db.session.refresh(level)
        raise Conflict(
            f"Only {getattr(level, state)} {STATE_LABELS[state].lower()} at "
            f"{level.location.name} to write off.",
            field="quantity",
        )
    now, actor = utcnow(), getattr(by, "id", None)
    out = StockMovement(
        stock_level_id=level.id,
        delta=-quantity,
        reason=DAMAGED,
        note=reason,
        actor_id=actor,
        created_at=now,
    )
    db.session.add_all(
        [
            StockMovement(
                stock_level_id=level.id,
                delta=-quantity,
                reason=RELEASE,
                bucket=state,
                note=reason,
                actor_id=actor,
                created_at=now,
            ),
            out,
        ]
    )
    db.session.flush()
    db.session.expire(level)
    audit.record(
        by,
        "stock.write_off",
        subject_type="stock_level",
        subject_id=level.id,
        subject_label=f"{_variant_label(level.variant_id)} @ {level.location.code}",
        after={"state": STATE_LABELS[state], "units": quantity, "reason": reason},
    )
    return out


@service
def set_safety_stock(
    variant_id: int, *, location_id: Any, units: Any, by: Any, reason: str = ""
) -> StockMovement | None:
    """Keep `units` back from sale at a location: the difference to what is kept now is one
    movement (None when it is already so). Raising it needs the units available."""
    _check_quantity(units, field="units", allow_zero=True)
    level = stock_level_for(variant_id, _chosen_location(location_id).id)
    level = lock_levels([level.id])[level.id]
    delta = units - level.safety_stock
    if delta == 0:
        return None
    note = (reason or "").strip()[:MAX_REASON] or f"Safety stock set to {units}"
    try:
        return _move(level, SAFETY_STOCK, delta, reason=note, by=by)
    except OutOfStock as exc:
        raise OutOfStock(exc.message, field="units", **exc.details) from None

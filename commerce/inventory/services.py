"""Stock services. Every change of on_hand is a ledger row written with the counter update.

(The inventory issue builds out adjustments, counts, transfers and reservations; receiving is
here first because the demo shop and the catalog import book opening stock.)
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update

from commerce import audit
from commerce.db import transaction, utcnow
from commerce.errors import NotFound, ValidationError
from commerce.extensions import db
from commerce.inventory.models import RECEIVED, Location, StockLevel, StockMovement


def default_location() -> Location:
    location = db.session.scalar(
        select(Location)
        .where(Location.is_active.is_(True))
        .order_by(Location.priority, Location.id)
        .limit(1)
    )
    if location is None:
        raise NotFound("Create a stock location first.")
    return location


def stock_level_for(variant_id: int, location_id: int) -> StockLevel:
    """The level row for a variant at a location, created empty when missing."""
    level = db.session.scalar(
        select(StockLevel).where(
            StockLevel.variant_id == variant_id, StockLevel.location_id == location_id
        )
    )
    if level is None:
        level = StockLevel(
            variant_id=variant_id, location_id=location_id, on_hand=0, allocated=0, reserved=0
        )
        db.session.add(level)
        db.session.flush()
    return level


def receive_stock(
    variant_id: int,
    *,
    quantity: int,
    by: Any,
    location_id: int | None = None,
    reference: str = "",
    note: str = "",
    idempotency_key: str | None = None,
) -> StockMovement:
    """Book received units; a repeated idempotency key returns the first movement unchanged."""
    if not isinstance(quantity, int) or quantity <= 0:
        raise ValidationError("Receive a whole number of units above zero.", field="quantity")
    with transaction():
        if idempotency_key:
            existing = db.session.scalar(
                select(StockMovement).where(StockMovement.idempotency_key == idempotency_key)
            )
            if existing is not None:
                return existing
        location = db.session.get(Location, location_id) if location_id else default_location()
        if location is None:
            raise ValidationError("Choose an existing location.", field="location_id")
        level = stock_level_for(variant_id, location.id)
        db.session.execute(
            update(StockLevel)
            .where(StockLevel.id == level.id)
            .values(on_hand=StockLevel.on_hand + quantity, updated_at=utcnow())
        )
        movement = StockMovement(
            stock_level_id=level.id,
            delta=quantity,
            reason=RECEIVED,
            reference=reference[:120],
            note=note,
            actor_id=getattr(by, "id", None),
            idempotency_key=idempotency_key,
            created_at=utcnow(),
        )
        db.session.add(movement)
        db.session.flush()
        db.session.expire(level)
        audit.record(
            by,
            "stock.receive",
            subject_type="stock_level",
            subject_id=level.id,
            subject_label=f"variant {variant_id} @ {location.code}",
            after={"delta": quantity, "reference": reference},
        )
    return movement

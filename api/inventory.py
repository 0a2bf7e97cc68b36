"""Locations, stock levels and the stock ledger; receive, adjust and transfer through the
inventory services (the same ledger rows, conditional UPDATEs and audit as the console)."""

from __future__ import annotations

from typing import Literal

from flask import request
from pydantic import BaseModel, Field
from spectree import Response as Responses

from api.schemas import Id, Links, PageQuery, next_link, page_limit, paged
from api.web import (
    ERRORS,
    WRITE_ERRORS,
    ApiModel,
    ApiProblem,
    actor,
    bp,
    derived_key,
    scope,
    security,
    spec,
)
from api.web import timestamp as ts
from commerce.catalog.services import get_variant
from commerce.errors import NotFound
from commerce.inventory.models import Location, StockLevel, StockMovement
from commerce.inventory.queries import level_of, levels_after, movements_after
from commerce.inventory.services import (
    active_locations,
    adjust_stock,
    receive_stock,
    transfer_stock,
)

TAG = "inventory"


class LocationOut(BaseModel):
    id: int
    code: str
    name: str
    kind: str
    priority: int
    is_active: bool
    created_at: str | None


class LocationList(BaseModel):
    data: list[LocationOut]


class LevelOut(BaseModel):
    id: int
    variant_id: int
    sku: str | None
    location_id: int
    on_hand: int
    allocated: int
    reserved: int
    unavailable: int = Field(
        description="On hand but not for sale: damaged, in quality control, safety stock."
    )
    available: int
    updated_at: str | None


class LevelPage(BaseModel):
    data: list[LevelOut]
    links: Links


class MovementOut(BaseModel):
    id: int
    variant_id: int
    location_id: int
    delta: int
    bucket: str = Field(
        description="The counter `delta` changes: on_hand, or an unavailable state (damaged, "
        "quality_control, safety_stock; on hand does not move)."
    )
    reason: str
    reference: str
    note: str
    created_at: str | None


class MovementPage(BaseModel):
    data: list[MovementOut]
    links: Links


class StockQuery(PageQuery):
    variant_id: Id | None = None
    location_id: Id | None = None


class Receive(ApiModel):
    variant_id: Id
    quantity: int = Field(gt=0)
    location_id: Id | None = Field(None, description="The default location when absent.")
    reference: str = Field("", max_length=120, description="A purchase order, an ASN...")
    note: str = ""


class Adjust(ApiModel):
    variant_id: Id
    location_id: Id
    delta: int = Field(description="Units to add (found, correction) or remove (damaged, lost).")
    reason: Literal["damaged", "lost", "found", "correction"]
    reference: str = Field("", max_length=120)
    note: str = ""


class Transfer(ApiModel):
    variant_id: Id
    from_location_id: Id
    to_location_id: Id
    quantity: int = Field(gt=0)
    reference: str = Field("", max_length=120)
    note: str = ""


class Booked(BaseModel):
    """What a stock change wrote: its ledger rows and the levels as they are now."""

    movements: list[MovementOut]
    levels: list[LevelOut]


def render_location(location: Location) -> LocationOut:
    return LocationOut(
        id=location.id,
        code=location.code,
        name=location.name,
        kind=location.kind,
        priority=location.priority,
        is_active=location.is_active,
        created_at=ts(location.created_at),
    )


def render_level(level: StockLevel, sku: str | None) -> LevelOut:
    return LevelOut(
        id=level.id,
        variant_id=level.variant_id,
        sku=sku,
        location_id=level.location_id,
        on_hand=level.on_hand,
        allocated=level.allocated,
        reserved=level.reserved,
        unavailable=level.unavailable,
        available=level.available,
        updated_at=ts(level.updated_at),
    )


def render_movement(movement: StockMovement, level: StockLevel) -> MovementOut:
    return MovementOut(
        id=movement.id,
        variant_id=level.variant_id,
        location_id=level.location_id,
        delta=movement.delta,
        bucket=movement.bucket,
        reason=movement.reason,
        reference=movement.reference,
        note=movement.note,
        created_at=ts(movement.created_at),
    )


def _booked(*movements: StockMovement) -> Booked:
    levels = [level_of(m) for m in movements]
    return Booked(
        movements=[render_movement(m, lv) for m, lv in zip(movements, levels, strict=True)],
        levels=[render_level(lv, get_variant(lv.variant_id).sku) for lv in levels],
    )


def known_variant(variant_id: int) -> int:
    """An unknown variant is the body's error (422 at /variant_id), not a missing URL."""
    try:
        get_variant(variant_id)
    except NotFound:
        raise ApiProblem(
            422, "No such variant.", code="invalid", errors=[("/variant_id", "No such variant.")]
        ) from None
    return variant_id


@bp.get("/locations")
@scope("inventory:read")
@spec.validate(
    resp=Responses(HTTP_200=LocationList, **ERRORS), tags=[TAG], security=security("inventory:read")
)
def list_locations() -> LocationList:
    """List the active stock locations, in allocation priority"""
    return LocationList(data=[render_location(loc) for loc in active_locations()])


@bp.get("/inventory/levels")
@scope("inventory:read")
@spec.validate(
    query=StockQuery,
    resp=Responses(HTTP_200=LevelPage, **ERRORS),
    tags=[TAG],
    security=security("inventory:read"),
)
def list_levels() -> tuple:
    """List stock levels by variant and location

    `available` = `on_hand` - `allocated` (promised to orders) - `reserved` (held by
    checkouts). Keyset pages: follow `links.next`."""
    query: StockQuery = request.context.query  # type: ignore[attr-defined]
    rows, cursor = levels_after(
        query.cursor,
        limit=page_limit(query.limit),
        variant_id=query.variant_id,
        location_id=query.location_id,
    )
    nxt = next_link(
        "api.list_levels",
        cursor,
        limit=query.limit,
        variant_id=query.variant_id,
        location_id=query.location_id,
    )
    page = LevelPage(data=[render_level(lv, sku) for lv, sku in rows], links=Links(next=nxt))
    return paged(page, nxt)


@bp.get("/inventory/movements")
@scope("inventory:read")
@spec.validate(
    query=StockQuery,
    resp=Responses(HTTP_200=MovementPage, **ERRORS),
    tags=[TAG],
    security=security("inventory:read"),
)
def list_movements() -> tuple:
    """Read the stock ledger, oldest first

    Every change of on-hand stock is one row: received, sold, returned, adjusted, counted,
    transferred. Keyset pages: follow `links.next`."""
    query: StockQuery = request.context.query  # type: ignore[attr-defined]
    rows, cursor = movements_after(
        query.cursor,
        limit=page_limit(query.limit),
        variant_id=query.variant_id,
        location_id=query.location_id,
    )
    nxt = next_link(
        "api.list_movements",
        cursor,
        limit=query.limit,
        variant_id=query.variant_id,
        location_id=query.location_id,
    )
    page = MovementPage(data=[render_movement(m, lv) for m, lv in rows], links=Links(next=nxt))
    return paged(page, nxt)


@bp.post("/inventory/receive")
@scope("inventory:write")
@spec.validate(
    json=Receive,
    resp=Responses(HTTP_201=Booked, **WRITE_ERRORS),
    tags=[TAG],
    security=security("inventory:write"),
)
def receive() -> tuple:
    """Receive units into a location"""
    body: Receive = request.context.json  # type: ignore[attr-defined]
    movement = receive_stock(
        known_variant(body.variant_id),
        quantity=body.quantity,
        location_id=body.location_id,
        reference=body.reference,
        note=body.note,
        by=actor(),
        idempotency_key=derived_key(),
    )
    return _booked(movement), 201


@bp.post("/inventory/adjust")
@scope("inventory:write")
@spec.validate(
    json=Adjust,
    resp=Responses(HTTP_201=Booked, **WRITE_ERRORS),
    tags=[TAG],
    security=security("inventory:write"),
)
def adjust() -> tuple:
    """Adjust stock at a location: damaged, lost, found or a correction

    Damaged and lost only remove units, found only adds; 409 when fewer are available."""
    body: Adjust = request.context.json  # type: ignore[attr-defined]
    movement = adjust_stock(
        known_variant(body.variant_id),
        location_id=body.location_id,
        delta=body.delta,
        reason=body.reason,
        reference=body.reference,
        note=body.note,
        by=actor(),
        idempotency_key=derived_key(),
    )
    return _booked(movement), 201


@bp.post("/inventory/transfer")
@scope("inventory:write")
@spec.validate(
    json=Transfer,
    resp=Responses(HTTP_201=Booked, **WRITE_ERRORS),
    tags=[TAG],
    security=security("inventory:write"),
)
def transfer() -> tuple:
    """Move units from one location to another, in one transaction"""
    body: Transfer = request.context.json  # type: ignore[attr-defined]
    out, into = transfer_stock(
        known_variant(body.variant_id),
        from_location_id=body.from_location_id,
        to_location_id=body.to_location_id,
        quantity=body.quantity,
        reference=body.reference,
        note=body.note,
        by=actor(),
        idempotency_key=derived_key(),
    )
    return _booked(out, into), 201

"""Fulfillment: pick from the allocations at a location, ship in parts, the ledger follows."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from commerce.errors import InvalidTransition, ValidationError
from commerce.extensions import db
from commerce.inventory.models import Allocation, StockLevel, StockMovement
from commerce.inventory.services import availability
from commerce.orders.fulfillment import (
    cancel_fulfillment,
    create_fulfillment,
    pickable,
    ship_fulfillment,
)
from commerce.orders.models import Order
from commerce.outbox import dispatch_pending


def location_of(order):
    (location_id,) = pickable(order).keys()
    return location_id


def ledger_consistent():
    for level in db.session.scalars(select(StockLevel)):
        total = db.session.scalar(
            select(func.coalesce(func.sum(StockMovement.delta), 0)).where(
                StockMovement.stock_level_id == level.id
            )
        )
        assert total == level.on_hand, level.id


def test_partial_then_full_fulfillment(place, make_staff, mail_dir):
    warehouse = make_staff("warehouse")
    order = place(3)
    location = location_of(order)
    line = order.lines[0]
    first = create_fulfillment(order, location_id=location, lines={line.id: 1}, by=warehouse)
    assert pickable(order)[location][0].quantity == 2  # one unit is in the parcel
    ship_fulfillment(first, carrier="UPS", tracking_number="1Z999", by=warehouse)
    order = db.session.get(Order, order.id)
    assert order.fulfillment_status == "partially_fulfilled"
    assert order.lines[0].fulfilled_quantity == 1
    level = db.session.scalar(select(StockLevel).where(StockLevel.variant_id == line.variant_id))
    assert (level.on_hand, level.allocated) == (9, 2)
    second = create_fulfillment(order, location_id=location, by=warehouse)
    ship_fulfillment(second, carrier="UPS", tracking_number="1Z998", by=warehouse)
    order = db.session.get(Order, order.id)
    assert order.fulfillment_status == "fulfilled"
    assert order.status == "completed"  # shipped and paid
    assert pickable(order) == {}
    ledger_consistent()
    kinds = [e.kind for e in order.events]
    assert "fulfillment_status.partially_fulfilled" in kinds and "status.completed" in kinds
    # The shipment notices go through the outbox, one per parcel.
    dispatch_pending()
    dispatch_pending()
    files = sorted(p.name for p in mail_dir.glob("*.eml"))
    assert len([f for f in files if "shipment" in f]) == 2
    body = next(p for p in mail_dir.glob("*shipment*")).read_text()
    assert "1Z99" in body and "UPS" in body


def test_shipping_twice_is_a_no_op(place, make_staff):
    warehouse = make_staff("warehouse")
    order = place(2)
    parcel = create_fulfillment(order, location_id=location_of(order), by=warehouse)
    ship_fulfillment(parcel, carrier="DHL", tracking_number="JD01", by=warehouse)
    ship_fulfillment(parcel, carrier="DHL", tracking_number="JD01", by=warehouse)
    assert db.session.get(Order, order.id).lines[0].fulfilled_quantity == 2
    allocation = db.session.scalar(
        select(Allocation).where(Allocation.reference == order.reference)
    )
    assert allocation.shipped == 2 and allocation.status == "shipped"


def test_bad_quantities_and_missing_tracking(place, make_staff):
    warehouse = make_staff("warehouse")
    order = place(2)
    location = location_of(order)
    line = order.lines[0]
    with pytest.raises(ValidationError) as caught:
        create_fulfillment(order, location_id=location, lines={line.id: 5}, by=warehouse)
    assert ("line", line.id) in caught.value.errors
    with pytest.raises(ValidationError):
        create_fulfillment(order, location_id=location, lines={line.id: 0}, by=warehouse)
    parcel = create_fulfillment(order, location_id=location, by=warehouse)
    with pytest.raises(ValidationError) as caught:
        ship_fulfillment(parcel, carrier="", tracking_number="", by=warehouse)
    assert set(caught.value.errors) == {"carrier", "tracking_number"}


def test_cancelled_parcel_frees_its_units_for_another(place, make_staff):
    warehouse = make_staff("warehouse")
    order = place(2)
    location = location_of(order)
    parcel = create_fulfillment(order, location_id=location, by=warehouse)
    assert pickable(order) == {}
    cancel_fulfillment(parcel, by=warehouse)
    assert pickable(order)[location][0].quantity == 2
    with pytest.raises(InvalidTransition):
        ship_fulfillment(parcel, carrier="UPS", tracking_number="1", by=warehouse)


def test_capture_at_fulfillment(place, make_staff, app, monkeypatch):
    monkeypatch.setitem(app.config, "PAYMENTS_CAPTURE", "fulfillment")
    warehouse = make_staff("warehouse")
    order = place(1)
    assert order.payment_status == "authorized"
    parcel = create_fulfillment(order, location_id=location_of(order), by=warehouse)
    ship_fulfillment(parcel, carrier="UPS", tracking_number="1Z1", by=warehouse)
    order = db.session.get(Order, order.id)
    assert order.payment_status == "paid" and order.paid_total == order.total
    assert order.status == "completed"
    assert availability([order.lines[0].variant_id])[order.lines[0].variant_id].available == 9

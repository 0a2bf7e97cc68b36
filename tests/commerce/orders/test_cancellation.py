"""Cancellation: stock back to available at once, the money back, the reason recorded."""

from __future__ import annotations

import pytest

from commerce.errors import InvalidTransition, ValidationError
from commerce.extensions import db
from commerce.inventory.services import availability, reconcile
from commerce.orders.cancellation import cancel_order
from commerce.orders.fulfillment import create_fulfillment, pickable, ship_fulfillment
from commerce.orders.models import Order
from commerce.payments.models import Payment


def test_cancel_a_captured_order_refunds_everything(place, make_staff):
    admin = make_staff("admin")
    order = place(2)
    variant = order.lines[0].variant_id
    assert availability([variant])[variant].available == 8
    cancelled = cancel_order(order, reason="Customer changed their mind", by=admin)
    assert cancelled.status == "cancelled" and cancelled.cancel_reason
    assert cancelled.payment_status == "refunded"
    assert cancelled.refunded_total == cancelled.paid_total == cancelled.total
    payment = db.session.get(Payment, cancelled.payment_id)
    assert payment.refunded_amount == payment.captured_amount
    assert availability([variant])[variant].available == 10
    assert reconcile() == []
    kinds = [e.kind for e in cancelled.events]
    assert "status.cancelled" in kinds and "payment_status.refunded" in kinds
    # Again: nothing more happens.
    again = cancel_order(db.session.get(Order, order.id), reason="again", by=admin)
    assert again.refunded_total == again.total and len(again.refunds) == 1


def test_cancel_a_picked_order_cancels_the_parcel(place, make_staff, app, monkeypatch):
    monkeypatch.setitem(app.config, "PAYMENTS_CAPTURE", "fulfillment")
    support = make_staff("support")
    order = place(1)
    (location_id,) = pickable(order)
    parcel = create_fulfillment(order, location_id=location_id, by=support)
    cancelled = cancel_order(order, reason="Fraud check failed", by=support)
    assert cancelled.payment_status == "voided"
    db.session.refresh(parcel)
    assert parcel.status == "cancelled"


def test_shipped_orders_cannot_be_cancelled(place, make_staff):
    admin = make_staff("admin")
    order = place(1)
    (location_id,) = pickable(order)
    parcel = create_fulfillment(order, location_id=location_id, by=admin)
    ship_fulfillment(parcel, carrier="UPS", tracking_number="1Z", by=admin)
    with pytest.raises(InvalidTransition):
        cancel_order(db.session.get(Order, order.id), reason="late", by=admin)


def test_a_reason_is_required(place, make_staff):
    order = place(1)
    with pytest.raises(ValidationError, match="Say why"):
        cancel_order(order, reason="  ", by=make_staff("admin"))
    assert db.session.get(Order, order.id).status == "open"

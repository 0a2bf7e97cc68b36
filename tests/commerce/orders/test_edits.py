"""Order edits before fulfillment: repriced through the pipeline, stock and money follow."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from commerce.errors import InvalidTransition, OutOfStock, ValidationError
from commerce.extensions import db
from commerce.inventory.models import Allocation, StockLevel
from commerce.inventory.services import availability, reconcile
from commerce.orders.edits import edit_order
from commerce.orders.fulfillment import create_fulfillment, pickable
from commerce.orders.models import Order
from commerce.orders.services import capture_order_payment


@pytest.fixture
def authorized_only(app, monkeypatch):
    monkeypatch.setitem(app.config, "PAYMENTS_CAPTURE", "fulfillment")


def allocated(order, variant_id):
    return db.session.scalar(
        select(func.coalesce(func.sum(Allocation.quantity - Allocation.shipped), 0)).where(
            Allocation.reference == order.reference,
            Allocation.variant_id == variant_id,
            Allocation.status == "allocated",
        )
    )


def test_change_add_and_address_then_capture_the_new_total(
    authorized_only, place, checkout_shop, make_staff
):
    support = make_staff("support")
    order = place(2)  # 2 x 25.00 small, CA tax
    line = order.lines[0]
    edited = edit_order(
        order,
        quantities={line.id: 3},
        add={checkout_shop.medium: 1},
        shipping_address={
            "name": "Ada Shopper",
            "line1": "9 Broadway",
            "city": "New York",
            "region": "NY",
            "postal_code": "10004",
            "country": "US",
        },
        reason="Customer called",
        by=support,
    )
    assert {(line.variant_id, line.quantity) for line in edited.lines} == {
        (checkout_shop.small, 3),
        (checkout_shop.medium, 1),
    }
    # 4 x 25.00 = 100.00, free shipping from 100.00, US 5% tax = 5.00
    assert (edited.subtotal, edited.shipping_total, edited.tax_total, edited.total) == (
        10000,
        0,
        500,
        10500,
    )
    assert edited.shipping_address["city"] == "New York"
    assert allocated(edited, checkout_shop.small) == 3
    assert allocated(edited, checkout_shop.medium) == 1
    assert availability([checkout_shop.small])[checkout_shop.small].available == 7
    assert any(e.kind == "edited" and "Customer called" in e.message for e in edited.events)
    # Authorized for 58.98 at placement: the capture takes what is authorized, the rest is due.
    captured = capture_order_payment(edited)
    assert captured.paid_total == 5898 and captured.payment_status == "partially_paid"
    assert captured.balance_due == 10500 - 5898


def test_lower_quantity_releases_stock_and_capture_takes_less(
    authorized_only, place, checkout_shop, make_staff
):
    support = make_staff("support")
    order = place(3)
    edited = edit_order(order, quantities={order.lines[0].id: 1}, by=support)
    assert allocated(edited, checkout_shop.small) == 1
    assert availability([checkout_shop.small])[checkout_shop.small].available == 9
    level = db.session.scalar(
        select(StockLevel).where(StockLevel.variant_id == checkout_shop.small)
    )
    assert level.allocated == 1
    assert reconcile() == []  # counters agree with the allocation rows and the ledger
    captured = capture_order_payment(edited)
    assert captured.paid_total == edited.total and captured.payment_status == "paid"


def test_captured_order_raised_shows_a_balance_due(place, checkout_shop, make_staff):
    support = make_staff("support")
    order = place(1)
    assert order.payment_status == "paid"
    edited = edit_order(order, add={checkout_shop.medium: 1}, by=support)
    assert edited.payment_status == "partially_paid"
    assert edited.balance_due == edited.total - edited.paid_total > 0


def test_bad_edits_change_nothing(authorized_only, place, checkout_shop, make_staff):
    support = make_staff("support")
    order = place(2)
    line = order.lines[0]
    with pytest.raises(ValidationError) as caught:
        edit_order(
            order, quantities={line.id: "x", 999: 1}, add={checkout_shop.medium: -1}, by=support
        )
    assert set(caught.value.errors) == {
        ("line", line.id),
        ("line", 999),
        ("add", checkout_shop.medium),
    }
    with pytest.raises(ValidationError, match="cancel the order instead"):
        edit_order(order, quantities={line.id: 0}, by=support)
    with pytest.raises(ValidationError) as caught:
        edit_order(order, shipping_address={"name": "", "country": "US"}, by=support)
    assert "line1" in caught.value.errors
    with pytest.raises(ValidationError, match="does not deliver"):
        edit_order(
            order,
            shipping_address={
                "name": "A",
                "line1": "1 Rue",
                "city": "Paris",
                "postal_code": "75001",
                "country": "FR",
            },
            by=support,
        )
    with pytest.raises(OutOfStock, match="Not enough stock"):
        edit_order(order, quantities={line.id: 50}, by=support)
    order = db.session.get(Order, order.id)
    assert order.lines[0].quantity == 2 and allocated(order, checkout_shop.small) == 2


def test_picked_orders_cannot_be_edited(authorized_only, place, make_staff):
    warehouse = make_staff("warehouse")
    order = place(1)
    (location_id,) = pickable(order)
    create_fulfillment(order, location_id=location_id, by=warehouse)
    with pytest.raises(InvalidTransition, match="cancel the parcel first"):
        edit_order(order, quantities={order.lines[0].id: 2}, by=warehouse)


def test_an_edit_keeps_the_coupon_the_order_was_placed_with(
    authorized_only, checkout_shop, make_staff
):
    """The edit is priced with the order's redeemed code, as of when it was placed, even after
    the code ran out (its own use counts as its own) and the sale was paused."""
    from commerce.checkout.cart import add_to_cart, apply_cart_coupon
    from commerce.checkout.services import (
        choose_shipping_method,
        place_order,
        save_information,
        start_checkout,
    )
    from commerce.promotions.coupons import add_coupon_code
    from commerce.promotions.services import create_promotion, enable_promotion
    from tests.conftest import TEST_CARD, US_ADDRESS

    sale = create_promotion(
        by=None,
        name="Ten off",
        requires_coupon=True,
        usage_limit=1,
        actions=[{"kind": "percent_off_order", "params": {"percent": "10"}}],
    )
    add_coupon_code(sale, code="TEN", by=None)
    enable_promotion(sale, by=None)
    cart = add_to_cart(None, variant_id=checkout_shop.small, quantity=2)
    apply_cart_coupon(cart, code="TEN")
    checkout = start_checkout(cart)
    save_information(checkout, email="ada@example.com", address=US_ADDRESS)
    choose_shipping_method(checkout, code="STD")
    order = place_order(checkout.key, card=TEST_CARD).order
    assert order.discount_total == 500  # 10% of 2 x 25.00

    edited = edit_order(order, quantities={order.lines[0].id: 3}, by=make_staff("support"))
    assert edited.subtotal == 7500 and edited.discount_total == 750
    assert edited.lines[0].adjustments[0]["label"].startswith("Ten off")


def test_an_edit_keeps_one_free_gift_not_two(authorized_only, checkout_shop, make_staff):
    from commerce.checkout.cart import add_to_cart
    from commerce.checkout.services import (
        choose_shipping_method,
        place_order,
        save_information,
        start_checkout,
    )
    from commerce.promotions.services import create_promotion, enable_promotion
    from tests.conftest import TEST_CARD, US_ADDRESS

    gift = create_promotion(
        by=None,
        name="Gift",
        actions=[{"kind": "free_gift", "params": {"variant_id": checkout_shop.medium}}],
    )
    enable_promotion(gift, by=None)
    cart = add_to_cart(None, variant_id=checkout_shop.small, quantity=1)
    checkout = start_checkout(cart)
    save_information(checkout, email="ada@example.com", address=US_ADDRESS)
    choose_shipping_method(checkout, code="STD")
    order = place_order(checkout.key, card=TEST_CARD).order
    lines = {line.variant_id: line for line in order.lines}
    assert lines[checkout_shop.medium].adjustments[0]["scope"] == "gift"

    edited = edit_order(
        order, quantities={lines[checkout_shop.small].id: 2}, by=make_staff("support")
    )
    after = {line.variant_id: line for line in edited.lines}
    assert after[checkout_shop.small].quantity == 2
    assert after[checkout_shop.medium].quantity == 1  # still one gift, still free
    assert after[checkout_shop.medium].discounted_amount == 0
    assert allocated(edited, checkout_shop.medium) == 1

"""place_order through the services: one order, one charge, the hold becomes an allocation."""

from __future__ import annotations

from datetime import timedelta

import pytest

from commerce.checkout.cart import add_to_cart, merge_carts, set_line_quantity
from commerce.checkout.models import COMPLETED, OPEN, Checkout
from commerce.checkout.services import (
    choose_shipping_method,
    complete_payment_action,
    hold_stock,
    place_order,
    save_information,
    start_checkout,
)
from commerce.db import utcnow
from commerce.errors import Conflict, OutOfStock, PaymentFailed, ValidationError
from commerce.extensions import db
from commerce.inventory.models import Allocation, Reservation, StockLevel
from commerce.inventory.services import availability, release_expired_reservations
from commerce.orders.models import PAID, Order
from commerce.payments.models import Payment
from tests.conftest import TEST_CARD, US_ADDRESS


def ready_checkout(shop, quantity: int = 2, **cart_kw):
    cart = add_to_cart(None, variant_id=shop.small, quantity=quantity, **cart_kw)
    checkout = start_checkout(cart)
    save_information(checkout, email="ada@example.com", address=US_ADDRESS)
    choose_shipping_method(checkout, code="STD")
    return cart, checkout


def held(variant_id: int) -> int:
    return sum(
        level.reserved for level in db.session.query(StockLevel).filter_by(variant_id=variant_id)
    )


def test_place_order_snapshots_prices_and_allocates_the_hold(checkout_shop):
    shop = checkout_shop
    cart, checkout = ready_checkout(shop)
    assert held(shop.small) == 2
    placement = place_order(checkout.key, card=TEST_CARD)
    order = placement.order
    assert order is not None and order.number == order.id + 1000
    # 2 x 25.00 + 5.00 shipping, CA tax 7.25% on 50.00 and on 5.00 (3.625 -> 3.62 half-even, + 0.36)
    assert (order.subtotal, order.shipping_total, order.tax_total) == (5000, 500, 398)
    assert order.total == 5898
    assert order.payment_status == PAID  # captured at placement by default
    assert order.lines[0].sku and order.lines[0].quantity == 2 and order.lines[0].unit_price == 2500
    assert order.shipping_address["city"] == "San Francisco"
    assert held(shop.small) == 0
    allocations = db.session.query(Allocation).filter_by(reference=order.reference).all()
    assert sum(a.quantity for a in allocations) == 2
    assert availability([shop.small])[shop.small].available == 8
    db.session.refresh(cart)
    assert cart.lines == []  # what was bought left the cart
    assert [e.kind for e in order.events][:1] == ["placed"]


def test_the_same_key_twice_gives_one_order_and_one_charge(checkout_shop):
    _, checkout = ready_checkout(checkout_shop)
    first = place_order(checkout.key, card=TEST_CARD).order
    again = place_order(checkout.key, card=TEST_CARD).order
    assert again.id == first.id
    assert db.session.query(Order).count() == 1
    assert db.session.query(Payment).count() == 1


def test_a_claimed_checkout_answers_already_in_progress(checkout_shop):
    _, checkout = ready_checkout(checkout_shop)
    db.session.execute(
        db.update(Checkout)
        .where(Checkout.id == checkout.id)
        .values(status="placing", placing_since=utcnow())
    )
    db.session.commit()
    with pytest.raises(Conflict, match="already being placed"):
        place_order(checkout.key, card=TEST_CARD)


def test_declined_card_keeps_the_hold_and_another_card_succeeds(checkout_shop):
    shop = checkout_shop
    _, checkout = ready_checkout(shop)
    declined = dict(TEST_CARD, number="4000000000000002")
    with pytest.raises(PaymentFailed):
        place_order(checkout.key, card=declined)
    db.session.refresh(checkout)
    assert checkout.status == OPEN
    assert db.session.query(Order).count() == 0
    assert held(shop.small) == 2
    order = place_order(checkout.key, card=TEST_CARD).order
    assert order is not None
    assert db.session.query(Payment).filter_by(status="captured").count() == 1


def test_three_d_secure_then_confirm(checkout_shop):
    _, checkout = ready_checkout(checkout_shop)
    placement = place_order(checkout.key, card=dict(TEST_CARD, number="4000000000003220"))
    assert placement.requires_action and placement.order is None
    token = placement.payment.action_token
    order = complete_payment_action(checkout.key, token=token).order
    assert order is not None and order.payment_status == PAID


def test_card_field_errors_release_the_claim(checkout_shop):
    _, checkout = ready_checkout(checkout_shop)
    with pytest.raises(ValidationError) as caught:
        place_order(checkout.key, card=dict(TEST_CARD, number="1234"))
    assert "card_number" in caught.value.errors
    db.session.refresh(checkout)
    assert checkout.status == OPEN


def test_missing_steps_are_reported(checkout_shop):
    cart = add_to_cart(None, variant_id=checkout_shop.small, quantity=1)
    checkout = start_checkout(cart)
    with pytest.raises(ValidationError) as caught:
        place_order(checkout.key, card=TEST_CARD)
    assert {"email", "shipping_address", "shipping_method"} <= set(caught.value.errors)


def test_entering_checkout_reserves_all_or_nothing(checkout_shop):
    shop = checkout_shop
    cart = add_to_cart(None, variant_id=shop.small, quantity=10)
    other = add_to_cart(None, variant_id=shop.small, quantity=1)
    start_checkout(cart)
    with pytest.raises(OutOfStock):
        start_checkout(other)
    assert db.session.query(Checkout).filter_by(cart_id=other.id).count() == 0


def test_same_cart_reenters_the_same_checkout_and_a_changed_cart_replaces_it(checkout_shop):
    shop = checkout_shop
    cart = add_to_cart(None, variant_id=shop.small, quantity=2)
    first = start_checkout(cart)
    assert start_checkout(cart).id == first.id
    set_line_quantity(cart, variant_id=shop.small, quantity=3)
    second = start_checkout(cart)
    assert second.id != first.id
    db.session.refresh(first)
    assert first.status == "abandoned"
    assert held(shop.small) == 3


def test_an_expired_hold_is_taken_again_or_reported(checkout_shop):
    shop = checkout_shop
    _, checkout = ready_checkout(shop, quantity=4)
    later = utcnow() + timedelta(minutes=11)
    release_expired_reservations(now=later)
    assert held(shop.small) == 0
    hold_stock(checkout, now=later)
    assert held(shop.small) == 4
    # Now someone else buys it all while our hold lapses again.
    release_expired_reservations(now=later + timedelta(minutes=11))
    rival = add_to_cart(None, variant_id=shop.small, quantity=10)
    start_checkout(rival, now=later + timedelta(minutes=11))
    with pytest.raises(OutOfStock, match="sold out meanwhile"):
        hold_stock(checkout, now=later + timedelta(minutes=12))


def test_place_order_after_lapse_retakes_the_hold(checkout_shop):
    shop = checkout_shop
    _, checkout = ready_checkout(shop)
    later = utcnow() + timedelta(minutes=15)
    release_expired_reservations(now=later)
    order = place_order(checkout.key, card=TEST_CARD, now=later).order
    assert order is not None
    assert db.session.query(Reservation).filter_by(status="committed").count() == 1


def test_cart_quantity_rules(checkout_shop):
    shop = checkout_shop
    for bad, message in (
        (0, "1 or more"),
        (-1, "negative"),
        ("x", "whole number"),
        (100, "at most"),
    ):
        with pytest.raises(ValidationError, match=message):
            add_to_cart(None, variant_id=shop.small, quantity=bad)
    with pytest.raises(ValidationError, match="Only 10 left"):
        add_to_cart(None, variant_id=shop.small, quantity=11)
    cart = add_to_cart(None, variant_id=shop.small, quantity=6)
    with pytest.raises(ValidationError, match="already has 6"):
        add_to_cart(cart, variant_id=shop.small, quantity=5)


def test_merge_at_sign_in_adds_up_and_caps(checkout_shop, make_customer):
    shop = checkout_shop
    customer = make_customer()
    saved = add_to_cart(None, variant_id=shop.small, quantity=6, customer_id=customer.id)
    guest = add_to_cart(None, variant_id=shop.small, quantity=7)
    add_to_cart(guest, variant_id=shop.medium, quantity=1)
    result = merge_carts(guest, customer_id=customer.id)
    assert result.cart.id == saved.id
    assert dict(result.cart.line_pairs()) == {shop.small: 10, shop.medium: 1}
    assert result.notes and "10 in your cart (13 asked)" in result.notes[0]


def test_completed_checkout_status(checkout_shop):
    _, checkout = ready_checkout(checkout_shop)
    place_order(checkout.key, card=TEST_CARD)
    db.session.refresh(checkout)
    assert checkout.status == COMPLETED and checkout.order_id


def test_capture_at_fulfillment_leaves_the_payment_authorized(checkout_shop, app, monkeypatch):
    monkeypatch.setitem(app.config, "PAYMENTS_CAPTURE", "fulfillment")
    _, checkout = ready_checkout(checkout_shop)
    order = place_order(checkout.key, card=TEST_CARD).order
    assert order.payment_status == "authorized"
    payment = db.session.get(Payment, order.payment_id)
    assert payment.status == "authorized" and payment.captured_amount == 0
    # Capturing later (at fulfillment) takes the money once, however often it is asked.
    from commerce.orders.services import capture_order_payment

    capture_order_payment(order)
    capture_order_payment(db.session.get(Order, order.id))
    db.session.refresh(payment)
    assert payment.status == "captured" and payment.captured_amount == order.total
    assert db.session.get(Order, order.id).payment_status == PAID


def test_stale_guest_carts_are_purged(checkout_shop, make_customer):
    from commerce.checkout.cart import purge_stale_carts
    from commerce.checkout.models import Cart

    old_guest = add_to_cart(None, variant_id=checkout_shop.small, quantity=1)
    fresh_guest = add_to_cart(None, variant_id=checkout_shop.small, quantity=1)
    customer = make_customer()
    old_customer = add_to_cart(
        None, variant_id=checkout_shop.small, quantity=1, customer_id=customer.id
    )
    for cart in (old_guest, old_customer):
        cart.updated_at = utcnow() - timedelta(days=31)
    db.session.commit()
    assert purge_stale_carts() == 1
    remaining = {c.id for c in db.session.query(Cart)}
    assert remaining == {fresh_guest.id, old_customer.id}

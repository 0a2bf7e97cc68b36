"""Coupons through checkout: the use is counted before the card is touched and recorded with
the order in its transaction; a code that ran out refuses the placement (no order, no charge);
a failed payment and a cancelled order give the use back; free gifts are held, allocated and
picked like any line."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from commerce.checkout.cart import add_to_cart, apply_cart_coupon
from commerce.checkout.models import OPEN, Checkout
from commerce.checkout.services import (
    apply_checkout_coupon,
    choose_shipping_method,
    place_order,
    remove_checkout_coupon,
    save_information,
    start_checkout,
)
from commerce.errors import PaymentFailed, ValidationError
from commerce.extensions import db
from commerce.inventory.models import Allocation, StockLevel
from commerce.orders.cancellation import cancel_order
from commerce.orders.fulfillment import pickable
from commerce.orders.models import Order
from commerce.payments.models import Payment
from commerce.promotions.coupons import add_coupon_code
from commerce.promotions.models import CouponCode, Promotion, PromotionUsage, Redemption
from commerce.promotions.redemptions import PromotionUnavailable
from commerce.promotions.services import create_promotion, enable_promotion
from tests.commerce.promotions.conftest import row
from tests.conftest import TEST_CARD, US_ADDRESS

DECLINED = {**TEST_CARD, "number": "4000000000000002"}


def make_promo(*, code=None, actions=None, conditions=None, **fields):
    fields.setdefault("name", "Summer sale")
    p = create_promotion(
        by=None,
        actions=actions or [row("percent_off_order", percent=20)],
        conditions=conditions or [],
        **fields,
    )
    if code:
        add_coupon_code(p, code=code, by=None)
    enable_promotion(p, by=None)
    return p


def checkout_for(shop, *, code=None, quantity=2, email="ada@example.com", variant=None):
    cart = add_to_cart(None, variant_id=variant or shop.small, quantity=quantity)
    if code:
        apply_cart_coupon(cart, code=code)
    checkout = start_checkout(cart)
    save_information(checkout, email=email, address=US_ADDRESS)
    choose_shipping_method(checkout, code="STD")
    return checkout


def count(model, *where):
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def test_a_coupon_order_carries_its_discount_and_redemption(checkout_shop):
    p = make_promo(code="SUMMER", requires_coupon=True, usage_limit=20)
    checkout = checkout_for(checkout_shop, code="summer")
    order = place_order(checkout.key, card=TEST_CARD).order
    assert order.subtotal == 5000 and order.discount_total == 1000
    (line,) = order.lines
    assert line.discount == 1000
    assert line.adjustments == [
        {
            "scope": "order",
            "amount": 1000,
            "label": "Summer sale \u221220%",
            "source": f"promotion:{p.id}",
            "requested": 1000,
            "code": "SUMMER",
        }
    ]
    assert order.adjustments[0]["label"] == "Summer sale \u221220%"
    (redemption,) = db.session.scalars(select(Redemption)).all()
    assert (redemption.status, redemption.order_id, redemption.code, redemption.amount) == (
        "redeemed",
        order.id,
        "SUMMER",
        1000,
    )
    db.session.refresh(p)
    coupon = db.session.scalar(select(CouponCode))
    assert (p.times_used, coupon.times_used) == (1, 1)
    assert count(PromotionUsage, PromotionUsage.identity == "email:ada@example.com") == 1


def test_a_code_used_up_before_placement_refuses_it_without_charging(checkout_shop):
    make_promo(code="ONCE", requires_coupon=True, usage_limit_per_code=1)
    first = checkout_for(checkout_shop, code="ONCE", email="first@example.com")
    second = checkout_for(checkout_shop, code="ONCE", email="second@example.com")
    assert place_order(first.key, card=TEST_CARD).order is not None
    payments = count(Payment)
    with pytest.raises(PromotionUnavailable) as caught:
        place_order(second.key, card=TEST_CARD)
    assert caught.value.status == 409 and caught.value.field == "coupon_code"
    assert "ONCE has been used up" in caught.value.message
    assert "you have not been charged" in caught.value.message
    assert count(Order) == 1 and count(Payment) == payments
    db.session.refresh(second)
    assert second.status == OPEN
    remove_checkout_coupon(second)  # without the code the shopper can still order
    order = place_order(second.key, card=TEST_CARD).order
    assert order.discount_total == 0


def test_a_declined_card_gives_the_held_use_back(checkout_shop):
    p = make_promo(code="SUMMER", requires_coupon=True, usage_limit=1)
    checkout = checkout_for(checkout_shop, code="SUMMER")
    with pytest.raises(PaymentFailed):
        place_order(checkout.key, card=DECLINED)
    db.session.refresh(p)
    assert p.times_used == 0
    assert [r.status for r in db.session.scalars(select(Redemption))] == ["released"]
    order = place_order(checkout.key, card=TEST_CARD).order  # another card: the code still works
    assert order.discount_total == 1000
    db.session.refresh(p)
    assert p.times_used == 1


def test_cancelling_the_order_gives_the_use_back(checkout_shop):
    p = make_promo(code="SUMMER", requires_coupon=True, usage_limit=1, usage_limit_per_customer=1)
    first = checkout_for(checkout_shop, code="SUMMER")
    blocked = checkout_for(checkout_shop, code="SUMMER", email="other@example.com")
    order = place_order(first.key, card=TEST_CARD).order
    db.session.refresh(p)
    assert p.times_used == 1
    with pytest.raises(PromotionUnavailable):
        place_order(blocked.key, card=TEST_CARD)
    cancel_order(order, reason="Changed my mind", by=None)
    db.session.refresh(p)
    assert p.times_used == 0
    assert db.session.scalar(select(CouponCode.times_used)) == 0
    assert (
        db.session.scalar(
            select(PromotionUsage.times_used).where(
                PromotionUsage.identity == "email:ada@example.com"
            )
        )
        == 0
    )
    assert db.session.scalar(select(Redemption.status).where(Redemption.order_id == order.id)) == (
        "released"
    )
    again = place_order(blocked.key, card=TEST_CARD).order
    assert again.discount_total == 1000


def test_one_use_per_customer_by_email(checkout_shop):
    make_promo(usage_limit_per_customer=1)  # automatic, once per shopper
    first = place_order(checkout_for(checkout_shop).key, card=TEST_CARD).order
    assert first.discount_total == 1000
    second = place_order(checkout_for(checkout_shop).key, card=TEST_CARD).order
    assert second.discount_total == 0  # an automatic promotion simply does not apply again
    other = place_order(checkout_for(checkout_shop, email="bo@example.com").key, card=TEST_CARD)
    assert other.order.discount_total == 1000


def test_first_order_is_known_by_email_at_checkout(checkout_shop):
    make_promo(conditions=[row("first_order")], name="Welcome")
    first = place_order(checkout_for(checkout_shop).key, card=TEST_CARD).order
    second = place_order(checkout_for(checkout_shop).key, card=TEST_CARD).order
    assert (first.discount_total, second.discount_total) == (1000, 0)


def test_codes_entered_at_checkout_are_checked_at_the_field(checkout_shop):
    make_promo(code="SUMMER", requires_coupon=True)
    checkout = checkout_for(checkout_shop)
    with pytest.raises(ValidationError) as caught:
        apply_checkout_coupon(checkout, code="NOPE")
    assert caught.value.errors == {"coupon_code": ["NOPE is not a valid code."]}
    apply_checkout_coupon(checkout, code="summer")
    assert place_order(checkout.key, card=TEST_CARD).order.discount_total == 1000


def test_a_code_that_does_not_apply_is_not_dropped_silently(checkout_shop):
    make_promo(
        code="BIG",
        requires_coupon=True,
        conditions=[row("subtotal_at_least", amount=10000)],
    )
    checkout = checkout_for(checkout_shop, code="BIG")  # 50.00
    with pytest.raises(PromotionUnavailable, match=r"subtotal \$50\.00 is below \$100\.00"):
        place_order(checkout.key, card=TEST_CARD)
    assert count(Payment) == 0


def reserved(variant_id):
    return db.session.scalar(
        select(func.sum(StockLevel.reserved)).where(StockLevel.variant_id == variant_id)
    )


def test_a_free_gift_is_held_allocated_and_picked_like_any_line(checkout_shop):
    shop = checkout_shop
    make_promo(actions=[row("free_gift", variant_id=shop.medium)], name="Gift")
    checkout = checkout_for(shop, quantity=1)
    assert (reserved(shop.small), reserved(shop.medium)) == (1, 1)
    order = place_order(checkout.key, card=TEST_CARD).order
    lines = {line.variant_id: line for line in order.lines}
    assert lines[shop.medium].quantity == 1 and lines[shop.medium].discount == 2500
    assert order.total == 2500 + 500 + 181 + 36  # the gift costs nothing, nor its tax
    allocated = dict(
        db.session.execute(
            select(Allocation.variant_id, func.sum(Allocation.quantity))
            .where(Allocation.reference == order.reference)
            .group_by(Allocation.variant_id)
        ).all()
    )
    assert allocated == {shop.small: 1, shop.medium: 1}
    picks = [p for per_location in pickable(order).values() for p in per_location]
    assert sorted((p.variant_id, p.quantity) for p in picks) == [(shop.small, 1), (shop.medium, 1)]


def test_a_gift_unlocked_at_checkout_is_held_before_payment(checkout_shop):
    shop = checkout_shop
    make_promo(
        actions=[row("free_gift", variant_id=shop.medium)],
        name="Gift",
        code="GIFT",
        requires_coupon=True,
    )
    checkout = checkout_for(shop, quantity=1)
    assert reserved(shop.medium) in (None, 0)
    apply_checkout_coupon(checkout, code="GIFT")
    order = place_order(checkout.key, card=TEST_CARD).order
    assert {line.variant_id: line.quantity for line in order.lines} == {
        shop.small: 1,
        shop.medium: 1,
    }
    assert reserved(shop.medium) == 0
    assert (
        db.session.scalar(
            select(func.sum(Allocation.quantity)).where(
                Allocation.reference == order.reference, Allocation.variant_id == shop.medium
            )
        )
        == 1
    )


def test_a_paused_promotion_during_checkout_refuses_its_code(checkout_shop):
    from commerce.promotions.services import pause_promotion

    p = make_promo(code="SUMMER", requires_coupon=True)
    checkout = checkout_for(checkout_shop, code="SUMMER")
    pause_promotion(p, by=None)
    with pytest.raises(PromotionUnavailable, match="SUMMER is not active"):
        place_order(checkout.key, card=TEST_CARD)
    assert count(Order) == 0
    assert db.session.get(Checkout, checkout.id).status == OPEN
    assert db.session.get(Promotion, p.id).times_used == 0

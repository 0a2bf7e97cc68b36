"""A coupon code limited to 20 uses and 100 shoppers placing their orders with it at once, on
PostgreSQL with real threads and commits: exactly 20 orders carry it, the other 80 get a clear
409 at the code field before any card is authorized (no order, no payment), the counters and
the redemptions agree, and cancelling an order gives its use back to the next shopper."""

from __future__ import annotations

from collections import Counter

import pytest
from sqlalchemy import func, select

from commerce.checkout.cart import add_to_cart, apply_cart_coupon
from commerce.checkout.services import (
    choose_shipping_method,
    place_order,
    save_information,
    start_checkout,
)
from commerce.extensions import db
from commerce.orders.cancellation import cancel_order
from commerce.orders.models import Order
from commerce.payments.models import Payment
from commerce.promotions.coupons import add_coupon_code
from commerce.promotions.models import CouponCode, Promotion, Redemption
from commerce.promotions.redemptions import PromotionUnavailable
from commerce.promotions.services import create_promotion, enable_promotion
from tests.concurrency.conftest import run_together, unexpected
from tests.conftest import TEST_CARD, US_ADDRESS, build_checkout_shop

pytestmark = pytest.mark.postgres

SHOPPERS = 100
LIMIT = 20


def test_a_code_limited_to_20_uses_is_used_exactly_20_times(race_app):
    shop = build_checkout_shop(stock=SHOPPERS + 10)
    promotion = create_promotion(
        by=None,
        name="Flash",
        requires_coupon=True,
        usage_limit_per_code=LIMIT,
        actions=[{"kind": "percent_off_order", "params": {"percent": 10}}],
    )
    add_coupon_code(promotion, code="FLASH", by=None)
    enable_promotion(promotion, by=None)
    keys = []
    for n in range(SHOPPERS):
        cart = add_to_cart(None, variant_id=shop.small, quantity=1)
        apply_cart_coupon(cart, code="flash")
        checkout = start_checkout(cart)
        save_information(checkout, email=f"shopper{n}@example.com", address=US_ADDRESS)
        choose_shipping_method(checkout, code="STD")
        keys.append(checkout.key)
    promotion_id = promotion.id
    db.session.remove()

    outcomes = run_together(race_app, SHOPPERS, lambda i: place_order(keys[i], card=TEST_CARD))

    assert unexpected(outcomes) == []
    placed = [o.value.order for o in outcomes if o.ok]
    refused = [o.domain_error for o in outcomes if o.domain_error is not None]
    assert len(placed) == LIMIT
    assert Counter(type(e).__name__ for e in refused) == {"PromotionUnavailable": SHOPPERS - LIMIT}
    assert all(e.status == 409 and e.field == "coupon_code" for e in refused)
    assert all("FLASH" in e.message and "not been charged" in e.message for e in refused)

    orders = list(db.session.scalars(select(Order)))
    assert len(orders) == LIMIT
    assert all(order.discount_total == 250 for order in orders)  # 10% of 25.00, every one
    assert db.session.scalar(select(func.count(Payment.id))) == LIMIT  # losers never paid
    statuses = Counter(db.session.scalars(select(Redemption.status)))
    assert statuses == {"redeemed": LIMIT}  # no held use left behind
    assert {r.order_id for r in db.session.scalars(select(Redemption))} == {o.id for o in orders}
    assert db.session.scalar(select(CouponCode.times_used)) == LIMIT
    assert db.session.get(Promotion, promotion_id).times_used == LIMIT

    # A cancelled order gives its use back: one more shopper gets the code.
    cancel_order(orders[0], reason="Customer asked", by=None)
    assert db.session.scalar(select(CouponCode.times_used)) == LIMIT - 1
    loser = next(keys[i] for i, o in enumerate(outcomes) if not o.ok)
    late = place_order(loser, card=TEST_CARD).order
    assert late.discount_total == 250
    assert db.session.scalar(select(CouponCode.times_used)) == LIMIT
    with pytest.raises(PromotionUnavailable):
        other = next(k for i, k in enumerate(keys) if not outcomes[i].ok and k != loser)
        place_order(other, card=TEST_CARD)

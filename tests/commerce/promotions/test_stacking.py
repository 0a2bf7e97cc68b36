"""Stacking rules in priority order, usage limits at pricing time, and the "why not"
explainer the simulator shows."""

from __future__ import annotations

from datetime import datetime

import pytest

from commerce.extensions import db
from commerce.pricing import CartLine, explain_promotions
from commerce.promotions.models import PromotionUsage
from commerce.promotions.services import pause_promotion
from tests.commerce.promotions.conftest import NOW, context, price, row

TWENTY = [row("percent_off_order", percent=20)]
TEN = [row("amount_off_order", amount=1000)]
SHIP = [row("free_shipping")]


def applied_names(cart):
    names = {adj.label for adj in cart.order_adjustments}
    if cart.shipping is not None:
        names |= {adj.label for adj in cart.shipping.adjustments}
    return names


@pytest.mark.parametrize(
    ("first", "second", "expected"),
    [
        # (stacking, actions) by priority; which labels apply
        (("exclusive", TWENTY), ("combinable", TEN), {"A -20%"}),
        (("combinable", TEN), ("exclusive", TWENTY), {"A"}),
        (("combinable", TWENTY), ("combinable", TEN), {"A -20%", "B"}),
        (("shipping_only", TWENTY), ("combinable", SHIP), {"A -20%", "B (free shipping)"}),
        (("shipping_only", TWENTY), ("combinable", TEN), {"A -20%"}),
        (("combinable", TEN), ("shipping_only", TWENTY), {"A"}),
        (("exclusive", TWENTY), ("combinable", SHIP), {"A -20%"}),
        (("combinable", SHIP), ("shipping_only", TWENTY), {"A (free shipping)", "B -20%"}),
    ],
)
def test_stacking(shop, promo, first, second, expected):
    promo(first[1], name="A", stacking=first[0], priority=1)
    promo(second[1], name="B", stacking=second[0], priority=2)
    cart = price({shop.tee: 5}, country="GB", shipping_method_code="STD")
    assert {label.replace("\u2212", "-") for label in applied_names(cart)} == expected


def test_priority_then_id_decides_and_percentages_compound(shop, promo):
    promo(TEN, name="Later", priority=5)
    promo(TWENTY, name="First", priority=1)
    cart = price({shop.tee: 5})  # 50.00: -20% = 10.00, then -10.00
    assert [adj.amount for adj in cart.order_adjustments] == [1000, 1000]
    assert [adj.label for adj in cart.order_adjustments] == ["First \u221220%", "Later"]


def test_an_eligible_promotion_with_nothing_to_take_does_not_block(shop, promo):
    promo([row("percent_off_items", percent=50, items={"tags": ["gift"]})], name="A", priority=1)
    promo(TEN, name="B", stacking="exclusive", priority=2)
    cart = price({shop.tee: 5})
    assert [adj.label for adj in cart.order_adjustments] == ["B"]


def test_a_used_up_promotion_stops_applying(shop, promo):
    p = promo(TEN, usage_limit=2)
    p.times_used = 2
    db.session.commit()
    assert price({shop.tee: 5}).totals.discounts == 0


def test_a_per_customer_limit_counts_email_or_account(shop, promo):
    p = promo(TEN, usage_limit_per_customer=1)
    db.session.add(
        PromotionUsage(promotion_id=p.id, identity="email:ada@example.com", times_used=1)
    )
    db.session.commit()
    assert price({shop.tee: 5}, email="someone@example.com").totals.discounts == 1000
    assert price({shop.tee: 5}, email="ADA@example.com").totals.discounts == 0


def test_pausing_takes_effect_at_once_in_every_process(shop, promo):
    p = promo(TEN)
    assert price({shop.tee: 5}).totals.discounts == 1000
    pause_promotion(p, by=None)
    assert price({shop.tee: 5}).totals.discounts == 0


def explain(shop, lines, **kw):
    return {
        e.name: e
        for e in explain_promotions(
            [CartLine(v, q) for v, q in lines.items()], context(**kw)
        ).promotions
    }


def test_why_not(shop, promo):
    promo(TEN, [row("subtotal_at_least", amount=5000)], name="Fifty")
    promo(TWENTY, name="Coupon", requires_coupon=True, code="SUMMER")
    promo(TEN, name="June", starts_at=datetime(2027, 6, 10))
    promo(TEN, name="Draft", enabled=False)
    paused = promo(TEN, name="Paused")
    pause_promotion(paused, by=None)
    promo(TEN, [row("shipping_country", countries=["FR"])], name="France")
    promo(
        [row("buy_x_get_y", buy=2, get=1, buy_items={"categories": [shop.tshirts.id]})],
        name="3 for 2",
    )
    promo([row("amount_off_order", amount=100)], name="Always", priority=1)
    promo(TEN, name="Welcome", stacking="exclusive", priority=500)
    found = explain(shop, {shop.tee: 2, shop.sale: 2}, country="GB")  # 26.00
    assert found["Fifty"].reason == "subtotal $26.00 is below $50.00"
    assert found["Coupon"].reason == "code SUMMER not entered"
    assert found["June"].reason == "starts 10 June"
    assert (found["June"].status, found["Draft"].status) == ("scheduled", "draft")
    assert found["Draft"].reason == "draft: not published yet"
    assert found["Paused"].reason == "paused"
    assert found["France"].reason == "ships to GB, not FR"
    assert found["3 for 2"].reason == "buy 2 get 1 free: 2 eligible in the cart, 3 needed"
    assert found["Welcome"].reason == "not combined with Always, which applies first"
    assert [name for name, e in found.items() if e.applied] == ["Always"]
    assert found["Always"].amount == 100


def test_applied_promotions_say_what_they_took(shop, promo):
    promo(TWENTY, name="Big", requires_coupon=True, code="BIG")
    promo(SHIP, name="Ship")
    simulation = explain_promotions(
        [CartLine(shop.tee, 5)],
        context(country="GB", shipping_method_code="STD", coupon_codes=("big",)),
    )
    found = {e.name: e for e in simulation.promotions}
    assert found["Big"].applied and found["Big"].amount == 1000 and found["Big"].code == "BIG"
    assert found["Ship"].applied and found["Ship"].shipping == 500
    assert simulation.priced.totals.total == 4800  # 50.00 - 10.00, free shipping, VAT 8.00


def test_ended_promotions_explain_when(shop, promo):
    promo(TEN, name="May", starts_at="2027-05-01T00:00", ends_at="2027-06-01T00:00")
    found = explain(shop, {shop.tee: 1}, now=NOW)
    assert found["May"].reason == "ended 1 June"


def test_reasons_format_money_in_the_currency_minor_units_by_default():
    """Without a formatter the engine writes amounts from integer minor units in the currency's
    own digits (never a float division by 100): 2600 yen is 2600, not 26.00."""
    from datetime import datetime
    from types import SimpleNamespace

    from commerce.promotions.engine import Item, Shopper, compile_promotion, evaluate

    row = SimpleNamespace(
        id=1,
        name="Big spender",
        state="enabled",
        starts_at=None,
        ends_at=None,
        timezone="UTC",
        priority=0,
        stacking="combinable",
        match="all",
        requires_coupon=False,
        usage_limit=None,
        usage_limit_per_customer=None,
        usage_limit_per_code=None,
        conditions=[SimpleNamespace(kind="subtotal_at_least", params={"amount": 5000})],
        actions=[SimpleNamespace(kind="percent_off_order", params={"percent": "10"})],
    )
    promo = compile_promotion(row, currency="JPY")
    item = Item(variant_id=1, product_id=1, quantity=2, unit_price=1300, amount=2600)
    for currency, expected in (("JPY", "subtotal 2600 is below 5000"), ("USD", "26.00")):
        shopper = Shopper(now=datetime(2026, 6, 1), currency=currency)
        (outcome,) = evaluate([promo], [item], shopper, explain=True).outcomes
        assert expected in outcome.reason

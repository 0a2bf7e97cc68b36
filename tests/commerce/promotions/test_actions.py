"""Every action, table-driven, with its edges: capping at zero, rounding half-even, exact
allocation, cheapest-first buy X get Y, tiers at their thresholds, free shipping with its tax,
free gifts."""

from __future__ import annotations

import pytest

from commerce.catalog.services import create_product
from commerce.inventory.services import receive_stock
from commerce.pricing import LINE, ORDER
from tests.commerce.promotions.conftest import price, row

MINUS = "\u2212"


def discounts(cart):
    return {line.variant_id: line.discount for line in cart.lines}


# action(shop) -> row, lines(shop), expected discounts by name
LINE_CASES = {
    "20% off T-shirts": (
        lambda s: row("percent_off_items", percent=20, items={"categories": [s.tshirts.id]}),
        lambda s: {s.tee: 2, s.mug: 1},
        {"tee": 400, "mug": 0},
    ),
    "12.5% rounds half-even: 37.5 -> 38, 62.5 -> 62 minor units": (
        lambda s: row("percent_off_items", percent="12.5", items={"tags": ["sale", "gift"]}),
        lambda s: {s.sale: 1, s.card: 1},  # 3.00 and 5.00
        {"sale": 38, "card": 62},
    ),
    "amount off each matching unit": (
        lambda s: row("amount_off_items", amount=300, items={"products": [s.products["tee"].id]}),
        lambda s: {s.tee: 3, s.tee2: 1},
        {"tee": 900, "tee2": 0},
    ),
    "amount off never makes a line negative": (
        lambda s: row("amount_off_items", amount=5000, items={"tags": ["sale"]}),
        lambda s: {s.sale: 2},
        {"sale": 600},
    ),
    "fixed price for matching items": (
        lambda s: row("fixed_price_items", price="7.50", items={"categories": [s.tshirts.id]}),
        lambda s: {s.tee: 2, s.tee2: 1},
        {"tee": 500, "tee2": 1250},
    ),
    "fixed price above the price changes nothing": (
        lambda s: row("fixed_price_items", price=400, items={"tags": ["sale"]}),
        lambda s: {s.sale: 2},
        {"sale": 0},
    ),
    "excluded items are left alone": (
        lambda s: row("percent_off_items", percent=50, items={"exclude_tags": ["sale"]}),
        lambda s: {s.tee: 1, s.sale: 2},
        {"tee": 500, "sale": 0},
    ),
    "buy 2 get 1 free: the cheapest unit is free": (
        lambda s: row("buy_x_get_y", buy=2, get=1, buy_items={"categories": [s.tshirts.id]}),
        lambda s: {s.tee: 1, s.tee2: 2},
        {"tee": 1000, "tee2": 0},
    ),
    "buy 2 get 1 free: two units are not enough": (
        lambda s: row("buy_x_get_y", buy=2, get=1, buy_items={"categories": [s.tshirts.id]}),
        lambda s: {s.tee: 1, s.tee2: 1},
        {"tee": 0, "tee2": 0},
    ),
    "buy 2 get 1 free repeats: 7 units, 2 free": (
        lambda s: row("buy_x_get_y", buy=2, get=1, buy_items={"categories": [s.tshirts.id]}),
        lambda s: {s.tee: 2, s.tee2: 5},
        {"tee": 2000, "tee2": 0},
    ),
    "buy 2 get 1 free, at most once per order": (
        lambda s: row(
            "buy_x_get_y",
            buy=2,
            get=1,
            max_per_order=1,
            buy_items={"categories": [s.tshirts.id]},
        ),
        lambda s: {s.tee: 2, s.tee2: 5},
        {"tee": 1000, "tee2": 0},
    ),
    "buy 1 mug get a card half price": (
        lambda s: row(
            "buy_x_get_y",
            buy=1,
            get=1,
            percent=50,
            buy_items={"products": [s.products["mug"].id]},
            get_items={"tags": ["gift"]},
        ),
        lambda s: {s.mug: 2, s.card: 3},
        {"mug": 0, "card": 500},
    ),
}


@pytest.mark.parametrize("name", list(LINE_CASES))
def test_line_actions(shop, promo, name):
    action, lines, expected = LINE_CASES[name]
    promo([action(shop)])
    got = discounts(price(lines(shop)))
    assert {key: got[getattr(shop, key)] for key in expected} == expected


def test_the_explanation_says_what_took_what(shop, promo):
    promo([row("percent_off_items", percent=20, items={"categories": [shop.tshirts.id]})])
    cart = price({shop.tee: 2})
    line = cart.line_for(shop.tee)
    assert f"Summer sale {MINUS}20%: {MINUS}$4.00" in line.explanations
    (adjustment,) = line.adjustments
    assert (adjustment.scope, adjustment.amount, adjustment.source) == (
        LINE,
        400,
        adjustment.source,
    )
    assert adjustment.source.startswith("promotion:")


def test_three_items_sharing_ten_off(shop, promo, make_product):
    """10.00 off an order of three 10.00 lines: 3.34 + 3.33 + 3.33, exactly 10.00."""
    others = [make_product(price=1000, status="active").variants[0].id for _ in range(2)]
    promo([row("amount_off_order", amount=1000)])
    cart = price({shop.tee: 1, others[0]: 1, others[1]: 1})
    shares = sorted((line.discount for line in cart.lines), reverse=True)
    assert shares == [334, 333, 333]
    assert sum(shares) == 1000 == cart.order_adjustments[0].amount
    assert cart.totals.subtotal - cart.totals.discounts == 2000


def test_percent_off_the_order_is_allocated_exactly(shop, promo):
    promo([row("percent_off_order", percent="15")])
    cart = price({shop.tee: 1, shop.mug: 1, shop.sale: 1})  # 28.00 -> 4.20 off
    (order,) = cart.order_adjustments
    assert order.amount == 420
    assert sum(line.discount for line in cart.lines) == 420
    assert all(adj.scope == ORDER for line in cart.lines for adj in line.adjustments)


def test_an_order_discount_never_makes_the_order_negative(shop, promo):
    promo([row("amount_off_order", amount=100_000)])
    cart = price({shop.sale: 1}, country="GB", shipping_method_code="STD")
    assert cart.totals.discounts == 300
    assert cart.totals.total == 600  # shipping 5.00 + VAT on it 1.00
    assert all(line.discounted_amount == 0 for line in cart.lines)


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        ({"tee": 4, "sale": 3}, 0),  # 49.00
        ({"tee": 5}, 500),  # 50.00 exactly: first tier
        ({"tee": 9, "sale": 3}, 500),  # 99.00
        ({"tee": 10}, 1500),  # 100.00: second tier
        ({}, 0),
    ],
)
def test_tiers(shop, promo, lines, expected):
    promo(
        [
            row(
                "tiered",
                tiers=[
                    {"threshold": 10000, "amount": 1500},
                    {"threshold": 5000, "amount": 500},
                ],
            )
        ]
    )
    cart = price({getattr(shop, k): q for k, q in lines.items()})
    assert cart.totals.discounts == expected


def test_free_shipping_lowers_shipping_and_its_tax(shop, promo):
    before = price({shop.tee: 1}, country="GB", shipping_method_code="STD")
    assert (before.totals.shipping, before.shipping.tax) == (500, 100)
    promo([row("free_shipping", methods=["STD"])])
    cart = price({shop.tee: 1}, country="GB", shipping_method_code="STD")
    assert (cart.totals.shipping, cart.shipping.tax, cart.shipping.discount) == (0, 0, 500)
    assert cart.totals.total == before.totals.total - 600
    assert f"Summer sale (free shipping): {MINUS}$5.00" in cart.explanations
    options = {o.code: (o.amount, o.discount) for o in cart.shipping_options}
    assert options == {"STD": (0, 500), "EXP": (1500, 0)}  # only the method it names
    express = price({shop.tee: 1}, country="GB", shipping_method_code="EXP")
    assert express.totals.shipping == 1500


def test_free_shipping_only_to_some_countries(shop, promo):
    promo([row("free_shipping", countries=["FR"])])
    assert price({shop.tee: 1}, country="GB", shipping_method_code="STD").totals.shipping == 500


def test_a_free_gift_is_added_at_no_charge_while_eligible(shop, promo):
    promo(
        [row("free_gift", variant_id=shop.card)],
        [row("subtotal_at_least", amount=3000)],
    )
    small = price({shop.tee: 2})
    assert small.line_for(shop.card) is None
    cart = price({shop.tee: 3}, country="GB", shipping_method_code="STD")
    gift = cart.line_for(shop.card)
    assert (gift.quantity, gift.gift_quantity, gift.discounted_amount, gift.tax) == (1, 1, 0, 0)
    assert gift.amount == gift.discount == 500
    assert f"Summer sale (free gift): {MINUS}$5.00" in gift.explanations
    without = price({shop.tee: 3}, country="GB", shipping_method_code="STD")
    assert cart.totals.total == without.totals.total  # the gift costs nothing, tax included
    assert [line.variant_id for line in cart.lines] == [shop.tee, shop.card]  # shown last


def test_a_gift_already_in_the_cart_adds_a_free_unit(shop, promo):
    promo([row("free_gift", variant_id=shop.card, quantity=1)])
    cart = price({shop.card: 2})
    line = cart.line_for(shop.card)
    assert (line.quantity, line.gift_quantity, line.amount, line.discount) == (3, 1, 1500, 500)


def test_a_sold_out_gift_is_left_out_with_a_note(shop, promo, make_product):
    gift = make_product("Tote", price=900, status="active").variants[0].id  # no stock
    promo([row("free_gift", variant_id=gift)])
    cart = price({shop.tee: 1})
    assert cart.line_for(gift) is None
    assert [n.message for n in cart.notes_for("gift")] == ["The free gift (Tote) is sold out."]


def test_line_discounts_then_an_order_discount_on_what_is_left(shop, promo):
    promo([row("percent_off_items", percent=50, items={"tags": ["sale"]})], priority=1)
    promo([row("amount_off_order", amount=400)], name="Welcome", priority=2)
    cart = price({shop.sale: 2, shop.tee: 1})  # socks 6.00 -> 3.00; tee 10.00; then -4.00
    assert cart.totals.discounts == 300 + 400
    assert cart.order_adjustments[0].amount == 400


def test_gift_stock_rule_counts_other_shoppers_holds(shop, promo, app):
    gift = create_product(title="Pin", price=200, status="active", by=None).variants[0].id
    receive_stock(gift, quantity=1, by=None)
    promo([row("free_gift", variant_id=gift, quantity=2)])
    assert price({shop.tee: 1}).line_for(gift) is None  # only 1 left for a gift of 2

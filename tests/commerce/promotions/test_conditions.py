"""Every condition, table-driven, with its edges: exact thresholds, empty carts, excluded
items, unknown facts, all/any."""

from __future__ import annotations

from datetime import datetime

import pytest

from tests.commerce.promotions.conftest import NOW, price, row

TEN_OFF = [row("amount_off_order", amount=1000)]


def applied(cart) -> bool:
    return cart.totals.discounts > 0


# (condition factory(shop) -> row, cart factory(shop) -> lines, context, applies)
CASES = {
    "subtotal below": (
        lambda s: row("subtotal_at_least", amount=5000),
        lambda s: {s.tee: 4, s.sale: 3},  # 40.00 + 9.00 = 49.00
        {},
        False,
    ),
    "subtotal exactly at the threshold": (
        lambda s: row("subtotal_at_least", amount=5000),
        lambda s: {s.tee: 5},
        {},
        True,
    ),
    "subtotal of matching items only": (
        lambda s: row("subtotal_at_least", amount=3000, items={"categories": [s.tshirts.id]}),
        lambda s: {s.tee: 2, s.mug: 2},  # tees 20.00, mugs do not count
        {},
        False,
    ),
    "quantity one short": (
        lambda s: row("quantity_at_least", quantity=3, items={"categories": [s.clothing.id]}),
        lambda s: {s.tee: 1, s.tee2: 1, s.mug: 5},
        {},
        False,
    ),
    "quantity exactly (parent category covers its children)": (
        lambda s: row("quantity_at_least", quantity=3, items={"categories": [s.clothing.id]}),
        lambda s: {s.tee: 2, s.tee2: 1},
        {},
        True,
    ),
    "quantity with an excluded product": (
        lambda s: row(
            "quantity_at_least",
            quantity=3,
            items={"categories": [s.clothing.id], "exclude_products": [s.products["tee2"].id]},
        ),
        lambda s: {s.tee: 2, s.tee2: 5},
        {},
        False,
    ),
    "contains a product": (
        lambda s: row("cart_contains", items={"products": [s.products["mug"].id]}),
        lambda s: {s.mug: 1},
        {},
        True,
    ),
    "contains a variant: no": (
        lambda s: row("cart_contains", items={"variants": [s.mug]}),
        lambda s: {s.tee: 1},
        {},
        False,
    ),
    "contains a manual collection's product": (
        lambda s: row("cart_contains", items={"collections": [s.summer.id]}),
        lambda s: {s.mug: 1, s.tee: 1},
        {},
        True,
    ),
    "contains a rule collection's product (tag rule)": (
        lambda s: row("cart_contains", items={"collections": [s.on_sale.id]}),
        lambda s: {s.sale: 1},
        {},
        True,
    ),
    "contains a tag (case-insensitive)": (
        lambda s: row("cart_contains", items={"tags": ["GIFT"]}),
        lambda s: {s.card: 1},
        {},
        True,
    ),
    "excludes: the excluded item is in the cart": (
        lambda s: row("cart_excludes", items={"tags": ["sale"]}),
        lambda s: {s.tee: 1, s.sale: 1},
        {},
        False,
    ),
    "excludes: it is not": (
        lambda s: row("cart_excludes", items={"tags": ["sale"]}),
        lambda s: {s.tee: 1},
        {},
        True,
    ),
    "signed in: guest": (
        lambda s: row("customer_signed_in"),
        lambda s: {s.tee: 1},
        {},
        False,
    ),
    "signed in: customer": (
        lambda s: row("customer_signed_in"),
        lambda s: {s.tee: 1},
        {"customer_id": 7},
        True,
    ),
    "customer tag: missing": (
        lambda s: row("customer_tag", tags=["vip"]),
        lambda s: {s.tee: 1},
        {"customer_tags": ("regular",)},
        False,
    ),
    "customer tag: present": (
        lambda s: row("customer_tag", tags=["vip", "staff"]),
        lambda s: {s.tee: 1},
        {"customer_tags": ("VIP",)},
        True,
    ),
    "first order: unknown shopper": (
        lambda s: row("first_order"),
        lambda s: {s.tee: 1},
        {"first_order": None},
        False,
    ),
    "first order: not the first": (
        lambda s: row("first_order"),
        lambda s: {s.tee: 1},
        {"first_order": False},
        False,
    ),
    "first order: yes": (
        lambda s: row("first_order"),
        lambda s: {s.tee: 1},
        {"first_order": True},
        True,
    ),
    "shipping country: no address yet": (
        lambda s: row("shipping_country", countries=["FR", "BE"]),
        lambda s: {s.tee: 1},
        {},
        False,
    ),
    "shipping country: another": (
        lambda s: row("shipping_country", countries=["FR", "BE"]),
        lambda s: {s.tee: 1},
        {"country": "GB"},
        False,
    ),
    "shipping country: listed": (
        lambda s: row("shipping_country", countries=["fr", "BE"]),
        lambda s: {s.tee: 1},
        {"country": "FR"},
        True,
    ),
    "window: weekday and hour in Paris": (  # Monday 12:00 in Paris
        lambda s: row("time_window", weekdays=["Mon"], start="11:00", end="13:00"),
        lambda s: {s.tee: 1},
        {},
        True,
    ),
    "window: end is exclusive": (
        lambda s: row("time_window", start="09:00", end="12:00"),
        lambda s: {s.tee: 1},
        {},
        False,
    ),
    "window: another weekday": (
        lambda s: row("time_window", weekdays=[5, 6]),
        lambda s: {s.tee: 1},
        {},
        False,
    ),
    "empty cart": (
        lambda s: row("customer_signed_in"),
        lambda s: {},
        {"customer_id": 7},
        False,
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_condition(shop, promo, name):
    condition, lines, ctx, expected = CASES[name]
    promo(TEN_OFF, [condition(shop)])
    cart = price(lines(shop), **ctx)
    assert applied(cart) is expected


def test_coupon_code_condition_is_case_insensitive(shop, promo):
    promo(TEN_OFF, [row("coupon_code")], code="Summer10")
    assert not applied(price({shop.tee: 2}))
    assert not applied(price({shop.tee: 2}, coupon_codes=("WINTER",)))
    cart = price({shop.tee: 2}, coupon_codes=(" summer10 ",))
    assert applied(cart)
    assert cart.order_adjustments[0].code == "SUMMER10"


@pytest.mark.parametrize(
    ("match", "signed_in", "country", "expected"),
    [
        ("all", True, "FR", True),
        ("all", True, "GB", False),
        ("any", False, "FR", True),
        ("any", True, "GB", True),
        ("any", False, "GB", False),
    ],
)
def test_all_or_any(shop, promo, match, signed_in, country, expected):
    promo(
        TEN_OFF,
        [row("customer_signed_in"), row("shipping_country", countries=["FR"])],
        match=match,
    )
    cart = price({shop.tee: 2}, customer_id=1 if signed_in else None, country=country)
    assert applied(cart) is expected


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (datetime(2027, 5, 31, 21, 59), False),  # 23:59 in Paris on 31 May
        (datetime(2027, 5, 31, 22, 0), True),  # midnight in Paris: it starts
        (datetime(2027, 6, 30, 21, 59), True),
        (datetime(2027, 6, 30, 22, 0), False),  # ends (exclusive) at 1 July 00:00 Paris
    ],
)
def test_the_schedule_is_in_the_promotions_time_zone(shop, promo, now, expected):
    promo(TEN_OFF, starts_at="2027-06-01T00:00", ends_at="2027-07-01T00:00")
    assert applied(price({shop.tee: 2}, now=now)) is expected


def test_scheduled_promotions_switch_on_by_the_clock_without_a_job(shop, promo):
    p = promo(TEN_OFF, starts_at=datetime(2027, 6, 8))
    assert p.status_at(NOW) == "scheduled"
    assert not applied(price({shop.tee: 2}))
    assert applied(price({shop.tee: 2}, now=datetime(2027, 6, 8, 12)))
    assert p.status_at(datetime(2027, 6, 8, 12)) == "active"

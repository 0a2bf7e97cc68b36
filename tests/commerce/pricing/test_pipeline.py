"""price_cart(): table-driven scenarios, errors, explanations, promotions, and no writes."""

from __future__ import annotations

import pytest

from commerce.catalog.services import update_product
from commerce.pricing import (
    ADJUSTMENT_PRODUCERS,
    LINE,
    ORDER,
    Adjustment,
    CartLine,
    PricingContext,
    Totals,
    price_cart,
)
from commerce.pricing.models import SHIPPING_UNAVAILABLE, UNAVAILABLE_PRODUCT, UNKNOWN_VARIANT
from commerce.pricing.pipeline import MINUS, TIMES
from tests.conftest import count_queries

UNKNOWN = 987_654


def ctx(country=None, method=None, region=None, **kw):
    return PricingContext(
        country=country, region=region, shipping_method_code=method, customer_id=None, **kw
    )


# (id, lines as (variant name, quantity), context, expected totals, expected [(name, qty)])
SCENARIOS = [
    (
        "single line",
        [("a", 2)],
        ctx("GB", "STD"),
        # 3998 + shipping 500 + tax (800 on the line, 100 on shipping)
        Totals(subtotal=3998, discounts=0, shipping=500, tax=900, total=5398),
        [("a", 2)],
    ),
    (
        "duplicate lines merged, first order kept",
        [("b", 1), ("a", 1), ("b", 2)],
        ctx("GB", "STD"),
        # 1500 + 1999 = 3499 + 500 shipping; tax 300 + 400 (399.8) + 100
        Totals(subtotal=3499, discounts=0, shipping=500, tax=800, total=4799),
        [("b", 3), ("a", 1)],
    ),
    (
        "weight-based shipping",
        [("b", 2)],  # 2400 g: the 10 kg bracket; France has no tax rate
        ctx("FR", "PARCEL"),
        Totals(subtotal=1000, discounts=0, shipping=1495, tax=0, total=2495),
        [("b", 2)],
    ),
    (
        "free shipping at the threshold",
        [("b", 10)],  # exactly $50.00
        ctx("GB", "STD"),
        Totals(subtotal=5000, discounts=0, shipping=0, tax=1000, total=6000),
        [("b", 10)],
    ),
    (
        "no country: no shipping or tax yet",
        [("a", 1)],
        ctx(None, "STD"),
        Totals(subtotal=1999, discounts=0, shipping=0, tax=0, total=1999),
        [("a", 1)],
    ),
    (
        "region rate wins over the country's",
        [("a", 1)],
        ctx("US", "STD", region="CA"),
        # 7.25%: 144.93 -> 145 on the line, 36.25 -> 36 on shipping
        Totals(subtotal=1999, discounts=0, shipping=500, tax=181, total=2680),
        [("a", 1)],
    ),
    (
        "country rate without a regional one",
        [("a", 1)],
        ctx("US", "STD", region="NY"),
        # 5%: 99.95 -> 100, 25 on shipping
        Totals(subtotal=1999, discounts=0, shipping=500, tax=125, total=2624),
        [("a", 1)],
    ),
    (
        "country chosen, no method yet",
        [("a", 1)],
        ctx("GB"),
        Totals(subtotal=1999, discounts=0, shipping=0, tax=400, total=2399),
        [("a", 1)],
    ),
]


@pytest.mark.parametrize(
    ("lines", "context", "expected", "shown"),
    [s[1:] for s in SCENARIOS],
    ids=[s[0] for s in SCENARIOS],
)
def test_scenarios(shop, lines, context, expected, shown):
    ids = {"a": shop.a, "b": shop.b}
    cart = price_cart([CartLine(ids[n], q) for n, q in lines], context)
    assert cart.errors == ()
    assert cart.totals == expected
    assert [(line.variant_id, line.quantity) for line in cart.lines] == [
        (ids[n], q) for n, q in shown
    ]
    assert cart.currency == "USD"


def test_no_country_leaves_shipping_and_tax_for_later(shop):
    cart = price_cart([CartLine(shop.a, 1)], ctx())
    assert cart.shipping is None and cart.shipping_options is None
    assert cart.tax_rate_bps is None and cart.lines[0].tax_rate_bps is None
    assert cart.needs_address and not cart.is_complete
    assert "Shipping and tax are calculated once we know where to ship." in cart.explanations


def test_without_a_method_the_options_are_listed(shop):
    cart = price_cart([CartLine(shop.b, 2)], ctx("FR"))
    assert cart.shipping is None and cart.needs_shipping_method
    assert [(o.code, o.amount) for o in cart.shipping_options] == [("STD", 500), ("PARCEL", 1495)]
    assert "Choose a shipping method (2 available)." in cart.explanations


def test_a_method_that_cannot_carry_the_cart_is_an_error(shop):
    cart = price_cart([CartLine(shop.a, 1)], ctx("GB", "PARCEL"))  # France only
    assert [e.code for e in cart.errors] == [SHIPPING_UNAVAILABLE]
    assert cart.errors[0].field == "shipping_method_code"
    assert cart.shipping is None and cart.totals.shipping == 0


@pytest.mark.parametrize(
    ("inclusive", "expected"),
    [
        # exclusive: tax added on top (800 + 100)
        (False, Totals(subtotal=3998, discounts=0, shipping=500, tax=900, total=5398)),
        # inclusive: tax contained (3998/6 = 666.33 -> 666, 500/6 = 83.33 -> 83)
        (True, Totals(subtotal=3998, discounts=0, shipping=500, tax=749, total=4498)),
    ],
)
def test_inclusive_and_exclusive_tax(shop, app, monkeypatch, inclusive, expected):
    monkeypatch.setitem(app.config, "PRICES_INCLUDE_TAX", inclusive)
    cart = price_cart([CartLine(shop.a, 2)], ctx("GB", "STD"))
    assert cart.prices_include_tax is inclusive
    assert cart.totals == expected
    assert cart.shipping.tax == (83 if inclusive else 100)
    note = "Includes VAT 20%: $7.49" if inclusive else "VAT 20%: $9.00"
    assert note in cart.explanations


def test_unknown_and_archived_variants_are_line_errors(shop):
    update_product(shop.products["b"], status="archived", by=None)
    cart = price_cart(
        [CartLine(UNKNOWN, 1), CartLine(shop.a, 1), CartLine(shop.b, 1)], ctx("GB", "STD")
    )
    assert [(e.code, e.variant_id) for e in cart.errors] == [
        (UNKNOWN_VARIANT, UNKNOWN),
        (UNAVAILABLE_PRODUCT, shop.b),
    ]
    assert [line.variant_id for line in cart.lines] == [shop.a]
    assert cart.totals.subtotal == 1999


@pytest.mark.parametrize("quantity", [0, -1, 1.5, True])
def test_bad_quantities_are_line_errors(shop, quantity):
    cart = price_cart([CartLine(shop.a, quantity), CartLine(shop.b, 1)], ctx())
    assert [(e.code, e.field) for e in cart.errors] == [("invalid_quantity", "quantity")]
    assert [line.variant_id for line in cart.lines] == [shop.b]


def test_empty_cart(shop):
    cart = price_cart([], ctx("GB", "STD"))
    assert cart.lines == () and cart.errors == ()
    assert cart.totals == Totals(0, 0, 500, 100, 600)


def test_line_explanations(shop):
    cart = price_cart([CartLine(shop.a, 2), CartLine(shop.b, 2)], ctx("GB", "STD"))
    mug, card = cart.lines
    assert mug.explanations == (f"2 {TIMES} $19.99", "Tax 20%: $8.00")
    assert card.savings == 600
    assert card.explanations == (
        f"2 {TIMES} $5.00",
        "Was $8.00 each: you save $6.00",
        "Tax 20%: $2.00",
    )
    assert cart.explanations == (
        "Subtotal: $49.98",
        "Shipping (Standard): $5.00",
        "VAT 20%: $11.00",  # 800 + 200 on the lines, 100 on shipping
        "Total: $65.98",
    )


def test_free_shipping_is_explained(shop):
    cart = price_cart([CartLine(shop.a, 3)], ctx("GB", "STD"))
    assert "Shipping (Standard): free on orders of $50.00 or more" in cart.explanations


def order_discount(amount, label="Spring sale"):
    def producer(view):
        return [Adjustment(ORDER, amount, label, source="test")]

    return producer


def test_order_discount_is_allocated_to_lines_and_taxed_after(shop):
    cart = price_cart(
        [CartLine(shop.a, 1), CartLine(shop.b, 1)],
        ctx("GB", "STD"),
        producers=[order_discount(1000)],
    )
    mug, card = cart.lines
    assert (mug.discount, card.discount) == (800, 200)  # 1999:500 of $10.00
    assert (mug.discounted_amount, card.discounted_amount) == (1199, 300)
    assert (mug.tax, card.tax) == (240, 60)  # 239.8 -> 240
    assert cart.totals == Totals(subtotal=2499, discounts=1000, shipping=500, tax=400, total=2399)
    assert f"Spring sale: {MINUS}$8.00" in mug.explanations
    assert f"Spring sale: {MINUS}$10.00" in cart.explanations
    assert cart.order_adjustments[0].amount == 1000


def test_discounts_are_capped_so_nothing_goes_negative(shop):
    def line_discount(view):
        return [Adjustment(LINE, 5000, "Half off", variant_id=shop.b)]

    cart = price_cart(
        [CartLine(shop.a, 1), CartLine(shop.b, 1)],
        ctx("GB", "STD"),
        producers=[line_discount, order_discount(10**9)],
    )
    mug, card = cart.lines
    assert card.adjustments[0].amount == 500 and card.adjustments[0].requested == 5000
    assert (mug.discounted_amount, card.discounted_amount) == (0, 0)
    assert cart.order_adjustments[0].amount == 1999
    assert cart.totals == Totals(subtotal=2499, discounts=2499, shipping=500, tax=100, total=600)


def test_free_over_uses_the_discounted_subtotal(shop):
    cart = price_cart([CartLine(shop.b, 10)], ctx("GB", "STD"), producers=[order_discount(1)])
    assert cart.totals.shipping == 500


def test_producers_see_lines_context_and_subtotal(shop):
    seen = []

    def spy(view):
        seen.append(view)
        return []

    context = ctx("GB", coupon_codes=("SPRING",))
    price_cart([CartLine(shop.b, 1), CartLine(shop.a, 1)], context, producers=[spy])
    (view,) = seen
    assert view.subtotal == 2499 and view.context == context and view.currency == "USD"
    assert [line.variant_id for line in view.lines] == sorted([shop.a, shop.b])


def test_the_promotions_engine_is_the_registered_producer():
    """The promotions first; then a draft order's own discount (commerce.drafts, registered
    by the app), which prices nothing but a draft's checkout."""
    from commerce.drafts.pricing import draft_discount
    from commerce.pricing.promotions import promotion_producer

    assert [promotion_producer, draft_discount] == ADJUSTMENT_PRODUCERS


def test_one_variant_query_and_no_writes(shop):
    lines = [CartLine(shop.a, 1), CartLine(shop.b, 2), CartLine(UNKNOWN, 1)]
    with count_queries() as statements:
        price_cart(lines, ctx("GB", "STD"))
    assert sum("FROM variant" in s for s in statements) == 1
    assert not [s for s in statements if s.lstrip().upper().startswith(("INSERT", "UPDATE"))]
    assert not [s for s in statements if s.lstrip().upper().startswith("DELETE")]

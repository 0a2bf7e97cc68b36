"""Properties of price_cart() (hypothesis): totals never negative, allocations exact and
within each line, and the result independent of the order of the lines."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from commerce.pricing import LINE, ORDER, Adjustment, CartLine, PricingContext, price_cart

SETTINGS = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)

quantities = st.lists(
    st.tuples(st.sampled_from(["a", "b", "c"]), st.integers(min_value=1, max_value=50)),
    min_size=0,
    max_size=8,
)
contexts = st.sampled_from(
    [
        PricingContext(None, None, None, None),
        PricingContext("GB", None, "STD", None),
        PricingContext("GB", None, None, None),
        PricingContext("US", "CA", "STD", None),
        PricingContext("FR", None, "PARCEL", None),
    ]
)
adjustments = st.lists(
    st.tuples(
        st.sampled_from([LINE, ORDER]),
        st.sampled_from(["a", "b", "c"]),
        st.integers(min_value=0, max_value=200_000),
    ),
    max_size=4,
)


def variants(shop, make_product):
    c = make_product("Odd", price=333, weight_grams=0, status="active")
    return {"a": shop.a, "b": shop.b, "c": c.variants[0].id}


def producer_for(ids, wanted):
    def producer(view):
        return [
            Adjustment(scope, amount, f"Promo {n}", variant_id=ids[name] if scope == LINE else None)
            for n, (scope, name, amount) in enumerate(wanted)
        ]

    return producer


@given(lines=quantities, context=contexts, wanted=adjustments, inclusive=st.booleans())
@SETTINGS
def test_totals_are_never_negative_and_add_up(
    shop, make_product, app, lines, context, wanted, inclusive
):
    app.config["PRICES_INCLUDE_TAX"] = inclusive
    ids = variants(shop, make_product)
    cart = price_cart(
        [CartLine(ids[n], q) for n, q in lines], context, producers=[producer_for(ids, wanted)]
    )
    t = cart.totals
    assert min(t.subtotal, t.discounts, t.shipping, t.tax, t.total) >= 0
    assert t.discounts <= t.subtotal
    assert t.subtotal == sum(line.amount for line in cart.lines)
    assert t.discounts == sum(line.discount for line in cart.lines)
    assert t.total == t.subtotal - t.discounts + t.shipping + (0 if inclusive else t.tax)
    for line in cart.lines:
        assert 0 <= line.discounted_amount == line.amount - line.discount
        assert line.tax >= 0
        assert line.discount == sum(adj.amount for adj in line.adjustments)


@given(lines=quantities.filter(bool), wanted=adjustments)
@SETTINGS
def test_order_discounts_are_allocated_exactly_within_each_line(shop, make_product, lines, wanted):
    ids = variants(shop, make_product)
    cart = price_cart(
        [CartLine(ids[n], q) for n, q in lines],
        PricingContext("GB", None, "STD", None),
        producers=[producer_for(ids, wanted)],
    )
    for applied in cart.order_adjustments:
        shares = [
            adj.amount
            for line in cart.lines
            for adj in line.adjustments
            if adj.scope == ORDER and adj.label == applied.label
        ]
        assert sum(shares) == applied.amount <= applied.requested
    for line in cart.lines:
        assert line.discount <= line.amount


@given(lines=quantities, context=contexts, wanted=adjustments, data=st.data())
@SETTINGS
def test_result_is_independent_of_line_order(shop, make_product, lines, context, wanted, data):
    ids = variants(shop, make_product)
    cart_lines = [CartLine(ids[n], q) for n, q in lines]
    shuffled = data.draw(st.permutations(cart_lines))
    producers = [producer_for(ids, wanted)]
    first = price_cart(cart_lines, context, producers=producers)
    second = price_cart(shuffled, context, producers=producers)
    assert first.totals == second.totals
    assert first.explanations == second.explanations
    assert first.shipping == second.shipping and first.shipping_options == second.shipping_options
    by_variant = sorted(first.lines, key=lambda line: line.variant_id)
    assert by_variant == sorted(second.lines, key=lambda line: line.variant_id)

"""Properties of promotions in price_cart (hypothesis), over random promotion sets, stacking
rules, priorities and carts: totals never negative, every order discount split over the lines
exactly, shipping never below zero, and the result independent of the order lines came in."""

from __future__ import annotations

from types import SimpleNamespace

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from commerce.pricing import GIFT, LINE, ORDER, CartLine, price_cart
from commerce.pricing.promotions import producer_for
from commerce.promotions.engine import compile_promotion, in_order
from tests.commerce.promotions.conftest import context

SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
NAMES = ["tee", "tee2", "mug", "card", "sale"]

percents = st.integers(min_value=1, max_value=100).map(str)
amounts = st.integers(min_value=1, max_value=6000)
selectors = st.sampled_from([{}, {"tags": ["sale", "gift"]}, {"categories": ["T"]}])
actions = st.one_of(
    st.builds(lambda p, i: ("percent_off_items", {"percent": p, "items": i}), percents, selectors),
    st.builds(lambda a, i: ("amount_off_items", {"amount": a, "items": i}), amounts, selectors),
    st.builds(lambda a: ("fixed_price_items", {"price": a}), st.integers(0, 3000)),
    st.builds(lambda p: ("percent_off_order", {"percent": p}), percents),
    st.builds(lambda a: ("amount_off_order", {"amount": a}), st.integers(1, 20000)),
    st.builds(
        lambda b, g, p, m: (
            "buy_x_get_y",
            {"buy": b, "get": g, "percent": p, **({"max_per_order": m} if m else {})},
        ),
        st.integers(1, 3),
        st.integers(1, 2),
        percents,
        st.one_of(st.none(), st.integers(1, 3)),
    ),
    st.builds(
        lambda t1, t2: (
            "tiered",
            {"tiers": [{"threshold": t1, "amount": 300}, {"threshold": t1 + t2, "percent": "10"}]},
        ),
        st.integers(1, 5000),
        st.integers(1, 5000),
    ),
    st.just(("free_shipping", {})),
    st.just(("free_gift", {"variant_id": "card"})),
)
promotion_specs = st.lists(
    st.tuples(
        st.lists(actions, min_size=1, max_size=2),
        st.sampled_from(["exclusive", "combinable", "shipping_only"]),
        st.integers(0, 3),
        st.one_of(st.none(), st.integers(1, 8000)),  # an optional subtotal condition
    ),
    max_size=5,
)
carts = st.lists(st.tuples(st.sampled_from(NAMES), st.integers(1, 6)), max_size=6)
places = st.sampled_from([{}, {"country": "GB", "shipping_method_code": "STD"}])


def compiled(shop, specs):
    def resolve(params):
        params = dict(params)
        if params.get("variant_id") == "card":
            params["variant_id"] = shop.card
        if params.get("items") == {"categories": ["T"]}:
            params["items"] = {"categories": [shop.tshirts.id]}
        return params

    found = []
    for n, (rows, stacking, priority, threshold) in enumerate(specs, start=1):
        conditions = (
            [SimpleNamespace(kind="subtotal_at_least", params={"amount": threshold})]
            if threshold
            else []
        )
        row = SimpleNamespace(
            id=n,
            name=f"P{n}",
            state="enabled",
            starts_at=None,
            ends_at=None,
            timezone="UTC",
            priority=priority,
            stacking=stacking,
            match="all",
            requires_coupon=False,
            usage_limit=None,
            usage_limit_per_customer=None,
            usage_limit_per_code=None,
            conditions=conditions,
            actions=[SimpleNamespace(kind=k, params=resolve(p)) for k, p in rows],
        )
        promotion = compile_promotion(row, currency="USD")
        assert promotion is not None, row
        found.append(promotion)
    return in_order(found)


def priced(shop, lines, specs, place):
    producer = producer_for(compiled(shop, specs))
    cart_lines = [CartLine(getattr(shop, name), quantity) for name, quantity in lines]
    return price_cart(cart_lines, context(**place), producers=[producer])


@given(lines=carts, specs=promotion_specs, place=places)
@SETTINGS
def test_totals_are_never_negative_and_order_discounts_split_exactly(shop, lines, specs, place):
    cart = priced(shop, lines, specs, place)
    totals = cart.totals
    assert totals.total >= 0 and totals.discounts >= 0 and totals.shipping >= 0
    for line in cart.lines:
        assert 0 <= line.discount <= line.amount
        assert line.discounted_amount == line.amount - line.discount >= 0
        assert sum(adj.amount for adj in line.adjustments) == line.discount
    assert totals.discounts == sum(line.discount for line in cart.lines)
    assert totals.discounts <= totals.subtotal
    for source in {adj.source for adj in cart.order_adjustments}:
        shares = sum(
            adj.amount
            for line in cart.lines
            for adj in line.adjustments
            if adj.scope == ORDER and adj.source == source
        )
        assert shares == sum(a.amount for a in cart.order_adjustments if a.source == source)
    if cart.shipping is not None:
        assert cart.shipping.amount >= 0
        assert cart.shipping.discount == sum(a.amount for a in cart.shipping.adjustments)
    tax = 0 if cart.prices_include_tax else totals.tax
    assert totals.total == totals.subtotal - totals.discounts + totals.shipping + tax
    assert all(adj.scope in (LINE, ORDER, GIFT) for line in cart.lines for adj in line.adjustments)


@given(lines=carts, specs=promotion_specs, place=places, seed=st.randoms(use_true_random=False))
@SETTINGS
def test_the_result_does_not_depend_on_the_order_of_the_lines(shop, lines, specs, place, seed):
    shuffled = list(lines)
    seed.shuffle(shuffled)
    first = priced(shop, lines, specs, place)
    second = priced(shop, shuffled, specs, place)
    assert first.totals == second.totals
    assert first.order_adjustments == second.order_adjustments
    by_variant = lambda cart: sorted(  # noqa: E731
        (line.variant_id, line.quantity, line.discount, line.adjustments, line.tax)
        for line in cart.lines
    )
    assert by_variant(first) == by_variant(second)
    assert first.shipping == second.shipping

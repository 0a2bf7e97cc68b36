"""The weighted average unit cost over random receipts, damages and sales (hypothesis).

The database computes the average (commerce/inventory/costing.py, one UPDATE); the model here
is the documented rule in exact fractions: the mean of what was on hand at the old average and
what arrived at its cost, rounded half up to a whole minor unit, once per receipt. Both must
agree exactly, and the average always lies between the lowest and highest cost received.
"""

from __future__ import annotations

import itertools
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from commerce.catalog.services import create_product
from commerce.extensions import db
from commerce.inventory.costing import weighted_average
from commerce.inventory.queries import variant_levels
from commerce.inventory.services import adjust_stock, receive_stock
from tests.commerce.inventory.conftest import add_location

_n = itertools.count(1)

steps = st.lists(
    st.one_of(
        st.tuples(
            st.just("receive"),
            st.integers(min_value=1, max_value=500),
            st.integers(min_value=0, max_value=2_000_000),
        ),
        st.tuples(st.just("remove"), st.integers(min_value=1, max_value=300), st.just(0)),
    ),
    min_size=1,
    max_size=12,
)


def half_up(value: Fraction) -> int:
    return int((value + Fraction(1, 2)).__floor__())


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(steps=steps)
def test_average_cost_follows_the_documented_rule(app, steps):
    follow_the_rule(steps)


@pytest.mark.postgres
@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
@given(steps=steps)
def test_average_cost_follows_the_documented_rule_on_postgresql(pg_app, steps):
    """The same rule in PostgreSQL's arithmetic (its division is not SQLite's)."""
    follow_the_rule(steps)


def follow_the_rule(steps: list[tuple[str, int, int]]) -> None:
    n = next(_n)
    variant = create_product(title=f"Costed {n}", by=None, sku=f"COST-{n}").variants[0]
    first, second = add_location(f"Costing A{n}"), add_location(f"Costing B{n}")
    on_hand, average, costs = 0, None, []
    for index, (kind, quantity, cost) in enumerate(steps):
        where = first if index % 2 else second
        if kind == "receive":
            receive_stock(
                variant.id, quantity=quantity, by=None, location_id=where.id, unit_cost=cost
            )
            if average is None or on_hand <= 0:
                expected = cost
            else:
                exact = Fraction(average * on_hand + cost * quantity, on_hand + quantity)
                expected = half_up(exact)
                assert abs(expected - exact) <= Fraction(1, 2)
            assert weighted_average(average, on_hand, quantity, cost) == expected
            average = expected
            on_hand += quantity
            costs.append(cost)
        else:
            here = sum(
                lv.on_hand for lv in variant_levels(variant.id) if lv.location_id == where.id
            )
            taken = min(quantity, here)
            if not taken:
                continue
            adjust_stock(variant.id, location_id=where.id, delta=-taken, reason="damaged", by=None)
            on_hand -= taken
        db.session.refresh(variant)
        assert variant.cost == average
        if costs:
            assert min(costs) <= variant.cost <= max(costs)

"""allocate(): largest remainder, exact sums, never more than a line's amount (hypothesis)."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from commerce.pricing import allocate

weights_st = st.lists(st.integers(min_value=0, max_value=10**9), min_size=1, max_size=30)


@st.composite
def totals_and_weights(draw: st.DrawFn) -> tuple[int, list[int]]:
    weights = draw(weights_st)
    total = draw(st.integers(min_value=0, max_value=sum(weights)))
    return total, weights


@pytest.mark.parametrize(
    ("total", "weights", "expected"),
    [
        (0, [100, 200], (0, 0)),
        (300, [100, 200], (100, 200)),
        (100, [100, 100, 100], (34, 33, 33)),  # a tie: the earlier position gets the unit
        (2, [1, 1, 1], (1, 1, 0)),
        (1000, [1999, 500], (800, 200)),
        (10, [0, 5, 5], (0, 5, 5)),
        (7, [7], (7,)),
        (1, [1, 3], (0, 1)),  # 0.25 / 0.75: the larger remainder wins
    ],
)
def test_examples(total, weights, expected):
    assert allocate(total, weights) == expected


@pytest.mark.parametrize(
    ("total", "weights"), [(-1, [1]), (3, [1, 1]), (1, [0, 0]), (1, [-1, 3]), (1, [])]
)
def test_refuses_what_cannot_be_allocated(total, weights):
    with pytest.raises(ValueError):
        allocate(total, weights)


@given(totals_and_weights())
def test_allocations_sum_exactly_to_the_total(case):
    total, weights = case
    assert sum(allocate(total, weights)) == total


@given(totals_and_weights())
def test_no_share_exceeds_its_weight_or_goes_negative(case):
    total, weights = case
    for share, weight in zip(allocate(total, weights), weights, strict=True):
        assert 0 <= share <= weight


@given(totals_and_weights())
def test_each_share_is_within_one_unit_of_its_exact_share(case):
    total, weights = case
    whole = sum(weights)
    for share, weight in zip(allocate(total, weights), weights, strict=True):
        exact = Fraction(total * weight, whole) if whole else Fraction(0)
        assert abs(share - exact) < 1


@given(totals_and_weights(), st.randoms(use_true_random=False))
def test_distinct_weights_get_the_same_share_in_any_order(case, rnd):
    """Ties aside (equal weights are interchangeable), a weight's share does not depend on
    its position."""
    total, weights = case
    shares = dict(zip(weights, allocate(total, weights), strict=False))
    shuffled = list(weights)
    rnd.shuffle(shuffled)
    if len(set(weights)) == len(weights):
        assert dict(zip(shuffled, allocate(total, shuffled), strict=True)) == shares

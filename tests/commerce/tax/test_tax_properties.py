"""Properties of compute_tax (hypothesis): never negative, inclusive tax below the amount,
and inclusive and exclusive prices agree within one minor unit."""

from __future__ import annotations

from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st

from commerce.tax.services import compute_tax

amounts = st.integers(min_value=0, max_value=10**12)
rates = st.integers(min_value=0, max_value=10_000)


@given(amount=amounts, rate_bps=rates, inclusive=st.booleans())
def test_tax_is_never_negative(amount, rate_bps, inclusive):
    assert compute_tax(amount, rate_bps, prices_include_tax=inclusive) >= 0


@given(amount=st.integers(min_value=1, max_value=10**12), rate_bps=rates)
def test_inclusive_tax_is_less_than_the_amount(amount, rate_bps):
    assert compute_tax(amount, rate_bps, prices_include_tax=True) < amount


@given(net=amounts, rate_bps=rates)
def test_exclusive_and_inclusive_agree_within_one_minor_unit(net, rate_bps):
    """Tax added to a net price equals, within 1, the tax contained in the resulting gross."""
    added = compute_tax(net, rate_bps, prices_include_tax=False)
    contained = compute_tax(net + added, rate_bps, prices_include_tax=True)
    assert abs(added - contained) <= 1


@given(amount=amounts, rate_bps=rates, inclusive=st.booleans())
def test_rounding_is_within_half_a_minor_unit_of_exact(amount, rate_bps, inclusive):
    exact = Fraction(amount * rate_bps, (10_000 + rate_bps) if inclusive else 10_000)
    tax = compute_tax(amount, rate_bps, prices_include_tax=inclusive)
    assert abs(tax - exact) <= Fraction(1, 2)
    if abs(tax - exact) == Fraction(1, 2):
        assert tax % 2 == 0  # ties go to the even neighbour

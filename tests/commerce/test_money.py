from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from commerce.errors import ValidationError
from commerce.money import (
    MAX_AMOUNT,
    Money,
    format_amount_plain,
    format_money,
    parse_amount,
    scale_amount,
)


@pytest.mark.parametrize(
    ("text", "currency", "amount"),
    [
        ("19.99", "USD", 1999),
        ("1,299.00", "USD", 129900),
        ("$5", "USD", 500),
        ("1200", "JPY", 1200),
        ("0.5", "EUR", 50),
        ("-3.10", "USD", -310),
        ("12.345", "BHD", 12345),
    ],
)
def test_parse_amount(text, currency, amount):
    assert parse_amount(text, currency) == amount


@pytest.mark.parametrize(
    ("text", "currency"),
    [("19.999", "USD"), ("1.5", "JPY"), ("abc", "USD"), ("", "USD"), ("1e3", "USD")],
)
def test_parse_amount_refuses(text, currency):
    with pytest.raises(ValidationError):
        parse_amount(text, currency, field="price")


def test_money_is_never_a_float():
    with pytest.raises(TypeError):
        Money(19.99, "USD")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        Money(1, "USD") + Money(1, "EUR")
    assert Money(150, "USD") + Money(250, "USD") == Money(400, "USD")


def test_formatting():
    assert format_money(129900, "USD") == "$1,299.00"
    assert format_money(1200, "JPY") == "¥1,200"
    assert format_money(1999, "EUR", locale="de_DE") == "19,99\xa0€"
    assert format_amount_plain(5, "USD") == "0.05"


@given(
    st.integers(min_value=-MAX_AMOUNT, max_value=MAX_AMOUNT),
    st.sampled_from(["USD", "JPY", "BHD", "EUR"]),
)
def test_plain_format_round_trips(amount, currency):
    assert parse_amount(format_amount_plain(amount, currency), currency) == amount


def test_amounts_beyond_the_money_columns_are_refused_at_the_field():
    """Money is INTEGER minor units: a larger amount is a message, never an overflow."""
    with pytest.raises(ValidationError) as caught:
        parse_amount("21474836.48", "USD", field="price")
    assert caught.value.field == "price" and "at most 21,474,836.47" in caught.value.message
    assert parse_amount("21474836.47", "USD") == MAX_AMOUNT


def test_scale_rounds_half_even():
    assert scale_amount(1005, percent=Decimal("-10")) == 904  # 904.5
    assert scale_amount(1015, percent=Decimal("-10")) == 914  # 913.5 -> 914
    assert scale_amount(1000, percent=Decimal("15")) == 1150

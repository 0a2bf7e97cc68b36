"""Money: integer minor units plus an ISO 4217 currency code. Never a float."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from functools import lru_cache

from babel.numbers import format_currency, get_currency_precision

from commerce.errors import ValidationError

MAX_AMOUNT = 2_147_483_647  # PostgreSQL INTEGER, the money columns' type (commerce.bounds)
_DECIMAL_RE = re.compile(r"^-?\d{1,15}(\.\d+)?$")


def minor_digits(currency: str) -> int:
    return get_currency_precision(currency.upper())


@dataclass(frozen=True, slots=True)
class Money:
    amount: int
    currency: str

    def __post_init__(self) -> None:
        if not isinstance(self.amount, int) or isinstance(self.amount, bool):
            raise TypeError("Money.amount must be an int of minor units")
        if len(self.currency) != 3:
            raise ValueError("currency must be an ISO 4217 code")

    @classmethod
    def parse(cls, text: str, currency: str, *, field: str | None = None) -> Money:
        """Read a decimal string as merchants type it ("19.99", "1,299.00") exactly."""
        return cls(parse_amount(text, currency, field=field), currency.upper())

    def __add__(self, other: Money) -> Money:
        self._check(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._check(other)
        return Money(self.amount - other.amount, self.currency)

    def _check(self, other: Money) -> None:
        if other.currency != self.currency:
            raise ValueError(f"cannot combine {self.currency} and {other.currency}")

    def format(self, locale: str = "en_US") -> str:
        return format_money(self.amount, self.currency, locale=locale)

    def __str__(self) -> str:
        return self.format()


def parse_amount(text: str | int | Decimal, currency: str, *, field: str | None = None) -> int:
    """Decimal text in major units -> int minor units; refuses extra decimal places."""
    if isinstance(text, int) and not isinstance(text, bool):
        raise TypeError("pass decimal text, not an int, to parse_amount")
    raw = str(text).strip().replace(",", "").replace(" ", "")
    for symbol in ("$", "€", "£", "¥"):
        raw = raw.replace(symbol, "")
    if not _DECIMAL_RE.match(raw):
        raise ValidationError(f"“{text}” is not an amount.", field=field)
    digits = minor_digits(currency)
    try:
        value = Decimal(raw)
    except InvalidOperation as exc:  # pragma: no cover - the regex already guards this
        raise ValidationError(f"“{text}” is not an amount.", field=field) from exc
    scaled = value.scaleb(digits)
    if scaled != scaled.to_integral_value():
        raise ValidationError(
            f"{currency} amounts have at most {digits} decimal places.", field=field
        )
    if abs(scaled) > MAX_AMOUNT:  # money columns are INTEGER minor units
        largest = f"{Decimal(MAX_AMOUNT).scaleb(-digits):,.{digits}f}"
        raise ValidationError(f"An amount is at most {largest}.", field=field)
    return int(scaled)


def format_amount_plain(amount: int, currency: str) -> str:
    """Machine-readable major units ("19.99"), as CSV files carry them."""
    digits = minor_digits(currency)
    return f"{Decimal(amount).scaleb(-digits):.{digits}f}"


def format_money(amount: int | None, currency: str, *, locale: str = "en_US") -> str:
    if amount is None:
        return ""
    return _formatted(amount, currency, locale)


@lru_cache(maxsize=8192)
def _formatted(amount: int, currency: str, locale: str) -> str:
    """Babel takes ~40 µs a call, and a list page shows a few hundred amounts, most of them
    repeated (the same prices): the answer for an amount never changes, so it is kept."""
    return format_currency(Decimal(amount).scaleb(-minor_digits(currency)), currency, locale=locale)


def scale_amount(amount: int, *, percent: Decimal) -> int:
    """Amount changed by a percentage, rounded half-even to a whole minor unit."""
    factor = (Decimal(100) + percent) / Decimal(100)
    return int((Decimal(amount) * factor).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))

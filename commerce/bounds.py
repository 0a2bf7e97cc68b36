"""Bounds on what people type: every number fits its column and makes business sense, and text
fields have a size, so out-of-range input is a message at the field (422), never a database
overflow (500) or a 3 MB row.

PostgreSQL's INTEGER holds up to 2,147,483,647; money is integer minor units in INTEGER
columns, so a price is bounded well below it (an order line multiplies it by its quantity).
The limits are documented in the README ("Security").
"""

from __future__ import annotations

from typing import Any

from commerce.errors import ValidationError

INT_MAX = 2_147_483_647  # PostgreSQL INTEGER
MAX_PRICE = 100_000_000  # minor units: 1,000,000.00 in a two-digit currency
MAX_WEIGHT_GRAMS = 10_000_000  # 10 tonnes
MAX_POSITION = 1_000_000  # a place in a list (images, categories, collections)
MAX_THRESHOLD = 1_000_000  # low-stock thresholds, usage limits and similar counts
MAX_DESCRIPTION = 100_000  # characters of a product, category or collection description
MAX_TAGS = 250  # tags on one product


def check_int(
    value: Any,
    *,
    field: str,
    low: int = 0,
    high: int = INT_MAX,
    what: str = "a whole number",
) -> int:
    """`value` as an int within [low, high], or ValidationError at `field` saying the range.
    Accepts an int or its decimal text (a form's or a CSV cell's)."""
    if isinstance(value, bool):
        raise ValidationError(f"Enter {what}.", field=field)
    if isinstance(value, str):
        text = value.strip()
        digits = text[1:] if text[:1] in "+-" else text
        if not digits.isdigit() or len(digits) > 20:
            raise ValidationError(f"Enter {what} from {low:,} to {high:,}.", field=field)
        value = int(text)
    if not isinstance(value, int):
        raise ValidationError(f"Enter {what}.", field=field)
    if not low <= value <= high:
        raise ValidationError(f"Enter {what} from {low:,} to {high:,}.", field=field)
    return value


def check_id(value: Any) -> int | None:
    """A row id from a request (a form field, a URL query), or None when it cannot be one: a
    huge number would overflow the column in the query instead of finding nothing."""
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        return None
    return number if 0 < number <= INT_MAX else None


def check_length(text: str, *, field: str, limit: int, what: str = "This") -> str:
    if len(text) > limit:
        raise ValidationError(f"{what} is at most {limit:,} characters.", field=field)
    return text

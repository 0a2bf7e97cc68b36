"""Dates and times as merchants type them (wall-clock time in a zone) and as we store them
(naive UTC), for schedules: promotion windows, search rule windows."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo


def stored_moment(
    value: Any,
    zone: str,
    key: str,
    errors: dict[str, list[str]],
    *,
    naive_zone: str | None = None,
) -> datetime | None:
    """`value` as naive UTC, or None when blank; a problem goes into `errors[key]`.

    Text ("2026-12-01 09:00") and dates are wall-clock time in `zone`; an aware datetime is
    converted; a naive datetime is in `naive_zone` (default `zone`: callers that already hold
    UTC pass "UTC").
    """
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            errors.setdefault(key, []).append("Enter a date and time (YYYY-MM-DD HH:MM).")
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=ZoneInfo(zone))
    if isinstance(value, date) and not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day, tzinfo=ZoneInfo(zone))
    if not isinstance(value, datetime):
        errors.setdefault(key, []).append("Enter a date and time.")
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=ZoneInfo(naive_zone or zone))
    return value.astimezone(UTC).replace(tzinfo=None)

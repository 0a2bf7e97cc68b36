"""Report periods: the days a merchant asks about, the period before them, and their buckets.

A period is whole days in the shop's time zone (SHOP_TIMEZONE), first and last included, as
the merchant reads a calendar; the database keeps naive UTC, so every boundary is converted
here (a day of 23 or 25 hours at a daylight-saving change stays one day). The comparison is
the period of the same length that ends the day before. Buckets (hour, day, week from Monday,
month) are cut at local boundaries and clipped to the period, so the first and last week or
month may be partial; the SQL groups by joining the rows to a table of these boundaries
(`bucket_table`: unnest() of arrays on PostgreSQL, json_each() on SQLite).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import DateTime, Integer, bindparam, cast, func, select, type_coerce
from sqlalchemy.dialects.postgresql import ARRAY

from commerce.errors import ValidationError
from commerce.extensions import db
from commerce.orders.queries import shop_day_start, shop_today, shop_zone

HOUR, DAY, WEEK, MONTH = "hour", "day", "week", "month"
BUCKETS = (HOUR, DAY, WEEK, MONTH)
BUCKET_LABELS = {HOUR: "Hour", DAY: "Day", WEEK: "Week", MONTH: "Month"}
# Presets as the range chooser offers them; "custom" takes two dates.
TODAY, LAST_7, LAST_30, LAST_90, THIS_MONTH, CUSTOM = "today", "7", "30", "90", "month", "custom"
PRESETS = (TODAY, LAST_7, LAST_30, LAST_90, THIS_MONTH, CUSTOM)
PRESET_LABELS = {
    TODAY: "Today",
    LAST_7: "Last 7 days",
    LAST_30: "Last 30 days",
    LAST_90: "Last 90 days",
    THIS_MONTH: "This month",
    CUSTOM: "Custom",
}
MAX_DAYS = 731  # two years: a year compared with the one before stays in reach
MAX_BUCKETS = {HOUR: 2 * 24, DAY: 366, WEEK: MAX_DAYS, MONTH: MAX_DAYS}
EARLIEST = date(2000, 1, 1)
SQLITE_MOMENT = "%Y-%m-%d %H:%M:%S.%f"  # how SQLAlchemy stores a DateTime in SQLite


def local_midnight(day: date) -> datetime:
    """Midnight starting `day` in the shop's zone, as the naive UTC the database stores."""
    return shop_day_start(day)


@dataclass(frozen=True)
class Bucket:
    index: int
    start: datetime  # naive UTC, included
    end: datetime  # naive UTC, excluded
    first: date  # local calendar days it covers (hour buckets: the day of the hour)
    last: date
    hour: int | None = None  # local hour of an hour bucket

    def label(self, bucket: str) -> str:
        """How the chart's axis and the table name it: "Dec 7", "Dec 7 14:00", "Week of Dec 7",
        "Dec 2026"."""
        if bucket == HOUR:
            return f"{self.first:%b} {self.first.day} {self.hour:02d}:00"
        if bucket == MONTH:
            return f"{self.first:%b %Y}"
        if bucket == WEEK:
            return f"Week of {self.first:%b} {self.first.day}"
        return f"{self.first:%b} {self.first.day}"


@dataclass(frozen=True)
class Period:
    """Days `first` to `last` in the shop's zone, both included."""

    first: date
    last: date

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    @property
    def start(self) -> datetime:
        return local_midnight(self.first)

    @property
    def end(self) -> datetime:
        return local_midnight(self.last + timedelta(days=1))

    def previous(self) -> Period:
        """The period of the same length just before this one (what the figures compare to)."""
        last = self.first - timedelta(days=1)
        return Period(last - timedelta(days=self.days - 1), last)

    def describe(self) -> str:
        if self.first == self.last:
            return self.first.isoformat()
        return f"{self.first.isoformat()} to {self.last.isoformat()}"

    def buckets(self, bucket: str) -> list[Bucket]:
        """The period cut at local hour, day, week (Monday) or month boundaries, clipped."""
        out: list[Bucket] = []
        if bucket == HOUR:
            zone = shop_zone()
            moment, end = self.start, self.end
            while moment < end:
                local = moment.replace(tzinfo=UTC).astimezone(zone)
                following = moment + timedelta(hours=1)
                out.append(
                    Bucket(len(out), moment, following, local.date(), local.date(), local.hour)
                )
                moment = following
            return out
        day = self.first
        while day <= self.last:
            if bucket == WEEK:
                following = day + timedelta(days=7 - day.weekday())
            elif bucket == MONTH:
                following = (day.replace(day=1) + timedelta(days=32)).replace(day=1)
            else:
                following = day + timedelta(days=1)
            last = min(following - timedelta(days=1), self.last)
            out.append(
                Bucket(
                    len(out),
                    local_midnight(day),
                    local_midnight(last + timedelta(days=1)),
                    day,
                    last,
                )
            )
            day = last + timedelta(days=1)
        return out


def bucket_table(buckets: list[Bucket], name: str = "bucket") -> Any:
    """The buckets as a table (n, starts, ends) to join rows to and GROUP BY in SQL.

    The boundaries travel as one parameter (an array on PostgreSQL, JSON on SQLite), so the
    statement is the same for any number of buckets and SQLAlchemy compiles it once (a VALUES
    list of 730 rows took 0.4 s to compile, each time)."""
    starts = [b.start for b in buckets]
    ends = [b.end for b in buckets]
    if db.engine.dialect.name == "postgresql":
        rows = (
            func.unnest(
                bindparam("bucket_starts", starts, type_=ARRAY(DateTime)),
                bindparam("bucket_ends", ends, type_=ARRAY(DateTime)),
            )
            .table_valued("starts", "ends", with_ordinality="ordinal")
            .render_derived(name="bounds")
        )
        return select((rows.c.ordinal - 1).label("n"), rows.c.starts, rows.c.ends).cte(name)
    # SQLite keeps naive datetimes as text in this form, and compares them as text.
    pairs = [
        [s.strftime(SQLITE_MOMENT), e.strftime(SQLITE_MOMENT)]
        for s, e in zip(starts, ends, strict=True)
    ]
    rows = func.json_each(bindparam("bucket_pairs", json.dumps(pairs))).table_valued("key", "value")
    return select(
        cast(rows.c.key, Integer).label("n"),
        type_coerce(func.json_extract(rows.c.value, "$[0]"), DateTime).label("starts"),
        type_coerce(func.json_extract(rows.c.value, "$[1]"), DateTime).label("ends"),
    ).cte(name)


def default_bucket(period: Period) -> str:
    if period.days <= 2:
        return HOUR
    if period.days <= 92:
        return DAY
    if period.days <= 366:
        return WEEK
    return MONTH


def choose_period(
    preset: str,
    *,
    first: date | str | None = None,
    last: date | str | None = None,
    bucket: str | None = None,
    now: datetime | None = None,
) -> tuple[Period, str]:
    """The period a preset (or two custom dates) stands for, and the bucket to cut it in
    (the one asked for, or one that suits its length); a `ValidationError` names the input
    that is wrong ("range", "from", "to", "bucket")."""
    today = shop_today(now)
    preset = preset or LAST_30
    if preset not in PRESETS:
        raise ValidationError("Choose one of the ranges offered.", field="range")
    if preset == TODAY:
        period = Period(today, today)
    elif preset == THIS_MONTH:
        period = Period(today.replace(day=1), today)
    elif preset == CUSTOM:
        period = _custom(first, last)
    else:
        days = int(preset)
        period = Period(today - timedelta(days=days - 1), today)
    if not bucket:
        return period, default_bucket(period)
    if bucket not in BUCKETS:
        raise ValidationError("Group by hour, day, week or month.", field="bucket")
    if _count_estimate(period, bucket) > MAX_BUCKETS[bucket]:
        limit = "2 days" if bucket == HOUR else f"{MAX_BUCKETS[bucket]} days"
        raise ValidationError(
            f"Grouping by {bucket} covers at most {limit}: choose a longer grouping or fewer days.",
            field="bucket",
        )
    return period, bucket


def _count_estimate(period: Period, bucket: str) -> int:
    if bucket == HOUR:
        return period.days * 24
    if bucket == DAY:
        return period.days
    return period.days // 7 + 2 if bucket == WEEK else period.days // 28 + 2


def _day(value: date | str | None, field: str, errors: dict[Any, list[str]]) -> date | None:
    if isinstance(value, date):
        return value
    text = (value or "").strip()
    if not text:
        errors[field] = ["Enter a date."]
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        errors[field] = [f"“{text[:20]}” is not a date (YYYY-MM-DD)."]
        return None


def _custom(first: date | str | None, last: date | str | None) -> Period:
    errors: dict[Any, list[str]] = {}
    start, end = _day(first, "from", errors), _day(last, "to", errors)
    if start and start < EARLIEST:
        errors["from"] = [f"Reports start on {EARLIEST.isoformat()} at the earliest."]
    if end and end > date(9998, 12, 31):
        errors["to"] = ["Enter a date before the year 9999."]
    if errors:
        raise ValidationError(errors=errors)
    assert start and end
    if end < start:
        raise ValidationError("The last day comes before the first.", field="to")
    if (end - start).days + 1 > MAX_DAYS:
        raise ValidationError(f"A report covers at most {MAX_DAYS} days.", field="to")
    return Period(start, end)


@dataclass(frozen=True)
class Change:
    """A figure against the previous period's: the difference and the change in percent
    (None when the previous figure was zero: no percentage of nothing)."""

    current: int
    previous: int

    @property
    def delta(self) -> int:
        return self.current - self.previous

    @property
    def percent(self) -> float | None:
        if not self.previous:
            return None
        return round(100.0 * self.delta / abs(self.previous), 1)

"""Search analytics: what shoppers search for, what finds nothing, and what they open.

The storefront's results pages are publicly cached, so a view cannot count them (a cache hit
never reaches it): the shopper's browser sends a beacon instead (storefront/search.py), and
these functions record it. Events are append-only rows of SearchEvent; reports group them by
the normalized query over a period, and `prune_events` keeps only the last
SEARCH_EVENTS_RETENTION_DAYS days.

Definitions the console shows:

- searches: results pages opened at page 1 without filters (paging or filtering the same
  results is not a new search);
- clicks: results opened from a results page or from the search box's suggestions, with
  their 1-based position;
- click-through rate (CTR) = clicks / searches for the query. There is no search id linking a
  click to the search it came from, so a shopper who opens three results counts three clicks
  and the rate can pass 100 %; a query only ever picked from the suggestions has clicks and
  no searches, and no rate;
- no-result searches: searches whose results were 0.

Visitors are anonymous: a random id the browser keeps in localStorage (no cookie, so the
pages stay shared-cacheable), stored as a keyed hash, never as sent.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Generic, TypeVar

from flask import current_app
from sqlalchemy import Float, and_, case, cast, delete, func, select

from commerce.db import transaction, utcnow
from commerce.errors import ValidationError
from commerce.extensions import db
from commerce.orders.queries import shop_day_start, shop_today
from commerce.search import text
from commerce.search.models import CLICK, SEARCH, SearchEvent

MAX_QUERY_CHARS = 200  # as typed (the shop's box keeps 100)
MAX_STORED_QUERY = 200  # SearchEvent.query
MAX_RESULTS = 10_000_000
MAX_POSITION = 100_000
MAX_PRODUCT_ID = 2**31 - 1
VISITOR = re.compile(r"[A-Za-z0-9_-]{8,64}")
VISITOR_KEY_CHARS = 32  # SearchEvent.visitor
PERIODS = (7, 30, 90)  # the console's "last N days" choices
MAX_PERIOD_DAYS = 400
PER_PAGE = 25
PRUNE_BATCH = 10_000

TOP_SORTS = ("query", "searches", "visitors", "clicks", "ctr", "results", "position")
NO_RESULT_SORTS = ("query", "searches", "visitors", "last_seen")

T = TypeVar("T")


# -- recording ----------------------------------------------------------------------------------


def normalize_query(query: str) -> str:
    """The query as reports group it: the words rules match ("  T-Shirt " -> "tshirt")."""
    if not isinstance(query, str):
        raise ValidationError("Send the search words as text.", field="query")
    if len(query) > MAX_QUERY_CHARS:
        raise ValidationError(f"A query has at most {MAX_QUERY_CHARS} characters.", field="query")
    return text.normalize_phrase(query)[:MAX_STORED_QUERY].strip()


def visitor_key(visitor: str) -> str:
    """The browser's random id as stored: an HMAC under the app's secret, truncated, so the
    id a browser holds cannot be looked up in (or linked across) exported reports."""
    if not visitor:
        return ""
    if not isinstance(visitor, str) or not VISITOR.fullmatch(visitor):
        raise ValidationError(
            "A visitor id is 8 to 64 letters, digits, '-' or '_'.", field="visitor"
        )
    secret = str(current_app.config["SECRET_KEY"]).encode()
    digest = hmac.new(secret, b"search-visitor:" + visitor.encode(), hashlib.sha256)
    return digest.hexdigest()[:VISITOR_KEY_CHARS]


def _bounded(value: Any, field: str, low: int, high: int, message: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValidationError(message, field=field)
    return value


def record_search(
    query: str, results: int, visitor: str = "", *, at: datetime | None = None
) -> SearchEvent | None:
    """One results page opened for `query` with `results` matches. A query with no words
    (empty, punctuation only) is dropped: None."""
    phrase = normalize_query(query)
    count = _bounded(
        results, "results", 0, MAX_RESULTS, "Results must be a whole number of at least 0."
    )
    key = visitor_key(visitor)
    if not phrase:
        return None
    with transaction():
        event = SearchEvent(
            kind=SEARCH, query=phrase, results=count, visitor=key, created_at=at or utcnow()
        )
        db.session.add(event)
    return event


def record_click(
    query: str,
    product_id: int,
    position: int,
    visitor: str = "",
    *,
    at: datetime | None = None,
) -> SearchEvent | None:
    """A shopper opened `product_id`, shown at `position` (1-based, across pages) for `query`.
    The product is not looked up: a beacon must stay cheap, and history outlives products."""
    phrase = normalize_query(query)
    product = _bounded(product_id, "product", 1, MAX_PRODUCT_ID, "Name the product by its id.")
    rank = _bounded(
        position, "position", 1, MAX_POSITION, "Position must be a whole number from 1."
    )
    key = visitor_key(visitor)
    if not phrase:
        return None
    with transaction():
        event = SearchEvent(
            kind=CLICK,
            query=phrase,
            product_id=product,
            position=rank,
            visitor=key,
            created_at=at or utcnow(),
        )
        db.session.add(event)
    return event


def prune_events(*, older_than_days: int | None = None, now: datetime | None = None) -> int:
    """Delete events older than the retention (SEARCH_EVENTS_RETENTION_DAYS), in batches of
    PRUNE_BATCH rows, each its own transaction, so a large backlog never holds one long
    lock. Returns how many rows went."""
    days = older_than_days or int(current_app.config["SEARCH_EVENTS_RETENTION_DAYS"])
    cutoff = (now or utcnow()) - timedelta(days=max(days, 1))
    removed = 0
    while True:
        with transaction():
            batch = (
                select(SearchEvent.id)
                .where(SearchEvent.created_at < cutoff)
                .order_by(SearchEvent.id)
                .limit(PRUNE_BATCH)
                .scalar_subquery()
            )
            result = db.session.execute(
                delete(SearchEvent)
                .where(SearchEvent.id.in_(batch))
                .execution_options(synchronize_session=False)
            )
        count = int(result.rowcount or 0)  # type: ignore[attr-defined]
        removed += count
        if count < PRUNE_BATCH:
            return removed


# -- periods ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    """Whole days in the shop's time zone (SHOP_TIMEZONE), first to last inclusive, with
    their bounds as the naive UTC the events are stored in (start inclusive, end exclusive)."""

    first: date
    last: date
    days: int | None = None  # set for "the last N days"

    @property
    def start(self) -> datetime:
        return shop_day_start(self.first)

    @property
    def end(self) -> datetime:
        return shop_day_start(self.last + timedelta(days=1))


def last_days(days: int, *, now: datetime | None = None) -> Period:
    """The last `days` shop days, today included."""
    if days not in PERIODS:
        raise ValidationError("Choose the last 7, 30 or 90 days, or dates.", field="period")
    today = shop_today(now)
    return Period(first=today - timedelta(days=days - 1), last=today, days=days)


def between(first: date | None, last: date | None) -> Period:
    """The days from `first` to `last` (inclusive), checked: both given, in order, at most
    MAX_PERIOD_DAYS long."""
    errors: dict[str, list[str]] = {}
    if first is None:
        errors["start"] = ["Enter the first day (YYYY-MM-DD)."]
    if last is None:
        errors["end"] = ["Enter the last day (YYYY-MM-DD)."]
    if first is not None and last is not None:
        if last < first:
            errors["end"] = ["The last day is before the first."]
        elif (last - first).days + 1 > MAX_PERIOD_DAYS:
            errors["end"] = [f"Choose at most {MAX_PERIOD_DAYS} days."]
    if errors:
        raise ValidationError(errors=errors)
    assert first is not None and last is not None
    return Period(first=first, last=last)


# -- the report ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class QueryStats:
    query: str
    searches: int
    visitors: int
    clicks: int
    avg_results: float | None
    avg_position: float | None
    no_result_searches: int

    @property
    def ctr(self) -> float | None:
        """Clicks per search (see the module's definition); None without searches."""
        return self.clicks / self.searches if self.searches else None


@dataclass(frozen=True)
class NoResultQuery:
    query: str
    searches: int  # searches that found nothing
    visitors: int
    last_seen: datetime  # naive UTC


@dataclass(frozen=True)
class Totals:
    searches: int
    clicks: int
    visitors: int
    no_result_searches: int
    queries: int  # distinct queries

    @property
    def ctr(self) -> float | None:
        return self.clicks / self.searches if self.searches else None

    @property
    def no_result_rate(self) -> float | None:
        return self.no_result_searches / self.searches if self.searches else None


@dataclass
class Rows(Generic[T]):
    """One page of a report table, in the order asked for."""

    rows: list[T]
    total: int  # rows over all pages
    page: int
    per_page: int
    sort: str
    direction: str

    @property
    def pages(self) -> int:
        return max(math.ceil(self.total / self.per_page), 1)

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page


@dataclass
class Report:
    start: datetime
    end: datetime
    totals: Totals
    top: Rows[QueryStats]
    no_results: Rows[NoResultQuery]


def _direction(direction: str) -> str:
    return direction if direction in ("asc", "desc") else "desc"


def _page(page: int, total: int, per_page: int) -> int:
    pages = max(math.ceil(total / per_page), 1)
    return min(max(page, 1), pages)


def _ordered(column: Any, direction: str) -> Any:
    return (column.asc() if direction == "asc" else column.desc()).nulls_last()


def report(
    start: datetime,
    end: datetime,
    *,
    sort: str = "searches",
    direction: str = "desc",
    page: int = 1,
    no_results_sort: str = "searches",
    no_results_direction: str = "desc",
    no_results_page: int = 1,
    per_page: int = PER_PAGE,
) -> Report:
    """Top queries and no-result queries between `start` (inclusive) and `end` (exclusive),
    naive UTC. Each table is sorted by one of TOP_SORTS / NO_RESULT_SORTS (unknown keys fall
    back to searches), ties broken by the query, and paged; a page past the end shows the
    last. Five queries whatever the traffic: totals, two counts, two pages."""
    sort = sort if sort in TOP_SORTS else "searches"
    no_results_sort = no_results_sort if no_results_sort in NO_RESULT_SORTS else "searches"
    direction, no_results_direction = _direction(direction), _direction(no_results_direction)
    per_page = min(max(per_page, 1), 200)
    ev = SearchEvent
    in_period = and_(ev.created_at >= start, ev.created_at < end)
    is_search = ev.kind == SEARCH
    is_click = ev.kind == CLICK
    found_nothing = and_(is_search, ev.results == 0)
    visitors = func.count(func.distinct(func.nullif(ev.visitor, "")))
    searches = func.sum(case((is_search, 1), else_=0))
    clicks = func.sum(case((is_click, 1), else_=0))
    empty = func.sum(case((found_nothing, 1), else_=0))

    row = db.session.execute(
        select(
            func.coalesce(searches, 0),
            func.coalesce(clicks, 0),
            visitors,
            func.coalesce(empty, 0),
            func.count(func.distinct(ev.query)),
        ).where(in_period)
    ).one()
    totals = Totals(*(int(v or 0) for v in row))

    # Top queries: every query with an event in the period.
    grouped = (
        select(
            ev.query.label("query"),
            searches.label("searches"),
            visitors.label("visitors"),
            clicks.label("clicks"),
            func.avg(case((is_search, ev.results))).label("avg_results"),
            func.avg(case((is_click, ev.position))).label("avg_position"),
            empty.label("no_result_searches"),
        )
        .where(in_period)
        .group_by(ev.query)
        .subquery("grouped")
    )
    g = grouped.c
    keys = {
        "query": g.query,
        "searches": g.searches,
        "visitors": g.visitors,
        "clicks": g.clicks,
        "ctr": cast(g.clicks, Float) / func.nullif(g.searches, 0),
        "results": g.avg_results,
        "position": g.avg_position,
    }
    top_page = _page(page, totals.queries, per_page)
    tie = [g.query.asc()] if sort != "query" else []
    top_rows = [
        QueryStats(
            query=r.query,
            searches=int(r.searches or 0),
            visitors=int(r.visitors or 0),
            clicks=int(r.clicks or 0),
            avg_results=float(r.avg_results) if r.avg_results is not None else None,
            avg_position=float(r.avg_position) if r.avg_position is not None else None,
            no_result_searches=int(r.no_result_searches or 0),
        )
        for r in db.session.execute(
            select(grouped)
            .order_by(_ordered(keys[sort], direction), *tie)
            .offset((top_page - 1) * per_page)
            .limit(per_page)
        )
    ]

    # No-result queries: searches that found nothing.
    nothing = and_(in_period, found_nothing)
    no_result_total = int(
        db.session.scalar(select(func.count(func.distinct(ev.query))).where(nothing)) or 0
    )
    misses = (
        select(
            ev.query.label("query"),
            func.count().label("searches"),
            visitors.label("visitors"),
            func.max(ev.created_at).label("last_seen"),
        )
        .where(nothing)
        .group_by(ev.query)
        .subquery("misses")
    )
    m = misses.c
    miss_keys = {
        "query": m.query,
        "searches": m.searches,
        "visitors": m.visitors,
        "last_seen": m.last_seen,
    }
    miss_page = _page(no_results_page, no_result_total, per_page)
    miss_tie = [m.query.asc()] if no_results_sort != "query" else []
    miss_rows = [
        NoResultQuery(
            query=r.query,
            searches=int(r.searches),
            visitors=int(r.visitors or 0),
            last_seen=_naive(r.last_seen),
        )
        for r in db.session.execute(
            select(misses)
            .order_by(_ordered(miss_keys[no_results_sort], no_results_direction), *miss_tie)
            .offset((miss_page - 1) * per_page)
            .limit(per_page)
        )
    ]
    return Report(
        start=start,
        end=end,
        totals=totals,
        top=Rows(top_rows, totals.queries, top_page, per_page, sort, direction),
        no_results=Rows(
            miss_rows, no_result_total, miss_page, per_page, no_results_sort, no_results_direction
        ),
    )


def _naive(value: Any) -> datetime:
    """MAX() of a datetime column: SQLite may answer a string."""
    if isinstance(value, str):
        return datetime.fromisoformat(value)
    return value

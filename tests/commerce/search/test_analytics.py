"""Search analytics: recording searches and clicks (strictly validated), the report over a
period (top queries, no-result queries, click-through), shop-time-zone periods and pruning.

The report's SQL (conditional sums, distinct counts, averages, NULLS LAST) runs on SQLite and
on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from commerce.errors import ValidationError
from commerce.extensions import db
from commerce.search import analytics
from commerce.search.models import CLICK, SEARCH, SearchEvent

NOW = datetime(2026, 3, 10, 12, 0, 0)
VISITOR_A, VISITOR_B, VISITOR_C = "visitor-aaaa-0001", "visitor-bbbb-0002", "visitor-cccc-0003"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def any_db(request: pytest.FixtureRequest) -> Iterator[Flask]:
    """The suite's SQLite app (rolled back after the test) or the app on PostgreSQL."""
    if request.param == "sqlite":
        yield request.getfixturevalue("app")
    else:
        yield request.getfixturevalue("pg_app")


def events() -> list[SearchEvent]:
    return list(db.session.scalars(select(SearchEvent).order_by(SearchEvent.id)))


# -- recording ----------------------------------------------------------------------------------


def test_a_search_is_stored_normalized_with_a_hashed_visitor(app):
    event = analytics.record_search("  Blue   T-Shirt ", 4, VISITOR_A)
    assert event is not None
    (stored,) = events()
    assert (stored.kind, stored.query, stored.results) == (SEARCH, "blue tshirt", 4)
    assert stored.product_id is None and stored.position is None
    # The browser's id is never stored as sent: a keyed hash, the same for the same browser.
    assert stored.visitor and VISITOR_A not in stored.visitor and len(stored.visitor) == 32
    assert analytics.visitor_key(VISITOR_A) == stored.visitor
    assert analytics.visitor_key(VISITOR_B) != stored.visitor


def test_a_click_is_stored_with_product_and_position(app):
    analytics.record_click("Crème Brûlée", 42, 3, VISITOR_B)
    (stored,) = events()
    assert (stored.kind, stored.query, stored.product_id, stored.position) == (
        CLICK,
        "creme brulee",
        42,
        3,
    )
    assert stored.results is None


def test_queries_without_words_are_dropped_and_visitors_are_optional(app):
    assert analytics.record_search("", 0, VISITOR_A) is None
    assert analytics.record_search(" -- !! ", 0) is None
    assert analytics.record_click("   ", 1, 1) is None
    assert events() == []
    analytics.record_search("mug", 1)  # storage refused in the browser: no visitor
    assert events()[0].visitor == ""


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda: analytics.record_search("x" * 201, 1), "query"),
        (lambda: analytics.record_search("mug", -1), "results"),
        (lambda: analytics.record_search("mug", analytics.MAX_RESULTS + 1), "results"),
        (lambda: analytics.record_search("mug", True), "results"),  # type: ignore[arg-type]
        (lambda: analytics.record_search("mug", 1, "short"), "visitor"),
        (lambda: analytics.record_search("mug", 1, "has spaces in it"), "visitor"),
        (lambda: analytics.record_search("mug", 1, "v" * 65), "visitor"),
        (lambda: analytics.record_search(123, 1), "query"),  # type: ignore[arg-type]
        (lambda: analytics.record_click("mug", 0, 1), "product"),
        (lambda: analytics.record_click("mug", 2**31, 1), "product"),
        (lambda: analytics.record_click("mug", 5, 0), "position"),
        (lambda: analytics.record_click("mug", 5, analytics.MAX_POSITION + 1), "position"),
    ],
)
def test_bad_input_is_refused_at_its_field_and_nothing_is_written(app, call, field):
    with pytest.raises(ValidationError) as raised:
        call()
    assert field in raised.value.errors
    assert events() == []


def test_a_long_query_is_kept_within_the_column(app):
    analytics.record_search("ab " * 66, 2)  # 198 characters typed
    assert len(events()[0].query) <= 200


# -- periods ------------------------------------------------------------------------------------


def test_periods_are_whole_days_in_the_shop_time_zone(app, monkeypatch):
    monkeypatch.setitem(app.config, "SHOP_TIMEZONE", "America/New_York")
    # 03:00 UTC on 10 March is still 9 March in New York.
    week = analytics.last_days(7, now=datetime(2026, 3, 10, 3, 0))
    assert (week.first, week.last, week.days) == (date(2026, 3, 3), date(2026, 3, 9), 7)
    assert week.start == datetime(2026, 3, 3, 5, 0)  # midnight EST in UTC
    assert week.end == datetime(2026, 3, 10, 4, 0)  # midnight EDT (clocks moved on 8 March)

    chosen = analytics.between(date(2026, 1, 1), date(2026, 1, 31))
    assert (chosen.start, chosen.end) == (datetime(2026, 1, 1, 5), datetime(2026, 2, 1, 5))


def test_bad_periods_are_refused_with_field_messages(app):
    with pytest.raises(ValidationError) as raised:
        analytics.last_days(12)
    assert "period" in raised.value.errors
    with pytest.raises(ValidationError) as raised:
        analytics.between(date(2026, 2, 1), date(2026, 1, 1))
    assert raised.value.errors == {"end": ["The last day is before the first."]}
    with pytest.raises(ValidationError) as raised:
        analytics.between(None, None)
    assert set(raised.value.errors) == {"start", "end"}
    with pytest.raises(ValidationError) as raised:
        analytics.between(date(2024, 1, 1), date(2026, 1, 1))
    assert "end" in raised.value.errors


# -- the report ---------------------------------------------------------------------------------


def seed(now: datetime = NOW) -> None:
    """Three days of traffic, one old event outside the period and one after it."""
    day = timedelta(days=1)
    at = now - day
    for visitor in (VISITOR_A, VISITOR_B, VISITOR_C):
        analytics.record_search("Blue Tee", 12, visitor, at=at)
    analytics.record_search("blue tee", 10, VISITOR_A, at=at - day)
    analytics.record_click("blue tee", 7, 1, VISITOR_A, at=at)
    analytics.record_click("blue tee", 8, 3, VISITOR_B, at=at)
    analytics.record_search("mug", 2, VISITOR_A, at=at)
    analytics.record_search("mug", 0, VISITOR_B, at=at)  # the catalog lacked it then
    analytics.record_search("purple hat", 0, VISITOR_C, at=at - day)
    analytics.record_search("purple hat", 0, VISITOR_C, at=at)
    analytics.record_search("purple hat", 0, VISITOR_A, at=at)
    analytics.record_search("zzz", 0, at=at - day)
    analytics.record_click("tshrt", 9, 2, VISITOR_B, at=at)  # picked from the suggestions
    analytics.record_search("ancient", 0, VISITOR_A, at=now - 40 * day)  # before the period
    analytics.record_search("future", 0, VISITOR_A, at=now + day)  # after it


def test_report_top_queries_no_results_and_totals(any_db):
    seed()
    found = analytics.report(NOW - timedelta(days=7), NOW)
    totals = found.totals
    assert (totals.searches, totals.clicks, totals.visitors) == (10, 3, 3)
    assert (totals.no_result_searches, totals.queries) == (5, 5)
    assert totals.ctr == pytest.approx(0.3) and totals.no_result_rate == pytest.approx(0.5)

    rows = {r.query: r for r in found.top.rows}
    assert [r.query for r in found.top.rows] == ["blue tee", "purple hat", "mug", "zzz", "tshrt"]
    blue = rows["blue tee"]
    assert (blue.searches, blue.visitors, blue.clicks, blue.no_result_searches) == (4, 3, 2, 0)
    assert blue.ctr == pytest.approx(0.5)
    assert blue.avg_results == pytest.approx(11.5) and blue.avg_position == pytest.approx(2.0)
    assert rows["mug"].avg_results == pytest.approx(1.0) and rows["mug"].no_result_searches == 1
    assert rows["zzz"].visitors == 0  # no visitor id: not counted as one
    suggestion_only = rows["tshrt"]
    assert (suggestion_only.searches, suggestion_only.clicks) == (0, 1)
    assert suggestion_only.ctr is None and suggestion_only.avg_results is None

    misses = found.no_results
    assert [(r.query, r.searches, r.visitors) for r in misses.rows] == [
        ("purple hat", 3, 2),
        ("mug", 1, 1),
        ("zzz", 1, 0),
    ]
    assert misses.rows[0].last_seen == NOW - timedelta(days=1)
    assert misses.total == 3


def test_report_sorts_and_pages_each_table(any_db):
    seed()
    start, end = NOW - timedelta(days=7), NOW

    def top(**kw: Any) -> list[str]:
        return [r.query for r in analytics.report(start, end, **kw).top.rows]

    assert top(sort="query", direction="asc") == ["blue tee", "mug", "purple hat", "tshrt", "zzz"]
    assert top(sort="query", direction="desc")[0] == "zzz"
    # Rates: the highest first, queries without searches (no rate) last either way.
    assert top(sort="ctr")[:2] == ["blue tee", "mug"] and top(sort="ctr")[-1] == "tshrt"
    assert top(sort="ctr", direction="asc")[-1] == "tshrt"
    assert top(sort="clicks")[:2] == ["blue tee", "tshrt"]
    assert top(sort="results")[0] == "blue tee"
    assert top(sort="nonsense") == top()  # unknown keys fall back to searches

    paged = analytics.report(start, end, per_page=2, page=2)
    assert [r.query for r in paged.top.rows] == ["mug", "zzz"]
    assert (paged.top.page, paged.top.pages, paged.top.total) == (2, 3, 5)
    assert analytics.report(start, end, per_page=2, page=99).top.page == 3  # the last page

    misses = analytics.report(start, end, no_results_sort="query", no_results_direction="asc")
    assert [r.query for r in misses.no_results.rows] == ["mug", "purple hat", "zzz"]

    def latest(**kw: Any) -> list[str]:
        found = analytics.report(start, end, no_results_sort="last_seen", per_page=1, **kw)
        return [r.query for r in found.no_results.rows]

    assert latest() == ["mug"]  # mug and purple hat were last seen together: by query
    assert latest(no_results_page=3) == ["zzz"]
    assert latest(no_results_direction="asc") == ["zzz"]


def test_the_period_end_is_exclusive_and_an_empty_period_reports_nothing(any_db):
    analytics.record_search("mug", 1, at=datetime(2026, 3, 1, 0, 0))
    found = analytics.report(datetime(2026, 2, 1), datetime(2026, 3, 1))
    assert found.totals.searches == 0 and found.top.rows == [] and found.no_results.rows == []
    assert found.totals.ctr is None and found.top.pages == 1
    assert analytics.report(datetime(2026, 3, 1), datetime(2026, 3, 2)).totals.searches == 1


# -- pruning ------------------------------------------------------------------------------------


def test_old_events_are_pruned_in_batches(any_db, monkeypatch):
    monkeypatch.setitem(any_db.config, "SEARCH_EVENTS_RETENTION_DAYS", 30)
    monkeypatch.setattr(analytics, "PRUNE_BATCH", 2)
    for days in (31, 40, 45, 90, 400):
        analytics.record_search("old", 1, at=NOW - timedelta(days=days))
    analytics.record_search("recent", 1, at=NOW - timedelta(days=29))
    assert analytics.prune_events(now=NOW) == 5
    assert [e.query for e in events()] == ["recent"]
    assert analytics.prune_events(now=NOW) == 0
    assert analytics.prune_events(older_than_days=7, now=NOW) == 1


def test_pruning_runs_daily_from_beat(app, monkeypatch):
    from commerce.extensions import celery
    from commerce.search import tasks

    schedule = celery.conf.beat_schedule["search-events-prune"]
    assert schedule["task"] == "commerce.search.prune_events"
    assert schedule["schedule"] == timedelta(hours=24)
    assert app.config["SEARCH_EVENTS_RETENTION_DAYS"] == 180  # the default
    analytics.record_search("ancient", 1, at=datetime.now() - timedelta(days=181))
    analytics.record_search("kept", 1, at=datetime.now() - timedelta(days=179))
    assert tasks.prune_events.delay().get() == 1
    assert db.session.scalar(select(func.count()).select_from(SearchEvent)) == 1

"""Console → Search → Analytics over HTTP: who may see it, the period chooser (in the shop's
time zone), the tables with their sorting and paging, the one-step fixes for no-result
queries, empty states and the htmx fragment."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

import pytest

from commerce.db import utcnow
from commerce.search import analytics
from tests.conftest import htmx_headers, sign_in

URL = "/console/search/analytics"


def text(response: Any) -> str:
    return response.get_data(as_text=True)


def queries_in(body: str, section: str) -> list[str]:
    """The query column of one table ("top-queries-h" or "no-results-h"), in order."""
    part = body.split(f'id="{section}"', 1)[1].split("</table>", 1)[0]
    return re.findall(r"<tr>\s*<td>([^<]+?)(?: <span|</td>)", part)


@pytest.fixture
def traffic(app):
    now = utcnow()
    yesterday = now - timedelta(days=1)
    for visitor in ("visitor-0001", "visitor-0002"):
        analytics.record_search("linen shirt", 8, visitor, at=yesterday)
    analytics.record_click("linen shirt", 11, 2, "visitor-0001", at=yesterday)
    analytics.record_search("gardn hose", 0, "visitor-0003", at=yesterday)
    analytics.record_search("gardn hose", 0, "visitor-0003", at=yesterday)
    analytics.record_search("mug", 3, "visitor-0003", at=yesterday)
    analytics.record_search("old query", 0, "visitor-0004", at=now - timedelta(days=20))
    return now


@pytest.mark.parametrize(
    ("role", "status"),
    [("merchandiser", 200), ("admin", 200), ("warehouse", 403), ("support", 403)],
)
def test_only_search_staff_see_analytics(client, make_staff, role, status):
    sign_in(client, make_staff(role))
    assert client.get(URL).status_code == status


def test_anonymous_visitors_are_sent_to_sign_in(client):
    response = client.get(URL)
    assert response.status_code == 302 and "/console/login" in response.location


def test_the_report_shows_top_and_no_result_queries(client, login, traffic):
    login("merchandiser")
    response = client.get(URL)  # the last 30 days by default
    assert response.status_code == 200
    body = text(response)
    assert "<h1>Search analytics</h1>" in body
    assert 'aria-current="true">Last 30 days</a>' in body
    assert queries_in(body, "top-queries-h") == ["gardn hose", "linen shirt", "mug", "old query"]
    # linen shirt: 2 searches, 2 visitors, 1 click (50 %), 8 results on average, position 2.
    row = body.split("<td>linen shirt</td>", 1)[1].split("</tr>", 1)[0]
    cells = re.findall(r'<td class="num">([^<]*)</td>', row)
    assert cells == ["2", "2", "1", "50.0 %", "8.0", "2.0"]
    assert '<a href="/search?q=linen+shirt" target="_blank" rel="noopener"' in row  # "Try"
    assert queries_in(body, "no-results-h") == ["gardn hose", "old query"]
    assert "no results: 2" in body  # flagged in the top table too
    # Totals: 6 searches, 1 click, 4 visitors, 3 searches found nothing (50 %).
    tiles = dict(
        (label, number)
        for number, label in re.findall(
            r'<span class="tile-num">([^<]*)</span><span class="tile-label">([^<(]*)', body
        )
    )
    assert tiles["Searches"] == "6" and tiles["Clicks on results"] == "1"
    assert tiles["Visitors"] == "4" and tiles["Click-through"] == "16.7 %"
    assert tiles["Searches with no results "] == "3"


def test_a_no_result_query_becomes_a_synonym_or_a_rule_in_one_step(app, client, login, traffic):
    login("merchandiser")
    body = text(client.get(URL))
    row = body.split("<td>gardn hose</td>", 1)[1].split("</tr>", 1)[0]
    assert '<a href="/search?q=gardn+hose" target="_blank" rel="noopener"' in row
    if "console.search_synonym_new" in app.view_functions:
        assert 'href="/console/search/synonyms/new?terms=gardn+hose"' in row
        assert client.get("/console/search/synonyms/new?terms=gardn+hose").status_code == 200
    else:
        assert "Make a synonym" not in row
    if "console.search_rule_new" in app.view_functions:
        assert 'href="/console/search/rules/new?query=gardn+hose"' in row
        assert client.get("/console/search/rules/new?query=gardn+hose").status_code == 200
    else:
        assert "Make a rule" not in row


def test_the_period_narrows_the_report(client, login, traffic):
    login("merchandiser")
    week = text(client.get(URL, query_string={"period": "7"}))
    assert "old query" not in week and 'aria-current="true">Last 7 days</a>' in week
    today = traffic.date()
    chosen = text(
        client.get(
            URL,
            query_string={
                "period": "dates",
                "from": (today - timedelta(days=25)).isoformat(),
                "to": (today - timedelta(days=15)).isoformat(),
            },
        )
    )
    assert queries_in(chosen, "top-queries-h") == ["old query"]
    assert "linen shirt" not in chosen


def test_days_are_the_shop_time_zone_s(app, client, login, monkeypatch):
    monkeypatch.setitem(app.config, "SHOP_TIMEZONE", "Asia/Tokyo")  # UTC+9, no summer time
    # 20:00 UTC on 1 March is already 2 March in Tokyo.
    analytics.record_search("late night", 0, at=datetime(2026, 3, 1, 20, 0))
    login("merchandiser")

    def shown(first: str, last: str) -> str:
        return text(client.get(URL, query_string={"period": "dates", "from": first, "to": last}))

    assert "late night" in shown("2026-03-02", "2026-03-02")
    assert "late night" not in shown("2026-03-01", "2026-03-01")
    body = shown("2026-03-02", "2026-03-02")
    assert "2026-03-02 05:00" in body  # last seen, in shop time
    assert "days in Asia/Tokyo" in body


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ({"period": "dates", "from": "2026-02-30", "to": "2026-03-01"}, "from", "is not a date"),
        ({"period": "dates", "from": "2026-03-05", "to": "2026-03-01"}, "to", "before the first"),
        ({"period": "dates", "to": "2026-03-01"}, "from", "Enter the first day"),
        ({"period": "dates", "from": "2024-01-01", "to": "2026-03-01"}, "to", "at most 400 days"),
        ({"period": "12"}, None, "Choose the last 7, 30 or 90 days"),
    ],
)
def test_bad_periods_answer_422_with_the_message_at_the_field(client, login, query, field, message):
    login("merchandiser")
    response = client.get(URL, query_string=query)
    assert response.status_code == 422
    body = text(response)
    assert message in body
    if field:
        assert f'id="analytics-{field}-msg" role="alert"><span>' in body
        assert re.search(rf'name="{field}"[^>]*aria-invalid="true"', body)
    assert "Top queries" not in body


def test_tables_sort_and_page_on_their_own(client, login):
    now = utcnow() - timedelta(hours=1)
    for n in range(30):
        for _ in range(n + 1):
            analytics.record_search(f"query {n:02d}", 0 if n < 3 else 5, at=now)
    login("merchandiser")
    first = text(client.get(URL))
    assert queries_in(first, "top-queries-h")[:2] == ["query 29", "query 28"]
    assert "Page 1 of 2" in first
    assert 'href="/console/search/analytics?page=2"' in first
    second = text(client.get(URL, query_string={"page": "2"}))
    assert queries_in(second, "top-queries-h") == [
        "query 04",
        "query 03",
        "query 02",
        "query 01",
        "query 00",
    ]
    by_name = text(client.get(URL, query_string={"sort": "query", "dir": "asc"}))
    assert queries_in(by_name, "top-queries-h")[:2] == ["query 00", "query 01"]
    assert 'aria-sort="ascending"' in by_name
    # Sorting the no-result table leaves the top table's order alone.
    misses = text(client.get(URL, query_string={"nsort": "query", "ndir": "desc", "page": "2"}))
    assert queries_in(misses, "no-results-h") == ["query 02", "query 01", "query 00"]
    assert queries_in(misses, "top-queries-h")[0] == "query 04"
    # A sort link starts from the first page and keeps the other table's state.
    assert (
        'href="/console/search/analytics?nsort=query&amp;ndir=desc&amp;sort=query&amp;dir=asc"'
        in misses
    )


def test_empty_states(client, login):
    login("merchandiser")
    body = text(client.get(URL))
    assert "No searches in this period" in body and "Top queries" not in body
    analytics.record_search("mug", 3, at=utcnow() - timedelta(hours=1))
    body = text(client.get(URL))
    assert "Every search found something" in body


def test_htmx_gets_the_report_fragment(client, login, traffic):
    login("merchandiser")
    fragment = text(client.get(URL, query_string={"period": "7"}, headers=htmx_headers()))
    assert fragment.lstrip().startswith('<div id="report"') or '<div id="report"' in fragment
    assert "<html" not in fragment and "<h1>" not in fragment
    assert "linen shirt" in fragment
    assert 'hx-target="#report"' in fragment

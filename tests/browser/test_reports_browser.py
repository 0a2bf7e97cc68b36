"""Reports in a real browser: the merchandiser opens the sales report, switches the range and
the grouping, and sees the chart redrawn (htmx swaps the report; the URL follows); the
dashboard shows the last 30 days' sales chart. The console's CSP refusals fail the test (the
charts are SVG without script or style attributes)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import LiveServer, snap, unique

pytestmark = pytest.mark.browser


def _seed(live_server: LiveServer) -> None:
    """Orders on the last 40 days, a different amount each day."""
    from commerce.catalog.services import create_product
    from commerce.db import utcnow
    from commerce.extensions import db
    from tests.commerce.reports import seed

    with live_server.app_context():
        product = create_product(title=unique("Chart tee"), price=1500, by=None)
        now = utcnow()
        for days_ago in range(0, 40):
            seed.order(
                now - timedelta(days=days_ago, minutes=5), [(product, 1 + days_ago % 4, 1500)]
            )
        db.session.commit()


def _points(page: Page) -> str:
    return page.locator("#sales-chart .series-current polyline").get_attribute("points") or ""


def test_switching_range_and_grouping_redraws_the_sales_chart(
    page: Page, live_server: LiveServer
) -> None:
    _seed(live_server)
    page.goto("/console/reports")
    expect(page.get_by_role("heading", name="Sales over time")).to_be_visible()
    chart = page.locator("#sales-chart svg")
    expect(chart).to_have_attribute("role", "img")
    dots = page.locator("#sales-chart .series-current circle")
    expect(dots).to_have_count(30)  # last 30 days, by day
    thirty = _points(page)
    snap(page, "reports-sales-30")

    page.locator("select[name=range]").select_option("7")
    expect(page).to_have_url(re.compile(r"range=7"))
    expect(dots).to_have_count(7)
    assert _points(page) != thirty
    expect(page.locator("#report-period")).to_contain_text("7 days")

    page.locator("select[name=range]").select_option("90")
    expect(page.locator("#report-period")).to_contain_text("90 days")
    page.locator("select[name=bucket]").select_option("week")
    expect(page).to_have_url(re.compile(r"bucket=week"))
    expect(page.locator("#sales-table tbody tr").first).to_contain_text("Week of")
    weeks = page.locator("#sales-table tbody tr").count()
    assert 13 <= weeks <= 15
    expect(dots).to_have_count(weeks)

    page.locator("select[name=metric]").select_option("orders")
    expect(page.locator("#sales-chart title").first).to_have_text("Orders by week")
    snap(page, "reports-sales-90-weeks")

    # Dates typed over a preset's make a custom range; a wrong one says so at its field.
    page.locator("input[name=from]").fill("2026-12-05")
    page.locator("input[name=to]").fill("2026-12-01")
    page.get_by_role("button", name="Show").click()
    expect(page.locator("#report-to-msg")).to_contain_text("before the first")
    expect(page.locator("#sales-chart")).to_have_count(0)

    # The other reports keep the range (a tab is a link); the products' bars name their figures.
    page.goto("/console/reports?range=90")
    page.get_by_role("link", name="Products and collections").click()
    expect(page).to_have_url(re.compile(r"/console/reports/products\?range=90"))
    bars = page.locator("#products-chart rect.series-current")
    expect(bars.first).to_be_visible()
    expect(bars.first.locator("title")).to_contain_text("Chart tee")
    snap(page, "reports-products")


def test_the_dashboard_shows_the_last_30_days_sales(page: Page, live_server: LiveServer) -> None:
    _seed(live_server)
    page.goto("/console/")
    panel = page.locator("#dashboard-sales")
    expect(panel.get_by_role("heading", name="Net sales, last 30 days")).to_be_visible()
    expect(panel.locator(".series-current circle")).to_have_count(30)
    expect(panel.locator(".series-previous circle")).to_have_count(30)
    expect(panel).to_contain_text("vs the 30 days before")
    panel.get_by_text("Show as a table").click()
    expect(panel.locator("table tbody tr")).to_have_count(30)
    snap(page, "dashboard-sales")
    panel.get_by_role("link", name="Open the sales report").click()
    expect(page).to_have_url(re.compile(r"/console/reports$"))

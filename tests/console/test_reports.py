"""The reports over HTTP: each renders its figures, chart and table within a statement budget,
exports the same figures as CSV (spreadsheet-safe), and a range it cannot read answers 422 with
the message at the field. Who may open them is the route walk's (tests/console)."""

from __future__ import annotations

import csv
import io
from datetime import datetime

import pytest

from tests.commerce.reports import seed
from tests.conftest import count_queries, htmx_headers

WEEK = {"range": "custom", "from": "2026-11-01", "to": "2026-11-07"}


@pytest.fixture
def shop(app, make_product):
    from commerce.promotions.services import create_promotion

    tee = make_product("Report tee", price=1000)
    hoodie = make_product("=HYPERLINK(1) hoodie", price=5000)  # a title that would run as formula
    promo = create_promotion(
        by=None,
        name="Week deal",
        actions=[{"kind": "percent_off_order", "params": {"percent": "10"}}],
    )
    first = seed.order(
        datetime(2026, 11, 2, 10), [(tee, 2, 1000)], discount=200, promotion=promo, code="WEEK"
    )
    seed.order(datetime(2026, 11, 4, 10), [(hoodie, 1, 5000)])
    seed.order(datetime(2026, 10, 30, 10), [(tee, 1, 1000)])
    seed.refund(first, 500, datetime(2026, 11, 5, 10), reason="Too small")
    return tee, hoodie, promo


def _rows(response):
    text = response.get_data(as_text=True)
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))


def test_sales_report_page_chart_and_csv(client, login, shop):
    login("merchandiser")
    with count_queries() as statements:
        response = client.get("/console/reports", query_string={**WEEK, "bucket": "day"})
    assert response.status_code == 200
    # the signed-in member, then the report's two grouped statements (orders, refunds) for
    # both periods: nothing per order or per day
    assert len(statements) == 3, statements.describe()
    html = response.get_data(as_text=True)
    assert 'id="sales-chart"' in html and "<polyline" in html and "style=" not in html
    assert "$63.00" in html  # net: 7000 gross - 200 discounts - 500 refunds (cents)
    assert "+$53.00 (+530.0 %)" in html  # against $10.00 the week before
    assert "Nov 2" in html and "compared with 2026-10-25 to 2026-10-31" in html

    rows = _rows(client.get("/console/reports/sales.csv", query_string={**WEEK, "bucket": "day"}))
    assert rows[0][:8] == [
        "Period",
        "Starts",
        "Orders",
        "Gross sales (USD)",
        "Discounts (USD)",
        "Refunds (USD)",
        "Net sales (USD)",
        "Average order value (USD)",
    ]
    assert rows[2][:8] == ["Nov 2", "2026-11-02", "1", "20.00", "2.00", "0.00", "18.00", "18.00"]
    assert rows[5][5:7] == ["5.00", "'-5.00"]  # the refund's day: a negative net, kept as text
    assert rows[-1][:7] == [
        "Total 2026-11-01 to 2026-11-07",
        "2026-11-01",
        "2",
        "70.00",
        "2.00",
        "5.00",
        "63.00",
    ]
    assert rows[-1][-2:] == ["1", "10.00"]


def test_the_fragment_is_the_report_alone(client, login, shop):
    login("admin")
    response = client.get(
        "/console/reports", query_string={**WEEK, "metric": "orders"}, headers=htmx_headers()
    )
    html = response.get_data(as_text=True)
    assert html.lstrip().startswith("{#") is False and 'id="report"' in html
    assert '<nav class="sidebar"' not in html
    assert "Orders by day" in html


def test_products_promotions_refunds_and_stock_reports(client, login, shop):
    login("admin")
    # the signed-in member, then per report: products (top products, the rule-based
    # collections, top collections), promotions and codes, refunds by reason
    for url, budget, expected in [
        ("/console/reports/products", 4, ["=HYPERLINK(1) hoodie", "Report tee", "products-chart"]),
        ("/console/reports/promotions", 3, ["Week deal", "WEEK (Week deal)", "promotions-chart"]),
        ("/console/reports/refunds", 2, ["Too small", "$5.00", 'id="refunds-chart"']),
    ]:
        with count_queries() as statements:
            response = client.get(url, query_string=WEEK)
        assert response.status_code == 200, url
        assert len(statements) == budget, (url, statements.describe())
        html = response.get_data(as_text=True)
        for text in expected:
            assert text in html, (url, text)
    with count_queries() as statements:
        assert client.get("/console/reports/stock").status_code == 200
    assert len(statements) == 4, statements.describe()  # locations, variants, low stock


def test_ranking_csvs_are_spreadsheet_safe(client, login, shop):
    login("admin")
    products = _rows(client.get("/console/reports/products.csv", query_string=WEEK))
    assert products[0][0] == "Product" and products[0][5] == "Net sales (USD)"
    assert products[0][-2:] == ["Cost of units sold (USD)", "Margin (USD)"]
    hoodie = ["'=HYPERLINK(1) hoodie", "1", "1", "50.00", "0.00", "50.00", "0.00", "", "", ""]
    assert products[1] == hoodie  # no cost known: no margin
    tee = ["Report tee", "2", "1", "20.00", "2.00", "18.00", "10.00", "80.0", "", ""]
    assert products[2] == tee
    codes = _rows(
        client.get("/console/reports/promotions.csv", query_string={**WEEK, "table": "codes"})
    )
    assert codes[1][:4] == ["WEEK (Week deal)", "1", "2.00", "18.00"]
    refunds = _rows(client.get("/console/reports/refunds.csv", query_string=WEEK))
    assert refunds[1][:3] == ["Too small", "1", "5.00"]
    stock = _rows(client.get("/console/reports/stock.csv"))
    assert stock[0] == [
        "Location",
        "SKU",
        "Product",
        "Units on hand",
        "Value at retail price (USD)",
        "Value at average cost (USD)",
    ]


@pytest.mark.parametrize(
    ("args", "field", "message"),
    [
        ({"range": "custom", "from": "2026-11-31", "to": "2026-12-01"}, "from", "is not a date"),
        (
            {"range": "custom", "from": "2026-12-05", "to": "2026-12-01"},
            "to",
            "comes before the first",
        ),
        ({"range": "custom", "from": "2020-01-01", "to": "2026-12-01"}, "to", "at most 731 days"),
        ({"range": "90", "bucket": "hour"}, "bucket", "at most 2 days"),
        ({"range": "fortnight"}, "range", "Choose one of the ranges"),
    ],
)
def test_a_range_it_cannot_read_answers_422_at_the_field(client, login, args, field, message):
    login("admin")
    for url in ("/console/reports", "/console/reports/sales.csv"):
        response = client.get(url, query_string=args)
        assert response.status_code == 422
        html = response.get_data(as_text=True)
        start = html.index(f'id="report-{field}-msg"')
        assert message in html[start : html.index("</span></span>", start)], html[
            start : start + 300
        ]
        assert 'aria-invalid="true"' in html and 'id="sales-chart"' not in html


def test_dates_typed_over_a_preset_make_a_custom_range(client, login, shop):
    login("admin")
    response = client.get(
        "/console/reports",
        query_string={
            "range": "7",
            "from": "2026-11-01",
            "to": "2026-11-07",
            "shown": "2026-12-01/2026-12-07",
        },
    )
    assert "2026-11-01 to 2026-11-07 (7 days" in response.get_data(as_text=True)
    # the preset chosen in the list wins over the dates the form showed
    response = client.get(
        "/console/reports",
        query_string={
            "range": "today",
            "from": "2026-11-01",
            "to": "2026-11-07",
            "shown": "2026-11-01/2026-11-07",
        },
    )
    assert "(1 day," in response.get_data(as_text=True)


def test_the_dashboard_chart_is_for_those_who_read_reports(app, make_staff, make_product):
    from commerce.db import utcnow
    from tests.conftest import sign_in

    tee = make_product("Dashboard tee", price=1200)
    seed.order(utcnow().replace(microsecond=0), [(tee, 2, 1200)])
    for role, shown in (("merchandiser", True), ("admin", True), ("support", False)):
        client = app.test_client()
        sign_in(client, make_staff(role))
        html = client.get("/console/").get_data(as_text=True)
        assert ('id="dashboard-sales-chart"' in html) is shown, role
        if shown:
            assert "Net sales, last 30 days" in html and "$24.00" in html
            assert html.count('class="chart-dot"') == 60  # 30 days, and the 30 before

"""The reports' figures from orders with known amounts: exact minor units, buckets in the
shop's time zone, the comparison with the previous period, rankings, refunds by reason, stock
value, and the statements each report costs."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from commerce.errors import ValidationError
from commerce.reports import periods
from commerce.reports.periods import Period, choose_period
from commerce.reports.rankings import (
    code_performance,
    promotion_performance,
    top_collections,
    top_products,
)
from commerce.reports.sales import refunds_by_reason, sales_over_time
from commerce.reports.stock import stock_value
from tests.commerce.reports import seed
from tests.conftest import count_queries

NOVEMBER_WEEK = Period(date(2026, 11, 1), date(2026, 11, 7))  # a Sunday to a Saturday


@pytest.fixture
def shop(app, make_product):
    """Orders in the first week of November 2026 and the week before it (UTC)."""
    a = make_product("Alpha tee", price=1000)
    b = make_product("Beta hoodie", price=5000)
    first = seed.order(datetime(2026, 11, 2, 10), [(a, 2, 1000), (b, 1, 3000)], discount=500)
    seed.order(datetime(2026, 11, 2, 23, 59), [(a, 3, 1000)])
    seed.order(datetime(2026, 11, 5, 8), [(b, 2, 5000)], discount=1000)
    seed.order(datetime(2026, 11, 3, 9), [(b, 9, 5000)], cancelled=True)  # never a sale
    seed.order(datetime(2026, 11, 4, 9), [(b, 9, 5000)], currency="EUR")  # not the shop's
    seed.refund(first, 2000, datetime(2026, 11, 6, 12), reason="Damaged")
    before = seed.order(datetime(2026, 10, 30, 15), [(a, 4, 1000)])
    seed.refund(before, 1000, datetime(2026, 10, 31, 9), reason=" damaged ")
    seed.order(datetime(2026, 11, 8, 0, 0), [(a, 1, 1000)])  # the day after: outside
    return a, b


def test_sales_over_time_in_exact_minor_units(shop):
    with count_queries() as statements:
        report = sales_over_time(NOVEMBER_WEEK, periods.DAY)
    assert len(statements) == 2, statements.describe()
    assert [r.label for r in report.rows] == [f"Nov {d}" for d in range(1, 8)]
    nov2 = report.rows[1]
    assert (nov2.orders, nov2.gross, nov2.discounts, nov2.refunds) == (2, 8000, 500, 0)
    assert report.rows[2].orders == 0  # the cancelled order's day
    assert report.rows[5].refunds == 2000 and report.rows[5].net == -2000
    t = report.total
    assert (t.orders, t.gross, t.discounts, t.refunds, t.net) == (3, 18000, 1500, 2000, 14500)
    assert t.average_order == 5500  # (18000 - 1500) / 3
    p = report.previous_total
    assert report.previous == Period(date(2026, 10, 25), date(2026, 10, 31))
    assert (p.orders, p.gross, p.discounts, p.refunds, p.net) == (1, 4000, 0, 1000, 3000)
    change = report.change("net")
    assert (change.delta, change.percent) == (11500, 383.3)
    assert report.change("orders").percent == 200.0


def test_week_and_month_buckets_are_clipped_to_the_period(shop):
    weeks = sales_over_time(NOVEMBER_WEEK, periods.WEEK)
    assert [(r.label, r.orders) for r in weeks.rows] == [("Week of Nov 1", 0), ("Week of Nov 2", 3)]
    months = sales_over_time(Period(date(2026, 10, 25), date(2026, 11, 7)), periods.MONTH)
    assert [(r.label, r.orders, r.gross) for r in months.rows] == [
        ("Oct 2026", 1, 4000),
        ("Nov 2026", 3, 18000),
    ]


def test_days_are_the_shops_days(shop, app, monkeypatch):
    """At UTC-5 the order placed 2026-11-02 23:59 UTC is on the shop's Nov 2 still, and one
    placed 2026-11-08 00:00 UTC is on Nov 7 (19:00 local)."""
    monkeypatch.setitem(app.config, "SHOP_TIMEZONE", "America/New_York")
    report = sales_over_time(NOVEMBER_WEEK, periods.DAY)
    assert [r.orders for r in report.rows] == [0, 2, 0, 0, 1, 0, 1]
    hours = sales_over_time(Period(date(2026, 11, 2), date(2026, 11, 2)), periods.HOUR)
    assert len(hours.rows) == 24
    assert hours.rows[5].label == "Nov 2 05:00" and hours.rows[5].orders == 1  # 10:00 UTC
    assert hours.rows[18].orders == 1  # 23:59 UTC


@pytest.mark.usefixtures("shop")
def test_top_products_with_the_previous_period():
    with count_queries() as statements:
        ranking = top_products(NOVEMBER_WEEK)
    assert len(statements) == 1
    assert [(r.name, r.units, r.orders, r.gross, r.discounts, r.net) for r in ranking.rows] == [
        ("Beta hoodie", 3, 2, 13000, 1000, 12000),
        ("Alpha tee", 5, 2, 5000, 500, 4500),
    ]
    alpha = ranking.rows[1]
    assert (alpha.previous_units, alpha.previous_net) == (4, 4000)
    assert alpha.change("net").percent == 12.5


def test_margin_is_shown_only_where_every_unit_sold_has_a_cost(shop):
    from commerce.extensions import db

    _tee, b = shop
    ranking = top_products(NOVEMBER_WEEK)
    assert all(r.margin is None and r.uncosted_units == r.units for r in ranking.rows)
    b.variants[0].cost = 2000  # the hoodie's average unit cost today
    db.session.flush()
    beta, alpha = top_products(NOVEMBER_WEEK).rows
    assert (beta.cost, beta.uncosted_units, beta.margin) == (3 * 2000, 0, 12000 - 3 * 2000)
    assert alpha.margin is None  # the tee has no cost: no margin is made up for it


def test_top_collections_count_their_products_sales(shop):
    from commerce.catalog.taxonomy import add_to_collection, create_collection

    a, b = shop
    tees = create_collection(title="Tees", by=None)
    add_to_collection(tees, [a.id], by=None)
    everything = create_collection(title="Everything", by=None)
    add_to_collection(everything, [a.id, b.id], by=None)
    ranking = top_collections(NOVEMBER_WEEK)
    assert [(r.name, r.units, r.net, r.previous_net) for r in ranking.rows] == [
        ("Everything", 8, 16500, 4000),
        ("Tees", 5, 4500, 4000),
    ]


def test_promotion_and_code_performance(app, make_product):
    from commerce.promotions.services import create_promotion

    tee = make_product("Gamma tee", price=2000)
    promo = create_promotion(
        by=None, name="Autumn", actions=[{"kind": "percent_off_order", "params": {"percent": "10"}}]
    )
    seed.order(datetime(2026, 11, 3), [(tee, 1, 2000)], discount=200, promotion=promo, code="AUT")
    seed.order(datetime(2026, 11, 4), [(tee, 2, 2000)], discount=400, promotion=promo)
    seed.order(datetime(2026, 10, 28), [(tee, 1, 2000)], discount=200, promotion=promo, code="AUT")
    ranking = promotion_performance(NOVEMBER_WEEK)
    [row] = ranking.rows
    assert (row.name, row.units, row.discounts, row.sales) == ("Autumn", 2, 600, 5400)
    assert (row.previous_units, row.previous_discounts) == (1, 200)
    [code] = code_performance(NOVEMBER_WEEK).rows
    assert (code.name, code.units, code.discounts, code.sales) == ("AUT (Autumn)", 1, 200, 1800)


def test_refunds_by_reason_group_as_typed(shop):
    report = refunds_by_reason(NOVEMBER_WEEK)
    [row] = report.rows
    assert (row.reason, row.refunds, row.amount) == ("Damaged", 1, 2000)
    assert (row.previous_refunds, row.previous_amount) == (1, 1000)
    assert (report.total.current, report.total.percent) == (2000, 100.0)


def test_stock_value_at_retail_and_at_cost(app, make_product):
    from commerce.inventory.locations import create_location
    from commerce.inventory.services import receive_stock

    location = create_location(name="Report shelf", code="RPT", by=None)
    cheap = make_product("Cheap", price=250)
    dear = make_product("Dear", price=10000)
    receive_stock(
        cheap.variants[0].id, quantity=10, by=None, location_id=location.id, unit_cost=100
    )
    receive_stock(dear.variants[0].id, quantity=3, by=None, location_id=location.id, unit_cost=4000)
    with count_queries() as statements:
        report = stock_value()
    assert len(statements) <= 4, statements.describe()
    assert report.total.units == 13
    assert report.total.values == {"retail": 32500, "cost": 10 * 100 + 3 * 4000}
    assert [(v.name, v.values["retail"]) for v in report.variants][:2] == [
        ("Dear", 30000),
        ("Cheap", 2500),
    ]


def test_presets_and_their_comparison():
    now = datetime(2026, 12, 7, 18)
    period, bucket = choose_period("30", now=now)
    assert period == Period(date(2026, 11, 8), date(2026, 12, 7)) and bucket == periods.DAY
    assert period.previous() == Period(date(2026, 10, 9), date(2026, 11, 7))
    assert choose_period("today", now=now) == (Period(date(2026, 12, 7), date(2026, 12, 7)), "hour")
    assert choose_period("month", now=now)[0] == Period(date(2026, 12, 1), date(2026, 12, 7))
    assert choose_period("custom", first="2026-01-01", last="2026-12-31", bucket="month", now=now)[
        0
    ] == Period(date(2026, 1, 1), date(2026, 12, 31))


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ({"preset": "custom", "first": "2026-13-01", "last": "2026-12-01"}, "from"),
        ({"preset": "custom", "first": "2026-12-05", "last": "2026-12-01"}, "to"),
        ({"preset": "custom", "first": "", "last": "2026-12-01"}, "from"),
        ({"preset": "custom", "first": "2020-01-01", "last": "2026-12-01"}, "to"),
        (
            {"preset": "custom", "first": "2025-01-01", "last": "2026-12-01", "bucket": "day"},
            "bucket",
        ),
        ({"preset": "90", "bucket": "hour"}, "bucket"),
        ({"preset": "90", "bucket": "fortnight"}, "bucket"),
        ({"preset": "yesterday"}, "range"),
    ],
)
def test_a_wrong_range_names_its_field(app, args, field):
    with pytest.raises(ValidationError) as caught:
        choose_period(**args)
    assert field in caught.value.errors

"""The reports on PostgreSQL: the buckets arrive as arrays (unnest ... WITH ORDINALITY) rather
than SQLite's JSON, so the same known orders must give the same figures there, in the shop's
time zone too, and a rule-based collection's products must count."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from commerce.extensions import db
from commerce.reports import periods
from commerce.reports.periods import Period
from commerce.reports.rankings import code_performance, top_collections, top_products
from commerce.reports.sales import refunds_by_reason, sales_over_time
from tests.commerce.reports import seed

pytestmark = pytest.mark.postgres

WEEK = Period(date(2026, 11, 1), date(2026, 11, 7))


def test_the_reports_on_postgres(pg_app):
    from commerce.catalog.services import create_product
    from commerce.catalog.taxonomy import create_collection
    from commerce.promotions.services import create_promotion

    tee = create_product(title="Alpha tee", price=1000, sku="PG-TEE", tags=["tees"], by=None)
    hoodie = create_product(title="Beta hoodie", price=5000, sku="PG-HOOD", by=None)
    create_collection(
        title="Tees",
        kind="rule",
        rules=[{"field": "tag", "op": "equals", "value": "tees"}],
        by=None,
    )
    promo = create_promotion(
        by=None, name="Autumn", actions=[{"kind": "percent_off_order", "params": {"percent": "5"}}]
    )
    first = seed.order(
        datetime(2026, 11, 2, 10),
        [(tee, 2, 1000), (hoodie, 1, 3000)],
        discount=500,
        promotion=promo,
        code="AUT",
    )
    seed.order(datetime(2026, 11, 2, 23, 59), [(tee, 3, 1000)])
    seed.order(datetime(2026, 11, 5, 8), [(hoodie, 2, 5000)], discount=1000)
    seed.order(datetime(2026, 11, 3, 9), [(hoodie, 9, 5000)], cancelled=True)
    seed.refund(first, 2000, datetime(2026, 11, 6, 12), reason="Damaged")
    before = seed.order(datetime(2026, 10, 30, 15), [(tee, 4, 1000)])
    seed.refund(before, 1000, datetime(2026, 10, 31, 9), reason=" damaged ")
    seed.order(datetime(2026, 11, 8, 0, 0), [(tee, 1, 1000)])
    db.session.commit()

    report = sales_over_time(WEEK, periods.DAY)
    t, p = report.total, report.previous_total
    assert (t.orders, t.gross, t.discounts, t.refunds, t.net) == (3, 18000, 1500, 2000, 14500)
    assert (p.orders, p.gross, p.refunds) == (1, 4000, 1000)
    assert [r.orders for r in report.rows] == [0, 2, 0, 0, 1, 0, 0]

    pg_app.config["SHOP_TIMEZONE"] = "America/New_York"
    try:
        local = sales_over_time(WEEK, periods.DAY)
        assert [r.orders for r in local.rows] == [0, 2, 0, 0, 1, 0, 1]
        weeks = sales_over_time(WEEK, periods.WEEK)
        assert [(r.label, r.orders) for r in weeks.rows] == [
            ("Week of Nov 1", 0),
            ("Week of Nov 2", 4),
        ]
    finally:
        pg_app.config["SHOP_TIMEZONE"] = "UTC"

    assert [(r.name, r.units, r.net) for r in top_products(WEEK).rows] == [
        ("Beta hoodie", 3, 12000),
        ("Alpha tee", 5, 4500),
    ]
    [tees] = top_collections(WEEK).rows
    assert (tees.name, tees.units, tees.net, tees.previous_net) == ("Tees", 5, 4500, 4000)
    [code] = code_performance(WEEK).rows
    assert (code.name, code.units, code.discounts) == ("AUT (Autumn)", 1, 500)
    [reason] = refunds_by_reason(WEEK).rows
    assert (reason.reason, reason.amount, reason.previous_amount) == ("Damaged", 2000, 1000)

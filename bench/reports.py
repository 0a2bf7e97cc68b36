"""Reports benchmark: each report's time over many orders, against the dashboard's sales query.

    python bench/reports.py [--quick] [--orders N] [--products P] [--repeat R]
                            [--database-url URL]

Builds a shop in a temporary SQLite database (or, with --database-url, in its own schema
`bench_reports` of that PostgreSQL database, dropped afterwards) with the migrations' indexes:
200 products, 8 collections (half rule-based), 10 promotions with codes, N orders (default
20,000; 10,000 with --quick) spread over the last 400 days with 1 to 4 lines each, a tenth of
them with a promotion, one in twenty refunded with one of six reasons, and stock at two
locations. Rows are inserted in bulk (the figures are about reading them). Then it times each
report R times (median): sales over the last 30 days by day and the last year by week (each
with its previous period), top products and collections, promotions and codes over 90 days,
refunds by reason over 90 days, stock value. The reference, timed in the same run on the same
data: the dashboard's orders-and-revenue query (`orders.queries.sales_between`) over the same
30 days, and `reference_ms` (pure Python: how busy the machine is). The last line holds every
figure as key=value, for scripts to read.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = "bench_reports"
PRODUCTS = 200
REASONS = ("Damaged", "Too small", "Too large", "Changed mind", "Late delivery", "")


def build_app(url: str | None, instance: str) -> Any:
    sys.path.insert(0, str(ROOT))
    from wsgi import create_app

    return create_app(
        {
            "TESTING": True,
            "INSTANCE_PATH": instance,
            "SECRET_KEY": "bench",
            "SQLALCHEMY_DATABASE_URI": url or f"sqlite:///{Path(instance) / 'bench.db'}",
            "RATELIMIT_ENABLED": False,
            "MEDIA_ROOT": str(Path(instance) / "media"),
        }
    )


def build_shop(orders: int, product_count: int = PRODUCTS) -> None:
    """The catalog through the services; orders, lines, redemptions and refunds in bulk."""
    from sqlalchemy import insert

    from commerce.catalog.services import create_product
    from commerce.catalog.taxonomy import add_to_collection, create_collection
    from commerce.db import utcnow
    from commerce.extensions import db
    from commerce.inventory.locations import create_location
    from commerce.inventory.services import receive_stock
    from commerce.orders.models import Order, OrderLine, Refund
    from commerce.promotions.coupons import add_coupon_code
    from commerce.promotions.models import Redemption
    from commerce.promotions.services import create_promotion

    rng = random.Random(7)
    shelves = [create_location(name=f"Bench shelf {n}", code=f"BR{n}", by=None) for n in range(2)]
    products = []
    for n in range(product_count):
        product = create_product(
            title=f"Report product {n}",
            price=500 + 37 * n,
            sku=f"REPORT-{n:03d}",
            status="active",
            tags=[f"tag{n % 4}"],
            by=None,
        )
        receive_stock(
            product.variants[0].id, quantity=1 + n % 50, by=None, location_id=shelves[n % 2].id
        )
        products.append(
            (product.id, product.variants[0].id, product.variants[0].price, product.title)
        )
    for n in range(4):
        manual = create_collection(title=f"Picks {n}", by=None)
        add_to_collection(manual, [p[0] for p in products[n::4]], by=None)
        create_collection(
            title=f"Tagged {n}",
            kind="rule",
            rules=[{"field": "tag", "op": "equals", "value": f"tag{n}"}],
            by=None,
        )
    promotions = []
    for n in range(10):
        promotion = create_promotion(
            by=None,
            name=f"Report promotion {n}",
            actions=[{"kind": "percent_off_order", "params": {"percent": str(5 + n)}}],
        )
        add_coupon_code(promotion, code=f"REPORT{n}", by=None)
        promotions.append(promotion.id)
    db.session.commit()

    now = utcnow()
    order_rows, line_rows, redemption_rows, refund_rows = [], [], [], []
    line_id = 0
    for order_id in range(1, orders + 1):
        placed = now - timedelta(seconds=rng.randrange(400 * 86400))
        subtotal = discount = 0
        for _ in range(rng.randint(1, 4)):
            pid, vid, price, title = products[rng.randrange(len(products))]
            quantity = rng.randint(1, 3)
            line_id += 1
            line_discount = price * quantity // 10 if order_id % 10 == 0 else 0
            line_rows.append(
                {
                    "id": line_id,
                    "order_id": order_id,
                    "product_id": pid,
                    "variant_id": vid,
                    "title": title,
                    "quantity": quantity,
                    "unit_price": price,
                    "amount": price * quantity,
                    "discount": line_discount,
                }
            )
            subtotal += price * quantity
            discount += line_discount
        total = subtotal - discount + 500
        cancelled = order_id % 37 == 0
        refunded = total // 2 if order_id % 20 == 0 and not cancelled else 0
        order_rows.append(
            {
                "id": order_id,
                "number": order_id + 1000,
                "checkout_key": f"bench-report-{order_id}",
                "email": f"buyer{order_id % 3000}@example.com",
                "currency": "USD",
                "subtotal": subtotal,
                "discount_total": discount,
                "shipping_total": 500,
                "total": total,
                "shipping_method_code": "STD",
                "shipping_method_name": "Standard",
                "status": "cancelled" if cancelled else "open",
                "paid_total": total,
                "refunded_total": refunded,
                "placed_at": placed,
                "updated_at": placed,
            }
        )
        if discount:
            promotion = promotions[order_id % len(promotions)]
            redemption_rows.append(
                {
                    "promotion_id": promotion,
                    "code": f"REPORT{order_id % len(promotions)}" if order_id % 20 else "",
                    "reference": f"checkout:{order_id}",
                    "order_id": order_id,
                    "status": "redeemed",
                    "amount": discount,
                    "currency": "USD",
                    "created_at": placed,
                }
            )
        if refunded:
            paid_out = placed + timedelta(days=rng.randint(1, 20))
            refund_rows.append(
                {
                    "order_id": order_id,
                    "amount": refunded,
                    "currency": "USD",
                    "reason": REASONS[order_id % len(REASONS)],
                    "status": "succeeded",
                    "idempotency_key": f"bench-refund-{order_id}",
                    "created_at": paid_out,
                    "completed_at": paid_out,
                }
            )
    for model, rows in (
        (Order, order_rows),
        (OrderLine, line_rows),
        (Redemption, redemption_rows),
        (Refund, refund_rows),
    ):
        for start in range(0, len(rows), 5000):
            db.session.execute(insert(model), rows[start : start + 5000])
    db.session.commit()
    if db.engine.dialect.name == "postgresql":
        from sqlalchemy import text

        with db.engine.connect() as conn:
            conn.execute(text("ANALYZE"))
            conn.commit()
    else:
        from sqlalchemy import text

        db.session.execute(text("ANALYZE"))
        db.session.commit()


def timed(work: Callable[[], Any], repeat: int) -> tuple[float, int]:
    """The median milliseconds of `work` over `repeat` runs, and its SQL statements."""
    from sqlalchemy import event

    from commerce.extensions import db

    counted: list[str] = []

    def count(*_args: Any) -> None:
        counted.append("x")

    work()  # warm: the first run compiles and caches
    db.session.rollback()
    samples = []
    event.listen(db.engine, "before_cursor_execute", count)
    try:
        for _ in range(repeat):
            counted.clear()
            started = time.perf_counter()
            work()
            samples.append((time.perf_counter() - started) * 1000)
            db.session.rollback()
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    return statistics.median(samples), len(counted)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="10,000 orders, 3 runs each")
    parser.add_argument("--orders", type=int, help="orders to build (default 20,000)")
    parser.add_argument("--repeat", type=int, help="runs per report (median)")
    parser.add_argument("--products", type=int, default=PRODUCTS, help="products to build")
    parser.add_argument("--database-url", help="PostgreSQL URL (default: a temporary SQLite)")
    args = parser.parse_args()
    orders = args.orders or (10_000 if args.quick else 20_000)
    repeat = args.repeat or (3 if args.quick else 7)
    sys.path.insert(0, str(ROOT))
    from bench._server import reference_ms

    if args.database_url:
        from bench._server import bench_database, postgres_url

        url = bench_database(postgres_url(args.database_url, "bench/reports.py"), SCHEMA)
    else:
        url = None

    figures: dict[str, Any] = {"orders": orders}
    with tempfile.TemporaryDirectory() as instance:
        app = build_app(url, instance)
        with app.app_context():
            from flask_migrate import upgrade

            from commerce.extensions import db
            from commerce.orders.queries import sales_between
            from commerce.reports import periods
            from commerce.reports.rankings import (
                code_performance,
                promotion_performance,
                top_collections,
                top_products,
            )
            from commerce.reports.sales import refunds_by_reason, sales_over_time
            from commerce.reports.stock import stock_value

            upgrade()  # the migrations' indexes, as production has them
            started = time.perf_counter()
            build_shop(orders, args.products)
            print(f"{orders} orders built in {time.perf_counter() - started:.1f}s", flush=True)
            month, _ = periods.choose_period(periods.LAST_30)
            quarter, _ = periods.choose_period(periods.LAST_90)
            year = periods.Period(month.last - timedelta(days=364), month.last)
            checks: dict[str, Callable[[], Any]] = {
                "reference_sales_between": lambda: sales_between(month.start, month.end),
                "sales_30d_by_day": lambda: sales_over_time(month, periods.DAY),
                "sales_365d_by_week": lambda: sales_over_time(year, periods.WEEK),
                "sales_365d_by_day": lambda: sales_over_time(year, periods.DAY),
                "top_products_90d": lambda: top_products(quarter),
                "top_collections_90d": lambda: top_collections(quarter),
                "promotions_90d": lambda: promotion_performance(quarter),
                "codes_90d": lambda: code_performance(quarter),
                "refunds_90d": lambda: refunds_by_reason(quarter),
                "stock_value": stock_value,
            }
            for name, work in checks.items():
                ms, statements = timed(work, repeat)
                print(f"{name:<26} {ms:8.1f} ms median, {statements} statements", flush=True)
                figures[f"{name}_ms"] = round(ms, 1)
                figures[f"{name}_sql"] = statements
            db.session.remove()
            db.engine.dispose()
    if url:
        from bench._server import reset_schema

        reset_schema(url, SCHEMA, create=False)
    figures["reference_ms"] = round(reference_ms(), 1)
    figures["database"] = "postgresql" if url else "sqlite"
    print(" ".join(f"{key}={value}" for key, value in figures.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

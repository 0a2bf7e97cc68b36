"""Catalog benchmark: demo load time and the server time of every console list view at scale.

    python bench/catalog.py [--quick] [--products N] [--orders N] [--repeat R]

For each database it builds a fresh shop, times `load_demo` for N products (50,000 by default,
5,000 with --quick), adds orders and customers straight into their tables (bench-only: the
checkout services would take an hour for that many; --orders, by default as many as products),
then signs in as the demo admin and times GET of every console list view through the Flask
test client, with its common filters and sorts and a deep keyset page: products, stock,
the ledger's transfers and counts, low stock, orders, customers, refunds awaiting approval,
payments needing attention, promotions, categories, collections, search rules and synonyms,
search analytics, staff, the audit log and the dashboard. Each is repeated R times after a
warm-up (its median is the figure).

Databases: SQLite (a file in a temporary directory), and PostgreSQL when BENCH_DATABASE_URL is
set (its public schema is DROPPED and rebuilt: point it at a scratch database).

The machine may be shared and busy: the run also times a fixed pure-Python workload beside
the views (`ref_ms`, about 20 ms on an idle 2-core machine of this kind), and each view's
statement count (`..._sql`), which no load changes, and this process's CPU time per view
(`..._cpu_ms`: with SQLite nearly the whole cost, and hardly moved by other load). The last
line holds every figure as key=value, with the slowest view of each database, the target
(every list view <= 50 ms at 50,000 products) and whether it is met (`..._meets=1`).
"""

from __future__ import annotations

import argparse
import html
import os
import random
import re
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
NEXT_LINK = re.compile(r'<a\b[^>]*\brel="next"[^>]*\bhref="([^"]*after=[^"]*)"')
ANY_AFTER_LINK = re.compile(r'href="(/console/[a-z/]+\?[^"]*after=[^"]*)"')
DEEP_PAGES = 20
TARGET_LIST_MS = 50.0


def next_url(body: str) -> str | None:
    match = NEXT_LINK.search(body) or ANY_AFTER_LINK.search(body)
    return html.unescape(match.group(1)) if match else None


class Timer:
    """Times GETs through the test client, counts statements and server errors."""

    def __init__(self, app: Any, client: Any) -> None:
        from flask import got_request_exception
        from sqlalchemy import event

        from commerce.extensions import db

        self.client = client
        self.errors_5xx = 0
        self.non_200: list[str] = []
        self.first_error: str | None = None
        self.statements = 0
        self.cpu_ms = 0.0
        app.logger.disabled = True  # one line below instead of a traceback per request
        got_request_exception.connect(self._failed, app, weak=False)
        with app.app_context():
            event.listen(db.engine, "before_cursor_execute", self._count)

    def _count(self, *_args: Any, **_kwargs: Any) -> None:
        self.statements += 1

    def _failed(self, _sender: Any, exception: BaseException, **_extra: Any) -> None:
        if self.first_error is None:
            self.first_error = f"{type(exception).__name__}: {exception}"

    def get(self, url: str) -> tuple[float, int, str, int]:
        before = self.statements
        started, cpu = time.perf_counter(), time.process_time()
        response = self.client.get(url)
        elapsed = (time.perf_counter() - started) * 1000
        self.cpu_ms = (time.process_time() - cpu) * 1000
        if response.status_code >= 500:
            self.errors_5xx += 1
        if response.status_code != 200:
            self.non_200.append(f"{url} -> {response.status_code}")
        return (
            elapsed,
            response.status_code,
            response.get_data(as_text=True),
            self.statements - before,
        )

    def measure(self, url: str, repeat: int) -> tuple[list[float], list[float], int]:
        self.get(url)  # warm-up: templates compiled, pages in the database's cache
        runs, cpu = [], []
        for _ in range(repeat):
            runs.append(self.get(url))
            cpu.append(self.cpu_ms)
        return [r[0] for r in runs], cpu, runs[-1][3]


def deep_url(timer: Timer, first_url: str) -> str | None:
    """Page DEEP_PAGES + 1 of a list, found by following its pages' 'Next' links."""
    url = first_url
    for _ in range(DEEP_PAGES):
        found = next_url(timer.get(url)[2])
        if found is None:
            return None
        url = found
    return url


def fill_orders(count: int, seed: int) -> int:
    """Bench-only: customers and orders with lines and notes written straight into their tables
    (the checkout services take ~0.2 s an order), spread over 90 days, statuses and totals
    varied, so the lists' filters and sorts have something to find. Returns the customers."""
    from sqlalchemy import insert, select

    from commerce.customers.models import Customer
    from commerce.db import utcnow
    from commerce.extensions import db
    from commerce.orders.models import Order, OrderEvent, OrderLine

    rng = random.Random(f"{seed}:bench-orders")
    now = utcnow()
    customers = max(count // 2, 1)
    names = ["Ada", "Ben", "Cleo", "Dev", "Eli", "Fay", "Gus", "Hana", "Ivo", "Jun", "Kai", "Lea"]
    surnames = ["Moss", "Reed", "Vale", "Stone", "Fern", "Wren", "Hale", "Birch", "Cole", "Dunn"]
    batch = 2000
    for start in range(0, customers, batch):
        db.session.execute(
            insert(Customer),
            [
                {
                    "email": f"bench{i}@example.test",
                    "name": f"{rng.choice(names)} {rng.choice(surnames)}",
                    "password_hash": "!",
                    "created_at": now - timedelta(days=rng.randint(0, 365)),
                    "tags": [],
                }
                for i in range(start, min(start + batch, customers))
            ],
        )
    db.session.commit()
    customer_ids = list(db.session.scalars(select(Customer.id).order_by(Customer.id)))
    statuses = [
        ("open", "paid", "unfulfilled"),
        ("open", "paid", "partially_fulfilled"),
        ("completed", "paid", "fulfilled"),
        ("completed", "partially_refunded", "fulfilled"),
        ("cancelled", "voided", "unfulfilled"),
    ]  # (no "authorized": those have a payment row in a real shop, and these orders have none)
    first = int(db.session.scalar(select(Order.id).order_by(Order.id.desc()).limit(1)) or 0)
    for start in range(0, count, batch):
        orders, lines, notes = [], [], []
        for offset in range(start, min(start + batch, count)):
            order_id = first + offset + 1
            status, payment, fulfillment = rng.choice(statuses)
            customer = rng.choice(customer_ids) if rng.random() < 0.8 else None
            name = f"{rng.choice(names)} {rng.choice(surnames)}"
            total = rng.randint(900, 40_000)
            placed = now - timedelta(minutes=rng.randint(0, 90 * 24 * 60))
            orders.append(
                {
                    "id": order_id,
                    "number": 1000 + order_id,
                    "checkout_key": f"bench-{order_id}",
                    "customer_id": customer,
                    "email": f"bench{customer or order_id}@example.test",
                    "customer_name": name,
                    "channel": "web" if rng.random() < 0.9 else "console",
                    "currency": "EUR",
                    "prices_include_tax": True,
                    "subtotal": total,
                    "discount_total": 0,
                    "shipping_total": 0,
                    "tax_total": 0,
                    "total": total,
                    "shipping_address": {},
                    "shipping_method_code": "STD",
                    "shipping_method_name": "Standard",
                    "shipping_tax": 0,
                    "tax_name": "",
                    "tax_rate_bps": 0,
                    "adjustments": [],
                    "status": status,
                    "payment_status": payment,
                    "fulfillment_status": fulfillment,
                    "paid_total": 0 if payment in ("voided", "authorized") else total,
                    "refunded_total": 0,
                    "cancel_reason": "",
                    "placed_at": placed,
                    "updated_at": placed,
                }
            )
            for n in range(rng.randint(1, 3)):
                lines.append(
                    {
                        "order_id": order_id,
                        "title": f"Bench product {n}",
                        "sku": f"BENCH-{rng.randint(1, 5000):05d}",
                        "quantity": rng.randint(1, 3),
                        "unit_price": total,
                        "amount": total,
                        "discount": 0,
                        "tax": 0,
                        "tax_rate_bps": 0,
                        "weight_grams": 0,
                        "adjustments": [],
                        "fulfilled_quantity": 0,
                        "refunded_quantity": 0,
                        "returned_quantity": 0,
                    }
                )
            if rng.random() < 0.1:
                notes.append(
                    {
                        "order_id": order_id,
                        "kind": "note",
                        "message": "Bench note",
                        "data": {},
                        "actor_label": "bench",
                        "customer_visible": False,
                        "created_at": placed,
                    }
                )
        db.session.execute(insert(Order), orders)
        db.session.execute(insert(OrderLine), lines)
        if notes:
            db.session.execute(insert(OrderEvent), notes)
        db.session.commit()
    return customers


def list_views(
    vendor: str, category: int, collection: int, manual: int, tag: str, sku: str
) -> dict[str, str]:
    """Every console list view with its common filters and sorts."""
    p = "/console/products"
    o = "/console/orders"
    s = "/console/inventory"
    return {
        "products": p,
        "products_status": f"{p}?status=active",
        "products_vendor": f"{p}?" + urlencode({"vendor": vendor}),
        "products_search": f"{p}?q=shirt",
        "products_filtered": f"{p}?"
        + urlencode({"status": "active", "vendor": vendor, "q": "shirt"}),
        "products_category": f"{p}?category={category}",
        "products_collection": f"{p}?collection={collection}",
        "products_tag": f"{p}?" + urlencode({"tag": tag}),
        "products_price": f"{p}?price_min=10&price_max=50",
        "products_by_price": f"{p}?sort=price&dir=asc",
        "products_by_title": f"{p}?sort=title&dir=asc",
        "products_by_vendor": f"{p}?sort=vendor&dir=asc",
        "products_by_status": f"{p}?sort=status&dir=asc",
        "stock": s,
        "stock_search": f"{s}?q=shirt",
        "stock_sku": f"{s}?" + urlencode({"q": sku}),
        "stock_low": f"{s}?low=1",
        "stock_out": f"{s}?out=1",
        "stock_location": f"{s}?location=1",
        "stock_category": f"{s}?category={category}",
        "stock_by_available": f"{s}?sort=available&dir=asc",
        "stock_by_title": f"{s}?sort=title&dir=asc",
        "stock_by_updated": f"{s}?sort=updated&dir=desc",
        "transfers": f"{s}/transfers",
        "counts": f"{s}/counts",
        "orders": o,
        "orders_open": f"{o}?status=open",
        "orders_unfulfilled_paid": f"{o}?fulfillment=unfulfilled&payment=paid",
        "orders_search": f"{o}?q=moss",
        "orders_number": f"{o}?q=1500",
        "orders_sku": f"{o}?sku=BENCH-00042",
        "orders_note": f"{o}?note=1",
        "orders_by_total": f"{o}?sort=total&dir=desc",
        "orders_by_customer": f"{o}?sort=customer&dir=asc",
        "customers": "/console/customers",
        "customers_search": "/console/customers?q=moss",
        "refund_approvals": "/console/refunds/approvals",
        "payments_attention": "/console/payments/attention",
        "promotions": "/console/promotions",
        "promotions_active": "/console/promotions?status=active",
        "categories": "/console/categories",
        "collections": "/console/collections",
        "collection_members": f"/console/collections/{manual}/members",
        "search_rules": "/console/search/rules",
        "search_synonyms": "/console/search/synonyms",
        "search_analytics": "/console/search/analytics",
        "staff": "/console/staff",
        "audit": "/console/audit",
        "dashboard": "/console/",
        "jump": "/console/jump?q=shirt",
    }


def run_database(label: str, url: str, args: argparse.Namespace, tmp: str) -> dict[str, Any]:
    from flask_migrate import upgrade
    from sqlalchemy import func, select

    from bench._server import percentile
    from commerce.catalog.models import Collection, Product, ProductTag, Variant
    from commerce.demo import DEMO_STAFF, load_demo
    from commerce.demo.data import VENDORS
    from commerce.extensions import db
    from wsgi import create_app

    count = args.products or (5_000 if args.quick else 50_000)
    orders = args.orders if args.orders is not None else count
    app = create_app(
        {
            "INSTANCE_PATH": tmp,
            "SQLALCHEMY_DATABASE_URI": url,
            "MEDIA_ROOT": f"{tmp}/media",
            "SECRET_KEY": "bench",
            "RATELIMIT_ENABLED": False,
            "WTF_CSRF_ENABLED": False,
        }
    )
    figures: dict[str, Any] = {}
    with app.app_context():
        upgrade(revision="heads")
        started = time.perf_counter()
        summary = load_demo(products=count, orders=0, seed=args.seed)
        load_s = time.perf_counter() - started
        started = time.perf_counter()
        customers = fill_orders(orders, args.seed)
        fill_s = time.perf_counter() - started
        category = int(
            db.session.scalar(
                select(Product.category_id)
                .where(Product.category_id.is_not(None))
                .group_by(Product.category_id)
                .order_by(func.count().desc())
                .limit(1)
            )
            or 1
        )
        collection = int(db.session.scalar(select(Collection.id).order_by(Collection.id)) or 1)
        manual = int(
            db.session.scalar(
                select(Collection.id).where(Collection.kind == "manual").order_by(Collection.id)
            )
            or collection
        )
        tag = db.session.scalar(select(ProductTag.tag).limit(1)) or "sale"
        sku = db.session.scalar(select(Variant.sku).where(Variant.sku.is_not(None)).limit(1)) or ""
        if db.engine.dialect.name == "postgresql":
            from sqlalchemy import text

            db.session.commit()
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text("VACUUM ANALYZE"))
    print(
        f"  {label}: demo load {summary['products']:,} products, {summary['variants']:,} "
        f"variants in {load_s:.1f}s; {orders:,} orders and {customers:,} customers in {fill_s:.1f}s"
    )
    figures.update(products=summary["products"], orders=orders, demo_load_s=f"{load_s:.1f}")
    email, password = DEMO_STAFF["admin"][:2]
    client = app.test_client()
    response = client.post("/console/login", data={"email": email, "password": password})
    if response.status_code != 303:
        print(f"  {label}: sign-in failed: HTTP {response.status_code}", file=sys.stderr)
        figures["errors_5xx"] = 1
        return figures
    timer = Timer(app, client)
    views = list_views(VENDORS["Apparel"][0], category, collection, manual, tag, sku)
    for name in ("products", "stock", "orders", "customers"):
        found = deep_url(timer, views[name])
        if found:
            views[f"{name}_deep"] = found
        else:
            print(f"  {label}: no 'Next' link after {DEEP_PAGES} pages of {views[name]}")
    slowest = ("", 0.0, 0.0)
    for name, view in views.items():
        samples, cpu, statements = timer.measure(view, args.repeat)
        p50, p99, cpu50 = percentile(samples, 0.5), percentile(samples, 0.99), percentile(cpu, 0.5)
        figures[f"{name}_p50_ms"] = f"{p50:.1f}"
        figures[f"{name}_cpu_ms"] = f"{cpu50:.1f}"
        figures[f"{name}_sql"] = statements
        if p50 > slowest[1]:
            slowest = (name, p50, cpu50)
        print(
            f"  {label}: {name:>24}: p50 {p50:7.1f} ms  p99 {p99:7.1f} ms  "
            f"cpu {cpu50:6.1f} ms  {statements:3d} SQL"
        )
    figures["slowest"] = slowest[0]
    figures["slowest_p50_ms"] = f"{slowest[1]:.1f}"
    figures["slowest_cpu_ms"] = f"{slowest[2]:.1f}"
    figures["meets"] = int(slowest[1] <= TARGET_LIST_MS)
    figures["errors_5xx"] = timer.errors_5xx
    figures["non_200"] = len(timer.non_200)
    for failed in timer.non_200[:5]:
        print(f"  {label}: {failed}")
    if timer.first_error:
        print(f"  {label}: first server error: {timer.first_error}")
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    return figures


def reset_postgres(url: str) -> None:
    """An empty public schema (the bench's database is a scratch one)."""
    from bench._server import reset_schema

    reset_schema(url, "public", create=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="5,000 products (under a minute)")
    parser.add_argument("--products", type=int, default=None)
    parser.add_argument("--orders", type=int, default=None, help="default: as many as products")
    parser.add_argument("--repeat", type=int, default=None, help="default 15, 5 with --quick")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    args.repeat = args.repeat or (5 if args.quick else 15)

    sys.path.insert(0, str(ROOT))
    from bench._server import reference_ms

    pg_url = os.environ.get("BENCH_DATABASE_URL")
    figures: dict[str, Any] = {}
    references = [reference_ms()]
    errors = 0
    with tempfile.TemporaryDirectory(prefix="bench-catalog-") as tmp:
        legs = [("sqlite", f"sqlite:///{tmp}/bench.db")]
        if pg_url:
            legs.append(("postgres", pg_url))
        for label, url in legs:
            if label == "postgres":
                reset_postgres(url)
            for key, value in run_database(label, url, args, tmp).items():
                figures[f"{label}_{key}"] = value
            errors += int(figures.get(f"{label}_errors_5xx", 0))
            references.append(reference_ms())
    if not pg_url:
        print("PostgreSQL leg skipped: set BENCH_DATABASE_URL (a scratch database)")
    figures["ref_ms"] = f"{sorted(references)[len(references) // 2]:.1f}"
    figures["target_list_ms"] = f"{TARGET_LIST_MS:.0f}"
    print(" ".join(f"{key}={value}" for key, value in figures.items()))
    return 1 if errors else 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Flash-sale benchmark: N shoppers check out one SKU with M units at once, over real HTTP.

    python bench/flash_sale.py [--quick] [--shoppers N] [--units M] [--workers W] [--threads T]
                               [--database-url URL] [--redis-url URL] [--rate-limits]

Needs PostgreSQL and Redis: --database-url / --redis-url or TEST_DATABASE_URL / TEST_REDIS_URL
(refuses to run without them; `make services` starts the local test servers). The shop lives in
its own schema (`bench_flash_sale`, dropped and rebuilt at the start and dropped at the end, so
the database's other tables are never touched); the Redis database is flushed (cache entries of
an earlier run would name other rows). The schema is built by the migrations, the shop (one
product, one variant with M units, US shipping and tax) through the domain services.

gunicorn (W gthread workers x T threads) then serves the app, configured only by environment
variables as in production (rate limits off unless --rate-limits; Celery eager, so the
confirmation email is written inside the worker after the commit). Each shopper is its own
browser (cookie jar, CSRF token from GET /cart). All N first put one unit in their carts
(16 at a time), then a barrier releases them together through POST /checkout -> information ->
shipping -> place.

Printed: orders placed, oversold units (orders or allocations beyond M, or a negative
available count: must be 0), clean "sold out" answers (409), errors (5xx, and anything else
unexpected), completed checkouts per second (orders / time from the release to the last
shopper's answer), and p50/p95/p99 of the place-order request. The database is checked after
the run (ledger, counters, captured payments). The last line holds every figure as key=value.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = "bench_flash_sale"
PREPARE_CLIENTS = 16
MAX_DB_CONNECTIONS = 80  # of PostgreSQL's 100, leave room for this script and psql


def service_urls(args: argparse.Namespace) -> tuple[str, str]:
    sys.path.insert(0, str(ROOT))
    from bench._server import postgres_url

    url = postgres_url(args.database_url, "bench/flash_sale.py")
    redis_url = args.redis_url or os.environ.get("TEST_REDIS_URL")
    if not redis_url:
        sys.exit(
            "bench/flash_sale.py needs Redis: pass --redis-url redis://... or set TEST_REDIS_URL "
            "(`make redis` starts the local test server)."
        )
    return url, redis_url


def reset_schema(url: str, *, create: bool) -> None:
    sys.path.insert(0, str(ROOT))
    from bench._server import reset_schema as reset

    reset(url, SCHEMA, create=create)


def build_app(url: str, instance: str) -> Any:
    from wsgi import create_app

    return create_app(
        {
            "INSTANCE_PATH": instance,
            "SECRET_KEY": "bench",
            "SQLALCHEMY_DATABASE_URI": url,
            "RATELIMIT_ENABLED": False,
            "MEDIA_ROOT": str(Path(instance) / "media"),
        }
    )


def prepare(shoppers: list[Any], variant_id: int) -> float:
    """Every shopper opens the cart page (session, CSRF token) and adds one unit."""

    def fill(shopper: Any) -> None:
        shopper.open()
        shopper.add_to_cart(variant_id, 1)

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=PREPARE_CLIENTS) as pool:
        list(pool.map(fill, shoppers))  # re-raises the first failure
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="200 shoppers for 40 units")
    parser.add_argument("--shoppers", type=int, help="concurrent shoppers (default 500)")
    parser.add_argument("--units", type=int, help="units in stock (default 100)")
    parser.add_argument("--workers", type=int, default=3, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=8, help="threads per worker")
    parser.add_argument("--database-url", help="PostgreSQL URL (default: TEST_DATABASE_URL)")
    parser.add_argument("--redis-url", help="Redis URL (default: TEST_REDIS_URL)")
    parser.add_argument(
        "--rate-limits",
        action="store_true",
        help="keep the production rate limits on (every shopper comes from 127.0.0.1, as "
        "behind a proxy)",
    )
    args = parser.parse_args(argv)
    shoppers_n = args.shoppers or (200 if args.quick else 500)
    units = args.units if args.units is not None else (40 if args.quick else 100)
    if args.workers * args.threads > MAX_DB_CONNECTIONS:
        sys.exit(
            f"--workers x --threads = {args.workers * args.threads} could open more PostgreSQL "
            f"connections than the {MAX_DB_CONNECTIONS} this benchmark allows itself"
        )
    url, redis_url = service_urls(args)

    sys.path.insert(0, str(ROOT))
    from bench._server import (
        ERROR_5XX,
        ERROR_OTHER,
        ORDER,
        SOLD_OUT_ANSWER,
        LiveServer,
        Shopper,
        build_flash_shop,
        check_out,
        flush_redis,
        percentile,
        run_barrier,
        stock_report,
        with_search_path,
    )

    schema_url = with_search_path(url, SCHEMA)
    reset_schema(url, create=True)
    flush_redis(redis_url)
    try:
        with tempfile.TemporaryDirectory(prefix="bench-flash-") as instance:
            from flask_migrate import upgrade

            from commerce.extensions import db

            app = build_app(schema_url, instance)
            with app.app_context():
                t0 = time.perf_counter()
                logging.disable(logging.INFO)  # Alembic's per-revision lines
                try:
                    upgrade()
                finally:
                    logging.disable(logging.NOTSET)
                shop = build_flash_shop(units=units)
                db.session.remove()
                print(f"schema and shop ready in {time.perf_counter() - t0:.1f}s", flush=True)

            server = LiveServer(
                database_url=schema_url,
                redis_url=redis_url,
                instance=Path(instance) / "server",
                workers=args.workers,
                threads=args.threads,
                env={"RATELIMIT_ENABLED": "true"} if args.rate_limits else None,
            )
            with server:
                shoppers = [Shopper(server.url) for _ in range(shoppers_n)]
                took = prepare(shoppers, shop.variant_id)
                print(
                    f"{shoppers_n} carts filled in {took:.1f}s; gunicorn {args.workers} workers "
                    f"x {args.threads} threads; releasing the shoppers",
                    flush=True,
                )

                def race(numbered: tuple[int, Any], barrier: Any) -> Any:
                    n, shopper = numbered
                    return check_out(shopper, email=f"shopper{n}@example.com", before=barrier)

                journeys = run_barrier(list(enumerate(shoppers)), race)
                for shopper in shoppers:
                    shopper.close()
                tracebacks = server.tracebacks()
                log_tail = server.log_tail(1500)

            with app.app_context():
                report = stock_report(shop.variant_id)
                db.session.remove()
                db.engine.dispose()
    finally:
        reset_schema(url, create=False)

    crashed = [j for j in journeys if isinstance(j, BaseException)]
    journeys = [j for j in journeys if not isinstance(j, BaseException)]
    outcomes = Counter(j.outcome for j in journeys)
    errors_other = outcomes[ERROR_OTHER] + len(crashed)
    statuses = Counter(
        f"{j.failure.step}:{j.failure.status}"
        for j in journeys
        if j.outcome in (ERROR_5XX, ERROR_OTHER) and j.failure
    )
    orders = outcomes[ORDER]
    started = min((j.started for j in journeys), default=0.0)
    ended = max((j.ended for j in journeys), default=0.0)
    elapsed = max(ended - started, 1e-9)
    place_ms = [a.ms for j in journeys for a in j.answers if a.step == "place"]
    oversold = max(orders, report.orders, report.units_ordered, report.allocated) - units
    oversold = max(oversold, 0) + max(-report.available, 0)
    checks = {
        "ledger": not report.ledger_mismatches,
        "counters": not report.counter_mismatches,
        "orders_in_db": report.orders == orders,
        "captured": report.captured == orders,
        "holds_left": report.active_reservations == 0,
    }

    print(
        f"orders {orders}/{units}  sold out {outcomes[SOLD_OUT_ANSWER]}  "
        f"5xx {outcomes[ERROR_5XX]}  other errors {errors_other}  in {elapsed:.1f}s"
    )
    print(
        f"database: orders {report.orders}  captured {report.captured}  on_hand {report.on_hand}  "
        f"allocated {report.allocated}  reserved {report.reserved}  "
        f"available {report.available}  active holds {report.active_reservations}"
    )
    steps = {}
    for j in journeys:
        for a in j.answers:
            steps.setdefault(a.step, []).append(a.ms)
    print(
        "latency p50/p99 ms: "
        + "  ".join(
            f"{step} {percentile(ms, 0.5):.0f}/{percentile(ms, 0.99):.0f} (n={len(ms)})"
            for step, ms in steps.items()
        )
    )
    failed_checks = [name for name, ok in checks.items() if not ok]
    if failed_checks:
        print(f"database checks failed: {', '.join(failed_checks)}")
        for line in report.ledger_mismatches + report.counter_mismatches:
            print(f"  {line}")
    if statuses:
        print("errors by step:status: " + ", ".join(f"{k}={v}" for k, v in statuses.items()))
        first = next(j.failure for j in journeys if j.failure)
        print(f"first error: {first.describe()}")
    if crashed:
        print(f"first crash: {crashed[0]!r}")
    if tracebacks:
        print(f"server tracebacks: {len(tracebacks)}; log tail:\n{log_tail}")

    figures: dict[str, Any] = {
        "shoppers": shoppers_n,
        "units": units,
        "orders": orders,
        "oversold": oversold,
        "sold_out": outcomes[SOLD_OUT_ANSWER],
        "errors_5xx": outcomes[ERROR_5XX],
        "errors_other": errors_other,
        "checkouts_per_s": f"{orders / elapsed:.1f}",
        "place_p50_ms": f"{percentile(place_ms, 0.50):.0f}",
        "place_p95_ms": f"{percentile(place_ms, 0.95):.0f}",
        "place_p99_ms": f"{percentile(place_ms, 0.99):.0f}",
        "workers": args.workers,
        "threads": args.threads,
        "db_checks": "ok" if not failed_checks else "failed",
    }
    print(" ".join(f"{key}={value}" for key, value in figures.items()))
    bad = oversold or outcomes[ERROR_5XX] or errors_other or failed_checks or tracebacks
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Every benchmark runs (as a user runs it, a process of its own) with tiny sizes, so none can
rot: the PostgreSQL ones on a brand-new database and on the test database after the suite's
migrations (pg_trgm then lives in its public schema), the others on their own SQLite files.
A run must exit 0 and print its key=value line; the figures themselves are not judged here."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

from bench._server import ROOT

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


def run_bench(script: str, *args: str, **env: str | None) -> dict[str, str]:
    """Run bench/<script> with `args`; its last line's figures (the run must exit 0)."""
    environment = {**os.environ, "PYTHONPATH": str(ROOT)}
    for key, value in env.items():
        if value is None:
            environment.pop(key, None)
        else:
            environment[key] = value
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / script), *args],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = (done.stdout + done.stderr).strip()
    assert done.returncode == 0, f"bench/{script} exited {done.returncode}:\n{output[-3000:]}"
    last = done.stdout.strip().splitlines()[-1]
    figures = dict(part.split("=", 1) for part in last.split() if "=" in part)
    assert figures, f"bench/{script} printed no figures:\n{output[-2000:]}"
    return figures


@pytest.fixture
def suite_database(pg_app: Any, pg_url: str) -> str:
    """The test database as `make test` leaves it: migrated, pg_trgm in its public schema."""
    return pg_url


@pytest.fixture
def new_database(pg_url: str) -> Iterator[str]:
    """A database created for this test (nothing installed in it), dropped afterwards."""
    from sqlalchemy import create_engine, text

    parts = urlsplit(pg_url)
    name = f"{parts.path.strip('/')}_new_bench"
    admin = create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {name}"))
        conn.execute(text(f"CREATE DATABASE {name}"))
    try:
        yield urlunsplit(parts._replace(path=f"/{name}"))
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()


def test_flash_sale_bench_after_the_suite(suite_database: str, redis_url: str) -> None:
    figures = run_bench(
        "flash_sale.py",
        *("--shoppers", "12", "--units", "4", "--browsers", "1", "--hello-seconds", "0.3"),
        *("--workers", "1", "--threads", "4"),
        TEST_DATABASE_URL=suite_database,
        TEST_REDIS_URL=redis_url,
    )
    assert (figures["orders"], figures["oversold"], figures["errors_5xx"]) == ("4", "0", "0")
    for key in (
        "checkouts_per_s",
        "place_p50_ms",
        "place_p99_ms",
        "sold_out_p99_ms",
        "queue_wait_p50_ms",
        "queue_wait_p99_ms",
        "browse_p99_ms",
        "sql_per_checkout",
        "server_cpu_ms_per_checkout",
        "hello_rps",
    ):
        assert key in figures, key


def test_inventory_bench_on_a_new_database_and_pricing_on_the_test_database(
    suite_database: str, new_database: str
) -> None:
    figures = run_bench("inventory.py", "--seconds", "0.1", TEST_DATABASE_URL=new_database)
    assert (figures["oversold"], figures["errors"]) == ("0", "0")
    figures = run_bench("pricing.py", "--seconds", "0.1", "--database-url", suite_database)
    assert figures["database"] == "postgresql"


def test_api_bench_on_the_test_database(suite_database: str, redis_url: str) -> None:
    figures = run_bench(
        "api.py",
        *("--products", "100", "--orders", "40", "--fulfilments", "3", "--seconds", "0.3"),
        *("--clients", "2", "--workers", "1", "--threads", "2"),
        TEST_DATABASE_URL=suite_database,
        TEST_REDIS_URL=redis_url,
    )
    assert (figures["errors_5xx"], figures["tracebacks"]) == ("0", "0")
    for kind in ("healthz", "products", "orders", "fulfil"):
        assert f"{kind}_rps" in figures and f"{kind}_p99_ms" in figures


def test_catalog_and_search_benches_on_a_new_postgres_database(new_database: str) -> None:
    """Their PostgreSQL legs (BENCH_DATABASE_URL: its public schema is dropped and rebuilt)."""
    env = {"BENCH_DATABASE_URL": new_database, "TEST_DATABASE_URL": None, "MEILISEARCH_URL": None}
    figures = run_bench("catalog.py", "--products", "100", "--repeat", "1", **env)
    assert (figures["postgres_errors_5xx"], figures["postgres_non_200"]) == ("0", "0")
    figures = run_bench("search.py", "--products", "100", "--queries", "10", **env)
    assert "postgres_100_p95_ms" in figures


def test_sqlite_benches_run_or_set_up() -> None:
    """catalog and search with tiny catalogs; the storefront's set-up (its run is timed
    loops over gunicorn, the same as the flash sale's browsing)."""
    sqlite_only = {"TEST_DATABASE_URL": None, "BENCH_DATABASE_URL": None, "MEILISEARCH_URL": None}
    run_bench("catalog.py", "--products", "100", "--repeat", "1", **sqlite_only)
    run_bench("search.py", "--products", "100", "--queries", "10", **sqlite_only)
    set_up = (
        "import sys, tempfile; from bench.storefront import prepare; "
        "urls = prepare(tempfile.mkdtemp(), 20, 0); "
        "print(' '.join(f'{kind}={len(found)}' for kind, found in urls.items()))"
    )
    done = subprocess.run(
        [sys.executable, "-c", set_up],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "product=" in done.stdout.splitlines()[-1]


def test_reports_bench_on_sqlite() -> None:
    """A few hundred orders: every report runs through its statements (the PostgreSQL path is
    tests/commerce/reports/test_reports_postgres.py's)."""
    figures = run_bench(
        "reports.py",
        "--orders",
        "300",
        "--products",
        "20",
        "--repeat",
        "1",
        TEST_DATABASE_URL=None,
    )
    assert figures["sales_30d_by_day_sql"] == "3", figures
    assert "reference_sales_between_ms" in figures and "top_collections_90d_ms" in figures

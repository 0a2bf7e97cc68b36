"""bench/edge.py runs from a fresh checkout (its --quick mode, shortened): the product page is
served from Varnish alone while wrk drives it, and nothing fails. Its rates are printed, never
asserted (this machine is shared; the bench's own output compares them)."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

from bench._server import ROOT


def test_edge_bench_quick(varnish: None, wrk: None) -> None:
    check_figures(run_edge_bench())


def test_edge_bench_on_the_test_database_after_the_suite(
    varnish: None, wrk: None, pg_app: Any, pg_url: str
) -> None:
    """On PostgreSQL as `make test` leaves it (migrated, pg_trgm in its public schema): the
    bench's own schema finds the search index's operator class there."""
    check_figures(run_edge_bench("--database-url", pg_url))


def run_edge_bench(*extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "bench/edge.py", "--quick", "--seconds", "1", "--workers", "1", *extra],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def check_figures(run: subprocess.CompletedProcess[str]) -> None:
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    last = run.stdout.strip().splitlines()[-1]
    figures = dict(item.split("=", 1) for item in last.split())
    print(last)
    assert float(figures["edge_rps"]) > 0 and float(figures["hello_rps"]) > 0
    # Varnish may count a request that waited on a fetch in flight as a miss; that no request
    # reached the backend (below) is the strict check.
    assert float(figures["hit_ratio"]) >= 0.999, last
    assert figures["backend_requests"] == "0", last  # every request of the edge run was a hit
    assert figures["non_2xx"] == figures["server_tracebacks"] == "0", last
    assert figures["edge_socket_errors"] == "0", last

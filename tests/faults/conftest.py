"""Fault injection with real processes: gunicorn and Celery workers killed with SIGKILL, the
database's connections terminated, Redis stopped, Meilisearch unreachable.

Each test ends by checking the invariants that must survive the fault (no duplicate order,
every payment settled or queued for recovery, the stock ledger reconciled, every email sent
once, every job finished or failed) and reports what it counted through `fault_report`; the
counts are printed at the end of the run, so a CI log shows what the faults did.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

_REPORT: list[tuple[str, dict[str, Any]]] = []


@pytest.fixture
def fault_report(request: pytest.FixtureRequest) -> Callable[..., None]:
    """fault_report(orders=20, duplicates=0, ...) records this test's counts for the summary."""

    def report(**counts: Any) -> None:
        _REPORT.append((request.node.name, counts))

    return report


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _REPORT:
        return
    terminalreporter.section("fault injection: what each fault left behind")
    for name, counts in _REPORT:
        figures = " ".join(f"{key}={value}" for key, value in counts.items())
        terminalreporter.write_line(f"{name}: {figures}")

"""A measuring probe for the benchmarks' server processes (never imported by the app).

bench/flash_sale.py starts gunicorn with this folder first on PYTHONPATH and BENCH_PROBE_DIR
set, so every Python process it starts imports this module at startup. It listens to every
SQLAlchemy engine (class-level events, inherited by gunicorn's forked workers) and counts:

- SQL statements per Flask endpoint (the request being served, "-" outside a request);
- for each transaction that ran `UPDATE stock_level`, how long the row stayed locked from our
  side: from that UPDATE's answer to the COMMIT (or ROLLBACK) being sent ("hold"), and how
  long the UPDATE itself took, waiting for the lock included ("wait").

Each process writes what it counted to BENCH_PROBE_DIR/probe.<pid>.json every 0.2 s (a
daemon thread) and at exit; the benchmark sums the files before and after the sale. Without
BENCH_PROBE_DIR this module does nothing.
"""

from __future__ import annotations

import atexit
import json
import os
import threading
import time
from typing import Any

_DIR = os.environ.get("BENCH_PROBE_DIR")
_lock = threading.Lock()
_state: dict[str, Any] = {"pid": None, "statements": {}, "hold_ms": [], "wait_ms": []}
_KEY = "bench.stock_update"


def _reset_after_fork() -> None:
    with _lock:
        _state.update(pid=os.getpid(), statements={}, hold_ms=[], wait_ms=[])
    threading.Thread(target=_flusher, name="bench-probe", daemon=True).start()


def _flusher() -> None:
    while True:
        time.sleep(0.2)
        _flush()


def _flush() -> None:
    if not _DIR or _state["pid"] != os.getpid():
        return
    with _lock:
        data = json.dumps(_state)
    path = os.path.join(_DIR, f"probe.{os.getpid()}.json")
    temporary = f"{path}.tmp"
    with open(temporary, "w") as out:
        out.write(data)
    os.replace(temporary, path)


def _endpoint() -> str:
    try:
        from flask import has_request_context, request

        if has_request_context():
            return request.endpoint or "-"
    except Exception:  # pragma: no cover - a probe must never break a request
        pass
    return "-"


def _before(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
    if _state["pid"] != os.getpid():
        _reset_after_fork()
    endpoint = _endpoint()
    with _lock:
        counts = _state["statements"]
        counts[endpoint] = counts.get(endpoint, 0) + 1
    if statement.lstrip()[:19].upper() == "UPDATE STOCK_LEVEL ":
        conn.info[_KEY] = time.perf_counter()


def _after(conn: Any, *_args: Any) -> None:
    started = conn.info.get(_KEY)
    if isinstance(started, float):
        now = time.perf_counter()
        conn.info[_KEY] = ("answered", now)
        with _lock:
            _state["wait_ms"].append((now - started) * 1000)


def _ended(conn: Any) -> None:
    mark = conn.info.pop(_KEY, None)
    if isinstance(mark, tuple):
        with _lock:
            _state["hold_ms"].append((time.perf_counter() - mark[1]) * 1000)


if _DIR:
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    event.listen(Engine, "before_cursor_execute", _before)
    event.listen(Engine, "after_cursor_execute", _after)
    event.listen(Engine, "commit", _ended)
    event.listen(Engine, "rollback", _ended)
    atexit.register(_flush)

"""The test gateway's own memory: a small SQLite file outside our database.

The test gateway stands for an external payment service, so what it did must survive our
processes and our database: several gunicorn workers, a Celery worker and the recovery task
all see the same authorizations, captures, voids and refunds, and a crash or an outage of our
database loses none of them. Every operation runs in one `BEGIN IMMEDIATE` transaction (one
writer at a time across processes), so "seen this idempotency key before?" and "do it" are one
step. Each thread keeps its own connection, opened again in a new process (gunicorn forks
workers): closing one after every operation would checkpoint the WAL (a disk flush) each time,
and make this stand-in for a provider the slowest part of a checkout.

Without a path (a gateway built by hand in a unit test) the memory is private to the object.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS authorization (
    reference TEXT PRIMARY KEY,          -- the gateway's id for it (tg_auth_...)
    idempotency_key TEXT NOT NULL UNIQUE,
    our_reference TEXT NOT NULL,         -- the merchant's reference (checkout:...)
    amount INTEGER NOT NULL,
    currency TEXT NOT NULL,
    card_last4 TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL,                -- requires_action, authorized, failed, voided, captured
    error_code TEXT,
    message TEXT NOT NULL DEFAULT '',
    action_token TEXT,
    expires_at TEXT,
    captured INTEGER NOT NULL DEFAULT 0,
    refunded INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS authorization_our_reference ON authorization (our_reference);
CREATE TABLE IF NOT EXISTS operation (
    idempotency_key TEXT PRIMARY KEY,
    kind TEXT NOT NULL,                  -- capture, void, refund
    authorization TEXT NOT NULL,
    amount INTEGER NOT NULL,
    status TEXT NOT NULL,                -- succeeded, failed
    reference TEXT,                      -- tg_cap_..., tg_ref_...
    error_code TEXT,
    message TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS operation_authorization ON operation (authorization);
"""

_ready: set[str] = set()
_ready_lock = threading.Lock()


class GatewayStore:
    """Rows as dicts; `atomic()` is one exclusive transaction."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = str(path) if path else None
        self._memory: sqlite3.Connection | None = None
        self._memory_lock = threading.Lock()
        self._local = threading.local()  # this thread's (pid, connection)
        if self.path is None:
            self._memory = sqlite3.connect(":memory:", check_same_thread=False)
            self._memory.isolation_level = None
            self._memory.row_factory = sqlite3.Row
            self._memory.executescript(SCHEMA)

    def _open(self) -> sqlite3.Connection:
        assert self.path is not None
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=30)
        conn.isolation_level = None  # explicit BEGIN/COMMIT below
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA busy_timeout=30000")
        # WAL + NORMAL: durable across crashes of any process (not of the machine's power),
        # without a disk flush per call.
        conn.execute("PRAGMA synchronous=NORMAL")
        with _ready_lock:
            if self.path not in _ready:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.executescript(SCHEMA)
                _ready.add(self.path)
        return conn

    @contextmanager
    def atomic(self) -> Iterator[sqlite3.Connection]:
        """One exclusive transaction: concurrent processes take turns."""
        if self._memory is not None:
            with self._memory_lock:
                self._memory.execute("BEGIN IMMEDIATE")
                try:
                    yield self._memory
                    self._memory.execute("COMMIT")
                except BaseException:
                    self._memory.execute("ROLLBACK")
                    raise
            return
        conn = self._connection()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def _connection(self) -> sqlite3.Connection:
        kept = getattr(self._local, "kept", None)
        if kept is not None and kept[0] == os.getpid():
            return kept[1]  # type: ignore[no-any-return]
        conn = self._open()
        self._local.kept = (os.getpid(), conn)
        return conn

    def rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        with self.atomic() as conn:
            return [dict(row) for row in conn.execute(sql, params)]

    def authorizations(self, our_reference: str | None = None) -> list[dict[str, Any]]:
        """What the gateway holds, for tests and support: every authorization (of one
        merchant reference), oldest first."""
        if our_reference is None:
            return self.rows("SELECT * FROM authorization ORDER BY created_at, reference")
        return self.rows(
            "SELECT * FROM authorization WHERE our_reference = ? ORDER BY created_at, reference",
            (our_reference,),
        )

    def operations(self, kind: str | None = None) -> list[dict[str, Any]]:
        if kind is None:
            return self.rows("SELECT * FROM operation ORDER BY created_at, idempotency_key")
        return self.rows(
            "SELECT * FROM operation WHERE kind = ? ORDER BY created_at, idempotency_key", (kind,)
        )

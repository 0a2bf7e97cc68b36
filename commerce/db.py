"""Transactions, and the two kinds of domain function that use them.

`transaction()` commits when it is the outermost block and joins the caller's otherwise, so a
service that calls another service still commits (or rolls back) exactly once.

- `@service`: a composable service. Its call runs in `transaction()`: outermost, it is one
  transaction; called by another service, it joins that one and commits or rolls back with it.
  (A few services check their input or answer a repeat before writing, and open
  `with transaction():` themselves after those checks, so the write lock is not taken for
  nothing; they compose the same way.)
- `@workflow`: a multi-step workflow that commits its own steps (around a payment provider's
  calls, per step of an import or a delivery). It must be the outermost call: called inside an
  open transaction it raises NestedWorkflowError, a programming error, before doing anything.

Either kind leaves the session clean when it raises: the transaction is rolled back and every
object loaded is expired, so the caller (a web view) reads the committed state on next access
and never needs to roll back, refresh or commit itself.
"""

from __future__ import annotations

import contextlib
import functools
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, ParamSpec, TypeVar

from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from commerce.errors import DatabaseBusy
from commerce.extensions import db

_DEPTH = "commerce.tx_depth"
_WORKFLOW_DEPTH = "commerce.workflow_depth"
T = TypeVar("T")
P = ParamSpec("P")


_KEEP = "tx.keep"


@contextmanager
def transaction(*, read_only: bool = False) -> Iterator[Session]:
    """`read_only`: a block that only reads (a check on a hot page) does not queue behind a
    writer on SQLite; one that writes must not say so (see _take_sqlite_write_lock)."""
    session = db.session()
    depth = session.info.get(_DEPTH, 0)
    session.info[_DEPTH] = depth + 1
    try:
        if depth == 0 and not read_only:
            _take_sqlite_write_lock(session)
        yield session
        if depth == 0:
            keep = session.info.get(_KEEP)
            if keep:
                _commit_keeping(session, keep)
            else:
                session.commit()
    except BaseException:
        if depth == 0:
            session.rollback()
        raise
    finally:
        session.info[_DEPTH] = depth
        if depth == 0:
            # Per-transaction memos (keys starting "tx.") end with the transaction.
            for key in [k for k in session.info if isinstance(k, str) and k.startswith("tx.")]:
                del session.info[key]


class NestedWorkflowError(RuntimeError):
    """A @workflow was called inside an open transaction: a mistake in the code, never the
    user's. Its own commits would commit the caller's half-done work."""


def service(function: Callable[P, T]) -> Callable[P, T]:
    """A composable service: the call is one transaction, or a part of its caller's."""

    @functools.wraps(function)
    def run(*args: P.args, **kwargs: P.kwargs) -> T:
        with transaction():
            return function(*args, **kwargs)

    run.transaction_kind = "service"  # type: ignore[attr-defined]
    return run


def workflow(function: Callable[P, T]) -> Callable[P, T]:
    """A workflow that commits its own steps: refused inside a transaction; on an error from
    the outermost workflow the session is rolled back (objects expired) for the caller."""

    @functools.wraps(function)
    def run(*args: P.args, **kwargs: P.kwargs) -> T:
        if in_transaction():
            raise NestedWorkflowError(
                f"{function.__qualname__} commits its own steps: call it outside a "
                "transaction (commerce.db.transaction(), a @service)."
            )
        session = db.session()
        depth = session.info.get(_WORKFLOW_DEPTH, 0)
        session.info[_WORKFLOW_DEPTH] = depth + 1
        try:
            return function(*args, **kwargs)
        except BaseException:
            if depth == 0:
                discard()
            raise
        finally:
            session.info[_WORKFLOW_DEPTH] = depth

    run.transaction_kind = "workflow"  # type: ignore[attr-defined]
    return run


def discard() -> None:
    """End the session's open transaction, if any, without keeping anything: a rollback,
    which expires every loaded object (the next access reads the committed row). For a
    workflow's error, or a batch that moves on after a failed item."""
    with contextlib.suppress(Exception):  # a connection already gone rolls back by itself
        db.session.rollback()


def keep_loaded(*objects: object) -> None:
    """Inside a transaction: these objects keep their values after its commit (everything
    else in the session is expired by the commit as usual). For a multi-step workflow that
    wrote them itself and reads them again in its next step, which would otherwise reload
    each one with a SELECT. Values changed by a Core UPDATE must be set on them as well
    (sqlalchemy.orm.attributes.set_committed_value)."""
    db.session().info.setdefault(_KEEP, []).extend(objects)


def _commit_keeping(session: Session, keep: list[object]) -> None:
    kept = {id(obj) for obj in keep}
    previous = session.expire_on_commit
    session.expire_on_commit = False
    try:
        session.commit()
    finally:
        session.expire_on_commit = previous
    for obj in list(session.identity_map.values()):
        if id(obj) not in kept:
            session.expire(obj)


def once_per_transaction(key: str, read: Callable[[], T]) -> T:
    """`read()` once per database transaction of the session, for a row a request consults
    several times (a revision, a cache stamp); `forget(key)` after changing it. The memo
    ends with the transaction (a commit or rollback starts another)."""
    session = db.session()
    memo = session.info.get(key)
    if memo is not None and memo[0] is session.get_transaction() is not None:
        return memo[1]  # type: ignore[no-any-return]
    value = read()
    session.info[key] = (session.get_transaction(), value)
    return value


def forget(key: str) -> None:
    """Drop a once_per_transaction memo (its row was just changed)."""
    db.session().info.pop(key, None)


def in_transaction() -> bool:
    return db.session().info.get(_DEPTH, 0) > 0


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


# SQLite (the embedded mode) has one writer at a time. A transaction that reads first and
# writes later cannot wait for the write lock: SQLite refuses the upgrade at once ("database
# is locked") when another connection writes, and no busy timeout helps. So a service's
# transaction takes the lock up front (BEGIN IMMEDIATE), and waits for it up to the busy
# timeout; a read transaction the request had open (loading the signed-in user, the product
# being saved) is ended first, which is what PostgreSQL's READ COMMITTED gives anyway.
_STATE = "commerce.sqlite_tx"  # DBAPI connection info: "read" (nothing written) or "write"
_IMMEDIATE: ContextVar[bool] = ContextVar("commerce_sqlite_immediate", default=False)
_READ_ONLY = re.compile(r"^\s*(SELECT|WITH)\b", re.IGNORECASE)
_WRITES = re.compile(r"\b(INSERT|UPDATE|DELETE|REPLACE)\b", re.IGNORECASE)
BUSY_MESSAGE = (
    "The shop is busy saving another change (a bulk edit or an import, perhaps). "
    "Nothing was changed: try again in a moment."
)


def _take_sqlite_write_lock(session: Session) -> None:
    """Begin the outermost service transaction with the write lock held (SQLite only)."""
    bind = session.get_bind()
    if not isinstance(bind, Engine) or bind.dialect.name != "sqlite":
        return  # PostgreSQL locks rows, not the database; a test's session joins its own
    try:
        if not session.in_transaction():
            token = _IMMEDIATE.set(True)
            try:
                session.connection()  # BEGIN IMMEDIATE (the "begin" listener below)
            finally:
                _IMMEDIATE.reset(token)
            return
        connection = session.connection()
        if connection.info.get(_STATE) != "read":
            return  # already the writer (it wrote, or began IMMEDIATE)
        # Only reads so far: end that snapshot and begin again as the writer. The session's
        # objects stay as read; queries from here on see the latest commits.
        connection.info[_STATE] = "none"
        connection.exec_driver_sql("COMMIT")
        connection.exec_driver_sql("BEGIN IMMEDIATE")
        connection.info[_STATE] = "write"
    except OperationalError as exc:
        if _locked(exc):
            raise DatabaseBusy(BUSY_MESSAGE) from exc
        raise


def _locked(exc: OperationalError) -> bool:
    message = str(exc.orig).lower()
    return "database is locked" in message or "database is busy" in message


def configure_sqlite(engine: Engine, *, busy_timeout: float = 15.0) -> None:
    """Make pysqlite honour real transactions (BEGIN, SAVEPOINT) and enforce foreign keys; WAL
    (readers never wait for the writer) and a busy timeout (seconds a writer waits its turn)."""
    if engine.dialect.name != "sqlite":
        return

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:  # noqa: ANN001
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
        if engine.url.database not in (None, "", ":memory:"):
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        immediate = _IMMEDIATE.get()
        connection.info[_STATE] = "none"
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
        connection.info[_STATE] = "write" if immediate else "read"

    @event.listens_for(engine, "before_cursor_execute")
    def _on_execute(connection: Connection, *args: Any) -> None:
        statement = args[1]
        if connection.info.get(_STATE) == "read" and (
            not _READ_ONLY.match(statement) or _WRITES.search(statement)
        ):
            connection.info[_STATE] = "write"

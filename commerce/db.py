"""Transactions: one service call is one transaction, and services compose.

`transaction()` commits when it is the outermost block and joins the caller's otherwise, so a
service that calls another service still commits (or rolls back) exactly once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TypeVar

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from commerce.extensions import db

_DEPTH = "commerce.tx_depth"
T = TypeVar("T")


_KEEP = "tx.keep"


@contextmanager
def transaction() -> Iterator[Session]:
    session = db.session()
    depth = session.info.get(_DEPTH, 0)
    session.info[_DEPTH] = depth + 1
    try:
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


def configure_sqlite(engine: Engine) -> None:
    """Make pysqlite honour real transactions (BEGIN, SAVEPOINT) and enforce foreign keys."""
    if engine.dialect.name != "sqlite":
        return

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:  # noqa: ANN001
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=10000")
        if engine.url.database not in (None, "", ":memory:"):
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection) -> None:  # noqa: ANN001
        connection.exec_driver_sql("BEGIN")

"""A downgrade that would drop tables holding rows is refused unless forced.

`flask db downgrade base` used to drop every table, orders and all, without a word. The guard
hooks Alembic's `op.drop_table` once (Alembic's documented way to customise a built-in
operation: `Operations.implementation_for(..., replace=True)`), so every revision written the
usual way is covered without touching it:

- while a revision's `downgrade()` runs (migrations/env.py wraps each one), each table about to
  be dropped is counted first; a table with rows is noted, and the downgrade carries on inside
  its transaction so the refusal can name every such table, not only the first;
- at the end, if any were noted and the run was not forced, `DowngradeRefused` is raised inside
  the migration transaction: it rolls back, so nothing is dropped and the version stays.
  PostgreSQL and SQLite (whose connections issue a real BEGIN, see commerce/db.py) both undo DDL
  on rollback; env.py runs the whole downgrade as one transaction.

Forcing: `flask db downgrade -x force=1 <revision>`. Upgrades are never guarded (an upgrade
that drops a table has moved its data first). Tables dropped any other way (raw `DROP TABLE`)
are not seen: tests/test_downgrade_guard.py walks every revision and fails if a downgrade drops
a table the guard did not see.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import wraps
from typing import Any

import sqlalchemy as sa
from alembic.operations import Operations, ops, toimpl
from alembic.script import ScriptDirectory
from alembic.util import CommandError

# Under "alembic" so migrations/alembic.ini's logging shows it during `flask db`.
log = logging.getLogger("alembic.downgrade_guard")

FORCE_ARG = "force"  # -x force=1
_TRUE = {"1", "true", "yes", "on"}


class DowngradeRefused(CommandError):
    """A CommandError, so `flask db` prints the message and exits 1 without a traceback."""


@dataclass
class DowngradeGuard:
    """One migration run: whether it is forced, and the tables its downgrades drop."""

    forced: bool = False
    destination: str = ""
    in_downgrade: bool = False
    dropped: list[str] = field(default_factory=list)  # every table dropped, in order
    with_rows: dict[str, int] = field(default_factory=dict)  # table -> rows, when not forced

    def before_drop(self, bind: sa.Connection, name: str, schema: str | None) -> None:
        qualified = f"{schema}.{name}" if schema else name
        self.dropped.append(qualified)
        if not sa.inspect(bind).has_table(name, schema=schema):
            return  # drop_table(if_exists=True) of a table that is not there
        rows = int(
            bind.execute(
                sa.select(sa.func.count()).select_from(sa.table(name, schema=schema))
            ).scalar_one()
        )
        if not rows:
            return
        if self.forced:
            log.warning("dropping table %s with %d rows (forced)", qualified, rows)
        else:
            self.with_rows[qualified] = rows

    def check(self) -> None:
        """Raise (inside the migration transaction, which then rolls back) if rows would go."""
        if not self.with_rows or self.forced:
            return
        listed = ", ".join(
            f"{table} ({rows:,} row{'s' if rows != 1 else ''})"
            for table, rows in self.with_rows.items()
        )
        target = self.destination or "<revision>"
        raise DowngradeRefused(
            f"Refused: this downgrade would drop {len(self.with_rows)} table(s) holding rows: "
            f"{listed}. Nothing was changed (the database is still at its current revision). "
            "Back it up first (README, Backup and restore); to drop the tables and their rows, "
            f"run it again with the force option: flask db downgrade -x {FORCE_ARG}=1 {target}"
        )


_current: ContextVar[DowngradeGuard | None] = ContextVar("downgrade_guard", default=None)


def is_forced(x_arguments: dict[str, str]) -> bool:
    return str(x_arguments.get(FORCE_ARG, "")).strip().lower() in _TRUE


@contextmanager
def guarding(guard: DowngradeGuard) -> Iterator[DowngradeGuard]:
    """Make `guard` the one `op.drop_table` reports to while the migrations run."""
    token = _current.set(guard)
    try:
        yield guard
    finally:
        _current.reset(token)


def watch_downgrades(script: ScriptDirectory) -> None:
    """Wrap every revision's `downgrade()` so the guard knows a downgrade is running (the
    wrapper finds the run's guard through a context variable; wrapping twice is harmless)."""
    for revision in script.walk_revisions():
        module = revision.module
        original = getattr(module, "downgrade", None)
        if original is None or getattr(original, "_guarded", False):
            continue
        module.downgrade = _guarded_downgrade(original)


def _guarded_downgrade(downgrade: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(downgrade)
    def run(*args: Any, **kwargs: Any) -> Any:
        guard = _current.get()
        if guard is None:
            return downgrade(*args, **kwargs)
        guard.in_downgrade = True
        try:
            return downgrade(*args, **kwargs)
        finally:
            guard.in_downgrade = False

    run._guarded = True  # type: ignore[attr-defined]
    return run


@Operations.implementation_for(ops.DropTableOp, replace=True)
def _drop_table(operations: Operations, operation: ops.DropTableOp) -> None:
    """`op.drop_table`: count the table's rows first during a guarded downgrade."""
    guard = _current.get()
    if guard is not None and guard.in_downgrade and not operations.migration_context.as_sql:
        guard.before_drop(operations.get_bind(), operation.table_name, operation.schema)
    toimpl.drop_table(operations, operation)

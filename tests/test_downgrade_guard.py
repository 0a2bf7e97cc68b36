"""`flask db downgrade` refuses to drop tables that hold rows unless forced (`-x force=1`), on
SQLite and PostgreSQL: nothing is dropped and the version stays; empty tables go as before;
and every revision's downgrade drops its tables where the guard can count them."""

from __future__ import annotations

from typing import Any

import pytest
from alembic import command
from flask import Flask, current_app
from sqlalchemy import create_engine, func, inspect, select, text

from commerce.downgrade_guard import DowngradeGuard, DowngradeRefused
from commerce.extensions import db
from tests.conftest import base_config, reset_postgres


def head() -> str:
    """The newest revision (whatever later revisions are merged on top)."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_alembic()).get_current_head()


def _alembic(x_arg: str | None = None) -> Any:
    return current_app.extensions["migrate"].migrate.get_config(x_arg=x_arg)


def _downgrade(revision: str, *, force: bool = False) -> None:
    command.downgrade(_alembic("force=1" if force else None), revision)


def _state(url: str) -> tuple[set[str], list[str], dict[str, int]]:
    """Tables, the recorded version and the rows of the tables the test filled."""
    engine = create_engine(url)
    try:
        tables = set(inspect(engine).get_table_names())
        with engine.connect() as conn:
            versions = list(conn.execute(text("SELECT version_num FROM alembic_version")).scalars())
            rows = {
                name: conn.execute(text(f"SELECT count(*) FROM {name}")).scalar_one()
                for name in ("product", "variant", "staff_member")
                if name in tables
            }
    finally:
        engine.dispose()
    return tables, versions, rows


def _fill_shop() -> None:
    from commerce.catalog.services import create_product
    from commerce.staff.services import create_staff

    password = "correct horse battery staple"
    create_staff("owner@example.com", role="admin", name="Owner", password=password, by=None)
    create_product(title="Oak Stool", price=4500, sku="STOOL-1", by=None)
    create_product(title="Ash Bench", price=9500, sku="BENCH-1", by=None)
    db.session.remove()


def _guarded_downgrades(app: Flask, url: str) -> None:
    with app.app_context():
        from flask_migrate import upgrade

        upgrade()
        _fill_shop()
        before = _state(url)
        assert before[1] == [head()] and before[2]["product"] == 2

        # Refused: the message names each table with rows and how to force it.
        with pytest.raises(DowngradeRefused) as refused:
            _downgrade("base")
        message = str(refused.value)
        assert "product (2 rows)" in message
        assert "staff_member (1 row)" in message
        assert "variant (2 rows)" in message
        assert "flask db downgrade -x force=1 base" in message
        assert "search_event" not in message  # empty tables are not listed
        assert _state(url) == before  # nothing dropped, the version unchanged

        # Down to 0008_search only drops empty tables (search analytics events...): allowed.
        _downgrade("0008_search")
        tables, versions, rows = _state(url)
        assert versions == ["0008_search"] and "search_event" not in tables
        assert rows == before[2]

        # Forced: everything goes.
        _downgrade("base", force=True)
        tables, versions, _rows = _state(url)
        assert tables <= {"alembic_version"} and versions == []

        # An empty shop downgrades without being forced, as before.
        upgrade()
        _downgrade("base")
        assert _state(url)[0] <= {"alembic_version"}
        db.session.remove()
        db.engine.dispose()


def test_downgrade_guard_on_sqlite(tmp_path):
    from wsgi import create_app

    url = f"sqlite:///{tmp_path / 'guard.db'}"
    _guarded_downgrades(create_app(base_config(tmp_path, SQLALCHEMY_DATABASE_URI=url)), url)


@pytest.mark.postgres
def test_downgrade_guard_on_postgres(pg_url, tmp_path):
    from wsgi import create_app

    reset_postgres(pg_url)
    app = create_app(base_config(tmp_path, SQLALCHEMY_DATABASE_URI=pg_url))
    _guarded_downgrades(app, pg_url)


def test_the_cli_refuses_with_a_message_and_exit_status(tmp_path):
    """What an operator sees: `flask db downgrade base` exits 1 with the message (no
    traceback), `-x force=1` goes through."""
    from wsgi import create_app

    url = f"sqlite:///{tmp_path / 'cli.db'}"
    app = create_app(base_config(tmp_path, SQLALCHEMY_DATABASE_URI=url))
    runner = app.test_cli_runner()
    with app.app_context():  # the CLI uses the app whose context is current
        assert runner.invoke(args=["db", "upgrade"]).exit_code == 0
        _fill_shop()
        refused = runner.invoke(args=["db", "downgrade", "base"])
        assert refused.exit_code == 1 and isinstance(refused.exception, SystemExit)
        assert "Refused" in refused.output and "-x force=1 base" in refused.output
        assert "Traceback" not in refused.output
        assert _state(url)[1] == [head()]
        forced = runner.invoke(args=["db", "downgrade", "-x", "force=1", "base"])
        assert forced.exit_code == 0, forced.output
        assert "dropping table product with 2 rows (forced)" in forced.output
        assert _state(url)[1] == []
        db.engine.dispose()


# Tables a downgrade may drop without op.drop_table: derived data the app rebuilds by itself.
# The db search backend's FTS5 tables (`flask search reindex`) and the console quick search's
# (kept by triggers from the catalog: commerce/catalog/quick_search.py).
DERIVED = ("search_fts_", "console_trgm_")


def test_every_revision_drops_its_tables_through_the_guard(tmp_path, monkeypatch):
    """A revision that drops a table some other way (raw DROP TABLE) would escape the row
    check: walk every downgrade, one revision at a time, and compare what disappeared with
    what the guard counted."""
    from flask_migrate import upgrade

    from wsgi import create_app

    seen: list[str] = []
    original = DowngradeGuard.before_drop

    def spy(self: DowngradeGuard, bind: Any, name: str, schema: str | None) -> None:
        seen.append(name)
        original(self, bind, name, schema)

    monkeypatch.setattr(DowngradeGuard, "before_drop", spy)
    url = f"sqlite:///{tmp_path / 'walk.db'}"
    app = create_app(base_config(tmp_path, SQLALCHEMY_DATABASE_URI=url))
    with app.app_context():
        upgrade()
        engine = create_engine(url)
        steps = 0
        while True:
            with engine.connect() as conn:
                current = conn.execute(select(func.count()).select_from(text("alembic_version")))
                if not current.scalar_one():
                    break
            before = set(inspect(engine).get_table_names())
            seen.clear()
            _downgrade("-1")
            gone = before - set(inspect(engine).get_table_names())
            unguarded = {t for t in gone - set(seen) if not t.startswith(DERIVED)}
            assert not unguarded, f"dropped without op.drop_table: {sorted(unguarded)}"
            steps += 1
        assert steps >= 10
        engine.dispose()
        db.engine.dispose()

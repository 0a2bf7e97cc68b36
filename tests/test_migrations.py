"""`flask db upgrade` builds the schema from nothing and `downgrade base` removes it, on both
databases; and the migrations match the models (no forgotten revision)."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import create_engine, inspect

from commerce.catalog.quick_search import is_derived
from commerce.extensions import db
from tests.conftest import base_config, reset_postgres


def _roundtrip(url: str, tmp_path) -> None:
    from wsgi import create_app

    app = create_app(base_config(tmp_path, SQLALCHEMY_DATABASE_URI=url))
    with app.app_context():
        upgrade()
        engine = create_engine(url)
        tables = set(inspect(engine).get_table_names())
        assert set(db.metadata.tables) <= tables
        with engine.connect() as conn:
            # The quick search's FTS5 tables (SQLite) are derived data outside the models.
            context = MigrationContext.configure(
                conn, opts={"include_name": lambda name, kind, _parents: not is_derived(name)}
            )
            diff = compare_metadata(context, db.metadata)
        assert diff == [], f"models and migrations differ: {diff}"
        downgrade(revision="base")
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
        upgrade()
        assert set(db.metadata.tables) <= set(inspect(engine).get_table_names())
        engine.dispose()
        db.session.remove()
        db.engine.dispose()


def test_migrations_on_sqlite(tmp_path):
    _roundtrip(f"sqlite:///{tmp_path / 'migrations.db'}", tmp_path)


@pytest.mark.postgres
def test_migrations_on_postgres(pg_url, tmp_path):
    reset_postgres(pg_url)
    _roundtrip(pg_url, tmp_path)

"""The db backend's FTS5 tables live outside Alembic's models: downgrade removes them too."""

from __future__ import annotations

from flask_migrate import downgrade, upgrade
from sqlalchemy import create_engine, inspect

from commerce.extensions import db
from tests.conftest import base_config


def test_downgrade_base_drops_the_fts_tables(tmp_path):
    from wsgi import create_app

    url = f"sqlite:///{tmp_path / 'fts.db'}"
    app = create_app(base_config(tmp_path, SQLALCHEMY_DATABASE_URI=url))
    with app.app_context():
        upgrade(revision="heads")
        from commerce.catalog.services import create_product
        from commerce.search.indexing import reindex

        create_product(title="Oak Stool", status="active", by=None)
        generation = reindex().generation_id
        engine = create_engine(url)
        assert f"search_fts_{generation}" in inspect(engine).get_table_names()
        db.session.remove()
        downgrade(revision="base", x_arg="force=1")  # it holds a product: the guard asks
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
        engine.dispose()
        db.engine.dispose()

"""Migrations keep the shop's rows on SQLite: a batch rebuild of a parent table (copy, drop,
rename) must not cascade-delete its children, and foreign keys are enforced again afterwards."""

from __future__ import annotations

from flask_migrate import downgrade, upgrade
from sqlalchemy import text

from commerce.extensions import db
from tests.conftest import base_config


def test_rebuilding_collection_keeps_its_products(tmp_path):
    from wsgi import create_app

    app = create_app(base_config(tmp_path, SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path}/k.db"))
    with app.app_context():
        upgrade(revision="0008_search")  # 0009 rebuilds `collection` (new columns, a check)
        # Rows written as that revision's schema has them (today's models have more columns).
        db.session.execute(
            text(
                "INSERT INTO product (id, title, handle, description, description_format,"
                " description_html, status, vendor, product_type, seo_title, seo_description,"
                " currency, min_price, max_price, variant_count, created_at, updated_at)"
                " VALUES (3, 'Oak Stool', 'oak-stool', '', 'markdown', '', 'active', '', '',"
                " '', '', 'USD', 4500, 4500, 0, '2026-01-01', '2026-01-01')"
            )
        )
        db.session.execute(
            text(
                'INSERT INTO collection (id, title, handle, description, kind, "match", rules,'
                " created_at, updated_at) VALUES (7, 'Chairs', 'chairs', '', 'manual', 'all',"
                " '[]', '2026-01-01', '2026-01-01')"
            )
        )
        db.session.execute(
            text(
                "INSERT INTO collection_product (collection_id, product_id, position)"
                " VALUES (7, :p, 1)"
            ),
            {"p": 3},
        )
        db.session.commit()
        db.session.remove()

        def members() -> int:
            value = db.session.execute(text("SELECT count(*) FROM collection_product")).scalar()
            db.session.remove()
            return int(value)

        upgrade(revision="0009_merchandising")
        assert members() == 1
        downgrade(revision="0008_search")
        assert members() == 1
        upgrade()
        assert members() == 1
        # The pooled connections enforce foreign keys again.
        assert db.session.execute(text("PRAGMA foreign_keys")).scalar() == 1
        db.session.remove()
        db.engine.dispose()

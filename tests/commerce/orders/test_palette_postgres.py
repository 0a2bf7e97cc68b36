"""Ctrl+K's order and customer reads on PostgreSQL: they run, and their text match is what the
indexes answer (the order number's unique index, ix_shop_order_email, the lower(email) and
lower(customer_name) trigram indexes), never a read of every order."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text

from commerce.extensions import db
from commerce.orders.models import Order
from commerce.orders.queries import find_customers, find_orders, palette_order_condition

pytestmark = pytest.mark.postgres


def plan(condition) -> str:
    statement = select(Order.id).where(condition)
    sql = str(statement.compile(db.engine, compile_kwargs={"literal_binds": True}))
    return "\n".join(db.session.scalars(text("EXPLAIN " + sql)))


def test_palette_reads_use_the_order_indexes(pg_app):
    from commerce.customers.models import Customer

    db.session.add(Customer(email="grace@example.com", name="Grace Hopper", password_hash="x"))
    db.session.commit()
    assert find_orders("#1001") == [] and find_orders("grace") == []
    assert [c["label"] for c in find_customers("hopper")] == ["Grace Hopper · grace@example.com"]

    db.session.execute(text("SET LOCAL enable_seqscan = off"))
    by_number = plan(palette_order_condition("#1001"))
    assert "Index" in by_number and "shop_order_number" in by_number, by_number
    by_text = plan(palette_order_condition("grace"))
    for index in (
        "ix_shop_order_email",
        "ix_shop_order_email_trgm",
        "ix_shop_order_customer_name_trgm",
    ):
        assert index in by_text, by_text
    db.session.rollback()

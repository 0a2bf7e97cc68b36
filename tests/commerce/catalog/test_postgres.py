"""The catalog's SQL on PostgreSQL: keyset paging, filters, rules, bulk writes, constraints."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from commerce.catalog.queries import (
    ProductFilter,
    _counts_cache,
    list_products,
    rule_collection_counts,
)
from commerce.catalog.services import bulk_update_products, create_product
from commerce.catalog.taxonomy import create_category, create_collection
from commerce.extensions import db

pytestmark = pytest.mark.postgres


def test_catalog_queries_on_postgres(pg_app):
    shirts = create_category(
        name="Shirts", parent_id=create_category(name="Apparel", by=None).id, by=None
    )
    products = [
        create_product(
            title=f"Shirt {i}",
            price=1000 + (i % 3) * 100,
            vendor=f"V{i % 2}",
            tags="summer" if i % 2 else "",
            category_id=shirts.id,
            sku=f"PG-{i}",
            by=None,
        )
        for i in range(9)
    ]
    for sort in ("title", "price", "updated", "vendor"):
        seen, cursor = [], None
        while True:
            page = list_products(ProductFilter(sort=sort, direction="asc"), after=cursor, limit=4)
            seen += [p.id for p in page.items]
            if not page.next_cursor:
                break
            cursor = page.next_cursor
        assert sorted(seen) == sorted(p.id for p in products), sort
    assert list_products(ProductFilter(q="pg-3")).total == 1
    assert list_products(ProductFilter(category_id=shirts.parent_id)).total == 9
    rule = create_collection(
        title="Summer",
        kind="rule",
        rules=[{"field": "tag", "op": "equals", "value": "SUMMER"}],
        by=None,
    )
    assert list_products(ProductFilter(collection_id=rule.id)).total == 4
    cheap = create_collection(
        title="Cheap",
        kind="rule",
        rules=[{"field": "price", "op": "less_than", "value": 1100}],
        by=None,
    )
    _counts_cache.clear()
    assert rule_collection_counts([rule, cheap]) == {rule.id: 4, cheap.id: 3}
    result = bulk_update_products([p.id for p in products], action="publish", by=None)
    assert result.changed == 9


def test_check_constraint_is_the_last_guard(pg_app):
    product = create_product(title="Guarded", price=100, by=None)
    with pytest.raises(IntegrityError):
        db.session.execute(
            text("UPDATE variant SET price = -1 WHERE product_id = :id"), {"id": product.id}
        )
        db.session.commit()
    db.session.rollback()


def test_stock_overview_pages_on_postgres(pg_app):
    """Category and text filters sort their matches first (a fenced subquery): every page,
    forwards, once each; the total is bounded and says so."""
    import commerce.paging
    from commerce.inventory.locations import create_location
    from commerce.inventory.queries import StockFilter, list_stock
    from commerce.inventory.services import receive_stock

    shoes = create_category(name="Shoes", by=None)
    wh = create_location(name="Main", code="WH1", by=None, priority=1)
    for i in range(5):
        product = create_product(
            title=f"Shoe {i}", price=100, category_id=shoes.id, sku=f"SH-{i}", by=None
        )
        receive_stock(product.variants[0].id, quantity=i + 1, location_id=wh.id, by=None)
    db.session.commit()
    for flt in (StockFilter(category_id=shoes.id), StockFilter(q="sh-", direction="desc")):
        seen, cursor = [], None
        while True:
            page = list_stock(flt, after=cursor, limit=2)
            seen += [row.sku for row in page.items]
            if not page.next_cursor:
                break
            cursor = page.next_cursor
        assert seen == sorted(seen, reverse=flt.direction == "desc") and len(seen) == 5
        assert page.total == 5 and page.total_exact
    commerce.paging.COUNT_LIMIT, limit = 3, commerce.paging.COUNT_LIMIT
    try:
        assert list_stock(StockFilter(q="shoe")).total_label == "3+"
    finally:
        commerce.paging.COUNT_LIMIT = limit


def test_stock_overview_variant_order_on_postgres(pg_app):
    """A text or category filter sorts its matching variants, then reads their levels: the
    rows and their order are those of sorting every level by (key, level id), ties of SKU-less
    variants and levels at two locations included, forwards, backwards and descending."""
    from commerce.inventory.locations import create_location
    from commerce.inventory.queries import StockFilter, list_stock
    from commerce.inventory.services import receive_stock

    boots = create_category(name="Boots", by=None)
    first = create_location(name="Main", code="WH1", by=None, priority=1)
    second = create_location(name="Back", code="WH2", by=None, priority=2)
    for i in (3, 0, 4, 1, 2, 5):
        product = create_product(
            title=f"Boot {5 - i}",
            price=100,
            category_id=boots.id,
            sku=f"BT-{i}" if i % 3 else None,
            by=None,
        )
        for location in (second, first) if i % 2 else (first, second):
            receive_stock(product.variants[0].id, quantity=i + 1, location_id=location.id, by=None)
    db.session.commit()
    for flt in (
        StockFilter(category_id=boots.id),
        StockFilter(q="boot"),
        StockFilter(q="boot", direction="desc"),
        StockFilter(category_id=boots.id, sort="title"),
        StockFilter(q="bt-", sort="title", direction="desc"),
        StockFilter(q="boot", location_id=second.id),
    ):
        everything = list_stock(flt, limit=100).items
        key = (lambda r: r.product_title) if flt.sort == "title" else (lambda r: r.sku or "")
        expected = sorted(
            ((key(r), r.level_id) for r in everything), reverse=flt.direction == "desc"
        )
        assert [(key(r), r.level_id) for r in everything] == expected, flt
        seen, cursor, pages = [], None, []
        while True:
            page = list_stock(flt, after=cursor, limit=3)
            pages.append([r.level_id for r in page.items])
            seen += pages[-1]
            if not page.next_cursor:
                break
            cursor = page.next_cursor
        assert seen == [level for _, level in expected], flt
        if len(pages) > 1:
            back = list_stock(flt, before=page.prev_cursor, limit=3)
            assert [r.level_id for r in back.items] == pages[-2], flt


def test_quick_search_reads_one_trigram_index_on_postgres(pg_app):
    """The quick search's text match is the expression ix_product_text_trgm holds (a drift
    between models.product_text and the index's SQL would fall back to reading every title),
    and it still means "title, handle or vendor contains" (title alone for the stock list)."""
    from sqlalchemy import select

    from commerce.catalog.models import Product
    from commerce.catalog.queries import jump_to
    from commerce.catalog.quick_search import product_contains, product_title_contains
    from commerce.inventory.locations import create_location
    from commerce.inventory.queries import StockFilter, list_stock
    from commerce.inventory.services import receive_stock

    by_title = create_product(title="Linen Overshirt", price=100, sku="QS-1", by=None)
    by_vendor = create_product(title="Mug", price=100, vendor="Overshirt Co", sku="QS-2", by=None)
    plate = create_product(title="Plate", price=100, sku="QS-3", by=None)
    wh = create_location(name="Main", code="WH1", by=None, priority=1)
    for product in (by_title, by_vendor, plate):
        receive_stock(product.variants[0].id, quantity=2, location_id=wh.id, by=None)
    assert {p.id for p in list_products(ProductFilter(q="overSHIRT")).items} == {
        by_title.id,
        by_vendor.id,
    }
    assert {r.product_id for r in list_stock(StockFilter(q="overshirt")).items} == {by_title.id}
    assert [r["product_id"] for r in jump_to("overshirt")] == [by_title.id]
    db.session.execute(text("SET LOCAL enable_seqscan = off"))
    for condition in (product_contains("shirt"), product_title_contains("shirt")):
        plan = "\n".join(
            db.session.scalars(
                text(
                    "EXPLAIN "
                    + str(
                        select(Product.id)
                        .where(condition)
                        .compile(db.engine, compile_kwargs={"literal_binds": True})
                    )
                )
            )
        )
        assert "ix_product_text_trgm" in plan, plan
    db.session.rollback()

"""The path from a catalog change to the index: outbox event, consumer, index update.

On the db backend with the suite's rolled-back database; the same path against Meilisearch's
documented API is in test_meilisearch_contract.py.
"""

from __future__ import annotations

from sqlalchemy import select

from commerce.extensions import db
from commerce.outbox import OutboxEvent, dispatch_pending
from commerce.search import SearchQuery, search
from commerce.search.models import SearchPending
from commerce.search.tasks import on_event, sync_index
from tests.conftest import count_queries


def _indexed_price(product_id: int) -> int | None:
    hits = search(SearchQuery(text="", include_ids=(product_id,))).hits
    return hits[0].document["price_min"] if hits else None


def _pending(topic: str) -> list[OutboxEvent]:
    return list(
        db.session.scalars(
            select(OutboxEvent).where(
                OutboxEvent.topic == topic, OutboxEvent.dispatched_at.is_(None)
            )
        )
    )


def _document_writes(statements: list[str]) -> list[str]:
    return [s for s in statements if s.lstrip().upper().startswith("INSERT INTO SEARCH_DOCUMENT")]


def test_a_price_change_reaches_the_index_once_even_when_the_task_runs_twice(
    app, make_product, monkeypatch
):
    from commerce.catalog.services import update_variant

    monkeypatch.setitem(app.config, "SEARCH_EMBEDDED_CATCH_UP", False)
    product = make_product("Enamel Pan", status="active", price=2500)
    dispatch_pending()
    assert _indexed_price(product.id) == 2500

    update_variant(product.variants[0], price=1800, by=None)
    (event,) = [e for e in _pending("product.changed") if e.payload["product_id"] == product.id]
    assert _indexed_price(product.id) == 2500  # not yet: the event waits in the outbox

    with count_queries() as first:
        assert dispatch_pending() >= 1
    assert _indexed_price(product.id) == 1800
    row = db.session.get(SearchPending, event.id)
    assert row.applied_at is not None and row.product_ids == [product.id]
    assert len(_document_writes(first)) == 1

    with count_queries() as again:
        on_event(event)  # the outbox delivers the same event a second time
        assert sync_index.delay().get() == 0  # and the task runs again, twice
        assert sync_index.delay().get() == 0
        assert dispatch_pending() == 0
    assert _document_writes(again) == []
    assert _indexed_price(product.id) == 1800
    assert db.session.get(SearchPending, event.id).attempts == 0


def test_a_crash_between_commit_and_dispatch_loses_nothing(app, make_product, monkeypatch):
    from commerce.catalog.services import update_product, update_variant

    monkeypatch.setitem(app.config, "SEARCH_EMBEDDED_CATCH_UP", False)
    product = make_product("Cast Iron Skillet", status="active", price=4200)
    dispatch_pending()

    # The change commits with its event; the process dies before any dispatch runs.
    update_variant(product.variants[0], price=3900, by=None)
    update_product(product, title="Cast Iron Skillet XL", by=None)
    assert _pending("product.changed")
    assert _indexed_price(product.id) == 4200
    assert search(SearchQuery(text="xl")).total == 0

    # The next dispatch run (beat, or the next request) sends it.
    dispatch_pending()
    assert _indexed_price(product.id) == 3900
    assert search(SearchQuery(text="skillet xl")).ids == [product.id]


def test_embedded_search_takes_in_events_nobody_dispatched(make_product):
    """No worker, no beat: a change made outside a request still shows at the next search."""
    product = make_product("Linen Apron", status="active")
    assert search(SearchQuery(text="apron")).ids == [product.id]


def test_catalog_inventory_and_taxonomy_changes_write_events(make_product, make_category):
    from commerce.catalog.taxonomy import (
        add_to_collection,
        create_collection,
        delete_category,
        update_category,
        update_collection,
    )
    from commerce.inventory.models import Location
    from commerce.inventory.services import receive_stock, release_reservation, reserve_stock

    dispatch_pending()
    kitchen = make_category("Kitchen")
    pan = make_product("Pan", status="active", category_id=kitchen.id)
    make_product("Hidden Pot", category_id=kitchen.id)  # a draft: nothing to refresh
    db.session.add(Location(name="Main", code="MAIN"))
    db.session.commit()
    dispatch_pending()

    receive_stock(pan.variants[0].id, quantity=1, by=None)
    assert [e.payload for e in _pending("stock.changed")] == [{"variant_ids": [pan.variants[0].id]}]
    dispatch_pending()
    reserve_stock([(pan.variants[0].id, 1)], reference="cart-1")  # the last unit: sold out
    assert [e.payload for e in _pending("stock.changed")] == [{"variant_ids": [pan.variants[0].id]}]
    assert search(SearchQuery(text="pan", in_stock=True)).total == 0
    release_reservation("cart-1")  # back in stock
    assert search(SearchQuery(text="pan", in_stock=True)).ids == [pan.id]

    update_category(kitchen, name="Cookware", by=None)
    assert _pending("category.changed")[-1].payload == {
        "category_id": kitchen.id,
        "product_ids": [pan.id],
    }
    assert search(SearchQuery(text="cookware")).ids == [pan.id]

    collection = create_collection(title="Gifts", by=None)
    add_to_collection(collection, [pan.id], by=None)
    assert _pending("collection.changed")[-1].payload["product_ids"] == [pan.id]
    assert search(SearchQuery(text="gifts")).ids == [pan.id]
    update_collection(collection, title="Presents", by=None)
    assert search(SearchQuery(text="presents")).ids == [pan.id]

    delete_category(kitchen, by=None)
    assert _pending("category.changed")[-1].payload["product_ids"] == [pan.id]
    assert search(SearchQuery(text="cookware")).total == 0


def test_popularity_counts_recent_sales_and_follows_orders(app, make_product, monkeypatch):
    from datetime import timedelta

    from commerce.db import utcnow
    from commerce.orders.models import Order, OrderLine
    from commerce.outbox import enqueue
    from commerce.search.indexing import refresh_lapsed_popularity

    monkeypatch.setitem(app.config, "SEARCH_EMBEDDED_CATCH_UP", False)
    product = make_product("Copper Kettle", status="active")
    dispatch_pending()

    def sell(quantity: int, days_ago: float) -> Order:
        order = Order(
            checkout_key=f"k-{quantity}-{days_ago}",
            email="a@example.com",
            currency="USD",
            subtotal=100,
            total=100,
            shipping_method_code="STD",
            shipping_method_name="Standard",
            placed_at=utcnow() - timedelta(days=days_ago),
        )
        order.lines.append(
            OrderLine(product_id=product.id, title="k", quantity=quantity, unit_price=1, amount=1)
        )
        db.session.add(order)
        db.session.flush()
        enqueue("order.placed", {"order_id": order.id})
        db.session.commit()
        return order

    def popularity() -> int:
        return search(SearchQuery(text="kettle")).hits[0].document["popularity"]

    sell(2, days_ago=1)
    sell(5, days_ago=29.99)
    dispatch_pending()  # each order's event refreshes its products
    assert popularity() == 7
    sell(40, days_ago=45)  # outside the 30 days
    dispatch_pending()
    assert popularity() == 7

    # A day later the 5 units fall out of the window: the daily task notices.
    assert refresh_lapsed_popularity(now=utcnow() + timedelta(days=1)) == 1
    assert popularity() == 2

"""Changes that alter what shop pages show purge their surrogate keys through the outbox.

The edge here is pytest-httpserver standing in for Varnish's purge contract (PURGE with an
`xkey-purge` header, 200 with `xkey-purged`); tests/edge runs the real Varnish. Each test
delivers the outbox as the worker would and reads which keys reached the edge."""

from __future__ import annotations

from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from sqlalchemy import select

from commerce.catalog.collection_order import reorder_collection
from commerce.catalog.services import delete_product, update_product, update_variant
from commerce.catalog.taxonomy import (
    add_to_collection,
    create_category,
    create_collection,
    update_category,
)
from commerce.edge.places import product_places
from commerce.extensions import db
from commerce.inventory.services import (
    STOCK_CROSSED,
    receive_stock,
    release_reservation,
    reserve_stock,
)
from commerce.outbox import OutboxEvent, deliver_pending, dispatch_pending

EDGE_CONSUMER = "commerce.edge.tasks.purge_product_changed"


@pytest.fixture
def edge(app, httpserver: HTTPServer, monkeypatch) -> Any:
    """An edge configured at httpserver; events made before the test are delivered first."""
    dispatch_pending(limit=10_000, retry_now=True)
    httpserver.expect_request("/", method="PURGE").respond_with_data(
        "", headers={"xkey-purged": "1"}
    )
    monkeypatch.setitem(app.config, "EDGE_CACHE", "varnish")
    monkeypatch.setitem(app.config, "EDGE_PURGE_URLS", [httpserver.url_for("/")])
    return httpserver


def purged(server: HTTPServer) -> list[set[str]]:
    """The key sets of the purges the server received, in order; then forgets them."""
    found = [
        set(request.headers["xkey-purge"].split())
        for request, _response in server.log
        if request.method == "PURGE"
    ]
    server.clear_log()
    return found


def deliver() -> None:
    report = deliver_pending(limit=10_000)
    assert report.failed == []


@pytest.fixture
def shop(make_product, make_category) -> Any:
    parent = make_category("Kitchen")
    child = make_category("Pans", parent=parent)
    product = make_product("Steel pan", status="active", category_id=child.id, vendor="Acme")
    manual = create_collection(title="Cookware", by=None)
    add_to_collection(manual, [product.id], by=None)
    by_vendor = create_collection(
        title="Acme things",
        kind="rule",
        rules=[{"field": "vendor", "op": "equals", "value": "Acme"}],
        by=None,
    )
    other = create_collection(
        title="Not Acme",
        kind="rule",
        rules=[{"field": "vendor", "op": "equals", "value": "Zenith"}],
        by=None,
    )
    return {
        "parent": parent,
        "child": child,
        "product": product,
        "manual": manual,
        "by_vendor": by_vendor,
        "other": other,
    }


def test_a_price_change_purges_the_product_and_every_listing_it_is_in(shop, edge):
    product = shop["product"]
    update_variant(product.variants[0], price=4321, by=None)
    deliver()
    assert purged(edge) == [
        {
            f"product-{product.id}",
            f"category-{shop['parent'].id}",  # listings include their subcategories' products
            f"category-{shop['child'].id}",
            f"collection-{shop['manual'].id}",
            f"collection-{shop['by_vendor'].id}",  # matched by its rule
            "home",
        }
    ]


def test_unpublishing_purges_where_it_was_shown(shop, edge):
    product = shop["product"]
    update_product(product, status="archived", by=None)
    deliver()
    [keys] = purged(edge)
    assert f"product-{product.id}" in keys and f"category-{shop['child'].id}" in keys
    assert "home" not in keys  # not on sale any more: its card there carried its own key
    assert f"collection-{shop['other'].id}" not in keys


def test_a_deleted_product_purges_its_page_and_its_category(shop, edge):
    product = shop["product"]
    delete_product(product, by=None)
    deliver()
    [keys] = purged(edge)
    assert {f"product-{product.id}", f"category-{shop['child'].id}", "home"} <= keys


def test_category_changes_purge_its_listings_and_top_level_ones_every_page(shop, edge):
    update_category(shop["child"], name="Frying pans", by=None)
    deliver()
    assert purged(edge) == [
        {"search", f"category-{shop['child'].id}", f"category-{shop['parent'].id}"}
    ]

    update_category(shop["parent"], position=9, by=None)  # the navigation's order
    deliver()
    assert purged(edge) == [{"catalog"}]

    create_category(name="Lids", parent_id=shop["child"].id, by=None)
    deliver()
    [keys] = purged(edge)
    assert {f"category-{shop['child'].id}", f"category-{shop['parent'].id}"} <= keys


def test_collection_order_and_membership_purge_the_collection(shop, edge, make_product):
    manual = shop["manual"]
    second = make_product("Copper pan", status="active")
    deliver()
    purged(edge)
    add_to_collection(manual, [second.id], by=None)
    deliver()
    assert purged(edge) == [{f"collection-{manual.id}", "home", "search"}]

    reorder_collection(manual, [second.id, shop["product"].id], by=None)
    deliver()
    assert purged(edge) == [{f"collection-{manual.id}", "home"}]  # the order only


def test_search_settings_purge_search_pages(edge):
    from commerce.search.rules import add_synonym

    add_synonym(terms="pan, skillet", by=None)
    deliver()
    assert {"search"} in purged(edge)


def test_stock_purges_only_when_a_variant_sells_out_or_comes_back(shop, edge, location):
    """A flash sale is a storm of holds: only the one that takes the last unit purges."""
    variant = shop["product"].variants[0]
    places = product_places([shop["product"].id])
    receive_stock(variant.id, quantity=3, by=None, location_id=location.id)  # 0 -> 3: in stock
    deliver()
    assert purged(edge) == [places]

    def crossed() -> int:
        return len(
            list(db.session.scalars(select(OutboxEvent).where(OutboxEvent.topic == STOCK_CROSSED)))
        )

    before = crossed()
    reserve_stock([(variant.id, 1)], reference="cart-1")
    reserve_stock([(variant.id, 1)], reference="cart-2")
    receive_stock(variant.id, quantity=2, by=None, location_id=location.id)  # 1 -> 3
    assert crossed() == before
    deliver()
    assert purged(edge) == []

    reserve_stock([(variant.id, 3)], reference="cart-3")  # the last units: sold out
    assert crossed() == before + 1
    deliver()
    assert purged(edge) == [places]

    release_reservation("cart-3")  # back in stock
    assert crossed() == before + 2
    release_reservation("cart-2")  # more stock: no news
    assert crossed() == before + 2


@pytest.fixture
def location(app) -> Any:
    from commerce.inventory.models import Location

    found = Location(name="Edge warehouse", code="EDGE-1", priority=1)
    db.session.add(found)
    db.session.commit()
    return found


def test_without_an_edge_no_purge_is_tried_and_events_finish_as_before(shop, app, httpserver):
    dispatch_pending(limit=10_000, retry_now=True)
    assert app.config["EDGE_CACHE"] == "none"
    update_variant(shop["product"].variants[0], price=999, by=None)
    deliver()
    event = db.session.scalars(
        select(OutboxEvent)
        .where(OutboxEvent.topic == "product.changed")
        .order_by(OutboxEvent.id.desc())
    ).first()
    assert event.dispatched_at is not None
    assert EDGE_CONSUMER not in event.completed
    assert httpserver.log == []


def test_a_failed_purge_is_tried_again_until_every_host_took_it(shop, app, edge, monkeypatch):
    second = HTTPServer(host="127.0.0.1")
    second.start()
    try:
        second.expect_request("/", method="PURGE").respond_with_data("down", status=503)
        monkeypatch.setitem(app.config, "EDGE_PURGE_URLS", [edge.url_for("/"), second.url_for("/")])
        update_variant(shop["product"].variants[0], price=777, by=None)
        report = deliver_pending(limit=10_000)
        [failure] = report.failed
        assert "503" in failure.error and EDGE_CONSUMER in failure.error

        second.clear()
        second.expect_request("/", method="PURGE").respond_with_data("")
        report = deliver_pending(limit=10_000, retry_now=True)
        assert report.failed == [] and report.delivered == 1
        assert len(purged(second)) == 1  # the host that failed got it on the retry
        assert len(purged(edge)) == 2  # the other got it twice: harmless
    finally:
        second.clear()
        if second.is_running():
            second.stop()


def test_purge_by_hand(app, edge):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["edge", "purge", "catalog"])
    assert result.exit_code == 0, result.output
    assert "Purged catalog: 1 stored pages dropped." in result.output
    assert purged(edge) == [{"catalog"}]


def test_purge_by_hand_needs_an_edge(app):
    result = app.test_cli_runner().invoke(args=["edge", "purge", "catalog"])
    assert result.exit_code == 1 and "No edge cache is configured" in result.output

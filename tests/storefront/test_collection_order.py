"""The collection page's default order ("Featured") is the merchandiser's: pinned products
first, then the collection's sort (hand-made positions, best selling from real orders placed
through checkout, newest, price, title). The shopper's own sorts ignore pins."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest

from commerce.catalog.collection_order import (
    pin_products,
    reorder_collection,
    set_collection_sort,
    shop_preview,
)
from commerce.catalog.services import create_product, update_product
from commerce.catalog.taxonomy import add_to_collection, create_collection
from commerce.db import utcnow
from commerce.extensions import db
from commerce.orders.popularity import popularity, units_sold, with_units_sold
from tests.conftest import TEST_CARD, US_ADDRESS, build_checkout_shop


def titles(response) -> list[str]:
    """Product titles of the grid, in order."""
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    return re.findall(r'<span class="card-title">([^<]+)</span>', body)


def grid(client, handle: str, **args: Any) -> list[str]:
    query = "&".join(f"{k}={v}" for k, v in args.items())
    return [t.strip() for t in titles(client.get(f"/collections/{handle}?{query}"))]


def stocked(title: str, *, price: int, **kw: Any) -> Any:
    """An active product with 50 units at the default location (checkout needs stock)."""
    from commerce.inventory.services import receive_stock

    product = create_product(title=title, price=price, status="active", by=None, **kw)
    receive_stock(product.variants[0].id, quantity=50, by=None)
    return product


def buy(variant_id: int, quantity: int, *, email: str = "ada@example.com") -> Any:
    """A real order: cart, checkout information, shipping, payment with the test card."""
    from commerce.checkout.cart import add_to_cart
    from commerce.checkout.services import (
        choose_shipping_method,
        place_order,
        save_information,
        start_checkout,
    )

    cart = add_to_cart(None, variant_id=variant_id, quantity=quantity)
    checkout = start_checkout(cart)
    save_information(checkout, email=email, address=US_ADDRESS)
    choose_shipping_method(checkout, code="STD")
    order = place_order(checkout.key, card=TEST_CARD).order
    assert order is not None
    return order


@pytest.fixture
def card_markup(client, active_product) -> None:
    """Fail loudly if the grid markup changed under the title regex."""
    product = active_product("Probe Lamp")
    collection = create_collection(title="Probe", by=None)
    add_to_collection(collection, [product.id], by=None)
    assert grid(client, collection.handle) == ["Probe Lamp"]


# -- pins and the hand-made order ---------------------------------------------------------------


def test_manual_order_with_pins_first(client, active_product, make_product, card_markup):
    a, b, c, d = (
        active_product(f"{n} Vase", price=p)
        for n, p in zip("ABCD", (400, 300, 200, 100), strict=True)
    )
    draft = make_product("Draft Vase")  # pinned but not active: skipped
    collection = create_collection(title="Vases", by=None)
    add_to_collection(collection, [a.id, b.id, c.id, d.id, draft.id], by=None)
    reorder_collection(collection, [c.id, a.id, d.id, b.id, draft.id], by=None)
    assert grid(client, "vases") == ["C Vase", "A Vase", "D Vase", "B Vase"]

    pin_products(collection, [b.id, draft.id, d.id], by=None)
    assert grid(client, "vases") == ["B Vase", "D Vase", "C Vase", "A Vase"]
    assert grid(client, "vases", sort="featured") == ["B Vase", "D Vase", "C Vase", "A Vase"]

    # The shopper's own sorts ignore pins.
    assert grid(client, "vases", sort="price-asc") == ["D Vase", "C Vase", "B Vase", "A Vase"]
    assert grid(client, "vases", sort="title") == ["A Vase", "B Vase", "C Vase", "D Vase"]

    # A pin that goes back to draft drops out; one that comes back takes its place again.
    update_product(d, status="draft", by=None)
    assert grid(client, "vases") == ["B Vase", "C Vase", "A Vase"]
    update_product(d, status="active", by=None)
    assert grid(client, "vases")[:2] == ["B Vase", "D Vase"]


def test_rule_collection_sorts_and_pins(client, active_product, card_markup):
    active_product("Cheap Kite", price=500, vendor="Skyward")
    dear = active_product("Dear Kite", price=5000, vendor="Skyward")
    active_product("Mid Kite", price=1500, vendor="Skyward")
    active_product("Other Kite", price=100, vendor="Groundling")  # not in the collection
    collection = create_collection(
        title="Skyward",
        kind="rule",
        rules=[{"field": "vendor", "op": "equals", "value": "Skyward"}],
        by=None,
    )
    assert collection.sort == "newest"
    assert grid(client, "skyward") == ["Mid Kite", "Dear Kite", "Cheap Kite"]
    for sort, expected in (
        ("price-asc", ["Cheap Kite", "Mid Kite", "Dear Kite"]),
        ("price-desc", ["Dear Kite", "Mid Kite", "Cheap Kite"]),
        ("title", ["Cheap Kite", "Dear Kite", "Mid Kite"]),
    ):
        set_collection_sort(collection, sort, by=None)
        assert grid(client, "skyward") == expected, sort

    pin_products(collection, [dear.id], by=None)
    assert grid(client, "skyward") == ["Dear Kite", "Cheap Kite", "Mid Kite"]
    assert grid(client, "skyward", sort="price-desc") == ["Dear Kite", "Mid Kite", "Cheap Kite"]
    assert grid(client, "skyward", sort="newest") == ["Mid Kite", "Dear Kite", "Cheap Kite"]
    # The pin stops matching the rules: it is skipped, not shown out of place.
    update_product(dear, vendor="Groundling", by=None)
    assert grid(client, "skyward") == ["Cheap Kite", "Mid Kite"]
    assert [p.title for p in shop_preview(collection, sales=with_units_sold)] == [
        "Cheap Kite",
        "Mid Kite",
    ]


def test_pins_lead_across_pages(client, active_product, card_markup):
    products = [active_product(f"Mug {i:02d}") for i in range(30)]
    collection = create_collection(title="Mugs", by=None)
    add_to_collection(collection, [p.id for p in products], by=None)
    pin_products(collection, [products[29].id, products[25].id], by=None)
    first = grid(client, "mugs")
    assert first[:3] == ["Mug 29", "Mug 25", "Mug 00"] and len(first) == 24
    second = grid(client, "mugs", page=2)
    assert second == [f"Mug {i:02d}" for i in range(22, 30) if i not in (25, 29)]


# -- best selling, from real orders -------------------------------------------------------------


def test_best_selling_counts_units_sold_in_the_last_30_days(
    client, app, checkout_shop, card_markup
):
    from commerce.orders.cancellation import cancel_order

    tee = checkout_shop.product  # "Field Tee n", sizes S and M
    hat = stocked("Best Hat", price=1500)
    bag = stocked("Quiet Bag", price=3000)
    new = stocked("Brand New Scarf", price=900)  # newest, never sold
    collection = create_collection(title="Bestsellers", by=None)
    add_to_collection(collection, [new.id, bag.id, tee.id, hat.id], by=None)
    set_collection_sort(collection, "best-selling", by=None)

    buy(hat.variants[0].id, 3)
    buy(checkout_shop.small, 1)
    buy(checkout_shop.medium, 1)  # two variants of one product add up: 2
    cancelled = buy(bag.variants[0].id, 9)
    cancel_order(cancelled, reason="Changed their mind", by=None)
    old = buy(bag.variants[0].id, 20)
    old.placed_at = utcnow() - timedelta(days=31)
    db.session.commit()

    assert popularity([hat.id, tee.id, bag.id, new.id]) == {hat.id: 3, tee.id: 2}
    assert {row.product_id: row.units for row in db.session.execute(units_sold())} == {
        hat.id: 3,
        tee.id: 2,
    }
    # Unsold products follow, newest first.
    expected = ["Best Hat", tee.title, "Brand New Scarf", "Quiet Bag"]
    assert grid(client, "bestsellers") == expected
    assert [p.title for p in shop_preview(collection, sales=with_units_sold)] == expected

    # Pins still come first; the shopper's sorts ignore both.
    pin_products(collection, [bag.id], by=None)
    assert grid(client, "bestsellers") == ["Quiet Bag", "Best Hat", tee.title, "Brand New Scarf"]
    assert grid(client, "bestsellers", sort="price-asc") == [
        "Brand New Scarf",
        "Best Hat",
        tee.title,
        "Quiet Bag",
    ]

    # The window moves on: a month later, nothing counts and the newest lead again.
    assert popularity([hat.id, tee.id], now=utcnow() + timedelta(days=31)) == {}


def test_collection_page_query_count_is_flat(client, checkout_shop, query_counter, card_markup):
    """Best selling and pins add no query per product: the join and the CASE are in the page."""
    collection = create_collection(title="Counted", sort="best-selling", by=None)

    def add(count: int) -> None:
        made = [stocked(f"Counted {count}-{i}", price=1000 + i) for i in range(count)]
        add_to_collection(collection, [p.id for p in made], by=None)
        pin_products(collection, [made[0].id], by=None)

    add(3)
    buy(checkout_shop.small, 1)
    with query_counter() as few:
        assert client.get("/collections/counted").status_code == 200
    add(17)
    with query_counter() as many:
        assert client.get("/collections/counted").status_code == 200
    assert len(many) == len(few), many
    assert len(many) <= 12


def test_collection_page_stays_publicly_cacheable(client, active_product):
    product = active_product("Cached Bowl")
    collection = create_collection(title="Bowls", sort="best-selling", by=None)
    add_to_collection(collection, [product.id], by=None)
    pin_products(collection, [product.id], by=None)
    response = client.get("/collections/bowls")
    assert response.headers["Cache-Control"] == "public, max-age=60"
    assert "Set-Cookie" not in response.headers
    again = client.get("/collections/bowls", headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304


# -- PostgreSQL ---------------------------------------------------------------------------------


@pytest.mark.postgres
def test_shop_order_on_postgres(pg_app, monkeypatch):
    """The sales join, the pin CASE and the positions' bulk update in PostgreSQL's dialect
    (NULL units of unsold products sort last, not first)."""
    from commerce.catalog.listing import ListingFilter, collection_scope, listing

    monkeypatch.setitem(pg_app.config, "PRICES_INCLUDE_TAX", False)
    shop = build_checkout_shop()
    hat = stocked("PG Hat", price=1500)
    bag = stocked("PG Bag", price=3000)
    collection = create_collection(title="PG picks", by=None)
    add_to_collection(collection, [bag.id, shop.product.id, hat.id], by=None)
    reorder_collection(collection, [hat.id, bag.id, shop.product.id], by=None)

    def shown(**kw: Any) -> list[str]:
        db.session.expire_all()
        found = db.session.get(type(collection), collection.id)
        page = listing(collection_scope(found), ListingFilter(**kw), collection=found)
        return [card.product.title for card in page.cards]

    assert shown() == ["PG Hat", "PG Bag", shop.product.title]
    buy(bag.variants[0].id, 2)
    buy(shop.small, 1)
    set_collection_sort(collection, "best-selling", by=None)
    assert shown() == ["PG Bag", shop.product.title, "PG Hat"]
    pin_products(collection, [hat.id], by=None)
    assert shown() == ["PG Hat", "PG Bag", shop.product.title]
    assert shown(sort="price-desc") == ["PG Bag", shop.product.title, "PG Hat"]
    assert popularity([bag.id, shop.product.id, hat.id]) == {bag.id: 2, shop.product.id: 1}
    client = pg_app.test_client()
    body = client.get(f"/collections/{collection.handle}").get_data(as_text=True)
    assert body.index("PG Hat") < body.index("PG Bag") < body.index(shop.product.title)

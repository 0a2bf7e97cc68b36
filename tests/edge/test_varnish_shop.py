"""The shop behind Varnish, for real: gunicorn on PostgreSQL and Redis (bench/_server.py
LiveServer, EDGE_CACHE=varnish) with varnishd running the repo's VCL in front of it.

- A shared page is stored (a hit: the shop does not see the request); a change made through
  a domain service leaves it stale until the outbox delivers the purge, then the next visitor
  gets the fresh page. A shopper taking the last unit (the stock crossing out of stock) purges
  the listings that filter by stock, from inside the shop's own request.
- A shopper with a session, an account, a cart and a flash message waiting browses through
  Varnish: nothing of theirs is ever stored, no stored answer sets a cookie, and their own
  pages pass through with their cookies.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests
from flask import Flask

from bench._server import EdgeCache, FlashShop, LiveServer, Shopper, build_flash_shop

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

EMAIL = "ada.edge@example.com"


@dataclass
class EdgeShop:
    app: Flask
    server: LiveServer
    edge: EdgeCache
    stock: FlashShop
    product: Any
    category: Any
    collection: Any

    def get(self, path: str, **kw: Any) -> requests.Response:
        return requests.get(self.edge.url + path, timeout=30, allow_redirects=False, **kw)


@pytest.fixture
def shop(varnish: None, pg_app: Flask, pg_url: str, redis_url: str, tmp_path: Any) -> Iterator[Any]:
    from commerce.catalog.models import Variant
    from commerce.catalog.services import update_product
    from commerce.catalog.taxonomy import add_to_collection, create_category, create_collection
    from commerce.extensions import db
    from commerce.outbox import dispatch_pending

    stock = build_flash_shop(units=1)
    category = create_category(name="Sneakers", by=None)
    product = db.session.get(Variant, stock.variant_id).product
    update_product(product, category_id=category.id, by=None)
    collection = create_collection(title="Flash sale", by=None)
    add_to_collection(collection, [product.id], by=None)
    dispatch_pending()  # set-up events: no edge yet

    server = LiveServer(
        database_url=pg_url,
        redis_url=redis_url,
        instance=tmp_path / "server",
        workers=1,
        threads=4,
    )
    edge = EdgeCache(server.url, workdir=tmp_path / "edge")
    server.env.update(edge.shop_env())
    # This process plays the worker that delivers the outbox.
    pg_app.config.update(EDGE_CACHE="varnish", EDGE_PURGE_URLS=[edge.purge_url])
    with server, edge:
        yield EdgeShop(pg_app, server, edge, stock, product, category, collection)
        assert server.tracebacks() == []


def shop_requests(edge: EdgeCache) -> int:
    return edge.stats()["MAIN.backend_req"]


def test_a_hit_a_change_the_purge_and_a_fresh_page(shop: EdgeShop) -> None:
    from commerce.catalog.models import Variant
    from commerce.catalog.services import update_variant
    from commerce.extensions import db
    from commerce.outbox import deliver_pending

    page = f"/products/{shop.product.handle}"
    listing = f"/c/{shop.category.handle}"
    first = shop.get(page)
    assert first.status_code == 200 and first.headers["X-Cache"] == "MISS"
    assert "$25.00" in first.text
    seen = shop_requests(shop.edge)
    hit = shop.get(page)
    assert hit.headers["X-Cache"] == "HIT" and int(hit.headers["Age"]) >= 0
    assert shop_requests(shop.edge) == seen  # the shop did not see it
    assert "set-cookie" not in {k.lower() for k in hit.headers}
    revalidated = shop.get(page, headers={"If-None-Match": hit.headers["ETag"]})
    assert revalidated.status_code == 304 and revalidated.headers["X-Cache"] == "HIT"
    assert shop.get(listing).headers["X-Cache"] == "MISS"
    assert shop.get(listing).headers["X-Cache"] == "HIT"

    variant = db.session.get(Variant, shop.stock.variant_id)
    update_variant(variant, price=1999, by=None)  # a merchandiser's change, committed
    stale = shop.get(page)
    assert stale.headers["X-Cache"] == "HIT" and "$25.00" in stale.text  # until the purge

    report = deliver_pending()  # the worker delivers the outbox: the purge reaches Varnish
    assert report.failed == [] and report.delivered >= 1
    fresh = shop.get(page)
    assert fresh.headers["X-Cache"] == "MISS" and "$19.99" in fresh.text
    assert shop.get(page).headers["X-Cache"] == "HIT"
    relisted = shop.get(listing)  # the listing showed the old price too
    assert relisted.headers["X-Cache"] == "MISS" and "$19.99" in relisted.text


def test_the_last_unit_taken_purges_the_in_stock_listings(shop: EdgeShop) -> None:
    in_stock = f"/c/{shop.category.handle}?in_stock=1"
    shop.get(in_stock)
    listed = shop.get(in_stock)
    assert listed.headers["X-Cache"] == "HIT" and shop.product.title in listed.text

    shopper = Shopper(shop.edge.url, timeout=30)  # checkout passes through Varnish
    try:
        shopper.open()
        shopper.add_to_cart(shop.stock.variant_id, 1)
        answer, key = shopper.start_checkout()  # holds the last unit: sold out
        assert key, answer.describe()
    finally:
        shopper.close()

    # The shop's own request delivered the purge (Celery eager, as in the embedded mode).
    after = shop.get(in_stock)
    assert after.headers["X-Cache"] == "MISS"
    assert shop.product.title not in after.text
    assert shop.get(in_stock).headers["X-Cache"] == "HIT"


def test_nothing_of_a_shopper_is_ever_stored(shop: EdgeShop) -> None:
    shopper = Shopper(shop.edge.url, timeout=30)
    shared = [
        "/",
        f"/products/{shop.product.handle}",
        f"/c/{shop.category.handle}",
        f"/collections/{shop.collection.handle}",
        "/search?q=sneaker",
        "/search/suggest?q=snea",
    ]
    private = ["/cart", "/account", "/cart/count"]
    try:
        shopper.open()
        shopper.add_to_cart(shop.stock.variant_id, 1)  # "Added to your cart." waiting
        answer = shopper.post(
            "/account/register",
            {"name": "Ada Edge", "email": EMAIL, "password": "a long secret 123", "next": "/"},
        )
        assert answer.status == 303, answer.describe()  # "Thank you..." waiting too
        answer = shopper.post(  # the last POST: signing in gives the session a new CSRF token
            "/account/login", {"email": EMAIL, "password": "a long secret 123", "next": "/"}
        )
        assert answer.status == 303, answer.describe()
        assert shopper.http.cookies.get("session")
        for path in shared:
            response = shopper.http.get(shop.edge.url + path, timeout=30)
            assert response.status_code == 200, path
            assert "Set-Cookie" not in response.headers, path
            assert EMAIL not in response.text and "Ada Edge" not in response.text, path
            assert "Thank you for registering" not in response.text, path
            assert "Added to your cart" not in response.text, path
        for path in private:
            response = shopper.http.get(shop.edge.url + path, timeout=30, allow_redirects=False)
            assert response.headers["X-Cache"] == "PASS", path
        mine = shopper.http.get(shop.edge.url + "/account", timeout=30)
        assert EMAIL in mine.text  # their own page, through Varnish, with their cookie
    finally:
        shopper.close()

    # What is stored now is what anyone gets: nothing of Ada's, no cookie.
    for path in shared + private:
        response = shop.get(path)
        assert "Set-Cookie" not in response.headers or path in private, path
        assert EMAIL not in response.text and "Ada Edge" not in response.text, path
        assert "Thank you for registering" not in response.text, path
        assert "Added to your cart" not in response.text, path
    for path in shared:
        assert shop.get(path).headers["X-Cache"] == "HIT", path
    anonymous_cart = shop.get("/cart")
    assert anonymous_cart.headers["X-Cache"] == "PASS"
    assert shop.product.title not in anonymous_cart.text


def test_a_crowd_in_line_reads_the_board_from_the_edge(shop: EdgeShop, redis_url: str) -> None:
    """Pages far back in the checkout line read the line's board through Varnish, cookies and
    all: one answer a second from the shop, however many pages read it; when the board says
    the turn is near, the page's own ask lets the shopper in."""
    import re
    import time

    from commerce.crowd import Rules, now_ms
    from commerce.crowd.redis_store import RedisLineStore

    line = RedisLineStore.from_url(redis_url, prefix="crowd:", timeout=5)  # the server's line
    rules = Rules(default_capacity=1, place_timeout_ms=30_000, slot_ms=600_000)

    def join(member: str) -> Any:
        return line.take_turn(member, [], now_ms=now_ms(), rules=rules, polling=False, ticket_seq=0)

    line.set_capacity(1)
    assert join("someone-in-checkout").admitted
    join("someone-ahead")
    join("someone-further-ahead")  # the shopper is third: beyond the two places called near
    shopper = Shopper(shop.edge.url, timeout=30)
    try:
        shopper.open()
        shopper.add_to_cart(shop.stock.variant_id, 1)
        answer, key = shopper.start_checkout()
        assert answer.in_line and key is None, answer.describe()
        waiting = shopper.ask_in_line(answer.target)[0]
        board = waiting.board()
        assert board is not None, waiting.describe()
        path, _, seq, _ = board
        url = shop.edge.url + path

        first = shopper.http.get(url, timeout=30)  # with the shopper's session cookie
        assert first.status_code == 200 and "Set-Cookie" not in first.headers
        assert first.json()["near"] < seq and first.json()["sold_out"] == []
        seen = shop_requests(shop.edge)
        for _ in range(20):  # a crowd reading the board within its second
            again = shop.get(path)
            assert again.headers["X-Cache"] in ("HIT", "HIT-STALE")
        assert shop_requests(shop.edge) - seen <= 1  # at most one refresh reached the shop

        line.leave("someone-in-checkout")  # an order placed, and the one ahead gave up
        line.leave("someone-ahead")
        line.leave("someone-further-ahead")
        deadline = time.monotonic() + 10
        while shopper.http.get(url, timeout=30).json()["near"] < seq:
            assert time.monotonic() < deadline, "the edge's board never moved on"
            time.sleep(0.25)
        answer, key = shopper.ask_in_line(answer.target)  # what the page's script does now
        let_in = re.search(r"/checkout/[^/]+/information$", answer.location)
        assert key and let_in, answer.describe()
    finally:
        shopper.close()
        line.client.close()

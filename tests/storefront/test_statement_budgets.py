"""Statement budgets of the shop's request paths, on PostgreSQL with a Celery broker (so the
outbox's work after commit is published to a worker, not done in the request).

One guest shopper, a single-line cart, counted over real HTTP requests (the test client, one
app context per request as in production) after a first shopper warmed the process up. Counts,
never timings: SQL statements the database answered (savepoint statements included) and
COMMITs. A budget that breaks names every statement of the request, so the new one shows.

    place order       <= 40 statements, <= 4 commits
    checkout start    <= 12
    each checkout GET <= 8
    the whole journey (cart page, add, start, information, shipping, payment page, place) <= 90
    a catalog page (home, category, collection, product, search results) <= 6
    a private fragment (cart count, stock badge, add-to-cart form) <= 2
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.celery_processes import production_app
from tests.conftest import (
    US_ADDRESS,
    RequestScopedClient,
    Statements,
    build_checkout_shop,
    count_queries,
)

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

PLACE, PLACE_COMMITS, START, STEP_PAGE, JOURNEY, CATALOG_PAGE, FRAGMENT = 40, 4, 12, 8, 90, 6, 2
CARD = {"card_number": "4242424242424242", "exp_month": "12", "exp_year": "2031", "cvc": "123"}


@pytest.fixture(scope="module")
def shop(pg_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The checkout shop (a T-shirt in two sizes with stock, US shipping and tax) in a category
    and a collection, indexed for search, on an app whose outbox goes to a broker."""
    from bench._server import flush_redis
    from commerce.catalog.services import update_product
    from commerce.catalog.taxonomy import add_to_collection, create_category, create_collection
    from commerce.extensions import db
    from commerce.outbox import dispatch_pending
    from commerce.search.indexing import reindex
    from tests.conftest import require_service

    redis_url = require_service("Redis", "TEST_REDIS_URL")
    flush_redis(redis_url)
    with (
        pytest.MonkeyPatch.context() as monkeypatch,
        production_app(pg_url, redis_url, tmp_path_factory.mktemp("shop"), monkeypatch) as app,
    ):
        app.test_client_class = RequestScopedClient
        app.config["PRICES_INCLUDE_TAX"] = False
        built = build_checkout_shop()
        category = create_category(name="Tees", by=None)
        update_product(built.product, category_id=category.id, by=None)
        collection = create_collection(title="Summer", by=None)
        add_to_collection(collection, [built.product.id], by=None)
        dispatch_pending()
        reindex()  # the search index takes the catalog in
        built.category, built.collection = category.handle, collection.handle
        built.handle = built.product.handle
        db.session.remove()
        yield app, built


class Shopper:
    """A guest's browser over the test client, counting each request's statements."""

    def __init__(self, app: Any) -> None:
        self.client = app.test_client()
        self.counts: dict[str, Statements] = {}

    def send(self, step: str, method: str, path: str, **data: Any) -> Any:
        with count_queries() as counted:
            response = self.client.open(path, method=method, data=data or None)
        assert response.status_code < 400, f"{step}: {response.status_code}"
        self.counts[step] = counted
        return response

    def journey(self, variant_id: int) -> str:
        self.send("cart page", "GET", "/cart")
        self.send("add", "POST", "/cart/add", variant_id=variant_id, quantity=1)
        started = self.send("start", "POST", "/checkout")
        key = re.search(r"/checkout/([^/]+)/", started.location).group(1)
        self.send("information page", "GET", f"/checkout/{key}/information")
        self.send(
            "information", "POST", f"/checkout/{key}/information", email="ada@example.com",
            **US_ADDRESS,
        )  # fmt: skip
        self.send("shipping page", "GET", f"/checkout/{key}/shipping")
        self.send("shipping", "POST", f"/checkout/{key}/shipping", shipping_method="STD")
        self.send("payment page", "GET", f"/checkout/{key}/payment")
        placed = self.send("place", "POST", f"/checkout/{key}/place", **CARD)
        assert placed.status_code == 303 and "/orders/" in placed.location, placed.location
        return key


def over(counted: Statements, budget: int, step: str) -> str:
    return f"{step}: {counted.round_trips} statements (budget {budget}):\n{counted.describe()}"


@pytest.fixture(scope="module")
def walked(shop: Any) -> tuple[Shopper, Any]:
    app, built = shop
    Shopper(app).journey(built.small)  # warms up connections, caches, the promotions set
    shopper = Shopper(app)
    shopper.journey(built.small)
    return shopper, built


def test_place_order_within_its_statement_and_commit_budget(walked):
    shopper, _ = walked
    counted = shopper.counts["place"]
    assert counted.round_trips <= PLACE, over(counted, PLACE, "place")
    assert counted.commits <= PLACE_COMMITS, f"{counted.commits} commits\n{counted.describe()}"


def test_checkout_start_and_each_step_within_budget(walked):
    shopper, _ = walked
    counted = shopper.counts["start"]
    assert counted.round_trips <= START, over(counted, START, "start")
    for step in ("information page", "shipping page", "payment page"):
        counted = shopper.counts[step]
        assert counted.round_trips <= STEP_PAGE, over(counted, STEP_PAGE, step)


def test_the_whole_journey_within_budget(walked):
    shopper, _ = walked
    total = sum(c.round_trips for c in shopper.counts.values())
    per_step = ", ".join(f"{step} {c.round_trips}" for step, c in shopper.counts.items())
    assert total <= JOURNEY, f"{total} statements: {per_step}"


def test_catalog_pages_and_private_fragments_within_budget(shop):
    app, built = shop
    client = app.test_client()
    pages = [
        "/",
        f"/c/{built.category}",
        f"/collections/{built.collection}",
        f"/products/{built.handle}",
        "/search?q=tee",
    ]
    fragments = [
        "/cart/count",
        f"/fragments/availability?variant={built.small}",
        f"/cart/form?variant={built.small}",
    ]
    for path in [*pages[:-1], "/search?q=shirt", *fragments]:
        assert client.get(path).status_code == 200, path  # warm up (not the search: a miss)
    client.post("/cart/add", data={"variant_id": built.small, "quantity": 1})
    for paths, budget in ((pages, CATALOG_PAGE), (fragments, FRAGMENT)):
        for path in paths:
            with count_queries() as counted:
                response = client.get(path)
            assert response.status_code == 200, path
            assert counted.round_trips <= budget, over(counted, budget, path)
            if path.startswith("/search"):
                assert built.handle in response.get_data(as_text=True), "no result"


def test_a_checkout_with_nothing_to_ship_keeps_the_step_budgets(walked, shop):
    """Gift cards alone: the email, then payment (the shipping step is skipped); deciding
    that it ships nothing costs no statement of its own (the priced lines say so)."""
    app, _ = shop
    with app.app_context():
        from commerce.catalog.services import create_product
        from commerce.extensions import db
        from commerce.inventory.services import receive_stock

        product = create_product(
            title="Gift Card", price=5000, sku="GC-BUDGET", status="active", is_gift_card=True,
            by=None,
        )  # fmt: skip
        db.session.commit()
        receive_stock(product.variants[0].id, quantity=10, by=None)
        variant_id = product.variants[0].id
        db.session.remove()
    shopper = Shopper(app)
    shopper.send("add", "POST", "/cart/add", variant_id=variant_id, quantity=1)
    started = shopper.send("start", "POST", "/checkout")
    key = re.search(r"/checkout/([^/]+)/", started.location).group(1)
    shopper.send("information page", "GET", f"/checkout/{key}/information")
    done = shopper.send(
        "information", "POST", f"/checkout/{key}/information", email="gc@example.com"
    )
    assert done.location.endswith(f"/checkout/{key}/payment")
    shopper.send("payment page", "GET", f"/checkout/{key}/payment")
    assert shopper.counts["start"].round_trips <= START, over(
        shopper.counts["start"], START, "start"
    )
    for step in ("information page", "payment page"):
        counted = shopper.counts[step]
        assert counted.round_trips <= STEP_PAGE, over(counted, STEP_PAGE, step)

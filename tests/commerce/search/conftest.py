"""One small catalog, built once per backend, that the behaviour suite asks the same questions.

`world` is parametrised over the backends: the db backend on SQLite and on PostgreSQL (real
commits, schema from the migrations), and Meilisearch when MEILISEARCH_URL names a real
server (otherwise that leg skips: test_meilisearch_contract.py checks the adapter's requests).
The catalog goes in through the catalog, inventory and taxonomy services and reaches the index
through the outbox, as in production.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pytest
from flask import Flask

from commerce.extensions import db
from tests.conftest import base_config, require_service, reset_postgres

BASE_DATE = datetime(2026, 1, 1, 12, 0, 0)

# name: (title, vendor, type, category, tags, options, price, stock per variant, sold, status)
CATALOG: dict[str, dict[str, Any]] = {
    "blue_tee": dict(
        title="Blue T-Shirt",
        vendor="Acme",
        product_type="Tees",
        category="tops",
        tags=["summer", "cotton"],
        options=[("Size", ["S", "M", "L"]), ("Color", ["Blue"])],
        price=1999,
        stock=[5, 0, 0],
        sold=3,
    ),
    "red_tee": dict(
        title="Red T-Shirt",
        vendor="Acme",
        product_type="Tees",
        category="tops",
        tags=["cotton"],
        options=[("Size", ["S", "M"]), ("Color", ["Red"])],
        price=2499,
        stock=[0, 0],
        sold=0,
    ),
    "oxford": dict(
        title="Classic Oxford Shirt",
        vendor="Northwind",
        product_type="Shirts",
        category="tops",
        tags=["office"],
        options=[("Size", ["M", "L"])],
        price=4999,
        stock=[2, 0],
        sold=5,
    ),
    "jeans": dict(
        title="Blue Jeans",
        vendor="Denim Co",
        product_type="Pants",
        category="bottoms",
        tags=["sale"],
        options=[("Size", ["32", "34"])],
        price=5999,
        stock=[4, 4],
        sold=0,
    ),
    "shorts": dict(
        title="Summer Shorts",
        vendor="Acme",
        product_type="Pants",
        category="bottoms",
        tags=["summer", "sale"],
        options=[],
        price=2999,
        stock=[7],
        sold=0,
    ),
    "mug": dict(
        title="Ceramic Mug",
        vendor="Homeware",
        product_type="Kitchen",
        category="home",
        tags=["gift"],
        options=[],
        price=1299,
        stock=[9],
        sold=10,
        description="A sturdy mug for the morning coffee. Dishwasher safe.",
    ),
    "poster": dict(
        title="Bluebird Poster",
        vendor="Artful",
        product_type="Prints",
        category="home",
        tags=[],
        options=[],
        price=1599,
        stock=[1],
        sold=0,
    ),
    "draft": dict(
        title="Blue Draft Hoodie",
        vendor="Acme",
        product_type="Tees",
        category="tops",
        tags=["summer"],
        options=[],
        price=3999,
        stock=[3],
        sold=0,
        status="draft",
    ),
    "archived": dict(
        title="Blue Archived Cap",
        vendor="Acme",
        product_type="Hats",
        category="tops",
        tags=["summer"],
        options=[],
        price=999,
        stock=[3],
        sold=0,
        status="archived",
    ),
}
ACTIVE = [name for name, spec in CATALOG.items() if spec.get("status", "active") == "active"]


@dataclass
class World:
    app: Flask
    backend: str
    ids: dict[str, int] = field(default_factory=dict)
    categories: dict[str, int] = field(default_factory=dict)
    collections: dict[str, int] = field(default_factory=dict)

    def names(self, ids: list[int]) -> list[str]:
        by_id = {v: k for k, v in self.ids.items()}
        return [by_id.get(i, str(i)) for i in ids]

    def search(self, **kw: Any) -> Any:
        from commerce.search import SearchQuery, search

        with self.app.app_context():
            return search(SearchQuery(**kw))

    def found(self, **kw: Any) -> list[str]:
        kw.setdefault("per_page", 50)
        return self.names(self.search(**kw).ids)

    def settle(self) -> None:
        """Deliver the outbox and apply its events to the index (what beat and a worker do)."""
        from commerce.outbox import dispatch_pending
        from commerce.search.indexing import sync_pending

        dispatch_pending()
        sync_pending()


def place_sale(product_id: int, quantity: int, *, when: datetime) -> None:
    """An order line of a product sold `quantity` times (only what popularity reads)."""
    from commerce.orders.models import Order, OrderLine

    key = uuid.uuid4().hex
    order = Order(
        checkout_key=key,
        email="sold@example.com",
        currency="USD",
        subtotal=quantity * 100,
        total=quantity * 100,
        shipping_method_code="STD",
        shipping_method_name="Standard",
        placed_at=when,
    )
    order.lines.append(
        OrderLine(
            product_id=product_id,
            title="sold",
            quantity=quantity,
            unit_price=100,
            amount=quantity * 100,
        )
    )
    db.session.add(order)
    db.session.commit()


def build_catalog(world: World) -> None:
    from commerce.catalog.services import create_product, generate_variants, set_options
    from commerce.catalog.taxonomy import add_to_collection, create_category, create_collection
    from commerce.inventory.models import Location
    from commerce.inventory.services import receive_stock

    location = Location(name="Main", code="MAIN", priority=1)
    db.session.add(location)
    db.session.commit()
    apparel = create_category(name="Apparel", by=None)
    world.categories = {
        "apparel": apparel.id,
        "tops": create_category(name="Tops", parent_id=apparel.id, by=None).id,
        "bottoms": create_category(name="Bottoms", parent_id=apparel.id, by=None).id,
        "home": create_category(name="Home", by=None).id,
    }
    for position, (name, spec) in enumerate(CATALOG.items()):
        product = create_product(
            title=spec["title"],
            vendor=spec["vendor"],
            product_type=spec["product_type"],
            category_id=world.categories[spec["category"]],
            tags=spec["tags"],
            price=spec["price"],
            sku=f"SKU-{name.upper()}",
            description=spec.get("description", ""),
            status=spec.get("status", "active"),
            by=None,
        )
        if spec["options"]:
            set_options(product, spec["options"], by=None)
            generate_variants(product, by=None)
        product.created_at = BASE_DATE + timedelta(days=position)
        db.session.commit()
        for variant, units in zip(product.variants, spec["stock"], strict=True):
            if units:
                receive_stock(variant.id, quantity=units, by=None, location_id=location.id)
        if spec["sold"]:
            place_sale(product.id, spec["sold"], when=datetime.now() - timedelta(days=2))
        world.ids[name] = product.id
    # An old sale (outside the 30 days) counts for nothing.
    place_sale(world.ids["red_tee"], 50, when=datetime.now() - timedelta(days=45))
    summer = create_collection(title="Summer picks", by=None)
    add_to_collection(summer, [world.ids["blue_tee"], world.ids["shorts"]], by=None)
    sale = create_collection(
        title="On sale",
        kind="rule",
        rules=[{"field": "tag", "op": "equals", "value": "sale"}],
        by=None,
    )
    world.collections = {"summer": summer.id, "sale": sale.id}
    world.settle()


def _make_app(tmp: Any, **config: Any) -> Flask:
    from wsgi import create_app

    return create_app(base_config(tmp, **config))


@pytest.fixture(
    scope="module",
    params=[
        "db-sqlite",
        pytest.param("db-postgres", marks=pytest.mark.postgres),
        "meilisearch",
    ],
)
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    from flask_migrate import upgrade

    tmp = tmp_path_factory.mktemp(request.param)
    index = None
    if request.param == "db-postgres":
        url = require_service("PostgreSQL", "TEST_DATABASE_URL")
        reset_postgres(url)
        app = _make_app(tmp, SQLALCHEMY_DATABASE_URI=url)
    elif request.param == "meilisearch":
        url = os.environ.get("MEILISEARCH_URL")
        if not url:
            pytest.skip(
                "no Meilisearch server: set MEILISEARCH_URL (and MEILISEARCH_API_KEY) to run "
                "this leg; test_meilisearch_contract.py checks the adapter's requests meanwhile"
            )
        index = f"test_products_{uuid.uuid4().hex[:8]}"
        app = _make_app(
            tmp,
            MEILISEARCH_URL=url,
            MEILISEARCH_API_KEY=os.environ.get("MEILISEARCH_API_KEY"),
            MEILISEARCH_INDEX=index,
        )
    else:
        app = _make_app(tmp)
    with app.app_context():
        upgrade(revision="heads")
        built = World(app=app, backend=request.param)
        build_catalog(built)
    yield built
    with app.app_context():
        if index:
            from commerce.search.backends import get_backend

            client = get_backend().client  # type: ignore[attr-defined]
            for uid in [index, *[f"{index}_build_{n}" for n in range(1, 20)]]:
                client.delete_index(uid)
        db.session.remove()
        db.engine.dispose()

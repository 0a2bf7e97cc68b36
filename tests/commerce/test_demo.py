"""The demo shop: it loads a consistent catalog, its logins work, and a second load adds nothing."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select
from werkzeug.security import generate_password_hash

from commerce.audit import AuditEntry
from commerce.catalog.models import (
    ACTIVE,
    DRAFT,
    Category,
    Collection,
    CollectionProduct,
    Media,
    OptionType,
    Product,
    ProductTag,
    Variant,
)
from commerce.catalog.taxonomy import collection_condition
from commerce.demo import DEMO_STAFF, load_demo
from commerce.demo.catalog import ean13
from commerce.extensions import db
from commerce.inventory.models import Location, StockLevel, StockMovement
from commerce.outbox import OutboxEvent
from commerce.staff.models import StaffMember
from commerce.staff.permissions import ROLES
from commerce.staff.services import authenticate

PRODUCTS = 80
TABLES = (
    Product,
    Variant,
    OptionType,
    ProductTag,
    Media,
    Category,
    Collection,
    CollectionProduct,
    Location,
    StockLevel,
    StockMovement,
    StaffMember,
    AuditEntry,
    OutboxEvent,
)


def count(model: Any, *where: Any) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def table_counts() -> dict[str, int]:
    return {model.__tablename__: count(model) for model in TABLES}


def unbalanced_levels() -> list[int]:
    """Levels whose on_hand differs from the sum of their ledger rows."""
    ledger = (
        select(StockMovement.stock_level_id, func.sum(StockMovement.delta).label("total"))
        .group_by(StockMovement.stock_level_id)
        .subquery()
    )
    return list(
        db.session.scalars(
            select(StockLevel.id)
            .outerjoin(ledger, ledger.c.stock_level_id == StockLevel.id)
            .where(StockLevel.on_hand != func.coalesce(ledger.c.total, 0))
        )
    )


@pytest.fixture(autouse=True)
def fast_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    """The demo's staff passwords with a cheap hash: the suite loads the demo many times."""
    monkeypatch.setattr(
        "commerce.staff.models.generate_password_hash",
        lambda password: generate_password_hash(password, method="pbkdf2:sha256:1000"),
    )


@pytest.fixture
def demo(app: Flask) -> dict[str, Any]:
    messages: list[str] = []
    summary = load_demo(products=PRODUCTS, seed=3, progress=messages.append)
    summary["messages"] = messages
    return summary


def test_summary_counts_match_the_database(demo):
    assert demo["created"] is True
    assert demo["products"] == count(Product) == PRODUCTS
    assert demo["variants"] == count(Variant) > PRODUCTS
    assert demo["categories"] == count(Category) >= 35
    assert demo["collections"] == count(Collection) >= 8
    assert any("products" in m for m in demo["messages"])
    audit = list(db.session.scalars(select(AuditEntry).where(AuditEntry.action == "demo.load")))
    assert len(audit) == 1 and audit[0].after["products"] == PRODUCTS
    # One entry for the load as a whole (plus the staff accounts and the checkout settings,
    # which the console edits one by one), not one per row.
    from commerce.demo.settings import SHIPPING, TAX_RATES

    assert count(AuditEntry) == 1 + len(ROLES) + len(SHIPPING) + len(TAX_RATES)


def test_categories_nest_three_levels_with_consistent_paths(demo):
    categories = {c.id: c for c in db.session.scalars(select(Category))}
    assert {c.depth for c in categories.values()} == {0, 1, 2}
    for category in categories.values():
        parent = categories.get(category.parent_id)
        expected = f"{parent.path_ids if parent else '/'}{category.id}/"
        assert category.path_ids == expected
        assert category.full_name == (
            f"{parent.full_name} / {category.name}" if parent else category.name
        )
    leaf_ids = set(db.session.scalars(select(Product.category_id).distinct()))
    assert all(categories[i].depth == 2 for i in leaf_ids)


def test_variants_have_unique_skus_and_valid_barcodes(demo):
    rows = db.session.execute(select(Variant.sku, Variant.barcode)).all()
    skus = [sku for sku, _ in rows]
    assert None not in skus and len(set(skus)) == len(skus)
    for _, barcode in rows:
        assert len(barcode) == 13 and barcode.isdigit()
        assert ean13(barcode[:12]) == barcode
    assert ean13("400638133393") == "4006381333931"  # a published example


def test_products_carry_the_columns_the_services_maintain(demo):
    ranges = {
        pid: (low, high, n)
        for pid, low, high, n in db.session.execute(
            select(
                Variant.product_id,
                func.min(Variant.price),
                func.max(Variant.price),
                func.count(),
            ).group_by(Variant.product_id)
        )
    }
    handles = set()
    for product in db.session.scalars(select(Product)):
        assert (product.min_price, product.max_price, product.variant_count) == ranges[product.id]
        assert product.currency == "USD"
        assert product.description and "<li>" in product.description_html
        assert (product.published_at is not None) == (product.status != DRAFT)
        handles.add(product.handle)
    assert len(handles) == PRODUCTS
    statuses = dict(
        db.session.execute(select(Product.status, func.count()).group_by(Product.status)).all()
    )
    assert statuses[ACTIVE] > PRODUCTS / 2
    assert count(Variant, Variant.compare_at_price.is_not(None)) > 0
    assert count(Product, Product.variant_count == 1) > 0


def test_option_types_match_variant_values(demo):
    options: dict[int, list[OptionType]] = defaultdict(list)
    for option in db.session.scalars(select(OptionType).order_by(OptionType.position)):
        options[option.product_id].append(option)
    for variant in db.session.scalars(select(Variant)):
        product_options = options.get(variant.product_id, [])
        values = variant.option_values
        assert len(values) == len(product_options)
        for option, value in zip(product_options, values, strict=True):
            assert value in option.values
    assert options, "some products have options"


def test_stock_ledger_balances_in_both_locations(demo):
    locations = list(db.session.scalars(select(Location).order_by(Location.priority)))
    assert [(loc.code, loc.priority) for loc in locations] == [("MAIN", 1), ("STORE", 2)]
    assert unbalanced_levels() == []
    for location in locations:
        on_hand = db.session.scalar(
            select(func.sum(StockLevel.on_hand)).where(StockLevel.location_id == location.id)
        )
        assert on_hand > 0, location.code
    assert count(StockLevel) == 2 * count(Variant)
    assert count(StockMovement, StockMovement.reason != "received") == 0


def test_every_role_has_a_working_login(demo):
    assert set(demo["logins"]) == set(ROLES)
    for role, (email, password) in demo["logins"].items():
        assert len(password) >= 10
        member = authenticate(email, password)
        assert member is not None and member.role == role
        assert DEMO_STAFF[role][:2] == (email, password)


def test_collections_have_products(demo):
    collections = list(db.session.scalars(select(Collection)))
    assert {c.kind for c in collections} == {"manual", "rule"}
    for collection in collections:
        members = list(db.session.scalars(select(Product).where(collection_condition(collection))))
        assert members, collection.title
        if collection.kind == "manual":
            assert all(p.status == ACTIVE for p in members)
    rules = {c.title: c for c in collections if c.kind == "rule"}
    cheap = db.session.scalars(select(Product).where(collection_condition(rules["Under 25"])))
    assert all(p.min_price < 2500 for p in cheap)
    summer = db.session.scalars(select(Product).where(collection_condition(rules["Summer edit"])))
    assert all("summer" in p.tags for p in summer)


def test_images_are_a_few_shared_files(demo, app):
    root = Path(app.config["MEDIA_ROOT"])
    paths = set(db.session.scalars(select(Media.path)))
    thumbs = set(db.session.scalars(select(Media.thumb_path)))
    assert count(Media) >= PRODUCTS > len(paths)
    for rel in paths | thumbs:
        assert rel.startswith("demo/") and (root / rel).read_bytes()[:4] == b"\x89PNG"


def test_second_load_creates_nothing(demo):
    before = table_counts()
    messages: list[str] = []
    again = load_demo(products=PRODUCTS, seed=3, progress=messages.append)
    assert table_counts() == before
    assert again["created"] is False
    assert again["logins"] == demo["logins"]
    assert {k: again[k] for k in ("products", "variants", "categories", "collections")} == {
        k: demo[k] for k in ("products", "variants", "categories", "collections")
    }
    assert any("already has" in m for m in messages)


def test_changed_demo_account_is_not_advertised(demo):
    from commerce.staff.services import find_staff_by_email, set_password

    email = DEMO_STAFF["support"][0]
    set_password(find_staff_by_email(email), password="a-new-secret-123", by=None)
    again = load_demo(products=PRODUCTS)
    assert "support" not in again["logins"] and "admin" in again["logins"]


@pytest.mark.postgres
def test_demo_on_postgres_leaves_sequences_ready(pg_app):
    from commerce.catalog.services import create_product
    from commerce.inventory.services import receive_stock

    summary = load_demo(products=30, seed=5)
    assert summary["products"] == 30 and unbalanced_levels() == []
    product = create_product(title="After the demo", price=1200, sku="AFTER-1", by=None)
    movement = receive_stock(product.variants[0].id, quantity=4, by=None)
    assert product.id > 30 and movement.id is not None
    assert unbalanced_levels() == []
    assert load_demo(products=30)["created"] is False

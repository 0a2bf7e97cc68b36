"""The demo shop: it loads a consistent catalog, its logins work, and a second load adds nothing;
its demo orders go through the real checkout and order services and leave stock, money and
documents consistent."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import timedelta
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
from commerce.checkout.models import COMPLETED as CHECKOUT_COMPLETED
from commerce.checkout.models import Checkout
from commerce.customers.models import Customer
from commerce.db import utcnow
from commerce.demo import DEMO_STAFF, load_demo
from commerce.demo.catalog import ean13
from commerce.demo.orders import CUSTOMER_PASSWORD
from commerce.documents.models import CREDIT_NOTE, Document
from commerce.extensions import db
from commerce.inventory.models import SOLD, Location, StockLevel, StockMovement
from commerce.inventory.services import reconcile
from commerce.orders.models import (
    CANCELLED,
    FULFILLED,
    OPEN,
    PARTIALLY_FULFILLED,
    REFUND_AWAITING_APPROVAL,
    REFUND_SUCCEEDED,
    RETURN_OPEN,
    SHIPPED,
    UNFULFILLED,
    Fulfillment,
    FulfillmentLine,
    Order,
    OrderEvent,
    Refund,
    Return,
)
from commerce.orders.queries import count_refunds_awaiting_approval, sales_today
from commerce.orders.refunds import approve_refund, refund_discrepancies
from commerce.outbox import OutboxEvent, dispatch_pending
from commerce.payments.models import Payment
from commerce.staff.models import StaffMember
from commerce.staff.permissions import ROLES
from commerce.staff.services import authenticate

PRODUCTS = 80
ORDERS = 12
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
    Customer,
    Checkout,
    Payment,
    Order,
    OrderEvent,
    Fulfillment,
    Refund,
    Return,
    Document,
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
    """The demo's staff and shopper passwords with a cheap hash: the suite loads the demo many
    times."""
    for module in ("commerce.staff.models", "commerce.customers.models"):
        monkeypatch.setattr(
            f"{module}.generate_password_hash",
            lambda password: generate_password_hash(password, method="pbkdf2:sha256:1000"),
        )


@pytest.fixture
def demo(app: Flask) -> dict[str, Any]:
    """The catalog alone (orders=0, as `bench/catalog.py` loads it)."""
    messages: list[str] = []
    summary = load_demo(products=PRODUCTS, orders=0, seed=3, progress=messages.append)
    summary["messages"] = messages
    return summary


@pytest.fixture
def demo_orders(app: Flask, mail_dir: Path) -> dict[str, Any]:
    """A small shop with its demo orders, emails written to this test's own folder."""
    messages: list[str] = []
    summary = load_demo(products=30, orders=ORDERS, seed=3, progress=messages.append)
    summary["messages"] = messages
    summary["mail_dir"] = mail_dir
    return summary


def staff(role: str) -> StaffMember:
    member = db.session.scalar(select(StaffMember).where(StaffMember.email == DEMO_STAFF[role][0]))
    assert member is not None
    return member


def test_summary_counts_match_the_database(demo):
    assert demo["created"] is True
    assert demo["orders"] == count(Order) == 0
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
    again = load_demo(products=PRODUCTS, orders=0, seed=3, progress=messages.append)
    assert table_counts() == before
    assert again["created"] is False
    assert again["logins"] == demo["logins"]
    assert {k: again[k] for k in ("products", "variants", "categories", "collections")} == {
        k: demo[k] for k in ("products", "variants", "categories", "collections")
    }
    assert any("already has" in m for m in messages)


def test_a_demo_catalog_left_without_its_orders_gets_them_on_the_next_load(demo, mail_dir):
    """The first load committed the catalog, then stopped before the orders."""
    messages: list[str] = []
    again = load_demo(products=PRODUCTS, orders=3, seed=3, progress=messages.append)
    assert again["created"] is False and again["orders"] == count(Order) == 3
    assert any("placing the demo orders" in m for m in messages)
    assert load_demo(products=PRODUCTS, orders=3)["orders"] == 3  # and only once


def test_a_shop_that_was_not_the_demo_never_gets_demo_orders(app):
    from commerce.catalog.services import create_product

    create_product(title="A real product", price=1200, sku="REAL-1", by=None)
    assert load_demo(products=PRODUCTS, orders=3)["orders"] == count(Order) == 0


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

    summary = load_demo(products=30, orders=8, seed=5)
    # 30 products, and with the orders the extras' gift card and bundle
    assert summary["products"] == 32 and unbalanced_levels() == []
    assert summary["orders"] == count(Order) == 8 and reconcile() == []
    assert count(Refund, Refund.status == REFUND_AWAITING_APPROVAL) == 1
    product = create_product(title="After the demo", price=1200, sku="AFTER-1", by=None)
    movement = receive_stock(product.variants[0].id, quantity=4, by=None)
    assert product.id > 32 and movement.id is not None
    assert unbalanced_levels() == []
    again = load_demo(products=30, orders=8)
    assert again["created"] is False and again["orders"] == 8


# -- demo orders --------------------------------------------------------------------------------


def test_demo_orders_are_placed_through_the_checkout(demo_orders):
    assert demo_orders["orders"] == count(Order) == ORDERS
    assert any(f"{ORDERS} orders over the last" in m for m in demo_orders["messages"])
    orders = list(db.session.scalars(select(Order).order_by(Order.number)))
    # Each order came out of a completed checkout and was paid with the test gateway.
    done = dict(
        db.session.execute(
            select(Checkout.order_id, Checkout.status).where(Checkout.order_id.is_not(None))
        ).all()
    )
    assert all(done.get(order.id) == CHECKOUT_COMPLETED for order in orders)
    payments = {p.id: p for p in db.session.scalars(select(Payment))}
    for order in orders:
        assert order.payment_id in payments and payments[order.payment_id].reference
        assert order.events[0].kind == "placed"
        assert 1 <= len(order.lines) <= 3
        assert all(1 <= line.quantity <= 3 for line in order.lines)
        assert order.email.rsplit("@", 1)[1] in {
            "example.com",
            "example.org",
            "example.net",
            "mail.test",
            "inbox.test",
        }
        assert order.total == (
            order.subtotal - order.discount_total + order.shipping_total + order.tax_total
        )
    # Spread over the month, oldest number first, several of them today.
    now = utcnow()
    placed = [order.placed_at for order in orders]
    assert placed == sorted(placed) and max(placed) <= now
    assert min(placed) < now - timedelta(days=5)
    assert min(placed) > now - timedelta(days=31)
    assert sales_today().orders >= 1
    # A couple of shoppers have accounts and come back.
    regulars = Counter(o.customer_id for o in orders if o.customer_id is not None)
    assert regulars and max(regulars.values()) >= 2
    customer = db.session.get(Customer, regulars.most_common(1)[0][0])
    assert customer.check_password(CUSTOMER_PASSWORD) and customer.addresses
    assert customer.created_at < min(o.placed_at for o in orders if o.customer_id == customer.id)
    # Each confirmation (and shipment notice) went out as an .eml file.
    assert len(list(demo_orders["mail_dir"].glob("*-confirmation-*.eml"))) == ORDERS
    assert list(demo_orders["mail_dir"].glob("*-shipment-*.eml"))


def test_demo_orders_show_every_flow(demo_orders, app):
    orders = list(db.session.scalars(select(Order)))
    statuses = Counter((o.status, o.fulfillment_status) for o in orders)
    assert statuses[(OPEN, UNFULFILLED)] >= 2  # waiting to be shipped
    assert sum(n for (s, f), n in statuses.items() if f == FULFILLED) >= 3
    assert sum(n for (s, f), n in statuses.items() if f == PARTIALLY_FULFILLED) >= 1
    assert sum(n for (s, _f), n in statuses.items() if s == CANCELLED) == 1

    warehouse, support = staff("warehouse"), staff("support")
    parcels = list(db.session.scalars(select(Fulfillment).where(Fulfillment.status == SHIPPED)))
    assert parcels and all(p.carrier and p.tracking_number for p in parcels)
    assert {p.created_by_id for p in parcels} == {warehouse.id}

    refunds = list(db.session.scalars(select(Refund)))
    succeeded = [r for r in refunds if r.status == REFUND_SUCCEEDED]
    assert len(succeeded) >= 3  # partial refunds and the cancellation's
    assert all(r.requested_by_id == support.id and r.reason for r in refunds)
    assert len({r.idempotency_key for r in refunds}) == len(refunds)
    partial = [r for r in succeeded if r.amount < r.order.paid_total]
    assert len(partial) >= 2
    # The support member's big refund waits in the admin's approval queue.
    waiting = [r for r in refunds if r.status == REFUND_AWAITING_APPROVAL]
    assert len(waiting) == 1 == count_refunds_awaiting_approval()
    assert waiting[0].amount > app.config["REFUND_APPROVAL_LIMIT"]

    # Every refund that went through got its credit note when the outbox was dispatched.
    assert dispatch_pending() == 0
    assert count(OutboxEvent, OutboxEvent.dispatched_at.is_(None)) == 0
    notes = {
        d.refund_id
        for d in db.session.scalars(select(Document).where(Document.kind == CREDIT_NOTE))
    }
    assert notes == {r.id for r in succeeded}

    returns = list(db.session.scalars(select(Return)))
    assert [(r.status, r.opened_by_customer) for r in returns] == [(RETURN_OPEN, True)]

    events = list(db.session.scalars(select(OrderEvent)))
    kinds = Counter(e.kind for e in events)
    assert kinds["note"] >= 2 and kinds["comment"] >= 1
    assert {e.actor_id for e in events if e.kind in ("note", "comment")} == {support.id}
    assert {e.actor_id for e in events if e.kind == "fulfillment.shipped"} == {warehouse.id}
    for order in orders:
        assert refund_discrepancies(order) == []

    # The demo is a working shop: the admin can approve the queued refund.
    approved = approve_refund(waiting[0], by=staff("admin"))
    assert approved.status == REFUND_SUCCEEDED
    dispatch_pending()
    assert count(Document, Document.refund_id == approved.id) == 1


def test_demo_orders_keep_stock_and_ledger_consistent(demo_orders):
    assert reconcile() == []
    assert unbalanced_levels() == []
    shipped_units = db.session.scalar(
        select(func.sum(FulfillmentLine.quantity))
        .join(Fulfillment)
        .where(Fulfillment.status == SHIPPED)
    )
    sold = -db.session.scalar(
        select(func.sum(StockMovement.delta)).where(StockMovement.reason == SOLD)
    )
    assert sold == shipped_units > 0


def test_demo_order_timelines_read_in_order(demo_orders):
    """Backdating moved each order's own records together: nothing happens before the order
    was placed or after now, each timeline reads in the order it was written, and the shipped
    parcels and refunds agree with their timeline entries."""
    now = utcnow()
    for order in db.session.scalars(select(Order)):
        times = [e.created_at for e in order.events]
        assert times == sorted(times), order.name
        assert order.placed_at <= times[0] and times[-1] <= now
        shipped = {
            e.data.get("fulfillment_id"): e.created_at
            for e in order.events
            if e.kind == "fulfillment.shipped"
        }
        for parcel in order.fulfillments:
            assert order.placed_at < parcel.created_at <= (parcel.shipped_at or now) <= now
            if parcel.shipped_at:
                assert abs(shipped[parcel.id] - parcel.shipped_at) < timedelta(seconds=5)
        for refund in order.refunds:
            assert order.placed_at < refund.created_at <= (refund.completed_at or now) <= now
        if order.cancelled_at:
            assert order.placed_at < order.cancelled_at <= now


def test_second_load_adds_no_orders(demo_orders):
    before = table_counts()
    messages: list[str] = []
    again = load_demo(products=30, orders=ORDERS, seed=3, progress=messages.append)
    assert table_counts() == before
    assert again["created"] is False and again["orders"] == ORDERS
    assert any("already has" in m for m in messages)


def test_demo_load_command_takes_an_orders_option(app, mail_dir):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["demo", "load", "--products", "20", "--orders", "4"])
    assert result.exit_code == 0, result.output
    assert "4 orders over the last" in result.output
    assert "20 products" in result.output and "4 orders in" in result.output
    assert count(Order) == 4
    again = runner.invoke(args=["demo", "load", "--orders", "4", "--quiet"])
    assert "nothing loaded" in again.output and "4 orders" in again.output
    assert count(Order) == 4
    bad = runner.invoke(args=["demo", "load", "--orders", "-1"])
    assert bad.exit_code == 2


def test_the_demo_keeps_the_readme_promise_tshrt_finds_t_shirts(demo):
    """README: "tshrt" finds T-shirts (the typo itself: tests/commerce/search), so the demo
    sells T-shirts; did-you-mean offers shoppers' words, never a SKU code ("SHRT")."""
    from commerce.demo.data import TOPS
    from commerce.search.suggest import current_vocabulary, did_you_mean

    assert "T-Shirt" in TOPS.nouns
    assert db.session.scalar(select(func.count()).where(Product.title.like("%Shirt%")))
    assert not current_vocabulary().knows("shrt", prefix=False)
    assert did_you_mean("shrtx") != "shrt"


def test_demo_shop_has_something_on_every_back_office_page(demo_orders):
    """The extras loaded after the orders: a gift card product and issued cards, store
    credit, purchase orders, a bundle, a draft order and abandoned checkouts, each made by the
    services staff use (so audited and booked through the ledgers)."""
    from commerce.abandoned.queries import list_abandoned
    from commerce.catalog.bundles import components_of
    from commerce.drafts.models import DraftOrder
    from commerce.giftcards.models import GiftCard, StoreCredit
    from commerce.purchasing.models import PurchaseOrder

    card_product = db.session.scalar(select(Product).where(Product.is_gift_card.is_(True)))
    assert card_product is not None
    assert sorted(v.price for v in card_product.variants) == [2500, 5000, 10000]
    cards = db.session.scalars(select(GiftCard).order_by(GiftCard.id)).all()
    assert [(c.status, c.balance) for c in cards] == [
        ("active", 5000),
        ("active", 7500),
        ("deactivated", 2500),
    ]
    credit = db.session.scalar(select(StoreCredit))
    assert credit is not None and credit.balance == 1500
    statuses = sorted(po.status for po in db.session.scalars(select(PurchaseOrder)))
    assert statuses == ["draft", "partly_received"]
    kit = db.session.scalar(select(Variant).where(Variant.sku == "KIT-WEEKEND"))
    assert kit is not None and len(components_of([kit.id])[kit.id]) == 3
    draft = db.session.scalar(select(DraftOrder))
    assert draft is not None and draft.status == "open" and len(draft.lines) == 2
    assert draft.shipping_method_code
    assert len(list_abandoned().rows) == 2
    assert reconcile() == [] and unbalanced_levels() == []

"""Walk every console route as every role and as an anonymous visitor.

The expected allow/deny table is written out here, independently of the code's role table,
so a change to who may do what must be made (and reviewed) in two places.
"""

from __future__ import annotations

import re

import pytest

from commerce.catalog.media import add_external_image
from commerce.catalog.taxonomy import create_category, create_collection
from commerce.extensions import db
from commerce.jobs import create_job
from commerce.staff.permissions import PERMISSIONS, ROLES
from console.permissions import PUBLIC, ROUTE_PERMISSIONS
from tests.conftest import sign_in

ALL_STAFF = set(ROLES)
EXPECTED_ROLES = {
    "dashboard.view": ALL_STAFF,
    "catalog.view": ALL_STAFF,
    "catalog.edit": {"admin", "merchandiser"},
    "catalog.bulk_edit": {"admin", "merchandiser"},
    "catalog.import": {"admin", "merchandiser"},
    "catalog.export": {"admin", "merchandiser"},
    "inventory.view": ALL_STAFF,
    "inventory.edit": {"admin", "warehouse"},
    "orders.view": {"admin", "warehouse", "support"},
    "orders.edit": {"admin", "support"},
    "orders.fulfill": {"admin", "warehouse"},
    "orders.refund": {"admin", "support"},
    "orders.refund_approve": {"admin"},
    "orders.export": {"admin", "support"},
    "orders.drafts": {"admin", "support"},
    "orders.mark_paid": {"admin"},
    "payments.manage": {"admin", "support"},
    "giftcards.view": {"admin", "support"},
    "giftcards.manage": {"admin", "support"},
    "promotions.view": {"admin", "merchandiser"},
    "promotions.edit": {"admin", "merchandiser"},
    "search.view": {"admin", "merchandiser"},
    "search.edit": {"admin", "merchandiser"},
    "reports.view": {"admin", "merchandiser"},
    "audit.view": {"admin"},
    "staff.manage": {"admin"},
    "settings.manage": {"admin"},
}


def console_rules(app):
    return [r for r in app.url_map.iter_rules() if r.endpoint.startswith("console.")]


def test_every_console_route_declares_a_known_permission(app):
    for rule in console_rules(app):
        assert rule.endpoint in ROUTE_PERMISSIONS, (
            f"{rule.rule} ({rule.endpoint}) declares no permission"
        )
        permission = ROUTE_PERMISSIONS[rule.endpoint]
        assert permission == PUBLIC or permission in PERMISSIONS
        view = app.view_functions[rule.endpoint]
        assert getattr(view, "required_permission", None) == permission
    assert set(EXPECTED_ROLES) == set(PERMISSIONS), "update EXPECTED_ROLES for new permissions"


def _fixtures(make_product, owner):
    product = make_product(options=[("Size", ["S", "M"])])
    media = add_external_image(product, url="https://img.example.com/a.png", by=None)
    category = create_category(name="Walk category", by=None)
    collection = create_collection(title="Walk collection", by=None)
    from commerce.staff.services import create_staff

    target = create_staff(
        f"target-{owner.id}@example.com", role="support", password="long-enough-1", by=None
    )
    job = create_job("catalog_import", title="Walk job", params={}, by=owner)
    order = _placed_order()
    promotion, code = _promotion()
    synonym, rule = _search_merchandising(product)
    from commerce.drafts.services import create_draft

    draft = create_draft(email="walk-draft@example.com", by=owner)
    draft.lines = [[order.lines[0].variant_id, 1]]  # a line priced on the draft's page
    po = _purchase_order(make_product())  # not `product`: the walk deletes that one
    card, _ = _gift_card_and_credit(owner)
    return {
        "draft_id": draft.id,
        "card_id": card.id,
        "customer_id": _customer().id,
        "order_id": order.id,
        "product_id": product.id,
        "variant_id": product.variants[0].id,
        "media_id": media.id,
        "category_id": category.id,
        "collection_id": collection.id,
        "staff_id": target.id,
        "job_id": job.id,
        "batch_id": _bulk_edit_batch(product, owner).id,
        "field": "price",
        "token": "not-a-token",
        "path": "x.png",
        "upload_id": "missing",
        "promotion_id": promotion.id,
        "code_id": code.id,
        "group": "conditions",
        "synonym_id": synonym.id,
        "rule_id": rule.id,
        "session_id": 999999,  # not the walker's own session (ending that signs out)
        **_stock_documents(make_product(), owner),
        "po_id": po.id,
        "line_id": po.lines[0].id,
        "supplier_id": po.supplier_id,
    }


def _bulk_edit_batch(product, owner):
    """A bulk edit batch, so its page and its undo run against data."""
    from commerce.catalog.bulk_edit import PlannedChange, apply_changes

    variant = product.variants[0]
    change = PlannedChange(product.id, variant.id, "weight_grams", None, 10, "Walk variant")
    return apply_changes([change], by=owner)


def _stock_documents(product, owner):
    """A transfer on the road and an open count, so the inventory routes run against data
    (of a product of their own: the walk deletes the other one)."""
    from commerce.inventory.count_sessions import start_count_session
    from commerce.inventory.locations import create_location
    from commerce.inventory.services import receive_stock
    from commerce.inventory.transfers import create_transfer, ship_transfer

    variant = product.variants[0]
    here = create_location(name=f"Walk A {owner.id}", code=f"WA{owner.id}", by=None)
    there = create_location(name=f"Walk B {owner.id}", code=f"WB{owner.id}", by=None)
    receive_stock(variant.id, quantity=5, location_id=here.id, by=None)
    transfer = create_transfer(
        origin_id=here.id, destination_id=there.id, lines=[(variant.id, 2)], by=None
    )
    ship_transfer(transfer.id, by=None)
    count = start_count_session(location_id=here.id, by=None)
    return {"transfer_id": transfer.id, "count_id": count.id}


def _purchase_order(product):
    """A supplier and a draft purchase order with one line, for the purchasing routes."""
    from commerce.inventory.models import Location
    from commerce.purchasing.services import create_purchase_order, create_supplier

    location = Location(name="Walk warehouse", code=f"WW{product.id}", priority=1)
    db.session.add(location)
    db.session.commit()
    supplier = create_supplier(by=None, name=f"Walk supplier {product.id}", currency="USD")
    return create_purchase_order(
        by=None,
        supplier_id=supplier.id,
        location_id=location.id,
        lines=[(product.variants[0].id, 5, 100)],
    )


def _customer():
    from commerce.customers.models import Customer
    from commerce.extensions import db

    customer = Customer(email="walker@example.com", name="Walker", password_hash="x")
    db.session.add(customer)
    db.session.commit()
    return customer


def _gift_card_and_credit(owner):
    """A gift card with a ledger, so the gift card routes run against data."""
    from commerce.giftcards.services import adjust_gift_card, issue_gift_card

    card, code = issue_gift_card(amount=2500, note="Walk", by=owner)
    adjust_gift_card(card, amount=-500, reason="Walk", by=owner)
    return card, code


def _search_merchandising(product):
    """A synonym group and a query rule, so the search routes run against data."""
    from commerce.search.rules import add_synonym, create_rule

    synonym = add_synonym(terms=["walk", "stroll"], by=None)
    rule = create_rule(query="walk", pinned_ids=[product.id], by=None)
    return synonym, rule


def _promotion():
    """A promotion with a code, so the promotion routes run against data."""
    from commerce.promotions.coupons import add_coupon_code
    from commerce.promotions.services import create_promotion

    promotion = create_promotion(
        by=None,
        name="Walk promotion",
        actions=[{"kind": "percent_off_order", "params": {"percent": "10"}}],
    )
    return promotion, add_coupon_code(promotion, code=f"WALK{promotion.id}", by=None)


def _placed_order():
    """A real order, so the order routes run against data rather than answer 404."""
    from commerce.checkout.cart import add_to_cart
    from commerce.checkout.services import (
        choose_shipping_method,
        place_order,
        save_information,
        start_checkout,
    )
    from tests.conftest import TEST_CARD, US_ADDRESS, build_checkout_shop

    shop = build_checkout_shop()
    checkout = start_checkout(add_to_cart(None, variant_id=shop.small, quantity=1))
    save_information(checkout, email="walk@example.com", address=US_ADDRESS)
    choose_shipping_method(checkout, code="STD")
    return place_order(checkout.key, card=TEST_CARD).order


def _url(rule, values):
    url = rule.rule
    for name in rule.arguments:
        url = re.sub(rf"<(?:[a-z]+:)?{name}>", str(values.get(name, 1)), url)
    return url


@pytest.mark.parametrize("role", [None, *ROLES])
def test_route_walk(app, role, make_staff, make_product, monkeypatch):
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", False)
    client = app.test_client()
    member = make_staff(role or "admin")
    if role is not None:
        assert sign_in(client, member).status_code == 303
    values = _fixtures(make_product, member)
    checked = 0
    for rule in console_rules(app):
        permission = ROUTE_PERMISSIONS[rule.endpoint]
        if rule.endpoint in ("console.logout",):
            continue
        for method in sorted((rule.methods or set()) & {"GET", "POST"}):
            url = _url(rule, values)
            response = client.open(url, method=method, data={})
            checked += 1
            where = f"{method} {url} as {role or 'anonymous'} (needs {permission})"
            assert response.status_code < 500, where
            if permission == PUBLIC:
                assert response.status_code != 403, where
            elif role is None:
                assert response.status_code == 302, where
                assert "/console/login" in response.headers["Location"], where
            elif role in EXPECTED_ROLES[permission]:
                assert response.status_code not in (401, 403), where
            else:
                assert response.status_code == 403, where
            # A streamed export holds its request context until closed: close it before the
            # next request, as a server does (two open streams would pop each other's context).
            response.close()
    assert checked > 30

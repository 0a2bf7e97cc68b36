"""Purchase orders through the Admin API: draft, order, receive (a retried key books once, an
over-receipt needs `accept_over`), cancel; errors at their JSON pointers; scopes."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from commerce.extensions import db
from commerce.inventory.locations import create_location
from commerce.inventory.models import StockLevel
from commerce.purchasing.services import create_supplier
from tests.api.conftest import Api


@pytest.fixture
def shop(app, make_product):
    location = create_location(name="Main", code="M1", by=None, priority=1)
    supplier = create_supplier(by=None, name="Kiln & Co", currency="USD", lead_time_days=3)
    mug = make_product("Mug", sku="API-MUG").variants[0]
    return location, supplier, mug


def on_hand(variant_id):
    return sum(
        db.session.scalars(select(StockLevel.on_hand).where(StockLevel.variant_id == variant_id))
    )


def test_draft_order_receive_and_read(api, shop):
    location, supplier, mug = shop
    created = api.post(
        "/api/v1/purchase-orders",
        json={
            "supplier_id": supplier.id,
            "location_id": location.id,
            "expected_on": "2026-12-28",
            "lines": [{"variant_id": mug.id, "quantity": 10, "unit_cost": 425}],
        },
    )
    assert created.status_code == 201, created.get_json()
    po = created.get_json()
    assert (po["status"], po["currency"], po["total"]) == ("draft", "USD", 4250)
    assert api.post(f"/api/v1/purchase-orders/{po['id']}/order").get_json()["status"] == "ordered"

    line = po["lines"][0]["id"]
    body = {"line_id": line, "quantity": 4}
    first = api.post(f"/api/v1/purchase-orders/{po['id']}/receive", json=body, key="recv-1")
    again = api.post(f"/api/v1/purchase-orders/{po['id']}/receive", json=body, key="recv-1")
    assert first.status_code == again.status_code == 201
    assert first.get_json()["lines"][0]["received"] == 4
    assert on_hand(mug.id) == 4, "the retried key booked once"

    over = api.post(f"/api/v1/purchase-orders/{po['id']}/receive", json={**body, "quantity": 9})
    assert over.status_code == 409 and over.get_json()["type"].endswith("problem-over_receipt")
    taken = api.post(
        f"/api/v1/purchase-orders/{po['id']}/receive",
        json={**body, "quantity": 9, "accept_over": True},
    )
    assert taken.get_json()["status"] == "received" and on_hand(mug.id) == 13

    listed = api.get("/api/v1/purchase-orders?status=all").get_json()["data"]
    assert [p["number"] for p in listed] == [po["number"]]
    assert api.get("/api/v1/suppliers").get_json()["data"][0]["name"] == "Kiln & Co"


def test_errors_land_at_their_pointers(api, shop):
    location, supplier, _ = shop
    bad = api.post(
        "/api/v1/purchase-orders",
        json={"supplier_id": 999, "location_id": location.id, "lines": []},
    )
    assert bad.status_code == 422
    assert "/supplier_id" in str(bad.get_json())
    po = api.post(
        "/api/v1/purchase-orders",
        json={"supplier_id": supplier.id, "location_id": location.id, "lines": []},
    ).get_json()
    refused = api.post(f"/api/v1/purchase-orders/{po['id']}/order")
    assert refused.status_code == 422, "an empty draft is not ordered"
    cancelled = api.post(f"/api/v1/purchase-orders/{po['id']}/cancel", json={"reason": "dup"})
    assert cancelled.get_json()["status"] == "cancelled"
    assert api.post(f"/api/v1/purchase-orders/{po['id']}/cancel", json={}).status_code == 409


def test_reading_needs_inventory_read_and_writing_inventory_write(app, make_token, shop):
    _, secret = make_token(["inventory:read"])
    reader = Api(app.test_client(), secret)
    assert reader.get("/api/v1/purchase-orders").status_code == 200
    location, supplier, _ = shop
    denied = reader.post(
        "/api/v1/purchase-orders", json={"supplier_id": supplier.id, "location_id": location.id}
    )
    assert denied.status_code == 403

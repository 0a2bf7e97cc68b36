"""Unavailable stock through HTTP: set units aside as damaged or in quality control, release
them, set the safety stock; the stock page and the overview show them; errors at the field."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from commerce.extensions import db
from commerce.inventory.models import StockLevel, StockMovement
from commerce.inventory.services import availability, receive_stock, reconcile
from tests.commerce.inventory.conftest import add_location


@pytest.fixture
def stocked(app, make_product):
    location = add_location("Main")
    variant = make_product("Enamel Mug", sku="MUG-U").variants[0]
    receive_stock(variant.id, quantity=10, location_id=location.id, by=None)
    db.session.commit()
    return variant.id, location.id


def level(variant_id: int) -> StockLevel:
    db.session.expire_all()
    return db.session.scalar(select(StockLevel).where(StockLevel.variant_id == variant_id))


def test_set_aside_release_and_safety_stock(client, login, stocked):
    variant_id, location_id = stocked
    login("warehouse")
    page = client.get(f"/console/inventory/variants/{variant_id}").get_data(as_text=True)
    assert "Not for sale" in page and "Set safety stock" in page

    aside = client.post(
        f"/console/inventory/variants/{variant_id}/set-aside",
        data={
            "action": "set_aside",
            "state": "damaged",
            "location_id": str(location_id),
            "quantity": "3",
            "reason": "dented in transit",
        },
    )
    assert aside.status_code == 303
    assert (level(variant_id).damaged, level(variant_id).available) == (3, 7)
    client.post(
        f"/console/inventory/variants/{variant_id}/set-aside",
        data={
            "action": "set_aside",
            "state": "quality_control",
            "location_id": str(location_id),
            "quantity": "2",
            "reason": "batch check",
        },
    )
    safety = client.post(
        f"/console/inventory/variants/{variant_id}/safety-stock",
        data={"location_id": str(location_id), "units": "4"},
    )
    assert safety.status_code == 303
    now = level(variant_id)
    assert (now.on_hand, now.damaged, now.quality_control, now.safety_stock) == (10, 3, 2, 4)
    assert availability([variant_id])[variant_id].available == 1

    # More than is available: refused at the field, nothing written.
    refused = client.post(
        f"/console/inventory/variants/{variant_id}/set-aside",
        data={
            "action": "set_aside",
            "state": "damaged",
            "location_id": str(location_id),
            "quantity": "2",
            "reason": "more",
        },
    )
    assert refused.status_code == 422
    assert "Only 1 available to set aside" in refused.get_data(as_text=True)
    released = client.post(
        f"/console/inventory/variants/{variant_id}/set-aside",
        data={
            "action": "release",
            "state": "quality_control",
            "location_id": str(location_id),
            "quantity": "2",
            "reason": "passed",
        },
    )
    assert released.status_code == 303
    assert level(variant_id).available == 3

    written_off = client.post(
        f"/console/inventory/variants/{variant_id}/set-aside",
        data={
            "action": "write_off",
            "state": "damaged",
            "location_id": str(location_id),
            "quantity": "1",
            "reason": "beyond repair",
        },
    )
    assert written_off.status_code == 303
    now = level(variant_id)
    assert (now.on_hand, now.damaged, now.available) == (9, 2, 3)  # available unchanged

    page = client.get(f"/console/inventory/variants/{variant_id}").get_data(as_text=True)
    assert "dented in transit" in page and "Set aside (not for sale)" in page
    overview = client.get("/console/inventory?q=MUG-U").get_data(as_text=True)
    assert "Unavailable" in overview
    buckets = db.session.scalars(select(StockMovement.bucket).order_by(StockMovement.id)).all()
    assert buckets == [
        "on_hand",
        "damaged",
        "quality_control",
        "safety_stock",
        "quality_control",
        "damaged",
        "on_hand",
    ]
    assert reconcile() == []


def test_a_reason_is_required(client, login, stocked):
    variant_id, location_id = stocked
    login("warehouse")
    response = client.post(
        f"/console/inventory/variants/{variant_id}/set-aside",
        data={
            "action": "set_aside",
            "state": "damaged",
            "location_id": str(location_id),
            "quantity": "1",
            "reason": "",
        },
    )
    assert response.status_code == 422
    assert level(variant_id).damaged == 0


def test_support_cannot_set_stock_aside(client, login, stocked):
    variant_id, location_id = stocked
    login("support")
    response = client.post(
        f"/console/inventory/variants/{variant_id}/safety-stock",
        data={"location_id": str(location_id), "units": "4"},
    )
    assert response.status_code == 403
    assert level(variant_id).safety_stock == 0

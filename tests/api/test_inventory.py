"""Inventory through the API: the same ledger rows, counters and audit as the console."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from commerce.audit import AuditEntry
from commerce.extensions import db
from commerce.inventory.locations import create_location
from commerce.inventory.models import StockLevel, StockMovement
from tests.console.test_inventory import key_of

URL = "/api/v1/inventory"


@pytest.fixture
def wh(app):
    return create_location(name="Main warehouse", code="WH1", by=None, priority=1)


@pytest.fixture
def store(app):
    return create_location(name="City store", code="ST1", by=None, kind="store", priority=2)


@pytest.fixture
def tee(make_product):
    return make_product("Black Tee", sku="TEE-BLK", barcode="4006381333931").variants[0]


def _level(variant_id, location_id):
    return db.session.scalar(
        select(StockLevel).where(
            StockLevel.variant_id == variant_id, StockLevel.location_id == location_id
        )
    )


def _ledger(variant_id):
    rows = db.session.execute(
        select(StockMovement.delta, StockMovement.reason, StockMovement.reference)
        .join(StockLevel, StockLevel.id == StockMovement.stock_level_id)
        .where(StockLevel.variant_id == variant_id)
        .order_by(StockMovement.id)
    )
    return [tuple(r) for r in rows]


def test_receive_moves_the_ledger_as_the_console_does(api, client, login, wh, tee, make_product):
    """The console's scan-receive and the API's receive of one variant each write one
    `received` row, raise on_hand by the same amount, and audit `stock.receive`."""
    login("warehouse")
    form = client.post(
        "/console/inventory/receive", data={"code": tee.barcode, "location_id": wh.id}
    )
    booked = client.post(
        "/console/inventory/receive",
        data={
            "code": tee.barcode,
            "variant_id": tee.id,
            "quantity": "12",
            "location_id": wh.id,
            "key": key_of(form.get_data(as_text=True)),
        },
    )
    assert booked.status_code in (200, 303)
    console_ledger = _ledger(tee.id)
    assert _level(tee.id, wh.id).on_hand == 12

    response = api.post(
        f"{URL}/receive", json={"variant_id": tee.id, "location_id": wh.id, "quantity": 12}
    )
    assert response.status_code == 201, response.get_data(as_text=True)
    body = response.get_json()
    assert body["movements"][0]["delta"] == 12 and body["movements"][0]["reason"] == "received"
    assert body["levels"][0]["on_hand"] == 24 and body["levels"][0]["sku"] == "TEE-BLK"
    ledger = _ledger(tee.id)
    assert ledger == console_ledger * 2  # the same row, twice
    assert _level(tee.id, wh.id).on_hand == 24
    audits = db.session.scalars(
        select(AuditEntry).where(AuditEntry.action == "stock.receive").order_by(AuditEntry.id)
    ).all()
    by_console, by_token = audits[-2], audits[-1]
    assert by_console.after == by_token.after
    assert by_console.actor_token_id is None and by_console.actor_id is not None
    assert by_token.actor_token_id == api.token.id and by_token.actor_id is None


def test_replayed_receive_books_once(api, wh, tee):
    payload = {"variant_id": tee.id, "location_id": wh.id, "quantity": 5}
    first = api.post(f"{URL}/receive", json=payload, key="po-1001")
    again = api.post(f"{URL}/receive", json=payload, key="po-1001")
    assert first.status_code == again.status_code == 201
    assert again.get_json() == first.get_json()
    assert _level(tee.id, wh.id).on_hand == 5
    assert len(_ledger(tee.id)) == 1


def test_adjust_and_transfer(api, wh, store, tee):
    api.post(f"{URL}/receive", json={"variant_id": tee.id, "location_id": wh.id, "quantity": 10})
    damaged = api.post(
        f"{URL}/adjust",
        json={"variant_id": tee.id, "location_id": wh.id, "delta": -2, "reason": "damaged"},
    )
    assert damaged.status_code == 201, damaged.get_data(as_text=True)
    moved = api.post(
        f"{URL}/transfer",
        json={
            "variant_id": tee.id,
            "from_location_id": wh.id,
            "to_location_id": store.id,
            "quantity": 3,
        },
    )
    assert moved.status_code == 201, moved.get_data(as_text=True)
    assert [m["delta"] for m in moved.get_json()["movements"]] == [-3, 3]
    assert _level(tee.id, wh.id).on_hand == 5
    assert _level(tee.id, store.id).on_hand == 3


def test_taking_more_than_available_is_409(api, wh, tee):
    response = api.post(
        f"{URL}/adjust",
        json={"variant_id": tee.id, "location_id": wh.id, "delta": -1, "reason": "lost"},
    )
    assert response.status_code == 409
    body = response.get_json(force=True)
    assert body["type"].endswith("out_of_stock")
    assert body["errors"][0]["pointer"] == "/quantity"


def test_wrong_sign_and_unknown_variant_are_422(api, wh, tee):
    wrong = api.post(
        f"{URL}/adjust",
        json={"variant_id": tee.id, "location_id": wh.id, "delta": 2, "reason": "damaged"},
    )
    assert wrong.status_code == 422
    unknown = api.post(f"{URL}/receive", json={"variant_id": 999999, "quantity": 1})
    assert unknown.status_code == 422
    assert unknown.get_json(force=True)["errors"][0]["pointer"] == "/variant_id"


def test_levels_and_movements_pages(api, wh, store, tee):
    for location in (wh, store):
        api.post(
            f"{URL}/receive", json={"variant_id": tee.id, "location_id": location.id, "quantity": 4}
        )
    levels = api.get(f"{URL}/levels?variant_id={tee.id}").get_json()["data"]
    assert {(lv["location_id"], lv["available"]) for lv in levels} == {(wh.id, 4), (store.id, 4)}
    first = api.get(f"{URL}/movements?variant_id={tee.id}&limit=1").get_json()
    assert len(first["data"]) == 1 and first["links"]["next"]
    second = api.get(first["links"]["next"]).get_json()
    assert second["data"][0]["id"] > first["data"][0]["id"]
    at_store = api.get(f"{URL}/levels?location_id={store.id}").get_json()["data"]
    assert [lv["location_id"] for lv in at_store] == [store.id]


def test_locations(api, wh, store):
    codes = [loc["code"] for loc in api.get("/api/v1/locations").get_json()["data"]]
    assert codes.index("WH1") < codes.index("ST1")


def test_inventory_read_cannot_receive(api_as, wh, tee):
    client = api_as("inventory:read")
    response = client.post(f"{URL}/receive", json={"variant_id": tee.id, "quantity": 1})
    assert response.status_code == 403

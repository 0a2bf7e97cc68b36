"""Idempotency keys under real concurrency (PostgreSQL, real commits, real threads): a repeat
that arrives while the first request runs is told 409; a crowd of repeats books once."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from commerce.catalog.services import create_product
from commerce.extensions import db
from commerce.inventory.models import Location, StockLevel, StockMovement
from commerce.staff.tokens import create_token
from tests.concurrency.conftest import race_app, run_together, unexpected  # noqa: F401

pytestmark = pytest.mark.postgres
URL = "/api/v1/inventory/receive"


def _shop() -> tuple[int, int, str]:
    location = Location(name="Main", code="WH", priority=1)
    db.session.add(location)
    db.session.commit()
    variant = create_product(title="Tee", sku="TEE", price=500, by=None).variants[0]
    _, secret = create_token("ERP", scopes=["inventory:write"], by=None)
    return variant.id, location.id, secret


def _post(client, secret, body, key="po-1"):
    return client.post(
        URL, json=body, headers={"Authorization": f"Bearer {secret}", "Idempotency-Key": key}
    )


def test_a_repeat_during_the_first_is_409(race_app, monkeypatch):  # noqa: F811
    import api.inventory as endpoints

    variant_id, location_id, secret = _shop()
    body = {"variant_id": variant_id, "location_id": location_id, "quantity": 3}
    entered, release = threading.Event(), threading.Event()
    real = endpoints.receive_stock

    def slow_receive(*args, **kwargs):
        entered.set()
        assert release.wait(30)
        return real(*args, **kwargs)

    monkeypatch.setattr(endpoints, "receive_stock", slow_receive)
    first: dict = {}

    def run_first():
        with race_app.app_context():
            first["response"] = _post(race_app.test_client(), secret, body)
            db.session.remove()

    thread = threading.Thread(target=run_first, daemon=True)
    thread.start()
    assert entered.wait(30)
    repeat = _post(race_app.test_client(), secret, body)
    release.set()
    thread.join(30)
    assert repeat.status_code == 409, repeat.get_data(as_text=True)
    assert repeat.headers["Retry-After"] == "1"
    assert first["response"].status_code == 201
    replay = _post(race_app.test_client(), secret, body)
    assert replay.status_code == 201 and replay.get_json() == first["response"].get_json()


def test_a_crowd_of_repeats_books_once(race_app):  # noqa: F811
    variant_id, location_id, secret = _shop()
    body = {"variant_id": variant_id, "location_id": location_id, "quantity": 7}
    outcomes = run_together(
        race_app, 8, lambda _i: _post(race_app.test_client(), secret, body).status_code
    )
    assert not unexpected(outcomes)
    codes = [o.value for o in outcomes]
    assert codes.count(201) >= 1 and set(codes) <= {201, 409}
    assert db.session.scalar(select(func.count()).select_from(StockMovement)) == 1
    assert db.session.scalar(select(StockLevel.on_hand)) == 7

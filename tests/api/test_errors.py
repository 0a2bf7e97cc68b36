"""Every failure is a problem+json answer with the request id, and a POST that failed on our
side frees its Idempotency-Key so the retry does the work."""

from __future__ import annotations

from sqlalchemy import func, select

from commerce.catalog.models import Product
from commerce.extensions import db

URL = "/api/v1/products"
NEW = {"title": "Wool hat", "price": {"amount": 2000, "currency": "USD"}}


def test_wrong_method_is_405_with_allow(api):
    response = api.client.delete(URL, headers=api.headers())
    assert response.status_code == 405
    assert response.mimetype == "application/problem+json"
    assert "GET" in response.headers["Allow"] and response.headers["X-Request-Id"]


def test_unknown_body_field_is_422_at_its_pointer(api):
    response = api.post(URL, json={**NEW, "colour": "red"})
    assert response.status_code == 422
    assert [e["pointer"] for e in response.get_json(force=True)["errors"]] == ["/colour"]


def test_a_server_error_is_a_problem_and_frees_the_key(app, api, monkeypatch):
    import api.products as endpoints

    monkeypatch.setitem(app.config, "PROPAGATE_EXCEPTIONS", False)
    real = endpoints.create_product

    def broken(**kwargs):
        raise RuntimeError("the disk is on fire")

    monkeypatch.setattr(endpoints, "create_product", broken)
    failed = api.post(URL, json=NEW, key="hat-1")
    assert failed.status_code == 500
    body = failed.get_json(force=True)
    assert body["status"] == 500 and "fire" not in failed.get_data(as_text=True)
    monkeypatch.setattr(endpoints, "create_product", real)
    before = db.session.scalar(select(func.count()).select_from(Product))
    retried = api.post(URL, json=NEW, key="hat-1")
    assert retried.status_code == 201, retried.get_data(as_text=True)
    assert "Idempotent-Replayed" not in retried.headers
    assert db.session.scalar(select(func.count()).select_from(Product)) == before + 1

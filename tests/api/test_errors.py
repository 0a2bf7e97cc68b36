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


def test_an_id_past_the_column_is_404_for_any_method(api):
    """Found by schemathesis: the shop's GET catch-all made a PATCH of such a URL a 405."""
    url = "/api/v1/categories/1680614764204721"
    assert api.get(url).status_code == 404
    response = api.patch(url, json={"name": "x"}, headers={"If-Match": "*"})
    assert response.status_code == 404 and response.mimetype == "application/problem+json"
    assert api.client.delete("/api/v1/categories/1", headers=api.headers()).status_code == 405


def test_text_a_column_cannot_hold_is_refused_at_the_field(api):
    """Found by schemathesis: a NUL in a name reached PostgreSQL (500)."""
    response = api.post("/api/v1/categories", json={"name": "Tops\u0000"})
    assert response.status_code == 422
    assert response.get_json(force=True)["errors"][0]["pointer"] == "/name"
    huge = api.post("/api/v1/inventory/receive", json={"variant_id": 1, "quantity": 2**40})
    assert huge.status_code == 422
    assert huge.get_json(force=True)["errors"][0]["pointer"] == "/quantity"

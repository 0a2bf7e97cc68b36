"""The OpenAPI document: served, described on a local page, and checked in up to date."""

from __future__ import annotations

import json

from api.docs import document_text
from commerce.config import ROOT

CHECKED_IN = ROOT / "docs" / "openapi.json"


def test_checked_in_document_is_up_to_date(app):
    """Fails when the API changed without the document: regenerate it with
    `.venv/bin/flask api spec > docs/openapi.json` and commit it with the change."""
    with app.test_request_context():
        generated = document_text()
    assert CHECKED_IN.read_text() == generated, (
        "docs/openapi.json is stale: run `flask api spec > docs/openapi.json`"
    )


def test_served_document(app, client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    document = response.get_json()
    assert document["openapi"].startswith("3.1")
    assert document["components"]["securitySchemes"]["token"]["scheme"] == "bearer"
    listing = document["paths"]["/api/v1/products"]["get"]
    assert listing["security"] == [{"token": ["products:read"]}]
    assert "application/problem+json" in listing["responses"]["401"]["content"]
    operations = {
        o["operationId"] for methods in document["paths"].values() for o in methods.values()
    }
    assert {"list_products", "receive", "create_fulfillment", "cancel_order"} <= operations
    assert {
        "list_categories",
        "create_collection",
        "list_product_media",
        "quote_refund",
        "open_return",
        "receive_return",
        "list_promotions",
        "generate_codes",
    } <= operations
    post = document["paths"]["/api/v1/orders/{order_id}/returns"]["post"]
    assert {"name": "Idempotency-Key", "in": "header", "required": True}.items() <= next(
        p for p in post["parameters"] if p["name"] == "Idempotency-Key"
    ).items()


def test_every_operation_declares_a_scope(app, client):
    document = client.get("/api/v1/openapi.json").get_json()
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            assert operation.get("security"), f"{method} {path} has no scope"


def test_docs_page_is_local(client):
    page = client.get("/api/v1/docs")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "/api/v1/inventory/receive" in html and "inventory:write" in html
    assert "https://" not in html.split("<body>")[0]  # no CDN scripts or styles
    assert json.loads(client.get("/api/v1/openapi.json").get_data())  # linked document

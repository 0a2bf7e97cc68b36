"""Products through the API: keyset pages, ETag/If-Match, validation problems, idempotent
creation, and audit entries that name the token."""

from __future__ import annotations

import json

from sqlalchemy import select

from api.web import fingerprint
from commerce.audit import AuditEntry
from commerce.extensions import db
from commerce.staff.models import ApiIdempotencyKey

URL = "/api/v1/products"
NEW = {"title": "Linen shirt", "price": {"amount": 4500, "currency": "USD"}, "sku": "LIN-1"}


def test_pagination_walks_every_product_once(api, make_product):
    made = {make_product().id for _ in range(7)}
    seen, url, pages = [], f"{URL}?limit=3", 0
    while url:
        response = api.get(url)
        assert response.status_code == 200
        body = response.get_json()
        seen += [p["id"] for p in body["data"]]
        url = body["links"]["next"]
        if url:
            assert response.headers["Link"] == f'<{url}>; rel="next"'
        pages += 1
    assert made <= set(seen) and len(seen) == len(set(seen))
    assert seen == sorted(seen)
    assert pages >= 3


def test_product_shape(api, make_product):
    product = make_product(price=2599, options=[("Size", ["S", "M"])])
    body = api.get(f"{URL}/{product.id}").get_json()
    assert body["id"] == product.id
    assert {v["title"] for v in body["variants"]} == {"S", "M"}
    assert body["variants"][0]["price"] == {"amount": 2599, "currency": "USD"}
    assert body["created_at"].endswith("Z")


def test_bad_limit_is_a_400_with_a_pointer(api):
    response = api.get(f"{URL}?limit=0")
    assert response.status_code == 400
    assert response.get_json(force=True)["errors"][0]["pointer"] == "/limit"


def test_missing_product_is_404(api):
    response = api.get(f"{URL}/999999")
    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"


def test_create_validates_fields_as_problems(api):
    response = api.post(URL, json={"title": "", "price": {"amount": -1, "currency": "USD"}})
    assert response.status_code == 422
    pointers = {e["pointer"] for e in response.get_json(force=True)["errors"]}
    assert {"/title", "/price/amount"} <= pointers


def test_create_reports_domain_errors_at_the_field(api, make_product):
    taken = make_product().variants[0].sku
    response = api.post(URL, json={**NEW, "sku": taken})
    assert response.status_code == 422
    assert response.get_json(force=True)["errors"][0]["pointer"] == "/sku"


def test_create_refuses_another_currency(api):
    response = api.post(URL, json={**NEW, "price": {"amount": 100, "currency": "EUR"}})
    assert response.status_code == 422
    assert response.get_json(force=True)["errors"][0]["pointer"] == "/price/currency"


def test_malformed_json_is_400(api):
    response = api.client.post(
        URL,
        data="{not json",
        content_type="application/json",
        headers=api.headers({"Idempotency-Key": "k-malformed"}),
    )
    assert response.status_code == 400


def test_update_needs_the_current_etag(api, make_product):
    product = make_product()
    read = api.get(f"{URL}/{product.id}")
    etag = read.headers["ETag"]
    missing = api.patch(f"{URL}/{product.id}", json={"title": "New"})
    assert missing.status_code == 428
    first = api.patch(f"{URL}/{product.id}", json={"title": "New"}, headers={"If-Match": etag})
    assert first.status_code == 200, first.get_data(as_text=True)
    assert first.get_json()["title"] == "New"
    assert first.headers["ETag"] != etag
    stale = api.patch(f"{URL}/{product.id}", json={"title": "Newer"}, headers={"If-Match": etag})
    assert stale.status_code == 412
    assert stale.mimetype == "application/problem+json"
    assert api.get(f"{URL}/{product.id}").get_json()["title"] == "New"


def test_update_variant_price(api, make_product):
    product = make_product(price=1000)
    variant_id = product.variants[0].id
    etag = api.get(f"{URL}/{product.id}").headers["ETag"]
    response = api.patch(
        f"/api/v1/variants/{variant_id}",
        json={"price": {"amount": 1250, "currency": "USD"}},
        headers={"If-Match": etag},
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["variants"][0]["price"]["amount"] == 1250


def test_post_without_idempotency_key_is_400(api):
    response = api.client.post(URL, json=NEW, headers=api.headers())
    assert response.status_code == 400
    assert response.get_json(force=True)["type"].endswith("idempotency_key_missing")


def test_replay_returns_the_first_answer(api):
    first = api.post(URL, json=NEW, key="create-linen")
    assert first.status_code == 201, first.get_data(as_text=True)
    again = api.post(URL, json=NEW, key="create-linen")
    assert again.status_code == 201
    assert again.get_json() == first.get_json()
    assert again.headers["Location"] == first.headers["Location"]
    assert again.headers["Idempotent-Replayed"] == "true"
    made = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "product.create"))
    assert len([e for e in made if e.actor_token_id == api.token.id]) == 1


def test_same_key_with_another_body_is_422(api):
    assert api.post(URL, json=NEW, key="k1").status_code == 201
    other = api.post(URL, json={**NEW, "title": "Other"}, key="k1")
    assert other.status_code == 422
    assert other.get_json(force=True)["type"].endswith("idempotency_key_reused")


def test_keys_are_per_token(api, api_as):
    first = api.post(URL, json=NEW, key="shared")
    other = api_as("products:write")
    second = other.post(URL, json={**NEW, "sku": "LIN-2"}, key="shared")
    assert second.status_code == 201
    assert second.get_json()["id"] != first.get_json()["id"]


def test_a_repeat_while_the_first_runs_is_409(api):
    """The first request's claim is committed before its work: a concurrent repeat finds it
    without an answer yet."""
    body = json.dumps(NEW).encode()
    running = ApiIdempotencyKey(
        token_id=api.token.id, key="busy", fingerprint=fingerprint("POST", URL, body)
    )
    db.session.add(running)
    db.session.commit()
    response = api.client.post(
        URL,
        data=body,
        content_type="application/json",
        headers=api.headers({"Idempotency-Key": "busy"}),
    )
    assert response.status_code == 409
    assert response.headers["Retry-After"] == "1"
    assert response.get_json(force=True)["type"].endswith("idempotency_key_in_use")


def test_audit_names_the_token(api, make_product):
    product = make_product()
    etag = api.get(f"{URL}/{product.id}").headers["ETag"]
    api.patch(f"{URL}/{product.id}", json={"vendor": "Acme"}, headers={"If-Match": etag})
    entry = db.session.scalar(
        select(AuditEntry)
        .where(AuditEntry.action == "product.update", AuditEntry.subject_id == str(product.id))
        .order_by(AuditEntry.id.desc())
    )
    assert entry.actor_token_id == api.token.id
    assert entry.actor_id is None
    assert api.token.prefix in entry.actor_label
    assert entry.after["vendor"] == "Acme"


def test_a_change_between_the_check_and_the_write_is_412(api, make_product, monkeypatch):
    """If-Match is checked again inside the update's transaction (a conditional UPDATE on the
    product's version), so a change that lands after the API compared ETags still loses."""
    from datetime import timedelta

    from sqlalchemy import update

    import api.products as endpoints
    from commerce.catalog.models import Product
    from commerce.db import utcnow

    product = make_product()
    etag = api.get(f"{URL}/{product.id}").headers["ETag"]
    real_check = endpoints.require_match

    def check_then_someone_else_writes(current):
        real_check(current)
        # Another process's write: the row changes, this request's loaded product does not.
        db.session.execute(
            update(Product)
            .where(Product.id == product.id)
            .values(vendor="Someone else", updated_at=utcnow() + timedelta(seconds=1))
            .execution_options(synchronize_session=False)
        )

    monkeypatch.setattr(endpoints, "require_match", check_then_someone_else_writes)
    response = api.patch(f"{URL}/{product.id}", json={"title": "Mine"}, headers={"If-Match": etag})
    assert response.status_code == 412
    assert response.get_json(force=True)["type"].endswith("precondition_failed")
    assert api.get(f"{URL}/{product.id}").get_json()["title"] != "Mine"


def test_options_then_variants(api):
    created = api.post(URL, json={**NEW, "sku": "CAP-1", "title": "Cap"})
    product_id = created.get_json()["id"]
    etag = created.headers["ETag"]
    options = api.client.put(
        f"{URL}/{product_id}/options",
        json={"options": [{"name": "Colour", "values": ["Red", "Blue"]}]},
        headers=api.headers({"If-Match": etag}),
    )
    assert options.status_code == 200, options.get_data(as_text=True)
    assert options.get_json()["options"] == [{"name": "Colour", "values": ["Red", "Blue"]}]
    added = api.post(
        f"{URL}/{product_id}/variants",
        json={"options": ["Blue"], "sku": "CAP-BLUE", "price": {"amount": 5000, "currency": "USD"}},
    )
    assert added.status_code == 201, added.get_data(as_text=True)
    blue = [v for v in added.get_json()["variants"] if v["sku"] == "CAP-BLUE"]
    assert blue and blue[0]["options"] == ["Blue"] and blue[0]["price"]["amount"] == 5000
    wrong = api.post(f"{URL}/{product_id}/variants", json={"options": ["Green"]})
    assert wrong.status_code == 422
    assert wrong.get_json(force=True)["errors"][0]["pointer"] == "/options"


def test_a_page_costs_the_same_statements_whatever_its_size(api, make_product):
    from tests.conftest import count_queries

    for _ in range(12):
        make_product(options=[("Size", ["S", "M"])])
    api.get(f"{URL}?limit=2")  # warm: the token's last use is written once a minute
    with count_queries() as small:
        assert api.get(f"{URL}?limit=2").status_code == 200
    with count_queries() as large:
        assert api.get(f"{URL}?limit=12").status_code == 200
    assert len(large) == len(small), large.describe()

"""Promotions and coupon codes through the API: read with the console's filters, one code
added, a batch generated as a job (audited as the token)."""

from __future__ import annotations

from sqlalchemy import select

from commerce.audit import AuditEntry
from commerce.extensions import db
from commerce.promotions.coupons import add_coupon_code
from commerce.promotions.services import create_promotion, enable_promotion

URL = "/api/v1/promotions"


def _promotion(name="Summer sale", *, enabled=True, code=None):
    promotion = create_promotion(
        by=None,
        name=name,
        actions=[{"kind": "percent_off_order", "params": {"percent": "15"}}],
        conditions=[],
    )
    if code:
        add_coupon_code(promotion, code=code, by=None)
    if enabled:
        enable_promotion(promotion, by=None)
    return promotion


def test_list_and_read(api):
    summer = _promotion(code="SUMMER")
    _promotion("Draft idea", enabled=False)
    listed = api.get(f"{URL}?status=active").get_json()["data"]
    assert [p["id"] for p in listed] == [summer.id]
    one = api.get(f"{URL}/{summer.id}").get_json()
    assert one["status"] == "active" and one["code_count"] == 1
    assert [a["kind"] for a in one["actions"]] == ["percent_off_order"]
    assert "15%" in one["summary"]
    assert one["usage"]["discount"]["amount"] == 0
    by_code = api.get(f"{URL}?q=summ&has_code=true").get_json()["data"]
    assert [p["id"] for p in by_code] == [summer.id]
    names = [p["name"] for p in api.get(f"{URL}?sort=name&direction=asc").get_json()["data"]]
    assert names == ["Draft idea", "Summer sale"]


def test_add_a_code_and_a_taken_one(api):
    promotion = _promotion()
    made = api.post(f"{URL}/{promotion.id}/codes", json={"code": "welcome10"})
    assert made.status_code == 201, made.get_data(as_text=True)
    assert made.get_json()["code"] == "WELCOME10"
    taken = api.post(f"{URL}/{promotion.id}/codes", json={"code": "WELCOME10"})
    assert taken.status_code == 422  # DuplicateValue, at the field
    assert taken.get_json(force=True)["errors"][0]["pointer"] == "/code"
    codes = api.get(f"{URL}/{promotion.id}/codes").get_json()["data"]
    assert [c["code"] for c in codes] == ["WELCOME10"]


def test_generate_a_batch_as_a_job(api):
    promotion = _promotion()
    started = api.post(
        f"{URL}/{promotion.id}/codes/batch", json={"count": 25, "prefix": "VIP", "length": 8}
    )
    assert started.status_code == 202, started.get_data(as_text=True)
    job = api.get(started.headers["Location"]).get_json()
    assert job["status"] == "succeeded" and job["done"] == 25  # eager Celery: ran inline
    seen, url = [], f"{URL}/{promotion.id}/codes?batch={job['batch']}&limit=10"
    while url:
        body = api.get(url).get_json()
        seen += body["data"]
        url = body["links"]["next"]
    assert len(seen) == 25 and all(c["code"].startswith("VIP") for c in seen)
    entry = db.session.scalars(
        select(AuditEntry).where(AuditEntry.action == "promotion.codes_generate")
    ).one()
    assert entry.actor_token_id == api.token.id


def test_promotion_scopes(api_as):
    promotion = _promotion()
    reader = api_as("promotions:read")
    assert reader.get(URL).status_code == 200
    assert reader.post(f"{URL}/{promotion.id}/codes", json={"code": "NOPE1"}).status_code == 403
    assert api_as("orders:read").get(URL).status_code == 403

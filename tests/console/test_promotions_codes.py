"""Coupon codes in the console: add one (a duplicate is refused at the field), generate a
batch as a background job with a progress bar, export as CSV, remove an unused code."""

from __future__ import annotations

import csv
import io
import re

from sqlalchemy import func, select

from commerce.audit import AuditEntry
from commerce.extensions import db
from commerce.jobs import SUCCEEDED, Job
from commerce.promotions.code_jobs import KIND, check_generation, run_generation_job
from commerce.promotions.coupons import add_coupon_code
from commerce.promotions.models import CouponCode
from tests.commerce.promotions import conftest as promotion_fixtures
from tests.commerce.promotions.conftest import row
from tests.conftest import htmx_headers

TEN_OFF = [row("amount_off_order", amount=1000)]

# The promotion tests' small shop and promo(...) factory, as fixtures here too.
shop = promotion_fixtures.shop
promo = promotion_fixtures.promo


def text(response) -> str:
    return response.get_data(as_text=True)


def codes_of(promotion) -> list[str]:
    return list(
        db.session.scalars(
            select(CouponCode.code)
            .where(CouponCode.promotion_id == promotion.id)
            .order_by(CouponCode.code)
        )
    )


def test_add_a_single_code_and_refuse_a_duplicate(client, login, promo):
    promotion = promo(TEN_OFF, enabled=False, requires_coupon=True)
    other = promo(TEN_OFF, name="Other", enabled=False)
    add_coupon_code(other, code="TAKEN", by=None)
    login("merchandiser")
    url = f"/console/promotions/{promotion.id}/codes"
    response = client.post(url, data={"code": " summer25 "})
    assert response.status_code == 303
    assert response.headers["Location"] == f"/console/promotions/{promotion.id}#codes"
    assert codes_of(promotion) == ["SUMMER25"]
    page = text(client.get(f"/console/promotions/{promotion.id}"))
    assert "<code>SUMMER25</code>" in page
    assert "with code SUMMER25" in page  # the summary names its only code

    duplicate = client.post(url, data={"code": "taken"})
    assert duplicate.status_code == 422
    assert re.search(
        r'id="code-msg" role="alert"><span>The code TAKEN exists already.', text(duplicate)
    )
    bad = client.post(url, data={"code": "no spaces!"})
    assert bad.status_code == 422
    assert codes_of(promotion) == ["SUMMER25"]


def test_generate_a_batch_as_a_job_then_export_it(client, login, promo):
    promotion = promo(TEN_OFF, enabled=False, requires_coupon=True)
    member = login("merchandiser")
    response = client.post(
        f"/console/promotions/{promotion.id}/codes/generate",
        data={"count": "2,500", "prefix": "vip-", "length": "8"},
        headers=htmx_headers(),
    )
    assert response.status_code == 200
    body = text(response)
    job = db.session.scalars(select(Job).where(Job.kind == KIND)).one()
    assert job.status == SUCCEEDED and job.created_by_id == member.id
    assert job.done == job.total == 2500
    assert 'id="codes-job" data-status="succeeded"' in body
    assert '<progress max="100" value="100"' in body
    batch = job.result["batch"]
    assert f"/codes.csv?batch={batch}" in body
    assert "toast" in response.headers["HX-Trigger"]

    codes = codes_of(promotion)
    assert len(codes) == len(set(codes)) == 2500
    assert all(re.fullmatch(r"VIP-[A-HJ-NP-Z2-9]{8}", code) for code in codes)
    slices = db.session.scalar(
        select(func.count(AuditEntry.id)).where(AuditEntry.action == "promotion.codes_generate")
    )
    assert slices == 3  # 1,000 + 1,000 + 500, one audited transaction each

    status = client.get(f"/console/promotions/{promotion.id}/codes/jobs/{job.id}")
    assert status.status_code == 200 and "2,500 codes ready" in text(status)
    # the dashboard's jobs panel links to the generic job page: it offers the batch too
    generic = text(client.get(f"/console/jobs/{job.id}"))
    assert f"codes.csv?batch={batch}" in generic and "2,500 codes, CSV" in generic

    exported = client.get(f"/console/promotions/{promotion.id}/codes.csv?batch={batch}")
    assert exported.status_code == 200
    assert exported.mimetype == "text/csv"
    assert "attachment" in exported.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(text(exported))))
    assert rows[0] == ["code", "promotion", "batch", "times_used", "created_at"]
    assert sorted(r[0] for r in rows[1:]) == codes
    page = text(client.get(f"/console/promotions/{promotion.id}"))
    assert f"<code>{batch}</code>" in page and "2,500 codes" in page


def test_generate_refuses_bad_input_at_the_field(client, login, promo):
    promotion = promo(TEN_OFF, enabled=False)
    login("merchandiser")
    url = f"/console/promotions/{promotion.id}/codes/generate"
    response = client.post(
        url, data={"count": "0", "prefix": "bad prefix!", "length": "3"}, headers=htmx_headers()
    )
    assert response.status_code == 422
    body = text(response)
    assert body.lstrip().startswith('<form id="codes-generate"')
    assert "Enter a number from 1 to 100,000." in body
    assert "Up to 20 letters, digits, dashes or underscores." in body
    assert "From 6 to 20 random characters." in body
    assert db.session.scalar(select(func.count(Job.id)).where(Job.kind == KIND)) == 0
    page = client.post(url, data={"count": "abc"})  # a plain form post: the whole page
    assert page.status_code == 422 and "<html" in text(page)


def test_generate_without_htmx_goes_to_the_job_page(client, login, promo):
    promotion = promo(TEN_OFF, enabled=False)
    login("merchandiser")
    response = client.post(
        f"/console/promotions/{promotion.id}/codes/generate", data={"count": "5"}
    )
    assert response.status_code == 303
    assert re.fullmatch(
        rf"/console/promotions/{promotion.id}/codes/jobs/[\w-]+", response.headers["Location"]
    )
    page = client.get(response.headers["Location"])
    assert "5 codes ready" in text(page) and "<html" in text(page)


def test_a_failed_slice_fails_the_job_and_says_so(app, promo, monkeypatch):
    from commerce.errors import ValidationError
    from commerce.promotions import code_jobs

    promotion = promo(TEN_OFF, enabled=False)
    job = code_jobs.create_generation_job(promotion, count=3, prefix="X", length=8, by=None)

    def broken(*args, **kwargs):
        raise ValidationError("The database said no.")

    monkeypatch.setattr(code_jobs.coupons, "generate_coupon_codes", broken)
    run_generation_job(job.id)
    db.session.refresh(job)
    assert job.status == "failed"
    assert job.message == "Stopped: The database said no."


def test_check_generation():
    assert check_generation("10", " ab ", "") == (10, "AB", 8)


def test_export_all_codes_and_remove_one(client, login, promo):
    promotion = promo(TEN_OFF, enabled=False)
    first = add_coupon_code(promotion, code="ONE", by=None).id
    add_coupon_code(promotion, code="TWO", by=None)
    login("merchandiser")
    exported = client.get(f"/console/promotions/{promotion.id}/codes.csv")
    assert [r[0] for r in csv.reader(io.StringIO(text(exported)))] == ["code", "ONE", "TWO"]
    page = text(client.get(f"/console/promotions/{promotion.id}"))
    assert 'hx-confirm="Remove the code ONE? Shoppers can no longer enter it."' in page
    removed = client.post(f"/console/promotions/{promotion.id}/codes/{first}/remove")
    assert removed.status_code == 303
    assert codes_of(promotion) == ["TWO"]
    other = promo(TEN_OFF, name="Other", enabled=False)
    wrong = client.post(f"/console/promotions/{other.id}/codes/{first}/remove")
    assert wrong.status_code == 404


def test_codes_need_the_edit_permission(client, login, promo):
    promotion = promo(TEN_OFF, enabled=False)
    login("support")
    assert (
        client.post(f"/console/promotions/{promotion.id}/codes", data={"code": "X1Y"}).status_code
        == 403
    )
    assert client.get(f"/console/promotions/{promotion.id}/codes.csv").status_code == 403


def test_the_codes_export_quotes_a_promotion_name_that_is_a_formula(client, login, promo):
    promotion = promo(TEN_OFF, code="SAVE10", name="=cmd|' /C calc'!A0")
    login("merchandiser")
    exported = client.get(f"/console/promotions/{promotion.id}/codes.csv")
    rows = list(csv.reader(io.StringIO(text(exported))))
    assert rows[1][:2] == ["SAVE10", "'=cmd|' /C calc'!A0"]

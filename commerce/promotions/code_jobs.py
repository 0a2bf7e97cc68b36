"""Generating a batch of coupon codes as a background job, with a progress bar.

Ten thousand codes take a few seconds, so the console starts a job and polls its progress. The
task takes the job id, never ORM objects, so the eager embedded mode and a real worker run the
same code. The codes are made by commerce.promotions.coupons.generate_coupon_codes in slices
under one batch label (at most SLICES of them): each slice is its own transaction and audit
entry, and the job reports progress between slices. A failure stops the job and says how many
codes the batch holds; those stay valid (export the batch to see them).
"""

from __future__ import annotations

import logging
import math
import secrets
from typing import Any

from sqlalchemy import func, select

from commerce.db import in_transaction, service, utcnow
from commerce.errors import CommerceError, NotFound, ValidationError
from commerce.extensions import db
from commerce.jobs import (
    Job,
    create_job,
    finish_job,
    get_job,
    report_progress,
)
from commerce.promotions import coupons
from commerce.promotions.active import normalize_code
from commerce.promotions.models import CouponCode, Promotion
from commerce.promotions.services import get_promotion

log = logging.getLogger(__name__)

KIND = "promotion_codes"
SLICE = 1000  # codes per transaction at least
SLICES = 20  # at most this many transactions (and audit entries) per batch


def check_generation(count: Any, prefix: Any, length: Any) -> tuple[int, str, int]:
    """The batch's size, prefix and random length, or ValidationError at the field.

    The rules of generate_coupon_codes (which checks again in each slice); checking first
    gives the form its messages before a job exists."""
    errors: dict[str, list[str]] = {}
    try:
        count = int(str(count).strip().replace(",", ""))
        if not 1 <= count <= coupons.MAX_GENERATE:
            raise ValueError
    except (TypeError, ValueError):
        errors["count"] = [f"Enter a number from 1 to {coupons.MAX_GENERATE:,}."]
        count = 0
    prefix = normalize_code(prefix)
    if prefix and not coupons.PREFIX_RE.match(prefix):
        errors["prefix"] = ["Up to 20 letters, digits, dashes or underscores."]
    try:
        length = int(str(length if length is not None else "").strip() or 8)
        if not 6 <= length <= 20:
            raise ValueError
    except (TypeError, ValueError):
        errors["length"] = ["From 6 to 20 random characters."]
        length = 8
    if count and "length" not in errors and len(coupons.ALPHABET) ** length < count * 1000:
        errors["length"] = ["Too few random characters for that many codes: use more."]
    if errors:
        raise ValidationError(errors=errors)
    return count, prefix, length


@service
def create_generation_job(
    promotion: Promotion, *, count: Any, prefix: Any = "", length: Any = 8, by: Any
) -> Job:
    count, prefix, length = check_generation(count, prefix, length)
    batch = f"{prefix or 'CODES'}-{utcnow():%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"[:40]
    job = create_job(
        KIND,
        title=f"{count:,} codes for “{promotion.name}”",
        params={
            "promotion_id": promotion.id,
            "count": count,
            "prefix": prefix,
            "length": length,
            "batch": batch,
            # An API token has no staff id: the job keeps the token so its slices' audit
            # entries name it, as the request's would.
            "api_token_id": getattr(by, "api_token_id", None),
        },
        by=by,
    )
    job.total = count  # the bar reads "0 / n" from the start
    return job


def made_in_batch(promotion_id: int, batch: str) -> int:
    return db.session.scalar(
        select(func.count())
        .select_from(CouponCode)
        .where(CouponCode.promotion_id == promotion_id, CouponCode.batch == batch)
    )


def run_generation_job(job_id: str) -> None:
    """Generate the job's codes slice by slice, reporting progress; never raises. The batch
    label is fixed by the job, so a second run (a redelivered task, or "Run again" after the
    worker died) makes only the codes the batch still lacks."""
    job = get_job(job_id)
    params = dict(job.params)
    count, batch = int(params["count"]), str(params["batch"])
    by = _actor(job.created_by_id, params.get("api_token_id"))
    size = max(SLICE, math.ceil(count / SLICES))
    made = 0
    result = {"batch": batch, "promotion_id": params["promotion_id"]}
    try:
        made = min(made_in_batch(params["promotion_id"], batch), count)
        promotion = get_promotion(params["promotion_id"])
        report_progress(job_id, done=made, total=count, message="Generating…")
        while made < count:
            wanted = min(size, count - made)
            coupons.generate_coupon_codes(
                promotion,
                count=wanted,
                prefix=params["prefix"],
                length=params["length"],
                batch=batch,
                by=by,
            )
            made += wanted
            report_progress(job_id, done=made, total=count, message=f"{made:,} of {count:,}")
    except Exception as exc:
        log.exception("coupon code job %s failed", job_id)
        if not in_transaction():
            db.session.rollback()
        reason = exc.message if isinstance(exc, CommerceError) else "an unexpected error"
        reason = reason.rstrip(".")
        kept = f"; the batch holds {made:,} codes" if made else ""
        finish_job(
            job_id,
            result={**result, "ok": False, "count": made},
            failed=True,
            retryable=not isinstance(exc, CommerceError),
            message=f"Stopped: {reason}{kept}.",
        )
        return
    finish_job(
        job_id,
        result={**result, "ok": True, "count": made},
        message=f"{made:,} codes ready in batch {batch}.",
    )


def _actor(staff_id: int | None, api_token_id: int | None = None) -> Any:
    if api_token_id is not None:
        from commerce.staff.tokens import actor_for, get_token

        return actor_for(get_token(api_token_id))
    if staff_id is None:
        return None
    from commerce.staff.models import StaffMember

    return db.session.get(StaffMember, staff_id)


def codes_job(job_id: str, promotion_id: int) -> Job:
    """A code generation job of this promotion; NotFound otherwise."""
    job = get_job(job_id)
    if job.kind != KIND or job.params.get("promotion_id") != promotion_id:
        raise NotFound("No such code generation job.")
    return job

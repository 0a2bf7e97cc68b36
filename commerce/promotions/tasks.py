"""Promotions background work (thin: each task calls one service): coupon code batches as a
job with progress (commerce.promotions.code_jobs), and the periodic release of expired holds."""

from __future__ import annotations

from typing import Any

from commerce.extensions import celery, db
from commerce.jobs import Job, copy_job, job_task, queue_job
from commerce.promotions.code_jobs import KIND, create_generation_job, run_generation_job
from commerce.promotions.models import Promotion
from commerce.promotions.redemptions import release_expired_holds

generate_codes_task = job_task(KIND, name="commerce.promotions.generate_codes", again=copy_job)(
    run_generation_job
)


def start_code_generation(
    promotion: Promotion, *, count: Any, prefix: Any = "", length: Any = 8, by: Any
) -> Job:
    """Queue a batch of codes (runs inline in the embedded mode); ValidationError at the
    field for a bad size, prefix or length."""
    job = queue_job(
        create_generation_job(promotion, count=count, prefix=prefix, length=length, by=by)
    )
    db.session.refresh(job)
    return job


@celery.task(name="commerce.promotions.release_expired_holds")
def release_expired_promotion_holds() -> int:
    """Coupon uses held by checkouts that never finished go back to their limits (a use is
    also swept whenever a limit is reached, so this only tidies the counters)."""
    return release_expired_holds()

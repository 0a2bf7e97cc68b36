"""Periodic payment work (thin: each task calls one service)."""

from __future__ import annotations

from commerce.extensions import celery
from commerce.payments.services import expire_authorizations


@celery.task(name="commerce.payments.expire_authorizations")
def expire_old_authorizations() -> int:
    """Authorizations past their lifetime are marked expired (run every 15 minutes by beat)."""
    return expire_authorizations()

"""Periodic staff housekeeping (thin: each task calls one service)."""

from __future__ import annotations

from commerce.extensions import celery
from commerce.staff.tokens import purge_idempotency_keys


@celery.task(name="commerce.staff.purge_idempotency_keys")
def purge_idempotency_keys_task() -> int:
    """The Admin API's stored first answers older than a day are deleted (run hourly)."""
    return purge_idempotency_keys()

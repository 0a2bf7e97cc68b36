"""Periodic checkout housekeeping (thin: each task calls one service)."""

from __future__ import annotations

from commerce.checkout.cart import purge_stale_carts
from commerce.extensions import celery


@celery.task(name="commerce.checkout.purge_stale_carts")
def purge_stale_carts_task() -> int:
    """Guests' carts untouched for 30 days are deleted (run daily by beat)."""
    return purge_stale_carts()

"""Periodic checkout housekeeping (thin: each task calls one service)."""

from __future__ import annotations

from commerce.checkout.cart import purge_stale_carts
from commerce.checkout.recovery import recover_payments
from commerce.extensions import celery


@celery.task(name="commerce.checkout.purge_stale_carts")
def purge_stale_carts_task() -> int:
    """Guests' carts untouched for 30 days are deleted (run daily by beat)."""
    return purge_stale_carts()


@celery.task(name="commerce.payments.recover")
def recover_payments_task() -> int:
    """Settle payments and checkouts a crash or an outage left halfway, with the provider as
    the source of truth (run every minute by beat); returns how many things it changed."""
    return recover_payments().changed

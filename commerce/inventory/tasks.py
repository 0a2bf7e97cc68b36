"""Periodic inventory work (thin: each task calls one service)."""

from __future__ import annotations

from commerce.extensions import celery
from commerce.inventory.services import release_expired_reservations


@celery.task(name="commerce.inventory.release_expired")
def release_expired() -> int:
    """Expired checkout holds go back to available (run every minute by beat)."""
    return release_expired_reservations()

"""Periodic promotions work (thin: each task calls one service): expired coupon holds."""

from __future__ import annotations

from commerce.extensions import celery
from commerce.promotions.redemptions import release_expired_holds


@celery.task(name="commerce.promotions.release_expired_holds")
def release_expired_promotion_holds() -> int:
    """Coupon uses held by checkouts that never finished go back to their limits (a use is
    also swept whenever a limit is reached, so this only tidies the counters)."""
    return release_expired_holds()

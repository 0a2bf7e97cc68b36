"""Attempt budgets for the business rules that need one (codes guessed in the cart, cards tested
at checkout), counted where the rate limiter counts: Redis in production, process memory in the
embedded mode, process memory again while Redis is unreachable (Flask-Limiter's fallback).

A budget is a limiter setting such as "10 per 10 minutes;30 per day", a scope ("coupon-cart")
and a key (a cart id, a client address). `retry_after` says whether it is spent; `spend` takes
one attempt. Nothing here touches the database, so a budget costs the request no statement.
Budgets follow the limiter's switch (`RATELIMIT_ENABLED`): off, nothing is ever spent.
"""

from __future__ import annotations

import logging
import time

from limits import parse_many

from commerce.extensions import limiter

log = logging.getLogger(__name__)


def _limits(setting: str) -> list:  # type: ignore[type-arg]
    return list(parse_many(setting)) if setting else []


def retry_after(setting: str, scope: str, key: object) -> int | None:
    """Seconds until the budget has room again, or None while it has room (or is off)."""
    if not limiter.enabled or key in (None, ""):
        return None
    try:
        strategy = limiter.limiter
        waits = [
            max(int(strategy.get_window_stats(item, scope, str(key)).reset_time - time.time()), 1)
            for item in _limits(setting)
            if not strategy.test(item, scope, str(key))
        ]
    except Exception as exc:  # the limiter's storage failed: let the attempt through, as it does
        log.warning("attempt budget %s not checked: %s", scope, exc)
        return None
    return max(waits) if waits else None


def spend(setting: str, scope: str, key: object) -> None:
    """Count one attempt against every limit of the budget."""
    if not limiter.enabled or key in (None, ""):
        return
    try:
        strategy = limiter.limiter
        for item in _limits(setting):
            strategy.hit(item, scope, str(key))
    except Exception as exc:
        log.warning("attempt budget %s not counted: %s", scope, exc)


def in_words(seconds: int) -> str:
    """'about 3 minutes', for a shopper's message."""
    if seconds < 90:
        return "a minute"
    if seconds < 90 * 60:
        return f"about {round(seconds / 60)} minutes"
    return f"about {round(seconds / 3600)} hours"

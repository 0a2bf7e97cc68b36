"""Periodic housekeeping of sign-in data, and the outbox consumer of reset emails (imported
here so the worker registers it)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete

from commerce.accounts import passwords as _passwords  # noqa: F401  (the reset email consumer)
from commerce.accounts.models import SignInThrottle
from commerce.accounts.sessions import purge_ended
from commerce.db import transaction, utcnow
from commerce.extensions import PERIODIC, celery, db

PERIODIC["accounts-purge"] = {"task": "commerce.accounts.purge", "schedule": timedelta(hours=6)}


def purge_sign_in_data(*, older_than: timedelta = timedelta(days=30)) -> int:
    """Forget sessions over for a month and failure counts a day old and no longer waiting."""
    removed = purge_ended(older_than=older_than)
    cutoff = utcnow() - timedelta(days=1)
    with transaction():
        result = db.session.execute(
            delete(SignInThrottle).where(
                SignInThrottle.updated_at < cutoff,
                (SignInThrottle.blocked_until.is_(None))
                | (SignInThrottle.blocked_until < utcnow()),
            )
        )
    return removed + (result.rowcount or 0)


@celery.task(name="commerce.accounts.purge")
def purge() -> int:
    return purge_sign_in_data()

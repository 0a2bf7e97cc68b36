"""The recovery task running on several workers at once, on PostgreSQL with real threads and
commits: every abandoned checkout gets its recovery email queued exactly once (each claimed by
a conditional UPDATE), and a later run queues nothing."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import select

from commerce.abandoned.services import save_recovery_settings, send_due_recovery_emails
from commerce.checkout.cart import add_to_cart
from commerce.checkout.services import save_information, start_checkout
from commerce.db import utcnow
from commerce.extensions import db
from commerce.outbox import OutboxEvent
from tests.concurrency.conftest import run_together, unexpected
from tests.conftest import US_ADDRESS, build_checkout_shop

pytestmark = pytest.mark.postgres

CHECKOUTS = 30
WORKERS = 4


def test_the_recovery_task_run_concurrently_sends_each_email_once(race_app):
    shop = build_checkout_shop(stock=CHECKOUTS + 5)
    save_recovery_settings(
        abandoned_after_minutes="60",
        first_email=True,
        second_email=False,
        second_after_hours="24",
        require_consent=False,
        by=None,
    )
    for n in range(CHECKOUTS):
        checkout = start_checkout(add_to_cart(None, variant_id=shop.small, quantity=1))
        save_information(checkout, email=f"left{n}@example.com", address=US_ADDRESS)
    db.session.remove()
    later = utcnow() + timedelta(hours=2)

    outcomes = run_together(
        race_app, WORKERS, lambda i: send_due_recovery_emails(now=later, limit=CHECKOUTS)
    )

    assert unexpected(outcomes) == []
    assert all(o.ok for o in outcomes), [o.domain_error for o in outcomes]
    assert sum(o.value for o in outcomes) == CHECKOUTS
    events = db.session.scalars(
        select(OutboxEvent).where(OutboxEvent.topic == "checkout.recovery")
    ).all()
    per_checkout = Counter(e.payload["checkout_id"] for e in events)
    assert len(per_checkout) == CHECKOUTS and set(per_checkout.values()) == {1}
    assert send_due_recovery_emails(now=later + timedelta(minutes=5)) == 0

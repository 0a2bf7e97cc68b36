"""Recovery's periodic task and outbox consumer (thin: each calls one function)."""

from __future__ import annotations

from datetime import timedelta

from commerce import outbox
from commerce.abandoned.emails import send_recovery_email
from commerce.abandoned.services import RECOVERY_TOPIC, send_due_recovery_emails
from commerce.extensions import PERIODIC, celery

PERIODIC["checkout-recovery-emails"] = {
    "task": "commerce.abandoned.send_due",
    "schedule": timedelta(minutes=5),
}


@celery.task(name="commerce.abandoned.send_due")
def send_due() -> int:
    return send_due_recovery_emails()


@outbox.handler(RECOVERY_TOPIC, atomic=False)
def email_checkout_recovery(event: outbox.OutboxEvent) -> None:
    send_recovery_email(int(event.payload["checkout_id"]), str(event.payload["which"]))

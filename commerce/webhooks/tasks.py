"""Celery tasks and outbox consumers of webhooks (thin: each calls one function)."""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import select

from commerce import mail, outbox
from commerce.broker import queue_task
from commerce.extensions import PERIODIC, celery, db
from commerce.staff.models import StaffMember
from commerce.staff.permissions import ADMIN
from commerce.webhooks import delivery
from commerce.webhooks.payloads import SOURCES

PERIODIC["webhooks-send-due"] = {
    "task": "commerce.webhooks.send_due",
    "schedule": timedelta(seconds=5),
}
PERIODIC["webhooks-purge"] = {"task": "commerce.webhooks.purge", "schedule": timedelta(hours=24)}


@celery.task(name="commerce.webhooks.send_due")
def send_due_task(now: str | None = None) -> int:
    """Retries whose wait is over and claims whose sender died (beat, every 5 s). `now` (ISO,
    UTC) stands in for the clock, for tests and for catching up by hand."""
    return delivery.send_due(now=datetime.fromisoformat(now) if now else None)


@celery.task(name="commerce.webhooks.purge")
def purge_task() -> int:
    """Finished deliveries older than 30 days leave the log (daily)."""
    return delivery.purge_finished()


@celery.task(name="commerce.webhooks.send_event")
def send_event_task(event_id: int) -> int:
    """The first try of an event's deliveries, right after they were recorded."""
    return delivery.send_due(event_id=event_id)


@celery.task(name="commerce.webhooks.send_delivery")
def send_delivery_task(delivery_id: int) -> bool | None:
    return delivery.send(delivery_id)


def _record(event: outbox.OutboxEvent) -> None:
    delivery.record_deliveries(event)


def _queue_first_try(event: outbox.OutboxEvent) -> None:
    fresh = delivery.fresh_events()
    if event.id in fresh:
        fresh.discard(event.id)
        queue_task(send_event_task, event.id)


for _topic in SOURCES:
    outbox.handler(_topic)(_record)
    outbox.handler(_topic, atomic=False)(_queue_first_try)


@outbox.handler(delivery.ENDPOINT_DISABLED, atomic=False)
def tell_admins(event: outbox.OutboxEvent) -> None:
    """Email active admins that an endpoint was disabled (same Message-ID on a retry)."""
    p = event.payload
    admins = db.session.scalars(
        select(StaffMember.email).where(StaffMember.role == ADMIN, StaffMember.is_active.is_(True))
    ).all()
    text = (
        f"The webhook endpoint {p['url']} was disabled.\n\n{p['reason']}\n\n"
        "Fix the receiver, then enable it again in Console → Settings → Webhooks; its pending "
        "deliveries are sent then.\n"
    )
    shop = current_app.config.get("SHOP_NAME", "Shop")
    for email in admins:
        key = f"webhook-disabled-{event.id}-{email}"
        message = mail.build_message(
            key=key,
            to=email,
            subject=f"{shop}: webhook endpoint disabled",
            text=text,
            html=f"<p>{_escape(text)}</p>",
        )
        mail.send_email(message, key=key)


def _escape(text: str) -> str:
    from markupsafe import escape

    return str(escape(text)).replace("\n", "<br>")

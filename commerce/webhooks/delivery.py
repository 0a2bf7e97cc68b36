"""Making deliveries from outbox events, and sending them.

- `record_deliveries(event)` (an outbox consumer, in the dispatcher's transaction) adds one
  row per subscribed endpoint; the unique (event, endpoint) makes a second run add nothing.
- `send(delivery_id)` claims the row with one conditional UPDATE that also sets a lease
  (`locked_until`), posts with no transaction open, then records the answer. A sender that
  dies after claiming leaves a pending row whose lease runs out: `send_due` takes it again,
  with the same webhook-id and body. So a crash loses nothing and may send twice, which the
  webhook-id lets receivers notice.
- A failed try waits BACKOFF[n] (with jitter) before the next; after the last the delivery
  fails. An endpoint whose tries keep failing (DISABLE_AFTER in a row, or all for 24 hours)
  is disabled and admins are told (an outbox event mailed to them, and the settings screen).
"""

from __future__ import annotations

import logging
import random
import uuid
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import delete, or_, select, update

from commerce import audit, outbox
from commerce.db import service, transaction, utcnow, workflow
from commerce.extensions import db
from commerce.webhooks import payloads, signing, transport
from commerce.webhooks.models import FAILED, PENDING, SUCCEEDED, WebhookDelivery, WebhookEndpoint

log = logging.getLogger(__name__)

# Waits after the 1st, 2nd, ... failed try: about 27 hours in all, then the delivery fails.
BACKOFF = (
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=10),
)
JITTER = 0.2  # each wait is stretched or shrunk by up to this share, so retries spread out
LEASE = timedelta(seconds=60)  # longer than one try can take (10 s total timeout)
DISABLE_AFTER = 20  # failed tries in a row that disable an endpoint...
FAILING_FOR = timedelta(hours=24)  # ...or failing (no success) this long
ENDPOINT_DISABLED = "webhook.endpoint_disabled"  # outbox topic: admins are emailed
KEEP = timedelta(days=30)  # finished deliveries stay in the log this long
FRESH = "webhooks.fresh"  # session.info (outlives the transaction, unlike "tx." keys)


def backoff(attempts: int, *, rng: random.Random | None = None) -> timedelta | None:
    """The wait after the `attempts`-th failed try; None when there is no next try."""
    if attempts < 1 or attempts > len(BACKOFF):
        return None
    share = (rng or random).uniform(-JITTER, JITTER)
    return BACKOFF[attempts - 1] * (1 + share)


def record_deliveries(event: outbox.OutboxEvent) -> int:
    """One pending delivery per enabled endpoint subscribed to the event's webhook topic.
    Without a subscriber it costs one SELECT; the data is read only for those."""
    topic = payloads.topic_for(event)
    endpoints = [
        e
        for e in db.session.scalars(
            select(WebhookEndpoint).where(WebhookEndpoint.enabled.is_(True))
        )
        if topic in (e.topics or [])
    ]
    if not endpoints:
        return 0
    have = set(
        db.session.scalars(
            select(WebhookDelivery.endpoint_id).where(WebhookDelivery.event_id == event.id)
        )
    )
    endpoints = [e for e in endpoints if e.id not in have]
    body = payloads.build(event) if endpoints else None
    if body is None:
        return 0
    for endpoint in endpoints:
        db.session.add(
            WebhookDelivery(
                endpoint_id=endpoint.id,
                event_id=event.id,
                topic=topic,
                message_id=f"msg_{uuid.uuid4().hex}",
                body=body,
                status=PENDING,
                created_at=utcnow(),
            )
        )
    db.session.flush()
    fresh_events().add(event.id)
    return len(endpoints)


def fresh_events() -> set[int]:
    """Events that just got deliveries in this process: their first try is queued at once
    (the others' wait for beat's sweep, so events nobody subscribed to publish no task)."""
    return db.session().info.setdefault(FRESH, set())  # type: ignore[no-any-return]


def _claimable(now: datetime) -> list[Any]:
    return [
        WebhookDelivery.status == PENDING,
        or_(WebhookDelivery.next_attempt_at.is_(None), WebhookDelivery.next_attempt_at <= now),
        or_(WebhookDelivery.locked_until.is_(None), WebhookDelivery.locked_until < now),
        WebhookDelivery.endpoint_id.in_(
            select(WebhookEndpoint.id).where(WebhookEndpoint.enabled.is_(True))
        ),
    ]


def due_ids(
    *, now: datetime | None = None, limit: int = 100, event_id: int | None = None
) -> list[int]:
    now = now or utcnow()
    query = select(WebhookDelivery.id).where(*_claimable(now))
    if event_id is not None:
        query = query.where(WebhookDelivery.event_id == event_id)
    with transaction(read_only=True) as session:
        return list(session.scalars(query.order_by(WebhookDelivery.id).limit(limit)))


@workflow
def send_due(*, now: datetime | None = None, limit: int = 100, event_id: int | None = None) -> int:
    """Try every due delivery (first tries, retries whose wait is over, lost claims); returns
    how many succeeded. Beat runs it; the outbox consumer runs it for one event at once."""
    ok = 0
    for delivery_id in due_ids(now=now, limit=limit, event_id=event_id):
        ok += send(delivery_id, now=now) is True
    return ok


@workflow
def send(delivery_id: int, *, now: datetime | None = None) -> bool | None:
    """One try of one delivery: True sent (2xx), False failed, None not claimed (another
    sender has it, it is not due, or it is finished)."""
    now = now or utcnow()
    with transaction() as session:
        claimed = session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.id == delivery_id, *_claimable(now))
            .values(locked_until=now + LEASE, attempts=WebhookDelivery.attempts + 1)
            .execution_options(synchronize_session=False)
        ).rowcount
        if not claimed:
            return None
        delivery = session.get(WebhookDelivery, delivery_id)
        assert delivery is not None
        session.refresh(delivery)
        endpoint = session.get(WebhookEndpoint, delivery.endpoint_id)
        assert endpoint is not None
        url, message_id, body, attempts = (
            endpoint.url,
            delivery.message_id,
            delivery.body,
            delivery.attempts,
        )
        keys = [endpoint.secret]
        if endpoint.previous_secret and (endpoint.previous_secret_until or now) > now:
            keys.append(endpoint.previous_secret)
    headers = signing.headers(message_id, utcnow(), body, keys)
    allow_private = bool(current_app.config.get("WEBHOOKS_ALLOW_PRIVATE"))
    answer: transport.Answer | None = None
    error = ""
    final = False
    try:
        answer = transport.post(url, body, headers, allow_private=allow_private)
    except transport.Refused as exc:
        error, final = str(exc), True
    except Exception as exc:  # a timeout, a refused connection, a TLS failure: try again later
        error = f"{type(exc).__name__}: {exc}"[:1000]
    ok = answer is not None and 200 <= answer.status < 300
    if answer is not None and not ok:
        error = f"HTTP {answer.status}"
    _record(delivery_id, attempts, ok, answer, error, final=final, now=now)
    return ok


def _record(
    delivery_id: int,
    attempts: int,
    ok: bool,
    answer: transport.Answer | None,
    error: str,
    *,
    final: bool,
    now: datetime,
) -> None:
    with transaction() as session:
        delivery = session.get(WebhookDelivery, delivery_id)
        if delivery is None:  # its endpoint was deleted meanwhile
            return
        endpoint = session.get(WebhookEndpoint, delivery.endpoint_id)
        assert endpoint is not None
        delivery.locked_until = None
        delivery.last_status_code = answer.status if answer else None
        delivery.last_response_ms = answer.elapsed_ms if answer else None
        delivery.last_response_excerpt = answer.excerpt if answer else ""
        delivery.last_error = error
        if ok:
            delivery.status = SUCCEEDED
            delivery.delivered_at = now
            delivery.next_attempt_at = None
            endpoint.consecutive_failures = 0
            endpoint.failing_since = None
            return
        wait = None if final else backoff(attempts)
        if wait is None:
            delivery.status = FAILED
            delivery.next_attempt_at = None
        else:
            delivery.next_attempt_at = now + wait
        endpoint.consecutive_failures += 1
        endpoint.failing_since = endpoint.failing_since or now
        if endpoint.enabled and (
            endpoint.consecutive_failures >= _disable_after()
            or now - endpoint.failing_since >= FAILING_FOR
        ):
            _disable(endpoint, now)


def _disable_after() -> int:
    return int(current_app.config.get("WEBHOOKS_DISABLE_AFTER") or DISABLE_AFTER)


def _disable(endpoint: WebhookEndpoint, now: datetime) -> None:
    since = endpoint.failing_since or now
    endpoint.enabled = False
    endpoint.disabled_reason = (
        f"Disabled automatically after {endpoint.consecutive_failures} failed deliveries in a "
        f"row (failing since {since:%Y-%m-%d %H:%M} UTC)."
    )
    audit.record(
        None,
        "webhook_endpoint.disable",
        endpoint,
        before={"enabled": True},
        after={"enabled": False, "reason": endpoint.disabled_reason},
    )
    outbox.enqueue(
        ENDPOINT_DISABLED,
        {"endpoint_id": endpoint.id, "url": endpoint.url, "reason": endpoint.disabled_reason},
    )
    log.warning("webhook endpoint %s disabled: %s", endpoint.id, endpoint.disabled_reason)


@service
def purge_finished(*, now: datetime | None = None, older_than: timedelta = KEEP) -> int:
    """Forget succeeded and failed deliveries older than `older_than` (the log would grow
    with every event forever); pending ones stay whatever their age."""
    cutoff = (now or utcnow()) - older_than
    return db.session.execute(
        delete(WebhookDelivery)
        .where(WebhookDelivery.status.in_((SUCCEEDED, FAILED)), WebhookDelivery.created_at < cutoff)
        .execution_options(synchronize_session=False)
    ).rowcount

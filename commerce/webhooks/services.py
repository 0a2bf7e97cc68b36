"""What admins do with webhook endpoints: subscribe, change, remove, rotate the secret and
deliver again. Every change is audited; secrets never enter the audit log."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import func, select

from commerce import audit
from commerce.db import service, transaction, utcnow, workflow
from commerce.errors import InvalidTransition, NotFound, ValidationError
from commerce.extensions import db
from commerce.webhooks.models import PENDING, WebhookDelivery, WebhookEndpoint
from commerce.webhooks.payloads import TOPICS
from commerce.webhooks.signing import new_secret

ROTATION_OVERLAP = timedelta(hours=24)  # the old secret keeps signing this long
MAX_URL = 2000
MAX_DESCRIPTION = 255


def list_endpoints() -> list[WebhookEndpoint]:
    return list(db.session.scalars(select(WebhookEndpoint).order_by(WebhookEndpoint.id)))


def disabled_endpoints() -> list[WebhookEndpoint]:
    """Endpoints switched off automatically after failing: the admins' dashboard says so."""
    return list(
        db.session.scalars(
            select(WebhookEndpoint)
            .where(WebhookEndpoint.enabled.is_(False), WebhookEndpoint.disabled_reason != "")
            .order_by(WebhookEndpoint.id)
        )
    )


def get_endpoint(endpoint_id: int) -> WebhookEndpoint:
    endpoint = db.session.get(WebhookEndpoint, endpoint_id)
    if endpoint is None:
        raise NotFound("No such webhook endpoint.")
    return endpoint


def get_delivery(delivery_id: int) -> WebhookDelivery:
    delivery = db.session.get(WebhookDelivery, delivery_id)
    if delivery is None:
        raise NotFound("No such webhook delivery.")
    return delivery


def endpoint_deliveries(endpoint_id: int, *, limit: int = 50) -> list[WebhookDelivery]:
    """The endpoint's delivery log, newest first."""
    return list(
        db.session.scalars(
            select(WebhookDelivery)
            .where(WebhookDelivery.endpoint_id == endpoint_id)
            .order_by(WebhookDelivery.id.desc())
            .limit(limit)
        )
    )


def delivery_counts(endpoint_id: int) -> dict[str, int]:
    rows = db.session.execute(
        select(WebhookDelivery.status, func.count())
        .where(WebhookDelivery.endpoint_id == endpoint_id)
        .group_by(WebhookDelivery.status)
    )
    return {status: count for status, count in rows}


def _checked(url: str, description: str, topics: list[str]) -> tuple[str, str, list[str]]:
    errors: dict[Any, list[str]] = {}
    url = (url or "").strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        errors["url"] = ["Enter an http:// or https:// URL."]
    elif len(url) > MAX_URL:
        errors["url"] = [f"Keep the URL under {MAX_URL} characters."]
    description = (description or "").strip()
    if len(description) > MAX_DESCRIPTION:
        errors["description"] = [f"Keep the description under {MAX_DESCRIPTION} characters."]
    unknown = [t for t in topics if t not in TOPICS]
    if unknown:
        errors["topics"] = [f"Unknown topic: {unknown[0]}."]
    elif not topics:
        errors["topics"] = ["Choose at least one topic."]
    if errors:
        raise ValidationError(errors=errors)
    return url, description, sorted(set(topics))


@service
def create_endpoint(
    *, url: str, description: str = "", topics: list[str], enabled: bool = True, by: Any
) -> WebhookEndpoint:
    url, description, topics = _checked(url, description, topics)
    endpoint = WebhookEndpoint(
        url=url,
        description=description,
        topics=topics,
        enabled=enabled,
        secret=new_secret(),
        created_at=utcnow(),
    )
    db.session.add(endpoint)
    db.session.flush()
    audit.record(by, "webhook_endpoint.create", endpoint, after=endpoint.snapshot())
    return endpoint


@service
def update_endpoint(
    endpoint: WebhookEndpoint,
    *,
    url: str,
    description: str = "",
    topics: list[str],
    enabled: bool,
    by: Any,
) -> WebhookEndpoint:
    """Change an endpoint; enabling it again clears its failure streak, and its deliveries
    still pending are tried again."""
    url, description, topics = _checked(url, description, topics)
    before = endpoint.snapshot()
    if enabled and not endpoint.enabled:
        endpoint.consecutive_failures = 0
        endpoint.failing_since = None
        endpoint.disabled_reason = ""
    endpoint.url, endpoint.description, endpoint.topics = url, description, topics
    endpoint.enabled = enabled
    audit.record(by, "webhook_endpoint.update", endpoint, before=before, after=endpoint.snapshot())
    return endpoint


@service
def delete_endpoint(endpoint: WebhookEndpoint, *, by: Any) -> None:
    audit.record(by, "webhook_endpoint.delete", endpoint, before=endpoint.snapshot())
    db.session.delete(endpoint)


@service
def rotate_secret(endpoint: WebhookEndpoint, *, by: Any) -> WebhookEndpoint:
    """A new secret; the old one keeps signing next to it for ROTATION_OVERLAP, so receivers
    can switch without missing a delivery."""
    now = utcnow()
    endpoint.previous_secret = endpoint.secret
    endpoint.previous_secret_until = now + ROTATION_OVERLAP
    endpoint.secret = new_secret()
    audit.record(
        by,
        "webhook_endpoint.rotate_secret",
        endpoint,
        after={"previous_secret_until": endpoint.previous_secret_until.isoformat()},
    )
    return endpoint


@workflow
def redeliver(delivery: WebhookDelivery, *, by: Any) -> WebhookDelivery:
    """Send a delivery again now, with its webhook-id and body (audited). The try runs in a
    Celery task (inline in the eager mode), never in the request itself when a worker runs."""
    from commerce.broker import queue_task
    from commerce.webhooks.tasks import send_delivery_task

    delivery_id = delivery.id
    with transaction():
        delivery = get_delivery(delivery_id)
        if not get_endpoint(delivery.endpoint_id).enabled:
            raise InvalidTransition("Enable the endpoint first: a disabled endpoint gets nothing.")
        before = {"status": delivery.status, "attempts": delivery.attempts}
        delivery.status = PENDING
        delivery.next_attempt_at = None
        delivery.locked_until = None
        audit.record(
            by,
            "webhook_delivery.redeliver",
            delivery,
            subject_type="webhook_delivery",
            subject_label=f"{delivery.topic} {delivery.message_id}",
            before=before,
            after={"status": PENDING},
        )
    queue_task(send_delivery_task, delivery_id)
    return get_delivery(delivery_id)

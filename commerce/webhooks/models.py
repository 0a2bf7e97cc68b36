"""Webhook endpoints and one delivery per (outbox event, endpoint)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from commerce.db import utcnow
from commerce.extensions import db
from commerce.sealed import Sealed

PENDING = "pending"  # waiting for its first or next try (or claimed: locked_until ahead)
SUCCEEDED = "succeeded"
FAILED = "failed"  # every try failed, or its endpoint was disabled/removed meanwhile
DELIVERY_STATUSES = (PENDING, SUCCEEDED, FAILED)


class WebhookEndpoint(db.Model):
    __tablename__ = "webhook_endpoint"
    audit_type = "webhook_endpoint"

    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(String(2000))
    description: Mapped[str] = mapped_column(String(255), default="")
    topics: Mapped[list[str]] = mapped_column(JSON, default=list)
    enabled: Mapped[bool] = mapped_column(default=True)
    # whsec_<base64>, encrypted at rest (commerce/sealed.py) as the one before a rotation
    secret: Mapped[str] = mapped_column(Sealed)
    # After a rotation the old secret keeps signing alongside the new one until this time.
    previous_secret: Mapped[str | None] = mapped_column(Sealed)
    previous_secret_until: Mapped[datetime | None]
    consecutive_failures: Mapped[int] = mapped_column(default=0)
    failing_since: Mapped[datetime | None]  # the first failed try since the last success
    disabled_reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    @property
    def audit_label(self) -> str:
        return self.url

    def snapshot(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "description": self.description,
            "topics": list(self.topics or []),
            "enabled": self.enabled,
        }


class WebhookDelivery(db.Model):
    """One event for one endpoint. `message_id` is the `webhook-id` header: it stays the same
    across retries and redeliveries so receivers can de-duplicate."""

    __tablename__ = "webhook_delivery"
    __table_args__ = (
        UniqueConstraint("event_id", "endpoint_id"),
        Index("ix_webhook_delivery_due", "status", "next_attempt_at"),
        Index("ix_webhook_delivery_endpoint", "endpoint_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("webhook_endpoint.id", ondelete="CASCADE"))
    event_id: Mapped[int]  # the outbox event it came from (the outbox prunes nothing it needs)
    topic: Mapped[str] = mapped_column(String(80))
    message_id: Mapped[str] = mapped_column(String(64), unique=True)
    body: Mapped[str] = mapped_column(Text)  # the JSON sent, fixed when the event was consumed
    status: Mapped[str] = mapped_column(String(20), default=PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None]
    locked_until: Mapped[datetime | None]  # a sender's claim; past it, the try counts as lost
    last_status_code: Mapped[int | None]
    last_response_ms: Mapped[int | None]
    last_response_excerpt: Mapped[str] = mapped_column(Text, default="")
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[datetime | None]

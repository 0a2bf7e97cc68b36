"""The transactional outbox: side effects are written with the change and run after commit.

`enqueue()` adds an event inside the caller's transaction, so a crash between commit and the
side effect loses nothing; `dispatch_pending()` hands events to their handlers, which must be
idempotent by event id (an event may be delivered twice, never zero times).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from flask import g, has_request_context
from sqlalchemy import JSON, Index, String, Text, select
from sqlalchemy.orm import Mapped, mapped_column

from commerce.db import transaction, utcnow
from commerce.extensions import celery, db

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 10

Handler = Callable[["OutboxEvent"], None]
_handlers: dict[str, list[Handler]] = {}


class OutboxEvent(db.Model):
    __tablename__ = "outbox_event"
    __table_args__ = (Index("ix_outbox_event_pending", "dispatched_at", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    topic: Mapped[str] = mapped_column(String(80))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    dispatched_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text)


def handler(topic: str) -> Callable[[Handler], Handler]:
    """Register a consumer for a topic (a module-level decorator)."""

    def register(fn: Handler) -> Handler:
        _handlers.setdefault(topic, []).append(fn)
        return fn

    return register


def enqueue(topic: str, payload: dict[str, Any]) -> OutboxEvent:
    event = OutboxEvent(topic=topic, payload=payload, created_at=utcnow())
    db.session.add(event)
    if has_request_context():
        g.outbox_pending = True
    return event


def dispatch_pending(*, limit: int = 500) -> int:
    """Deliver undelivered events in id order; returns how many were delivered."""
    with transaction() as session:
        stmt = (
            select(OutboxEvent)
            .where(OutboxEvent.dispatched_at.is_(None), OutboxEvent.attempts < MAX_ATTEMPTS)
            .order_by(OutboxEvent.id)
            .limit(limit)
        )
        if session.get_bind().dialect.name == "postgresql":
            stmt = stmt.with_for_update(skip_locked=True)
        events = list(session.scalars(stmt))
        delivered = 0
        for event in events:
            event.attempts += 1
            try:
                for fn in _handlers.get(event.topic, []):
                    fn(event)
            except Exception as exc:  # a failing consumer must not block the others
                log.exception("outbox event %s (%s) failed", event.id, event.topic)
                event.last_error = f"{type(exc).__name__}: {exc}"[:2000]
                continue
            event.dispatched_at = utcnow()
            event.last_error = None
            delivered += 1
    return delivered


@celery.task(name="commerce.outbox.dispatch")
def dispatch_outbox() -> int:
    return dispatch_pending()

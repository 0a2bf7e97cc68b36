"""The transactional outbox: side effects are written with the change and done after commit.

`enqueue()` adds an event inside the caller's transaction, so a crash between commit and the
side effect loses nothing. `deliver_pending()` hands due events to their consumers:

- An event counts as delivered only once every consumer's effect is done (the mail server
  accepted the email, the search change is recorded). Each consumer that finished is noted on
  the event (`completed`), so a retry runs only those that failed. Consumers are still
  idempotent by event id: a crash can fall between an outside effect and its note.
- Database consumers (the default) run in the dispatcher's transaction, in a savepoint each,
  and their note commits with their effect. Outside consumers (`atomic=False`, e.g. SMTP) run
  one event at a time with no transaction open, and own their transactions.
- Nothing is dropped: a failed event is tried again after a backoff that doubles up to
  OUTBOX_RETRY_MAX_SECONDS (`next_attempt_at`), for as long as it takes; `stuck_topics()` tells
  the console dashboard which consumers are behind.
- A dispatcher leases the events it takes (`locked_until`; claimed with FOR UPDATE SKIP LOCKED
  on PostgreSQL), so two dispatchers never deliver one event at once, and the events of one
  that died are taken again when its lease ends. It starts no new delivery once half its lease
  is used, and hands the rest back for the next run; one run tries each event at most once.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import JSON, Index, String, Text, func, or_, select, update
from sqlalchemy.orm import Mapped, mapped_column

from commerce.db import transaction, utcnow, workflow
from commerce.extensions import celery, db

log = logging.getLogger(__name__)

BATCH = 50  # events one dispatcher leases at a time
RETRY_BASE_SECONDS = 10  # the first retry waits this long; each next one twice as long
STUCK_ATTEMPTS = 3  # an event failed this often shows on the dashboard
OVERDUE = timedelta(minutes=5)  # ...and so does one waiting this long (is a worker running?)

Handler = Callable[["OutboxEvent"], None]


@dataclass(frozen=True)
class Consumer:
    name: str  # module.function: what `completed` records
    fn: Handler
    atomic: bool  # database work done in the dispatcher's transaction
    enabled: Callable[[], bool] | None = None  # None: always; else asked at each delivery


_handlers: dict[str, list[Consumer]] = {}
_enqueue_hooks: list[Callable[[], None]] = []
_payload_hooks: list[Callable[[str], dict[str, Any]]] = []


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
    # Not before this time (a backoff after a failure); NULL: as soon as possible.
    next_attempt_at: Mapped[datetime | None]
    # The dispatcher delivering it, and until when no other may take it.
    locked_by: Mapped[str | None] = mapped_column(String(80))
    locked_until: Mapped[datetime | None]
    # The consumers whose effect is done (Consumer.name), so a retry skips them.
    completed: Mapped[list[str]] = mapped_column(JSON, default=list, server_default="[]")


def handler(
    topic: str, *, atomic: bool = True, enabled: Callable[[], bool] | None = None
) -> Callable[[Handler], Handler]:
    """Register a consumer for a topic (a module-level decorator).

    `atomic` consumers change only this database: they run inside the dispatcher's transaction
    (a savepoint each) and must not commit. `atomic=False` is for effects outside the database
    (an email): the consumer runs with no transaction open and must be idempotent on its own.
    `enabled` (asked in the app's context) leaves a consumer out while its service is not
    configured (no edge cache to purge): events are delivered as if it did not exist.
    """

    def register(fn: Handler) -> Handler:
        name = f"{fn.__module__}.{fn.__qualname__}"
        consumers = _handlers.setdefault(topic, [])
        if all(c.name != name for c in consumers):
            consumers.append(Consumer(name, fn, atomic, enabled))
        return fn

    return register


def on_enqueue(hook: Callable[[], None]) -> Callable[[], None]:
    """Call `hook` after each `enqueue`. The web layer's: it marks the request, so delivery is
    queued once the request has committed (wsgi); this module knows nothing of requests."""
    if hook not in _enqueue_hooks:
        _enqueue_hooks.append(hook)
    return hook


def on_enqueue_payload(hook: Callable[[str], dict[str, Any]]) -> Callable[[str], dict[str, Any]]:
    """Let `hook(topic)` add values to each event's payload (the event's own values win). The
    web layer's: the address the shop was reached at, for links in emails sent later."""
    if hook not in _payload_hooks:
        _payload_hooks.append(hook)
    return hook


def enqueue(topic: str, payload: dict[str, Any]) -> OutboxEvent:
    for add in _payload_hooks:
        payload = {**add(topic), **payload}
    event = OutboxEvent(topic=topic, payload=payload, created_at=utcnow(), completed=[])
    db.session.add(event)
    for hook in _enqueue_hooks:
        hook()
    return event


# -- delivering ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Failure:
    event_id: int
    topic: str
    attempts: int
    error: str
    next_attempt_at: datetime


@dataclass
class DispatchReport:
    """What one dispatch run did, and what it left waiting."""

    delivered: int = 0
    failed: list[Failure] = field(default_factory=list)
    handed_back: int = 0  # leased but not started (half the lease used): taken again next run
    waiting: int = 0  # still undelivered afterwards: backing off, or leased by another run
    next_attempt_at: datetime | None = None  # the earliest retry among those waiting


@workflow
def dispatch_pending(*, limit: int = 500, retry_now: bool = False) -> int:
    """Deliver due events; returns how many were delivered (see deliver_pending)."""
    return deliver_pending(limit=limit, retry_now=retry_now).delivered


@workflow
def deliver_pending(*, limit: int = 500, retry_now: bool = False) -> DispatchReport:
    """Deliver due events, oldest first, up to `limit`; `retry_now` also takes events still
    backing off (after the cause of their failures was fixed). A multi-step workflow: it
    commits its own steps and refuses to run inside a transaction."""
    report = DispatchReport()
    me = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"[:80]
    tried: list[int] = []  # each event at most once per run, whatever happened to it
    while len(tried) < limit:
        events, started = _claim(me, min(BATCH, limit - len(tried)), tried, retry_now=retry_now)
        if not events:
            break
        tried += [e.id for e in events]
        _deliver(events, me, started, report)
    with transaction() as session:
        waiting, earliest = session.execute(
            select(func.count(), func.min(OutboxEvent.next_attempt_at)).where(
                OutboxEvent.dispatched_at.is_(None)
            )
        ).one()
    report.waiting, report.next_attempt_at = int(waiting or 0), earliest
    return report


def _lease() -> timedelta:
    return timedelta(seconds=float(current_app.config.get("OUTBOX_LEASE_SECONDS", 300)))


def backoff(attempts: int) -> timedelta:
    """The wait after the `attempts`-th failed delivery: 10 s, 20 s, 40 s... up to the cap."""
    cap = float(current_app.config.get("OUTBOX_RETRY_MAX_SECONDS", 900))
    return timedelta(seconds=min(RETRY_BASE_SECONDS * 2 ** max(attempts - 1, 0), cap))


def _claim(
    me: str, size: int, tried: list[int], *, retry_now: bool
) -> tuple[list[OutboxEvent], datetime]:
    """Lease up to `size` due events to `me` in one conditional UPDATE; returns copies of them
    (read once, then only updated by id) and when the lease began."""
    now = utcnow()
    due = [
        OutboxEvent.dispatched_at.is_(None),
        or_(OutboxEvent.locked_until.is_(None), OutboxEvent.locked_until < now),
    ]
    if not retry_now:
        due.append(or_(OutboxEvent.next_attempt_at.is_(None), OutboxEvent.next_attempt_at <= now))
    if tried:
        due.append(OutboxEvent.id.not_in(tried))
    with transaction() as session:
        pick = select(OutboxEvent.id).where(*due).order_by(OutboxEvent.id).limit(size)
        if session.get_bind().dialect.name == "postgresql":
            pick = pick.with_for_update(skip_locked=True)
        ids = list(
            session.scalars(
                update(OutboxEvent)
                .where(OutboxEvent.id.in_(pick))
                .values(locked_by=me, locked_until=now + _lease())
                .returning(OutboxEvent.id)
                .execution_options(synchronize_session=False)
            )
        )
        if not ids:
            return [], now
        rows = session.execute(
            select(
                OutboxEvent.id,
                OutboxEvent.topic,
                OutboxEvent.payload,
                OutboxEvent.created_at,
                OutboxEvent.attempts,
                OutboxEvent.completed,
            )
            .where(OutboxEvent.id.in_(ids))
            .order_by(OutboxEvent.id)
        ).all()
    # Copies outside the session: consumers read them while commits come and go, and the
    # session's own instances (a caller's) are left alone.
    events = [
        OutboxEvent(
            id=row.id,
            topic=row.topic,
            payload=row.payload,
            created_at=row.created_at,
            attempts=row.attempts,
            completed=list(row.completed or []),
        )
        for row in rows
    ]
    return events, now


def _consumers(topic: str, *, atomic: bool) -> list[Consumer]:
    return [
        c
        for c in _handlers.get(topic, [])
        if c.atomic is atomic and (c.enabled is None or c.enabled())
    ]


def _describe(consumer: Consumer, exc: BaseException) -> str:
    return f"{consumer.name}: {type(exc).__name__}: {exc}"


def _deliver(events: list[OutboxEvent], me: str, started: datetime, report: DispatchReport) -> None:
    completed = {e.id: list(e.completed or []) for e in events}
    errors: dict[int, list[str]] = {e.id: [] for e in events}

    def outside_left(event: OutboxEvent) -> bool:
        return any(c.name not in completed[event.id] for c in _consumers(event.topic, atomic=False))

    # 1. Database consumers, all in one transaction (a savepoint each): effects and notes
    #    commit together; an event with no outside consumer left is finished in that commit.
    with transaction() as session:
        for event in events:
            for consumer in _consumers(event.topic, atomic=True):
                if consumer.name in completed[event.id]:
                    continue
                try:
                    with session.begin_nested():
                        consumer.fn(event)
                except Exception as exc:  # a failing consumer must not block the others
                    log.exception(
                        "outbox event %s (%s): %s failed", event.id, event.topic, consumer.name
                    )
                    errors[event.id].append(_describe(consumer, exc))
                else:
                    completed[event.id].append(consumer.name)
        finished_here = []
        for event in events:
            if not outside_left(event):
                _finish(event, me, completed[event.id], errors[event.id], report)
                finished_here.append(event.id)
            elif completed[event.id] != list(event.completed or []):
                _note(event.id, me, completed[event.id])

    # 2. Outside consumers (email), one event at a time and with no transaction open, while
    #    the lease has time left; the rest go back for the next run.
    soft_deadline = started + _lease() / 2
    for event in events:
        if event.id in finished_here:
            continue
        if utcnow() >= soft_deadline:
            _hand_back(event.id, me)
            report.handed_back += 1
            continue
        for consumer in _consumers(event.topic, atomic=False):
            if consumer.name in completed[event.id]:
                continue
            _end_read_transaction()
            try:
                consumer.fn(event)
            except Exception as exc:
                log.exception(
                    "outbox event %s (%s): %s failed", event.id, event.topic, consumer.name
                )
                errors[event.id].append(_describe(consumer, exc))
                _end_read_transaction()
            else:
                completed[event.id].append(consumer.name)
                with transaction():
                    _note(event.id, me, completed[event.id])
        with transaction():
            _finish(event, me, completed[event.id], errors[event.id], report)


def _mine(event_id: int, me: str) -> Any:
    return update(OutboxEvent).where(OutboxEvent.id == event_id, OutboxEvent.locked_by == me)


def _note(event_id: int, me: str, completed: list[str]) -> None:
    db.session.execute(
        _mine(event_id, me)
        .values(completed=list(completed))
        .execution_options(synchronize_session=False)
    )


def _finish(
    event: OutboxEvent, me: str, completed: list[str], errors: list[str], report: DispatchReport
) -> None:
    """Delivered, or failed and due again after its backoff; the lease ends either way."""
    now = utcnow()
    attempts = (event.attempts or 0) + 1
    values: dict[str, Any] = {
        "attempts": attempts,
        "completed": list(completed),
        "locked_by": None,
        "locked_until": None,
    }
    if errors:
        next_at = now + backoff(attempts)
        error = "; ".join(errors)[:2000]
        values.update(last_error=error, next_attempt_at=next_at)
        report.failed.append(Failure(event.id, event.topic, attempts, error, next_at))
    else:
        values.update(dispatched_at=now, last_error=None, next_attempt_at=None)
        report.delivered += 1
    done = db.session.execute(
        _mine(event.id, me).values(**values).execution_options(synchronize_session=False)
    ).rowcount
    if not done:  # the lease ran out and another dispatcher took the event over
        log.warning("outbox event %s: lease lost before it was marked", event.id)


def _hand_back(event_id: int, me: str) -> None:
    with transaction() as session:
        session.execute(
            _mine(event_id, me)
            .values(locked_by=None, locked_until=None)
            .execution_options(synchronize_session=False)
        )


def _end_read_transaction() -> None:
    """Close the transaction a read may have begun, so none stays open across a slow outside
    effect (an SMTP conversation): an idle transaction holds back vacuum and a connection."""
    session = db.session()
    if session.in_transaction():
        session.commit()


@celery.task(name="commerce.outbox.dispatch")
def dispatch_outbox() -> int:
    """Deliver due events (beat runs it every few seconds; safe to run twice at once)."""
    return dispatch_pending()


# -- watching ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StuckTopic:
    """Events of one topic that failed repeatedly or wait past OVERDUE: a consumer is stuck,
    or no worker is running."""

    topic: str
    events: int
    oldest: datetime
    attempts: int  # the most attempts of one of them
    next_attempt_at: datetime | None
    last_error: str | None

    def age(self, now: datetime | None = None) -> timedelta:
        return (now or utcnow()) - self.oldest


def stuck_topics(*, now: datetime | None = None) -> list[StuckTopic]:
    now = now or utcnow()
    stuck = (
        OutboxEvent.dispatched_at.is_(None),
        or_(OutboxEvent.attempts >= STUCK_ATTEMPTS, OutboxEvent.created_at < now - OVERDUE),
    )
    rows = db.session.execute(
        select(
            OutboxEvent.topic,
            func.count(),
            func.min(OutboxEvent.created_at),
            func.max(OutboxEvent.attempts),
            func.min(OutboxEvent.next_attempt_at),
        )
        .where(*stuck)
        .group_by(OutboxEvent.topic)
        .order_by(func.min(OutboxEvent.created_at))
    ).all()
    found = []
    for topic, count, oldest, attempts, next_at in rows:
        last_error = db.session.scalar(
            select(OutboxEvent.last_error)
            .where(*stuck, OutboxEvent.topic == topic, OutboxEvent.last_error.is_not(None))
            .order_by(OutboxEvent.id.desc())
            .limit(1)
        )
        found.append(StuckTopic(topic, count, oldest, attempts or 0, next_at, last_error))
    return found

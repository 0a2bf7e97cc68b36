"""The outbox's delivery rules, on the suite's SQLite database: an event is delivered when every
consumer's effect is done, a retry runs only the consumers that failed, failures back off and
are never dropped, leases keep two dispatchers apart, and stuck consumers are reported.

The consumers here are test topics registered through the public decorator; the real ones
(emails, search, credit notes) have tests of their own."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import select

from commerce.db import in_transaction, transaction, utcnow
from commerce.extensions import db
from commerce.outbox import (
    RETRY_BASE_SECONDS,
    STUCK_ATTEMPTS,
    OutboxEvent,
    backoff,
    deliver_pending,
    dispatch_pending,
    enqueue,
    handler,
    stuck_topics,
)

calls: Counter[str] = Counter()
broken: set[str] = set()
seen_transactions: list[bool] = []


@handler("test.split")
def record_in_database(event: OutboxEvent) -> None:
    calls[f"db:{event.id}"] += 1
    if "db" in broken:
        raise RuntimeError("database consumer down")


@handler("test.split", atomic=False)
def call_outside(event: OutboxEvent) -> None:
    calls[f"outside:{event.id}"] += 1
    seen_transactions.append(db.session().in_transaction() or in_transaction())
    if "outside" in broken:
        raise ConnectionRefusedError("the mail server is down")


@pytest.fixture(autouse=True)
def clean_slate(app):
    dispatch_pending(limit=10_000, retry_now=True)  # events other tests left pending
    calls.clear()
    broken.clear()
    seen_transactions.clear()
    yield
    broken.clear()


def new_event(topic: str = "test.split") -> OutboxEvent:
    with transaction():
        event = enqueue(topic, {"n": 1})
    return event


def fresh(event: OutboxEvent) -> OutboxEvent:
    db.session.expire_all()
    return db.session.get(OutboxEvent, event.id)


def test_delivered_once_every_consumer_is_done():
    event = new_event()
    report = deliver_pending()
    assert report.delivered >= 1 and report.failed == []
    event = fresh(event)
    assert event.dispatched_at is not None and event.attempts == 1
    assert sorted(event.completed) == sorted(
        [
            "tests.commerce.test_outbox.record_in_database",
            "tests.commerce.test_outbox.call_outside",
        ]
    )
    assert (event.locked_by, event.locked_until, event.next_attempt_at) == (None, None, None)
    assert seen_transactions == [False]  # the outside consumer ran with no transaction open


def test_a_retry_runs_only_the_consumer_that_failed():
    broken.add("outside")
    event = new_event()
    report = deliver_pending()
    (failure,) = [f for f in report.failed if f.event_id == event.id]
    assert "ConnectionRefusedError" in failure.error and "call_outside" in failure.error
    event = fresh(event)
    assert event.dispatched_at is None and event.attempts == 1
    assert event.completed == ["tests.commerce.test_outbox.record_in_database"]
    assert event.next_attempt_at == failure.next_attempt_at

    broken.clear()
    assert dispatch_pending() == 0  # backing off: not due yet
    assert dispatch_pending(retry_now=True) == 1
    assert fresh(event).dispatched_at is not None
    assert calls == {f"db:{event.id}": 1, f"outside:{event.id}": 2}


def test_a_failing_database_consumer_rolls_back_alone():
    broken.add("db")
    event = new_event()
    deliver_pending()
    event = fresh(event)
    assert event.dispatched_at is None
    assert event.completed == ["tests.commerce.test_outbox.call_outside"]  # the email went
    broken.clear()
    dispatch_pending(retry_now=True)
    assert calls[f"outside:{event.id}"] == 1 and calls[f"db:{event.id}"] == 2


def test_failures_back_off_up_to_a_cap_and_are_never_dropped(app, monkeypatch):
    monkeypatch.setitem(app.config, "OUTBOX_RETRY_MAX_SECONDS", 900)
    waits = [backoff(n).total_seconds() for n in range(1, 10)]
    assert waits[:4] == [RETRY_BASE_SECONDS * 2**k for k in range(4)]
    assert waits == sorted(waits) and max(waits) == 900

    broken.add("outside")
    event = new_event()
    for _ in range(25):  # far past the old limit of 10 attempts
        dispatch_pending(retry_now=True)
    assert fresh(event).attempts == 25 and fresh(event).dispatched_at is None
    broken.clear()
    assert dispatch_pending(retry_now=True) == 1
    assert fresh(event).dispatched_at is not None


def test_an_event_leased_by_another_dispatcher_waits_for_its_lease():
    event = new_event()
    with transaction():
        row = db.session.get(OutboxEvent, event.id)
        row.locked_by, row.locked_until = "elsewhere:1:dead", utcnow() + timedelta(minutes=5)
    assert dispatch_pending(retry_now=True) == 0
    assert calls[f"outside:{event.id}"] == 0
    with transaction():  # that dispatcher died: its lease runs out
        db.session.get(OutboxEvent, event.id).locked_until = utcnow() - timedelta(seconds=1)
    assert dispatch_pending() == 1
    assert fresh(event).locked_by is None


def test_a_dispatcher_hands_back_what_it_cannot_start_within_its_lease(app, monkeypatch):
    monkeypatch.setitem(app.config, "OUTBOX_LEASE_SECONDS", 0)  # no time left at all
    events = [new_event(), new_event()]
    report = deliver_pending()
    assert report.handed_back == 2 and report.delivered == 0
    for event in events:
        event = fresh(event)
        assert (event.locked_by, event.attempts) == (None, 0)
        assert event.completed == ["tests.commerce.test_outbox.record_in_database"]
    monkeypatch.setitem(app.config, "OUTBOX_LEASE_SECONDS", 300)
    assert dispatch_pending() == 2
    assert all(calls[f"db:{e.id}"] == 1 for e in events)  # noted: not run twice


def test_it_refuses_to_run_inside_a_transaction():
    with transaction(), pytest.raises(RuntimeError):
        deliver_pending()


def test_stuck_topics_name_the_topic_its_backlog_and_the_last_error():
    broken.add("outside")
    event = new_event()
    for _ in range(STUCK_ATTEMPTS):
        dispatch_pending(retry_now=True)
    with transaction():  # and an event nobody delivered for an hour (no worker running)
        late = enqueue("test.unheard", {})
        db.session.flush()
        late.created_at = utcnow() - timedelta(hours=1)
    stuck = {s.topic: s for s in stuck_topics()}
    split = stuck["test.split"]
    assert (split.events, split.attempts) == (1, STUCK_ATTEMPTS)
    assert "the mail server is down" in split.last_error
    assert split.next_attempt_at is not None
    unheard = stuck["test.unheard"]
    assert unheard.last_error is None and unheard.age() >= timedelta(minutes=59)
    broken.clear()
    dispatch_pending(retry_now=True)
    assert fresh(event).dispatched_at is not None
    assert "test.split" not in {s.topic for s in stuck_topics()}


def test_the_dispatch_command_says_what_it_did(app):
    broken.add("outside")
    event = new_event()
    runner = app.test_cli_runner()
    output = runner.invoke(args=["outbox", "dispatch"]).output
    assert "Delivered 0 events" in output
    assert f"Failed: event {event.id} (test.split), attempt 1" in output
    assert "ConnectionRefusedError: the mail server is down" in output
    assert "1 events still waiting (the next retry at" in output
    broken.clear()
    assert "Delivered 0 events" in runner.invoke(args=["outbox", "dispatch"]).output
    output = runner.invoke(args=["outbox", "dispatch", "--retry-now"]).output
    assert "Delivered 1 events" in output and "waiting" not in output
    assert (
        db.session.scalars(select(OutboxEvent.id).where(OutboxEvent.dispatched_at.is_(None))).all()
        == []
    )

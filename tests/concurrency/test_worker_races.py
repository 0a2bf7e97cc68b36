"""Races of the background machinery on PostgreSQL, with real threads released together:
dispatchers over one outbox deliver each event once (leases claimed with FOR UPDATE SKIP
LOCKED), a redelivered task and the sweep never both take a stopped job, and a heartbeat keeps
a long job from being taken for a dead one."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from commerce.db import transaction, utcnow
from commerce.extensions import celery, db
from commerce.jobs import FAILED, RUNNING, claim_job, create_job, get_job, heartbeat, sweep_jobs
from commerce.outbox import OutboxEvent, deliver_pending, enqueue, handler
from tests.celery_processes import wait_for
from tests.concurrency.conftest import run_together, unexpected

pytestmark = pytest.mark.postgres

_deliveries: list[tuple[int, str]] = []
_lock = threading.Lock()


@handler("test.race", atomic=False)
def take_a_moment(event: OutboxEvent) -> None:
    """An outside effect (as an SMTP call is): slow enough for dispatchers to overlap."""
    threading.Event().wait(0.002)
    with _lock:
        _deliveries.append((event.id, threading.current_thread().name))


def test_dispatchers_racing_over_the_outbox_deliver_each_event_once(race_app):
    _deliveries.clear()
    with transaction():
        for n in range(150):
            enqueue("test.race", {"n": n})
    outcomes = run_together(race_app, 6, lambda i: deliver_pending())
    assert unexpected(outcomes) == []
    per_event = Counter(event_id for event_id, _ in _deliveries)
    assert len(per_event) == 150 and set(per_event.values()) == {1}
    assert sum(o.value.delivered for o in outcomes) == 150
    left = db.session.scalar(
        select(func.count()).select_from(OutboxEvent).where(OutboxEvent.dispatched_at.is_(None))
    )
    assert left == 0
    dispatchers = {thread for _, thread in _deliveries}
    print(f"dispatchers that delivered: {len(dispatchers)} of 6")


def test_a_redelivered_task_and_the_sweep_never_both_take_a_stopped_job(race_app):
    jobs = []
    for n in range(12):
        job = create_job("catalog_import", title=f"Stopped {n}", params={}, by=None)
        jobs.append(job.id)
    with transaction():
        for job_id in jobs:
            job = get_job(job_id)
            job.status, job.runs, job.heartbeat_at = RUNNING, 1, utcnow() - timedelta(hours=1)

    claims_per_job = 3

    def work(i: int) -> object:
        if i < len(jobs) * claims_per_job:
            job_id = jobs[i % len(jobs)]
            return ("claim", job_id, claim_job(job_id))
        # The sweep's one UPDATE tends to win outright; starting it a few milliseconds late
        # lets the claims win some jobs too, so both sides of the race are exercised.
        threading.Event().wait(0.004 * (i % 2))
        return ("sweep", sweep_jobs().stopped)

    outcomes = run_together(race_app, len(jobs) * claims_per_job + 4, work)
    assert unexpected(outcomes) == []
    claimed = Counter(v[1] for v in (o.value for o in outcomes) if v[0] == "claim" and v[2])
    swept = Counter(j for v in (o.value for o in outcomes) if v[0] == "sweep" for j in v[1])
    db.session.expire_all()
    for job_id in jobs:
        job = get_job(job_id)
        assert claimed[job_id] + swept[job_id] == 1, (job_id, claimed, swept)
        if claimed[job_id]:
            assert (job.status, job.runs) == (RUNNING, 2)
        else:
            assert (job.status, job.runs) == (FAILED, 1)
    print(f"claimed by a redelivery: {len(claimed)}, failed by the sweep: {len(swept)}")


def test_a_heartbeat_keeps_a_long_job_alive_and_its_silence_fails_it(race_app, monkeypatch):
    monkeypatch.setitem(race_app.config, "JOB_HEARTBEAT_SECONDS", 0.05)
    monkeypatch.setitem(race_app.config, "JOB_STALE_SECONDS", 1)
    monkeypatch.setitem(celery.conf, "task_always_eager", False)  # as on a worker
    job = create_job("catalog_import", title="Long", params={}, by=None)
    assert claim_job(job.id)

    beats: set = set()

    def enough_beats() -> bool:
        """25 distinct heartbeats, at least 0.05 s apart: the job ran past JOB_STALE_SECONDS."""
        db.session.rollback()
        beats.add(get_job(job.id).heartbeat_at)
        return len(beats) >= 25

    with heartbeat(job.id):  # the job's work goes on meanwhile
        wait_for(enough_beats, timeout=30, what="heartbeats", every=0.02)
        assert sweep_jobs().stopped == []
    db.session.rollback()
    assert get_job(job.id).status == RUNNING

    def failed() -> bool:
        return job.id in sweep_jobs().stopped

    wait_for(failed, timeout=30, what="the silent job to be failed", every=0.2)

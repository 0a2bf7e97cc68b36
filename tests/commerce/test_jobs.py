"""Jobs that survive their worker: the claim, the sweep, running again, and tasks that are safe
to run twice. On the suite's SQLite database with the eager embedded Celery (tasks run
inline); the same code against PostgreSQL races is in tests/concurrency/test_worker_races.py,
and against real killed workers in tests/faults/test_worker_crash.py."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from commerce.audit import AuditEntry
from commerce.catalog.csv_uploads import create_apply_job, store_upload
from commerce.catalog.models import Product
from commerce.catalog.tasks import import_csv, start_import_check
from commerce.db import transaction, utcnow
from commerce.errors import Conflict
from commerce.extensions import db
from commerce.jobs import (
    FAILED,
    MAX_REQUEUES,
    MAX_RUNS,
    NEVER_STARTED,
    QUEUED,
    RUNNING,
    SUCCEEDED,
    WORKER_STOPPED,
    claim_job,
    create_job,
    get_job,
    run_job_again,
    sweep_jobs,
)
from tests.commerce.catalog.test_csv_import import csv_bytes

FILE = csv_bytes(
    [
        {"handle": f"tote-{n}", "title": f"Tote {n}", "sku": f"T-{n}", "price": "9.00"}
        for n in range(3)
    ]
)


def products() -> int:
    return db.session.scalar(select(func.count()).select_from(Product))


def set_state(job_id: str, *, status: str, heartbeat_ago: timedelta, **values) -> None:
    """What a worker that died long ago leaves behind (or a message that never arrived)."""
    with transaction():
        job = get_job(job_id)
        job.status, job.heartbeat_at = status, utcnow() - heartbeat_ago
        for name, value in values.items():
            setattr(job, name, value)


@pytest.fixture
def checked(make_staff):
    """An upload whose check passed, and its import job, queued but not run yet."""
    staff = make_staff("merchandiser")
    upload = store_upload(FILE, filename="totes.csv")
    assert start_import_check(upload, by=staff).status == SUCCEEDED
    return staff, upload, create_apply_job(upload.id, by=staff)


def test_a_task_claims_its_job_once_and_a_second_delivery_does_nothing(checked):
    _staff, _upload, job = checked
    assert import_csv.run(job.id) is True
    db.session.expire_all()
    assert (get_job(job.id).status, get_job(job.id).runs, products()) == (SUCCEEDED, 1, 3)
    assert import_csv.run(job.id, "/the/path/an/older/release/sent") is False
    assert get_job(job.id).runs == 1 and products() == 3


def test_the_sweep_fails_a_job_whose_worker_stopped_and_spares_a_live_one(checked, app):
    _staff, upload, job = checked
    stale = timedelta(seconds=app.config["JOB_STALE_SECONDS"] + 60)
    set_state(job.id, status=RUNNING, heartbeat_ago=stale, runs=1)
    alive = create_job("catalog_import", title="Alive", params={}, by=None)
    set_state(alive.id, status=RUNNING, heartbeat_ago=timedelta(seconds=1), runs=1)

    with pytest.raises(Conflict) as refused:  # not "already imported": it is stuck
        create_apply_job(upload.id, by=None)
    assert "being imported" in refused.value.message

    report = sweep_jobs()
    assert report.stopped == [job.id]
    db.session.expire_all()
    stopped = get_job(job.id)
    assert (stopped.status, stopped.message) == (FAILED, WORKER_STOPPED)
    assert stopped.finished_at is not None and stopped.can_run_again
    assert get_job(alive.id).status == RUNNING
    assert sweep_jobs().stopped == []  # a second sweep finds nothing more


def test_a_redelivered_task_takes_over_a_stopped_job_but_not_forever(checked, app):
    _staff, _upload, job = checked
    stale = timedelta(seconds=app.config["JOB_STALE_SECONDS"] + 60)
    set_state(job.id, status=RUNNING, heartbeat_ago=stale, runs=1)
    assert import_csv.run(job.id) is True  # the message came back after the crash
    db.session.expire_all()
    assert (get_job(job.id).status, get_job(job.id).runs, products()) == (SUCCEEDED, 2, 3)

    other = create_job("catalog_import", title="Kills its worker", params={}, by=None)
    set_state(other.id, status=RUNNING, heartbeat_ago=stale, runs=MAX_RUNS)
    assert claim_job(other.id) is False  # three crashes are enough: the sweep fails it
    assert sweep_jobs().stopped == [other.id]


def test_a_job_whose_message_was_lost_is_sent_again_then_given_up(checked, app):
    _staff, _upload, job = checked
    waited = timedelta(seconds=app.config["JOB_QUEUED_SECONDS"] + 60)
    set_state(job.id, status=QUEUED, heartbeat_ago=waited)
    report = sweep_jobs()
    assert report.requeued == [job.id]  # the embedded mode runs it at once
    db.session.expire_all()
    assert (get_job(job.id).status, get_job(job.id).requeues, products()) == (SUCCEEDED, 1, 3)

    lost = create_job("catalog_import", title="Never arrives", params={}, by=None)
    set_state(lost.id, status=QUEUED, heartbeat_ago=waited, requeues=MAX_REQUEUES)
    assert sweep_jobs().never_started == [lost.id]
    db.session.expire_all()
    assert (get_job(lost.id).status, get_job(lost.id).message) == (FAILED, NEVER_STARTED)


def test_a_stopped_import_runs_again_whole(checked, app):
    staff, _upload, job = checked
    stale = timedelta(seconds=app.config["JOB_STALE_SECONDS"] + 60)
    set_state(job.id, status=RUNNING, heartbeat_ago=stale, runs=1)
    sweep_jobs()
    fresh = run_job_again(job.id, by=staff)
    assert fresh.id != job.id and fresh.params["again_of"] == job.id
    db.session.expire_all()
    assert get_job(fresh.id).status == SUCCEEDED and products() == 3
    assert get_job(job.id).status == FAILED  # the stopped run keeps its story
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "job.run_again"))
    assert entry.subject_id == job.id and entry.actor_id == staff.id
    assert entry.after == {"job_id": fresh.id, "kind": "catalog_import"}
    with pytest.raises(Conflict):  # not twice: the file is imported now
        run_job_again(job.id, by=staff)


def test_only_a_job_that_stopped_can_run_again(checked, make_staff):
    staff, _upload, job = checked
    with pytest.raises(Conflict, match="Only a job that stopped"):
        run_job_again(job.id, by=staff)  # queued
    bad = store_upload(csv_bytes([{"handle": "x", "title": "X", "price": "-1"}]), filename="b.csv")
    check = start_import_check(bad, by=staff)
    assert check.status == FAILED and not check.can_run_again
    with pytest.raises(Conflict, match="would fail the same way"):
        run_job_again(check.id, by=staff)


def test_a_code_batch_run_twice_holds_the_count_asked_for():
    from commerce.promotions import coupons
    from commerce.promotions.code_jobs import create_generation_job
    from commerce.promotions.models import CouponCode
    from commerce.promotions.services import create_promotion
    from commerce.promotions.tasks import generate_codes_task

    promotion = create_promotion(
        by=None,
        name="Ten off",
        actions=[{"kind": "percent_off_order", "params": {"percent": "10"}}],
    )
    job = create_generation_job(promotion, count=5, prefix="RUN", length=8, by=None)
    # The first run made two codes of its batch before its worker died.
    coupons.generate_coupon_codes(
        promotion, count=2, prefix="RUN", batch=job.params["batch"], by=None
    )
    set_state(job.id, status=RUNNING, heartbeat_ago=timedelta(hours=1), runs=1)
    assert generate_codes_task.run(job.id) is True  # redelivered

    def batch() -> int:
        return db.session.scalar(
            select(func.count())
            .select_from(CouponCode)
            .where(CouponCode.batch == job.params["batch"])
        )

    assert batch() == 5
    db.session.expire_all()
    assert get_job(job.id).status == SUCCEEDED and get_job(job.id).result["count"] == 5
    set_state(job.id, status=FAILED, heartbeat_ago=timedelta(0), result={"retryable": True})
    run_job_again(job.id, by=None)  # "Run again" of the same batch adds nothing more
    assert batch() == 5


def test_the_sweep_command_says_what_it_did(checked, app):
    _staff, _upload, job = checked
    set_state(job.id, status=RUNNING, heartbeat_ago=timedelta(hours=1), runs=1)
    output = app.test_cli_runner().invoke(args=["jobs", "sweep"]).output
    assert "1 stopped jobs failed, 0 queued again, 0 never started and failed" in output
    assert f"failed: {job.id}" in output

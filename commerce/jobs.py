"""Background jobs as the console sees them: kind, progress, outcome, and recovery.

Progress lives in the database rather than in Celery's result backend, so the progress bar
works the same with the eager embedded mode and with a real worker.

A job survives its worker dying:

- A task claims its job with one conditional UPDATE before doing anything (`claim_job`): a
  queued job, or a running one whose heartbeat stopped (a message redelivered after a crash).
  A task for a finished job, or for one a live worker runs, does nothing; the periodic sweep
  and a redelivered task never both take the same job.
- While it runs on a worker, a thread notes every JOB_HEARTBEAT_SECONDS that it is alive
  (progress reports count too).
- `sweep_jobs()` (beat, every minute) fails a running job silent for JOB_STALE_SECONDS with
  WORKER_STOPPED, and sends a job still queued after JOB_QUEUED_SECONDS to its worker again
  (its message was lost, e.g. Redis restarted), up to MAX_REQUEUES times, then fails it.
- A job failed that way (or by an unexpected error) can run again (`run_job_again`), as a new
  job with the same parameters; each kind says how (`job_task(..., again=...)`).
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from celery import Task
from flask import current_app
from sqlalchemy import JSON, ForeignKey, Index, String, Text, and_, func, or_, select, update
from sqlalchemy.orm import Mapped, mapped_column

from commerce import audit
from commerce.broker import queue_task
from commerce.db import service, transaction, utcnow
from commerce.errors import Conflict, NotFound
from commerce.extensions import celery, db

log = logging.getLogger(__name__)

QUEUED, RUNNING, SUCCEEDED, FAILED = "queued", "running", "succeeded", "failed"
MAX_RUNS = 3  # claims of one job (a job that kills its worker each time is failed after this)
MAX_REQUEUES = 3  # times a job still queued is sent to a worker again before it is failed

WORKER_STOPPED = "The worker stopped while running this job; run it again."
NEVER_STARTED = "No worker started this job (its message was lost); run it again."
NOT_QUEUED = "The job could not be queued; try again in a minute."
UNEXPECTED = "The job stopped on an unexpected error; run it again."


class Job(db.Model):
    __tablename__ = "job"
    __table_args__ = (Index("ix_job_status_heartbeat", "status", "heartbeat_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    kind: Mapped[str] = mapped_column(String(60))
    title: Mapped[str] = mapped_column(String(255), default="")
    status: Mapped[str] = mapped_column(String(20), default=QUEUED)
    total: Mapped[int] = mapped_column(default=0)
    done: Mapped[int] = mapped_column(default=0)
    message: Mapped[str] = mapped_column(Text, default="")
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_member.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
    started_at: Mapped[datetime | None]
    # The last sign of life: when it was (re)queued while queued, the worker's last heartbeat
    # or progress report while running.
    heartbeat_at: Mapped[datetime | None]
    runs: Mapped[int] = mapped_column(default=0, server_default="0")  # claims by a task
    requeues: Mapped[int] = mapped_column(default=0, server_default="0")

    @property
    def percent(self) -> int:
        if self.status in (SUCCEEDED, FAILED):
            return 100
        return int(100 * self.done / self.total) if self.total else 0

    @property
    def finished(self) -> bool:
        return self.status in (SUCCEEDED, FAILED)

    @property
    def can_run_again(self) -> bool:
        """Failed for a reason that running it again may cure (its worker stopped, it was
        never started, an unexpected error), and of a kind that knows how."""
        registered = _KINDS.get(self.kind)
        return (
            self.status == FAILED
            and bool((self.result or {}).get("retryable"))
            and registered is not None
            and registered.again is not None
        )


@service
def create_job(kind: str, *, title: str, params: dict[str, Any], by: Any) -> Job:
    now = utcnow()
    job = Job(
        id=str(uuid.uuid4()),
        kind=kind,
        title=title,
        params=params,
        created_by_id=getattr(by, "id", None),
        created_at=now,
        heartbeat_at=now,
        runs=0,
        requeues=0,
    )
    db.session.add(job)
    return job


def get_job(job_id: str) -> Job:
    job = db.session.get(Job, job_id)
    if job is None:
        raise NotFound("No such job.")
    return job


def report_progress(job_id: str, *, done: int, total: int | None = None, message: str = "") -> None:
    """A short write of its own, so a watcher sees progress while the job's work is uncommitted.

    It uses a separate connection: the job's main transaction may be holding many rows. It is
    also a heartbeat; a job already finished (the sweep gave up on it) is left as it is.
    """
    values: dict[str, Any] = {"done": done, "status": RUNNING, "heartbeat_at": utcnow()}
    if total is not None:
        values["total"] = total
    if message:
        values["message"] = message
    stmt = update(Job).where(Job.id == job_id, Job.status.in_((QUEUED, RUNNING))).values(**values)
    if db.session.info.get("commerce.tx_depth", 0) or db.session().in_transaction():
        if db.engine.dialect.name == "sqlite":
            return  # SQLite allows one writer: progress shows when the job finishes
        with db.engine.begin() as conn:
            conn.execute(stmt)
        return
    with transaction():
        db.session.execute(stmt)


@service
def finish_job(
    job_id: str,
    *,
    result: dict[str, Any],
    failed: bool = False,
    message: str = "",
    retryable: bool = False,
) -> None:
    """Record the outcome. `retryable`: a failure that running the job again may cure."""
    job = get_job(job_id)
    job.status = FAILED if failed else SUCCEEDED
    job.result = {**result, "retryable": True} if failed and retryable else result
    job.message = message or job.message
    job.done = job.total if not failed and job.total else job.done
    job.finished_at = utcnow()


# -- running on a worker ---------------------------------------------------------------------


@dataclass(frozen=True)
class JobKind:
    task: Task  # runs one job of the kind: task.delay(job_id)
    again: Callable[[Job, Any], Job] | None  # (stopped job, by) -> the new job, not yet queued
    on_lost: Callable[[str], None] | None  # tidy up after a job whose worker stopped


_KINDS: dict[str, JobKind] = {}


def job_task(
    kind: str,
    *,
    name: str,
    again: Callable[[Job, Any], Job] | None = None,
    on_lost: Callable[[str], None] | None = None,
) -> Callable[[Callable[[str], Any]], Task]:
    """Make `run(job_id)` the Celery task of a job kind: the task claims the job first (a
    redelivered or duplicate message for a job that is finished, or running elsewhere, does
    nothing) and keeps its heartbeat while it runs. `run` records the outcome (finish_job)."""

    def register(run: Callable[[str], Any]) -> Task:
        def run_job(job_id: str, *_earlier_args: Any) -> bool:
            return run_claimed(job_id, run)

        run_job.__doc__ = run.__doc__
        task = celery.task(name=name)(run_job)
        _KINDS[kind] = JobKind(task, again, on_lost)
        return task

    return register


def queue_job(job: Job) -> Job:
    """Send a job to a worker (inline in the embedded mode). A broker that is down leaves the
    job queued (commerce.broker logs it) and the sweep sends it again once the broker is back;
    only an inline run that blew up before recording its outcome fails the job here."""
    try:
        queue_task(_KINDS[job.kind].task, job.id)
    except Exception:
        log.exception("could not run %s job %s", job.kind, job.id)
        finish_job(job.id, result={"ok": False}, failed=True, retryable=True, message=NOT_QUEUED)
    return job


def claim_job(job_id: str) -> bool:
    """Take the job for this run: one conditional UPDATE, true when this run got it. A queued
    job, or a running one whose worker stopped (its message came back), under MAX_RUNS."""
    now = utcnow()
    stale = now - timedelta(seconds=current_app.config["JOB_STALE_SECONDS"])
    with transaction() as session:
        claimed = session.execute(
            update(Job)
            .where(
                Job.id == job_id,
                Job.runs < MAX_RUNS,
                or_(
                    Job.status == QUEUED,
                    and_(
                        Job.status == RUNNING,
                        func.coalesce(Job.heartbeat_at, Job.created_at) < stale,
                    ),
                ),
            )
            .values(
                status=RUNNING,
                started_at=func.coalesce(Job.started_at, now),
                heartbeat_at=now,
                runs=Job.runs + 1,
            )
            .execution_options(synchronize_session=False)
        ).rowcount
    return bool(claimed)


def run_claimed(job_id: str, run: Callable[[str], Any]) -> bool:
    """Claim the job, run it with a heartbeat, and make sure it ends finished; False when it
    was not this run's to do."""
    if not claim_job(job_id):
        job = db.session.get(Job, job_id)
        state = f"{job.status} (run {job.runs})" if job is not None else "gone"
        log.info("job %s is %s: nothing to do", job_id, state)
        return False
    try:
        with heartbeat(job_id):
            run(job_id)
    except Exception:
        log.exception("job %s stopped on an unexpected error", job_id)
        db.session.rollback()
        finish_job(job_id, result={"ok": False}, failed=True, retryable=True, message=UNEXPECTED)
        return True
    with transaction() as session:
        # A runner that returned without an outcome would otherwise look stopped later.
        session.execute(
            update(Job)
            .where(Job.id == job_id, Job.status == RUNNING)
            .values(
                status=FAILED,
                finished_at=utcnow(),
                message=UNEXPECTED,
                result={"ok": False, "retryable": True},
            )
            .execution_options(synchronize_session=False)
        )
    return True


@contextmanager
def heartbeat(job_id: str) -> Iterator[None]:
    """While a job runs on a worker, a thread notes every JOB_HEARTBEAT_SECONDS that it is
    alive, on its own connection; inline runs (embedded mode) need none."""
    if celery.conf.task_always_eager:
        yield
        return
    every = float(current_app.config["JOB_HEARTBEAT_SECONDS"])
    engine = db.engine
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(every):
            try:
                with engine.begin() as conn:
                    conn.execute(
                        update(Job)
                        .where(Job.id == job_id, Job.status == RUNNING)
                        .values(heartbeat_at=utcnow())
                    )
            except Exception:  # the database is busy or away: the next beat tries again
                log.warning("heartbeat of job %s not recorded", job_id, exc_info=True)

    thread = threading.Thread(target=beat, name=f"job-heartbeat-{job_id[:8]}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)


# -- the sweep -------------------------------------------------------------------------------


@dataclass
class SweepReport:
    stopped: list[str] = field(default_factory=list)  # running, worker gone: failed
    requeued: list[str] = field(default_factory=list)  # queued too long: sent again
    never_started: list[str] = field(default_factory=list)  # queued, sent too often: failed


def sweep_jobs() -> SweepReport:
    """Fail jobs whose worker stopped, send again (or fail) jobs whose message was lost."""
    report = SweepReport()
    now = utcnow()
    config = current_app.config
    stale = now - timedelta(seconds=config["JOB_STALE_SECONDS"])
    waited = now - timedelta(seconds=config["JOB_QUEUED_SECONDS"])
    last_sign = func.coalesce(Job.heartbeat_at, Job.created_at)
    with transaction() as session:
        stopped = session.execute(
            update(Job)
            .where(Job.status == RUNNING, last_sign < stale)
            .values(
                status=FAILED,
                finished_at=now,
                message=WORKER_STOPPED,
                result={"ok": False, "retryable": True, "worker_stopped": True},
            )
            .returning(Job.id, Job.kind)
            .execution_options(synchronize_session=False)
        ).all()
        queued = session.execute(
            select(Job.id, Job.kind, Job.requeues).where(Job.status == QUEUED, last_sign < waited)
        ).all()
    for job_id, kind in stopped:
        log.warning("job %s (%s): %s", job_id, kind, WORKER_STOPPED)
        report.stopped.append(job_id)
        registered = _KINDS.get(kind)
        if registered is not None and registered.on_lost is not None:
            try:
                registered.on_lost(job_id)
            except Exception:
                log.exception("tidying up after job %s failed", job_id)
    for job_id, kind, requeues in queued:
        registered = _KINDS.get(kind)
        still = (Job.id == job_id, Job.status == QUEUED, last_sign < waited)
        with transaction() as session:
            if registered is None or requeues >= MAX_REQUEUES:
                gave_up = session.execute(
                    update(Job)
                    .where(*still)
                    .values(
                        status=FAILED,
                        finished_at=now,
                        message=NEVER_STARTED,
                        result={"ok": False, "retryable": True, "never_started": True},
                    )
                    .execution_options(synchronize_session=False)
                ).rowcount
                if gave_up:
                    report.never_started.append(job_id)
                continue
            taken = session.execute(
                update(Job)
                .where(*still, Job.requeues == requeues)
                .values(requeues=requeues + 1, heartbeat_at=now)
                .execution_options(synchronize_session=False)
            ).rowcount
        if taken:
            log.warning("job %s (%s) was never started: queued again", job_id, kind)
            try:
                registered.task.delay(job_id)
            except Exception:  # the broker is away: the next sweep tries again
                log.exception("could not queue job %s again", job_id)
                continue
            report.requeued.append(job_id)
    return report


@celery.task(name="commerce.jobs.sweep")
def sweep_jobs_task() -> dict[str, int]:
    """The periodic sweep (beat, every minute); safe to run twice at once."""
    report = sweep_jobs()
    return {
        "stopped": len(report.stopped),
        "requeued": len(report.requeued),
        "never_started": len(report.never_started),
    }


# -- running again ---------------------------------------------------------------------------


def run_job_again(job_id: str, *, by: Any) -> Job:
    """Start a stopped job again, as a new job (the stopped one keeps its story); Conflict for
    a job that is not failed or whose failure another run would not cure."""
    job = get_job(job_id)
    if not job.can_run_again:
        if job.status != FAILED:
            raise Conflict("Only a job that stopped can run again.")
        raise Conflict("This job failed on its input: running it again would fail the same way.")
    registered = _KINDS[job.kind]
    assert registered.again is not None
    with transaction():
        fresh = registered.again(job, by)
        fresh.params = {**fresh.params, "again_of": job.id}
        audit.record(
            by,
            "job.run_again",
            subject_type="job",
            subject_id=job.id,
            subject_label=job.title,
            after={"job_id": fresh.id, "kind": job.kind},
        )
    return queue_job(fresh)


def copy_job(job: Job, by: Any) -> Job:
    """The plain `again` of a kind whose parameters say everything: the same job, new."""
    return create_job(job.kind, title=job.title, params=dict(job.params), by=by)

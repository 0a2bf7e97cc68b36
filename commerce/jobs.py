"""Background jobs as the console sees them: kind, progress, outcome.

Progress lives in the database rather than in Celery's result backend, so the progress bar
works the same with the eager embedded mode and with a real worker.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, Text, update
from sqlalchemy.orm import Mapped, mapped_column

from commerce.db import transaction, utcnow
from commerce.errors import NotFound
from commerce.extensions import db

QUEUED, RUNNING, SUCCEEDED, FAILED = "queued", "running", "succeeded", "failed"


class Job(db.Model):
    __tablename__ = "job"

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

    @property
    def percent(self) -> int:
        if self.status in (SUCCEEDED, FAILED):
            return 100
        return int(100 * self.done / self.total) if self.total else 0

    @property
    def finished(self) -> bool:
        return self.status in (SUCCEEDED, FAILED)


def create_job(kind: str, *, title: str, params: dict[str, Any], by: Any) -> Job:
    with transaction():
        job = Job(
            id=str(uuid.uuid4()),
            kind=kind,
            title=title,
            params=params,
            created_by_id=getattr(by, "id", None),
            created_at=utcnow(),
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

    It uses a separate connection: the job's main transaction may be holding many rows.
    """
    values: dict[str, Any] = {"done": done, "status": RUNNING}
    if total is not None:
        values["total"] = total
    if message:
        values["message"] = message
    stmt = update(Job).where(Job.id == job_id).values(**values)
    if db.session.info.get("commerce.tx_depth", 0) or db.session().in_transaction():
        if db.engine.dialect.name == "sqlite":
            return  # SQLite allows one writer: progress shows when the job finishes
        with db.engine.begin() as conn:
            conn.execute(stmt)
        return
    with transaction():
        db.session.execute(stmt)


def finish_job(
    job_id: str, *, result: dict[str, Any], failed: bool = False, message: str = ""
) -> None:
    with transaction():
        job = get_job(job_id)
        job.status = FAILED if failed else SUCCEEDED
        job.result = result
        job.message = message or job.message
        job.done = job.total if not failed and job.total else job.done
        job.finished_at = utcnow()

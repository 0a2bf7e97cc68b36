"""Catalog background work: thin Celery tasks over the catalog services.

A task gets the job id and the file path, never ORM objects, so the eager embedded mode and a
real worker run the same code; the job row carries progress and outcome for the console.
"""

from __future__ import annotations

import logging
from typing import Any

from commerce.broker import queue_task
from commerce.catalog.csv_uploads import (
    Upload,
    create_apply_job,
    create_check_job,
    run_import_job,
)
from commerce.extensions import celery
from commerce.jobs import Job, finish_job

log = logging.getLogger(__name__)


@celery.task(name="commerce.catalog.import_csv")
def import_csv(job_id: str, path: str) -> None:
    run_import_job(job_id, path)


def start_import_check(upload: Upload, *, by: Any) -> Job:
    """Queue the dry run of a freshly uploaded file."""
    return _queue(create_check_job(upload, by=by))


def start_import(upload_id: str, *, by: Any) -> Job:
    """Queue the import of an upload whose dry run found no errors."""
    return _queue(create_apply_job(upload_id, by=by))


def _queue(job: Job) -> Job:
    try:
        # Broker down: the job stays queued (logged) and the job sweeper queues it again.
        queue_task(import_csv, job.id, job.params["path"])
    except Exception:  # the inline run (embedded mode) failed: say so on the job
        log.exception("could not queue catalog import job %s", job.id)
        finish_job(
            job.id,
            result={"ok": False, "errors": [], "error_count": 0},
            failed=True,
            message="The job could not be queued; try again in a minute.",
        )
    return job

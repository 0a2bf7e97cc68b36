"""Catalog background work: thin Celery tasks over the catalog services.

A task gets the job id, never ORM objects, so the eager embedded mode and a real worker run the
same code; the job row carries the file's path, progress and outcome for the console. The task
claims its job first (commerce.jobs), so a message delivered twice imports once.
"""

from __future__ import annotations

from typing import Any

from commerce.catalog.bulk_edit import KIND as BULK_EDIT
from commerce.catalog.bulk_edit import mark_batch_stopped, run_bulk_edit_job
from commerce.catalog.csv_uploads import (
    KIND,
    Upload,
    again_import_job,
    create_apply_job,
    create_check_job,
    run_import_job,
)
from commerce.jobs import Job, copy_job, job_task, queue_job

import_csv = job_task(KIND, name="commerce.catalog.import_csv", again=again_import_job)(
    run_import_job
)

# A large bulk edit, chunk by chunk. Run again, it carries on with the cells still pending.
bulk_edit = job_task(
    BULK_EDIT, name="commerce.catalog.bulk_edit", again=copy_job, on_lost=mark_batch_stopped
)(run_bulk_edit_job)


def start_import_check(upload: Upload, *, by: Any) -> Job:
    """Queue the dry run of a freshly uploaded file."""
    return queue_job(create_check_job(upload, by=by))


def start_import(upload_id: str, *, by: Any) -> Job:
    """Queue the import of an upload whose dry run found no errors."""
    return queue_job(create_apply_job(upload_id, by=by))

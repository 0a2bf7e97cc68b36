"""Background jobs: a progress bar that polls until the job is done."""

from __future__ import annotations

from typing import Any

from flask import abort
from flask_login import current_user

from commerce.jobs import get_job
from console import bp
from console.permissions import route
from console.web import render

# Who may watch someone else's job: those allowed to start that kind of job.
JOB_PERMISSIONS = {"catalog_import": "catalog.import", "packing_slips": "orders.fulfill"}


@route(bp, "/jobs/<job_id>", permission="dashboard.view")
def job_status(job_id: str) -> Any:
    job = get_job(job_id)
    allowed = job.created_by_id == current_user.id or current_user.can(
        JOB_PERMISSIONS.get(job.kind, "staff.manage")
    )
    if not allowed:
        abort(403)
    return render("console/jobs/job.html", "console/jobs/_progress.html", job=job)

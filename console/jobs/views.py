"""Background jobs: a progress bar that polls until the job is done, and "Run again" for a job
whose worker stopped (or that never started), at the URL of the area the job belongs to."""

from __future__ import annotations

from typing import Any

from flask import abort, url_for
from flask_login import current_user

from commerce.errors import CommerceError, NotFound
from commerce.jobs import FAILED, Job, get_job, run_job_again
from console import bp
from console.forms import ConfirmForm
from console.web import done
from web.forms import FORM_EXPIRED
from web.pages import render

# Who may watch someone else's job: those allowed to start that kind of job.
JOB_PERMISSIONS = {
    "catalog_import": "catalog.import",
    "packing_slips": "orders.fulfill",
    "bulk_edit": "catalog.bulk_edit",
}

# Who may run a stopped job again: those allowed to start that kind of job. One route per kind,
# each declaring its area's permission: console.job_again_<kind>.
RUN_AGAIN = {
    "catalog_import": ("/import/jobs/<job_id>/again", "catalog.import"),
    "packing_slips": ("/orders/packing-slips/<job_id>/again", "orders.fulfill"),
    "promotion_codes": ("/promotions/codes/jobs/<job_id>/again", "promotions.edit"),
    "search_reindex": ("/search/jobs/<job_id>/again", "search.edit"),
    "bulk_edit": ("/products/bulk-edits/jobs/<job_id>/again", "catalog.bulk_edit"),
}


def job_status(job_id: str) -> Any:
    job = get_job(job_id)
    allowed = job.created_by_id == current_user.id or current_user.can(
        JOB_PERMISSIONS.get(job.kind, "staff.manage")
    )
    if not allowed:
        abort(403)
    return render("console/jobs/job.html", "console/jobs/_progress.html", job=job)


@bp.app_template_global("run_again_url")
def run_again_url(job: Job) -> str | None:
    """Where the signed-in member can run this job again, or None (not stopped, not theirs)."""
    entry = RUN_AGAIN.get(job.kind)
    if entry is None or not job.can_run_again or not current_user.can(entry[1]):
        return None
    return url_for(f"console.job_again_{job.kind}", job_id=job.id)


def _page_of(job: Job) -> str:
    """The page that shows a job of this kind best."""
    if job.kind == "catalog_import" and job.params.get("upload_id"):
        return url_for("console.import_upload", upload_id=job.params["upload_id"])
    if job.kind == "promotion_codes" and job.params.get("promotion_id"):
        return url_for(
            "console.promotion_codes_job", promotion_id=job.params["promotion_id"], job_id=job.id
        )
    if job.kind == "bulk_edit" and job.params.get("batch_id"):
        return url_for("console.bulk_edit_detail", batch_id=job.params["batch_id"])
    if job.kind == "packing_slips":
        return url_for("console.packing_slips_job_status", job_id=job.id)
    return url_for("console.job_status", job_id=job.id)


def run_again_view(kind: str) -> Any:
    def view(job_id: str) -> Any:
        job = get_job(job_id)
        if job.kind != kind:
            raise NotFound("No such job.")
        back = _page_of(job)
        if not ConfirmForm().validate_on_submit():
            return done(FORM_EXPIRED, back, level="error")
        try:
            fresh = run_job_again(job.id, by=current_user)
        except CommerceError as exc:
            return done(exc.message, back, level="error")
        level = "error" if fresh.status == FAILED else "success"
        return done(fresh.message or f"{fresh.title}: started again.", _page_of(fresh), level=level)

    view.__name__ = f"job_again_{kind}"
    view.__doc__ = f"Run a stopped {kind.replace('_', ' ')} job again (a new job, same input)."
    return view

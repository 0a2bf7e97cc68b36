"""Bulk printing of packing slips: a background job that renders the selected orders' slips
into one PDF under EXPORT_ROOT (default INSTANCE_PATH/exports/), with progress on the Job row
for the console.

The job carries only order ids; the file is named by the job id, so only someone who can see
the job can find it, and a rerun never overwrites another person's print.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from flask import current_app
from sqlalchemy import func, select

from commerce.db import in_transaction, service
from commerce.documents.render import print_packing_slips
from commerce.errors import NotFound, ValidationError
from commerce.extensions import db
from commerce.jobs import SUCCEEDED, Job, create_job, finish_job, get_job, report_progress
from commerce.orders.models import OPEN, PARTIALLY_FULFILLED, UNFULFILLED, Order

log = logging.getLogger(__name__)

KIND = "packing_slips"
MAX_ORDERS = 500  # one print run: about a minute of rendering on a worker


def exports_dir() -> Path:
    configured = current_app.config.get("EXPORT_ROOT")
    return Path(configured) if configured else Path(current_app.config["INSTANCE_PATH"]) / "exports"


@service
def create_packing_slips_job(order_ids: Iterable[int], *, by: Any) -> Job:
    """Validate the selection and record the job (queued); the task does the rendering."""
    ids = list(dict.fromkeys(int(i) for i in order_ids))
    if not ids:
        raise ValidationError("Select at least one order.", field="order_id")
    if len(ids) > MAX_ORDERS:
        raise ValidationError(
            f"Print at most {MAX_ORDERS} orders at a time ({len(ids)} selected).",
            field="order_id",
        )
    known = db.session.scalar(select(func.count()).select_from(Order).where(Order.id.in_(ids)))
    if not known:
        raise ValidationError("None of the selected orders exist.", field="order_id")
    noun = "order" if known == 1 else "orders"
    job = create_job(
        KIND, title=f"Packing slips for {known} {noun}", params={"order_ids": ids}, by=by
    )
    job.total = known  # the bar reads "0 / n" from the start, even before a worker
    return job


def run_packing_slips_job(job_id: str) -> None:
    """Render the job's slips to its file and record the outcome; never raises."""
    job = get_job(job_id)
    ids = [int(i) for i in job.params.get("order_ids", [])]

    def progress(done: int, total: int) -> None:
        try:
            report_progress(job_id, done=done, total=total, message=f"{done} of {total} slips")
        except Exception:  # progress is a courtesy: it must never stop the print
            log.warning("progress of job %s not recorded", job_id, exc_info=True)

    progress(0, job.total or len(ids))
    try:
        batch = print_packing_slips(ids, progress=progress)
        path = exports_dir() / f"{job_id}.pdf"
        _write_atomically(path, batch.pdf)
    except Exception as exc:
        log.exception("packing slips job %s failed", job_id)
        if not in_transaction():
            db.session.rollback()
        message = exc.message if isinstance(exc, NotFound) else "Printing stopped on an error."
        finish_job(
            job_id,
            result={"ok": False},
            failed=True,
            retryable=not isinstance(exc, NotFound),
            message=message,
        )
        return
    printed = len(batch.orders)
    missing = f"; {len(batch.missing)} no longer exist" if batch.missing else ""
    finish_job(
        job_id,
        result={
            "ok": True,
            "file": path.name,
            "bytes": len(batch.pdf),
            "pages": batch.pages,
            "orders": batch.orders,
            "missing": batch.missing,
        },
        message=f"{printed} packing {'slip' if printed == 1 else 'slips'} ready{missing}.",
    )


def _write_atomically(path: Path, content: bytes) -> None:
    """A half-written file must never be downloadable: write aside, then rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".part")
    partial.write_bytes(content)
    os.replace(partial, path)


def packing_slips_job(job_id: str) -> Job:
    job = get_job(job_id)
    if job.kind != KIND:
        raise NotFound("No such print job.")
    return job


def packing_slips_file(job: Job) -> Path:
    """The finished job's PDF; NotFound while it runs, after it failed, or once cleaned up."""
    if job.kind != KIND or job.status != SUCCEEDED or not (job.result or {}).get("file"):
        raise NotFound("These packing slips are not ready.")
    path = exports_dir() / Path(str(job.result["file"])).name
    if not path.is_file():
        raise NotFound("The printed file is gone; print the slips again.")
    return path


def orders_to_pack(*, limit: int = 100) -> list[Order]:
    """Open orders with something left to ship, oldest first (what a picker prints)."""
    return list(
        db.session.scalars(
            select(Order)
            .where(
                Order.status == OPEN,
                Order.fulfillment_status.in_((UNFULFILLED, PARTIALLY_FULFILLED)),
            )
            .order_by(Order.placed_at, Order.id)
            .limit(limit)
        )
    )

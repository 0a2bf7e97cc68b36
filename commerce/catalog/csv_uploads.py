"""Uploaded import files, and the jobs that check (dry run) and then apply them.

An upload is checked first, always; only an upload whose check found no errors, and whose
file is byte-for-byte the one checked, can be applied. Jobs carry the file's path and id, never
ORM objects, so a real Celery worker runs them the same way as the eager embedded mode.
"""

from __future__ import annotations

import csv
import hashlib
import io
import logging
import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import current_app
from sqlalchemy import select

from commerce.catalog.csv_format import FORMAT_LABELS, RowError, UnknownFormat, detect_format
from commerce.catalog.csv_import import ImportReport, apply_import, check_import
from commerce.errors import Conflict, NotFound, ValidationError
from commerce.extensions import db
from commerce.jobs import FAILED, SUCCEEDED, Job, create_job, finish_job, get_job, report_progress
from commerce.staff.models import StaffMember

log = logging.getLogger(__name__)
KIND = "catalog_import"
_UPLOAD_ID_RE = re.compile(r"^[0-9a-f]{32}$")
_MB = 1024 * 1024


@dataclass(frozen=True)
class Upload:
    id: str
    filename: str
    path: Path
    sha256: str


def _root() -> Path:
    root = Path(current_app.config["IMPORT_ROOT"])
    root.mkdir(parents=True, exist_ok=True)
    return root


def store_upload(data: bytes, *, filename: str) -> Upload:
    """Keep an uploaded CSV under IMPORT_ROOT once it is a .csv, small enough, UTF-8 text
    and has a header we know; each refusal names the `file` field."""
    name = Path((filename or "").replace("\\", "/")).name
    limit = current_app.config["IMPORT_MAX_BYTES"]
    if not name:
        raise ValidationError("Choose a CSV file.", field="file")
    if not name.lower().endswith(".csv"):
        raise ValidationError(f"“{name}” is not a .csv file.", field="file")
    if not data.strip():
        raise ValidationError(f"“{name}” is empty.", field="file")
    if len(data) > limit:
        raise ValidationError(
            f"“{name}” is {len(data) / _MB:.1f} MB; imports are at most {limit / _MB:.0f} MB.",
            field="file",
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ValidationError(
            f"“{name}” is not UTF-8 text (line {line}). Save it as “CSV UTF-8” and try again.",
            field="file",
        ) from exc
    try:
        detect_format(next(csv.reader(io.StringIO(text)), []))
    except (UnknownFormat, csv.Error) as exc:
        message = getattr(exc, "message", None) or f"“{name}” is not a readable CSV file."
        raise ValidationError(message, field="file") from exc
    upload_id = uuid.uuid4().hex
    upload = Upload(
        id=upload_id,
        filename=name[:200],
        path=_root() / f"{upload_id}.csv",
        sha256=hashlib.sha256(data).hexdigest(),
    )
    upload.path.write_bytes(data)
    return upload


def import_jobs(upload_id: str) -> tuple[Job, Job | None]:
    """The latest check of an upload and its latest import, if any."""
    if not _UPLOAD_ID_RE.match(upload_id or ""):
        raise NotFound("No such upload.")
    jobs = list(
        db.session.scalars(
            select(Job)
            .where(Job.kind == KIND, Job.params["upload_id"].as_string() == upload_id)
            .order_by(Job.created_at, Job.id)
        )
    )
    checks = [j for j in jobs if j.params.get("dry_run")]
    applies = [j for j in jobs if not j.params.get("dry_run")]
    if not checks:
        raise NotFound("No such upload.")
    return checks[-1], (applies[-1] if applies else None)


def recent_imports(*, limit: int = 10) -> list[Job]:
    return list(
        db.session.scalars(
            select(Job).where(Job.kind == KIND).order_by(Job.created_at.desc()).limit(limit)
        )
    )


def _params(upload_id: str, filename: str, path: Path, sha256: str, dry_run: bool) -> dict:
    return {
        "upload_id": upload_id,
        "filename": filename,
        "path": str(path),
        "sha256": sha256,
        "dry_run": dry_run,
    }


def create_check_job(upload: Upload, *, by: Any) -> Job:
    return create_job(
        KIND,
        title=f"Check {upload.filename}",
        params=_params(upload.id, upload.filename, upload.path, upload.sha256, True),
        by=by,
    )


def create_apply_job(upload_id: str, *, by: Any) -> Job:
    """The import of a checked upload; refused unless its check passed on this very file."""
    check, applied = import_jobs(upload_id)
    if applied is not None and applied.status == SUCCEEDED:
        raise Conflict("This file has already been imported.", field="upload_id")
    if applied is not None and applied.status != FAILED:
        # A worker that died mid-import leaves the job running until the periodic sweep
        # notices (JOB_STALE_SECONDS); then it is failed and the file can be imported again.
        raise Conflict(
            "This file is being imported; if its progress has stopped, it can be imported "
            "again once the job shows as failed.",
            field="upload_id",
        )
    if check.status != SUCCEEDED or not (check.result or {}).get("ok"):
        raise ValidationError(
            "Only a file whose check found no errors can be imported: correct the rows and "
            "upload it again.",
            field="upload_id",
        )
    path = Path(check.params["path"])
    if not path.exists() or hashlib.sha256(path.read_bytes()).hexdigest() != check.params["sha256"]:
        raise Conflict("The checked file is gone or changed; upload it again.", field="upload_id")
    filename = check.params["filename"]
    return create_job(
        KIND,
        title=f"Import {filename}",
        params=_params(upload_id, filename, path, check.params["sha256"], False),
        by=by,
    )


def again_import_job(job: Job, by: Any) -> Job:
    """A check or import whose run stopped (its worker died), started anew on the same file:
    an import is refused unless its check still holds for the file byte for byte (and nothing
    of the stopped run was written: an import is one transaction)."""
    params = job.params
    if not params.get("dry_run"):
        return create_apply_job(str(params.get("upload_id", "")), by=by)
    path = Path(params["path"])
    if not path.exists() or hashlib.sha256(path.read_bytes()).hexdigest() != params["sha256"]:
        raise Conflict("The uploaded file is gone or changed; upload it again.", field="upload_id")
    upload = Upload(params["upload_id"], params["filename"], path, params["sha256"])
    return create_check_job(upload, by=by)


def summary(report: ImportReport) -> str:
    if report.errors:
        rows = len({e.row for e in report.errors})
        noun = "row has" if rows == 1 else "rows have"
        return f"{rows} {noun} errors; nothing was imported."
    created = report.products_created
    noun = "product" if created == 1 else "products"
    verb = ("would be " if report.dry_run else "") + "created"
    return (
        f"{FORMAT_LABELS.get(report.format, report.format)}: {created} {noun} {verb}, "
        f"{report.products_updated} updated, {report.products_unchanged} unchanged."
    )


def run_import_job(job_id: str, path: str | None = None) -> None:
    """Run a check or import job to its end and record the outcome on the job."""
    job = get_job(job_id)
    path = path or job.params["path"]
    by = db.session.get(StaffMember, job.created_by_id) if job.created_by_id else None
    dry_run = bool(job.params.get("dry_run", True))

    def progress(done: int, total: int | None, message: str) -> None:
        try:
            report_progress(job_id, done=done, total=total, message=message)
        except Exception:  # progress is a courtesy: it must never stop the import itself
            log.warning("progress of job %s not recorded", job_id, exc_info=True)

    progress(0, None, "Reading the file")

    try:
        run = check_import if dry_run else apply_import
        report = run(Path(path), by=by, progress=progress)
    except ValidationError as exc:  # the file itself (its header) is unusable
        db.session.rollback()
        report = ImportReport(dry_run=dry_run)
        report.errors.append(RowError(1, "", exc.message))
    except Exception:
        log.exception("catalog import job %s failed", job_id)
        db.session.rollback()
        finish_job(
            job_id,
            result={"ok": False, "errors": [], "error_count": 0, "dry_run": dry_run},
            failed=True,
            retryable=True,
            message="The import stopped on an unexpected error; nothing was written.",
        )
        return
    finish_job(job_id, result=report.as_dict(), failed=not report.ok, message=summary(report))

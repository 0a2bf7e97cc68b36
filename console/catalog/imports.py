"""CSV import (upload, dry run, import) and the streamed CSV export of the product list."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Response, current_app, request, stream_with_context, url_for
from flask_login import current_user

from commerce.catalog.csv_export import export_catalog_csv
from commerce.catalog.csv_uploads import Upload, import_jobs, recent_imports, store_upload
from commerce.catalog.models import Media
from commerce.catalog.tasks import start_import, start_import_check
from commerce.errors import CommerceError, ValidationError
from commerce.jobs import FAILED
from console.catalog.products import read_filter
from console.forms import ConfirmForm, ImportForm
from console.web import done
from web.forms import FORM_EXPIRED, expired_message, form_status, submit
from web.pages import render


def _public_media_url(media: Media) -> str:
    return url_for("storefront.media_file", path=media.path, _external=True)


def product_export() -> Any:
    """The product list's current filter as CSV, streamed row batch by row batch."""
    flt, problems = read_filter()
    if problems:
        name, message = next(iter(problems.items()))
        back = url_for("console.product_list", **request.args)
        return done(f"Not exported: {name.replace('_', ' ')}: {message}", back, level="error")
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M")
    rows = export_catalog_csv(flt, media_url=_public_media_url)
    response = Response(stream_with_context(rows), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="products-{stamp}.csv"'
    return response


def _read_limited(storage: Any) -> bytes:
    """At most one byte past the limit, so an oversized file is refused without reading it."""
    return storage.stream.read(current_app.config["IMPORT_MAX_BYTES"] + 1)


def import_start() -> Any:
    form = ImportForm()
    if request.method == "POST":

        def store() -> Upload:
            storage = form.file.data
            if not storage or not storage.filename:
                raise ValidationError("Choose a CSV file.", field="file")
            return store_upload(_read_limited(storage), filename=storage.filename)

        sent = submit(form, store, expired=expired_message("reload the page and upload again"))
        if sent.ok:
            upload = sent.value
            job = start_import_check(upload, by=current_user)
            target = url_for("console.import_upload", upload_id=upload.id)
            level = "error" if job.status == FAILED else "success"
            return done(job.message or f"Checking {upload.filename}…", target, level=level)
    return render(
        "console/catalog/import.html",
        form=form,
        recent=recent_imports(),
        status=form_status(),
    )


def import_upload(upload_id: str) -> Any:
    """One upload: its dry run (errors, or what it would change) and, once run, its import."""
    check, applied = import_jobs(upload_id)
    return render(
        "console/catalog/import_upload.html",
        "console/catalog/_import_upload.html",
        upload_id=upload_id,
        check=check,
        applied=applied,
    )


def import_apply(upload_id: str) -> Any:
    target = url_for("console.import_upload", upload_id=upload_id)
    if not ConfirmForm().validate_on_submit():
        return done(FORM_EXPIRED, target, level="error")
    try:
        job = start_import(upload_id, by=current_user)
    except CommerceError as exc:
        return done(exc.message, target, level="error")
    level = "error" if job.status == FAILED else "success"
    return done(job.message or "Import started.", target, level=level)

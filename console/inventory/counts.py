"""Cycle counts: upload a CSV, review every line against the books, then book all at once."""

from __future__ import annotations

from typing import Any

from flask import request, url_for
from flask_login import current_user

from commerce.errors import CommerceError, ValidationError
from commerce.inventory.count_sessions import open_count_sessions
from commerce.inventory.counts import (
    MAX_COUNT_BYTES,
    CountRowError,
    book_cycle_count,
    read_count_csv,
)
from console.inventory.count_scan import start_form
from console.inventory.forms import CountBookForm, CountUploadForm
from console.web import done
from web.forms import apply_errors, expired_message
from web.pages import render


def _upload_page(form: CountUploadForm, *, status: int = 200) -> Any:
    return render(
        "console/inventory/count.html",
        form=form,
        can_edit=current_user.can("inventory.edit"),
        status=status,
        scan_form=start_form(),  # counts by scanning (count_scan.py)
        open_counts=open_count_sessions(),
    )


def _review(sheet: Any, text: str, *, filename: str = "", status: int | None = None) -> Any:
    form = CountBookForm(formdata=None)
    form.sheet.data = text
    form.reference.data = request.form.get("reference") or (
        f"cycle count {filename}".strip() if filename else "cycle count"
    )
    return render(
        "console/inventory/count_review.html",
        sheet=sheet,
        book=form,
        filename=filename,
        status=status or (200 if sheet.ok else 422),
    )


def count_start() -> Any:
    return _upload_page(CountUploadForm(formdata=None))


def count_upload() -> Any:
    form = CountUploadForm()
    if not form.validate_on_submit():
        form.form_errors.append(expired_message("reload the page and upload again"))
        return _upload_page(form, status=422)
    storage = form.file.data
    try:
        if not storage or not storage.filename:
            raise ValidationError("Choose a CSV file.", field="file")
        data = storage.stream.read(MAX_COUNT_BYTES + 1)
        sheet = read_count_csv(data)
        text = data.decode("utf-8-sig")
    except CommerceError as exc:
        apply_errors(form, exc)
        return _upload_page(form, status=422)
    return _review(sheet, text, filename=storage.filename)


def count_book() -> Any:
    form = CountBookForm()
    back = url_for("console.count_start")
    if not form.validate_on_submit():
        return done(expired_message("upload the file again"), back, level="error")
    text = form.sheet.data or ""
    try:
        sheet = read_count_csv(text)
    except CommerceError as exc:
        return done(f"Nothing booked: {exc.message}", back, level="error")
    if not sheet.ok:
        return _review(sheet, text)
    try:
        movements = book_cycle_count(
            sheet.lines, by=current_user, reference=form.reference.data or "cycle count"
        )
    except ValidationError as exc:
        for key, messages in exc.errors.items():
            row = int(key.split()[-1]) if key.startswith("row ") else 0
            for message in messages:
                sheet.errors.append(CountRowError(row, "counted", message))
        return _review(sheet, text, status=422)
    except CommerceError as exc:
        sheet.errors.append(CountRowError(0, "file", exc.message))
        return _review(sheet, text, status=422)
    units = sum(m.delta for m in movements)
    return done(
        f"Count booked: {len(movements)} correction(s), {units:+d} units in total.",
        url_for("console.stock_overview"),
    )

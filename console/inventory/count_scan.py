"""Cycle counts by scanning: start a count at a location, scan (each scan adds one, or type
the units), see counted against the books, review the variances and apply them as one count.
Each POST calls one service of commerce/inventory/count_sessions.py."""

from __future__ import annotations

from typing import Any

from flask import request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, SelectField, StringField
from wtforms.validators import Length, Optional

from commerce.errors import CommerceError, ValidationError
from commerce.inventory.count_session_models import COUNT_OPEN, CountSession
from commerce.inventory.count_sessions import (
    abandon_count_session,
    apply_count_session,
    count_scanned,
    count_variances,
    get_count_session,
    start_count_session,
)
from commerce.inventory.services import active_locations, find_variant_by_code
from console.forms import ConfirmForm
from console.inventory.forms import new_key
from console.web import done, form_error_summary, toast
from web.forms import FORM_EXPIRED, apply_errors, expired_message, note_expired
from web.pages import is_htmx, render


def _int_or_none(value: object) -> int | None:
    try:
        return int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


class StartCountForm(FlaskForm):
    location_id = SelectField("Location", coerce=_int_or_none, validate_choice=False)


class CountScanForm(FlaskForm):
    code = StringField("SKU or barcode", validators=[Optional(), Length(max=64)])
    quantity = StringField("Units", validators=[Optional(), Length(max=12)])
    replace = BooleanField("Set the count to these units (instead of adding)")
    key = HiddenField()


class ApplyCountForm(FlaskForm):
    whole_location = BooleanField("Whole location: items on the books but not scanned count as 0")


def start_form() -> StartCountForm:
    form = StartCountForm(formdata=None)
    form.location_id.choices = [(loc.id, f"{loc.code} · {loc.name}") for loc in active_locations()]
    return form


def count_session_start() -> Any:
    form = StartCountForm()
    form.location_id.choices = [(loc.id, f"{loc.code} · {loc.name}") for loc in active_locations()]
    back = url_for("console.count_start")
    if not form.validate_on_submit():
        return done(FORM_EXPIRED, back, level="error")
    try:
        session = start_count_session(location_id=form.location_id.data, by=current_user)
    except CommerceError as exc:
        return done(exc.message, back, level="error")
    return done(
        f"Count {session.number} started at {session.location.name}: scan the shelves.",
        url_for("console.count_session_page", count_id=session.id),
    )


def _fresh_form() -> CountScanForm:
    form = CountScanForm(formdata=None)
    form.key.data = new_key()
    return form


def _page(session: CountSession, form: CountScanForm | None = None, *, status: int = 200) -> Any:
    return render(
        "console/inventory/count_session.html",
        "console/inventory/_count_session.html",
        status=status,
        session=session,
        form=form or _fresh_form(),
        rows=count_variances(session),
        is_open=session.status == COUNT_OPEN,
        can_edit=current_user.can("inventory.edit"),
    )


def count_session_page(count_id: int) -> Any:
    return _page(get_count_session(count_id))


def _units(text: str | None) -> int | None:
    text = (text or "").strip()
    if not text:
        return None
    if not text.isdigit() or len(text) > 9:
        raise ValidationError("Enter a whole number of units.", field="quantity")
    return int(text)


def count_session_scan(count_id: int) -> Any:
    session = get_count_session(count_id)
    form = CountScanForm()
    if not form.validate_on_submit():
        note_expired(form, expired_message("reload the page and scan again"))
        return _page(session, form, status=422)
    code = (form.code.data or "").strip()
    try:
        variant = find_variant_by_code(code)
        if variant is None:
            raise ValidationError(
                f"No variant has the SKU or barcode “{code}”." if code else "Scan a barcode.",
                field="code",
            )
        units = _units(form.quantity.data)
        replace = bool(form.replace.data)
        if replace and units is None:
            raise ValidationError("Type the units counted.", field="quantity")
        line = count_scanned(
            session.id,
            variant_id=variant.id,
            quantity=units,
            add=not replace,
            key=form.key.data or None,
            by=current_user,
        )
    except CommerceError as exc:
        apply_errors(form, exc)
        response = _page(get_count_session(count_id), form, status=422)
        return toast(response, form_error_summary(exc), level="error") if is_htmx() else response
    text = f"{variant.sku or variant.title}: {line.counted} counted."
    if not is_htmx():
        return done(text, url_for("console.count_session_page", count_id=session.id))
    return toast(_page(get_count_session(count_id)), text)


def count_session_review(count_id: int) -> Any:
    session = get_count_session(count_id)
    whole = request.args.get("whole_location") == "y"
    rows = count_variances(session, whole_location=whole)
    form = ApplyCountForm(formdata=None)
    form.whole_location.data = whole
    changed = [row for row in rows if row.difference]
    return render(
        "console/inventory/count_session_review.html",
        session=session,
        rows=rows,
        form=form,
        whole=whole,
        changed=changed,
        gained=sum(r.difference for r in changed if r.difference > 0),
        lost=-sum(r.difference for r in changed if r.difference < 0),
        is_open=session.status == COUNT_OPEN,
        can_edit=current_user.can("inventory.edit"),
    )


def count_session_apply(count_id: int) -> Any:
    session = get_count_session(count_id)
    form = ApplyCountForm()
    back = url_for("console.count_session_review", count_id=session.id)
    if not form.validate_on_submit():
        return done(FORM_EXPIRED, back, level="error")
    try:
        movements = apply_count_session(
            session.id, whole_location=bool(form.whole_location.data), by=current_user
        )
    except ValidationError as exc:
        problems = [m for messages in exc.errors.values() for m in messages] or [exc.message]
        return done("Nothing booked: " + " ".join(problems), back, level="error")
    except CommerceError as exc:
        return done(exc.message, back, level="error")
    gained = sum(m.delta for m in movements if m.delta > 0)
    lost = -sum(m.delta for m in movements if m.delta < 0)
    changes = f"{len(movements)} correction(s), +{gained} and \N{MINUS SIGN}{lost} units"
    return done(
        f"Count {session.number} applied: {changes if movements else 'nothing differed'}.",
        url_for("console.stock_overview", location=session.location_id),
    )


def count_session_abandon(count_id: int) -> Any:
    session = get_count_session(count_id)
    back = url_for("console.count_start")
    if not ConfirmForm().validate_on_submit():
        return done(FORM_EXPIRED, back, level="error")
    abandon_count_session(session.id, by=current_user)
    return done(f"Count {session.number} abandoned; nothing was booked.", back)

"""Transfer documents: the list, a new draft, its lines picked by scan or search, shipping,
the scan-first receive screen at the destination, finishing with discrepancies, cancelling,
and the packing list. Each POST calls one service of commerce/inventory/transfers.py.

Scan forms carry a key made when the form is drawn (as the receive screen's do): a scan sent
twice books once, and the answer says so.
"""

from __future__ import annotations

from typing import Any

from flask import current_app, make_response, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import HiddenField, SelectField, StringField, TextAreaField
from wtforms.validators import Length, Optional

from commerce.documents.transfer_packing_list import (
    transfer_packing_list_pdf as render_packing_list_pdf,
)
from commerce.errors import CommerceError, ValidationError
from commerce.inventory.services import active_locations, find_variant_by_code
from commerce.inventory.transfer_models import (
    DRAFT,
    ON_THE_ROAD,
    RECEIVED,
    TRANSFER_STATUSES,
    StockTransfer,
)
from commerce.inventory.transfers import (
    TRANSFER_SORTS,
    TransferFilter,
    add_to_transfer,
    cancel_transfer,
    create_transfer,
    find_variants,
    finish_receiving,
    get_transfer,
    list_transfers,
    receive_transfer,
    set_transfer_quantities,
    ship_transfer,
    variant_by_id,
)
from console.forms import ConfirmForm
from console.inventory.forms import new_key
from console.web import done, form_error_summary, int_arg, kept_filter_args, toast
from web.forms import FORM_EXPIRED, apply_errors, expired_message, note_expired
from web.pages import is_htmx, render


def _int_or_none(value: object) -> int | None:
    try:
        return int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


class NewTransferForm(FlaskForm):
    origin_id = SelectField("From", coerce=_int_or_none, validate_choice=False)
    destination_id = SelectField("To", coerce=_int_or_none, validate_choice=False)
    note = TextAreaField("Note (printed on the packing list)")  # its length: the service


class LineScanForm(FlaskForm):
    code = StringField("Scan or search SKU, barcode or product", validators=[Length(max=120)])
    variant_id = HiddenField()
    quantity = StringField("Units", validators=[Optional(), Length(max=12)])
    key = HiddenField()


class FinishForm(FlaskForm):
    note = TextAreaField("What happened to the missing units?")


def _locations() -> list[tuple[int, str]]:
    return [(loc.id, f"{loc.code} · {loc.name}") for loc in active_locations()]


def _units(text: str | None, field: str, *, default: int | None = None) -> int:
    text = (text or "").strip()
    if not text and default is not None:
        return default
    if not text.isdigit() or len(text) > 9:
        raise ValidationError("Enter a whole number of units.", field=field)
    return int(text)


# -- the list -----------------------------------------------------------------------------------

LIST_ARGS = ("status", "location", "sort", "dir")


def transfer_list() -> Any:
    flt = TransferFilter(
        status=request.args.get("status", ""),
        location_id=int_arg("location"),
        sort=request.args.get("sort", "created"),
        direction=request.args.get("dir", "desc"),
    ).normalized()
    page = list_transfers(
        flt,
        after=request.args.get("after"),
        before=request.args.get("before"),
        limit=current_app.config["PAGE_SIZE"],
    )
    return render(
        "console/inventory/transfer_list.html",
        "console/inventory/_transfer_list.html",
        page=page,
        flt=flt,
        args=kept_filter_args(request.args, LIST_ARGS),
        statuses=TRANSFER_STATUSES,
        sorts=TRANSFER_SORTS,
        locations=_locations(),
        can_edit=current_user.can("inventory.edit"),
    )


# -- a new draft --------------------------------------------------------------------------------


def _new_form(formdata: bool = False) -> NewTransferForm:
    form = NewTransferForm() if formdata else NewTransferForm(formdata=None)
    form.origin_id.choices = form.destination_id.choices = _locations()
    if not formdata and len(form.destination_id.choices) > 1:
        form.destination_id.data = form.destination_id.choices[1][0]
    return form


def transfer_new() -> Any:
    return render("console/inventory/transfer_new.html", form=_new_form())


def transfer_new_post() -> Any:
    form = _new_form(formdata=True)
    if not form.validate_on_submit():
        note_expired(form)
        return render("console/inventory/transfer_new.html", form=form, status=422)
    try:
        transfer = create_transfer(
            origin_id=form.origin_id.data,
            destination_id=form.destination_id.data,
            note=form.note.data or "",
            by=current_user,
        )
    except CommerceError as exc:
        apply_errors(form, exc)
        return render("console/inventory/transfer_new.html", form=form, status=422)
    return done(
        f"Draft {transfer.number} created: scan or search the items to send.",
        url_for("console.transfer_page", transfer_id=transfer.id),
    )


# -- a transfer's page (a draft's picker) -------------------------------------------------------


def _scan_form() -> LineScanForm:
    form = LineScanForm(formdata=None)
    form.key.data = new_key()
    return form


def _transfer_page(
    transfer: StockTransfer,
    form: LineScanForm | None = None,
    *,
    matches: list[Any] | None = None,
    status: int = 200,
    finish: FinishForm | None = None,
) -> Any:
    return render(
        "console/inventory/transfer.html",
        "console/inventory/_transfer.html",
        status=status,
        transfer=transfer,
        form=form or _scan_form(),
        finish=finish or FinishForm(formdata=None),
        matches=matches or [],
        is_draft=transfer.status == DRAFT,
        on_the_road=transfer.status in ON_THE_ROAD,
        can_edit=current_user.can("inventory.edit"),
    )


def transfer_page(transfer_id: int) -> Any:
    return _transfer_page(get_transfer(transfer_id))


def transfer_add(transfer_id: int) -> Any:
    """A scan or a pick from the search results adds units to the draft; text that names no
    SKU or barcode exactly lists the variants it matches, to pick from."""
    transfer = get_transfer(transfer_id)
    form = LineScanForm()
    if not form.validate_on_submit():
        note_expired(form, expired_message("reload the page and scan again"))
        return _transfer_page(transfer, form, status=422)
    code = (form.code.data or "").strip()
    variant = None
    if form.variant_id.data and str(form.variant_id.data).isdigit():
        variant = variant_by_id(int(form.variant_id.data))
    elif code:
        variant = find_variant_by_code(code)
    if variant is None:
        matches = find_variants(code) if code else []
        if not matches:
            form.code.errors = [
                f"Nothing matches “{code}”." if code else "Scan or type a SKU, barcode or name."
            ]
            return _transfer_page(transfer, form, status=422)
        return _transfer_page(transfer, form, matches=matches)
    try:
        line = add_to_transfer(
            transfer.id,
            variant_id=variant.id,
            quantity=_units(form.quantity.data, "quantity", default=1),
            by=current_user,
        )
    except CommerceError as exc:
        apply_errors(form, exc)
        response = _transfer_page(get_transfer(transfer_id), form, status=422)
        return toast(response, form_error_summary(exc), level="error") if is_htmx() else response
    text = f"{variant.sku or variant.title}: {line.quantity} on the transfer."
    if not is_htmx():
        return done(text, url_for("console.transfer_page", transfer_id=transfer.id))
    return toast(_transfer_page(get_transfer(transfer_id)), text)


def transfer_quantities(transfer_id: int) -> Any:
    transfer = get_transfer(transfer_id)
    back = url_for("console.transfer_page", transfer_id=transfer.id)
    if not ConfirmForm().validate_on_submit():
        return done(FORM_EXPIRED, back, level="error")
    quantities: dict[int, int] = {}
    errors: dict[str, list[str]] = {}
    for name, value in request.form.items():
        if name.startswith("qty-") and name[4:].isdigit():
            text = value.strip()
            if not text.isdigit() or len(text) > 9:
                errors[name] = ["Enter a whole number of units (0 removes the line)."]
            else:
                quantities[int(name[4:])] = int(text)
    try:
        if errors:
            raise ValidationError("Correct the quantities marked.", errors=errors)
        set_transfer_quantities(transfer.id, quantities, by=current_user)
    except CommerceError as exc:
        message = form_error_summary(exc)
        if is_htmx():
            response = _transfer_page(get_transfer(transfer_id), status=422)
            return toast(response, message, level="error")
        return done(message, back, level="error")
    return done("Quantities saved.", back)


def _act(transfer_id: int, action: Any, message: str) -> Any:
    back = url_for("console.transfer_page", transfer_id=transfer_id)
    if not ConfirmForm().validate_on_submit():
        return done(FORM_EXPIRED, back, level="error")
    try:
        transfer = action()
    except CommerceError as exc:
        return done(exc.message, back, level="error")
    return done(message.format(number=transfer.number), back)


def transfer_ship(transfer_id: int) -> Any:
    return _act(
        transfer_id,
        lambda: ship_transfer(transfer_id, by=current_user),
        "{number} shipped: its units are in transit.",
    )


def transfer_cancel(transfer_id: int) -> Any:
    return _act(
        transfer_id,
        lambda: cancel_transfer(transfer_id, by=current_user),
        "{number} cancelled.",
    )


def transfer_finish(transfer_id: int) -> Any:
    transfer = get_transfer(transfer_id)
    form = FinishForm()
    back = url_for("console.transfer_page", transfer_id=transfer.id)
    if not form.validate_on_submit():
        return done(FORM_EXPIRED, back, level="error")
    try:
        finish_receiving(transfer.id, note=form.note.data or "", by=current_user)
    except CommerceError as exc:
        return done(exc.message, back, level="error")
    return done(f"{transfer.number} received; missing units recorded.", back)


def transfer_packing_list(transfer_id: int) -> Any:
    """What to pick and pack: an HTML page made to be printed."""
    return render("console/inventory/transfer_packing.html", transfer=get_transfer(transfer_id))


def transfer_packing_list_pdf(transfer_id: int) -> Any:
    """The same packing list as a PDF to download or print."""
    transfer = get_transfer(transfer_id)
    response = make_response(render_packing_list_pdf(transfer))
    response.headers["Content-Type"] = "application/pdf"
    response.headers["Content-Disposition"] = (
        f'attachment; filename="packing-list-{transfer.number}.pdf"'
    )
    response.headers["Cache-Control"] = "no-store"
    return response


# -- receiving at the destination ---------------------------------------------------------------


def _receive_page(
    transfer: StockTransfer, form: LineScanForm | None = None, *, status: int = 200
) -> Any:
    return render(
        "console/inventory/transfer_receive.html",
        "console/inventory/_transfer_receive.html",
        status=status,
        transfer=transfer,
        form=form or _scan_form(),
        entry_key=new_key(),
        on_the_road=transfer.status in ON_THE_ROAD,
        can_edit=current_user.can("inventory.edit"),
    )


def transfer_receive(transfer_id: int) -> Any:
    return _receive_page(get_transfer(transfer_id))


def transfer_receive_post(transfer_id: int) -> Any:
    """A scan (each one receives a unit, or the units typed) or the quantities entered for
    every line at once; either is one receipt with the form's key."""
    transfer = get_transfer(transfer_id)
    form = LineScanForm()
    if not form.validate_on_submit():
        note_expired(form, expired_message("reload the page and scan again"))
        return _receive_page(transfer, form, status=422)
    entered = request.form.get("entered") == "1"
    try:
        if entered:
            by_line = {line.id: line.variant_id for line in transfer.lines}
            lines = []
            for name, value in request.form.items():
                if name.startswith("qty-") and name[4:].isdigit() and value.strip():
                    line_id = int(name[4:])
                    if line_id in by_line:
                        lines.append((by_line[line_id], _units(value, "quantity")))
            if not lines:
                raise ValidationError("Enter the units received on at least one line.")
            label = f"{sum(n for _, n in lines)} units on {len(lines)} line(s)"
        else:
            code = (form.code.data or "").strip()
            variant = find_variant_by_code(code)
            if variant is None:
                raise ValidationError(
                    f"No variant has the SKU or barcode “{code}”." if code else "Scan a barcode.",
                    field="code",
                )
            units = _units(form.quantity.data, "quantity", default=1)
            lines = [(variant.id, units)]
            label = f"{units} x {variant.sku or variant.barcode or variant.title}"
        key = form.key.data or None
        receipts = receive_transfer(transfer.id, lines=lines, by=current_user, idempotency_key=key)
    except CommerceError as exc:
        apply_errors(form, exc)
        if not form.code.errors and not form.quantity.errors and not form.form_errors:
            form.form_errors.append(exc.message)
        response = _receive_page(get_transfer(transfer_id), form, status=422)
        return toast(response, form_error_summary(exc), level="error") if is_htmx() else response
    text = f"Received {label}."
    if any(r.repeated for r in receipts):
        text = "Already received: the same scan was sent twice, and booked once."
    after = get_transfer(transfer_id)
    if after.status == RECEIVED and not any(r.repeated for r in receipts):
        text += f" Everything shipped has arrived: {after.number} is received."
    target = url_for("console.transfer_receive", transfer_id=transfer.id)
    if not is_htmx():
        return done(text, target)
    return toast(_receive_page(after), text)

"""Scan-first booking screens: receive and adjust (with undo), and transfers with packing lists.

The running list of "this session's bookings" is a list of movement ids kept in the signed
Flask session (at most 50): it is per browser sign-in, survives reloads and needs no guessing
by actor and time, and the rows themselves are always read fresh from the ledger.
"""

from __future__ import annotations

from typing import Any

from flask import abort, request, session, url_for
from flask_login import current_user

from commerce.catalog.models import Variant
from commerce.errors import CommerceError, ValidationError
from commerce.extensions import db
from commerce.inventory.models import Location
from commerce.inventory.queries import (
    get_transfer,
    movements_by_id,
    recent_transfers,
    variant_levels,
)
from commerce.inventory.services import (
    REASON_LABELS,
    active_locations,
    adjust_stock,
    find_variant_by_code,
    receive_stock,
    set_counted_quantity,
    transfer_stock,
    undo_movement,
)
from commerce.money import parse_amount
from console.forms import ConfirmForm
from console.inventory.forms import SET_COUNT, ScanForm, TransferForm, new_key
from console.web import done, form_error_summary, toast
from web.forms import FORM_EXPIRED, apply_errors, expired_message
from web.pages import is_htmx, render

SESSION_KEY = "inventory.bookings"
MAX_SESSION_BOOKINGS = 50
SCREENS = {"receive": "console.stock_receive", "adjust": "console.stock_adjust"}


def session_bookings() -> list[int]:
    ids = session.get(SESSION_KEY) or []
    return [i for i in ids if isinstance(i, int)]


def remember_booking(movement_id: int) -> bool:
    """Put a movement at the top of this session's list; False if it was there already."""
    ids = session_bookings()
    if movement_id in ids:
        return False
    session[SESSION_KEY] = [movement_id, *ids][:MAX_SESSION_BOOKINGS]
    return True


def _location_choices() -> list[tuple[int, str]]:
    return [(loc.id, f"{loc.code} · {loc.name}") for loc in active_locations()]


def _parse_int(text: str | None, field: str, *, signed: bool = False) -> int:
    text = (text or "").strip().replace("+", "", 1) if signed else (text or "").strip()
    body = text[1:] if signed and text.startswith("-") else text
    if not body.isdigit():
        raise ValidationError("Enter a whole number of units.", field=field)
    return int(text)


def _scan_page(mode: str, form: ScanForm, *, variant: Any = None, status: int = 200) -> Any:
    return render(
        f"console/inventory/{mode}.html",
        "console/inventory/_scan.html",
        status=status,
        mode=mode,
        form=form,
        variant=variant,
        levels=variant_levels(variant.id) if variant is not None else [],
        bookings=movements_by_id(session_bookings()),
        can_edit=current_user.can("inventory.edit"),
    )


def _fresh_form(mode: str, keep: ScanForm | None = None) -> ScanForm:
    form = ScanForm(formdata=None)
    form.location_id.choices = _location_choices()
    if keep is not None:  # the next scan keeps the location and reason
        form.location_id.data = keep.location_id.data
        form.reason.data = keep.reason.data
    if mode == "receive":
        form.reason.data = ""
    return form


def _unit_cost(form: ScanForm, variant_id: int) -> int | None:
    """The optional unit cost of a manual receipt, in the variant's currency (it moves the
    variant's average cost: commerce/inventory/costing.py)."""
    text = (form.unit_cost.data or "").strip()
    if not text:
        return None
    variant = db.session.get(Variant, variant_id)
    return parse_amount(text, variant.currency if variant else "USD", field="unit_cost")


def _book(mode: str, form: ScanForm, variant_id: int) -> Any:
    location_id = form.location_id.data
    if not location_id:
        raise ValidationError("Choose a location.", field="location_id")
    key = form.key.data or None
    if mode == "receive":
        quantity = _parse_int(form.quantity.data, "quantity")
        movement = receive_stock(
            variant_id,
            quantity=quantity,
            location_id=location_id,
            by=current_user,
            note=form.note.data or "",
            idempotency_key=key,
            unit_cost=_unit_cost(form, variant_id),
        )
        return movement, f"Received {quantity}"
    reason = form.reason.data
    if reason == SET_COUNT:
        counted = _parse_int(form.quantity.data, "quantity")
        try:
            movement = set_counted_quantity(
                variant_id,
                location_id=location_id,
                counted=counted,
                by=current_user,
                note=form.note.data or "",
            )
        except ValidationError as exc:
            if exc.field == "counted":
                raise ValidationError(exc.message, field="quantity") from None
            raise
        except CommerceError as exc:
            if exc.field == "counted":
                exc.field = "quantity"
            raise
        if movement is None:
            return None, f"Count {counted} matches the books; nothing booked"
        return movement, f"Counted {counted} ({movement.delta:+d})"
    if reason == "correction":
        delta = _parse_int(form.quantity.data, "quantity", signed=True)
    else:
        units = _parse_int(form.quantity.data, "quantity")
        if units < 0:
            raise ValidationError("Enter a number of units above zero.", field="quantity")
        delta = -units if reason in ("damaged", "lost") else units
    movement = adjust_stock(
        variant_id,
        location_id=location_id,
        delta=delta,
        reason=reason,
        by=current_user,
        note=form.note.data or "",
        idempotency_key=key,
    )
    return movement, f"{REASON_LABELS.get(reason, reason)}: {delta:+d}"


def _scan_post(mode: str) -> Any:
    form = ScanForm()
    form.location_id.choices = _location_choices()
    if not form.validate_on_submit():
        form.form_errors.append(expired_message("reload the page and scan again"))
        return _scan_page(mode, form, status=422)
    code = (form.code.data or "").strip()
    if not code:
        form.code.errors = ["Scan or type a SKU or barcode."]
        return _scan_page(mode, form, status=422)
    variant = find_variant_by_code(code)
    if variant is None:
        form.code.errors = [f"No variant has the SKU or barcode “{code}”."]
        form.variant_id.data = ""
        return _scan_page(mode, form, status=422)
    booking = (form.variant_id.data or "") == str(variant.id) and (form.quantity.data or "").strip()
    if not booking:  # a lookup: show the variant, ask for the quantity
        form.variant_id.data = str(variant.id)
        form.key.data = new_key()
        form.quantity.raw_data = []
        form.quantity.data = ""
        return _scan_page(mode, form, variant=variant)
    label = variant.sku or variant.barcode or variant.title
    try:
        movement, message = _book(mode, form, variant.id)
    except CommerceError as exc:
        apply_errors(form, exc)
        response = _scan_page(mode, form, variant=variant, status=422)
        return toast(response, form_error_summary(exc), level="error") if is_htmx() else response
    text = f"{message} x {label}."
    if movement is not None and not remember_booking(movement.id):
        text = f"Already booked: {label} (the same form was sent twice)."
    if not is_htmx():
        return done(text, url_for(SCREENS[mode]))
    return toast(_scan_page(mode, _fresh_form(mode, form)), text)


def stock_receive() -> Any:
    return _scan_page("receive", _fresh_form("receive"))


def stock_receive_post() -> Any:
    return _scan_post("receive")


def stock_adjust() -> Any:
    form = _fresh_form("adjust")
    form.reason.data = "damaged"
    return _scan_page("adjust", form)


def stock_adjust_post() -> Any:
    return _scan_post("adjust")


def movement_undo(movement_id: int) -> Any:
    screen = request.form.get("screen", "receive")
    target = url_for(SCREENS.get(screen, SCREENS["receive"]))
    if not ConfirmForm().validate_on_submit():
        return done(FORM_EXPIRED, target, level="error")
    try:
        undo = undo_movement(movement_id, by=current_user)
    except CommerceError as exc:
        if not is_htmx():
            return done(exc.message, target, level="error")
        response = render(
            "console/inventory/_bookings.html",
            "console/inventory/_bookings.html",
            status=422,
            bookings=movements_by_id(session_bookings()),
            mode=screen,
            can_edit=True,
        )
        return toast(response, exc.message, level="error")
    message = f"Undone: booked {undo.delta:+d} to reverse movement #{movement_id}."
    if not is_htmx():
        return done(message, target)
    response = render(
        "console/inventory/_bookings.html",
        "console/inventory/_bookings.html",
        bookings=movements_by_id(session_bookings()),
        mode=screen,
        can_edit=True,
    )
    return toast(response, message)


# -- transfers ----------------------------------------------------------------------------------


def _transfer_page(form: TransferForm, *, status: int = 200) -> Any:
    return render(
        "console/inventory/transfers.html",
        status=status,
        form=form,
        transfers=recent_transfers(),
        can_edit=current_user.can("inventory.edit"),
    )


def _transfer_form(formdata: Any = None) -> TransferForm:
    form = TransferForm() if formdata else TransferForm(formdata=None)
    choices = _location_choices()
    form.from_location_id.choices = choices
    form.to_location_id.choices = choices
    if not formdata:
        form.key.data = new_key()
        if len(choices) > 1:
            form.to_location_id.data = choices[1][0]
    return form


def transfer_list() -> Any:
    return _transfer_page(_transfer_form())


def transfer_create() -> Any:
    form = _transfer_form(request.form)
    if not form.validate_on_submit():
        form.form_errors.append(FORM_EXPIRED)
        return _transfer_page(form, status=422)
    try:
        code = (form.code.data or "").strip()
        variant = find_variant_by_code(code)
        if variant is None:
            raise ValidationError(
                f"No variant has the SKU or barcode “{code}”." if code else "Scan or type a SKU.",
                field="code",
            )
        if not form.from_location_id.data:
            raise ValidationError("Choose a location.", field="from_location_id")
        if not form.to_location_id.data:
            raise ValidationError("Choose a location.", field="to_location_id")
        out, _ = transfer_stock(
            variant.id,
            from_location_id=form.from_location_id.data,
            to_location_id=form.to_location_id.data,
            quantity=_parse_int(form.quantity.data, "quantity"),
            by=current_user,
            note=form.note.data or "",
            idempotency_key=form.key.data or None,
        )
    except CommerceError as exc:
        apply_errors(form, exc)
        return _transfer_page(form, status=422)
    return done(
        f"Transferred {-out.delta} x {variant.sku or variant.title}.",
        url_for("console.transfer_detail", movement_id=out.id),
    )


def transfer_detail(movement_id: int) -> Any:
    """The transfer's packing list: an HTML page made to be printed."""
    transfer = get_transfer(movement_id)
    if transfer is None:
        abort(404)
    return render("console/inventory/packing_list.html", transfer=transfer, Location=Location)

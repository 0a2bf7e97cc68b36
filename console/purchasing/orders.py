"""Purchase orders: the list, a new draft, a PO's page (lines, details, order, cancel), its PDF,
and the shop setting for incoming stock."""

from __future__ import annotations

from typing import Any

from flask import Response, request, url_for
from flask_login import current_user

from commerce.errors import CommerceError, ValidationError
from commerce.inventory.services import active_locations, find_variant_by_code
from commerce.money import format_money, minor_digits
from commerce.purchasing.documents import purchase_order_pdf
from commerce.purchasing.models import STATUS_LABELS, STATUSES
from commerce.purchasing.queries import all_suppliers, list_purchase_orders, receipts_of
from commerce.purchasing.services import (
    add_purchase_order_line,
    cancel_purchase_order,
    change_purchase_order_line,
    create_purchase_order,
    get_purchase_order,
    get_purchase_order_line,
    place_purchase_order,
    purchasing_settings,
    remove_purchase_order_line,
    send_purchase_order,
    set_show_incoming_in_shop,
    update_purchase_order,
)
from console.forms import ConfirmForm
from console.purchasing.forms import (
    LineForm,
    NewOrderForm,
    OrderDetailsForm,
    ShopSettingsForm,
    money,
    optional_date,
    whole_number,
)
from console.web import done, int_arg
from web.forms import FORM_EXPIRED, form_status, submit
from web.pages import render


def cost_text(amount: int, currency: str) -> str:
    """An amount as decimal text for an input (450 USD -> "4.50")."""
    digits = minor_digits(currency)
    if not digits:
        return str(amount)
    return f"{amount // 10**digits}.{amount % 10**digits:0{digits}d}"


def po_list() -> Any:
    status = request.args.get("status", "open")
    settings_form = ShopSettingsForm(formdata=None)
    settings_form.show_incoming_in_shop.data = purchasing_settings().show_incoming_in_shop
    return render(
        "console/purchasing/orders.html",
        orders=list_purchase_orders(status, supplier_id=int_arg("supplier")),
        shown=status,
        statuses=[("open", "Open"), *((s, STATUS_LABELS[s]) for s in STATUSES), ("all", "All")],
        settings_form=settings_form,
        format_money=format_money,
    )


def _new_form(formdata: Any = None) -> NewOrderForm:
    form = NewOrderForm() if formdata else NewOrderForm(formdata=None)
    form.supplier_id.choices = [("", "Choose…")] + [
        (s.id, f"{s.name} ({s.currency})") for s in all_suppliers(active_only=True)
    ]
    form.location_id.choices = [(loc.id, f"{loc.code} · {loc.name}") for loc in active_locations()]
    return form


def po_new() -> Any:
    form = _new_form(request.form if request.method == "POST" else None)
    if request.method == "GET":
        form.supplier_id.data = request.args.get("supplier", type=int)
    else:
        sent = submit(
            form,
            lambda: create_purchase_order(
                by=current_user,
                supplier_id=form.supplier_id.data,
                location_id=form.location_id.data,
                expected_on=optional_date(form.expected_on.data),
                note=form.note.data or "",
            ),
        )
        if sent.ok:
            po = sent.value
            return done(
                f"Draft {po.number} created: add its lines.",
                url_for("console.po_detail", po_id=po.id),
            )
    return render("console/purchasing/new.html", form=form, status=form_status())


def _detail(
    po: Any, *, line_form: LineForm | None = None, details_form: Any = None, status: int = 200
) -> Any:
    if details_form is None:
        details_form = OrderDetailsForm(formdata=None)
        details_form.expected_on.data = po.expected_on.isoformat() if po.expected_on else ""
        details_form.note.data = po.note
    return render(
        "console/purchasing/detail.html",
        status=status,
        po=po,
        line_form=line_form or LineForm(formdata=None),
        details_form=details_form,
        receipts=receipts_of(po.id),
        format_money=format_money,
        cost_text=cost_text,
        can_edit=current_user.can("inventory.edit"),
    )


def po_detail(po_id: int) -> Any:
    return _detail(get_purchase_order(po_id))


def po_add_line(po_id: int) -> Any:
    po = get_purchase_order(po_id)
    form = LineForm()

    def add() -> Any:
        code = (form.code.data or "").strip()
        variant = find_variant_by_code(code)
        if variant is None:
            raise ValidationError(
                f"No variant has the SKU or barcode “{code}”." if code else "Scan or type a SKU.",
                field="code",
            )
        return add_purchase_order_line(
            po,
            by=current_user,
            variant_id=variant.id,
            quantity=whole_number(form.quantity.data, "quantity"),
            unit_cost=money(form.unit_cost.data, po.currency, "unit_cost"),
        )

    sent = submit(form, add)
    if sent.ok:
        return done(f"Line added to {po.number}.", url_for("console.po_detail", po_id=po.id))
    return _detail(po, line_form=form, status=422)


def po_change_line(line_id: int) -> Any:
    line = get_purchase_order_line(line_id)
    po = line.purchase_order
    target = url_for("console.po_detail", po_id=po.id)
    form = LineForm()
    sent = submit(
        form,
        lambda: change_purchase_order_line(
            line.id,
            by=current_user,
            quantity=whole_number(form.quantity.data, "quantity"),
            unit_cost=money(form.unit_cost.data, po.currency, "unit_cost"),
        ),
    )
    if sent.ok:
        return done("Line saved.", target)
    message = sent.error.message if sent.error else FORM_EXPIRED
    if form.errors:
        message = next(iter(form.errors.values()))[0]
    return done(message, target, level="error")


def po_remove_line(line_id: int) -> Any:
    line = get_purchase_order_line(line_id)
    target = url_for("console.po_detail", po_id=line.purchase_order_id)
    return _confirmed(
        lambda: remove_purchase_order_line(line.id, by=current_user), "Line removed.", target
    )


def _confirmed(run: Any, message: str, target: str) -> Any:
    if not ConfirmForm().validate_on_submit():
        return done(FORM_EXPIRED, target, level="error")
    try:
        run()
    except CommerceError as exc:
        return done(exc.message, target, level="error")
    return done(message, target)


def po_update(po_id: int) -> Any:
    po = get_purchase_order(po_id)
    form = OrderDetailsForm()
    sent = submit(
        form,
        lambda: update_purchase_order(
            po,
            by=current_user,
            expected_on=optional_date(form.expected_on.data),
            note=form.note.data or "",
        ),
    )
    if sent.ok:
        return done(f"{po.number} saved.", url_for("console.po_detail", po_id=po.id))
    return _detail(po, details_form=form, status=422)


def po_order(po_id: int) -> Any:
    po = get_purchase_order(po_id)
    return _confirmed(
        lambda: place_purchase_order(po, by=current_user),
        f"{po.number} ordered: its units now show as incoming.",
        url_for("console.po_detail", po_id=po.id),
    )


def po_cancel(po_id: int) -> Any:
    po = get_purchase_order(po_id)
    return _confirmed(
        lambda: cancel_purchase_order(
            po, by=current_user, reason=request.form.get("reason", "")[:500]
        ),
        f"{po.number} cancelled.",
        url_for("console.po_detail", po_id=po.id),
    )


def po_send(po_id: int) -> Any:
    po = get_purchase_order(po_id)
    return _confirmed(
        lambda: send_purchase_order(po, by=current_user),
        f"{po.number} is on its way to {po.supplier.email or po.supplier.name}.",
        url_for("console.po_detail", po_id=po.id),
    )


def po_pdf(po_id: int) -> Response:
    po = get_purchase_order(po_id)
    response = Response(purchase_order_pdf(po), mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'inline; filename="{po.number}.pdf"'
    return response


def purchasing_shop_settings() -> Any:
    form = ShopSettingsForm()
    target = url_for("console.po_list")
    sent = submit(
        form,
        lambda: set_show_incoming_in_shop(bool(form.show_incoming_in_shop.data), by=current_user),
    )
    if not sent.ok:
        return done(sent.error.message if sent.error else FORM_EXPIRED, target, level="error")
    shown = "shown" if form.show_incoming_in_shop.data else "hidden"
    return done(f"“Back soon” dates are {shown} in the shop.", target)

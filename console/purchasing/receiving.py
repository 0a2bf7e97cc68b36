"""Receiving against a purchase order by scanning: the receive screen's PO mode.

Choose an open PO, scan an item (its SKU or barcode must be on the PO), enter how many arrived
(1 when left empty) and receive: each receipt is one ledger movement naming the PO. More than
the line still expects asks for a confirmation first. Every form carries a fresh idempotency
key, so a retried post (a double Enter, a reload) books once.
"""

from __future__ import annotations

from typing import Any

from flask import redirect, request, url_for
from flask_login import current_user

from commerce.errors import CommerceError, ValidationError
from commerce.inventory.services import find_variant_by_code
from commerce.purchasing.queries import open_purchase_orders, receipts_of
from commerce.purchasing.services import (
    OverReceipt,
    get_purchase_order,
    receipt_for_key,
    receive_purchase_order_line,
)
from console import bp
from console.inventory.forms import new_key
from console.purchasing.forms import ReceiveLineForm
from console.web import done, form_error_summary, toast
from web.forms import apply_errors, expired_message
from web.pages import is_htmx, render

# The receive screen (console/inventory/scan.py) offers the PO mode through this global.
bp.app_template_global("open_purchase_orders")(open_purchase_orders)


def po_receive_pick() -> Any:
    """The receive screen's "Receive against a PO" picker lands here (?po=ID)."""
    po_id = request.args.get("po", type=int)
    if po_id:
        return redirect(url_for("console.po_receive", po_id=po_id), code=303)
    return render("console/purchasing/receive_pick.html", orders=open_purchase_orders())


def _fresh_form() -> ReceiveLineForm:
    form = ReceiveLineForm(formdata=None)
    form.key.data = new_key()
    form.quantity.data = "1"
    return form


def _page(po: Any, form: ReceiveLineForm, *, over: OverReceipt | None = None, status: int = 200):
    return render(
        "console/purchasing/receive.html",
        "console/purchasing/_receive.html",
        status=status,
        po=po,
        form=form,
        over=over,
        receipts=receipts_of(po.id)[:20],
        can_edit=current_user.can("inventory.edit"),
    )


def po_receive(po_id: int) -> Any:
    return _page(get_purchase_order(po_id), _fresh_form())


def po_receive_post(po_id: int) -> Any:
    po = get_purchase_order(po_id)
    form = ReceiveLineForm()
    if not form.validate_on_submit():
        form.form_errors.append(expired_message("reload the page and scan again"))
        return _page(po, form, status=422)
    key = form.key.data or None
    repeat = receipt_for_key(key)
    try:
        code = (form.code.data or "").strip()
        variant = find_variant_by_code(code)
        if variant is None:
            raise ValidationError(
                f"No variant has the SKU or barcode “{code}”." if code else "Scan or type a SKU.",
                field="code",
            )
        line = next((ln for ln in po.lines if ln.variant_id == variant.id), None)
        if line is None:
            raise ValidationError(f"{variant.sku or code} is not on {po.number}.", field="code")
        text = (form.quantity.data or "").strip() or "1"
        if not text.isdigit():
            raise ValidationError("Enter a whole number of units.", field="quantity")
        receipt = receive_purchase_order_line(
            line.id,
            quantity=int(text),
            by=current_user,
            idempotency_key=key,
            accept_over=form.accept_over.data == "1",
        )
    except OverReceipt as exc:
        return _page(po, form, over=exc, status=422)  # htmx swaps 422: the question shows
    except CommerceError as exc:
        apply_errors(form, exc)
        response = _page(po, form, status=422 if exc.status in (400, 422) else exc.status)
        return toast(response, form_error_summary(exc), level="error") if is_htmx() else response
    label = variant.sku or code
    if repeat is not None:
        message = f"Already received: {label} (the same scan was sent twice)."
    else:
        message = (
            f"Received {receipt.quantity} x {label} on {po.number} "
            f"({receipt.line.received} of {receipt.line.quantity})."
        )
    if not is_htmx():
        return done(message, url_for("console.po_receive", po_id=po.id))
    return toast(_page(get_purchase_order(po.id), _fresh_form()), message)

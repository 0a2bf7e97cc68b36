"""One order on one screen: lines, totals, payments, fulfillments, refunds, returns, documents
and the timeline, with the actions the state machine and the staff member's role allow.

Each action is a small POST that calls one service and answers with the page (or, for htmx,
a redirect header and a toast); the permission is checked here on the server.
"""

from __future__ import annotations

from typing import Any

from flask import abort, current_app, request, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from commerce.customers.services import ADDRESS_FIELDS
from commerce.db import utcnow
from commerce.errors import CommerceError
from commerce.extensions import db
from commerce.giftcards.tenders import order_tenders
from commerce.inventory.models import Location
from commerce.inventory.services import active_locations, find_variant_by_code
from commerce.orders.cancellation import cancel_order
from commerce.orders.edits import edit_order
from commerce.orders.fulfillment import (
    cancel_fulfillment,
    create_fulfillment,
    get_fulfillment,
    pickable,
    ship_fulfillment,
    waiting_lines,
)
from commerce.orders.models import OPEN, Fulfillment, Order
from commerce.orders.returns import returnable_quantities
from commerce.orders.services import add_note, get_order, order_status_token
from commerce.payments.models import Payment
from console.web import done
from web.forms import error_messages
from web.pages import render

CARRIERS = ("UPS", "USPS", "FedEx", "DHL", "Royal Mail", "DPD", "Canada Post", "Other")


def _order_or_404(order_id: int) -> Order:
    return get_order(order_id)


def _payments(order: Order) -> list[Payment]:
    if order.payment_id is None:
        return []
    payment = db.session.get(Payment, order.payment_id)
    return [payment] if payment is not None else []


def order_page(
    order: Order, *, status: int = 200, errors: dict[str, Any] | None = None
) -> Response:
    waiting = {
        location_id: waiting_lines(picks, order)
        for location_id, picks in (pickable(order) if order.status == OPEN else {}).items()
    }
    waiting = {location_id: rows for location_id, rows in waiting.items() if rows}
    locations = {
        loc.id: loc
        for loc in db.session.query(Location).filter(Location.id.in_(list(waiting) or [0]))
    }
    return render(
        "console/orders/detail.html",
        order=order,
        payments=_payments(order),
        tenders=order_tenders(order.id),
        waiting=waiting,
        locations=locations,
        carriers=CARRIERS,
        errors=errors or {},
        status_url=url_for("storefront.order_status", token=order_status_token(order)),
        now=utcnow(),
        has_order_list="console.order_list" in current_app.view_functions,
        has_documents="console.order_invoice_pdf" in current_app.view_functions,
        returnable=returnable_quantities(order) if order.status != "cancelled" else {},
        all_locations=active_locations(),
        status=status,
    )


def order_detail(order_id: int) -> Response:
    return order_page(_order_or_404(order_id))


def _failed(order: Order, exc: CommerceError, prefix: str = "") -> Response:
    """The page again with the messages (422 for bad input, the error's 4xx otherwise)."""
    order = _order_or_404(order.id)
    errors = error_messages(exc)
    keyed = {f"{prefix}{k}" if prefix else k: v for k, v in errors.items()}
    keyed.setdefault("form", [exc.message])
    return order_page(order, status=exc.status if exc.status >= 400 else 400, errors=keyed)


def _quantities(prefix: str) -> dict[int, int]:
    """Form fields named <prefix><line id> -> int quantities (blank means 0)."""
    values: dict[int, int] = {}
    for name, raw in request.form.items():
        if name.startswith(prefix) and name[len(prefix) :].isdigit():
            text = raw.strip() or "0"
            try:
                values[int(name[len(prefix) :])] = int(text)
            except ValueError:
                values[int(name[len(prefix) :])] = -1  # the service says what is wrong
    return values


# -- fulfillment --------------------------------------------------------------------------------


def order_fulfill(order_id: int) -> Response:
    order = _order_or_404(order_id)
    try:
        location_id = int(request.form.get("location_id", ""))
    except ValueError:
        abort(400)
    lines = _quantities("qty-")
    try:
        parcel = create_fulfillment(
            order, location_id=location_id, lines=lines or None, by=current_user
        )
    except CommerceError as exc:
        return _failed(order, exc, prefix=f"pick-{location_id}-")
    return done(
        f"Parcel started with {parcel.item_count} item(s): print the packing slip, then ship.",
        url_for("console.order_detail", order_id=order.id) + f"#fulfillment-{parcel.id}",
    )


def _own_fulfillment(order: Order, fulfillment_id: int) -> Fulfillment:
    fulfillment = get_fulfillment(fulfillment_id)
    if fulfillment.order_id != order.id:
        abort(404)
    return fulfillment


def order_ship(order_id: int, fulfillment_id: int) -> Response:
    order = _order_or_404(order_id)
    parcel = _own_fulfillment(order, fulfillment_id)
    carrier = request.form.get("carrier", "")
    if carrier == "Other":
        carrier = request.form.get("carrier_other", "")
    try:
        ship_fulfillment(
            parcel,
            carrier=carrier,
            tracking_number=request.form.get("tracking_number", ""),
            by=current_user,
        )
    except CommerceError as exc:
        return _failed(order, exc, prefix=f"ship-{parcel.id}-")
    return done("Marked as shipped; the customer is emailed.", _detail(order))


def order_fulfillment_cancel(order_id: int, fulfillment_id: int) -> Response:
    order = _order_or_404(order_id)
    parcel = _own_fulfillment(order, fulfillment_id)
    try:
        cancel_fulfillment(parcel, by=current_user)
    except CommerceError as exc:
        return _failed(order, exc)
    return done("Parcel cancelled; its items wait to be picked again.", _detail(order))


# -- notes --------------------------------------------------------------------------------------


def order_note(order_id: int) -> Response:
    order = _order_or_404(order_id)
    visible = request.form.get("visibility") == "customer"
    try:
        add_note(
            order, text=request.form.get("text", ""), by=current_user, customer_visible=visible
        )
    except CommerceError as exc:
        return _failed(order, exc, prefix="note-")
    return done(
        "Comment added (the customer sees it)." if visible else "Note added.", _detail(order)
    )


def _detail(order: Order) -> str:
    return url_for("console.order_detail", order_id=order.id)


# -- cancel and edit ----------------------------------------------------------------------------


def order_cancel(order_id: int) -> Response:
    order = _order_or_404(order_id)
    try:
        order = cancel_order(order, reason=request.form.get("reason", ""), by=current_user)
    except CommerceError as exc:
        return _failed(order, exc, prefix="cancel-")
    settled = {
        "voided": "the authorization was released",
        "refunded": "the payment was refunded",
    }.get(order.payment_status, "see the refunds for the money")
    return done(f"Order cancelled; stock is available again and {settled}.", _detail(order))


def _edit_page(
    order: Order, *, status: int = 200, errors: dict[str, Any] | None = None
) -> Response:
    return render(
        "console/orders/edit.html",
        order=order,
        errors=errors or {},
        values=request.form if request.method == "POST" else {},
        status=status,
    )


def order_edit(order_id: int) -> Response:
    order = _order_or_404(order_id)
    if request.method == "GET":
        return _edit_page(order)
    add: dict[int, Any] = {}
    sku = request.form.get("add_sku", "").strip()
    if sku:
        variant = find_variant_by_code(sku)
        if variant is None:
            return _edit_page(order, status=422, errors={"add_sku": ["No variant has that SKU."]})
        add[variant.id] = request.form.get("add_quantity", "1")
    address = {name: request.form.get(name, "") for name in ADDRESS_FIELDS}
    changed_address = any(
        address[name].strip() != str(order.shipping_address.get(name) or "")
        for name in ADDRESS_FIELDS
    )
    try:
        edit_order(
            order,
            quantities={line_id: qty for line_id, qty in _raw_quantities("line-").items()},
            add=add,
            shipping_address=address if changed_address else None,
            reason=request.form.get("reason", ""),
            by=current_user,
        )
    except CommerceError as exc:
        errors = error_messages(exc)
        errors = {("add_sku" if k.startswith("add-") else k): v for k, v in errors.items()}
        errors.setdefault("form", [exc.message])
        return _edit_page(_order_or_404(order_id), status=exc.status, errors=errors)
    return done("Order updated.", _detail(order))


def _raw_quantities(prefix: str) -> dict[int, str]:
    return {
        int(name[len(prefix) :]): raw
        for name, raw in request.form.items()
        if name.startswith(prefix) and name[len(prefix) :].isdigit()
    }

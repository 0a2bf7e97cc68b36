"""Money that needs a person: the "Needs attention" list (what the payment recovery task could
not settle on its own), running the recovery now, and capturing an order's authorized payment
by hand (a confirmation page first; the same idempotent capture as the automatic one).
"""

from __future__ import annotations

from flask import request, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from commerce.checkout.recovery import recover_payments
from commerce.errors import CommerceError
from commerce.extensions import db
from commerce.orders.attention import TITLES, payments_needing_attention
from commerce.orders.models import AUTHORIZED, Order
from commerce.orders.services import capture_payment_by_hand, get_order
from commerce.payments.models import Payment
from console.web import done
from web.pages import render

PERMISSION = "payments.manage"


def payment_attention() -> Response:
    items = payments_needing_attention()
    kind = request.args.get("kind", "")
    shown = [item for item in items if item.kind == kind] if kind in TITLES else items
    counts: dict[str, int] = {}
    for item in items:
        counts[item.kind] = counts.get(item.kind, 0) + 1
    return render(
        "console/payments/attention.html",
        items=shown,
        counts=counts,
        titles=TITLES,
        kind=kind if kind in TITLES else "",
    )


def payment_recover() -> Response:
    """Run the periodic recovery now (it is idempotent, so a double click does no harm)."""
    report = recover_payments(by=current_user)
    message = (
        f"Recovery changed {report.changed} thing(s); {report.needs_attention} left for a person."
        if report.changed
        else f"Nothing to recover; {report.needs_attention} left for a person."
    )
    return done(message, url_for("console.payment_attention"))


def _order(order_id: int) -> Order:
    return get_order(order_id)


def _capture_page(order: Order, *, status: int = 200, error: str = "") -> Response:
    payment = db.session.get(Payment, order.payment_id) if order.payment_id else None
    capturable = (
        order.payment_status == AUTHORIZED and payment is not None and order.status != "cancelled"
    )
    return render(
        "console/orders/capture.html",
        order=order,
        payment=payment,
        capturable=capturable,
        amount=min(order.total, payment.authorized_amount) if payment is not None else 0,
        error=error,
        status=status,
    )


def order_capture(order_id: int) -> Response:
    """GET: what would be captured, and a confirm button; POST: capture it."""
    order = _order(order_id)
    if request.method == "GET":
        return _capture_page(order)
    try:
        order = capture_payment_by_hand(order, by=current_user)
    except CommerceError as exc:
        status = exc.status if exc.status >= 400 else 400
        return _capture_page(_order(order_id), status=status, error=exc.message)
    return done(
        f"Payment captured: the order is {order.payment_status.replace('_', ' ')}.",
        url_for("console.order_detail", order_id=order.id),
    )

"""Cancelling an order before anything shipped: stock back to available, money back.

The order is cancelled and its allocations released in one transaction (so the units can be
sold again at once), with the promotion and coupon uses it counted given back to their limits;
the money follows outside it, because it calls the payment provider: an uncaptured
authorization is voided, a captured payment refunded in full through the refund
service (so a large refund still waits for an admin's approval, and a provider failure leaves
a failed refund with a retry, never a half-cancelled order).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update

from commerce import audit, outbox
from commerce.db import transaction, utcnow, workflow
from commerce.errors import CommerceError, InvalidTransition, ValidationError
from commerce.extensions import db
from commerce.inventory.models import ALLOCATED, Allocation
from commerce.inventory.services import cancel_allocation
from commerce.orders.models import (
    AUTHORIZED,
    CANCELLED,
    FULFILLMENT_CANCELLED,
    OPEN,
    PICKING,
    VOIDED,
    Fulfillment,
    Order,
)
from commerce.orders.services import (
    PAYMENT_CAPTURED_STATES,
    record_capture,
    record_event,
    transition,
)
from commerce.payments.models import AUTHORIZED as PAYMENT_AUTHORIZED
from commerce.payments.models import EXPIRED as PAYMENT_EXPIRED
from commerce.payments.models import VOIDED as PAYMENT_VOIDED
from commerce.payments.models import Payment
from commerce.payments.services import void_payment
from commerce.promotions.redemptions import release_uses

MAX_REASON = 1000
ORDER_CANCELLED = "order.cancelled"  # outbox topic: webhooks listen


@workflow
def cancel_order(order: Order, *, reason: str, by: Any) -> Order:
    """Cancel an order nothing of which has shipped; returns it cancelled. A second call on a
    cancelled order changes nothing (and settles money a first call could not)."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError("Say why the order is cancelled.", field="reason")
    if len(reason) > MAX_REASON:
        raise ValidationError(f"At most {MAX_REASON} characters.", field="reason")
    order_id = order.id
    if order.status != CANCELLED:
        if order.status != OPEN:
            raise InvalidTransition(f"A {order.status} order cannot be cancelled.", field="status")
        if any(line.fulfilled_quantity for line in order.lines):
            raise InvalidTransition(
                "Items of this order have shipped: open a return and refund instead.",
                field="fulfillment_status",
            )
        with transaction():
            moved = db.session.execute(
                update(Order)
                .where(Order.id == order_id, Order.status == OPEN)
                .values(cancel_reason=reason, cancelled_at=utcnow())
                .execution_options(synchronize_session=False)
            ).rowcount
            db.session.refresh(order)
            if moved == 1:
                transition(order, "status", CANCELLED, f"Order cancelled: {reason}", by=by)
                db.session.execute(
                    update(Fulfillment)
                    .where(Fulfillment.order_id == order_id, Fulfillment.status == PICKING)
                    .values(status=FULFILLMENT_CANCELLED)
                    .execution_options(synchronize_session=False)
                )
                released = 0
                for allocation_id in db.session.scalars(
                    select(Allocation.id)
                    .where(Allocation.reference == order.reference, Allocation.status == ALLOCATED)
                    .order_by(Allocation.stock_level_id, Allocation.id)
                ):
                    released += cancel_allocation(allocation_id, by=by)
                uses = release_uses(order_id=order_id)
                audit.record(
                    by,
                    "order.cancel",
                    order,
                    before={"status": OPEN},
                    after={
                        "status": CANCELLED,
                        "reason": reason,
                        "released_units": released,
                        "released_promotion_uses": uses,
                    },
                )
                outbox.enqueue(ORDER_CANCELLED, {"order_id": order_id})
    return _settle_money(db.session.get(Order, order_id), reason=reason, by=by)


def _settle_money(order: Order, *, reason: str, by: Any) -> Order:
    payment = db.session.get(Payment, order.payment_id) if order.payment_id else None
    if order.payment_status == AUTHORIZED and payment is not None:
        if payment.status in PAYMENT_CAPTURED_STATES:  # captured after all: refund it below
            order = record_capture(order, by=by)
        elif payment.status in (PAYMENT_AUTHORIZED, PAYMENT_VOIDED, PAYMENT_EXPIRED):
            if payment.status == PAYMENT_AUTHORIZED:
                try:
                    void_payment(payment, by=by)
                except CommerceError as exc:
                    with transaction():
                        record_event(order, "payment.void_failed", exc.message, by=by)
                    return order
            with transaction():
                order = db.session.get(Order, order.id)
                transition(order, "payment_status", VOIDED, "Authorization released.", by=by)
            return order
        else:  # a call in flight: the recovery task settles it, then this order's money
            with transaction():
                record_event(
                    order,
                    "payment.in_flight",
                    f"The payment is {payment.status}; its money is settled once the "
                    "provider's answer is known.",
                    by=by,
                )
            return order
    kept = order.paid_total - order.refunded_total
    if kept > 0:
        from commerce.orders.refunds import issue_refund, quote_refund

        lines = {
            line.id: line.refundable_quantity for line in order.lines if line.refundable_quantity
        }
        lines_amount, shipping = 0, 0
        if lines:
            quote = quote_refund(order, lines=lines)
            lines_amount = quote.lines_amount
            shipping = min(quote.shipping_refundable, max(kept - lines_amount, 0))
        issue_refund(
            order,
            lines=lines,
            shipping_amount=shipping,
            extra_amount=max(kept - lines_amount - shipping, 0),
            reason=f"Order cancelled: {reason}",
            restock={},
            idempotency_key=f"{order.reference}:cancel",
            by=by,
        )
        order = db.session.get(Order, order.id)
    return order

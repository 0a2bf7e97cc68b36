"""Money that needs a person: what the payment recovery task could not settle on its own.

Computed from the current state on every read (nothing is stored), so an item disappears as
soon as it is settled, by a person or by a later recovery run. Only states older than
PAYMENTS_IN_FLIGHT_TIMEOUT count: younger ones may still be on their way.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask import current_app
from sqlalchemy import select

from commerce.db import utcnow
from commerce.extensions import db
from commerce.orders.models import (
    AUTHORIZED,
    CANCELLED,
    REFUND_FAILED,
    REFUND_PROCESSING,
    Order,
    Refund,
)
from commerce.orders.services import PAYMENT_CAPTURED_STATES
from commerce.payments.models import AUTHORIZED as PAYMENT_AUTHORIZED
from commerce.payments.models import (
    CAPTURE,
    CAPTURING,
    EXPIRED,
    FAILED,
    PENDING,
    REQUIRES_ACTION,
    TX_FAILED,
    VOIDED,
    VOIDING,
    Payment,
    PaymentTransaction,
)
from commerce.payments.services import in_flight_timeout

LIMIT = 200  # per kind

# AttentionItem.kind, in the order the list shows them (most urgent first).
CAPTURE_REFUSED = "capture_refused"
NOT_CAPTURED = "not_captured"
AUTHORIZATION_LAPSED = "authorization_lapsed"
PAID_NOT_SHOWN = "paid_not_shown"
REFUND_FAILED_KIND = "refund_failed"
REFUND_STUCK = "refund_stuck"
CANCELLED_KEEPS_MONEY = "cancelled_keeps_money"
LOOSE_AUTHORIZATION = "loose_authorization"
UNANSWERED = "unanswered"
KINDS = (
    CAPTURE_REFUSED,
    NOT_CAPTURED,
    AUTHORIZATION_LAPSED,
    PAID_NOT_SHOWN,
    REFUND_FAILED_KIND,
    REFUND_STUCK,
    CANCELLED_KEEPS_MONEY,
    LOOSE_AUTHORIZATION,
    UNANSWERED,
)
TITLES = {
    CAPTURE_REFUSED: "Capture refused",
    NOT_CAPTURED: "Authorized, not captured",
    AUTHORIZATION_LAPSED: "Authorization lapsed",
    PAID_NOT_SHOWN: "Captured, not shown paid",
    REFUND_FAILED_KIND: "Refund failed",
    REFUND_STUCK: "Refund unanswered",
    CANCELLED_KEEPS_MONEY: "Cancelled, money kept",
    LOOSE_AUTHORIZATION: "Money held without an order",
    UNANSWERED: "Provider has not answered",
}


@dataclass(frozen=True)
class AttentionItem:
    kind: str
    detail: str  # what happened and what a person can do
    since: datetime
    amount: int
    currency: str
    order_id: int | None = None
    order_name: str = ""
    payment_id: int | None = None
    can_capture: bool = False  # the order's authorized payment can be captured by hand

    @property
    def title(self) -> str:
        return TITLES[self.kind]


def _placement_capture() -> bool:
    return current_app.config.get("PAYMENTS_CAPTURE", "placement") == "placement"


def payments_needing_attention(*, now: datetime | None = None) -> list[AttentionItem]:
    """Everything about money a person should look at, most urgent kind first, oldest first."""
    now = now or utcnow()
    cutoff = now - in_flight_timeout()
    items: list[AttentionItem] = []
    refused = set(
        db.session.scalars(
            select(PaymentTransaction.payment_id).where(
                PaymentTransaction.kind == CAPTURE, PaymentTransaction.status == TX_FAILED
            )
        )
    )

    authorized_orders = db.session.execute(
        select(Order, Payment)
        .join(Payment, Payment.id == Order.payment_id)
        .where(
            Order.status != CANCELLED,
            Order.payment_status == AUTHORIZED,
            Order.placed_at < cutoff,
        )
        .order_by(Order.placed_at, Order.id)
        .limit(LIMIT)
    ).all()
    for order, payment in authorized_orders:
        base = {
            "since": order.placed_at,
            "amount": order.total,
            "currency": order.currency,
            "order_id": order.id,
            "order_name": order.name,
            "payment_id": payment.id,
        }
        if payment.status == PAYMENT_AUTHORIZED:
            if payment.id in refused:
                items.append(
                    AttentionItem(
                        CAPTURE_REFUSED,
                        "The provider refused the capture (see the timeline). Capture again, "
                        "or contact the customer.",
                        can_capture=True,
                        **base,
                    )
                )
            elif _placement_capture() or order.fulfillment_status != "unfulfilled":
                items.append(
                    AttentionItem(
                        NOT_CAPTURED,
                        "The money is authorized but was never taken. Capture it.",
                        can_capture=True,
                        **base,
                    )
                )
        elif payment.status in (EXPIRED, VOIDED, FAILED):
            items.append(
                AttentionItem(
                    AUTHORIZATION_LAPSED,
                    f"The authorization is {payment.status}: nothing can be captured. Ask "
                    "the customer to pay again, or cancel the order.",
                    **base,
                )
            )
        elif payment.status in PAYMENT_CAPTURED_STATES:
            items.append(
                AttentionItem(
                    PAID_NOT_SHOWN,
                    "The payment was captured but the order still shows it unpaid; the "
                    "recovery task marks it paid (or capture it by hand).",
                    can_capture=True,
                    **base,
                )
            )

    refunds = db.session.execute(
        select(Refund, Order)
        .join(Order, Order.id == Refund.order_id)
        .where(
            (Refund.status == REFUND_FAILED)
            | ((Refund.status == REFUND_PROCESSING) & (Refund.created_at < cutoff))
        )
        .order_by(Refund.created_at, Refund.id)
        .limit(LIMIT)
    ).all()
    for refund, order in refunds:
        failed = refund.status == REFUND_FAILED
        items.append(
            AttentionItem(
                REFUND_FAILED_KIND if failed else REFUND_STUCK,
                (
                    f"{refund.error_message or 'The provider refused it.'} Retry it from the "
                    "order, or pay the customer back another way."
                    if failed
                    else "The provider's answer is still awaited; the recovery task keeps asking."
                ),
                since=refund.completed_at or refund.created_at,
                amount=refund.amount,
                currency=refund.currency,
                order_id=order.id,
                order_name=order.name,
                payment_id=refund.payment_id,
            )
        )

    kept = db.session.scalars(
        select(Order)
        .where(
            Order.status == CANCELLED,
            Order.paid_total > Order.refunded_total,
            Order.cancelled_at < cutoff,
        )
        .order_by(Order.cancelled_at, Order.id)
        .limit(LIMIT)
    ).all()
    for order in kept:
        items.append(
            AttentionItem(
                CANCELLED_KEEPS_MONEY,
                "The order is cancelled but its money was not all given back. Refund it "
                "(a refund may be waiting for approval).",
                since=order.cancelled_at or order.placed_at,
                amount=order.paid_total - order.refunded_total,
                currency=order.currency,
                order_id=order.id,
                order_name=order.name,
                payment_id=order.payment_id,
            )
        )

    used = select(Order.payment_id).where(Order.payment_id.is_not(None))
    loose = db.session.scalars(
        select(Payment)
        .where(
            Payment.status.in_((PAYMENT_AUTHORIZED, REQUIRES_ACTION)),
            Payment.id.not_in(used),
            Payment.updated_at < cutoff,
        )
        .order_by(Payment.updated_at, Payment.id)
        .limit(LIMIT)
    ).all()
    for payment in loose:
        if payment.status == REQUIRES_ACTION and not _old(payment, now):
            continue  # the shopper may still confirm it at the bank
        items.append(
            AttentionItem(
                LOOSE_AUTHORIZATION,
                f"{payment.reference}: money is held on the card but no order uses it; the "
                "recovery task places the order or voids it.",
                since=payment.updated_at,
                amount=payment.amount,
                currency=payment.currency,
                payment_id=payment.id,
            )
        )

    unanswered = db.session.scalars(
        select(Payment)
        .where(Payment.status.in_((PENDING, CAPTURING, VOIDING)), Payment.updated_at < cutoff)
        .order_by(Payment.updated_at, Payment.id)
        .limit(LIMIT)
    ).all()
    for payment in unanswered:
        items.append(
            AttentionItem(
                UNANSWERED,
                f"{payment.reference}: the payment is {payment.status}; the provider's answer "
                "is still awaited (the recovery task keeps asking).",
                since=payment.updated_at,
                amount=payment.amount,
                currency=payment.currency,
                payment_id=payment.id,
            )
        )
    order = {kind: i for i, kind in enumerate(KINDS)}
    return sorted(items, key=lambda item: (order[item.kind], item.since))


def _old(payment: Payment, now: datetime) -> bool:
    """A payment waiting for the customer's bank longer than a checkout hold plus the
    in-flight timeout: the shopper is gone."""
    ttl = current_app.config["RESERVATION_TTL"]
    return payment.updated_at < now - ttl - in_flight_timeout()


def count_needing_attention(*, now: datetime | None = None) -> int:
    return len(payments_needing_attention(now=now))

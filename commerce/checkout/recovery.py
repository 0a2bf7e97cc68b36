"""The payment recovery task: every in-between state of money settled, with the payment
provider as the source of truth.

A crash (a killed worker) or an outage (the database unreachable for a while) can stop a
payment workflow between its steps. What is left behind, and what this task does about it:

- a provider call whose answer was never recorded (payment "pending", "capturing",
  "voiding", a refund's call pending): the provider is asked what it did, by the key the call
  was sent with; a capture, void or refund it never received is sent again with that key (done
  at most once), an authorization it never received has failed;
- a refund left "processing": its call is settled as above, then the refund succeeds or fails;
- a checkout left "placing" by a process that stopped, or money authorized with no order: the
  authorization becomes the order when the checkout can still complete (stock held or
  re-holdable, total unchanged, codes still valid), otherwise it is voided; a payment waiting
  for the customer's bank challenge is voided once the checkout's hold is over;
- an order authorized but never captured (capture at placement, or at fulfillment once
  shipped): captured; an order whose payment is captured but still shown unpaid: paid;
- a cancelled order whose money was not released or refunded: released or refunded.

Only rows older than PAYMENTS_IN_FLIGHT_TIMEOUT are touched, so a call or a placement still in
flight is never raced. Every step is idempotent (conditional UPDATEs decide who records what),
so two recoveries at once, or a recovery and a shopper's retry, settle each thing once. What
it cannot settle shows in the console's "Needs attention" list (commerce.orders.attention).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy import select

from commerce.checkout.models import ABANDONED, COMPLETED, OPEN, PLACING, Checkout
from commerce.checkout.services import (
    BUSY,
    ORDER_PLACED,
    RELEASED,
    has_live_hold,
    settle_checkout,
)
from commerce.db import utcnow, workflow
from commerce.extensions import db
from commerce.orders.attention import count_needing_attention
from commerce.orders.cancellation import cancel_order
from commerce.orders.models import (
    AUTHORIZED,
    CANCELLED,
    PAID,
    PARTIALLY_PAID,
    REFUND_PROCESSING,
    UNFULFILLED,
    Order,
    Refund,
)
from commerce.orders.refunds import settle_stuck_refund
from commerce.orders.services import (
    PAYMENT_CAPTURED_STATES,
    capture_on_placement,
    capture_order_payment,
    complete_if_done,
    record_capture,
)
from commerce.payments.models import AUTHORIZED as PAYMENT_AUTHORIZED
from commerce.payments.models import (
    CAPTURE,
    EXPIRED,
    REQUIRES_ACTION,
    TX_FAILED,
    TX_PENDING,
    VOIDED,
    Payment,
    PaymentTransaction,
)
from commerce.payments.services import (
    IN_FLIGHT,
    SETTLED,
    in_flight_timeout,
    pending_transactions,
    settle_transaction,
)

log = logging.getLogger(__name__)
BATCH = 200  # rows per kind per run; the next run takes the rest


@dataclass
class RecoveryReport:
    """What one run did, counted per kind of repair."""

    calls_settled: int = 0  # provider calls whose lost answer was learned (or re-sent)
    refunds_settled: int = 0
    orders_placed: int = 0  # authorizations turned into their order
    payments_voided: int = 0
    checkouts_released: int = 0  # placements that stopped, open again (or abandoned)
    captured: int = 0
    paid_status_fixed: int = 0
    cancelled_settled: int = 0  # cancelled orders whose money was released or refunded
    in_flight: int = 0  # answers that may still come: asked again next run
    errors: int = 0
    needs_attention: int = 0  # what is left for a person (the console lists it)

    @property
    def changed(self) -> int:
        skip = {"in_flight", "errors", "needs_attention"}
        return sum(getattr(self, f.name) for f in fields(self) if f.name not in skip)

    def lines(self) -> list[str]:
        labels = {
            "calls_settled": "provider calls settled",
            "refunds_settled": "refunds settled",
            "orders_placed": "authorizations turned into their order",
            "payments_voided": "authorizations voided",
            "checkouts_released": "stopped checkouts released",
            "captured": "orders captured",
            "paid_status_fixed": "orders marked paid from their captures",
            "cancelled_settled": "cancelled orders' money released or refunded",
            "in_flight": "answers still awaited (asked again next run)",
            "errors": "errors (see the log)",
            "needs_attention": "left for a person (Console: Needs attention)",
        }
        return [f"{getattr(self, name)} {label}" for name, label in labels.items()]


def _each(report: RecoveryReport, ids: list[int], work: Callable[[int], None]) -> None:
    """Run one repair per row; a failure is logged and counted, and the others still run."""
    for row_id in ids:
        try:
            work(row_id)
        except Exception:
            db.session.rollback()
            report.errors += 1
            log.exception("payment recovery failed on %s", row_id)


@workflow
def recover_payments(*, now: datetime | None = None, by: Any = None) -> RecoveryReport:
    """Settle every in-between payment state older than PAYMENTS_IN_FLIGHT_TIMEOUT (see the
    module docstring); `by` is the person who asked (None: the periodic task)."""
    now = now or utcnow()
    cutoff = now - in_flight_timeout()
    report = RecoveryReport()

    def call(tx_id: int) -> None:
        outcome = settle_transaction(tx_id, now=now, by=by)
        report.calls_settled += outcome == SETTLED
        report.in_flight += outcome == IN_FLIGHT

    _each(report, pending_transactions(older_than=cutoff, limit=BATCH), call)

    def refund(refund_id: int) -> None:
        refund = db.session.get(Refund, refund_id)
        if refund is not None:
            done = settle_stuck_refund(refund, now=now, by=by)
            report.refunds_settled += done
            report.in_flight += not done

    _each(report, _stuck_refunds(cutoff), refund)

    def checkout(checkout_id: int) -> None:
        settled = settle_checkout(checkout_id, now=now, by=by)
        report.orders_placed += settled.outcome == ORDER_PLACED
        report.checkouts_released += settled.outcome == RELEASED and not settled.voided
        report.payments_voided += settled.voided
        report.in_flight += settled.outcome == BUSY

    _each(report, _checkouts_to_settle(now, cutoff), checkout)

    def paid(order_id: int) -> None:
        order = db.session.get(Order, order_id)
        if order is not None and record_capture(order, by=by).payment_status != AUTHORIZED:
            report.paid_status_fixed += 1

    _each(report, _captured_but_unpaid(), paid)

    def capture(order_id: int) -> None:
        order = db.session.get(Order, order_id)
        if order is None:
            return
        order = capture_order_payment(order, by=by)
        if order.payment_status in (PAID, PARTIALLY_PAID):
            report.captured += 1
            complete_if_done(order, by=by)

    _each(report, _due_for_capture(cutoff), capture)

    def cancelled(order_id: int) -> None:
        order = db.session.get(Order, order_id)
        if order is None:
            return
        before = (order.payment_status, order.refunded_total)
        order = cancel_order(order, reason=order.cancel_reason or "Cancelled", by=by)
        report.cancelled_settled += (order.payment_status, order.refunded_total) != before

    _each(report, _cancelled_with_money(cutoff), cancelled)
    report.needs_attention = count_needing_attention(now=now)
    if report.changed or report.errors:
        log.info("payment recovery: %s", "; ".join(report.lines()))
    return report


# -- what needs settling ------------------------------------------------------------------------


def _stuck_refunds(cutoff: datetime) -> list[int]:
    return list(
        db.session.scalars(
            select(Refund.id)
            .where(
                Refund.status == REFUND_PROCESSING,
                Refund.created_at < cutoff,
                (Refund.approved_at.is_(None)) | (Refund.approved_at < cutoff),
            )
            .order_by(Refund.id)
            .limit(BATCH)
        )
    )


def _checkouts_to_settle(now: datetime, cutoff: datetime) -> list[int]:
    """Checkouts placing for too long, and those of authorizations no order uses."""
    stuck = set(
        db.session.scalars(
            select(Checkout.id)
            .where(Checkout.status == PLACING, Checkout.placing_since < cutoff)
            .limit(BATCH)
        )
    )
    used = select(Order.payment_id).where(Order.payment_id.is_not(None))
    loose = db.session.execute(
        select(Payment.reference, Payment.status)
        .where(
            Payment.status.in_((PAYMENT_AUTHORIZED, REQUIRES_ACTION)),
            Payment.updated_at < cutoff,
            Payment.reference.like("checkout:%"),
            Payment.id.not_in(used),
        )
        .order_by(Payment.id)
        .limit(BATCH)
    ).all()
    keys = {reference.split(":", 1)[1]: status for reference, status in loose}
    for checkout in db.session.scalars(select(Checkout).where(Checkout.key.in_(list(keys)))):
        waiting = keys[checkout.key] == REQUIRES_ACTION
        if waiting and checkout.status == OPEN and has_live_hold(checkout, now):
            continue  # the shopper may still be at the bank's page
        if checkout.status in (OPEN, PLACING, COMPLETED, ABANDONED):
            stuck.add(checkout.id)
    return sorted(stuck)


def _captured_but_unpaid() -> list[int]:
    return list(
        db.session.scalars(
            select(Order.id)
            .join(Payment, Payment.id == Order.payment_id)
            .where(Order.payment_status == AUTHORIZED, Payment.status.in_(PAYMENT_CAPTURED_STATES))
            .order_by(Order.id)
            .limit(BATCH)
        )
    )


def _due_for_capture(cutoff: datetime) -> list[int]:
    """Open orders whose money should have been taken by now (at placement, or at fulfillment
    once something shipped) and whose payment is authorized, unless a capture was refused
    before (that one waits for a person)."""
    refused = select(PaymentTransaction.payment_id).where(
        PaymentTransaction.kind == CAPTURE, PaymentTransaction.status == TX_FAILED
    )
    in_flight = select(PaymentTransaction.payment_id).where(
        PaymentTransaction.kind == CAPTURE, PaymentTransaction.status == TX_PENDING
    )
    stmt = (
        select(Order.id)
        .join(Payment, Payment.id == Order.payment_id)
        .where(
            Order.status != CANCELLED,
            Order.payment_status == AUTHORIZED,
            Order.placed_at < cutoff,
            Payment.status == PAYMENT_AUTHORIZED,
            Payment.id.not_in(refused),
            Payment.id.not_in(in_flight),
        )
        .order_by(Order.id)
        .limit(BATCH)
    )
    if not capture_on_placement():
        stmt = stmt.where(Order.fulfillment_status != UNFULFILLED)
    return list(db.session.scalars(stmt))


def _cancelled_with_money(cutoff: datetime) -> list[int]:
    """Cancelled orders whose authorization was released or lapsed without the order saying
    so, or whose captured money a stopped cancellation never refunded."""
    released = (
        select(Order.id)
        .join(Payment, Payment.id == Order.payment_id)
        .where(
            Order.status == CANCELLED,
            Order.payment_status == AUTHORIZED,
            Payment.status.in_((PAYMENT_AUTHORIZED, VOIDED, EXPIRED, *PAYMENT_CAPTURED_STATES)),
            Order.cancelled_at < cutoff,
        )
    )
    kept = select(Order.id).where(
        Order.status == CANCELLED,
        Order.paid_total > Order.refunded_total,
        Order.cancelled_at < cutoff,
        ~Order.refunds.any(),
    )
    return sorted(
        set(db.session.scalars(released.limit(BATCH))) | set(db.session.scalars(kept.limit(BATCH)))
    )

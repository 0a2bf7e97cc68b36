"""Refunds: money going back to the card, by line and quantity, shipping, or a free amount.

A refund is three steps, so no database transaction is open while the provider works (the
payment services insist on it) and a failure is never half-applied:

  1. one transaction writes the Refund (status processing) and *reserves* what it takes, each
     by a conditional UPDATE whose row count is the guard: the lines' `refunded_quantity`
     (`+ q <= quantity`), for restocked units their `returned_quantity` (`+ q <=
     fulfilled_quantity`), and the order's `refunded_total` (`+ amount <= paid_total`);
  2. `refund_payment` asks the provider (it reserves against the payment in the same way);
  3. one transaction records the answer: succeeded (restock, payment status, timeline, audit,
     outbox "refund.succeeded" for the credit note), or failed (every reservation given back).

Like `Payment.refunded_amount`, `Order.refunded_total` and the line counters therefore count
refunds in flight as well as those that succeeded, so two agents refunding at once can never
exceed what was captured. Step 1 also row-locks the refunded lines and then the order (the
order fulfillment uses: lines before order), so the amounts it computes from what earlier refunds
took are exact: refunding every unit of a line, in any pieces, sums to what the line was paid.

Refunds that would take what agents without "orders.refund_approve" refunded on an order without
approval above REFUND_APPROVAL_LIMIT (cumulative per order, so a large refund cannot be split into
small ones) wait in the approval queue (no reservation) until an approver runs steps 1-3 or rejects
them. That decision is taken under the order's row lock, so two small refunds at once cannot both
slip under the limit.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flask import current_app
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from commerce import audit, outbox
from commerce.db import service, transaction, utcnow, workflow
from commerce.errors import (
    CommerceError,
    Conflict,
    ErrorPath,
    InvalidTransition,
    NotFound,
    PermissionDenied,
    RefundExceedsCapture,
    ValidationError,
)
from commerce.extensions import db
from commerce.giftcards import tenders
from commerce.giftcards.services import deactivate_refunded_cards
from commerce.inventory.bundles import component_units
from commerce.inventory.models import Location
from commerce.inventory.services import restock as restock_units
from commerce.money import format_money
from commerce.orders.fulfillment import release_unshipped
from commerce.orders.models import (
    FULFILLED,
    OPEN,
    PARTIALLY_REFUNDED,
    PARTIALLY_RETURNED,
    REFUND_AWAITING_APPROVAL,
    REFUND_FAILED,
    REFUND_PROCESSING,
    REFUND_REJECTED,
    REFUND_SUCCEEDED,
    REFUNDED,
    RETURN_OPEN,
    RETURNED,
    TO_ORIGINAL,
    TO_STORE_CREDIT,
    Order,
    OrderLine,
    Refund,
    RefundLine,
    Return,
    ReturnLine,
)
from commerce.orders.services import can_transition, complete_if_done, record_event, transition
from commerce.payments.models import REFUND as REFUND_CALL
from commerce.payments.models import (
    REFUNDABLE,
    TX_PENDING,
    TX_SUCCEEDED,
    Payment,
    PaymentTransaction,
)
from commerce.payments.services import IN_FLIGHT, refund_payment, settle_transaction
from commerce.staff.models import StaffMember
from commerce.staff.permissions import role_allows

REFUND_SUCCEEDED_TOPIC = "refund.succeeded"  # outbox: the documents package issues the note
APPROVE_PERMISSION = "orders.refund_approve"
# Refunds that hold their reservation: in flight, or done.
LIVE = (REFUND_PROCESSING, REFUND_SUCCEEDED)
MAX_KEY = 120


# -- the quote ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class QuoteLine:
    order_line_id: int
    title: str
    sku: str | None
    quantity: int
    amount: int  # tax included where the order charged it on top
    tax: int  # the tax inside `amount`


@dataclass(frozen=True)
class RefundQuote:
    """What a refund would give back, for the dialog to show before the agent confirms."""

    currency: str
    lines: tuple[QuoteLine, ...]
    shipping_amount: int
    shipping_tax: int
    extra_amount: int
    refundable: int  # paid_total - refunded_total: the most any refund may be now
    shipping_refundable: int  # shipping (with its tax) not yet refunded
    approval_limit: int
    # refunded on this order by agents who cannot approve, without an approval (the limit is
    # cumulative per order, so a large refund cannot pass as several small ones)
    approval_used: int = 0

    @property
    def lines_amount(self) -> int:
        return sum(line.amount for line in self.lines)

    @property
    def tax_amount(self) -> int:
        return sum(line.tax for line in self.lines) + self.shipping_tax

    @property
    def total(self) -> int:
        return self.lines_amount + self.shipping_amount + self.extra_amount

    @property
    def needs_approval(self) -> bool:
        """Above the limit, with what was already refunded without approval: an agent without
        the approve permission queues it."""
        return self.approval_used + self.total > self.approval_limit


def _share(paid: int, units: int, quantity: int) -> int:
    """What the first `units` of `quantity` are worth of `paid` (floor; exact at the end)."""
    return paid * units // quantity if quantity else 0


def _is_amount(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _already_refunded(order_id: int) -> tuple[dict[int, tuple[int, int]], int]:
    """Per order line (amount, tax) and the shipping that live refunds hold."""
    per_line = {
        line_id: (int(amount or 0), int(tax or 0))
        for line_id, amount, tax in db.session.execute(
            select(RefundLine.order_line_id, func.sum(RefundLine.amount), func.sum(RefundLine.tax))
            .join(Refund, Refund.id == RefundLine.refund_id)
            .where(Refund.order_id == order_id, Refund.status.in_(LIVE))
            .group_by(RefundLine.order_line_id)
        ).all()
    }
    shipping = db.session.scalar(
        select(func.coalesce(func.sum(Refund.shipping_amount), 0)).where(
            Refund.order_id == order_id, Refund.status.in_(LIVE)
        )
    )
    return per_line, int(shipping or 0)


def line_paid(order: Order, line: OrderLine) -> int:
    """What the customer paid for a line: its discounted amount, plus its tax when the order
    charged tax on top."""
    return line.discounted_amount + (0 if order.prices_include_tax else line.tax)


def shipping_paid(order: Order) -> int:
    return order.shipping_total + (0 if order.prices_include_tax else order.shipping_tax)


def _price(
    order: Order,
    lines: Mapping[int, int],
    shipping_amount: Any,
    extra_amount: Any,
) -> RefundQuote:
    """Validate a request against the order as loaded and work out every amount.

    A line's refund is the difference between the cumulative share of the units refunded after
    it and what live refunds already took from the line, so the pieces always add up exactly to
    the line's paid amount (and its tax). The total is not checked against `refundable` here:
    callers decide how to say so."""
    errors: dict[ErrorPath, list[str]] = {}
    by_id = {line.id: line for line in order.lines}
    if not isinstance(lines, Mapping):
        raise ValidationError("Choose the lines to refund.", field="lines")
    for line_id, quantity in lines.items():
        line = by_id.get(line_id)
        field = ("line", line_id)
        if line is None:
            errors[field] = ["This is not a line of this order."]
        elif not _is_amount(quantity):
            errors[field] = ["Enter a quantity of 0 or more."]
        elif quantity > line.refundable_quantity:
            errors[field] = [f"At most {line.refundable_quantity} can be refunded."]
    if not _is_amount(shipping_amount):
        errors["shipping_amount"] = ["Enter an amount of 0 or more."]
    if not _is_amount(extra_amount):
        errors["extra_amount"] = ["Enter an amount of 0 or more."]
    taken, shipping_taken = _already_refunded(order.id)
    shipping_refundable = max(shipping_paid(order) - shipping_taken, 0)
    if "shipping_amount" not in errors and shipping_amount > shipping_refundable:
        errors["shipping_amount"] = [
            f"At most {format_money(shipping_refundable, order.currency)} of shipping is left "
            "to refund."
        ]
    if errors:
        raise ValidationError("Some amounts cannot be refunded.", errors=errors)

    quoted = []
    for line_id, quantity in sorted(lines.items()):
        if not quantity:
            continue
        line = by_id[line_id]
        paid = line_paid(order, line)
        amount_taken, tax_taken = taken.get(line_id, (0, 0))
        units = line.refunded_quantity + quantity
        amount = min(max(_share(paid, units, line.quantity) - amount_taken, 0), paid - amount_taken)
        tax = min(
            max(_share(line.tax, units, line.quantity) - tax_taken, 0),
            line.tax - tax_taken,
            amount,
        )
        quoted.append(QuoteLine(line.id, line.title, line.sku, quantity, amount, max(tax, 0)))
    ship_whole = shipping_paid(order)
    shipping_tax = _share(
        order.shipping_tax, shipping_taken + shipping_amount, ship_whole
    ) - _share(order.shipping_tax, shipping_taken, ship_whole)
    quote = RefundQuote(
        currency=order.currency,
        lines=tuple(quoted),
        shipping_amount=shipping_amount,
        shipping_tax=max(shipping_tax, 0),
        extra_amount=extra_amount,
        refundable=order.paid_total - order.refunded_total,
        shipping_refundable=shipping_refundable,
        approval_limit=int(current_app.config["REFUND_APPROVAL_LIMIT"]),
        approval_used=refunded_without_approval(order.id),
    )
    if quote.total <= 0:
        raise ValidationError("Choose something to refund.", field="lines")
    return quote


def _require_captured(order: Order) -> Payment | None:
    """The captured payment to refund (None: gift cards or store credit paid it all); an order
    with nothing captured is voided, not refunded."""
    payment = db.session.get(Payment, order.payment_id) if order.payment_id else None
    unpaid_card = payment is None or payment.status not in REFUNDABLE
    if order.paid_total > 0 and unpaid_card and tenders.order_tenders(order.id):
        return None
    if payment is None or order.paid_total <= 0 or payment.status not in REFUNDABLE:
        raise InvalidTransition(
            f"Nothing has been captured for {order.name}, so there is nothing to refund; "
            "cancel the order to release the authorization instead.",
            field="payment_status",
            payment_status=order.payment_status,
        )
    return payment


def paid_outside_shop(order: Order) -> bool:
    """The order's payment was received outside the shop (a draft marked paid): a refund
    to it calls no provider, and the staff member pays the money back themselves."""
    payment = db.session.get(Payment, order.payment_id) if order.payment_id else None
    return payment is not None and payment.is_manual


def quote_refund(
    order: Order,
    *,
    lines: Mapping[int, int],
    shipping_amount: int = 0,
    extra_amount: int = 0,
) -> RefundQuote:
    """What a refund would be (nothing is written). Raises ValidationError keyed by field
    (("line", id), "shipping_amount", "extra_amount", "lines", "amount")."""
    _require_captured(order)
    quote = _price(order, lines, shipping_amount, extra_amount)
    if quote.total > quote.refundable:
        raise ValidationError(
            f"At most {format_money(quote.refundable, order.currency)} can be refunded.",
            field="amount",
            refundable=quote.refundable,
            requested=quote.total,
        )
    return quote


# -- reading ------------------------------------------------------------------------------------


def get_refund(refund_id: int) -> Refund:
    refund = db.session.get(Refund, refund_id, populate_existing=True)
    if refund is None:
        raise NotFound("No such refund.")
    return refund


def refunds_awaiting_approval() -> list[Refund]:
    """The approval queue, oldest first, with orders and lines loaded for the table."""
    return list(
        db.session.scalars(
            select(Refund)
            .where(Refund.status == REFUND_AWAITING_APPROVAL)
            .options(selectinload(Refund.order), selectinload(Refund.lines))
            .order_by(Refund.created_at, Refund.id)
        )
    )


def succeeded_refunds_total(order: Order) -> int:
    """The money that actually went back (the credit notes must add up to this)."""
    return int(
        db.session.scalar(
            select(func.coalesce(func.sum(Refund.amount), 0)).where(
                Refund.order_id == order.id, Refund.status == REFUND_SUCCEEDED
            )
        )
        or 0
    )


def refund_discrepancies(order: Order) -> list[str]:
    """Where the order's refund counters disagree with its refunds and its payment (empty when
    consistent). Live refunds hold their reservation, so in-flight ones are counted too."""
    db.session.refresh(order)
    problems = []
    live = int(
        db.session.scalar(
            select(func.coalesce(func.sum(Refund.amount), 0)).where(
                Refund.order_id == order.id, Refund.status.in_(LIVE)
            )
        )
        or 0
    )
    if live != order.refunded_total:
        problems.append(f"refunded_total {order.refunded_total} != live refunds {live}")
    if order.refunded_total > order.paid_total:
        problems.append(f"refunded_total {order.refunded_total} > paid_total {order.paid_total}")
    payment = db.session.get(Payment, order.payment_id) if order.payment_id else None
    if payment is not None:
        db.session.refresh(payment)
        # What went (or goes) back to gift cards and store credit never touched the card.
        off_card = sum(
            r.amount if r.destination == TO_STORE_CREDIT else r.tender_amount
            for r in db.session.scalars(
                select(Refund).where(Refund.order_id == order.id, Refund.status.in_(LIVE))
            )
        )
        if payment.refunded_amount != order.refunded_total - off_card:
            problems.append(
                f"payment refunded {payment.refunded_amount} != order {order.refunded_total}"
                + (f" less {off_card} to gift cards and store credit" if off_card else "")
            )
    quantities = dict(
        db.session.execute(
            select(RefundLine.order_line_id, func.sum(RefundLine.quantity))
            .join(Refund, Refund.id == RefundLine.refund_id)
            .where(Refund.order_id == order.id, Refund.status.in_(LIVE))
            .group_by(RefundLine.order_line_id)
        ).all()
    )
    for line in order.lines:
        db.session.refresh(line)
        held = int(quantities.get(line.id) or 0)
        if held != line.refunded_quantity:
            problems.append(f"line {line.id}: refunded_quantity {line.refunded_quantity} != {held}")
        if line.refunded_quantity > line.quantity:
            problems.append(f"line {line.id}: refunded more than ordered")
    return problems


# -- helpers ------------------------------------------------------------------------------------


def _require_key(key: Any) -> str:
    key = str(key or "").strip()
    if not key:
        raise ValidationError("An idempotency key is required.", field="idempotency_key")
    if len(key) > MAX_KEY:
        raise ValidationError("The idempotency key is too long.", field="idempotency_key")
    return key


def _refund_by_key(key: str) -> Refund | None:
    return db.session.scalar(
        select(Refund)
        .where(Refund.idempotency_key == key)
        .execution_options(populate_existing=True)
    )


def _replay(first: Refund, order_id: int) -> Refund:
    if first.order_id != order_id:
        raise Conflict(
            "This idempotency key was already used for another order's refund.",
            field="idempotency_key",
            refund_id=first.id,
        )
    return first


def _can_approve(by: Any) -> bool:
    return by is not None and role_allows(getattr(by, "role", ""), APPROVE_PERMISSION)


def refunded_without_approval(order_id: int, *, excluding: int | None = None) -> int:
    """What agents without the approve permission refunded on the order without an approval
    (in flight or done): the running total the approval limit applies to."""
    stmt = (
        select(Refund.amount, StaffMember.role)
        .join(StaffMember, StaffMember.id == Refund.requested_by_id)
        .where(
            Refund.order_id == order_id,
            Refund.status.in_(LIVE),
            Refund.approved_by_id.is_(None),
        )
    )
    if excluding is not None:
        stmt = stmt.where(Refund.id != excluding)
    return sum(
        amount
        for amount, role in db.session.execute(stmt).all()
        if not role_allows(role, APPROVE_PERMISSION)
    )


def _needs_approval(amount: int, by: Any, *, already: int = 0) -> bool:
    """Above the limit (with what was already refunded on the order without approval) a person
    needs the approve permission; the system (by=None) does not."""
    limit = int(current_app.config["REFUND_APPROVAL_LIMIT"])
    return already + amount > limit and by is not None and not _can_approve(by)


def _money(order: Order, amount: int) -> str:
    return format_money(amount, order.currency)


def returnable_quantities(order: Order) -> dict[int, int]:
    """Per order line, the shipped units not yet back and not expected by an open return: what
    a return may ask for and a refund may restock."""
    expected = dict(
        db.session.execute(
            select(ReturnLine.order_line_id, func.sum(ReturnLine.quantity))
            .join(Return, Return.id == ReturnLine.return_id)
            .where(Return.order_id == order.id, Return.status == RETURN_OPEN)
            .group_by(ReturnLine.order_line_id)
        ).all()
    )
    return {
        line.id: max(
            line.fulfilled_quantity - line.returned_quantity - int(expected.get(line.id) or 0), 0
        )
        for line in order.lines
    }


def _restock_plan(
    order: Order, quote: RefundQuote, restock: Mapping[int, int | None] | None
) -> dict[int, int]:
    """order_line_id -> location for the refunded lines to put back on the shelf.

    Only shipped units that came back can be restocked: unshipped ones never left the shelf (they
    are still allocated to the order), so booking them in again would invent stock."""
    chosen = {k: v for k, v in (restock or {}).items() if v is not None}
    if not chosen:
        return {}
    refunded = {line.order_line_id: line.quantity for line in quote.lines}
    restockable = returnable_quantities(order)
    variants = {line.id: line.variant_id for line in order.lines}
    custom = {line.id for line in order.lines if line.is_custom}
    errors: dict[ErrorPath, list[str]] = {}
    for line_id, location_id in chosen.items():
        field = ("restock", line_id)
        if line_id not in refunded:
            errors[field] = ["Only refunded lines can be restocked."]
        elif line_id in custom:
            errors[field] = ["A custom item holds no stock: there is nothing to restock."]
        elif variants.get(line_id) is None:
            errors[field] = ["This product no longer exists; it cannot be restocked."]
        elif refunded[line_id] > restockable.get(line_id, 0):
            left = max(restockable.get(line_id, 0), 0)
            errors[field] = [
                f"Only {left} shipped unit(s) of this line can be restocked; unshipped units are "
                "still on the shelf."
            ]
        else:
            location = db.session.get(Location, location_id)
            if location is None or not location.is_active:
                errors[field] = ["Choose an active location."]
    if errors:
        raise ValidationError("Some lines cannot be restocked.", errors=errors)
    return chosen


def _lock(order_id: int, line_ids: list[int]) -> Order:
    """Row-lock the refunded lines (in id order), then the order, and reload them. FOR NO KEY
    UPDATE, so timeline rows referencing the order can still be written meanwhile. No-op on
    SQLite, whose single writer serialises anyway."""
    if line_ids:
        db.session.execute(
            select(OrderLine.id)
            .where(OrderLine.id.in_(sorted(set(line_ids))))
            .order_by(OrderLine.id)
            .with_for_update(key_share=True)
        ).all()
    order = db.session.scalar(
        select(Order)
        .where(Order.id == order_id)
        .with_for_update(key_share=True)
        .execution_options(populate_existing=True)
    )
    if order is None:
        raise NotFound("No such order.")
    db.session.scalars(
        select(OrderLine)
        .where(OrderLine.order_id == order_id)
        .execution_options(populate_existing=True)
    ).all()
    return order


def _step(table: Any, row_id: int, column: Any, delta: int, *, ceiling: Any = None) -> bool:
    """One conditional UPDATE of a counter: up to `ceiling`, or down to zero."""
    stmt = update(table).where(table.id == row_id)
    if delta > 0 and ceiling is not None:
        stmt = stmt.where(column + delta <= ceiling)
    if delta < 0:
        stmt = stmt.where(column >= -delta)
    result = db.session.execute(
        stmt.values({column.key: column + delta}).execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def _reserve(order: Order, refund: Refund) -> None:
    """Step 1's guard: take the refund's units and money by conditional UPDATEs. A row that does
    not match raises, and the caller's transaction rolls everything back."""
    for line in sorted(refund.lines, key=lambda rl: rl.order_line_id):
        if not _step(
            OrderLine,
            line.order_line_id,
            OrderLine.refunded_quantity,
            line.quantity,
            ceiling=OrderLine.quantity,
        ):
            raise ValidationError(
                "These units were refunded meanwhile.", field=("line", line.order_line_id)
            )
        if line.restock and not _step(
            OrderLine,
            line.order_line_id,
            OrderLine.returned_quantity,
            line.quantity,
            ceiling=OrderLine.fulfilled_quantity,
        ):
            raise ValidationError(
                "These units came back meanwhile.", field=("restock", line.order_line_id)
            )
    if not _step(Order, order.id, Order.refunded_total, refund.amount, ceiling=Order.paid_total):
        db.session.refresh(order)
        refundable = order.paid_total - order.refunded_total
        raise RefundExceedsCapture(
            f"At most {_money(order, refundable)} can be refunded.",
            field="amount",
            refundable=refundable,
            requested=refund.amount,
        )
    if refund.destination == TO_ORIGINAL:  # the gift cards' and credit's part, first
        refund.tender_plan = tenders.reserve_tender_refund(order.id, refund.amount)


def _give_back(refund: Refund) -> None:
    """Undo step 1's reservation (a failed provider call): the same counters, back down."""
    for line in sorted(refund.lines, key=lambda rl: rl.order_line_id):
        _step(OrderLine, line.order_line_id, OrderLine.refunded_quantity, -line.quantity)
        if line.restock:
            _step(OrderLine, line.order_line_id, OrderLine.returned_quantity, -line.quantity)
    _step(Order, refund.order_id, Order.refunded_total, -refund.amount)
    tenders.give_back_tender_refund(refund.tender_plan or [])
    refund.tender_plan = []


def _apply_quote(refund: Refund, quote: RefundQuote) -> None:
    """Set the refund's amounts from a quote computed under the locks."""
    amounts = {line.order_line_id: line for line in quote.lines}
    for line in refund.lines:
        quoted = amounts[line.order_line_id]
        line.amount, line.tax = quoted.amount, quoted.tax
    refund.amount = quote.total
    refund.tax_amount = quote.tax_amount


def _snapshot(refund: Refund) -> dict[str, Any]:
    return {
        "refund": refund.id,
        "status": refund.status,
        "amount": refund.amount,
        "shipping_amount": refund.shipping_amount,
        "extra_amount": refund.extra_amount,
        "lines": {str(line.order_line_id): line.quantity for line in refund.lines},
        "restock": {
            str(line.order_line_id): line.location_id for line in refund.lines if line.restock
        },
        "attempts": refund.attempts,
        "destination": refund.destination,
    }


def update_returned_status(order: Order, *, by: Any, message: str) -> None:
    """Move the fulfillment status once units came back: returned when everything shipped
    came back from a fully shipped order, partially returned otherwise (inside the caller's
    transaction; a move the state machine does not declare is noted, never forced)."""
    lines = list(order.lines)
    if not any(line.returned_quantity for line in lines):
        return
    everything = order.fulfillment_status in (FULFILLED, PARTIALLY_RETURNED) and all(
        line.returned_quantity >= line.fulfilled_quantity for line in lines
    )
    new = RETURNED if everything else PARTIALLY_RETURNED
    if order.fulfillment_status == new:
        return
    if can_transition("fulfillment_status", order.fulfillment_status, new):
        transition(order, "fulfillment_status", new, message, by=by)
    else:
        record_event(
            order,
            "fulfillment_status.unchanged",
            f"Units came back, but a {order.fulfillment_status.replace('_', ' ')} order cannot "
            f"become {new.replace('_', ' ')}.",
            by=by,
        )


# -- issuing ------------------------------------------------------------------------------------


def _because(reason: str) -> str:
    """ ": <reason>" for a timeline message, or nothing when no reason was given."""
    return f": {reason}" if reason else ""


@workflow
def issue_refund(
    order: Order,
    *,
    lines: Mapping[int, int],
    shipping_amount: int = 0,
    extra_amount: int = 0,
    reason: str = "",
    restock: Mapping[int, int | None] | None = None,
    idempotency_key: str,
    by: Any,
    order_return: Return | None = None,
    destination: str = TO_ORIGINAL,
) -> Refund:
    """Give money back for lines (order_line_id -> quantity), shipping and/or a free amount.

    Returns the Refund: succeeded, failed (the provider said no; nothing stays reserved, see
    `retry_refund`), or awaiting_approval (when what was refunded on the order without approval
    plus this refund is above REFUND_APPROVAL_LIMIT, for someone without the approve
    permission; decided under the order's lock; nothing reserved yet). `restock` maps
    order_line_id to the location the refunded units go back to (shipped units only). A
    repeated idempotency key returns the first refund without a second effect. Raises
    ValidationError for the inputs, RefundExceedsCapture when the money does not fit (even if
    another agent took it a moment ago), InvalidTransition for an order with nothing captured.
    Call it outside any transaction.

    `destination`: TO_ORIGINAL gives the money back the way it was paid (the order's gift
    cards and store credit first, the rest to the card); TO_STORE_CREDIT books all of it as
    the customer's store credit (same approval limit, audited), no provider call.
    """
    key = _require_key(idempotency_key)
    if destination not in (TO_ORIGINAL, TO_STORE_CREDIT):
        raise ValidationError("Choose where the money goes.", field="destination")
    if destination == TO_STORE_CREDIT and order.customer_id is None:
        raise ValidationError(
            "A guest's order cannot be refunded to store credit: there is no account to hold it.",
            field="destination",
        )
    order_id = order.id
    first = _refund_by_key(key)
    if first is not None:
        return _replay(first, order_id)
    reason = str(reason or "").strip()  # optional: most refunds explain themselves by lines
    payment = _require_captured(order)
    lines = dict(lines or {})
    quote = _price(order, lines, shipping_amount, extra_amount)  # validation, before any lock
    plan = _restock_plan(order, quote, restock)
    if quote.total > quote.refundable:
        raise RefundExceedsCapture(
            f"At most {_money(order, quote.refundable)} can be refunded.",
            field="amount",
            refundable=quote.refundable,
            requested=quote.total,
        )
    try:
        with transaction():
            # Lock even when the refund may queue: whether it waits depends on what was refunded
            # without approval so far, read under the order's lock so two agents at once cannot
            # both pass under the limit.
            order = _lock(order_id, [line.order_line_id for line in quote.lines])
            # Look again under the lock: a duplicate that committed meanwhile is returned
            # here rather than found by the unique index, whose check would wait for that
            # refund's step 3 while holding the order lock step 3 needs (a deadlock).
            first = _refund_by_key(key)
            if first is not None:
                return _replay(first, order_id)
            quote = _price(order, lines, shipping_amount, extra_amount)
            waits = _needs_approval(quote.total, by, already=quote.approval_used)
            if not waits:
                plan = _restock_plan(order, quote, plan)
            refund = Refund(
                order_id=order_id,
                payment_id=payment.id if payment is not None else None,
                return_id=order_return.id if order_return is not None else None,
                destination=destination,
                tender_plan=[],
                amount=quote.total,
                currency=order.currency,
                shipping_amount=quote.shipping_amount,
                extra_amount=quote.extra_amount,
                tax_amount=quote.tax_amount,
                reason=reason,
                status=REFUND_AWAITING_APPROVAL if waits else REFUND_PROCESSING,
                idempotency_key=key,
                attempts=0 if waits else 1,
                requested_by_id=getattr(by, "id", None),
                created_at=utcnow(),
            )
            for quoted in quote.lines:
                refund.lines.append(
                    RefundLine(
                        order_line_id=quoted.order_line_id,
                        quantity=quoted.quantity,
                        amount=quoted.amount,
                        tax=quoted.tax,
                        restock=quoted.order_line_id in plan,
                        location_id=plan.get(quoted.order_line_id),
                    )
                )
            db.session.add(refund)
            db.session.flush()  # a duplicate key fails here
            if waits:
                record_event(
                    order,
                    "refund.awaiting_approval",
                    f"Refund of {_money(order, refund.amount)} waits for approval"
                    + _because(reason),
                    by=by,
                    refund_id=refund.id,
                )
            else:
                _reserve(order, refund)
                record_event(
                    order,
                    "refund.processing",
                    f"Refunding {_money(order, refund.amount)}{_because(reason)}",
                    by=by,
                    refund_id=refund.id,
                )
            audit.record(
                by,
                "order.refund_issue",
                order,
                before={"refunded_total": order.refunded_total},
                after=_snapshot(refund),
            )
            refund_id = refund.id
    except IntegrityError:
        first = _refund_by_key(key)
        if first is None:
            raise
        return _replay(first, order_id)
    if waits:
        return get_refund(refund_id)
    return _settle(refund_id, by=by)


def _settle(refund_id: int, *, by: Any) -> Refund:
    """Steps 2 and 3 for a processing refund: ask the provider, then record its answer."""
    refund = get_refund(refund_id)
    attempts = refund.attempts
    to_card = 0 if refund.destination == TO_STORE_CREDIT else refund.amount - refund.tender_amount
    if to_card <= 0:  # all of it to store credit or gift cards: booked in step 3
        return _succeed(refund_id, attempts, None, by=by)
    payment = db.session.get(Payment, refund.payment_id) if refund.payment_id else None
    if payment is None:
        return _fail(refund_id, attempts, "The payment record no longer exists.", by=by)
    try:
        tx = refund_payment(
            payment,
            amount=to_card,
            idempotency_key=f"refund:{refund.id}:{attempts}",
            by=by,
        )
    except Conflict:
        raise  # the same attempt is in flight elsewhere: it will record the answer
    except CommerceError as exc:  # PaymentFailed, or the payment refused (not refundable ...)
        return _fail(refund_id, attempts, exc.message, by=by)
    return _succeed(refund_id, attempts, tx.provider_reference, by=by)


def _claim(refund_id: int, source: str, *, attempt: int | None = None, **values: Any) -> bool:
    """Move a refund on from status `source` (and attempt) exactly once: the row count decides."""
    stmt = update(Refund).where(Refund.id == refund_id, Refund.status == source)
    if attempt is not None:
        stmt = stmt.where(Refund.attempts == attempt)
    return (
        db.session.execute(
            stmt.values(**values).execution_options(synchronize_session=False)
        ).rowcount
        == 1
    )


def _succeed(refund_id: int, attempts: int, reference: str | None, *, by: Any) -> Refund:
    """Step 3 after the provider said yes. Nothing here may refuse: the money has gone, so a
    restock that cannot be booked is noted on the timeline instead of undoing the refund."""
    with transaction():
        if not _claim(
            refund_id,
            REFUND_PROCESSING,
            attempt=attempts,
            status=REFUND_SUCCEEDED,
            provider_reference=reference,
            error_message="",
            completed_at=utcnow(),
        ):
            return get_refund(refund_id)  # another worker recorded this attempt's answer
        refund = get_refund(refund_id)
        order = db.session.get(Order, refund.order_id, populate_existing=True)
        assert order is not None
        _credit_balances(order, refund, by=by)
        _deactivate_refunded_gift_cards(order, refund, by=by)
        # Stock rows before the order row, as fulfillment does, so the two never deadlock.
        for line in refund.lines:
            if not line.restock or line.location_id is None:
                continue
            variant_id = line.order_line.variant_id
            sold_as = line.order_line.components  # a bundle comes back as its components
            try:
                with db.session.begin_nested():
                    if variant_id is None:
                        raise ValidationError("The product no longer exists.")
                    for units_of, units in (
                        component_units(sold_as, line.quantity)
                        if sold_as
                        else [(variant_id, line.quantity)]
                    ):
                        restock_units(
                            units_of,
                            location_id=line.location_id,
                            quantity=units,
                            by=by,
                            reference=order.reference,
                            note=f"refund {refund.id}",
                        )
            except CommerceError as exc:
                record_event(
                    order,
                    "refund.restock_failed",
                    f"{line.order_line.title}: {exc.message} Book the units by hand.",
                    by=by,
                    refund_id=refund.id,
                )
        for line in order.lines:
            db.session.refresh(line)
        released = _release_unshipped(order, refund, by=by)
        if any(line.restock for line in refund.lines):
            update_returned_status(
                order, by=by, message=f"Refund {refund.id}: units came back and were restocked."
            )
        succeeded = int(
            db.session.scalar(
                select(func.coalesce(func.sum(Refund.amount), 0)).where(
                    Refund.order_id == order.id, Refund.status == REFUND_SUCCEEDED
                )
            )
            or 0
        )
        new = REFUNDED if succeeded >= order.paid_total else PARTIALLY_REFUNDED
        message = f"Refunded {_money(order, refund.amount)}{_because(refund.reason)}"
        if paid_outside_shop(order) and refund.destination == TO_ORIGINAL:
            back = refund.amount - refund.tender_amount
            message += (
                f"; {_money(order, back)} refunded outside the shop: paid back by staff, "
                "not through a payment provider"
            )
        if order.payment_status != new and can_transition(
            "payment_status", order.payment_status, new
        ):
            transition(order, "payment_status", new, message, by=by)
        record_event(order, "refund.succeeded", message, by=by, refund_id=refund.id)
        audit.record(
            by,
            "order.refund_succeeded",
            order,
            before={"status": REFUND_PROCESSING},
            after={**_snapshot(refund), "provider_reference": refund.provider_reference},
        )
        outbox.enqueue(REFUND_SUCCEEDED_TOPIC, {"refund_id": refund.id})
    if released:
        complete_if_done(db.session.get(Order, refund.order_id), by=by)
    return refund


def _credit_balances(order: Order, refund: Refund, *, by: Any) -> None:
    """Step 3's part for gift cards and store credit: booked in their ledgers, once."""
    if refund.destination == TO_STORE_CREDIT and order.customer_id is not None:
        tenders.refund_to_store_credit(
            order.customer_id,
            refund.amount,
            refund_id=refund.id,
            order_id=order.id,
            reason=refund.reason,
            by=by,
        )
        record_event(
            order,
            "refund.store_credit",
            f"{_money(order, refund.amount)} refunded as store credit.",
            by=by,
            refund_id=refund.id,
        )
    elif refund.tender_plan:
        tenders.credit_tender_refund(
            refund.tender_plan, refund_id=refund.id, order_id=order.id, by=by
        )
        record_event(
            order,
            "refund.gift_cards",
            f"{_money(order, refund.tender_amount)} back to the gift cards or store credit "
            "that paid for the order.",
            by=by,
            refund_id=refund.id,
        )


def _deactivate_refunded_gift_cards(order: Order, refund: Refund, *, by: Any) -> None:
    """Refunded gift card units stop working (their money came back); a card already spent
    in part is said on the timeline, for support to settle with the customer."""
    if not order.has_gift_cards:
        return
    for line in refund.lines:
        if not line.order_line.is_gift_card:
            continue
        cards = deactivate_refunded_cards(line.order_line_id, line.quantity, by=by)
        if not cards:
            continue
        spent = [c for c in cards if c.balance < c.initial_amount]
        message = "Refunded gift cards deactivated: " + ", ".join(c.masked_code for c in cards)
        if spent:
            message += (
                f". Already spent in part: {', '.join(c.masked_code for c in spent)}"
                " (the refund gave back more than was left on them)"
            )
        record_event(order, "gift_cards.deactivated", message + ".", by=by, refund_id=refund.id)


def _release_unshipped(order: Order, refund: Refund, *, by: Any) -> int:
    """Refunded units are taken from those not yet shipped first: they will not ship, so their
    allocations go back to available stock. Restocked units and a return's units came back
    from the customer (they were shipped), and a closed order has nothing left to ship."""
    if order.status != OPEN or refund.return_id is not None:
        return 0
    released = 0
    for line in refund.lines:
        if line.restock:
            continue
        units = release_unshipped(order, line.order_line_id, line.quantity, by=by)
        if units:
            record_event(
                order,
                "refund.released",
                f"{line.order_line.title}: {units} unshipped unit(s) refunded; they will not "
                "ship and are back in stock.",
                by=by,
                refund_id=refund.id,
            )
        released += units
    return released


@service
def _fail(refund_id: int, attempts: int, message: str, *, by: Any) -> Refund:
    """Step 3 after the provider said no: every reservation goes back, the refund says why."""
    refund = get_refund(refund_id)
    order_id = refund.order_id
    line_ids = [line.order_line_id for line in refund.lines]
    order = _lock(order_id, line_ids)
    if not _claim(
        refund_id,
        REFUND_PROCESSING,
        attempt=attempts,
        status=REFUND_FAILED,
        error_message=message,
        completed_at=utcnow(),
    ):
        return get_refund(refund_id)
    refund = get_refund(refund_id)
    _give_back(refund)
    db.session.refresh(order)
    record_event(
        order,
        "refund.failed",
        f"Refund of {_money(order, refund.amount)} failed: {message}",
        by=by,
        refund_id=refund.id,
    )
    audit.record(
        by,
        "order.refund_failed",
        order,
        before={"status": REFUND_PROCESSING},
        after={**_snapshot(refund), "error": message},
    )
    return refund


# -- approval and retry -------------------------------------------------------------------------


def _require_approver(by: Any) -> None:
    if not _can_approve(by):
        raise PermissionDenied(
            "Only someone allowed to approve refunds can do this.", permission=APPROVE_PERMISSION
        )


@service
def _rerun(refund: Refund, *, source: str, by: Any, action: str, **values: Any) -> int:
    """Step 1 again for an existing refund (approval, retry): price it afresh under the locks,
    claim it from `source` and reserve. Returns its id; raises as issue_refund's step 1 does."""
    refund_id = refund.id
    with transaction():
        current = get_refund(refund_id)
        order = _lock(current.order_id, [line.order_line_id for line in current.lines])
        current = get_refund(refund_id)
        if current.status != source:
            raise InvalidTransition(
                f"This refund is {current.status.replace('_', ' ')}.",
                field="status",
                status=current.status,
            )
        _require_captured(order)
        lines = {line.order_line_id: line.quantity for line in current.lines}
        quote = _price(order, lines, current.shipping_amount, current.extra_amount)
        plan = {line.order_line_id: line.location_id for line in current.lines if line.restock}
        _restock_plan(order, quote, plan)
        if (
            source == REFUND_FAILED
            and current.approved_by_id is None
            and _needs_approval(
                quote.total, by, already=refunded_without_approval(order.id, excluding=refund_id)
            )
        ):
            raise PermissionDenied(
                "Retrying this refund would take what was refunded on this order without "
                f"approval above {_money(order, int(current_app.config['REFUND_APPROVAL_LIMIT']))}"
                ": ask someone allowed to approve refunds to retry it.",
                permission=APPROVE_PERMISSION,
            )
        before = _snapshot(current)
        if not _claim(
            refund_id,
            source,
            attempt=current.attempts,
            status=REFUND_PROCESSING,
            attempts=current.attempts + 1,
            **values,
        ):
            raise Conflict("Someone else is handling this refund right now.", field="status")
        current = get_refund(refund_id)
        _apply_quote(current, quote)
        db.session.flush()
        _reserve(order, current)
        verb = "approved" if action == "order.refund_approve" else "retried"
        record_event(
            order,
            f"refund.{verb}",
            f"Refund of {_money(order, current.amount)} {verb}.",
            by=by,
            refund_id=refund_id,
        )
    audit.record(by, action, order, before=before, after=_snapshot(current))
    return refund_id


@workflow
def approve_refund(refund: Refund, *, by: Any) -> Refund:
    """An approver lets a queued refund go ahead: steps 1-3 run now. Raises PermissionDenied
    without "orders.refund_approve", InvalidTransition when it is not awaiting approval, and
    RefundExceedsCapture when the money was refunded otherwise meanwhile (it stays queued)."""
    _require_approver(by)
    refund_id = _rerun(
        refund,
        source=REFUND_AWAITING_APPROVAL,
        by=by,
        action="order.refund_approve",
        approved_by_id=getattr(by, "id", None),
        approved_at=utcnow(),
    )
    return _settle(refund_id, by=by)


@service
def reject_refund(refund: Refund, *, by: Any, reason: str) -> Refund:
    """An approver turns a queued refund down; nothing was reserved, so nothing moves."""
    _require_approver(by)
    reason = str(reason or "").strip()
    if not reason:
        raise ValidationError("Say why the refund is rejected.", field="reason")
    refund_id = refund.id
    if not _claim(
        refund_id,
        REFUND_AWAITING_APPROVAL,
        status=REFUND_REJECTED,
        error_message=f"Rejected: {reason}",
        completed_at=utcnow(),
    ):
        current = get_refund(refund_id)
        raise InvalidTransition(
            f"This refund is {current.status.replace('_', ' ')}; only a refund awaiting "
            "approval can be rejected.",
            field="status",
            status=current.status,
        )
    refund = get_refund(refund_id)
    order = db.session.get(Order, refund.order_id)
    assert order is not None
    record_event(
        order,
        "refund.rejected",
        f"Refund of {_money(order, refund.amount)} rejected: {reason}",
        by=by,
        refund_id=refund_id,
    )
    audit.record(
        by,
        "order.refund_reject",
        order,
        before={"refund": refund_id, "status": REFUND_AWAITING_APPROVAL},
        after={"refund": refund_id, "status": REFUND_REJECTED, "reason": reason},
    )
    return refund


@workflow
def retry_refund(refund: Refund, *, by: Any) -> Refund:
    """Ask the provider again for a failed refund: a new attempt (so a fresh payment key,
    `refund:<id>:<attempt>`) with the amounts reserved afresh. A refund that already succeeded
    is returned as is."""
    current = get_refund(refund.id)
    if current.status == REFUND_SUCCEEDED:
        return current
    refund_id = _rerun(current, source=REFUND_FAILED, by=by, action="order.refund_retry")
    return _settle(refund_id, by=by)


# -- recovery -----------------------------------------------------------------------------------


@workflow
def settle_stuck_refund(refund: Refund, *, now: Any = None, by: Any = None) -> bool:
    """Finish a refund left processing by a process that stopped (step 2 or 3 never ran, or
    its answer was lost), the provider being the source of truth: the attempt's payment call
    is looked up (and sent again with the same provider key if the provider never got it),
    then step 3 records the answer. Returns False while the answer may still come."""
    current = get_refund(refund.id)
    if current.status != REFUND_PROCESSING:
        return True
    refund_id, attempts = current.id, current.attempts
    key = f"refund:{refund_id}:{attempts}"
    call = db.session.scalar(
        select(PaymentTransaction)
        .where(PaymentTransaction.request_key == key, PaymentTransaction.kind == REFUND_CALL)
        .order_by(PaymentTransaction.id.desc())
        .limit(1)
    )
    if call is None:  # the provider was never asked: ask now, with the attempt's own key
        try:
            _settle(refund_id, by=by)
        except Conflict:
            return False
        return True
    if call.status == TX_PENDING and settle_transaction(call.id, now=now, by=by) == IN_FLIGHT:
        return False
    call = db.session.get(PaymentTransaction, call.id, populate_existing=True)
    assert call is not None
    if call.status == TX_SUCCEEDED:
        _succeed(refund_id, attempts, call.provider_reference, by=by)
    else:
        _fail(refund_id, attempts, call.message or "The provider refused the refund.", by=by)
    return True

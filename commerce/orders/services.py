"""Order services: create the snapshot at placement, move statuses, find orders.

Statuses change only through `_transition`, which checks the declared transitions and writes
the timeline entry in the same transaction. The fulfillment and refund verbs (issue 5) build
on the same table and timeline.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import asdict
from typing import Any

from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import case, func, select, update
from sqlalchemy.orm import selectinload
from sqlalchemy.orm.attributes import set_committed_value

from commerce import audit, outbox
from commerce.catalog.bundles import bundle_unit_cost
from commerce.catalog.bundles import snapshot as bundle_snapshot
from commerce.db import service, transaction, utcnow, workflow
from commerce.errors import CommerceError, InvalidTransition, NotFound, ValidationError
from commerce.extensions import db
from commerce.giftcards.services import issue_for_order_line
from commerce.money import format_money
from commerce.orders.models import (
    AUTHORIZED,
    CANCELLED,
    COMPLETED,
    FULFILLED,
    OPEN,
    ORDER_NUMBER_OFFSET,
    PAID,
    PARTIALLY_FULFILLED,
    PARTIALLY_PAID,
    PARTIALLY_REFUNDED,
    PARTIALLY_RETURNED,
    PENDING,
    REFUNDED,
    RETURNED,
    UNFULFILLED,
    VOIDED,
    WEB,
    Order,
    OrderEvent,
    OrderLine,
)
from commerce.payments.models import AUTHORIZED as PAYMENT_AUTHORIZED
from commerce.payments.models import CAPTURED as PAYMENT_CAPTURED
from commerce.payments.models import PARTIALLY_REFUNDED as PAYMENT_PARTIALLY_REFUNDED
from commerce.payments.models import REFUNDED as PAYMENT_REFUNDED
from commerce.payments.models import Payment
from commerce.payments.services import capture_payment
from commerce.pricing import PricedCart

log = logging.getLogger(__name__)

ORDER_PLACED = "order.placed"  # outbox topic: the confirmation email listens
PAYMENT_CAPTURED_STATES = (PAYMENT_CAPTURED, PAYMENT_PARTIALLY_REFUNDED, PAYMENT_REFUNDED)

# The declared transitions of each status; anything else is InvalidTransition. Staying in the
# same status is not a transition (a second partial refund leaves "partially_refunded").
TRANSITIONS: dict[str, dict[str, tuple[str, ...]]] = {
    "status": {
        OPEN: (COMPLETED, CANCELLED),
        COMPLETED: (OPEN,),  # reopened (a return or an edit after completion)
        CANCELLED: (),
    },
    "payment_status": {
        PENDING: (AUTHORIZED, PAID, VOIDED),
        AUTHORIZED: (PARTIALLY_PAID, PAID, VOIDED),
        PARTIALLY_PAID: (PAID, PARTIALLY_REFUNDED, REFUNDED),
        PAID: (PARTIALLY_PAID, PARTIALLY_REFUNDED, REFUNDED),  # PARTIALLY_PAID: total raised
        PARTIALLY_REFUNDED: (PAID, REFUNDED),  # PAID: an edit lowered the total to what is kept
        REFUNDED: (),
        VOIDED: (),
    },
    "fulfillment_status": {
        UNFULFILLED: (PARTIALLY_FULFILLED, FULFILLED),
        PARTIALLY_FULFILLED: (FULFILLED, PARTIALLY_RETURNED),
        FULFILLED: (PARTIALLY_RETURNED, RETURNED),
        PARTIALLY_RETURNED: (RETURNED,),
        RETURNED: (),
    },
}
STATUS_LABELS = {
    "status": "status",
    "payment_status": "payment status",
    "fulfillment_status": "fulfillment status",
}
_STATUS_SALT = "order-status"


def _actor_fields(by: Any) -> dict[str, Any]:
    if by is None:
        return {"actor_id": None, "actor_label": "system"}
    return {"actor_id": getattr(by, "id", None), "actor_label": getattr(by, "email", str(by))}


def record_event(
    order: Order, kind: str, message: str, *, by: Any = None, **data: Any
) -> OrderEvent:
    """Add an entry to the order's timeline (inside the caller's transaction)."""
    event = OrderEvent(
        order=order, kind=kind, message=message, data=data, created_at=utcnow(), **_actor_fields(by)
    )
    db.session.add(event)
    return event


def can_transition(attribute: str, old: str, new: str) -> bool:
    return new in TRANSITIONS[attribute].get(old, ())


def transition(order: Order, attribute: str, new: str, message: str, *, by: Any = None) -> bool:
    """Move one of the order's statuses along a declared transition, with its timeline entry
    (inside the caller's transaction). Returns False when it is already there."""
    old = getattr(order, attribute)
    if new == old:
        return False
    if not can_transition(attribute, old, new):
        raise InvalidTransition(
            f"An order whose {STATUS_LABELS[attribute]} is {old.replace('_', ' ')} cannot become "
            f"{new.replace('_', ' ')}.",
            field=attribute,
            before=old,
            after=new,
        )
    setattr(order, attribute, new)
    record_event(order, f"{attribute}.{new}", message, by=by, before=old, after=new)
    return True


# -- placement ----------------------------------------------------------------------------------


def _unit_cost(line: Any, made_of: dict[int, list[dict[str, Any]]]) -> int | None:
    """What one unit of a priced line cost the shop: a bundle's components, a variant's
    average cost; None for custom items, gift cards and anything not costed."""
    if line.is_custom or line.gift_card:
        return None
    components = made_of.get(line.variant_id)
    if components:
        return bundle_unit_cost(components)
    return line.unit_cost


@service
def create_order(
    *,
    checkout_key: str,
    email: str,
    customer_id: int | None,
    shipping_address: dict[str, Any],
    priced: PricedCart,
    payment: Payment | None,
    tendered: int = 0,
) -> Order:
    """Write the order snapshot from a completely priced cart (inside the caller's transaction,
    so the stock allocation and the checkout's completion commit with it). `tendered`: what
    gift cards and store credit paid (taken already): it counts as paid from the start."""
    if not priced.is_complete:
        raise ValidationError("The cart is not ready to order.", field="checkout")
    shipping = priced.shipping  # None when nothing ships (gift cards alone): no method, no address
    if shipping is None:
        shipping_address = {}
    order = Order(
        checkout_key=checkout_key,
        customer_id=customer_id,
        email=email,
        currency=priced.currency,
        prices_include_tax=priced.prices_include_tax,
        subtotal=priced.totals.subtotal,
        discount_total=priced.totals.discounts,
        shipping_total=priced.totals.shipping,
        tax_total=priced.totals.tax,
        total=priced.totals.total,
        shipping_address=dict(shipping_address),
        shipping_method_code=shipping.code if shipping is not None else "",
        shipping_method_name=shipping.name if shipping is not None else "",
        shipping_tax=shipping.tax if shipping is not None else 0,
        tax_name=priced.tax_name or "",
        tax_rate_bps=priced.tax_rate_bps or 0,
        adjustments=priced.recorded_adjustments(),
        status=OPEN,
        customer_name=str(shipping_address.get("name") or "")[:120],
        channel=WEB,
        payment_status=PAID if payment is None else AUTHORIZED,
        payment_id=payment.id if payment is not None else None,
        paid_total=tendered,
        has_gift_cards=any(line.gift_card for line in priced.lines),
        placed_at=utcnow(),
    )
    made_of = bundle_snapshot(  # pricing marked bundles (not the free gifts it added)
        line.variant_id for line in priced.lines if line.bundle or line.gift_quantity
    )
    for line in priced.lines:
        # A custom line that does not ship (a service, a fee) never waits for a parcel: the
        # order is fulfilled once what ships has shipped (commerce.orders.fulfillment). Its
        # fulfilled_quantity stays 0: nothing shipped, so nothing of it can come back.
        order.lines.append(
            OrderLine(
                components=[] if line.is_custom else made_of.get(line.variant_id, []),
                variant_id=line.variant_id,
                product_id=line.product_id,
                title=line.title,
                sku="" if line.is_custom else line.sku,
                quantity=line.quantity,
                unit_price=line.unit_price,
                compare_at_price=line.compare_at_price,
                amount=line.amount,
                discount=line.discount,
                tax=line.tax,
                tax_rate_bps=line.tax_rate_bps or 0,
                weight_grams=line.weight_grams,
                adjustments=[asdict(a) for a in line.adjustments],
                is_gift_card=line.gift_card,
                is_custom=line.is_custom,
                requires_shipping=line.requires_shipping,
                taxable=line.taxable,
                unit_cost=_unit_cost(line, made_of),
            )
        )
    if all(line.is_custom and not line.requires_shipping for line in priced.lines):
        order.fulfillment_status = FULFILLED  # nothing to ship at all
    db.session.add(order)
    db.session.flush()
    order.number = order.id + ORDER_NUMBER_OFFSET
    paid_by = (
        f"{payment.card_brand} ending {payment.card_last4}".strip()
        if payment is not None
        else ("gift cards or store credit" if tendered else "nothing to pay")
    )
    if tendered and payment is not None:
        paid_by += f", and {format_money(tendered, order.currency)} by gift cards or store credit"
    record_event(order, "placed", f"Order placed by {email}; payment: {paid_by}.")
    if order.fulfillment_status == FULFILLED:
        record_event(order, "fulfillment.none", "Nothing to ship: every item is delivered as is.")
    outbox.enqueue(ORDER_PLACED, {"order_id": order.id})
    if order.has_gift_cards and order.payment_status == PAID:
        issue_bought_gift_cards(order)
    return order


@workflow
def capture_order_payment(order: Order, *, by: Any = None) -> Order:
    """Take the authorized money (at placement or at fulfillment, by the shop's setting).
    A failed capture leaves the order authorized with a timeline entry saying why; a capture
    whose answer is still awaited (the provider did not answer) is settled by the recovery
    task, and one already in flight elsewhere is left to it."""
    try:
        return _capture(order, by=by)
    except CommerceError as exc:
        if exc.details.get("in_flight") and exc.field == "idempotency_key":
            return db.session.get(Order, order.id) or order  # another process is capturing
        log.warning("capture for %s failed: %s", order.name, exc.message)
        with transaction():
            order = db.session.get(Order, order.id)
            record_event(order, "payment.capture_failed", exc.message, by=by)
        return order


@workflow
def capture_payment_by_hand(order: Order, *, by: Any) -> Order:
    """A person captures an order's authorized payment (the automatic capture failed, or the
    shop captures by hand): the same capture, with the same key, so a repeat or a race with
    the automatic one takes the money once. Raises the provider's refusal
    (PaymentFailed, AuthorizationExpired) or InvalidTransition when there is nothing to
    capture; audited."""
    if order.status == CANCELLED:
        raise InvalidTransition("A cancelled order is not captured.", field="payment_status")
    payment = db.session.get(Payment, order.payment_id) if order.payment_id else None
    if order.payment_status != AUTHORIZED or payment is None:
        raise InvalidTransition(
            f"This order's payment is {order.payment_status.replace('_', ' ')}: nothing to "
            "capture.",
            field="payment_status",
        )
    before = {"payment_status": order.payment_status, "paid_total": order.paid_total}
    order = _capture(order, by=by)
    if order.payment_status == AUTHORIZED:
        raise InvalidTransition(
            "The payment is not captured yet: its answer is still awaited.",
            field="payment_status",
        )
    with transaction():
        order = db.session.get(Order, order.id)
        audit.record(
            by,
            "order.capture",
            order,
            before=before,
            after={"payment_status": order.payment_status, "paid_total": order.paid_total},
        )
    return order


def _capture(order: Order, *, by: Any) -> Order:
    if order.payment_status != AUTHORIZED or order.payment_id is None:
        return order
    payment = db.session.get(Payment, order.payment_id, populate_existing=True)
    if payment is None:
        return order
    if payment.status == PAYMENT_AUTHORIZED:
        # An edit may have lowered the total below what was authorized (capture less) or
        # raised it above (capture all that is authorized; the rest stays due).
        amount = min(order.total - order.paid_total, payment.authorized_amount)
        capture_payment(payment, amount=amount, idempotency_key=capture_key(order), by=by)
    return record_capture(order, by=by)


def capture_key(order: Order) -> str:
    return f"{order.reference}:capture"


@service
def record_capture(order: Order, *, by: Any = None) -> Order:
    """Paid status follows captures: an order still shown authorized whose payment was
    captured (now, or before a crash lost the order's side of it) becomes (partially) paid,
    exactly once however many callers get here (the status in the WHERE decides)."""
    order_id = order.id
    payment = (
        db.session.get(Payment, order.payment_id, populate_existing=True)
        if order.payment_id
        else None
    )
    if payment is None or payment.status not in PAYMENT_CAPTURED_STATES:
        return db.session.get(Order, order_id) or order
    taken = payment.captured_amount
    moved = db.session.execute(
        update(Order)
        .where(Order.id == order_id, Order.payment_status == AUTHORIZED)
        .values(
            paid_total=Order.paid_total + taken,
            payment_status=case(
                (Order.total > Order.paid_total + taken, PARTIALLY_PAID), else_=PAID
            ),
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    order = db.session.get(Order, order_id)
    db.session.refresh(order)
    if moved:
        record_event(
            order,
            f"payment_status.{order.payment_status}",
            f"Payment captured: {format_money(taken, order.currency)}.",
            by=by,
            before=AUTHORIZED,
            after=order.payment_status,
        )
        if order.has_gift_cards and order.payment_status == PAID:
            issue_bought_gift_cards(order)
    return order


def record_paid(order: Order, *, taken: int, by: Any = None) -> bool:
    """The order's authorized payment was captured (`taken` minor units) in the caller's
    transaction: the order becomes (partially) paid with its timeline entry, once (its status
    in the WHERE decides), without reading it again (record_capture reads the payment)."""
    row = db.session.execute(
        update(Order)
        .where(Order.id == order.id, Order.payment_status == AUTHORIZED)
        .values(
            paid_total=Order.paid_total + taken,
            payment_status=case(
                (Order.total > Order.paid_total + taken, PARTIALLY_PAID), else_=PAID
            ),
        )
        .returning(Order.payment_status, Order.paid_total, Order.updated_at)
        .execution_options(synchronize_session=False)
    ).first()
    if row is None:
        return False
    set_committed_value(order, "payment_status", row.payment_status)
    set_committed_value(order, "paid_total", row.paid_total)
    set_committed_value(order, "updated_at", row.updated_at)
    record_event(
        order,
        f"payment_status.{row.payment_status}",
        f"Payment captured: {format_money(taken, order.currency)}.",
        by=by,
        before=AUTHORIZED,
        after=row.payment_status,
    )
    if order.has_gift_cards and row.payment_status == PAID:
        issue_bought_gift_cards(order)
    return True


def issue_bought_gift_cards(order: Order) -> int:
    """(In the caller's transaction: the order became paid.) A gift card per unit of its gift
    card lines, each worth the unit's price, once; the buyer is emailed the codes (outbox)."""
    issued = 0
    for line in order.lines:
        if line.is_gift_card:
            issued += issue_for_order_line(
                order_id=order.id,
                order_line_id=line.id,
                quantity=line.quantity,
                unit_amount=line.unit_price,
                currency=order.currency,
                email=order.email,
            )
    if issued:
        record_event(
            order,
            "gift_cards.issued",
            f"{issued} gift card{'' if issued == 1 else 's'} issued; the codes go to "
            f"{order.email}.",
        )
    return issued


def record_capture_failure(order: Order, message: str, *, by: Any = None) -> None:
    """A capture did not go through (or its answer is awaited): said on the timeline, in the
    caller's transaction; the order stays authorized (see capture_order_payment)."""
    log.warning("capture for %s failed: %s", order.name, message)
    record_event(order, "payment.capture_failed", message, by=by)


def complete_if_done(order: Order, *, by: Any = None) -> Order:
    """An open order that is fully shipped and settled is completed."""
    settled = order.payment_status in (PAID, PARTIALLY_REFUNDED, REFUNDED)
    if order.status == OPEN and order.fulfillment_status == FULFILLED and settled:
        with transaction():
            transition(order, "status", COMPLETED, "Shipped and paid: order completed.", by=by)
    return order


def capture_on_placement() -> bool:
    return current_app.config.get("PAYMENTS_CAPTURE", "placement") == "placement"


# -- finding orders -----------------------------------------------------------------------------


def get_order(order_id: int) -> Order:
    order = db.session.scalar(
        select(Order).where(Order.id == order_id).options(selectinload(Order.lines))
    )
    if order is None:
        raise NotFound("No such order.")
    return order


def order_for_checkout(checkout_key: str) -> Order | None:
    return db.session.scalar(select(Order).where(Order.checkout_key == checkout_key))


def orders_for_customer(customer_id: int, *, page: int = 1, per_page: int = 20) -> list[Order]:
    return list(
        db.session.scalars(
            select(Order)
            .where(Order.customer_id == customer_id)
            .options(selectinload(Order.lines))
            .order_by(Order.placed_at.desc(), Order.id.desc())
            .offset((max(page, 1) - 1) * per_page)
            .limit(per_page)
        )
    )


def count_orders_for_customer(customer_id: int) -> int:
    return int(
        db.session.scalar(select(func.count(Order.id)).where(Order.customer_id == customer_id)) or 0
    )


def _status_serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=_STATUS_SALT)


def _email_digest(email: str) -> str:
    # The link lands in browser history and access logs: it carries a digest, not the address.
    return hashlib.sha256(email.encode()).hexdigest()[:16]


def order_status_token(order: Order) -> str:
    """A signed token that lets whoever holds the link see this order's status (guests)."""
    return str(_status_serializer().dumps({"o": order.id, "e": _email_digest(order.email)}))


def order_from_status_token(token: str) -> Order:
    """The order a status link names; a tampered or foreign token is simply not found."""
    try:
        data = _status_serializer().loads(token)
    except BadSignature:
        raise NotFound("This order link is not valid.") from None
    if not isinstance(data, dict) or not isinstance(data.get("o"), int):
        raise NotFound("This order link is not valid.")
    order = db.session.get(Order, data["o"])
    if order is None or _email_digest(order.email) != data.get("e"):
        raise NotFound("This order link is not valid.")
    return order


# -- notes --------------------------------------------------------------------------------------

MAX_NOTE = 5000


@service
def add_note(order: Order, *, text: str, by: Any, customer_visible: bool = False) -> OrderEvent:
    """An internal note, or a comment the customer sees on the order's status page."""
    text = (text or "").strip()
    if not text:
        raise ValidationError("Write something first.", field="text")
    if len(text) > MAX_NOTE:
        raise ValidationError(f"At most {MAX_NOTE} characters.", field="text")
    kind = "comment" if customer_visible else "note"
    event = record_event(order, kind, text, by=by)
    event.customer_visible = customer_visible
    audit.record(by, f"order.{kind}", order, after={"text": text[:200]})
    return event

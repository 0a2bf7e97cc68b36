"""Checkout: start (reserve the cart's stock), fill in, and place the order exactly once.

place_order(key, card=...) runs in three short steps so no stock row lock is held while the
payment provider works:

  1. claim: `UPDATE checkout SET status='placing' WHERE key=:k AND status='open'` commits. Its
     row count decides: a second request with the same key meanwhile gets Conflict ("already in
     progress", 409); once an order exists the same key returns that order. A claim left behind
     by a crashed process goes stale after CLAIM_STALE_AFTER and may be taken again;
  2. the hold is checked (re-taken if it lapsed, extended to outlive the call) and the payment
     authorized with the idempotency key `checkout:<key>:<attempt>` (payments guard success,
     not failure: after a decline the same key tries again with another card);
  3. one transaction writes the order snapshot, turns the reservation into an allocation,
     completes the checkout and queues the confirmation email (outbox). If the hold was lost
     and cannot be re-taken, the authorization is voided and the shopper told what sold out.

Capture happens right after placement or at fulfillment (PAYMENTS_CAPTURE).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError

from commerce.checkout.cart import take_purchased
from commerce.checkout.models import ABANDONED, COMPLETED, OPEN, PLACING, Cart, Checkout
from commerce.customers.models import Customer
from commerce.customers.services import clean_address, clean_email
from commerce.db import in_transaction, transaction, utcnow
from commerce.errors import (
    CommerceError,
    Conflict,
    InvalidTransition,
    NotFound,
    OutOfStock,
    ValidationError,
)
from commerce.extensions import db
from commerce.inventory.services import (
    active_reservations,
    commit_reservation,
    extend_reservation,
    release_reservation,
    reserve_stock,
)
from commerce.orders.models import Order
from commerce.orders.services import (
    capture_on_placement,
    capture_order_payment,
    create_order,
    order_for_checkout,
)
from commerce.payments.models import REQUIRES_ACTION, Payment
from commerce.payments.services import (
    authorize_payment,
    confirm_payment_action,
    void_payment,
)
from commerce.pricing import CartLine, PricedCart, PricingContext, price_cart

CLAIM_STALE_AFTER = timedelta(minutes=2)
# The hold must outlive the payment call: extend it to at least this much before authorizing.
HOLD_DURING_PAYMENT = timedelta(minutes=3)


def _reservation_ttl() -> timedelta:
    return current_app.config["RESERVATION_TTL"]


def _lines_error(priced: PricedCart) -> ValidationError:
    errors: dict[str, list[str]] = {}
    for error in priced.errors:
        key = f"line-{error.variant_id}" if error.variant_id else (error.field or "cart")
        errors.setdefault(key, []).append(error.message)
    first = priced.errors[0].message if priced.errors else "Your cart needs attention."
    return ValidationError(first, errors=errors)


# -- starting -----------------------------------------------------------------------------------


def get_checkout(key: str | None) -> Checkout:
    checkout = (
        db.session.scalar(select(Checkout).where(Checkout.key == key))
        if key and len(key) <= 64
        else None
    )
    if checkout is None:
        raise NotFound("This checkout does not exist. Start again from your cart.")
    return checkout


def _is_held(checkout: Checkout, now: datetime) -> bool:
    holds = active_reservations(checkout.reference)
    return bool(holds) and all(r.expires_at > now for r in holds)


def start_checkout(
    cart: Cart, *, customer: Customer | None = None, now: datetime | None = None
) -> Checkout:
    """Enter checkout: copy the cart's lines and reserve their stock for RESERVATION_TTL.

    All lines or none: OutOfStock names each short line, and nothing is written. Entering again
    with the same lines while the hold lasts returns the same checkout (one hold per cart)."""
    now = now or utcnow()
    lines = cart.line_pairs()
    if not lines:
        raise ValidationError("Your cart is empty.", field="cart")
    priced = price_cart([CartLine(v, q) for v, q in lines])
    if priced.errors:
        raise _lines_error(priced)
    default = _default_address(customer)
    with transaction():
        # One checkout per cart at a time: the cart's row lock makes a double click (or two
        # tabs) wait here and then find the first one's checkout instead of holding twice.
        db.session.execute(select(Cart.id).where(Cart.id == cart.id).with_for_update())
        current = db.session.scalars(
            select(Checkout)
            .where(Checkout.cart_id == cart.id, Checkout.status == OPEN)
            .order_by(Checkout.id.desc())
            .execution_options(populate_existing=True)
        ).all()
        for checkout in current:
            if sorted(checkout.line_pairs()) == sorted(lines) and _is_held(checkout, now):
                if customer is not None and checkout.customer_id is None:
                    checkout.customer_id = customer.id
                    checkout.email = checkout.email or customer.email
                return checkout
        for old in current:  # the cart changed or the hold lapsed: the old holds go back
            release_reservation(old.reference, now=now)
            old.status = ABANDONED
            old.updated_at = now
        checkout = Checkout(
            key=secrets.token_urlsafe(32),
            cart_id=cart.id,
            customer_id=customer.id if customer else None,
            lines=[[v, q] for v, q in lines],
            email=customer.email if customer else "",
            shipping_address=default,
            created_at=now,
            updated_at=now,
        )
        db.session.add(checkout)
        db.session.flush()
        holds = reserve_stock(lines, reference=checkout.reference, ttl=_reservation_ttl(), now=now)
        checkout.reserved_until = min((h.expires_at for h in holds), default=None)
    return checkout


def _default_address(customer: Customer | None) -> dict[str, Any]:
    if customer is None or not customer.addresses:
        return {}
    snapshot = customer.addresses[0].snapshot()  # default first
    snapshot.pop("is_default", None)
    return snapshot


def hold_stock(checkout: Checkout, *, now: datetime | None = None) -> Checkout:
    """Make sure the checkout's stock is held: a lapsed hold is re-taken (OutOfStock if that is
    no longer possible, saying which lines), a live one is left alone."""
    now = now or utcnow()
    if checkout.status not in (OPEN, PLACING):
        raise InvalidTransition("This checkout is finished.", field="checkout")
    if _is_held(checkout, now):
        return checkout
    with transaction():
        release_reservation(checkout.reference, now=now)  # any part-expired leftovers
        try:
            holds = reserve_stock(
                checkout.line_pairs(), reference=checkout.reference, ttl=_reservation_ttl(), now=now
            )
        except OutOfStock as exc:
            raise OutOfStock(
                "Your hold on these items expired and they sold out meanwhile. " + exc.message,
                field=exc.field,
                **exc.details,
            ) from None
        checkout.reserved_until = min((h.expires_at for h in holds), default=None)
        checkout.updated_at = now
    return checkout


# -- filling in ---------------------------------------------------------------------------------


def _require_open(checkout: Checkout) -> None:
    if checkout.status == COMPLETED:
        raise InvalidTransition("This order has already been placed.", field="checkout")
    if checkout.status != OPEN:
        raise InvalidTransition(
            "This checkout is no longer open. Start again from your cart.", field="checkout"
        )


def save_information(checkout: Checkout, *, email: Any, address: dict[str, Any]) -> Checkout:
    """Contact email and shipping address, validated together so every field gets its
    message at once. A shipping method that cannot serve the new address is cleared."""
    _require_open(checkout)
    errors: dict[str, list[str]] = {}
    try:
        email = clean_email(email)
    except ValidationError as exc:
        errors.update(exc.errors)
    try:
        cleaned = clean_address(address)
    except ValidationError as exc:
        errors.update(exc.errors)
    if errors:
        raise ValidationError(errors=errors)
    with transaction():
        checkout.email = email
        checkout.shipping_address = cleaned
        if checkout.shipping_method_code:
            priced = price_checkout(checkout)
            if priced.shipping is None:
                checkout.shipping_method_code = ""
        checkout.updated_at = utcnow()
    return checkout


def choose_shipping_method(checkout: Checkout, *, code: Any) -> Checkout:
    _require_open(checkout)
    if not checkout.shipping_address:
        raise ValidationError("Enter the shipping address first.", field="shipping_address")
    code = str(code or "").strip()
    if not code:
        raise ValidationError("Choose a shipping method.", field="shipping_method")
    priced = price_cart(checkout_lines(checkout), _context(checkout, code))
    if priced.shipping is None:
        raise ValidationError(
            "That shipping method is not available for this address and cart.",
            field="shipping_method",
        )
    with transaction():
        checkout.shipping_method_code = priced.shipping.code
        checkout.updated_at = utcnow()
    return checkout


def checkout_lines(checkout: Checkout) -> list[CartLine]:
    return [CartLine(v, q) for v, q in checkout.line_pairs()]


def _context(checkout: Checkout, method: str | None = None) -> PricingContext:
    address = checkout.shipping_address or {}
    return PricingContext(
        country=address.get("country") or None,
        region=address.get("region") or None,
        shipping_method_code=method if method is not None else checkout.shipping_method_code,
        customer_id=checkout.customer_id,
    )


def price_checkout(checkout: Checkout) -> PricedCart:
    return price_cart(checkout_lines(checkout), _context(checkout))


def next_step(checkout: Checkout) -> str:
    """The first step still to do: information, shipping or payment."""
    if not checkout.email or not checkout.shipping_address:
        return "information"
    if not checkout.shipping_method_code:
        return "shipping"
    return "payment"


# -- placing ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Placement:
    """What place_order achieved: an order, or a payment waiting for the shopper's action."""

    order: Order | None = None
    payment: Payment | None = None

    @property
    def requires_action(self) -> bool:
        return self.order is None and self.payment is not None


def _claim(key: str, now: datetime) -> Checkout | Placement:
    """Own the checkout for one placement attempt, or say why not."""
    with transaction():
        claimed = db.session.execute(
            update(Checkout)
            .where(
                Checkout.key == key,
                or_(
                    Checkout.status == OPEN,
                    (Checkout.status == PLACING)
                    & (Checkout.placing_since < now - CLAIM_STALE_AFTER),
                ),
            )
            .values(status=PLACING, placing_since=now, updated_at=now)
            .execution_options(synchronize_session=False)
        ).rowcount
    checkout = get_checkout(key)
    db.session.refresh(checkout)
    if claimed == 1:
        return checkout
    if checkout.status == COMPLETED:
        order = db.session.get(Order, checkout.order_id) if checkout.order_id else None
        return Placement(order=order or order_for_checkout(key))
    if checkout.status == PLACING:
        raise Conflict(
            "Your order is already being placed. Please wait a moment.", field="checkout"
        )
    raise InvalidTransition(
        "This checkout is no longer open. Start again from your cart.", field="checkout"
    )


def _unclaim(checkout_id: int, **values: Any) -> None:
    with transaction():
        db.session.execute(
            update(Checkout)
            .where(Checkout.id == checkout_id, Checkout.status == PLACING)
            .values(status=OPEN, placing_since=None, updated_at=utcnow(), **values)
            .execution_options(synchronize_session=False)
        )


def _ready_to_pay(checkout: Checkout) -> PricedCart:
    errors: dict[str, list[str]] = {}
    if not checkout.email:
        errors["email"] = ["Enter your email address."]
    if not checkout.shipping_address:
        errors["shipping_address"] = ["Enter the shipping address."]
    if not checkout.shipping_method_code:
        errors["shipping_method"] = ["Choose a shipping method."]
    if errors:
        raise ValidationError("Some checkout steps are not complete yet.", errors=errors)
    priced = price_checkout(checkout)
    if priced.errors:
        raise _lines_error(priced)
    if not priced.is_complete:
        raise ValidationError("Choose a shipping method.", field="shipping_method")
    return priced


def _payment_key(checkout: Checkout) -> str:
    return f"{checkout.reference}:{checkout.payment_attempts}"


def place_order(key: str, *, card: Any, now: datetime | None = None) -> Placement:
    """Pay for the checkout and create its order, once, however often it is asked.

    Raises Conflict (409) while another request for this key is running, ValidationError for
    missing steps or card fields, PaymentFailed for a decline (the shopper may try another
    card; the hold stays until it expires), OutOfStock when the hold lapsed and cannot be
    re-taken. Returns Placement(payment=...) when the bank wants the shopper to confirm."""
    if in_transaction():
        raise RuntimeError("place_order commits its own steps; call it outside a transaction.")
    now = now or utcnow()
    claimed = _claim(key, now)
    if isinstance(claimed, Placement):
        return claimed
    checkout = claimed
    checkout_id = checkout.id
    try:
        priced = _ready_to_pay(checkout)
        hold_stock(checkout, now=now)
        extend_reservation(checkout.reference, until=now + HOLD_DURING_PAYMENT, now=now)
        if checkout.payment_id is not None:
            previous = db.session.get(Payment, checkout.payment_id)
            if previous is not None and previous.status == REQUIRES_ACTION:
                # The shopper left the bank's page and pays again: a fresh attempt.
                with transaction():
                    checkout.payment_attempts += 1
        payment = None
        if priced.totals.total > 0:
            payment = authorize_payment(
                reference=checkout.reference,
                amount=priced.totals.total,
                currency=priced.currency,
                card=card,
                idempotency_key=_payment_key(checkout),
            )
    except BaseException:
        _unclaim(checkout_id)
        raise
    if payment is not None and payment.status == REQUIRES_ACTION:
        _unclaim(checkout_id, payment_id=payment.id)
        return Placement(payment=payment)
    return Placement(order=_finish(checkout_id, payment, now))


def complete_payment_action(key: str, *, token: str, now: datetime | None = None) -> Placement:
    """The shopper came back from the bank's challenge: confirm the payment, then place."""
    now = now or utcnow()
    claimed = _claim(key, now)
    if isinstance(claimed, Placement):
        return claimed
    checkout = claimed
    checkout_id = checkout.id
    try:
        payment = db.session.get(Payment, checkout.payment_id) if checkout.payment_id else None
        if payment is None:
            raise InvalidTransition("There is no payment waiting for confirmation.")
        hold_stock(checkout, now=now)
        payment = confirm_payment_action(payment, token)
    except BaseException:
        _unclaim(checkout_id)
        raise
    return Placement(order=_finish(checkout_id, payment, now))


def _finish(checkout_id: int, payment: Payment | None, now: datetime) -> Order:
    """Step 3: the order, the allocation and the checkout's completion in one transaction."""
    for attempt in (1, 2):
        checkout = db.session.get(Checkout, checkout_id)
        db.session.refresh(checkout)
        try:
            with transaction():
                priced = price_checkout(checkout)
                if payment is not None and priced.totals.total != payment.amount:
                    raise Conflict(
                        "The total changed while you were paying. Please review and pay again.",
                        field="checkout",
                    )
                order = create_order(
                    checkout_key=checkout.key,
                    email=checkout.email,
                    customer_id=checkout.customer_id,
                    shipping_address=checkout.shipping_address,
                    priced=priced,
                    payment=payment,
                )
                commit_reservation(checkout.reference, order_reference=order.reference, now=now)
                checkout.status = COMPLETED
                checkout.order_id = order.id
                checkout.payment_id = payment.id if payment is not None else None
                checkout.placing_since = None
                checkout.updated_at = utcnow()
                take_purchased(checkout.cart_id, checkout.line_pairs())
            break
        except IntegrityError:  # another process placed this checkout's order first
            db.session.rollback()
            existing = order_for_checkout(checkout.key)
            if existing is None:
                raise
            return existing
        except Conflict as exc:
            # The hold lapsed and was swept during payment: re-take it once, else give up.
            lapsed = attempt == 1 and exc.field == "reference"
            try:
                if not lapsed:
                    raise
                hold_stock(checkout, now=utcnow())
                continue
            except CommerceError:
                if payment is not None:
                    void_payment(payment)
                _unclaim(checkout_id)
                raise
    if capture_on_placement():
        order = capture_order_payment(order)
    return order

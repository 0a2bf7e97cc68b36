"""Checkout: start (reserve the cart's stock), fill in, and place the order exactly once.

place_order(key, card=...) runs in three short steps so no stock row lock is held while the
payment provider works:

  1. claim: `UPDATE checkout SET status='placing' WHERE key=:k AND status='open'` commits. Its
     row count decides: a second request with the same key meanwhile gets Conflict ("already in
     progress", 409); once an order exists the same key returns that order. A claim left behind
     by a crashed process goes stale after CLAIM_STALE_AFTER and may be taken again;
  2. the hold is checked (re-taken if it lapsed, extended to outlive the call), the
     promotions the order gets are counted against their usage limits (a HELD redemption,
     committed: see below), and the payment authorized with the idempotency key
     `checkout:<key>:<attempt>` (payments guard success, not failure: after a decline the same
     key tries again with another card);
  3. one transaction writes the order snapshot, turns the reservation into an allocation,
     turns the held redemptions into redeemed ones carrying the order, completes the checkout
     and queues the confirmation email (outbox). If the hold was lost and cannot be re-taken,
     the authorization is voided and the shopper told what sold out.

Coupons and usage limits: the use of a limited promotion or code is taken by a conditional
UPDATE (like stock) in step 2, before the card is authorized, so a shopper whose code ran out
between the cart and "Place order" gets a 409 at the code field with nothing authorized and no
order; at step 3 the held use is attached to the order in the order's own transaction (or,
if the hold lapsed, taken again there; failing that, the authorization is voided). A placement
that fails gives its held uses back; cancelling the order gives its uses back. An entered
code that does not apply refuses the placement rather than charging the full price silently.

Free gifts are priced lines like any other: the stock held for a checkout is what its priced
lines need (cart lines plus gifts), re-synced whenever that changes, so a gift is reserved,
allocated and shipped like the rest.

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

from commerce.catalog.models import CONTINUE, Variant
from commerce.checkout.cart import (
    cart_context,
    cart_reference,
    cart_reference_for,
    take_purchased,
)
from commerce.checkout.models import ABANDONED, COMPLETED, OPEN, PLACING, Cart, Checkout
from commerce.customers.models import Customer
from commerce.customers.services import clean_address, clean_email, customer_tags
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
from commerce.orders.models import CANCELLED as ORDER_CANCELLED
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
from commerce.pricing import COUPON_FIELD, CartLine, PricedCart, PricingContext, price_cart
from commerce.pricing.promotions import promotion_id
from commerce.promotions.active import shopper_identities
from commerce.promotions.coupons import (
    check_enterable,
    copy_code,
    enter_code,
    entered_codes,
    forget_code,
)
from commerce.promotions.redemptions import (
    PromotionUnavailable,
    Use,
    hold_uses,
    redeem_uses,
    release_uses,
)

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


def stock_pairs(lines: list[tuple[int, int]], priced: PricedCart) -> list[tuple[int, int]]:
    """What a checkout holds: its lines plus the free gifts the priced cart adds."""
    needed: dict[int, int] = {}
    for variant_id, quantity in lines:
        needed[variant_id] = needed.get(variant_id, 0) + quantity
    for line in priced.lines:
        if line.gift_quantity:
            needed[line.variant_id] = needed.get(line.variant_id, 0) + line.gift_quantity
    return sorted(needed.items())


def _held_pairs(checkout: Checkout, now: datetime) -> list[tuple[int, int]] | None:
    """The units held per variant, or None when nothing is held or part of it lapsed."""
    holds = active_reservations(checkout.reference)
    if not holds or any(r.expires_at <= now for r in holds):
        return None
    held: dict[int, int] = {}
    for hold in holds:
        held[hold.variant_id] = held.get(hold.variant_id, 0) + hold.quantity
    return sorted(held.items())


def _hold_fits(held: list[tuple[int, int]] | None, needed: list[tuple[int, int]]) -> bool:
    """A live hold of exactly what is needed (short only where the variant sells beyond
    stock, for which reserve_stock holds what there is)."""
    if held is None:
        return False
    have, want = dict(held), dict(needed)
    if any(variant_id not in want for variant_id in have):
        return False
    short = [v for v, q in want.items() if have.get(v, 0) != q]
    if not short:
        return True
    if any(have.get(v, 0) > want[v] for v in short):
        return False
    policies = db.session.execute(
        select(Variant.id, Variant.inventory_policy).where(Variant.id.in_(short))
    ).all()
    return len(policies) == len(short) and all(policy == CONTINUE for _, policy in policies)


def start_checkout(
    cart: Cart, *, customer: Customer | None = None, now: datetime | None = None
) -> Checkout:
    """Enter checkout: copy the cart's lines (and its coupon code) and reserve their stock,
    with any free gift the cart earns, for RESERVATION_TTL.

    All lines or none: OutOfStock names each short line, and nothing is written. Entering again
    with the same lines while the hold lasts returns the same checkout (one hold per cart)."""
    now = now or utcnow()
    lines = cart.line_pairs()
    if not lines:
        raise ValidationError("Your cart is empty.", field="cart")
    priced = price_cart([CartLine(v, q) for v, q in lines], cart_context(cart, customer=customer))
    if priced.errors:
        raise _lines_error(priced)
    needed = stock_pairs(lines, priced)
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
                copy_code(cart_reference(cart), checkout.reference)
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
        copy_code(cart_reference(cart), checkout.reference)
        holds = reserve_stock(needed, reference=checkout.reference, ttl=_reservation_ttl(), now=now)
        checkout.reserved_until = min((h.expires_at for h in holds), default=None)
    return checkout


def _default_address(customer: Customer | None) -> dict[str, Any]:
    if customer is None or not customer.addresses:
        return {}
    snapshot = customer.addresses[0].snapshot()  # default first
    snapshot.pop("is_default", None)
    return snapshot


def hold_stock(
    checkout: Checkout, *, now: datetime | None = None, priced: PricedCart | None = None
) -> Checkout:
    """Make sure the checkout's stock is held, as much as its priced lines need (a free gift
    that came or went with a code or an address changes that): a lapsed or different hold is
    re-taken (OutOfStock if that is no longer possible, saying which lines), a live one that
    fits is left alone."""
    now = now or utcnow()
    if checkout.status not in (OPEN, PLACING):
        raise InvalidTransition("This checkout is finished.", field="checkout")
    needed = stock_pairs(checkout.line_pairs(), priced or price_checkout(checkout))
    if _hold_fits(_held_pairs(checkout, now), needed):
        return checkout
    with transaction():
        release_reservation(checkout.reference, now=now)  # any part-expired leftovers
        try:
            holds = reserve_stock(
                needed, reference=checkout.reference, ttl=_reservation_ttl(), now=now
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
        coupon_codes=entered_codes(checkout.reference),
        email=checkout.email or None,
        first_order=first_order(checkout.customer_id, checkout.email),
        customer_tags=customer_tags(checkout.customer_id),
        reference=checkout.reference,
    )


def first_order(customer_id: int | None, email: str | None) -> bool | None:
    """Whether this shopper has no order yet (cancelled ones do not count); None when we do
    not know who it is (a guest before the email)."""
    email = (email or "").strip().lower()
    if customer_id is None and not email:
        return None
    who = []
    if customer_id is not None:
        who.append(Order.customer_id == customer_id)
    if email:
        who.append(Order.email == email)
    earlier = db.session.scalar(
        select(Order.id).where(or_(*who), Order.status != ORDER_CANCELLED).limit(1)
    )
    return earlier is None


# -- coupon codes -------------------------------------------------------------------------------


def apply_checkout_coupon(checkout: Checkout, *, code: Any) -> Checkout:
    """Enter a discount code at checkout (it replaces one entered before, and the cart gets it
    too). Unknown, inactive and used-up codes are refused at the `coupon_code` field; a code
    whose conditions the cart does not meet yet is kept, and the summary says why."""
    _require_open(checkout)
    text = check_enterable(code)
    with transaction():
        enter_code(checkout.reference, text)
        if checkout.cart_id is not None:
            enter_code(cart_reference_for(checkout.cart_id), text)
        checkout.updated_at = utcnow()
    return checkout


def remove_checkout_coupon(checkout: Checkout) -> Checkout:
    _require_open(checkout)
    with transaction():
        forget_code(checkout.reference)
        if checkout.cart_id is not None:
            forget_code(cart_reference_for(checkout.cart_id))
        checkout.updated_at = utcnow()
    return checkout


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


def _give_up(checkout_id: int, reference: str) -> None:
    """A placement attempt failed before its order: the held promotion uses go back (stock
    stays held until it expires, so the shopper can try another card) and the claim ends."""
    release_uses(reference, held_only=True)
    _unclaim(checkout_id)


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
    _refuse_dropped_codes(priced)
    return priced


def _refuse_dropped_codes(priced: PricedCart) -> None:
    """An entered code that no longer applies stops the placement: the shopper expects its
    discount, so charging the full price silently would be wrong."""
    problems = priced.coupon_problems
    if problems:
        raise PromotionUnavailable(
            f"{problems[0].message} Remove the code to order without it; you have not been"
            " charged.",
            field=COUPON_FIELD,
        )


def promotion_uses(priced: PricedCart) -> list[Use]:
    """The promotions an order priced like this gets, with their codes and amounts."""
    uses = []
    for source, use in sorted(priced.promotion_uses().items()):
        pid = promotion_id(source)
        if pid is not None:
            uses.append(Use(pid, use.amount, use.code))
    return uses


def _identities(checkout: Checkout) -> tuple[str, ...]:
    return shopper_identities(checkout.email, checkout.customer_id)


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
        hold_stock(checkout, now=now, priced=priced)
        extend_reservation(checkout.reference, until=now + HOLD_DURING_PAYMENT, now=now)
        # Count limited promotions and codes before any card is touched (committed here).
        hold_uses(
            checkout.reference,
            promotion_uses(priced),
            identities=_identities(checkout),
            currency=priced.currency,
            now=now,
            hold_for=max(_reservation_ttl(), HOLD_DURING_PAYMENT),
        )
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
        _give_up(checkout_id, checkout.reference)
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
        _give_up(checkout_id, checkout.reference)
        raise
    return Placement(order=_finish(checkout_id, payment, now))


def _finish(checkout_id: int, payment: Payment | None, now: datetime) -> Order:
    """Step 3: the order, the allocation, the promotions' redemptions and the checkout's
    completion in one transaction."""
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
                _refuse_dropped_codes(priced)
                needed = stock_pairs(checkout.line_pairs(), priced)
                if not _hold_fits(_held_pairs(checkout, now), needed):
                    # a gift came or went meanwhile (or the hold lapsed): re-take it once
                    raise Conflict("The items held do not match the order.", field="reference")
                order = create_order(
                    checkout_key=checkout.key,
                    email=checkout.email,
                    customer_id=checkout.customer_id,
                    shipping_address=checkout.shipping_address,
                    priced=priced,
                    payment=payment,
                )
                commit_reservation(checkout.reference, order_reference=order.reference, now=now)
                redeem_uses(
                    checkout.reference,
                    promotion_uses(priced),
                    order_id=order.id,
                    identities=_identities(checkout),
                    currency=priced.currency,
                    now=now,
                )
                if checkout.cart_id is not None:
                    forget_code(cart_reference_for(checkout.cart_id))
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
                _give_up(checkout_id, checkout.reference)
                raise
    if capture_on_placement():
        order = capture_order_payment(order)
    return order

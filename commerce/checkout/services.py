"""Checkout: start (reserve the cart's stock), fill in, and place the order exactly once.

place_order(key, card=...) runs in three short steps so no stock row lock is held while the
payment provider works:

  1. claim: `UPDATE checkout SET status='placing', claim_token=:t WHERE key=:k AND
     status='open'` commits. Its row count decides: a second request with the same key
     meanwhile gets Conflict ("already in progress", 409); once an order exists the same key
     returns that order. A claim left behind by a crashed process goes stale after
     PAYMENTS_IN_FLIGHT_TIMEOUT and may be taken over; the token is a fencing token that
     step 3 checks in its own transaction, so the process that lost the claim writes nothing;
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

Exactly once across crashes: a retry of the same checkout finds its attempt's payment by key
(asking the provider about one left pending) and turns an authorization into the order rather
than charging again; a new checkout of the same cart first settles one whose placement stopped
(settle_checkout: into the order, or its money voided), and the database allows one live
checkout per cart. What no request comes back for, the recovery task settles (recovery.py).
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import String, literal, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.attributes import set_committed_value

from commerce import audit, throttle
from commerce.catalog.models import CONTINUE, Variant
from commerce.checkout.cart import (
    cart_context,
    cart_reference,
    cart_reference_for,
    coupon_attempt_key,
    take_purchased,
)
from commerce.checkout.custom_lines import custom_cart_lines
from commerce.checkout.models import ABANDONED, COMPLETED, OPEN, PLACING, Cart, Checkout
from commerce.crowd import checkout_left
from commerce.customers.models import Customer
from commerce.customers.services import clean_address, clean_email, customer_tags
from commerce.db import in_transaction, keep_loaded, service, transaction, utcnow, workflow
from commerce.errors import (
    CommerceError,
    Conflict,
    ErrorPath,
    InvalidTransition,
    NotFound,
    OutOfStock,
    PaymentFailed,
    TooManyAttempts,
    ValidationError,
)
from commerce.extensions import db
from commerce.giftcards import tenders
from commerce.giftcards.services import shop_currency
from commerce.inventory.bundles import expand as expand_bundles
from commerce.inventory.services import (
    active_reservations,
    commit_reservation,
    held_for,
    refuse_if_short,
    release_reservation,
    reserve_stock,
)
from commerce.money import Money
from commerce.orders.models import CANCELLED as ORDER_CANCELLED
from commerce.orders.models import Order
from commerce.orders.services import (
    capture_key,
    capture_on_placement,
    capture_order_payment,
    create_order,
    order_for_checkout,
    record_capture_failure,
    record_event,
    record_paid,
)
from commerce.payments.models import AUTHORIZED as PAYMENT_AUTHORIZED
from commerce.payments.models import FAILED as PAYMENT_FAILED
from commerce.payments.models import PENDING as PAYMENT_PENDING
from commerce.payments.models import REQUIRES_ACTION, VOIDING, Payment
from commerce.payments.provider import SUCCEEDED, ProviderResult, ValidCard, validate_card
from commerce.payments.services import (
    CARD_CODES,
    ProviderCall,
    authorize_payment,
    confirm_payment_action,
    in_flight_timeout,
    open_authorization,
    open_capture,
    payment_for_key,
    payment_with_key,
    provider_failure,
    record_authorization_answer,
    record_capture_answer,
    send_authorization,
    send_capture,
    settle_payment,
    unanswered,
    void_payment,
)
from commerce.pricing import COUPON_FIELD, CartLine, PricedCart, PricingContext, price_cart
from commerce.pricing.promotions import promotion_id
from commerce.promotions.active import (
    live_set,
    remember_revision,
    revision_column,
    shopper_identities,
)
from commerce.promotions.coupons import (
    check_entered,
    copy_code,
    enter_code,
    entered_code_of,
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

log = logging.getLogger(__name__)

# The hold must outlive the payment call: extend it to at least this much before authorizing.
HOLD_DURING_PAYMENT = timedelta(minutes=3)


def _reservation_ttl() -> timedelta:
    return current_app.config["RESERVATION_TTL"]


def _lines_error(priced: PricedCart) -> ValidationError:
    errors: dict[ErrorPath, list[str]] = {}
    for error in priced.errors:
        key = ("line", error.variant_id) if error.variant_id else (error.field or "cart")
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


def shopper_checkout(
    key: str | None, *, customer_id: int | None = None, cart_token: str | None = None
) -> Checkout | None:
    """The checkout with this key if this shopper may see it: it came from their cart (the
    signed-in customer's, or the one a guest's cookie names) or is their customer's. One
    query, which also brings the code entered on it (see checkout_codes)."""
    if not key or len(key) > 64:
        return None
    if customer_id is not None:
        mine = or_(
            Checkout.customer_id == customer_id,
            Checkout.cart_id.in_(select(Cart.id).where(Cart.customer_id == customer_id)),
        )
    elif cart_token:
        mine = Checkout.cart_id.in_(select(Cart.id).where(Cart.token == cart_token))
    else:
        return None
    reference = literal(Checkout.REFERENCE_PREFIX, String) + Checkout.key
    row = db.session.execute(
        select(Checkout, entered_code_of(reference), revision_column()).where(
            Checkout.key == key, mine
        )
    ).first()
    if row is None:
        return None
    checkout, code, revision = row
    _remember_codes(checkout, (code,) if code else ())
    remember_revision(revision)  # the checkout is priced next, in this transaction
    return checkout


_CODES = "_entered_codes"  # a loaded checkout's entered codes (not a column)


def _remember_codes(checkout: Checkout, codes: tuple[str, ...] | None) -> None:
    if codes is None:
        checkout.__dict__.pop(_CODES, None)
    else:
        checkout.__dict__[_CODES] = codes


def checkout_codes(checkout: Checkout) -> tuple[str, ...]:
    """The code(s) entered on the checkout: as loaded with it, else read."""
    codes = checkout.__dict__.get(_CODES)
    return codes if codes is not None else entered_codes(checkout.reference)


def has_live_hold(checkout: Checkout, now: datetime) -> bool:
    holds = active_reservations(checkout.reference)
    return bool(holds) and all(r.expires_at > now for r in holds)


def stock_pairs(lines: list[tuple[int, int]], priced: PricedCart) -> list[tuple[int, int]]:
    """What a checkout holds: its lines plus the free gifts the priced cart adds, a bundle as
    its components (summed with loose lines of the same variants)."""
    needed: dict[int, int] = {}
    for variant_id, quantity in lines:
        needed[variant_id] = needed.get(variant_id, 0) + quantity
    for line in priced.lines:
        if line.gift_quantity:
            needed[line.variant_id] = needed.get(line.variant_id, 0) + line.gift_quantity
    # Pricing read which lines are bundles (free gifts it added are not marked: asked here)
    priced_ids = {line.variant_id for line in priced.lines}
    if needed.keys() <= priced_ids and not any(
        line.bundle or line.gift_quantity for line in priced.lines
    ):
        return sorted(needed.items())  # no bundle among them: the lines as they are
    return expand_bundles(needed.items())


def holds_stock(lines: list[tuple[int, int]], priced: PricedCart) -> bool:
    """Whether an order of these lines takes stock: not one of a draft's custom items only
    (they are no variant), unless a promotion adds a gift."""
    return bool(lines) or any(line.gift_quantity for line in priced.lines)


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
    if not needed:  # nothing to hold (a draft of custom items only): nothing may be held
        return not held
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
    cart: Cart,
    *,
    customer: Customer | None = None,
    now: datetime | None = None,
    priced: tuple[PricingContext, PricedCart] | None = None,
) -> Checkout:
    """Enter checkout: copy the cart's lines (and its coupon code) and reserve their stock,
    with any free gift the cart earns, for RESERVATION_TTL.

    All lines or none: OutOfStock names each short line, and nothing is written. Entering again
    with the same lines while the hold lasts returns the same checkout (one hold per cart).

    A cart has one live checkout at a time. While another is being placed the shopper waits
    (Conflict); one whose placement stopped (placing past the in-flight timeout) is settled
    first (see settle_checkout): if its payment went through for these same lines it becomes
    the order and is returned completed (the view shows that order), otherwise its money is
    released and it is abandoned.

    One transaction: the cart's row lock (a double click waits for the first), the new
    checkout, and the hold, whose stock UPDATE comes last, right before the COMMIT.
    `priced`: the cart already priced by the caller with cart_context (the page showing a
    refusal prices it too), so it is priced once."""
    now = now or utcnow()
    lines = cart.line_pairs()
    settle = not in_transaction()
    if not lines:
        if settle and (placed := _settle_stuck_checkouts(cart, lines, now)) is not None:
            return placed
        raise ValidationError("Your cart is empty.", field="cart")
    if priced is None:
        context = cart_context(cart, customer=customer)
        prices = price_cart([CartLine(v, q) for v, q in lines], context)
    else:
        context, prices = priced
    if prices.errors:
        raise _lines_error(prices)
    needed = stock_pairs(lines, prices)
    try:
        refuse_if_short(needed)  # sold out is said at once, without a lock or a write...
    except OutOfStock:
        if not _has_live_checkout(cart):  # ...unless this cart holds the units itself
            raise
    ships = prices.needs_shipping
    for attempt in (1, 2):
        entered = _enter_checkout(
            cart,
            lines,
            needed,
            context.coupon_codes,
            customer,
            now,
            settle and attempt == 1,
            ships=ships,
        )
        if isinstance(entered, Checkout):
            _remember_shipping(entered, ships)
            return entered
        placed = _settle_stuck_checkouts(cart, lines, now)  # entered: the stuck ones' ids
        if placed is not None:
            return placed
    raise Conflict("Your order is already being placed. Please wait a moment.", field="checkout")


def _has_live_checkout(cart: Cart) -> bool:
    return (
        db.session.scalar(
            select(Checkout.id)
            .where(Checkout.cart_id == cart.id, Checkout.status.in_((OPEN, PLACING)))
            .limit(1)
        )
        is not None
    )


@service
def _enter_checkout(
    cart: Cart,
    lines: list[tuple[int, int]],
    needed: list[tuple[int, int]],
    codes: tuple[str, ...],
    customer: Customer | None,
    now: datetime,
    settle: bool,
    *,
    ships: bool = True,
) -> Checkout | list[int]:
    """start_checkout's transaction; the ids of stuck checkouts to settle first, if any."""
    ttl = _reservation_ttl()
    # One checkout per cart at a time: the cart's row lock makes a double click (or two
    # tabs) wait here and then find the first one's checkout instead of holding twice.
    db.session.execute(select(Cart.id).where(Cart.id == cart.id).with_for_update())
    live = db.session.scalars(
        select(Checkout)
        .where(Checkout.cart_id == cart.id, Checkout.status.in_((OPEN, PLACING)))
        .order_by(Checkout.id.desc())
        .execution_options(populate_existing=True)
    ).all()
    placing = [c for c in live if c.status == PLACING]
    stuck = [c.id for c in placing if c.placing_since < now - in_flight_timeout()]
    if settle and stuck:
        return stuck
    if placing:
        raise Conflict(
            "Your order is already being placed. Please wait a moment.", field="checkout"
        )
    current = list(live)
    for checkout in current:
        if sorted(checkout.line_pairs()) == sorted(lines) and has_live_hold(checkout, now):
            if customer is not None and checkout.customer_id is None:
                checkout.customer_id = customer.id
                checkout.email = checkout.email or customer.email
            copy_code(cart_reference(cart), checkout.reference)
            _remember_codes(checkout, None)
            return checkout
    for old in current:  # the cart changed or the hold lapsed: the old holds go back
        tenders.release_tenders(old.reference)  # gift cards held for a bank's challenge
        release_reservation(old.reference, now=now)
        old.status = ABANDONED
        old.updated_at = now
    if current:
        db.session.flush()  # before the new one: one live checkout per cart (unique index)
    checkout = Checkout(
        key=secrets.token_urlsafe(32),
        cart_id=cart.id,
        customer_id=customer.id if customer else None,
        lines=[[v, q] for v, q in lines],
        email=customer.email if customer else "",
        shipping_address=_default_address(customer) if ships else {},
        shipping_method_code="",
        status=OPEN,
        payment_attempts=0,
        reserved_until=now + ttl,
        created_at=now,
        updated_at=now,
    )
    db.session.add(checkout)
    if codes:  # the cart's code goes with it (a new checkout has none to replace)
        enter_code(checkout.reference, codes[0])
    _remember_codes(checkout, tuple(codes[:1]))
    if cart.recovered_checkout_id is not None:
        _prefill_from_abandoned(checkout, cart, ships=ships)
    holds = reserve_stock(needed, reference=checkout.reference, ttl=ttl, now=now)
    if not holds:  # only lines sold beyond stock, none of it there: nothing held
        checkout.reserved_until = None
    keep_loaded(checkout)
    return checkout


def _prefill_from_abandoned(checkout: Checkout, cart: Cart, *, ships: bool) -> None:
    """(In _enter_checkout's transaction, before its stock UPDATE.) A cart a recovery link
    restored (commerce.abandoned): its first checkout starts as far as the shopper had got
    in the abandoned one, with what is still valid: the email (a signed-in customer keeps
    theirs), then, when the order ships anything, the address if it still passes the
    address rules, and the shipping method if it still serves that address and these lines.
    The cart's mark is cleared: later checkouts of it start as usual."""
    earlier = db.session.get(Checkout, cart.recovered_checkout_id)
    cart.recovered_checkout_id = None
    if earlier is None or earlier.id == checkout.id:
        return
    if not checkout.email and earlier.email:
        try:
            checkout.email = clean_email(earlier.email)
        except ValidationError:
            return
    checkout.recovery_consent = earlier.recovery_consent
    if not ships or not earlier.shipping_address:
        return
    try:
        checkout.shipping_address = clean_address(earlier.shipping_address)
    except ValidationError:
        return
    if earlier.shipping_method_code:
        priced = price_cart(
            checkout_lines(checkout), _context(checkout, earlier.shipping_method_code)
        )
        if priced.shipping is not None:
            checkout.shipping_method_code = priced.shipping.code


def _settle_stuck_checkouts(
    cart: Cart, lines: list[tuple[int, int]], now: datetime
) -> Checkout | None:
    """Settle this cart's checkouts whose placement stopped; the one that became its order."""
    stuck = db.session.scalars(
        select(Checkout.id).where(
            Checkout.cart_id == cart.id,
            Checkout.status == PLACING,
            Checkout.placing_since < now - in_flight_timeout(),
        )
    ).all()
    for checkout_id in stuck:
        settled = settle_checkout(checkout_id, now=now, superseded_by=lines)
        if settled.order is not None:
            return db.session.get(Checkout, checkout_id, populate_existing=True)
    return None


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
        _retake_hold(checkout, needed, now, ttl=_reservation_ttl())
    return checkout


def _retake_hold(
    checkout: Checkout, needed: list[tuple[int, int]], now: datetime, *, ttl: timedelta
) -> list[tuple[int, int]]:
    """(In the caller's transaction, as its last writes: they lock stock rows.) Give back
    whatever is left of the checkout's hold and take what it needs again; what is held now."""
    release_reservation(checkout.reference, now=now)  # any part-expired leftovers
    try:
        holds = reserve_stock(needed, reference=checkout.reference, ttl=ttl, now=now)
    except OutOfStock as exc:
        raise OutOfStock(
            "Your hold on these items expired and they sold out meanwhile. " + exc.message,
            field=exc.field,
            **exc.details,
        ) from None
    checkout.reserved_until = min((h.expires_at for h in holds), default=None)
    checkout.updated_at = now
    held: dict[int, int] = {}
    for hold in holds:
        held[hold.variant_id] = held.get(hold.variant_id, 0) + hold.quantity
    return sorted(held.items())


# -- filling in ---------------------------------------------------------------------------------


def _require_open(checkout: Checkout) -> None:
    if checkout.status == COMPLETED:
        raise InvalidTransition("This order has already been placed.", field="checkout")
    if checkout.status != OPEN:
        raise InvalidTransition(
            "This checkout is no longer open. Start again from your cart.", field="checkout"
        )


@service
def save_information(
    checkout: Checkout,
    *,
    email: Any,
    address: dict[str, Any] | None = None,
    recovery_consent: bool | None = None,
) -> Checkout:
    """Contact email and shipping address, validated together so every field gets its
    message at once. A shipping method that cannot serve the new address is cleared.
    A checkout with nothing to ship (see checkout_needs_shipping) asks for the email only:
    no address is kept (the card payment needs none, and gift cards carry no tax at sale).
    `recovery_consent`: the shopper's answer when the shop asks before sending cart reminders
    (None: not asked, left as it was)."""
    _require_open(checkout)
    ships = checkout_needs_shipping(checkout)
    errors: dict[str, list[str]] = {}
    try:
        email = clean_email(email)
    except ValidationError as exc:
        errors.update(exc.errors)
    cleaned: dict[str, Any] = {}
    if ships:
        try:
            cleaned = clean_address(address or {})
        except ValidationError as exc:
            errors.update(exc.errors)
    if errors:
        raise ValidationError(errors=errors)
    checkout.email = email
    checkout.shipping_address = cleaned
    if recovery_consent is not None:
        checkout.recovery_consent = bool(recovery_consent)
    if not ships:
        checkout.shipping_method_code = ""
    elif checkout.shipping_method_code:
        priced = price_checkout(checkout)
        if priced.shipping is None:
            checkout.shipping_method_code = ""
    checkout.updated_at = utcnow()
    return checkout


@service
def choose_shipping_method(checkout: Checkout, *, code: Any) -> Checkout:
    """The shipping method, for a checkout that ships something (NothingToShip otherwise)."""
    _require_open(checkout)
    code = str(code or "").strip()
    priced = price_cart(checkout_lines(checkout), _context(checkout, code))
    if not checkout_needs_shipping(checkout, priced):
        raise NothingToShip(
            "Nothing in this order is shipped: there is no shipping method to choose.",
            field="shipping_method",
        )
    if not checkout.shipping_address:
        raise ValidationError("Enter the shipping address first.", field="shipping_address")
    if not code:
        raise ValidationError("Choose a shipping method.", field="shipping_method")
    if priced.shipping is None:
        raise ValidationError(
            "That shipping method is not available for this address and cart.",
            field="shipping_method",
        )
    checkout.shipping_method_code = priced.shipping.code
    checkout.updated_at = utcnow()
    return checkout


def checkout_lines(checkout: Checkout) -> list[CartLine]:
    """Its variants' lines, then a draft's custom lines (the shop's checkouts have none)."""
    return [CartLine(v, q) for v, q in checkout.line_pairs()] + custom_cart_lines(
        checkout.custom_lines
    )


def _context(checkout: Checkout, method: str | None = None) -> PricingContext:
    address = checkout.shipping_address or {}
    # Whether it is the shopper's first order, and their tags, matter to promotions only:
    # not read while none is live.
    promotions = bool(live_set().promotions)
    return PricingContext(
        country=address.get("country") or None,
        region=address.get("region") or None,
        shipping_method_code=method if method is not None else checkout.shipping_method_code,
        customer_id=checkout.customer_id,
        coupon_codes=checkout_codes(checkout),
        email=checkout.email or None,
        first_order=first_order(checkout.customer_id, checkout.email) if promotions else None,
        customer_tags=customer_tags(checkout.customer_id) if promotions else (),
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


@service
def apply_checkout_coupon(checkout: Checkout, *, code: Any, client: str | None = None) -> Checkout:
    """Enter a discount code at checkout (it replaces one entered before, and the cart gets it
    too). Unknown, inactive and used-up codes are refused at the `coupon_code` field; a code
    whose conditions the cart does not meet yet is kept, and the summary says why. Refused
    codes spend the cart's (or checkout's) and the `client` address's guessing budgets."""
    _require_open(checkout)
    text = check_entered(
        code,
        attempt_key=coupon_attempt_key(checkout.cart_id) or checkout.reference,
        client=client,
    )
    _remember_codes(checkout, None)
    enter_code(checkout.reference, text)
    if checkout.cart_id is not None:
        enter_code(cart_reference_for(checkout.cart_id), text)
    checkout.updated_at = utcnow()
    return checkout


@service
def remove_checkout_coupon(checkout: Checkout) -> Checkout:
    _require_open(checkout)
    _remember_codes(checkout, None)
    forget_code(checkout.reference)
    if checkout.cart_id is not None:
        forget_code(cart_reference_for(checkout.cart_id))
    checkout.updated_at = utcnow()
    return checkout


def price_checkout(checkout: Checkout) -> PricedCart:
    return price_cart(checkout_lines(checkout), _context(checkout))


class NothingToShip(ValidationError):
    """A shipping step was asked of a checkout whose lines all need no shipping."""


_SHIPS = "_needs_shipping"  # a loaded checkout's answer (not a column): its lines never change


def _remember_shipping(checkout: Checkout, ships: bool) -> None:
    checkout.__dict__[_SHIPS] = ships


def checkout_needs_shipping(checkout: Checkout, priced: PricedCart | None = None) -> bool:
    """Whether the checkout ships anything, and so asks for a shipping address and method:
    the rule is commerce/pricing/delivery.py's, over its priced lines (gift cards are not
    shipped). Answered from `priced` when given, else from what start_checkout or an earlier
    call found for this loaded checkout, else priced here."""
    if priced is None:
        known = checkout.__dict__.get(_SHIPS)
        if known is not None:
            return bool(known)
        priced = price_checkout(checkout)
    ships = priced.needs_shipping or not priced.lines  # nothing priced: assume it ships
    _remember_shipping(checkout, ships)
    return ships


def reached_step(checkout: Checkout, *, ships: bool) -> str:
    """The first step still to do (information, shipping or payment) for a checkout that
    ships something or not: one with nothing to ship skips the shipping step."""
    if not checkout.email:
        return "information"
    if not ships:
        return "payment"
    if not checkout.shipping_address:
        return "information"
    if not checkout.shipping_method_code:
        return "shipping"
    return "payment"


def next_step(checkout: Checkout, priced: PricedCart | None = None) -> str:
    """The first step still to do: information, shipping or payment (no SQL before the
    email is given, nor when the checkout is priced already)."""
    if not checkout.email:
        return "information"
    return reached_step(checkout, ships=checkout_needs_shipping(checkout, priced))


# -- gift cards and store credit (commerce/giftcards/tenders.py) ---------------------------------


@service
def apply_checkout_gift_card(
    checkout: Checkout, *, code: Any, client: str | None = None
) -> Checkout:
    """Pay (part of) the order with a gift card: its code, checked behind the guessing budgets
    of the checkout's cart and the client address. Its balance is taken at "Place order"."""
    _require_open(checkout)
    tenders.apply_gift_card(
        checkout.reference,
        code,
        currency=shop_currency(),
        attempt_key=coupon_attempt_key(checkout.cart_id) or checkout.reference,
        client=client,
    )
    checkout.updated_at = utcnow()
    return checkout


@service
def use_checkout_store_credit(checkout: Checkout) -> Checkout:
    """A signed-in customer pays (part of) the order with their store credit."""
    _require_open(checkout)
    tenders.apply_store_credit(checkout.reference, customer_id=checkout.customer_id)
    checkout.updated_at = utcnow()
    return checkout


@service
def remove_checkout_tender(checkout: Checkout, *, tender_id: Any) -> Checkout:
    _require_open(checkout)
    tenders.remove_tender(checkout.reference, tender_id)
    checkout.updated_at = utcnow()
    return checkout


def checkout_tenders(checkout: Checkout, priced: PricedCart) -> list[tenders.TenderLine]:
    """The gift cards and credit on the checkout with what each would pay of its total."""
    return tenders.preview(checkout.reference, priced.totals.total, priced.currency)


# -- placing ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Placement:
    """What place_order achieved: an order, or a payment waiting for the shopper's action."""

    order: Order | None = None
    payment: Payment | None = None

    @property
    def requires_action(self) -> bool:
        return self.order is None and self.payment is not None


@dataclass(frozen=True)
class Claim:
    """One placement attempt's ownership of a checkout. `token` is the fencing token: every
    write that completes or releases the checkout checks it in the database, so an attempt
    whose claim was taken over (it was presumed dead) can no longer act on the checkout."""

    checkout: Checkout
    token: str
    # Read when the claim is taken (the checkout is loaded then): later steps use them after
    # commits that expire the checkout, without reloading it.
    checkout_id: int = field(init=False)
    reference: str = field(init=False)
    cart_id: int = field(init=False)

    def __post_init__(self) -> None:
        for name, value in (
            ("checkout_id", self.checkout.id),
            ("reference", self.checkout.reference),
            ("cart_id", self.checkout.cart_id),
        ):
            object.__setattr__(self, name, value)


class CheckoutTakenOver(Conflict):
    """This attempt lost its claim: another one owns the checkout now."""


@service
def _take_claim(checkout_filter: Any, now: datetime) -> str | None:
    """Claim a checkout that is open, or placing for longer than PAYMENTS_IN_FLIGHT_TIMEOUT
    (the process placing it is presumed gone): one conditional UPDATE; its token, or None."""
    token = secrets.token_hex(16)
    claimed = db.session.execute(
        update(Checkout)
        .where(
            checkout_filter,
            or_(
                Checkout.status == OPEN,
                (Checkout.status == PLACING) & (Checkout.placing_since < now - in_flight_timeout()),
            ),
        )
        .values(status=PLACING, placing_since=now, claim_token=token, updated_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    return token if claimed == 1 else None


def _claim(key: str, now: datetime) -> Claim | Placement:
    """Own the checkout for one placement attempt, or say why not."""
    token = _take_claim(Checkout.key == key, now)
    if token is None:
        return _not_claimed(key)
    checkout = get_checkout(key)
    db.session.refresh(checkout)
    return Claim(checkout, token)


def _held(claim: Claim) -> tuple[Any, ...]:
    """The checkout is still placing under this attempt's claim token."""
    return (
        Checkout.id == claim.checkout_id,
        Checkout.status == PLACING,
        Checkout.claim_token == claim.token,
    )


def _owns(claim: Claim) -> bool:
    """The fencing check, inside the caller's transaction: True while this attempt still holds
    the claim. An UPDATE, so the checkout row stays locked until that transaction ends and no
    takeover can slip in between the check and the write it guards."""
    return (
        db.session.execute(
            update(Checkout)
            .where(*_held(claim))
            .values(updated_at=utcnow())
            .execution_options(synchronize_session=False)
        ).rowcount
        == 1
    )


def _end_claim(claim: Claim, status: str = OPEN, **values: Any) -> bool:
    """End this attempt's claim (back to open, completed or abandoned), if it still holds it:
    the fencing check and the write in one conditional UPDATE. The session's copy of the
    checkout, if loaded, gets the same values."""
    values = {
        "status": status,
        "placing_since": None,
        "claim_token": None,
        "updated_at": utcnow(),
        **values,
    }
    ended = (
        db.session.execute(
            update(Checkout)
            .where(*_held(claim))
            .values(**values)
            .execution_options(synchronize_session=False)
        ).rowcount
        == 1
    )
    checkout = claim.checkout
    if ended and "status" in checkout.__dict__:  # loaded (not expired)
        for name, value in values.items():
            set_committed_value(checkout, name, value)
    return ended


@service
def _give_up(claim: Claim, *, uses: bool = True) -> bool:
    """A placement attempt failed before its order: the held promotion uses go back (stock
    stays held until it expires, so the shopper can try another card) and the claim ends.
    An attempt that lost its claim changes nothing: the new owner holds them now. `uses`
    False: this attempt is known to hold none."""
    if not _end_claim(claim):
        return False
    if uses:
        release_uses(claim.reference, held_only=True)
    tenders.release_tenders(claim.reference)  # gift cards and store credit held: back
    return True


@service
def _abandon(claim: Claim, now: datetime) -> bool:
    """A superseded checkout ends for good: its stock and promotion uses go back."""
    if not _end_claim(claim, ABANDONED):
        return False
    tenders.release_tenders(claim.reference)
    release_reservation(claim.reference, now=now)
    release_uses(claim.reference, held_only=True)
    return True


def _ready_to_pay(checkout: Checkout) -> PricedCart:
    priced = price_checkout(checkout)
    ships = checkout_needs_shipping(checkout, priced)
    errors: dict[str, list[str]] = {}
    if not checkout.email:
        errors["email"] = ["Enter your email address."]
    if ships and not checkout.shipping_address:
        errors["shipping_address"] = ["Enter the shipping address."]
    if ships and not checkout.shipping_method_code:
        errors["shipping_method"] = ["Choose a shipping method."]
    if errors:
        raise ValidationError("Some checkout steps are not complete yet.", errors=errors)
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


DECLINE_SCOPE = "declines-address"


def _refuse_card_testing(client: str | None) -> None:
    """Card testing: past DECLINE_RATE_LIMIT declined cards from one client address, payments
    from it are refused for a while, before any provider call (a counter in the limiter's
    storage, no SQL)."""
    wait = throttle.retry_after(current_app.config["DECLINE_RATE_LIMIT"], DECLINE_SCOPE, client)
    if wait is not None:
        raise TooManyAttempts(
            "Too many cards were declined from your connection. You have not been charged; "
            f"please try again in {throttle.in_words(wait)}.",
            field="card_number",
            retry_after=wait,
        )


def _count_decline(exc: PaymentFailed, client: str | None) -> None:
    """A decline the card is to blame for (not a provider error) spends the address's budget."""
    if exc.details.get("decline_code") in CARD_CODES:
        throttle.spend(current_app.config["DECLINE_RATE_LIMIT"], DECLINE_SCOPE, client)


@workflow
def place_order(
    key: str, *, card: Any, now: datetime | None = None, client: str | None = None
) -> Placement:
    """Pay for the checkout and create its order, once, however often it is asked.

    `client` is the shopper's address: its declined cards are counted, and past
    DECLINE_RATE_LIMIT its payments are refused with TooManyAttempts (429) for a while.

    Raises Conflict (409) while another request for this key is running, ValidationError for
    missing steps or card fields, PaymentFailed for a decline (the shopper may try another
    card; the hold stays until it expires), OutOfStock when the hold lapsed and cannot be
    re-taken. Returns Placement(payment=...) when the bank wants the shopper to confirm.

    A retry after a crash finds the attempt's payment by its key; one left pending is asked
    from the provider first, and an authorization that went through is turned into the order
    rather than charged again.

    Round trips: a first attempt costs three commits around the two provider calls. (1) The
    claim, the priced checkout's held promotion uses, the payment's intent and the hold's
    extension (its stock UPDATE, if the hold lapsed and is re-taken, comes last). (2) After
    the authorization: its answer, the order, the checkout's completion (its fencing check),
    the capture's intent and the allocation, whose stock UPDATE comes last. (3) After the
    capture: its answer and the order's paid status. Anything off that path (a retry finding
    a payment, a hold that changed, a code used up meanwhile, another owner) goes the way
    of _pay and _complete, which read everything again."""
    _refuse_card_testing(client)
    try:
        return _place_order(key, card, now or utcnow())
    except PaymentFailed as exc:
        _count_decline(exc, client)
        raise


def _place_order(key: str, card: Any, now: datetime) -> Placement:
    try:
        started = _begin_placing(key, card, now)
    except IntegrityError:  # a payment exists under this attempt's key (rolled back: again)
        started = _begin_placing(key, card, now, careful=True)
    if isinstance(started, Placement):
        return started
    attempt = started
    claim = attempt.claim
    if attempt.retry:  # an earlier attempt left a payment under this attempt's key
        try:
            payment = _pay(claim, attempt.priced, card)
        except BaseException:
            _give_up(claim)
            raise
        if payment is not None and payment.status == REQUIRES_ACTION:
            with transaction():
                _end_claim(claim, payment_id=payment.id)
            return Placement(payment=payment)
        return _placed(claim, Placement(order=_complete(claim, payment, now)))
    if attempt.call is None:  # nothing to pay
        return _placed(claim, Placement(order=_place_paid(attempt, None, now)))
    assert attempt.payment is not None and attempt.card is not None
    try:
        result = send_authorization(attempt.call, attempt.card)
    except BaseException:
        _give_up(claim, uses=bool(attempt.uses))
        raise
    if result is None:
        _give_up(claim, uses=bool(attempt.uses))
        raise unanswered(attempt.call.payment_id)
    if result.status != SUCCEEDED:
        return _placed(claim, _not_authorized(attempt, result))
    return _placed(claim, Placement(order=_place_paid(attempt, result, now)))


def _placed(claim: Claim, placement: Placement) -> Placement:
    """An order was written: the shopper's place in checkout frees up for the next in line."""
    if placement.order is not None:
        checkout_left(claim.cart_id)
    return placement


@dataclass
class _Attempt:
    """One placement attempt between its steps (values that outlive each commit)."""

    claim: Claim
    priced: PricedCart
    uses: list[Use]
    held: list[tuple[int, int]] = field(default_factory=list)
    started: datetime = field(default_factory=utcnow)
    retry: bool = False  # a payment exists under this attempt's key: the careful way
    tendered: int = 0  # paid by gift cards and store credit (held in step 1)
    card: ValidCard | None = None
    payment: Payment | None = None
    call: ProviderCall | None = None


@service
def _begin_placing(
    key: str, card: Any, now: datetime, *, careful: bool = False
) -> _Attempt | Placement:
    """Step 1 in one transaction: claim the checkout (its fencing token), price it, check the
    steps and the card, count its limited promotions, record the payment's intent and keep
    the hold alive through the payment. Anything refused rolls it all back: no claim stays.

    The payment's idempotency key is claimed by its INSERT (a unique column): a payment left
    under it by an earlier attempt makes that fail, and `careful` looks it up first (as does
    a checkout whose bank challenge is waiting)."""
    token = secrets.token_hex(16)
    checkout = db.session.scalars(
        update(Checkout)
        .where(Checkout.key == key, _claimable(now))
        .values(status=PLACING, placing_since=now, claim_token=token, updated_at=now)
        .returning(Checkout)
        .execution_options(synchronize_session=False, populate_existing=True)
    ).first()
    if checkout is None:
        return _not_claimed(key)
    claim = Claim(checkout, token)
    priced = _ready_to_pay(checkout)
    attempt = _Attempt(claim, priced, promotion_uses(priced), started=now)
    # Gift cards and store credit first (conditional UPDATEs: a balance spent meanwhile
    # refuses the placement with nothing charged); the card pays what is left.
    attempt.tendered = tenders.hold_tenders(checkout.reference, total=priced.totals.total, now=now)
    due = priced.totals.total - attempt.tendered
    if due > 0:
        attempt.card = validate_card(card, today=now.date())
    if attempt.uses:  # count them before any card is touched
        hold_uses(
            checkout.reference,
            attempt.uses,
            identities=_identities(checkout),
            currency=priced.currency,
            now=now,
            hold_for=max(_reservation_ttl(), HOLD_DURING_PAYMENT),
        )
    if attempt.card is not None:
        looked_up = careful or checkout.payment_id is not None
        if looked_up and payment_with_key(_payment_key(checkout)) is not None:
            attempt.retry = True
        else:
            attempt.payment, attempt.call = open_authorization(
                reference=checkout.reference,
                money=Money(due, priced.currency),
                card=attempt.card,
                idempotency_key=_payment_key(checkout),
            )
    needed = stock_pairs(checkout.line_pairs(), priced)
    until = now + HOLD_DURING_PAYMENT
    held = held_for(checkout.reference, extend_to=until, now=now)
    if not _hold_fits(held, needed):  # lapsed or changed: taken again, last (stock rows)
        ttl = max(_reservation_ttl(), HOLD_DURING_PAYMENT)
        held = _retake_hold(checkout, needed, now, ttl=ttl)
    attempt.held = held or []
    keep_loaded(checkout, *([attempt.payment] if attempt.payment is not None else []))
    return attempt


def _claimable(now: datetime) -> Any:
    """Open, or placing for longer than PAYMENTS_IN_FLIGHT_TIMEOUT (the process placing it is
    presumed gone)."""
    return or_(
        Checkout.status == OPEN,
        (Checkout.status == PLACING) & (Checkout.placing_since < now - in_flight_timeout()),
    )


def _not_claimed(key: str) -> Placement:
    """Why a checkout could not be claimed: its order (placed), or an error."""
    checkout = get_checkout(key)
    db.session.refresh(checkout)
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


def _not_authorized(attempt: _Attempt, result: ProviderResult) -> Placement:
    """The bank wants the shopper to confirm (the claim ends, the payment waits on the
    checkout), or the card was declined (the claim ends, the uses go back; PaymentFailed)."""
    assert attempt.payment is not None and attempt.call is not None
    claim, payment = attempt.claim, attempt.payment
    with transaction():
        status = record_authorization_answer(payment, attempt.call, result)
        if status == REQUIRES_ACTION:
            _end_claim(claim, payment_id=payment.id)
        elif status == PAYMENT_FAILED and _end_claim(claim):
            if attempt.uses:
                release_uses(claim.reference, held_only=True)
            if attempt.tendered:  # the gift cards' and credit's hold goes back
                tenders.release_tenders(claim.reference)
        keep_loaded(payment)
    if status == REQUIRES_ACTION:
        return Placement(payment=payment)
    if status == PAYMENT_FAILED:
        raise provider_failure(result, payment.id)
    # Recorded meanwhile by another process (a recovery): the careful way from here.
    return Placement(order=_complete(claim, db.session.get(Payment, payment.id), attempt.started))


def _place_paid(attempt: _Attempt, result: ProviderResult | None, now: datetime) -> Order:
    """Step 2 (the authorization went through, or there is nothing to pay) in one
    transaction: the answer recorded, the order written, the checkout completed under its
    fencing token, the promotions redeemed, the cart emptied of what was bought, the
    capture's intent recorded, and the held stock allocated, its stock UPDATE last. Then
    the capture. Anything unexpected rolls it back and goes the careful way (_complete)."""
    claim, priced, payment, call = attempt.claim, attempt.priced, attempt.payment, attempt.call
    checkout = claim.checkout
    capture: ProviderCall | None = None
    try:
        with transaction():
            if payment is not None:
                assert call is not None and result is not None
                if record_authorization_answer(payment, call, result) != PAYMENT_AUTHORIZED:
                    raise _OffThePath()
            order = create_order(
                checkout_key=checkout.key,
                email=checkout.email,
                customer_id=checkout.customer_id,
                shipping_address=checkout.shipping_address,
                priced=priced,
                payment=payment,
                tendered=attempt.tendered,
            )
            if attempt.tendered:
                tenders.redeem_tenders(checkout.reference, order_id=order.id)
            completed = _end_claim(
                claim,
                COMPLETED,
                order_id=order.id,
                payment_id=payment.id if payment is not None else None,
            )
            if not completed:
                raise CheckoutTakenOver(
                    "This checkout is being placed by another attempt.", field="checkout"
                )
            if attempt.uses:
                redeem_uses(
                    checkout.reference,
                    attempt.uses,
                    order_id=order.id,
                    identities=_identities(checkout),
                    currency=priced.currency,
                    now=now,
                )
            if checkout.cart_id is not None:
                forget_code(cart_reference_for(checkout.cart_id))
                take_purchased(checkout.cart_id, checkout.line_pairs())
            if payment is not None and capture_on_placement():
                amount = min(order.total - order.paid_total, payment.authorized_amount)
                capture = open_capture(payment, amount=amount, idempotency_key=capture_key(order))
            if holds_stock(checkout.line_pairs(), priced):
                commit_reservation(
                    checkout.reference,
                    order_reference=order.reference,
                    now=now,
                    expect=attempt.held,
                )
            keep_loaded(checkout, order, *order.lines, *([payment] if payment else []))
    except (CommerceError, IntegrityError, _OffThePath) as exc:
        if isinstance(exc, CheckoutTakenOver):
            raise
        log.info("placing %s the careful way: %s", checkout.key, exc)
        if payment is not None:
            assert call is not None and result is not None
            with transaction():
                record_authorization_answer(payment, call, result)
            payment = db.session.get(Payment, payment.id, populate_existing=True)
        return _complete(claim, payment, now)
    if payment is not None and capture_on_placement():
        if capture is None:  # could not be claimed for the capture: capture_order_payment says why
            return capture_order_payment(order)
        _capture_at_placement(order, payment, capture)
    return order


class _OffThePath(Exception):
    """The placement's first attempt met something it does not expect: go the careful way."""


def _capture_at_placement(order: Order, payment: Payment, call: ProviderCall) -> None:
    """Step 3: the capture recorded at placement is sent, and its answer recorded with the
    order's paid status (or, if refused or unanswered, a timeline entry: the order stays
    authorized; the recovery task asks the provider about an unanswered one)."""
    result = send_capture(call)
    with transaction():
        if result is None:
            record_capture_failure(order, unanswered(payment.id).message)
        elif record_capture_answer(payment, call, result):
            record_paid(order, taken=call.amount)
        else:
            record_capture_failure(order, provider_failure(result, payment.id).message)
        keep_loaded(order, payment)


def _pay(claim: Claim, priced: PricedCart, card: Any) -> Payment | None:
    """Authorize this attempt's payment, or reuse the one a crashed attempt left authorized
    (found by the attempt's key; a pending one is asked from the provider first). A payment
    that cannot serve (waiting for the bank, released, another total) starts a new attempt."""
    checkout = claim.checkout
    due = priced.totals.total - tenders.held_total(checkout.reference)
    if due <= 0:
        return None
    existing = payment_for_key(_payment_key(checkout))
    if existing is not None and existing.status != PAYMENT_PENDING:
        fits = (existing.amount, existing.currency) == (due, priced.currency)
        if existing.status != PAYMENT_AUTHORIZED or not fits:
            if existing.status in (PAYMENT_AUTHORIZED, REQUIRES_ACTION):
                _void_quietly(claim, existing)  # the shopper pays again: release the old one
            with transaction():
                if not _owns(claim):
                    raise CheckoutTakenOver("This checkout is being placed by another attempt.")
                checkout.payment_attempts += 1
    return authorize_payment(
        reference=checkout.reference,
        amount=due,
        currency=priced.currency,
        card=card,
        idempotency_key=_payment_key(checkout),
    )


def _void_quietly(claim: Claim, payment: Payment, *, by: Any = None) -> bool:
    """Release an authorization this attempt will not use, while it still holds the claim (so
    no other attempt can be turning it into the order). A failure is logged and left to the
    recovery task, which voids authorizations that have no order."""
    try:
        void_payment(payment, by=by, guard=lambda: _owns(claim))
    except CommerceError as exc:
        log.warning("could not void payment %s: %s", payment.id, exc.message)
        return False
    return True


@workflow
def complete_payment_action(
    key: str, *, token: str, now: datetime | None = None, client: str | None = None
) -> Placement:
    """The shopper came back from the bank's challenge: confirm the payment, then place. A
    challenge failed counts as a decline against `client` (see `place_order`)."""
    try:
        return _complete_payment_action(key, token, now or utcnow())
    except PaymentFailed as exc:
        _count_decline(exc, client)
        raise


def _complete_payment_action(key: str, token: str, now: datetime) -> Placement:
    claimed = _claim(key, now)
    if isinstance(claimed, Placement):
        return claimed
    claim = claimed
    checkout = claim.checkout
    try:
        payment = db.session.get(Payment, checkout.payment_id) if checkout.payment_id else None
        if payment is None:
            raise InvalidTransition("There is no payment waiting for confirmation.")
        hold_stock(checkout, now=now)
        payment = confirm_payment_action(payment, token)
    except BaseException:
        _give_up(claim)
        raise
    order = _complete(claim, payment, now)
    checkout_left(checkout.cart_id)
    return Placement(order=order)


def _complete(claim: Claim, payment: Payment | None, now: datetime) -> Order:
    """Step 3 and the capture. An order that cannot be written (sold out meanwhile, the total
    changed) releases the payment and the claim; an attempt that lost its claim leaves the
    payment alone, since the checkout's new owner decides what becomes of it."""
    try:
        order = _finish(claim, payment, now)
    except CheckoutTakenOver:
        raise
    except CommerceError:
        if payment is not None:
            _void_quietly(claim, payment)
        _give_up(claim)
        raise
    if capture_on_placement():
        order = capture_order_payment(order)
    return order


def _finish(claim: Claim, payment: Payment | None, now: datetime) -> Order:
    """Step 3: the order, the allocation, the promotions' redemptions and the checkout's
    completion in one transaction, which first checks (and locks) the claim: a process that
    lost it writes nothing."""
    for attempt in (1, 2):
        try:
            with transaction():
                if not _owns(claim):
                    raise CheckoutTakenOver(
                        "This checkout is being placed by another attempt.", field="checkout"
                    )
                checkout = db.session.get(Checkout, claim.checkout_id, populate_existing=True)
                assert checkout is not None
                if payment is not None:
                    current = db.session.get(
                        Payment, payment.id, populate_existing=True, with_for_update=True
                    )
                    if current is None or current.status != PAYMENT_AUTHORIZED:
                        raise Conflict(
                            "The payment is no longer authorized. Please pay again.",
                            field="payment",
                        )
                priced = price_checkout(checkout)
                tendered = tenders.held_total(checkout.reference)
                due = priced.totals.total - tendered
                if (payment.amount if payment is not None else 0) != max(due, 0):
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
                    tendered=tendered,
                )
                if tendered:
                    tenders.redeem_tenders(checkout.reference, order_id=order.id)
                if needed:
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
                checkout.claim_token = None
                checkout.updated_at = utcnow()
                take_purchased(checkout.cart_id, checkout.line_pairs())
            return order
        except IntegrityError:  # another process placed this checkout's order first
            db.session.rollback()
            existing = order_for_checkout(claim.checkout.key)
            if existing is None:
                raise
            return existing
        except Conflict as exc:
            # The hold lapsed and was swept during payment: re-take it once, else give up.
            if attempt == 2 or exc.field != "reference":
                raise
            hold_stock(db.session.get(Checkout, claim.checkout_id), now=now)
    raise AssertionError("unreachable")


# -- settling a checkout whose placement stopped ------------------------------------------------


@dataclass(frozen=True)
class Settlement:
    """What settle_checkout did: ORDER (the payment became the order), RELEASED (money voided
    or nothing to keep; the checkout is open again, or abandoned when superseded), BUSY (an
    attempt is in flight, or the provider's answer may still come: try later) or IDLE."""

    outcome: str
    order: Order | None = None
    voided: int = 0


ORDER_PLACED, RELEASED, BUSY, IDLE = "order", "released", "busy", "idle"


def _loose_payments(reference: str) -> list[Payment]:
    """The checkout's payments that still hold money or may (no order uses them), newest
    first."""
    used = select(Order.payment_id).where(Order.payment_id.is_not(None))
    return list(
        db.session.scalars(
            select(Payment)
            .where(
                Payment.reference == reference,
                Payment.status.in_((PAYMENT_PENDING, REQUIRES_ACTION, PAYMENT_AUTHORIZED, VOIDING)),
                Payment.id.not_in(used),
            )
            .order_by(Payment.id.desc())
            .execution_options(populate_existing=True)
        )
    )


def _hold_is_over(checkout: Checkout, now: datetime) -> bool:
    return not has_live_hold(checkout, now)


@workflow
def settle_checkout(
    checkout_id: int,
    *,
    now: datetime | None = None,
    superseded_by: list[tuple[int, int]] | None = None,
    by: Any = None,
) -> Settlement:
    """Resolve a checkout whose placement stopped halfway (its process died, or the database
    went away), with the payment provider as the source of truth.

    Takes the checkout's claim (it must be open, or placing for longer than the in-flight
    timeout), asks the provider about payments whose answer was lost, then either turns an
    authorized payment into the order (the hold is still there or can be re-taken, the total
    is unchanged, the codes still apply) or voids the money. `superseded_by` is the cart's
    lines when the shopper starts a new checkout of the same cart: the old checkout becomes
    the order only if it holds the same lines, and is otherwise abandoned. Without it (the
    recovery task) a checkout that cannot complete goes back to open, and a payment waiting
    for the bank is voided only once the checkout's hold is over. A finished (completed or
    abandoned) checkout's payments without an order are voided."""
    now = now or utcnow()
    checkout = db.session.get(Checkout, checkout_id, populate_existing=True)
    if checkout is None:
        return Settlement(IDLE)
    if checkout.status in (COMPLETED, ABANDONED):
        voided = 0
        for payment in _loose_payments(checkout.reference):
            payment = settle_payment(payment, now=now, by=by)
            if payment.status in (PAYMENT_AUTHORIZED, REQUIRES_ACTION):
                try:
                    void_payment(payment, by=by)
                    voided += 1
                except CommerceError as exc:
                    log.warning("could not void payment %s: %s", payment.id, exc.message)
        return Settlement(RELEASED if voided else IDLE, voided=voided)
    was = checkout.status
    token = _take_claim(Checkout.id == checkout_id, now)
    if token is None:
        return Settlement(BUSY)
    db.session.refresh(checkout)
    claim = Claim(checkout, token)
    try:
        payments = [settle_payment(p, now=now, by=by) for p in _loose_payments(claim.reference)]
    except BaseException:
        _give_up(claim)
        raise
    if any(p.status in (PAYMENT_PENDING, VOIDING) for p in payments):
        _give_up(claim)  # the provider's answer may still come: later
        return Settlement(BUSY)
    authorized = [p for p in payments if p.status == PAYMENT_AUTHORIZED]
    same_lines = superseded_by is None or sorted(checkout.line_pairs()) == sorted(superseded_by)
    order = None
    if authorized and same_lines:
        try:
            order = _finish(claim, authorized[0], now)
        except CheckoutTakenOver:
            return Settlement(BUSY)
        except CommerceError as exc:
            log.info("checkout %s cannot become its order: %s", checkout_id, exc.message)
    if order is not None:
        voided = 0
        for payment in payments:  # duplicates: the checkout is completed, nothing else uses them
            if payment.id != authorized[0].id and payment.status in (
                PAYMENT_AUTHORIZED,
                REQUIRES_ACTION,
            ):
                try:
                    void_payment(payment, by=by)
                    voided += 1
                except CommerceError as exc:
                    log.warning("could not void payment %s: %s", payment.id, exc.message)
        with transaction():
            order = db.session.get(Order, order.id)
            record_event(
                order,
                "payment.recovered",
                "Placed from an authorized payment whose order had not been written (the "
                "process placing it stopped).",
                by=by,
                payment_id=authorized[0].id,
            )
            audit.record(by, "order.recovered", order, after={"payment_id": authorized[0].id})
        if capture_on_placement():
            order = capture_order_payment(order, by=by)
        return Settlement(ORDER_PLACED, order=order, voided=voided)
    voided = 0
    for payment in payments:
        waiting = payment.status == REQUIRES_ACTION
        if payment.status == PAYMENT_AUTHORIZED or (
            waiting and (superseded_by is not None or _hold_is_over(checkout, now))
        ):
            voided += _void_quietly(claim, payment, by=by)
    ended = _abandon(claim, now) if superseded_by is not None else _give_up(claim)
    if ended:
        with transaction():
            audit.record(
                by,
                "checkout.superseded" if superseded_by is not None else "checkout.released",
                subject_type="checkout",
                subject_id=checkout_id,
                subject_label=claim.reference,
                before={"status": was},
                after={
                    "status": ABANDONED if superseded_by is not None else OPEN,
                    "voided_payments": voided,
                },
            )
    return Settlement(RELEASED, voided=voided)

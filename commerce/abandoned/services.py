"""Abandoned checkout recovery: the shop's settings, the periodic sending, the restore link,
unsubscribing.

`send_due_recovery_emails` (a periodic worker task) finds open checkouts of the shop's carts
with an email, left longer than the shop's delay, and queues a recovery email (and later a
second reminder) through the outbox. Each email is claimed by one conditional UPDATE
(`... SET first_sent_at = :now WHERE checkout_id = :id AND first_sent_at IS NULL`), in the
transaction that queues it: two workers running at once send it once. Never to a shopper who
has ordered since (by email), unsubscribed, or did not consent when the shop asks for
consent; the email consumer checks the first two again just before sending.

The restore link (`/recover/<token>`, signed, expiring) fills a cart with the checkout's
items (and the merchant's recovery code, if set) and returns the shopper into checkout
(`return_to_checkout`): a fresh checkout of that cart, started through the checkout line
like any other (its stock hold; a place in line when the line is full), which starts as far
as the shopper had got with what is still valid (commerce/checkout/services.py prefills it
from the abandoned checkout the cart remembers). Orders placed from that cart are the
recovered revenue. A shopper who has ordered since is told so and nothing is restored.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeSerializer, URLSafeTimedSerializer
from sqlalchemy import and_, exists, select, update
from sqlalchemy.dialects import postgresql, sqlite

from commerce import audit, outbox
from commerce.abandoned.models import (
    FIRST,
    SECOND,
    CheckoutRecovery,
    RecoverySettings,
    RecoveryUnsubscribe,
)
from commerce.checkout.cart import (
    MAX_CART_LINES,
    cart_reference,
    customer_cart,
    new_token,
    sellable_variant,
)
from commerce.checkout.models import COMPLETED, OPEN, Cart, CartLine, Checkout
from commerce.checkout.queue import Entry, enter_checkout
from commerce.customers.models import Customer
from commerce.db import service, transaction, utcnow, workflow
from commerce.errors import CommerceError, Conflict, NotFound, OutOfStock, ValidationError
from commerce.extensions import cache, db
from commerce.orders.models import Order
from commerce.promotions.coupons import check_enterable, enter_code

RECOVERY_TOPIC = "checkout.recovery"  # outbox: one recovery email
CONSENT_CACHE_KEY = "abandoned:require_consent"
MAX_AGE = timedelta(days=7)  # older checkouts are not written to (turning the emails on)
LINK_DAYS = 30
BATCH = 200
_RESTORE_SALT = "checkout-recovery"
_UNSUBSCRIBE_SALT = "recovery-unsubscribe"
MAX_DELAY_MINUTES = 7 * 24 * 60
MAX_SECOND_HOURS = 14 * 24


# -- settings -----------------------------------------------------------------------------------


def recovery_settings() -> RecoverySettings:
    """The shop's settings (their defaults until first saved; nothing is written here)."""
    found = db.session.get(RecoverySettings, 1)
    if found is not None:
        return found
    return RecoverySettings(
        id=1,
        abandoned_after_minutes=60,
        first_email=False,
        second_email=False,
        second_after_hours=24,
        require_consent=False,
        promotion_code="",
    )


def consent_required() -> bool:
    """Whether checkout asks for consent (cached a minute: the information step reads it)."""
    cached = cache.get(CONSENT_CACHE_KEY)
    if cached is None:
        cached = int(recovery_settings().require_consent)
        cache.set(CONSENT_CACHE_KEY, cached, timeout=60)
    return bool(cached)


def _whole(value: Any, field: str, low: int, high: int, what: str) -> int:
    text = str(value if value is not None else "").strip()
    if not text.isdigit() or not low <= int(text) <= high:
        raise ValidationError(f"Enter {what} from {low} to {high:,}.", field=field)
    return int(text)


@service
def save_recovery_settings(
    *,
    abandoned_after_minutes: Any,
    first_email: bool,
    second_email: bool,
    second_after_hours: Any,
    require_consent: bool,
    promotion_code: Any = "",
    by: Any,
) -> RecoverySettings:
    errors: dict[str, list[str]] = {}
    values: dict[str, Any] = {}
    for field, value, low, high, what in (
        ("abandoned_after_minutes", abandoned_after_minutes, 5, MAX_DELAY_MINUTES, "minutes"),
        ("second_after_hours", second_after_hours, 1, MAX_SECOND_HOURS, "hours"),
    ):
        try:
            values[field] = _whole(value, field, low, high, what)
        except ValidationError as exc:
            errors.update(exc.errors)
    code = str(promotion_code or "").strip()
    if code:
        try:
            code = check_enterable(code)
        except ValidationError as exc:
            errors["promotion_code"] = [exc.message]
    if errors:
        raise ValidationError(errors=errors)
    settings = db.session.get(RecoverySettings, 1)
    if settings is None:
        settings = recovery_settings()
        db.session.add(settings)
    before = _described(settings)
    settings.abandoned_after_minutes = values["abandoned_after_minutes"]
    settings.first_email = bool(first_email)
    settings.second_email = bool(second_email)
    settings.second_after_hours = values["second_after_hours"]
    settings.require_consent = bool(require_consent)
    settings.promotion_code = code
    settings.updated_at = utcnow()
    audit.record(
        by, "recovery.settings", settings, subject_id=1, before=before, after=_described(settings)
    )
    cache.delete(CONSENT_CACHE_KEY)
    return settings


def _described(settings: RecoverySettings) -> dict[str, Any]:
    return {
        "abandoned after": f"{settings.abandoned_after_minutes} minutes",
        "recovery email": "on" if settings.first_email else "off",
        "reminder": f"after {settings.second_after_hours} hours"
        if settings.second_email
        else "off",
        "consent required": "yes" if settings.require_consent else "no",
        "code": settings.promotion_code or "(none)",
    }


# -- who is abandoned ---------------------------------------------------------------------------


def abandoned_condition(settings: RecoverySettings, now: datetime) -> Any:
    """An open checkout of a shop cart, with an email, untouched for the shop's delay, whose
    shopper has not ordered since and left no newer checkout."""
    later = Checkout.__table__.alias("later")
    return and_(
        Checkout.status == OPEN,
        Checkout.cart_id.is_not(None),
        Checkout.email != "",
        Checkout.updated_at <= now - timedelta(minutes=settings.abandoned_after_minutes),
        ~exists().where(
            Order.email == Checkout.email,  # both normalised (lower case) when saved
            Order.placed_at >= Checkout.created_at,
        ),
        ~exists().where(later.c.email == Checkout.email, later.c.id > Checkout.id),
    )


def _contactable(settings: RecoverySettings) -> list[Any]:
    conditions = [
        ~exists().where(RecoveryUnsubscribe.email == Checkout.email),
    ]
    if settings.require_consent:
        conditions.append(Checkout.recovery_consent.is_(True))
    return conditions


@service
def send_due_recovery_emails(*, now: datetime | None = None, limit: int = BATCH) -> int:
    """Queue the recovery emails that are due (the periodic task); the number queued. Safe to
    run on several workers at once: each email is claimed by a conditional UPDATE."""
    now = now or utcnow()
    settings = recovery_settings()
    queued = 0
    if settings.first_email:
        due = db.session.scalars(
            select(Checkout.id)
            .where(
                abandoned_condition(settings, now),
                Checkout.updated_at >= now - MAX_AGE,
                *_contactable(settings),
                ~exists().where(
                    CheckoutRecovery.checkout_id == Checkout.id,
                    CheckoutRecovery.first_sent_at.is_not(None),
                ),
            )
            .order_by(Checkout.id)
            .limit(limit)
        ).all()
        emails: dict[int, str] = {
            row.id: row.email
            for row in db.session.execute(
                select(Checkout.id, Checkout.email).where(Checkout.id.in_(due))
            )
        }
        for checkout_id in due:
            _ensure_row(checkout_id, emails[checkout_id], now)
            queued += _claim(checkout_id, FIRST, now)
    if settings.second_email:
        reminded_before = now - timedelta(hours=settings.second_after_hours)
        due = db.session.scalars(
            select(CheckoutRecovery.checkout_id)
            .join(Checkout, Checkout.id == CheckoutRecovery.checkout_id)
            .where(
                abandoned_condition(settings, now),
                *_contactable(settings),
                CheckoutRecovery.first_sent_at <= reminded_before,
                CheckoutRecovery.second_sent_at.is_(None),
                CheckoutRecovery.restored_at.is_(None),
            )
            .order_by(CheckoutRecovery.checkout_id)
            .limit(limit)
        ).all()
        for checkout_id in due:
            queued += _claim(checkout_id, SECOND, now)
    return queued


def _ensure_row(checkout_id: int, email: str, now: datetime) -> None:
    """The checkout's recovery row, made once however many workers get here."""
    values = {
        "checkout_id": checkout_id,
        "email": email.lower(),
        "nonce": secrets.token_hex(16),
        "created_at": now,
    }
    dialect = db.session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    db.session.execute(
        insert(CheckoutRecovery)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["checkout_id"])
    )


def _claim(checkout_id: int, which: str, now: datetime) -> int:
    """Take the email for this checkout (one conditional UPDATE) and queue it; 1 if taken."""
    column = CheckoutRecovery.first_sent_at if which == FIRST else CheckoutRecovery.second_sent_at
    taken = db.session.execute(
        update(CheckoutRecovery)
        .where(CheckoutRecovery.checkout_id == checkout_id, column.is_(None))
        .values({column.key: now})
        .execution_options(synchronize_session=False)
    ).rowcount
    if taken != 1:
        return 0
    outbox.enqueue(RECOVERY_TOPIC, {"checkout_id": checkout_id, "which": which})
    return 1


def still_recoverable(checkout_id: int) -> Checkout | None:
    """At sending time: the checkout, unless it was completed, its shopper ordered since or
    unsubscribed (the consumer sends nothing then)."""
    checkout = db.session.get(Checkout, checkout_id)
    if checkout is None or checkout.status != OPEN or not checkout.email:
        return None
    if ordered_since(checkout) or is_unsubscribed(checkout.email):
        return None
    return checkout


def ordered_since(checkout: Checkout) -> bool:
    """The checkout became an order, or its shopper (by email) ordered after starting it."""
    if checkout.status == COMPLETED:
        return True
    if not checkout.email:
        return False
    ordered = db.session.scalar(
        select(Order.id)
        .where(
            Order.email == checkout.email.lower(),
            Order.placed_at >= checkout.created_at,
        )
        .limit(1)
    )
    return ordered is not None


def is_unsubscribed(email: str) -> bool:
    return db.session.get(RecoveryUnsubscribe, email.lower()) is not None


# -- links --------------------------------------------------------------------------------------


def _restore_serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=_RESTORE_SALT)


def _unsubscribe_serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=_UNSUBSCRIBE_SALT)


def restore_token(recovery: CheckoutRecovery) -> str:
    return str(_restore_serializer().dumps({"c": recovery.checkout_id, "n": recovery.nonce}))


def unsubscribe_token(email: str) -> str:
    return str(_unsubscribe_serializer().dumps({"e": email.lower()}))


def email_from_unsubscribe_token(token: str) -> str:
    try:
        data = _unsubscribe_serializer().loads(token)
    except BadSignature:
        raise NotFound("This link is not valid.") from None
    if not isinstance(data, dict) or not isinstance(data.get("e"), str):
        raise NotFound("This link is not valid.")
    return data["e"]


def _recovery_from_token(token: str) -> CheckoutRecovery:
    try:
        data = _restore_serializer().loads(token, max_age=LINK_DAYS * 86400)
    except SignatureExpired:
        raise NotFound("This link has expired.") from None
    except BadSignature:
        raise NotFound("This link is not valid.") from None
    if not isinstance(data, dict) or not isinstance(data.get("c"), int):
        raise NotFound("This link is not valid.")
    recovery = db.session.get(CheckoutRecovery, data["c"])
    if recovery is None or recovery.nonce != data.get("n"):
        raise NotFound("This link is not valid.")
    return recovery


@service
def restore_cart(
    token: str, *, customer: Customer | None = None, current: Cart | None = None
) -> Cart:
    """The restore link: a cart with the checkout's items still for sale, and the shop's
    recovery code (else the code the shopper had entered); the orders placed from it are
    counted as recovered, and its next checkout starts prefilled from the abandoned one.
    A guest gets a new cart, unless `current` (this browser's cart) is the one this link
    restored before (a second click: the same cart, so no second hold); a signed-in
    `customer` gets the items added to their own cart (the one checkout uses for them).
    NotFound for a forged or expired link; ValidationError when none of the items is for
    sale any more."""
    recovery = _recovery_from_token(token)
    checkout = db.session.get(Checkout, recovery.checkout_id)
    if checkout is None:
        raise NotFound("This link is not valid.")
    restored = [
        (variant_id, quantity)
        for variant_id, quantity in checkout.line_pairs()
        if _for_sale(variant_id)
    ]
    if not restored:
        raise ValidationError("The items you left are no longer for sale.", field="cart")
    if customer is not None:
        cart = customer_cart(customer.id) or Cart(token=new_token(), customer_id=customer.id)
    elif current is not None and current.id == recovery.restored_cart_id:
        cart = current
    else:
        cart = Cart(token=new_token(), customer_id=None)
    have = {line.variant_id: line for line in cart.lines}
    for variant_id, quantity in restored:
        if variant_id in have:
            have[variant_id].quantity = max(have[variant_id].quantity, quantity)
        elif len(cart.lines) < MAX_CART_LINES:
            cart.lines.append(CartLine(variant_id=variant_id, quantity=quantity))
    cart.updated_at = utcnow()
    db.session.add(cart)
    db.session.flush()
    cart.recovered_checkout_id = checkout.id
    code = recovery_settings().promotion_code
    if code:
        enter_code(cart_reference(cart), code)
    if recovery.restored_cart_id != cart.id or recovery.restored_at is None:
        # (a second click into the same cart keeps the first time: the checkouts started
        # since then count as recovered)
        recovery.restored_cart_id = cart.id
        recovery.restored_at = utcnow()
    return cart


def _for_sale(variant_id: int) -> bool:
    try:
        sellable_variant(variant_id)
    except CommerceError:
        return False
    return True


# -- back into checkout -------------------------------------------------------------------------

ENTERED, ORDERED, REFUSED = "entered", "ordered", "refused"


@dataclass(frozen=True)
class Return:
    """Where a recovery link took the shopper: ENTERED (`entry`: in checkout, or a place in
    the checkout line), ORDERED (they ordered since: nothing restored) or REFUSED (the cart
    is back but checkout could not start: `problem`, sold out or a cart to fix)."""

    outcome: str
    cart: Cart | None = None
    entry: Entry | None = None
    problem: CommerceError | None = None


@workflow
def return_to_checkout(
    token: str,
    *,
    binding: Callable[[Cart], str],
    customer: Customer | None = None,
    current: Cart | None = None,
    pricing: Callable[[Cart], Any] | None = None,
) -> Return:
    """The recovery link: the cart restored (restore_cart) and a fresh checkout of it started
    through the checkout line (`enter_checkout`: the normal stock hold, or a place in line
    whose turn starts the same checkout). `binding(cart)` ties a place in line to the
    browser that will hold the cart; `pricing(cart)` prices it for this shopper (once).
    NotFound (404) for a forged or expired link, ValidationError when nothing is for sale
    any more, as restore_cart."""
    recovery = _recovery_from_token(token)
    abandoned = db.session.get(Checkout, recovery.checkout_id)
    if abandoned is None:
        raise NotFound("This link is not valid.")
    if ordered_since(abandoned):
        return Return(ORDERED)
    cart = restore_cart(token, customer=customer, current=current)
    try:
        entry = enter_checkout(
            cart,
            customer=customer,
            binding=binding(cart),
            pricing=(lambda: pricing(cart)) if pricing is not None else None,
        )
    except (ValidationError, OutOfStock, Conflict) as exc:
        return Return(REFUSED, cart=cart, problem=exc)
    return Return(ENTERED, cart=cart, entry=entry)


@service
def unsubscribe(token: str) -> str:
    """No more recovery emails to this address (a repeat is no error); the address."""
    email = email_from_unsubscribe_token(token)
    with transaction():
        if db.session.get(RecoveryUnsubscribe, email) is None:
            db.session.add(RecoveryUnsubscribe(email=email, created_at=utcnow()))
    return email

"""Cart services: add, change, remove, and merge a guest's cart into a customer's at sign-in.

Quantities are checked against what the shop can sell right now (the same counters reservations
use), so the shopper hears "only 3 left" at the cart, not at payment. Nothing is held until
checkout: a cart is a wish list with prices, the reservation is taken when checkout starts.

A discount code entered in the cart is filed under the cart's reference ("cart:<id>", like
stock holds and payments are filed under a checkout's) and goes with it into checkout.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from flask import current_app
from sqlalchemy import and_, case, delete, or_, select, update
from sqlalchemy.orm import joinedload

from commerce.bounds import check_id
from commerce.catalog.models import ACTIVE, CONTINUE, Product, Variant
from commerce.checkout.models import Cart, CartLine
from commerce.db import keep_loaded, service, transaction, utcnow
from commerce.errors import NotFound, ValidationError
from commerce.extensions import db
from commerce.inventory.services import availability
from commerce.pricing import PricingContext
from commerce.promotions.active import remember_revision, revision_column
from commerce.promotions.coupons import check_entered, enter_code, entered_codes, forget_code
from commerce.promotions.models import CouponEntry

MAX_CART_LINES = 50


def new_token() -> str:
    return secrets.token_urlsafe(32)


def max_line_quantity() -> int:
    return int(current_app.config.get("CART_MAX_QUANTITY", 99))


def find_cart(token: str | None) -> Cart | None:
    """A guest's cart by its token, its lines joined (one query, which also reads the
    promotions' revision for pricing the cart next)."""
    if not token:
        return None
    return _cart_where(Cart.token == token)


def customer_cart(customer_id: int) -> Cart | None:
    return _cart_where(Cart.customer_id == customer_id)


def _cart_where(condition: Any) -> Cart | None:
    row = (
        db.session.execute(
            select(Cart, revision_column()).where(condition).options(joinedload(Cart.lines))
        )
        .unique()
        .first()
    )
    if row is None:
        return None
    remember_revision(row[1])
    return row[0]


def parse_quantity(value: Any, *, allow_zero: bool = False) -> int:
    """A whole number within the per-line limit, or ValidationError at the quantity field."""
    text = str(value).strip()
    if len(text) > 12:  # far above any limit (and int() of thousands of digits refuses)
        limit = max_line_quantity()
        raise ValidationError(f"You can buy at most {limit} of one item.", field="quantity")
    try:
        quantity = int(text)
    except (TypeError, ValueError):
        raise ValidationError("Enter the quantity as a whole number.", field="quantity") from None
    lowest = 0 if allow_zero else 1
    if quantity < lowest:
        message = "The quantity cannot be negative." if quantity < 0 else "Enter 1 or more."
        raise ValidationError(message, field="quantity")
    limit = max_line_quantity()
    if quantity > limit:
        raise ValidationError(f"You can buy at most {limit} of one item.", field="quantity")
    return quantity


def sellable_variant(variant_id: Any) -> Variant:
    """A variant of an active product, or NotFound (drafts and archived items are not sold)."""
    variant_id = check_id(variant_id)  # a huge number finds nothing rather than overflowing
    if variant_id is None:
        raise NotFound("That item is not for sale.", field="variant_id")
    variant = db.session.scalar(
        select(Variant)
        .join(Product, Product.id == Variant.product_id)
        .where(Variant.id == variant_id, Product.status == ACTIVE)
    )
    if variant is None:
        raise NotFound("That item is not for sale.", field="variant_id")
    return variant


def check_available(variant: Variant, quantity: int) -> None:
    """ValidationError at the quantity field when the shop cannot sell `quantity` now."""
    if variant.inventory_policy == CONTINUE:
        return  # the merchant sells beyond stock on purpose
    found = availability([variant.id]).get(variant.id)
    if found is None or not found.can_buy:
        raise ValidationError("Sorry, this item is sold out.", field="quantity", available=0)
    if quantity > found.available:
        raise ValidationError(
            f"Only {found.available} left in stock.", field="quantity", available=found.available
        )


def _line(cart: Cart, variant_id: int) -> CartLine | None:
    return next((line for line in cart.lines if line.variant_id == variant_id), None)


@service
def add_to_cart(
    cart: Cart | None, *, variant_id: Any, quantity: Any, customer_id: int | None = None
) -> Cart:
    """Add units of a variant; creates the cart (for `customer_id`, or a guest's) if needed."""
    quantity = parse_quantity(quantity)
    variant = sellable_variant(variant_id)
    existing = _line(cart, variant.id) if cart is not None else None
    total = quantity + (existing.quantity if existing else 0)
    if total > max_line_quantity():
        raise ValidationError(
            f"You can buy at most {max_line_quantity()} of one item"
            + (f"; your cart already has {existing.quantity}." if existing else "."),
            field="quantity",
        )
    try:
        check_available(variant, total)
    except ValidationError as exc:
        if not existing:
            raise
        raise ValidationError(
            f"{exc.message} Your cart already has {existing.quantity}.",
            field="quantity",
            **exc.details,
        ) from None
    if cart is None:
        cart = Cart(token=new_token(), customer_id=customer_id)
        db.session.add(cart)
    if existing is not None:
        existing.quantity = total
    else:
        if len(cart.lines) >= MAX_CART_LINES:
            raise ValidationError(
                f"A cart holds at most {MAX_CART_LINES} different items.", field="variant_id"
            )
        cart.lines.append(CartLine(variant_id=variant.id, quantity=quantity))
    cart.updated_at = utcnow()
    keep_loaded(cart, *cart.lines)  # the page shows its count and cookie right after
    return cart


@service
def set_line_quantity(cart: Cart, *, variant_id: Any, quantity: Any) -> Cart:
    """Change a line's quantity; 0 removes it."""
    quantity = parse_quantity(quantity, allow_zero=True)
    line = _line(cart, _int(variant_id))
    if line is None:
        raise NotFound("That item is not in your cart.", field="variant_id")
    if quantity:
        check_available(sellable_variant(line.variant_id), quantity)
    if quantity:
        line.quantity = quantity
    else:
        cart.lines.remove(line)
    cart.updated_at = utcnow()
    return cart


def remove_from_cart(cart: Cart, *, variant_id: Any) -> Cart:
    line = _line(cart, _int(variant_id))
    if line is None:
        return cart  # already gone: a double click is not an error
    with transaction():
        cart.lines.remove(line)
        cart.updated_at = utcnow()
    return cart


# -- discount codes ------------------------------------------------------------------------------


def cart_reference_for(cart_id: int) -> str:
    return f"cart:{cart_id}"


def cart_reference(cart: Cart) -> str:
    return cart_reference_for(cart.id)


def cart_codes(cart: Cart | None) -> tuple[str, ...]:
    return entered_codes(cart_reference(cart)) if cart is not None and cart.id else ()


@service
def apply_cart_coupon(cart: Cart, *, code: Any, client: str | None = None) -> Cart:
    """Enter a discount code in the cart (replacing one entered before). Unknown, inactive
    and used-up codes are refused at the `coupon_code` field; a code whose conditions the
    cart does not meet yet is kept, and the cart says what is missing. Refused codes are
    counted per cart and per `client` address: past the budget, TooManyAttempts (guessing)."""
    text = check_entered(code, attempt_key=coupon_attempt_key(cart.id), client=client)
    with transaction():
        enter_code(cart_reference(cart), text)
        cart.updated_at = utcnow()
    return cart


def coupon_attempt_key(cart_id: int | None) -> str | None:
    """Whose budget a code entry spends: the cart's, shared with its checkouts."""
    return f"cart:{cart_id}" if cart_id is not None else None


@service
def remove_cart_coupon(cart: Cart) -> Cart:
    forget_code(cart_reference(cart))
    cart.updated_at = utcnow()
    return cart


def cart_context(
    cart: Cart | None, *, customer: Any = None, country: str | None = None
) -> PricingContext:
    """How to price a cart for its shopper: the code entered, who they are (signed in, first
    order) and where it ships, as far as known."""
    from commerce.checkout.services import first_order

    customer_id = customer.id if customer is not None else None
    email = customer.email if customer is not None else None
    return PricingContext(
        country=country or None,
        customer_id=customer_id,
        coupon_codes=cart_codes(cart),
        email=email,
        first_order=first_order(customer_id, email) if customer is not None else None,
        customer_tags=tuple(getattr(customer, "tags", None) or ()),
    )


def take_purchased(cart_id: int | None, lines: list[tuple[int, int]]) -> None:
    """After an order: remove what was bought from the cart it came from (in the caller's
    transaction). Lines the shopper added meanwhile stay; a line the shopper raised keeps the
    difference. One DELETE when everything bought goes (the usual case)."""
    if cart_id is None or not lines:
        return
    bought: dict[int, int] = {}
    for variant_id, quantity in lines:
        bought[variant_id] = bought.get(variant_id, 0) + quantity
    gone = set(
        db.session.scalars(
            delete(CartLine)
            .where(
                CartLine.cart_id == cart_id,
                or_(
                    *(
                        and_(CartLine.variant_id == v, CartLine.quantity <= q)
                        for v, q in bought.items()
                    )
                ),
            )
            .returning(CartLine.variant_id)
            .execution_options(synchronize_session=False)
        )
    )
    rest = {v: q for v, q in bought.items() if v not in gone}
    if rest:
        db.session.execute(
            update(CartLine)
            .where(
                CartLine.cart_id == cart_id,
                or_(
                    *(
                        and_(CartLine.variant_id == v, CartLine.quantity > q)
                        for v, q in rest.items()
                    )
                ),
            )
            .values(quantity=CartLine.quantity - case(rest, value=CartLine.variant_id, else_=0))
            .execution_options(synchronize_session=False)
        )


@dataclass(frozen=True)
class MergeResult:
    cart: Cart | None
    notes: tuple[str, ...] = ()


def merge_carts(guest: Cart | None, *, customer_id: int) -> MergeResult:
    """At sign-in: the guest cart's lines join the customer's saved cart (quantities add up,
    capped at what can be sold and at the per-line limit, with a note for each cap), and the
    guest cart is deleted. Without a saved cart, the guest cart simply becomes the customer's."""
    saved = customer_cart(customer_id)
    if guest is None or guest.customer_id == customer_id:
        return MergeResult(saved or guest)
    notes: list[str] = []
    with transaction():
        if saved is None:
            guest.customer_id = customer_id
            guest.updated_at = utcnow()
            return MergeResult(guest)
        guest_codes = cart_codes(guest)
        if guest_codes and not cart_codes(saved):
            enter_code(cart_reference(saved), guest_codes[0])
        forget_code(cart_reference(guest))
        stock = availability([line.variant_id for line in guest.lines])
        for line in guest.lines:
            existing = _line(saved, line.variant_id)
            wanted = line.quantity + (existing.quantity if existing else 0)
            limit = max_line_quantity()
            found = stock.get(line.variant_id)
            if found is not None and found.available > 0:
                limit = min(limit, found.available)
            elif found is not None and not found.can_buy:
                limit = existing.quantity if existing else 0
            quantity = min(wanted, limit)
            if quantity < wanted:
                notes.append(
                    f"{_label(line.variant_id)}: {quantity} in your cart ({wanted} asked)."
                )
            if existing is not None:
                existing.quantity = max(quantity, 1)
            elif quantity > 0 and len(saved.lines) < MAX_CART_LINES:
                saved.lines.append(CartLine(variant_id=line.variant_id, quantity=quantity))
        db.session.delete(guest)  # its lines go with it
        saved.updated_at = utcnow()
    return MergeResult(saved, tuple(notes))


def _label(variant_id: int) -> str:
    variant = db.session.get(Variant, variant_id)
    if variant is None:
        return "An item"
    product = db.session.get(Product, variant.product_id)
    title = product.title if product else "An item"
    return f"{title} — {variant.title}" if variant.option_values else title


def _int(value: Any) -> int:
    found = check_id(value)
    if found is None:
        raise NotFound("That item is not in your cart.", field="variant_id")
    return found


@service
def purge_stale_carts(*, older_than: timedelta = timedelta(days=30), limit: int = 5000) -> int:
    """Delete guests' carts untouched for `older_than` (customers' carts are kept). Their
    checkouts stay (for the record) with the cart link cleared. Returns carts deleted."""
    cutoff = utcnow() - older_than
    ids = list(
        db.session.scalars(
            select(Cart.id)
            .where(Cart.customer_id.is_(None), Cart.updated_at < cutoff)
            .order_by(Cart.id)
            .limit(limit)
        )
    )
    if ids:
        db.session.execute(delete(CartLine).where(CartLine.cart_id.in_(ids)))
        db.session.execute(delete(Cart).where(Cart.id.in_(ids)))
        db.session.execute(
            delete(CouponEntry).where(
                CouponEntry.reference.in_([cart_reference_for(i) for i in ids])
            )
        )
    return len(ids)

"""Draft orders: build, price, hold stock for, invoice, mark paid, duplicate.

Every verb takes the staff member (`by=`) and writes an audit entry in words. Pricing is the
shop's own: `price_draft` builds the same PricingContext the checkout builds (commerce.checkout
.services._context) under the draft's checkout reference, and the draft's own discount is an
adjustment producer (commerce.drafts.pricing) keyed by that reference, so the checkout the
customer pays through prices every line, code, discount, shipping charge and tax exactly as the
console showed them.

Completing it:
- `send_invoice` makes (or refreshes) the draft's checkout, a plain `Checkout` without a cart,
  and queues the invoice email with a signed, expiring pay link (commerce.drafts.paylink). The
  shopper pays through the shop's normal payment step and `place_order`, with its claim, its
  idempotency keys and its stock rules; the outbox consumer of "order.placed" completes the
  draft (commerce.drafts.tasks).
- `mark_draft_paid` writes the order itself (bank transfer, cash), in one transaction that
  first takes the checkout from "open" by a conditional UPDATE: a shopper paying at that
  moment and staff marking it paid end in one order either way (the UNIQUE checkout key).

Stock is held only when staff ask (`reserve_draft_stock`, for the checkout's RESERVATION_TTL,
swept like any checkout's hold); otherwise it is taken when the order is written, with the same
conditional UPDATEs, and a sold-out line refuses the completion.

Custom items (`add_draft_custom_line`: a title, a price, taxable, requires shipping) are lines
that are no catalog variant: kept in `DraftOrder.custom_lines`, copied to the draft's checkout
(`Checkout.custom_lines`, which only drafts write) and priced by the same pipeline; they hold
no stock and become order lines without a variant. "Mark as paid" records the money as a
payment received outside the shop (commerce.payments.manual), which refunds go back through
without any card provider.
"""

from __future__ import annotations

import secrets
from decimal import Decimal
from typing import Any

from flask import current_app
from sqlalchemy import select, update

from commerce import audit, outbox
from commerce.catalog.models import Product, Variant
from commerce.catalog.services import shop_currency
from commerce.checkout.cart import max_line_quantity, parse_quantity, sellable_variant
from commerce.checkout.custom_lines import custom_cart_lines
from commerce.checkout.models import COMPLETED as CHECKOUT_COMPLETED
from commerce.checkout.models import OPEN as CHECKOUT_OPEN
from commerce.checkout.models import PLACING as CHECKOUT_PLACING
from commerce.checkout.models import Checkout
from commerce.checkout.services import first_order, promotion_uses, stock_pairs
from commerce.customers.models import Customer
from commerce.customers.services import (
    clean_address,
    clean_email,
    customer_tags,
    find_customer_by_email,
)
from commerce.db import keep_loaded, service, utcnow
from commerce.drafts.models import (
    AMOUNT_OFF,
    COMPLETED,
    INVOICED,
    KEY_PREFIX,
    NO_DISCOUNT,
    OPEN,
    PERCENT_OFF,
    DraftOrder,
)
from commerce.drafts.pricing import draft_discount
from commerce.errors import Conflict, InvalidTransition, NotFound, ValidationError
from commerce.extensions import db
from commerce.inventory.services import (
    active_reservations,
    commit_reservation,
    release_reservation,
    reserve_stock,
)
from commerce.money import format_money, parse_amount
from commerce.orders.models import CONSOLE, Order
from commerce.orders.services import create_order, record_event
from commerce.payments.manual import record_manual_payment
from commerce.pricing import (
    COUPON_FIELD,
    CartLine,
    PricedCart,
    PricingContext,
    price_cart,
    register_adjustment_producer,
)
from commerce.pricing.pipeline import MAX_CUSTOM_TITLE
from commerce.promotions.active import live_set, shopper_identities
from commerce.promotions.coupons import check_enterable, enter_code, forget_code
from commerce.promotions.redemptions import PromotionUnavailable, redeem_uses

register_adjustment_producer(draft_discount)  # the draft's own discount, after the promotions

MAX_DRAFT_LINES = 50
INVOICE_TOPIC = "draft.invoice"  # outbox: the invoice email with the pay link
MAX_DISCOUNT_REASON = 120
MAX_NOTE = 2000


def _label(by: Any) -> str:
    return getattr(by, "email", None) or "system"


def new_checkout_key() -> str:
    return f"{KEY_PREFIX}{secrets.token_urlsafe(32)}"


def get_draft(draft_id: Any) -> DraftOrder:
    try:
        found = db.session.get(DraftOrder, int(draft_id))
    except (TypeError, ValueError, OverflowError):
        found = None
    if found is None:
        raise NotFound("No such draft order.")
    return found


def draft_for_checkout_key(key: str) -> DraftOrder | None:
    if not key.startswith(KEY_PREFIX):
        return None
    return db.session.scalar(select(DraftOrder).where(DraftOrder.checkout_key == key))


def draft_checkout(draft: DraftOrder) -> Checkout | None:
    return db.session.scalar(select(Checkout).where(Checkout.key == draft.checkout_key))


# -- pricing ------------------------------------------------------------------------------------


def draft_context(draft: DraftOrder) -> PricingContext:
    """The context the checkout builds for the same facts (checkout.services._context)."""
    address = draft.shipping_address or {}
    promotions = bool(live_set().promotions)
    return PricingContext(
        country=address.get("country") or None,
        region=address.get("region") or None,
        shipping_method_code=draft.shipping_method_code,
        customer_id=draft.customer_id,
        coupon_codes=(draft.coupon_code,) if draft.coupon_code else (),
        email=draft.email or None,
        first_order=first_order(draft.customer_id, draft.email) if promotions else None,
        customer_tags=customer_tags(draft.customer_id) if promotions else (),
        reference=draft.reference,
    )


def price_draft(draft: DraftOrder) -> PricedCart:
    """The draft priced by the shop's pipeline (lines, promotions and codes, the draft's own
    discount, shipping, tax)."""
    return price_cart(
        [CartLine(v, q) for v, q in draft.line_pairs()] + custom_cart_lines(draft.custom_lines),
        draft_context(draft),
    )


def has_items(draft: DraftOrder) -> bool:
    return bool(draft.lines or draft.custom_lines)


def _ready(draft: DraftOrder) -> PricedCart:
    """Priced to the end, or ValidationError naming what is missing."""
    priced = price_draft(draft)
    ships = priced.needs_shipping or not priced.lines  # gift cards alone: nothing to ship
    errors: dict[str, list[str]] = {}
    if not has_items(draft):
        errors["variant_id"] = ["Add at least one item."]
    if not draft.email:
        errors["email"] = ["Enter the customer's email address."]
    if ships and not draft.shipping_address:
        errors["shipping_address"] = ["Enter the shipping address."]
    if ships and not draft.shipping_method_code:
        errors["shipping_method"] = ["Choose a shipping method."]
    if errors:
        raise ValidationError("The draft is not complete yet.", errors=errors)
    if priced.errors:
        raise ValidationError(priced.errors[0].message, field="variant_id")
    if not priced.is_complete:
        raise ValidationError("Choose a shipping method.", field="shipping_method")
    problems = priced.coupon_problems
    if problems:
        raise PromotionUnavailable(problems[0].message, field=COUPON_FIELD)
    return priced


# -- editing ------------------------------------------------------------------------------------


def _editable(draft: DraftOrder) -> None:
    if draft.status == COMPLETED:
        raise InvalidTransition("This draft is completed: it is an order now.", field="draft")


def _touch(draft: DraftOrder) -> None:
    """After an edit: the draft's checkout (if any) follows it, while the customer is not
    paying; a hold for other lines goes back (staff reserve again)."""
    draft.updated_at = utcnow()
    checkout = draft_checkout(draft)
    if checkout is None:
        return
    if checkout.status == CHECKOUT_PLACING:
        raise Conflict(
            "The customer is paying for this draft right now. Try again in a moment.",
            field="draft",
        )
    if checkout.status != CHECKOUT_OPEN:
        raise InvalidTransition("This draft's checkout is finished.", field="draft")
    if sorted(checkout.line_pairs()) != sorted(draft.line_pairs()):
        release_reservation(checkout.reference)
        checkout.reserved_until = None
    _copy_to_checkout(draft, checkout)


def _copy_to_checkout(draft: DraftOrder, checkout: Checkout) -> None:
    checkout.customer_id = draft.customer_id
    checkout.lines = [[v, q] for v, q in draft.line_pairs()]
    checkout.custom_lines = [dict(row) for row in draft.custom_lines or []]
    checkout.email = draft.email
    checkout.shipping_address = dict(draft.shipping_address or {})
    checkout.shipping_method_code = draft.shipping_method_code
    checkout.updated_at = utcnow()
    if draft.coupon_code:
        enter_code(checkout.reference, draft.coupon_code)
    else:
        forget_code(checkout.reference)


def _ensure_checkout(draft: DraftOrder) -> Checkout:
    """The draft's checkout (no cart: it is paid through the pay link), made or refreshed."""
    checkout = draft_checkout(draft)
    if checkout is None:
        now = utcnow()
        checkout = Checkout(
            key=draft.checkout_key,
            cart_id=None,
            status=CHECKOUT_OPEN,
            payment_attempts=0,
            created_at=now,
            updated_at=now,
        )
        db.session.add(checkout)
        _copy_to_checkout(draft, checkout)
        return checkout
    _touch(draft)
    return checkout


@service
def create_draft(*, email: Any = "", by: Any) -> DraftOrder:
    """A new draft, for the customer with this email (a shop account, or a guest's address;
    empty: filled in later)."""
    text = str(email or "").strip()
    cleaned = clean_email(text) if text else ""
    customer = find_customer_by_email(cleaned) if cleaned else None
    draft = DraftOrder(
        status=OPEN,
        checkout_key=new_checkout_key(),
        customer_id=customer.id if customer is not None else None,
        email=cleaned,
        shipping_address=_default_address(customer),
        shipping_method_code="",
        lines=[],
        custom_lines=[],
        coupon_code="",
        discount_kind=NO_DISCOUNT,
        discount_value=0,
        discount_reason="",
        note="",
        created_by=_label(by),
        created_at=utcnow(),
        updated_at=utcnow(),
    )
    db.session.add(draft)
    db.session.flush()
    audit.record(by, "draft_order.create", draft, after={"customer": cleaned or "(none yet)"})
    return draft


def _default_address(customer: Customer | None) -> dict[str, Any]:
    if customer is None or not customer.addresses:
        return {}
    snapshot = customer.addresses[0].snapshot()
    snapshot.pop("is_default", None)
    return snapshot


@service
def set_draft_customer(
    draft: DraftOrder, *, email: Any, address: dict[str, Any], note: Any = "", by: Any
) -> DraftOrder:
    """The customer (by email: their account when they have one), where to ship, a note. An
    address left wholly blank is kept blank (a draft that ships nothing needs none; one that
    ships is not ready until it has one); a partly filled one is checked field by field."""
    _editable(draft)
    errors: dict[str, list[str]] = {}
    try:
        cleaned_email = clean_email(email)
    except ValidationError as exc:
        errors.update(exc.errors)
    cleaned: dict[str, Any] = {}
    if any(str(value or "").strip() for value in (address or {}).values()):
        try:
            cleaned = clean_address(address)
        except ValidationError as exc:
            errors.update(exc.errors)
    note_text = str(note or "").strip()
    if len(note_text) > MAX_NOTE:
        errors["note"] = [f"At most {MAX_NOTE} characters."]
    if errors:
        raise ValidationError(errors=errors)
    before = {"email": draft.email, "ship to": _place(draft.shipping_address)}
    customer = find_customer_by_email(cleaned_email)
    draft.email = cleaned_email
    draft.customer_id = customer.id if customer is not None else None
    draft.shipping_address = cleaned
    draft.note = note_text
    if draft.shipping_method_code:
        priced = price_draft(draft)
        if priced.shipping is None:
            draft.shipping_method_code = ""
    _touch(draft)
    audit.record(
        by,
        "draft_order.customer",
        draft,
        before=before,
        after={"email": cleaned_email, "ship to": _place(cleaned)},
    )
    return draft


def _place(address: dict[str, Any] | None) -> str:
    address = address or {}
    return ", ".join(str(address.get(k)) for k in ("name", "city", "country") if address.get(k))


def _variant_title(variant_id: int) -> str:
    variant = db.session.get(Variant, variant_id)
    if variant is None:
        return f"variant {variant_id}"
    product = db.session.get(Product, variant.product_id)
    name = product.title if product is not None else f"variant {variant_id}"
    if variant.option_values:
        name = f"{name} ({variant.title})"
    return f"{name} [{variant.sku}]" if variant.sku else name


@service
def add_draft_line(draft: DraftOrder, *, variant_id: Any, quantity: Any, by: Any) -> DraftOrder:
    """Add units of a variant for sale (more of one already there adds up). Availability is
    shown beside the search, not required: nothing is held until staff reserve or the order
    is written, and that is when a sold-out line is refused."""
    _editable(draft)
    quantity = parse_quantity(quantity)
    variant = sellable_variant(variant_id)
    lines = draft.line_pairs()
    found = next((i for i, (v, _) in enumerate(lines) if v == variant.id), None)
    if found is None:
        if len(lines) >= MAX_DRAFT_LINES:
            raise ValidationError(
                f"A draft holds at most {MAX_DRAFT_LINES} different items.", field="variant_id"
            )
        lines.append((variant.id, quantity))
    else:
        total = lines[found][1] + quantity
        if total > max_line_quantity():
            raise ValidationError(f"At most {max_line_quantity()} of one item.", field="quantity")
        lines[found] = (variant.id, total)
    draft.lines = [[v, q] for v, q in lines]
    _touch(draft)
    audit.record(
        by,
        "draft_order.add_line",
        draft,
        after={"item": _variant_title(variant.id), "added": quantity},
    )
    return draft


@service
def set_draft_line_quantity(
    draft: DraftOrder, *, variant_id: Any, quantity: Any, by: Any
) -> DraftOrder:
    """Change a line's quantity; 0 removes it."""
    _editable(draft)
    quantity = parse_quantity(quantity, allow_zero=True)
    try:
        wanted = int(variant_id)
    except (TypeError, ValueError):
        wanted = -1
    lines = draft.line_pairs()
    before = dict(lines).get(wanted)
    if before is None:
        raise NotFound("That item is not on this draft.", field="variant_id")
    lines = [(v, quantity if v == wanted else q) for v, q in lines]
    draft.lines = [[v, q] for v, q in lines if q > 0]
    _touch(draft)
    audit.record(
        by,
        "draft_order.line_quantity",
        draft,
        before={"item": _variant_title(wanted), "quantity": before},
        after={"item": _variant_title(wanted), "quantity": quantity},
    )
    return draft


# -- custom items --------------------------------------------------------------------------------


def _flag(value: Any) -> bool:
    """A checkbox's value: present and not "0"/"false"/"off"/"" is yes."""
    if isinstance(value, bool):
        return value
    return str(value or "").strip().lower() not in ("", "0", "false", "off", "no")


def _clean_custom(
    *, title: Any, unit_price: Any, quantity: Any, allow_zero: bool = False
) -> tuple[str, int, int]:
    """A custom item's title, price (minor units of the shop currency, like every console money
    field) and quantity, or one ValidationError naming every bad field."""
    errors: dict[str, list[str]] = {}
    text = str(title or "").strip()
    if not text:
        errors["title"] = ["Enter what the item is."]
    elif len(text) > MAX_CUSTOM_TITLE:
        errors["title"] = [f"At most {MAX_CUSTOM_TITLE} characters."]
    price = 0
    raw = str(unit_price or "").strip()
    if not raw:
        errors["unit_price"] = ["Enter the price of one item."]
    else:
        try:
            price = parse_amount(raw, shop_currency(), field="unit_price")
        except ValidationError as exc:
            errors["unit_price"] = [exc.message]
        else:
            if price < 0:
                errors["unit_price"] = ["The price cannot be negative."]
    count = 0
    try:
        count = parse_quantity(quantity, allow_zero=allow_zero)
    except ValidationError as exc:
        errors["quantity"] = [exc.message]
    if errors:
        raise ValidationError("Check the custom item.", errors=errors)
    return text, price, count


def _custom_label(row: dict[str, Any], currency: str) -> str:
    flags = [] if row.get("taxable", True) else ["no tax"]
    if not row.get("requires_shipping", True):
        flags.append("not shipped")
    extra = f" ({', '.join(flags)})" if flags else ""
    price = format_money(row["unit_price"], currency)
    return f"{row['quantity']} \u00d7 {row['title']} at {price}{extra}"


@service
def add_draft_custom_line(
    draft: DraftOrder,
    *,
    title: Any,
    unit_price: Any,
    quantity: Any = 1,
    taxable: Any = True,
    requires_shipping: Any = True,
    by: Any,
) -> DraftOrder:
    """A line that is no catalog variant (a service, an engraving, an item not in the
    catalog): its own title and price, taxed when taxable, shipped when it requires shipping,
    never holding stock."""
    _editable(draft)
    text, price, count = _clean_custom(title=title, unit_price=unit_price, quantity=quantity)
    rows = [dict(row) for row in draft.custom_lines or []]
    if len(draft.lines) + len(rows) >= MAX_DRAFT_LINES:
        raise ValidationError(
            f"A draft holds at most {MAX_DRAFT_LINES} different items.", field="title"
        )
    row = {
        "key": secrets.token_hex(6),
        "title": text,
        "unit_price": price,
        "quantity": count,
        "taxable": _flag(taxable),
        "requires_shipping": _flag(requires_shipping),
    }
    draft.custom_lines = [*rows, row]
    _custom_changed(draft, "draft_order.add_custom_line", by=by, after=row)
    return draft


def _custom_changed(
    draft: DraftOrder,
    action: str,
    *,
    by: Any,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> None:
    """A custom item was added, changed or removed: the draft is touched and the change
    audited, each side as the item reads (quantity, title, unit price, flags)."""
    _touch(draft)
    currency = shop_currency()
    audit.record(
        by,
        action,
        draft,
        before={"custom item": _custom_label(before, currency)} if before else None,
        after={"custom item": _custom_label(after, currency)} if after else None,
    )


def _custom_row(draft: DraftOrder, key: Any) -> dict[str, Any]:
    wanted = str(key or "")
    found = next((row for row in draft.custom_lines or [] if row.get("key") == wanted), None)
    if not wanted or found is None:
        raise NotFound("That custom item is not on this draft.", field="key")
    return found


@service
def update_draft_custom_line(
    draft: DraftOrder,
    *,
    key: Any,
    title: Any,
    unit_price: Any,
    quantity: Any,
    taxable: Any = True,
    requires_shipping: Any = True,
    by: Any,
) -> DraftOrder:
    """Change a custom item; quantity 0 removes it."""
    _editable(draft)
    before = _custom_row(draft, key)
    text, price, count = _clean_custom(
        title=title, unit_price=unit_price, quantity=quantity, allow_zero=True
    )
    if count == 0:
        return remove_draft_custom_line(draft, key=key, by=by)
    after = {
        **before,
        "title": text,
        "unit_price": price,
        "quantity": count,
        "taxable": _flag(taxable),
        "requires_shipping": _flag(requires_shipping),
    }
    draft.custom_lines = [
        after if row.get("key") == before["key"] else dict(row) for row in draft.custom_lines
    ]
    _custom_changed(draft, "draft_order.custom_line", by=by, before=before, after=after)
    return draft


@service
def remove_draft_custom_line(draft: DraftOrder, *, key: Any, by: Any) -> DraftOrder:
    _editable(draft)
    before = _custom_row(draft, key)
    draft.custom_lines = [
        dict(row) for row in draft.custom_lines if row.get("key") != before["key"]
    ]
    _custom_changed(draft, "draft_order.remove_custom_line", by=by, before=before)
    return draft


@service
def choose_draft_shipping(draft: DraftOrder, *, code: Any, by: Any) -> DraftOrder:
    _editable(draft)
    code = str(code or "").strip()
    if not code:
        raise ValidationError("Choose a shipping method.", field="shipping_method")
    before = draft.shipping_method_code
    draft.shipping_method_code = code
    priced = price_draft(draft)
    if not priced.needs_shipping:
        draft.shipping_method_code = before
        raise ValidationError(
            "Nothing on this draft is shipped: it needs no shipping method.",
            field="shipping_method",
        )
    if not draft.shipping_address:
        draft.shipping_method_code = before
        raise ValidationError("Enter the shipping address first.", field="shipping_method")
    if priced.shipping is None:
        draft.shipping_method_code = before
        raise ValidationError(
            "That shipping method is not available for this address and these items.",
            field="shipping_method",
        )
    draft.shipping_method_code = priced.shipping.code
    _touch(draft)
    audit.record(
        by,
        "draft_order.shipping",
        draft,
        before={"shipping": before or "(none)"},
        after={"shipping": priced.shipping.name},
    )
    return draft


@service
def set_draft_discount(
    draft: DraftOrder, *, kind: Any, value: Any, reason: Any = "", by: Any
) -> DraftOrder:
    """The draft's own discount off the order: an amount ("12.50") or a whole percent ("10");
    kind "" removes it. Applied after the shop's promotions, never below zero."""
    _editable(draft)
    kind = str(kind or "").strip()
    reason_text = str(reason or "").strip()
    if kind not in (NO_DISCOUNT, AMOUNT_OFF, PERCENT_OFF):
        raise ValidationError("Choose an amount or a percentage.", field="discount_kind")
    if len(reason_text) > MAX_DISCOUNT_REASON:
        raise ValidationError(f"At most {MAX_DISCOUNT_REASON} characters.", field="discount_reason")
    amount = 0
    currency = price_draft(draft).currency
    if kind == AMOUNT_OFF:
        amount = parse_amount(str(value or "").strip(), currency, field="discount_value")
        if amount <= 0:
            raise ValidationError("Enter an amount above zero.", field="discount_value")
    elif kind == PERCENT_OFF:
        text = str(value or "").strip().rstrip("%").strip()
        if not text.isdigit() or not 1 <= int(text) <= 100:
            raise ValidationError("Enter a whole percentage from 1 to 100.", field="discount_value")
        amount = int(text)
    before = describe_discount(draft, currency)
    draft.discount_kind = kind
    draft.discount_value = amount
    draft.discount_reason = reason_text if kind else ""
    _touch(draft)
    audit.record(
        by,
        "draft_order.discount",
        draft,
        before={"discount": before},
        after={"discount": describe_discount(draft, currency)},
    )
    return draft


def describe_discount(draft: DraftOrder, currency: str) -> str:
    if draft.discount_kind == AMOUNT_OFF:
        return f"{format_money(draft.discount_value, currency)} off"
    if draft.discount_kind == PERCENT_OFF:
        return f"{draft.discount_value}% off"
    return "none"


def discount_percent(draft: DraftOrder) -> Decimal:
    return Decimal(draft.discount_value)


@service
def set_draft_code(draft: DraftOrder, *, code: Any, by: Any) -> DraftOrder:
    """A discount code on the draft (empty removes it). Staff are not guessing: no budget."""
    _editable(draft)
    text = str(code or "").strip()
    before = draft.coupon_code
    draft.coupon_code = check_enterable(text) if text else ""
    _touch(draft)
    audit.record(
        by,
        "draft_order.code",
        draft,
        before={"code": before or "(none)"},
        after={"code": draft.coupon_code or "(none)"},
    )
    return draft


# -- stock --------------------------------------------------------------------------------------


@service
def reserve_draft_stock(draft: DraftOrder, *, by: Any) -> DraftOrder:
    """Hold the draft's units (and any free gift its promotions add) under its checkout, for
    the checkout's RESERVATION_TTL; OutOfStock names each short line and holds nothing."""
    _editable(draft)
    if not draft.lines:
        raise ValidationError(
            "Add at least one item from the catalog: custom items hold no stock."
            if draft.custom_lines
            else "Add at least one item.",
            field="variant_id",
        )
    priced = price_draft(draft)
    if priced.errors:
        raise ValidationError(priced.errors[0].message, field="variant_id")
    checkout = _ensure_checkout(draft)
    ttl = current_app.config["RESERVATION_TTL"]
    now = utcnow()
    release_reservation(checkout.reference, now=now)
    holds = reserve_stock(
        stock_pairs(draft.line_pairs(), priced), reference=checkout.reference, ttl=ttl, now=now
    )
    checkout.reserved_until = min((h.expires_at for h in holds), default=None)
    audit.record(
        by,
        "draft_order.reserve",
        draft,
        after={
            "units held": sum(h.quantity for h in holds),
            "until": f"{checkout.reserved_until:%Y-%m-%d %H:%M} UTC"
            if checkout.reserved_until
            else "no limit (sold beyond stock)",
        },
    )
    return draft


@service
def release_draft_stock(draft: DraftOrder, *, by: Any) -> DraftOrder:
    checkout = draft_checkout(draft)
    units = release_reservation(checkout.reference) if checkout is not None else 0
    if checkout is not None:
        checkout.reserved_until = None
    audit.record(by, "draft_order.release", draft, after={"units released": units})
    return draft


def held_units(draft: DraftOrder) -> tuple[int, Any]:
    """Units held for the draft now and until when (the earliest hold's end)."""
    now = utcnow()
    holds = [h for h in active_reservations(draft.reference) if h.expires_at > now]
    return sum(h.quantity for h in holds), min((h.expires_at for h in holds), default=None)


# -- completing ---------------------------------------------------------------------------------


@service
def send_invoice(draft: DraftOrder, *, by: Any) -> DraftOrder:
    """Email the customer the invoice with a pay link (a new one each time: earlier links stop
    working). The draft must be complete; its checkout is made or refreshed to match it."""
    _editable(draft)
    priced = _ready(draft)
    _ensure_checkout(draft)
    draft.pay_nonce = secrets.token_hex(16)
    draft.status = INVOICED
    draft.invoice_sent_at = utcnow()
    outbox.enqueue(INVOICE_TOPIC, {"draft_id": draft.id, "nonce": draft.pay_nonce})
    audit.record(
        by,
        "draft_order.invoice",
        draft,
        after={"to": draft.email, "total": format_money(priced.totals.total, priced.currency)},
    )
    return draft


@service
def mark_draft_paid(draft: DraftOrder, *, method: Any = "", by: Any) -> Order:
    """Staff received the money another way (bank transfer, cash): the draft becomes its
    order, paid in full, now, with a payment record of how (a MANUAL payment, so the order's
    payment card, timeline and refunds know it). Its checkout is taken from "open" by one
    conditional UPDATE, so a customer paying through the link at the same moment and this end
    in one order; the stock is allocated from the draft's hold, or taken now (OutOfStock
    refuses, nothing written)."""
    _editable(draft)
    method_text = str(method or "").strip()[:120] or "paid outside the shop"
    priced = _ready(draft)
    now = utcnow()
    checkout = draft_checkout(draft)
    if checkout is not None:
        taken = db.session.execute(
            update(Checkout)
            .where(Checkout.id == checkout.id, Checkout.status == CHECKOUT_OPEN)
            .values(status=CHECKOUT_COMPLETED, updated_at=now)
            .execution_options(synchronize_session=False)
        ).rowcount
        if taken != 1:
            raise Conflict(
                "The customer is paying for this draft through the link right now, or has "
                "paid. Reload the page.",
                field="draft",
            )
    order = create_order(
        checkout_key=draft.checkout_key,
        email=draft.email,
        customer_id=draft.customer_id,
        shipping_address=draft.shipping_address,
        priced=priced,
        payment=None,
    )
    order.channel = CONSOLE
    order.paid_total = order.total
    if order.total > 0:  # the payment record the order's payments and refunds go by
        payment = record_manual_payment(
            reference=order.reference,
            amount=order.total,
            currency=order.currency,
            how=method_text,
            by=by,
        )
        order.payment_id = payment.id
    record_event(
        order,
        "draft.marked_paid",
        f"Created from draft {draft.name} and marked as paid by {_label(by)} "
        f"({method_text}): {format_money(order.total, order.currency)}.",
        by=by,
    )
    redeem_uses(
        draft.reference,
        promotion_uses(priced),
        order_id=order.id,
        identities=shopper_identities(draft.email, draft.customer_id),
        currency=priced.currency,
        now=now,
    )
    _complete(draft, order, now)
    if checkout is not None:
        db.session.execute(
            update(Checkout)
            .where(Checkout.id == checkout.id)
            .values(order_id=order.id)
            .execution_options(synchronize_session=False)
        )
    audit.record(
        by,
        "draft_order.mark_paid",
        draft,
        after={
            "order": order.name,
            "total": format_money(order.total, order.currency),
            "how": method_text,
        },
    )
    # Last: the stock rows' UPDATEs (a live hold that fits becomes the allocation; otherwise
    # the units are held now and allocated at once).
    # Custom items take no stock: a draft of them only has nothing to allocate.
    needed = stock_pairs(draft.line_pairs(), priced)
    held = _held(draft.reference, now)
    if held != needed:
        release_reservation(draft.reference, now=now)
        if needed:
            reserve_stock(needed, reference=draft.reference, now=now)
    if needed:
        commit_reservation(draft.reference, order_reference=order.reference, now=now)
    keep_loaded(order, draft)
    return order


def _held(reference: str, now: Any) -> list[tuple[int, int]]:
    held: dict[int, int] = {}
    for hold in active_reservations(reference):
        if hold.expires_at > now:
            held[hold.variant_id] = held.get(hold.variant_id, 0) + hold.quantity
    return sorted(held.items())


def _complete(draft: DraftOrder, order: Order, now: Any) -> None:
    draft.status = COMPLETED
    draft.order_id = order.id
    draft.completed_at = now
    draft.pay_nonce = None
    draft.updated_at = now


@service
def complete_paid_draft(order_id: int) -> DraftOrder | None:
    """An order was placed through a draft's pay link (the outbox's "order.placed"): the
    draft completes, once, and the order's timeline says where it came from."""
    order = db.session.get(Order, order_id)
    if order is None or not order.checkout_key.startswith(KEY_PREFIX):
        return None
    now = utcnow()
    done = db.session.execute(
        update(DraftOrder)
        .where(DraftOrder.checkout_key == order.checkout_key, DraftOrder.status != COMPLETED)
        .values(
            status=COMPLETED, order_id=order.id, completed_at=now, pay_nonce=None, updated_at=now
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    draft = draft_for_checkout_key(order.checkout_key)
    if done and draft is not None:
        db.session.refresh(draft)
        order.channel = CONSOLE
        record_event(
            order, "draft.paid", f"Paid by the customer through draft {draft.name}'s invoice."
        )
        audit.record(
            None,
            "draft_order.paid",
            draft,
            after={"order": order.name, "total": format_money(order.total, order.currency)},
        )
    return draft


@service
def duplicate_draft(draft: DraftOrder, *, by: Any) -> DraftOrder:
    """A new open draft with the same customer, lines, address, shipping, code and discount."""
    copy = DraftOrder(
        status=OPEN,
        checkout_key=new_checkout_key(),
        customer_id=draft.customer_id,
        email=draft.email,
        shipping_address=dict(draft.shipping_address or {}),
        shipping_method_code=draft.shipping_method_code,
        lines=[list(pair) for pair in draft.lines],
        custom_lines=[dict(row) for row in draft.custom_lines or []],
        coupon_code=draft.coupon_code,
        discount_kind=draft.discount_kind,
        discount_value=draft.discount_value,
        discount_reason=draft.discount_reason,
        note=draft.note,
        created_by=_label(by),
        created_at=utcnow(),
        updated_at=utcnow(),
    )
    db.session.add(copy)
    db.session.flush()
    audit.record(by, "draft_order.duplicate", copy, after={"copied from": draft.name})
    return copy

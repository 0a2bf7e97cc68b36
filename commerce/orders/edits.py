"""Order edits before fulfillment: quantities, removed and added lines, the shipping address.

Everything is repriced through the pricing pipeline: lines already bought keep the unit price
the customer agreed to; added lines take today's price. Stock follows in the same transaction
(more units are reserved and allocated at once, fewer are released from the allocations), and
the money after it: a captured order that now costs less gets the difference refunded, one that
costs more shows a balance due; an authorized one is captured later for the new total.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from sqlalchemy import func, or_, select

from commerce import audit
from commerce.catalog.bundles import snapshot as bundle_snapshot
from commerce.catalog.models import ACTIVE, Product, Variant
from commerce.customers.services import clean_address
from commerce.db import transaction, workflow
from commerce.errors import ErrorPath, InvalidTransition, ValidationError
from commerce.extensions import db
from commerce.inventory.bundles import component_units
from commerce.inventory.services import commit_reservation, release_allocated, reserve_stock
from commerce.money import format_money
from commerce.orders.models import (
    AUTHORIZED,
    OPEN,
    PAID,
    PARTIALLY_PAID,
    PICKING,
    UNFULFILLED,
    Fulfillment,
    Order,
    OrderEvent,
    OrderLine,
)
from commerce.orders.services import record_event, transition
from commerce.pricing import CartLine, CustomItem, PricingContext, price_cart
from commerce.pricing.models import GIFT, SHIPPING_UNAVAILABLE
from commerce.promotions.models import REDEEMED
from commerce.promotions.redemptions import redemptions_for_order

MAX_QUANTITY = 999


def _pricing_context(order: Order, address: dict[str, Any]) -> PricingContext:
    """Price the edit as the order was priced: with the coupon codes it redeemed, as of the
    moment it was placed (a sale that has ended since still holds for this order), and under
    its checkout's reference, so its own redeemed uses do not count against the limits."""
    redeemed = [r for r in redemptions_for_order(order.id) if r.status == REDEEMED]
    return PricingContext(
        country=address.get("country") or None,
        region=address.get("region") or None,
        shipping_method_code=order.shipping_method_code,
        customer_id=order.customer_id,
        email=order.email,
        coupon_codes=tuple(sorted({r.code for r in redeemed if r.code})),
        now=order.placed_at,
        reference=redeemed[0].reference if redeemed else None,
        first_order=not _earlier_orders(order),
    )


def _gift_units(line: OrderLine) -> int:
    """Units of the line a promotion added as a free gift (their discount equals their price)."""
    if line.unit_price <= 0:
        return 0
    given = sum(int(a.get("amount") or 0) for a in line.adjustments or [] if a.get("scope") == GIFT)
    return given // line.unit_price


def _earlier_orders(order: Order) -> bool:
    """Did this shopper order before this order (a "first order" promotion keeps applying)?"""
    same_shopper = Order.email == order.email
    if order.customer_id is not None:
        same_shopper = or_(same_shopper, Order.customer_id == order.customer_id)
    return bool(
        db.session.scalar(
            select(Order.id)
            .where(same_shopper, Order.id != order.id, Order.placed_at < order.placed_at)
            .limit(1)
        )
    )


def _editable(order: Order) -> None:
    if order.status != OPEN:
        raise InvalidTransition(f"A {order.status} order cannot be edited.", field="status")
    picking = db.session.scalar(
        select(func.count(Fulfillment.id)).where(
            Fulfillment.order_id == order.id, Fulfillment.status == PICKING
        )
    )
    if order.fulfillment_status != UNFULFILLED or picking:
        raise InvalidTransition(
            "Only orders not yet picked or shipped can be edited; cancel the parcel first.",
            field="fulfillment_status",
        )
    if order.payment_status not in (AUTHORIZED, PAID):
        raise InvalidTransition(
            f"An order whose payment is {order.payment_status.replace('_', ' ')} cannot be edited.",
            field="payment_status",
        )


def _parse(
    values: dict[int, Any], prefix: str, errors: dict[ErrorPath, list[str]]
) -> dict[int, int]:
    parsed: dict[int, int] = {}
    for key, raw in values.items():
        try:
            quantity = int(raw)
        except (TypeError, ValueError):
            errors[(prefix, key)] = ["Enter a whole number."]
            continue
        if not 0 <= quantity <= MAX_QUANTITY:
            errors[(prefix, key)] = [f"Enter 0 to {MAX_QUANTITY}."]
            continue
        parsed[int(key)] = quantity
    return parsed


@workflow
def edit_order(
    order: Order,
    *,
    quantities: dict[int, Any] | None = None,
    add: dict[int, Any] | None = None,
    shipping_address: dict[str, Any] | None = None,
    reason: str = "",
    by: Any,
) -> Order:
    """Apply an edit: `quantities` maps order line id to its new quantity (0 removes it), `add`
    maps variant id to units to add, `shipping_address` replaces the address. All or nothing;
    errors are keyed by path (("line", id), ("add", variant id), address fields)."""
    _editable(order)
    errors: dict[ErrorPath, list[str]] = {}
    wanted = _parse(quantities or {}, "line", errors)
    added = {v: q for v, q in _parse(add or {}, "add", errors).items() if q}
    lines_by_id = {line.id: line for line in order.lines}
    for line_id, quantity in wanted.items():
        if line_id not in lines_by_id:
            errors[("line", line_id)] = ["That line is not on this order."]
        elif quantity < lines_by_id[line_id].refunded_quantity:
            errors[("line", line_id)] = [
                f"{lines_by_id[line_id].refunded_quantity} of this line were refunded already."
            ]
    address = dict(order.shipping_address)
    if shipping_address is not None:
        try:
            address = clean_address(shipping_address)
        except ValidationError as exc:
            errors.update(exc.errors)
    for variant_id in added:
        variant = db.session.get(Variant, variant_id)
        product = db.session.get(Product, variant.product_id) if variant else None
        if product is None or product.status != ACTIVE:
            errors[("add", variant_id)] = ["That item is not for sale."]
    if errors:
        raise ValidationError("Some changes cannot be made.", errors=errors)

    # The new lines: kept lines at their agreed price, then additions at today's price; custom
    # items (no variant) keep their own title, price and flags.
    new_quantities: dict[int, int] = {}
    agreed: dict[int, int] = {}
    custom: list[CartLine] = []
    for line in order.lines:
        if line.is_custom:
            quantity = wanted.get(line.id, line.quantity)
            if quantity > 0:
                item = CustomItem(str(line.id), line.title, line.taxable, line.requires_shipping)
                custom.append(CartLine(None, quantity, line.unit_price, item))
            continue
        if line.variant_id is None:
            raise InvalidTransition(
                "A line's product no longer exists: the order cannot be edited."
            )
        # Free gift units are not bought: the pipeline adds them again while still earned.
        paid = wanted.get(line.id, line.quantity) - _gift_units(line)
        new_quantities[line.variant_id] = max(paid, 0)
        agreed[line.variant_id] = line.unit_price
    for variant_id, quantity in added.items():
        new_quantities[variant_id] = new_quantities.get(variant_id, 0) + quantity
    kept = {v: q for v, q in new_quantities.items() if q > 0}
    if not kept and not custom:
        raise ValidationError(
            "An order needs at least one item; cancel the order instead.", field="lines"
        )
    priced = price_cart(
        [CartLine(v, q, agreed.get(v)) for v, q in kept.items()] + custom,
        _pricing_context(order, address),
    )
    if any(e.code == SHIPPING_UNAVAILABLE for e in priced.errors) or not priced.is_complete:
        raise ValidationError(
            f"{order.shipping_method_name} does not deliver to that address.", field="country"
        )
    if priced.errors:
        raise ValidationError(
            priced.errors[0].message,
            errors={
                (("add", e.variant_id) if e.variant_id else (e.field or "form")): [e.message]
                for e in priced.errors
            },
        )
    old = {line.variant_id: line.quantity for line in order.lines if not line.is_custom}
    before = _summary(order)
    old_total = order.total
    order_id = order.id
    with transaction():
        edit_number = 1 + int(
            db.session.scalar(
                select(func.count(OrderEvent.id)).where(
                    OrderEvent.order_id == order_id, OrderEvent.kind == "edited"
                )
            )
            or 0
        )
        final = {  # gifts included; custom items hold no stock
            line.item_id: line.quantity for line in priced.lines if not line.is_custom
        }
        # Stock moves by what the lines hold: a bundle's components (as sold, for kept lines).
        sold_as = {line.variant_id: line.components for line in order.lines if line.components}
        sold_as |= {v: c for v, c in bundle_snapshot(set(final) - set(sold_as)).items()}
        old_units = _stock_units(old, sold_as)
        final_units = _stock_units(final, sold_as)
        more = [
            (v, q - old_units.get(v, 0)) for v, q in final_units.items() if q > old_units.get(v, 0)
        ]
        if more:
            hold = f"{order.reference}:edit:{edit_number}"
            reserve_stock(more, reference=hold)
            commit_reservation(hold, order_reference=order.reference)
        for variant_id, quantity in sorted(old_units.items()):
            less = quantity - final_units.get(variant_id, 0)
            if less > 0:
                release_allocated(order.reference, variant_id, less, by=by)
        _rewrite_lines(order, priced, lines_by_id, sold_as)
        order.subtotal = priced.totals.subtotal
        order.discount_total = priced.totals.discounts
        order.shipping_total = priced.totals.shipping
        order.tax_total = priced.totals.tax
        order.total = priced.totals.total
        order.shipping_tax = priced.shipping.tax if priced.shipping else 0
        order.tax_name = priced.tax_name or ""
        order.tax_rate_bps = priced.tax_rate_bps or 0
        order.adjustments = priced.recorded_adjustments()
        order.shipping_address = address
        order.customer_name = str(address.get("name") or "")[:120]
        db.session.flush()
        after = _summary(order)
        change = order.total - old_total
        record_event(
            order,
            "edited",
            _describe(order, old_total, reason),
            by=by,
            before=before,
            after=after,
            difference=change,
        )
        audit.record(by, "order.edit", order, before=before, after=after)
        kept_paid = order.paid_total - order.refunded_total
        if order.payment_status == PAID and order.total > kept_paid:
            transition(
                order,
                "payment_status",
                PARTIALLY_PAID,
                f"Balance due {format_money(order.total - kept_paid, order.currency)}.",
                by=by,
            )
    order = db.session.get(Order, order_id)
    overpaid = order.paid_total - order.refunded_total - order.total
    if overpaid > 0 and order.payment_status in (PAID, PARTIALLY_PAID):
        from commerce.orders.refunds import issue_refund  # refunds sit beside edits

        issue_refund(
            order,
            lines={},
            extra_amount=overpaid,
            reason=f"Order edited{': ' + reason if reason else ''}",
            restock={},
            idempotency_key=f"{order.reference}:edit:{edit_number}:refund",
            by=by,
        )
    return db.session.get(Order, order_id)


def _stock_units(
    quantities: dict[int, int], sold_as: dict[int, list[dict[str, Any]]]
) -> dict[int, int]:
    """Units per variant that lines of these quantities hold: a bundle as its components."""
    units: dict[int, int] = {}
    for variant_id, quantity in quantities.items():
        for held, count in (
            component_units(sold_as[variant_id], quantity)
            if variant_id in sold_as
            else [(variant_id, quantity)]
        ):
            units[held] = units.get(held, 0) + count
    return units


def _rewrite_lines(
    order: Order,
    priced: Any,
    lines_by_id: dict[int, OrderLine],
    sold_as: dict[int, list[dict[str, Any]]],
) -> None:
    by_variant = {line.variant_id: line for line in order.lines if not line.is_custom}
    kept_custom = {p.custom_key for p in priced.lines if p.is_custom}
    for line in list(order.lines):
        gone = (
            str(line.id) not in kept_custom
            if line.is_custom
            else priced.line_for(line.variant_id) is None
        )
        if gone:
            order.lines.remove(line)
    for p in priced.lines:
        line = lines_by_id[int(p.custom_key)] if p.is_custom else by_variant.get(p.variant_id)
        if line is None:
            line = OrderLine(variant_id=p.variant_id, components=sold_as.get(p.variant_id, []))
            order.lines.append(line)
        line.product_id = p.product_id
        line.title = line.title or p.title
        if not p.is_custom:
            line.sku = line.sku or p.sku
        line.quantity = p.quantity
        line.unit_price = p.unit_price
        line.compare_at_price = p.compare_at_price
        line.amount = p.amount
        line.discount = p.discount
        line.tax = p.tax
        line.tax_rate_bps = p.tax_rate_bps or 0
        line.weight_grams = p.weight_grams
        line.adjustments = [asdict(a) for a in p.adjustments]


def _summary(order: Order) -> dict[str, Any]:
    return {
        "lines": {
            line.sku or (line.title if line.is_custom else str(line.variant_id)): line.quantity
            for line in order.lines
        },
        "total": order.total,
        "address": dict(order.shipping_address),
    }


def _describe(order: Order, old_total: int, reason: str) -> str:
    fmt = format_money
    currency = order.currency
    text = f"Order edited: total {fmt(old_total, currency)} → {fmt(order.total, currency)}."
    return f"{text} {reason}".strip() if reason else text

"""Orders with known figures for the report tests, written as rows (the figures are the point:
each order's subtotal, discount and placing time are chosen, not priced by a checkout)."""

from __future__ import annotations

import itertools
from datetime import datetime
from typing import Any

from commerce.extensions import db
from commerce.orders.models import CANCELLED, OPEN, REFUND_SUCCEEDED, Order, OrderLine, Refund
from commerce.promotions.models import REDEEMED, Redemption

_keys = itertools.count(1)


def order(
    placed_at: datetime,
    lines: list[tuple[Any, int, int]] | None = None,
    *,
    discount: int = 0,
    shipping: int = 0,
    cancelled: bool = False,
    currency: str = "USD",
    promotion: Any = None,
    code: str = "",
) -> Order:
    """An order placed at `placed_at` (naive UTC) with `lines` of (product, quantity, unit
    price); the discount falls on the first line. A promotion (and code) redeemed on it takes
    the discount."""
    lines = lines or []
    amounts = [q * p for _product, q, p in lines]
    subtotal = sum(amounts)
    key = next(_keys)
    placed = Order(
        checkout_key=f"report-test-{key}-{placed_at.timestamp()}",
        email=f"buyer{key}@example.com",
        currency=currency,
        subtotal=subtotal,
        discount_total=discount,
        shipping_total=shipping,
        total=subtotal - discount + shipping,
        shipping_method_code="STD",
        shipping_method_name="Standard",
        status=CANCELLED if cancelled else OPEN,
        placed_at=placed_at,
    )
    for i, (product, quantity, price) in enumerate(lines):
        variant = product.variants[0] if product is not None else None
        placed.lines.append(
            OrderLine(
                product_id=product.id if product is not None else None,
                variant_id=variant.id if variant is not None else None,
                title=product.title if product is not None else "Gone",
                sku=variant.sku if variant is not None else None,
                quantity=quantity,
                unit_price=price,
                amount=quantity * price,
                discount=discount if i == 0 else 0,
            )
        )
    db.session.add(placed)
    db.session.flush()
    placed.number = placed.id + 1000
    if promotion is not None:
        db.session.add(
            Redemption(
                promotion_id=promotion.id,
                code=code,
                reference=f"checkout:{key}",
                order_id=placed.id,
                status=REDEEMED,
                amount=discount,
                currency=currency,
            )
        )
    db.session.flush()
    return placed


def refund(placed: Order, amount: int, completed_at: datetime, *, reason: str = "") -> Refund:
    """A succeeded refund of `amount` paid out at `completed_at` (naive UTC)."""
    placed.paid_total = max(placed.paid_total, placed.total)
    made = Refund(
        order_id=placed.id,
        amount=amount,
        currency=placed.currency,
        reason=reason,
        status=REFUND_SUCCEEDED,
        idempotency_key=f"report-refund-{next(_keys)}",
        created_at=completed_at,
        completed_at=completed_at,
    )
    placed.refunded_total += amount
    db.session.add(made)
    db.session.flush()
    return made

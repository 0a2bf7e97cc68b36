"""The console's reads for abandoned checkouts: the list (newest first, filtered, a page at a
time, each with its value at list prices, items, customer and the last step reached; one query
for the page and one for its prices) and the recovered
revenue (orders placed from a cart a recovery link restored)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import func, select

from commerce.abandoned.models import CheckoutRecovery
from commerce.abandoned.services import abandoned_condition, recovery_settings
from commerce.catalog.models import Product, Variant
from commerce.catalog.services import shop_currency
from commerce.checkout.models import COMPLETED, Checkout
from commerce.checkout.services import reached_step
from commerce.db import utcnow
from commerce.extensions import db
from commerce.orders.models import CANCELLED, Order
from commerce.pricing.delivery import needs_shipping

PER_PAGE = 25
FILTERS = {"": "All", "waiting": "Not emailed yet", "emailed": "Emailed", "restored": "Came back"}
STEP_LABELS = {"information": "Contact details", "shipping": "Shipping", "payment": "Payment"}


class _Kind(NamedTuple):
    """What the shipping rule reads of a checkout line (commerce/pricing/delivery.py)."""

    gift_card: bool
    requires_shipping: bool = True


@dataclass(frozen=True)
class AbandonedRow:
    checkout: Checkout
    recovery: CheckoutRecovery | None
    value: int
    items: int
    step: str


@dataclass(frozen=True)
class AbandonedPage:
    rows: list[AbandonedRow]
    page: int
    has_next: bool
    shown: str
    q: str
    currency: str


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def list_abandoned(
    *, shown: str = "", q: str = "", page: int = 1, now: datetime | None = None
) -> AbandonedPage:
    now = now or utcnow()
    shown = shown if shown in FILTERS else ""
    q = (q or "").strip().lower()[:100]
    page = max(page, 1)
    query = (
        select(Checkout, CheckoutRecovery)
        .outerjoin(CheckoutRecovery, CheckoutRecovery.checkout_id == Checkout.id)
        .where(abandoned_condition(recovery_settings(), now))
    )
    if shown == "waiting":
        query = query.where(CheckoutRecovery.first_sent_at.is_(None))
    elif shown == "emailed":
        query = query.where(CheckoutRecovery.first_sent_at.is_not(None))
    elif shown == "restored":
        query = query.where(CheckoutRecovery.restored_at.is_not(None))
    if q:
        query = query.where(func.lower(Checkout.email).like(_like(q), escape="\\"))
    found = db.session.execute(
        query.order_by(Checkout.updated_at.desc(), Checkout.id.desc())
        .offset((page - 1) * PER_PAGE)
        .limit(PER_PAGE + 1)
    ).all()
    shown_rows = found[:PER_PAGE]
    wanted = {v for checkout, _ in shown_rows for v, _ in checkout.line_pairs()}
    found_variants = (
        db.session.execute(
            select(Variant.id, Variant.price, Product.is_gift_card)
            .join(Product, Product.id == Variant.product_id)
            .where(Variant.id.in_(wanted))
        ).all()
        if wanted
        else []
    )
    prices = {row.id: row.price for row in found_variants}
    kinds = {row.id: _Kind(bool(row.is_gift_card)) for row in found_variants}
    rows = [
        AbandonedRow(
            checkout,
            recovery,
            sum(prices.get(v, 0) * n for v, n in checkout.line_pairs()),
            sum(n for _, n in checkout.line_pairs()),
            STEP_LABELS[_step(checkout, kinds)],
        )
        for checkout, recovery in shown_rows
    ]
    return AbandonedPage(rows, page, len(found) > PER_PAGE, shown, q, shop_currency())


def _step(checkout: Checkout, kinds: dict[int, _Kind]) -> str:
    """The last step the shopper reached (a checkout with nothing to ship has no shipping
    step), from the page's one read of its variants."""
    lines = [kinds.get(v, _Kind(False)) for v, _ in checkout.line_pairs()]
    return reached_step(checkout, ships=not lines or needs_shipping(lines))


@dataclass(frozen=True)
class Recovered:
    orders: int
    revenue: int
    currency: str
    emailed: int


def recovered_revenue() -> Recovered:
    """Orders (not cancelled) placed from a cart that a recovery link restored, after it was
    restored, and their total; with how many checkouts were emailed."""
    orders = db.session.execute(
        select(func.count(Order.id), func.coalesce(func.sum(Order.total), 0))
        .select_from(CheckoutRecovery)
        .join(Checkout, Checkout.cart_id == CheckoutRecovery.restored_cart_id)
        .join(Order, Order.id == Checkout.order_id)
        .where(
            Checkout.status == COMPLETED,
            Checkout.created_at >= CheckoutRecovery.restored_at,
            Order.status != CANCELLED,
        )
    ).one()
    emailed = db.session.scalar(
        select(func.count()).where(CheckoutRecovery.first_sent_at.is_not(None))
    )
    return Recovered(int(orders[0]), int(orders[1]), shop_currency(), int(emailed or 0))

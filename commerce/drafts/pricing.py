"""The draft's own discount as a step of the shop's pricing pipeline.

An adjustment producer (commerce.pricing's extension point): when the priced cart's reference
is a draft's checkout (`checkout:draft.<token>`), it adds the discount staff gave on that draft
as an order adjustment. The console's draft page and the checkout the customer pays through
share that reference, so both price it the same. Any other cart costs nothing (no query).
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from sqlalchemy import select

from commerce.drafts.models import AMOUNT_OFF, KEY_PREFIX, PERCENT_OFF, DraftOrder
from commerce.extensions import db
from commerce.pricing import ORDER, Adjustment, PricingNote, PromotionInput
from commerce.promotions.engine import percent_of

REFERENCE_PREFIX = f"checkout:{KEY_PREFIX}"
DEFAULT_LABEL = "Discount"


def draft_discount(view: PromotionInput) -> Iterable[Adjustment | PricingNote]:
    reference = view.context.reference or ""
    if not reference.startswith(REFERENCE_PREFIX):
        return ()
    row = db.session.execute(
        select(
            DraftOrder.discount_kind, DraftOrder.discount_value, DraftOrder.discount_reason
        ).where(DraftOrder.checkout_key == reference.removeprefix("checkout:"))
    ).first()
    if row is None:
        return ()
    kind, value, reason = row
    if kind == AMOUNT_OFF:
        amount = value
    elif kind == PERCENT_OFF:
        amount = percent_of(view.subtotal, Decimal(value))
    else:
        return ()
    if amount <= 0:
        return ()
    label = reason or DEFAULT_LABEL
    if kind == PERCENT_OFF:
        label = f"{label} ({value}%)"
    return (Adjustment(ORDER, amount, label, source="draft"),)

"""The promotions engine plugged into price_cart (an adjustment producer), and the simulator's
"why not" explainer.

Pricing sits above promotions: this module turns the pipeline's view of the cart into the
engine's items, asks commerce.promotions for the live promotions' effects, and hands them back
as Adjustments (sources "promotion:<id>") plus notes about entered coupon codes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from commerce.db import utcnow
from commerce.pricing.models import (
    COUPON_FIELD,
    GIFT,
    LINE,
    ORDER,
    SHIPPING,
    Adjustment,
    CartLine,
    PricedCart,
    PricingContext,
    PricingNote,
    PromotionInput,
)
from commerce.pricing.pipeline import price_cart
from commerce.promotions.active import CartPromotions, every_promotion, promotions_for
from commerce.promotions.engine import CompiledPromotion, Effect, Item

SOURCE_PREFIX = "promotion:"


def source_for(promotion_id: int) -> str:
    return f"{SOURCE_PREFIX}{promotion_id}"


def promotion_id(source: str) -> int | None:
    """The promotion an adjustment came from, or None for another producer's."""
    if not source.startswith(SOURCE_PREFIX):
        return None
    rest = source[len(SOURCE_PREFIX) :]
    return int(rest) if rest.isdigit() else None


def _items(view: PromotionInput) -> list[Item]:
    items = []
    for line in view.lines:
        facts = view.facts.get(line.item_id)
        items.append(
            Item(
                line.item_id,  # a custom line: negative, so no product condition matches it
                line.product_id if line.product_id is not None else line.item_id,
                line.quantity,
                line.unit_price,
                line.amount,
                facts.categories if facts else frozenset(),
                facts.tags if facts else frozenset(),
            )
        )
    return items


def _evaluate(
    view: PromotionInput,
    *,
    explain: bool = False,
    promotions: Sequence[CompiledPromotion] | None = None,
) -> CartPromotions:
    ctx = view.context
    return promotions_for(
        _items(view),
        now=ctx.now,
        country=ctx.country,
        shipping_method=ctx.shipping_method_code,
        customer_id=ctx.customer_id,
        email=ctx.email,
        customer_tags=ctx.customer_tags,
        first_order=ctx.first_order,
        coupon_codes=ctx.coupon_codes,
        reference=ctx.reference,
        explain=explain,
        promotions=promotions,
    )


_SCOPES = {"line": LINE, "order": ORDER, "shipping": SHIPPING, "gift": GIFT}


def _adjustment(effect: Effect) -> Adjustment:
    return Adjustment(
        scope=_SCOPES[effect.kind],
        amount=effect.amount,
        label=effect.label,
        source=source_for(effect.promotion_id),
        variant_id=effect.variant_id,
        rate_bps=effect.rate_bps,
        quantity=effect.quantity,
        methods=effect.methods,
        countries=effect.countries,
        code=effect.code,
    )


def _answer(found: CartPromotions) -> list[Adjustment | PricingNote]:
    answer: list[Adjustment | PricingNote] = [_adjustment(e) for e in found.evaluation.effects]
    for status in found.codes:
        message = f"{status.code} applied." if status.applied else status.message
        answer.append(PricingNote(COUPON_FIELD, message, status.code, status.applied))
    return answer


def promotion_producer(view: PromotionInput) -> list[Adjustment | PricingNote]:
    """The live promotions' adjustments for this cart (registered with the pipeline)."""
    return _answer(_evaluate(view))


def producer_for(promotions: Sequence[CompiledPromotion]) -> Callable[..., Any]:
    """A producer evaluating given compiled promotions instead of the live ones (a simulator
    trying an unsaved draft, property tests)."""

    def producer(view: PromotionInput) -> list[Adjustment | PricingNote]:
        return _answer(_evaluate(view, promotions=promotions))

    return producer


# -- the simulator ------------------------------------------------------------------------------


@dataclass(frozen=True)
class PromotionExplanation:
    """One promotion in a simulated cart: applied with what it took (lines, order and
    shipping, minor units), or why not."""

    promotion_id: int
    name: str
    status: str
    applied: bool
    reason: str = ""
    amount: int = 0
    shipping: int = 0
    code: str = ""


@dataclass(frozen=True)
class Simulation:
    priced: PricedCart
    promotions: tuple[PromotionExplanation, ...]


def explain_promotions(
    lines: Iterable[CartLine],
    context: PricingContext | None = None,
    *,
    promotion_ids: Iterable[int] | None = None,
) -> Simulation:
    """Price `lines` as the shop would (every promotion considered, drafts and paused ones
    included so they can say why they do not apply) and explain each promotion: applied with
    its amounts, or the reason ("subtotal $42.00 is below $50.00", "code SUMMER not entered",
    "starts 1 June"). Reads only."""
    captured: list[CartPromotions] = []
    promotions = every_promotion(promotion_ids)

    def producer(view: PromotionInput) -> list[Adjustment | PricingNote]:
        found = _evaluate(view, explain=True, promotions=promotions)
        captured.append(found)
        return _answer(found)

    priced = price_cart(lines, context, producers=[producer])
    uses = priced.promotion_uses()
    shipping_taken: dict[int, int] = {}
    if priced.shipping is not None:
        for adj in priced.shipping.adjustments:
            pid = promotion_id(adj.source)
            if pid is not None:
                shipping_taken[pid] = shipping_taken.get(pid, 0) + adj.amount
    outcomes = captured[0].evaluation.outcomes if captured else ()
    explained = []
    for outcome in outcomes:
        use = uses.get(source_for(outcome.promotion_id))
        taken = use.amount if use is not None else 0
        shipping = shipping_taken.get(outcome.promotion_id, 0)
        explained.append(
            PromotionExplanation(
                promotion_id=outcome.promotion_id,
                name=outcome.name,
                status=outcome.status,
                applied=outcome.applied,
                reason=outcome.reason,
                amount=taken if outcome.applied else 0,
                shipping=shipping,
                code=outcome.code,
            )
        )
    if not captured:  # an empty cart: every promotion says so
        now = (context.now if context else None) or utcnow()
        explained = [
            PromotionExplanation(p.id, p.name, p.status_at(now), False, "the cart is empty")
            for p in promotions
        ]
    return Simulation(priced, tuple(explained))

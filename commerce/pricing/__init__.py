"""Pricing: price_cart() turns cart lines and a context into a PricedCart, explained.

lines -> promotions (ADJUSTMENT_PRODUCERS, the extension point) -> shipping -> tax -> totals.
Pure: it reads the catalog, promotions, shipping methods and tax rates and writes nothing.
The promotions engine (commerce.promotions) is registered as a producer here.
"""

from commerce.pricing.models import (
    COUPON_FIELD,
    GIFT,
    LINE,
    ORDER,
    SHIPPING,
    Adjustment,
    AdjustmentProducer,
    AppliedAdjustment,
    CartLine,
    CustomItem,
    LineFacts,
    PricedCart,
    PricedLine,
    PricingContext,
    PricingError,
    PricingNote,
    PromotionInput,
    PromotionUse,
    ShippingCharge,
    ShippingOption,
    Totals,
)
from commerce.pricing.pipeline import (
    ADJUSTMENT_PRODUCERS,
    allocate,
    price_cart,
    register_adjustment_producer,
)
from commerce.pricing.promotions import (
    PromotionExplanation,
    Simulation,
    explain_promotions,
    promotion_producer,
)

register_adjustment_producer(promotion_producer)

__all__ = [
    "ADJUSTMENT_PRODUCERS",
    "COUPON_FIELD",
    "GIFT",
    "LINE",
    "ORDER",
    "SHIPPING",
    "Adjustment",
    "AdjustmentProducer",
    "AppliedAdjustment",
    "CartLine",
    "CustomItem",
    "LineFacts",
    "PricedCart",
    "PricedLine",
    "PricingContext",
    "PricingError",
    "PricingNote",
    "PromotionExplanation",
    "PromotionInput",
    "PromotionUse",
    "ShippingCharge",
    "ShippingOption",
    "Simulation",
    "Totals",
    "allocate",
    "explain_promotions",
    "price_cart",
    "promotion_producer",
    "register_adjustment_producer",
]

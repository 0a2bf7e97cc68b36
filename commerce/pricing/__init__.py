"""Pricing: price_cart() turns cart lines and a context into a PricedCart, explained.

lines -> promotions (ADJUSTMENT_PRODUCERS, the extension point) -> shipping -> tax -> totals.
Pure: it reads the catalog, shipping methods and tax rates and writes nothing.
"""

from commerce.pricing.models import (
    LINE,
    ORDER,
    Adjustment,
    AdjustmentProducer,
    AppliedAdjustment,
    CartLine,
    PricedCart,
    PricedLine,
    PricingContext,
    PricingError,
    PromotionInput,
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

__all__ = [
    "ADJUSTMENT_PRODUCERS",
    "LINE",
    "ORDER",
    "Adjustment",
    "AdjustmentProducer",
    "AppliedAdjustment",
    "CartLine",
    "PricedCart",
    "PricedLine",
    "PricingContext",
    "PricingError",
    "PromotionInput",
    "ShippingCharge",
    "ShippingOption",
    "Totals",
    "allocate",
    "price_cart",
    "register_adjustment_producer",
]

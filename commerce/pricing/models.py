"""The pricing pipeline's inputs and results: frozen dataclasses, amounts in int minor units.

Results are plain values (no ORM objects), so templates can show them and the order snapshot
can copy them without touching the database again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

LINE, ORDER = "line", "order"
ADJUSTMENT_SCOPES = (LINE, ORDER)

# PricingError codes
UNKNOWN_VARIANT = "unknown_variant"
UNAVAILABLE_PRODUCT = "unavailable_product"
INVALID_QUANTITY = "invalid_quantity"
CURRENCY_MISMATCH = "currency_mismatch"
SHIPPING_UNAVAILABLE = "shipping_unavailable"


# -- inputs -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CartLine:
    """`unit_price`, when given, is a price agreed earlier (an order edit keeps what the
    customer already bought at its original price); such a line is priced even if its product
    has since been archived."""

    variant_id: int
    quantity: int
    unit_price: int | None = None


@dataclass(frozen=True, slots=True)
class PricingContext:
    """Where and for whom the cart is priced. Without a country there is no shipping or tax
    yet; without a shipping method the result lists the options."""

    country: str | None = None
    region: str | None = None
    shipping_method_code: str | None = None
    customer_id: int | None = None
    coupon_codes: tuple[str, ...] = ()


# -- the promotions extension point -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Adjustment:
    """A discount a producer asks for: `amount` minor units off one line (scope LINE, with
    `variant_id`) or off the order (scope ORDER, allocated over the lines). The pipeline caps
    it so no total goes below zero; what was really taken is in AppliedAdjustment."""

    scope: str
    amount: int
    label: str
    source: str = ""
    variant_id: int | None = None

    def __post_init__(self) -> None:
        if self.scope not in ADJUSTMENT_SCOPES:
            raise ValueError(f"scope must be one of {ADJUSTMENT_SCOPES}")
        if not isinstance(self.amount, int) or isinstance(self.amount, bool) or self.amount < 0:
            raise ValueError("Adjustment.amount must be an int of minor units, 0 or more")
        if self.scope == LINE and self.variant_id is None:
            raise ValueError("a line adjustment names its variant_id")


@dataclass(frozen=True, slots=True)
class AppliedAdjustment:
    """An adjustment as applied: `amount` is what it took (after capping); on a line, an order
    adjustment shows that line's allocated share."""

    scope: str
    amount: int
    label: str
    source: str = ""
    requested: int = 0


@dataclass(frozen=True, slots=True)
class PromotionInput:
    """What an adjustment producer sees: the priced lines before any discount (in canonical
    order, by variant id), the context (country, customer, coupon codes) and the subtotal."""

    currency: str
    lines: tuple[PricedLine, ...]
    subtotal: int
    context: PricingContext


AdjustmentProducer = Callable[[PromotionInput], Iterable[Adjustment]]


# -- results ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PricingError:
    """Something the shopper must fix; `variant_id` names the line, `field` the input."""

    code: str
    message: str
    variant_id: int | None = None
    field: str | None = None


@dataclass(frozen=True, slots=True)
class PricedLine:
    variant_id: int
    product_id: int
    title: str
    sku: str | None
    quantity: int
    unit_price: int
    amount: int  # unit_price * quantity
    compare_at_price: int | None = None
    savings: int = 0  # (compare_at_price - unit_price) * quantity, when compare-at is higher
    weight_grams: int = 0  # for the whole line
    discount: int = 0  # line adjustments plus this line's share of order adjustments
    discounted_amount: int = 0  # amount - discount, never negative
    adjustments: tuple[AppliedAdjustment, ...] = ()
    tax_rate_bps: int | None = None  # None: not computed yet (no country)
    tax: int = 0
    explanations: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ShippingOption:
    code: str
    name: str
    amount: int


@dataclass(frozen=True, slots=True)
class ShippingCharge:
    """The chosen method's price for this cart, and the tax on it."""

    code: str
    name: str
    amount: int
    tax: int = 0
    free_over: int | None = None


@dataclass(frozen=True, slots=True)
class Totals:
    """All int minor units of the shop currency. `total` = subtotal - discounts + shipping,
    plus tax when prices exclude it (inclusive prices already contain it)."""

    subtotal: int = 0
    discounts: int = 0
    shipping: int = 0
    tax: int = 0
    total: int = 0


@dataclass(frozen=True, slots=True)
class PricedCart:
    currency: str
    prices_include_tax: bool
    lines: tuple[PricedLine, ...] = ()
    errors: tuple[PricingError, ...] = ()
    order_adjustments: tuple[AppliedAdjustment, ...] = ()
    shipping: ShippingCharge | None = None
    # None: no country yet; otherwise the methods that can carry this cart, in display order
    shipping_options: tuple[ShippingOption, ...] | None = None
    tax_rate_bps: int | None = None  # None: no country yet
    tax_name: str | None = None
    totals: Totals = field(default_factory=Totals)
    explanations: tuple[str, ...] = ()

    @property
    def needs_address(self) -> bool:
        return self.shipping_options is None

    @property
    def needs_shipping_method(self) -> bool:
        return self.shipping_options is not None and self.shipping is None

    @property
    def is_complete(self) -> bool:
        """Priced to the end: lines, no errors, a country and a shipping method."""
        return bool(self.lines) and not self.errors and self.shipping is not None

    def line_for(self, variant_id: int) -> PricedLine | None:
        return next((line for line in self.lines if line.variant_id == variant_id), None)

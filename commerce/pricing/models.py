"""The pricing pipeline's inputs and results: frozen dataclasses, amounts in int minor units.

Results are plain values (no ORM objects), so templates can show them and the order snapshot
can copy them without touching the database again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from commerce.pricing.delivery import needs_shipping as lines_need_shipping

LINE, ORDER, SHIPPING, GIFT = "line", "order", "shipping", "gift"
ADJUSTMENT_SCOPES = (LINE, ORDER, SHIPPING, GIFT)
FULL_RATE = 10_000  # basis points
COUPON_FIELD = "coupon_code"
TIMES, MINUS = "\u00d7", "\u2212"  # multiplication sign, minus sign

# PricingError codes
UNKNOWN_VARIANT = "unknown_variant"
UNAVAILABLE_PRODUCT = "unavailable_product"
INVALID_QUANTITY = "invalid_quantity"
CURRENCY_MISMATCH = "currency_mismatch"
SHIPPING_UNAVAILABLE = "shipping_unavailable"


# -- inputs -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CustomItem:
    """A line staff typed in that is no catalog variant (a draft order's "custom item"): its
    title, whether tax applies, whether it ships. It holds no stock and weighs nothing; the
    promotions engine sees it as an item of no product, so only promotions on the whole cart
    reach it. `key` tells two custom lines apart (the draft's own id for the line)."""

    key: str
    title: str
    taxable: bool = True
    requires_shipping: bool = True


@dataclass(frozen=True, slots=True)
class CartLine:
    """`unit_price`, when given, is a price agreed earlier (an order edit keeps what the
    customer already bought at its original price); such a line is priced even if its product
    has since been archived. A custom line (`custom`, no `variant_id`) always has its price."""

    variant_id: int | None
    quantity: int
    unit_price: int | None = None
    custom: CustomItem | None = None


@dataclass(frozen=True, slots=True)
class PricingContext:
    """Where and for whom the cart is priced. Without a country there is no shipping or tax
    yet; without a shipping method the result lists the options.

    For promotions: `email` and `customer_id` identify the shopper (per-customer limits),
    `customer_tags` and `first_order` (None: not known yet) are facts the caller knows,
    `now` (UTC; default the clock) is when to evaluate schedules, and `reference` is the
    checkout's, so its own held coupon use does not count against it."""

    country: str | None = None
    region: str | None = None
    shipping_method_code: str | None = None
    customer_id: int | None = None
    coupon_codes: tuple[str, ...] = ()
    email: str | None = None
    customer_tags: tuple[str, ...] = ()
    first_order: bool | None = None
    now: datetime | None = None
    reference: str | None = None


# -- the promotions extension point -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Adjustment:
    """A discount a producer asks for, applied in the order produced:

    - LINE: `amount` minor units off one line (`variant_id`);
    - ORDER: `amount` off the order, allocated over what is left of the lines;
    - SHIPPING: `amount` plus `rate_bps` (10000 = all) of the shipping price off, for the
      `methods` / `countries` given (none: any);
    - GIFT: `quantity` units of `variant_id` added to the cart at no charge (a line at its
      price with a LINE adjustment of the same amount), while the variant can be sold.

    The pipeline caps every amount so no line, order or shipping charge goes below zero; what
    was really taken is in AppliedAdjustment. `code` is the coupon code that unlocked it."""

    scope: str
    amount: int
    label: str
    source: str = ""
    variant_id: int | None = None
    rate_bps: int = 0
    quantity: int = 0
    methods: tuple[str, ...] = ()
    countries: tuple[str, ...] = ()
    code: str = ""

    def __post_init__(self) -> None:
        if self.scope not in ADJUSTMENT_SCOPES:
            raise ValueError(f"scope must be one of {ADJUSTMENT_SCOPES}")
        if not isinstance(self.amount, int) or isinstance(self.amount, bool) or self.amount < 0:
            raise ValueError("Adjustment.amount must be an int of minor units, 0 or more")
        if self.scope in (LINE, GIFT) and self.variant_id is None:
            raise ValueError(f"a {self.scope} adjustment names its variant_id")
        if self.scope == GIFT and (not isinstance(self.quantity, int) or self.quantity < 1):
            raise ValueError("a gift adjustment gives 1 unit or more")
        if not 0 <= self.rate_bps <= FULL_RATE:
            raise ValueError("rate_bps is from 0 to 10000")


@dataclass(frozen=True, slots=True)
class AppliedAdjustment:
    """An adjustment as applied: `amount` is what it took (after capping); on a line, an order
    adjustment shows that line's allocated share."""

    scope: str
    amount: int
    label: str
    source: str = ""
    requested: int = 0
    code: str = ""


@dataclass(frozen=True, slots=True)
class LineFacts:
    """What promotions match a line on, beyond its ids: the product's category and every
    ancestor, and its tags (lower-case)."""

    categories: frozenset[int] = frozenset()
    tags: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class PromotionInput:
    """What an adjustment producer sees: the priced lines before any discount (in canonical
    order, by variant id), the context (country, customer, coupon codes), the subtotal, and
    each line's facts by variant id."""

    currency: str
    lines: tuple[PricedLine, ...]
    subtotal: int
    context: PricingContext
    facts: Mapping[int, LineFacts] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PricingNote:
    """Something to tell the shopper next to a field that does not make the cart unpriceable:
    an entered coupon code that applies (`applied`) or why it does not, a gift that ran out.
    A producer may yield notes among its adjustments."""

    field: str
    message: str
    code: str = ""
    applied: bool = False


AdjustmentProducer = Callable[[PromotionInput], Iterable["Adjustment | PricingNote"]]


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
    variant_id: int | None  # None: a custom line (custom_key names it)
    product_id: int | None
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
    gift_quantity: int = 0  # units of `quantity` a promotion added as a free gift
    currency: str = ""
    prices_include_tax: bool = False
    # A gift card (the product's flag): never discounted, untaxed at sale (tax is due on what
    # the card buys later), weighs nothing, and is not shipped (its code is emailed).
    gift_card: bool = False
    # The variant's average unit cost (for the order line's cost of goods; None: unknown).
    unit_cost: int | None = None
    # A bundle (its stock is its components'): read with the line's variant, so an order
    # without one reads no bundle rows.
    bundle: bool = False
    # A custom line (CartLine.custom): its key and position among the custom lines (from 1),
    # whether tax applies and whether it ships (False: delivered without shipping, see
    # commerce/pricing/delivery.py).
    custom_key: str = ""
    custom_seq: int = 0
    taxable: bool = True
    requires_shipping: bool = True

    @property
    def is_custom(self) -> bool:
        return self.variant_id is None

    @property
    def item_id(self) -> int:
        """The line's id in the pipeline and the promotions engine: its variant's, or for a
        custom line a negative number no product or variant condition can match."""
        return self.variant_id if self.variant_id is not None else -self.custom_seq

    @property
    def explanations(self) -> tuple[str, ...]:
        """How the line's total came about ("2 x $10.00", "Summer sale -20%: -$4.00", "Tax
        20%: $3.20"), worked out when asked."""
        from commerce.money import format_money

        def fmt(amount: int) -> str:
            return format_money(amount, self.currency)

        notes = [f"{self.quantity} {TIMES} {fmt(self.unit_price)}"]
        if self.savings:
            notes.append(
                f"Was {fmt(self.compare_at_price or 0)} each: you save {fmt(self.savings)}"
            )
        notes.extend(
            f"{adj.label}: {MINUS}{fmt(adj.amount)}" for adj in self.adjustments if adj.amount
        )
        if self.tax_rate_bps is not None:
            included = " (included)" if self.prices_include_tax else ""
            rate = f"{Decimal(self.tax_rate_bps) / 100:f}"
            notes.append(f"Tax {rate}%{included}: {fmt(self.tax)}")
        return tuple(notes)


@dataclass(frozen=True, slots=True)
class ShippingOption:
    code: str
    name: str
    amount: int  # after shipping discounts
    discount: int = 0


@dataclass(frozen=True, slots=True)
class ShippingCharge:
    """The chosen method's price for this cart (after shipping discounts: `discount` is what
    promotions took off), and the tax on that price."""

    code: str
    name: str
    amount: int
    tax: int = 0
    free_over: int | None = None
    discount: int = 0
    adjustments: tuple[AppliedAdjustment, ...] = ()


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
    notes: tuple[PricingNote, ...] = ()

    @property
    def needs_address(self) -> bool:
        return self.shipping_options is None

    @property
    def needs_shipping_method(self) -> bool:
        return self.shipping_options is not None and self.shipping is None

    @property
    def needs_shipping(self) -> bool:
        """Whether any line is shipped (commerce/pricing/delivery.py decides); when none is,
        there is no address to ask, no method to choose and no shipping charge."""
        return lines_need_shipping(self.lines)

    @property
    def is_complete(self) -> bool:
        """Priced to the end: lines, no errors, and a shipping method when anything ships."""
        return (
            bool(self.lines)
            and not self.errors
            and (self.shipping is not None or not self.needs_shipping)
        )

    def line_for(self, variant_id: int) -> PricedLine | None:
        return next((line for line in self.lines if line.variant_id == variant_id), None)

    def notes_for(self, field_name: str) -> tuple[PricingNote, ...]:
        return tuple(note for note in self.notes if note.field == field_name)

    @property
    def coupon_problems(self) -> tuple[PricingNote, ...]:
        """Entered codes that do not apply: placing the order must not silently drop them."""
        return tuple(n for n in self.notes if n.field == COUPON_FIELD and not n.applied)

    def recorded_adjustments(self) -> list[dict[str, Any]]:
        """What an order keeps of its own adjustments: order-level discounts, then the chosen
        shipping's discounts (scope "shipping"), so documents can name them."""
        kept = list(self.order_adjustments)
        if self.shipping is not None:
            kept += self.shipping.adjustments
        return [asdict(adj) for adj in kept]

    def promotion_uses(self) -> dict[str, PromotionUse]:
        """What each adjustment source (a promotion) took: line adjustments, order
        adjustments and shipping discounts, with the code that unlocked it. Order discounts
        are counted once (their per-line shares are not added again)."""
        uses: dict[str, PromotionUse] = {}

        def add(adj: AppliedAdjustment) -> None:
            if not adj.source:
                return
            found = uses.get(adj.source)
            uses[adj.source] = PromotionUse(
                adj.source,
                (found.amount if found else 0) + adj.amount,
                (found.code if found and found.code else adj.code),
            )

        for line in self.lines:
            for adj in line.adjustments:
                if adj.scope in (LINE, GIFT):
                    add(adj)
        for adj in self.order_adjustments:
            add(adj)
        if self.shipping is not None:
            for adj in self.shipping.adjustments:
                add(adj)
        return uses


@dataclass(frozen=True, slots=True)
class PromotionUse:
    source: str
    amount: int
    code: str = ""

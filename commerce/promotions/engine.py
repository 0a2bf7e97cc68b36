"""The promotions engine: compiled promotions evaluated over a cart, with no database access.

Semantics (deterministic; the same cart gives the same result whatever order its lines came in):

- Promotions run in priority order (lower number first, then lower id). Each is checked in
  turn: schedule and state, coupon requirement, usage limits, then its conditions (all or
  any). Conditions look at the cart as it is before any promotion (subtotal, quantities), so
  they never depend on what another promotion took.
- Stacking is decided greedily in that order: a promotion applies only if it is compatible both
  ways with every promotion already applied. `exclusive` is compatible with nothing;
  `combinable` with anything that accepts it; `shipping_only` only with promotions whose
  actions all discount shipping. An eligible promotion that produces nothing does not block
  later ones. Priority decides, not the best deal.
- Actions compute against what is left of each line after the promotions before it (so two
  percentages compound), are capped at what is left (no line and no order goes below zero),
  round half-even to the minor unit, and an order-wide discount is split over the lines with
  `allocate` (largest remainder), so the shares sum exactly to it. Thresholds (tiers) look at
  the cart before promotions, like conditions.
- Effects say what to take and from where (line, order, shipping, gift); pricing applies them
  in the order given. Shipping and gift effects are resolved by pricing, which knows the
  shipping methods and the stock.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time
from decimal import ROUND_HALF_EVEN, Decimal
from functools import cached_property
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_datetime

from commerce.money import format_amount_plain
from commerce.promotions import rules as r
from commerce.promotions.models import (
    ACTIVE,
    ALL,
    COMBINABLE,
    DRAFT,
    EXCLUSIVE,
    EXPIRED,
    PAUSED,
    SCHEDULED,
    SHIPPING_ONLY,
    derive_status,
)

LINE, ORDER, SHIPPING, GIFT = "line", "order", "shipping", "gift"
MINUS = "\u2212"
FULL_RATE = 10_000  # basis points: 100 %

Formatter = Callable[[int], str]


# -- arithmetic ---------------------------------------------------------------------------------


def allocate(total: int, weights: Sequence[int]) -> tuple[int, ...]:
    """Split `total` minor units over `weights` in proportion, summing exactly to `total`.

    Largest-remainder method: each share starts at the floor of its exact share, and the units
    left over go one each to the largest remainders (ties: the larger weight, then the earlier
    position). Every share is therefore the floor or the ceiling of its exact share, so a share
    never exceeds its weight when `total` <= sum(weights).
    """
    if not isinstance(total, int) or total < 0:
        raise ValueError("total must be an int, 0 or more")
    if any(not isinstance(w, int) or w < 0 for w in weights):
        raise ValueError("weights must be ints, 0 or more")
    whole = sum(weights)
    if total > whole:
        raise ValueError(f"cannot allocate {total} over weights summing to {whole}")
    if total == 0:
        return tuple(0 for _ in weights)
    shares = []
    remainders = []
    for index, weight in enumerate(weights):
        share, remainder = divmod(total * weight, whole)
        shares.append(share)
        remainders.append((-remainder, -weight, index))
    left = total - sum(shares)
    for _, _, index in sorted(remainders)[:left]:
        shares[index] += 1
    return tuple(shares)


def percent_of(amount: Decimal | int, percent: Decimal) -> int:
    """`percent` % of `amount` minor units, rounded half-even to a whole minor unit."""
    exact = Decimal(amount) * percent / 100
    return int(exact.quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


# -- inputs -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Item:
    """One cart line as the engine sees it (its price before any promotion)."""

    variant_id: int
    product_id: int
    quantity: int
    unit_price: int
    amount: int
    categories: frozenset[int] = frozenset()  # its category and every ancestor
    tags: frozenset[str] = frozenset()  # lower-case
    collections: frozenset[int] = frozenset()


@dataclass(frozen=True, slots=True)
class Shopper:
    """Who buys, where, when, with which codes. `codes` maps each usable entered code to the
    promotion it unlocks; `blocked` names promotions whose usage limits are reached."""

    now: datetime  # UTC, naive
    currency: str
    country: str | None = None
    shipping_method: str | None = None
    customer_id: int | None = None
    customer_tags: frozenset[str] = frozenset()
    first_order: bool | None = None  # None: not known yet (a guest before the email)
    codes: Mapping[str, int] = field(default_factory=dict)
    blocked: Mapping[int, str] = field(default_factory=dict)


# -- results ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Effect:
    """What a promotion takes. LINE: `amount` off `variant_id`'s line. ORDER: `amount` off the
    order, split over the lines by what is left of them. SHIPPING: `rate_bps` of the shipping
    price (for `methods` / `countries` when given). GIFT: `quantity` units of `variant_id`
    added free."""

    kind: str
    promotion_id: int
    label: str
    amount: int = 0
    variant_id: int | None = None
    quantity: int = 0
    rate_bps: int = 0
    methods: tuple[str, ...] = ()
    countries: tuple[str, ...] = ()
    code: str = ""


@dataclass(frozen=True, slots=True)
class Outcome:
    """Why a promotion applied (with what it took from lines and order) or why it did not."""

    promotion_id: int
    name: str
    status: str
    applied: bool
    reason: str = ""
    amount: int = 0
    code: str = ""


@dataclass(frozen=True, slots=True)
class Evaluation:
    effects: tuple[Effect, ...] = ()
    outcomes: tuple[Outcome, ...] = ()  # only for the promotions asked to be explained
    applied: tuple[int, ...] = ()  # promotion ids, in the order they applied


# -- the cart as conditions see it --------------------------------------------------------------


class Selector:
    """Which items a row is about: any include list matches (none: everything), minus any
    exclude list."""

    __slots__ = ("exclude", "include", "is_everything")

    def __init__(self, params: Mapping[str, Any] | None) -> None:
        params = params or {}

        def lists(prefix: str) -> tuple[frozenset[Any], ...]:
            return tuple(
                frozenset(params.get(f"{prefix}{name}") or ()) for name in r.SELECTOR_LISTS
            )

        self.include = lists("")
        self.exclude = lists("exclude_")
        self.is_everything = not any(self.include)

    def matches(self, item: Item) -> bool:
        products, variants, categories, collections, tags = self.include
        if not self.is_everything and not (
            item.product_id in products
            or item.variant_id in variants
            or (categories and not categories.isdisjoint(item.categories))
            or (collections and not collections.isdisjoint(item.collections))
            or (tags and not tags.isdisjoint(item.tags))
        ):
            return False
        x_products, x_variants, x_categories, x_collections, x_tags = self.exclude
        return not (
            item.product_id in x_products
            or item.variant_id in x_variants
            or (x_categories and not x_categories.isdisjoint(item.categories))
            or (x_collections and not x_collections.isdisjoint(item.collections))
            or (x_tags and not x_tags.isdisjoint(item.tags))
        )

    @property
    def collections(self) -> frozenset[int]:
        return self.include[3] | self.exclude[3]


class Cart:
    """The items in canonical order (by variant id) with memoised selector matches."""

    __slots__ = ("_matches", "items", "subtotal")

    def __init__(self, items: Sequence[Item]) -> None:
        self.items = tuple(sorted(items, key=lambda item: item.variant_id))
        self.subtotal = sum(item.amount for item in self.items)
        self._matches: dict[int, tuple[int, ...]] = {}

    def matching(self, selector: Selector) -> tuple[int, ...]:
        found = self._matches.get(id(selector))
        if found is None:
            if selector.is_everything and not any(selector.exclude):
                found = tuple(range(len(self.items)))
            else:
                found = tuple(i for i, item in enumerate(self.items) if selector.matches(item))
            self._matches[id(selector)] = found
        return found

    def amount_of(self, selector: Selector) -> int:
        return sum(self.items[i].amount for i in self.matching(selector))

    def units_of(self, selector: Selector) -> int:
        return sum(self.items[i].quantity for i in self.matching(selector))


# -- conditions ---------------------------------------------------------------------------------


class Condition:
    kind = ""

    def holds(self, cart: Cart, shopper: Shopper, promo: CompiledPromotion) -> bool:
        raise NotImplementedError

    def why_not(
        self, cart: Cart, shopper: Shopper, promo: CompiledPromotion, fmt: Formatter
    ) -> str:
        raise NotImplementedError

    collections: frozenset[int] = frozenset()


class SubtotalAtLeast(Condition):
    def __init__(self, params: Mapping[str, Any]) -> None:
        self.amount = int(params["amount"])
        self.items = Selector(params.get("items"))
        self.collections = self.items.collections

    def holds(self, cart: Cart, shopper: Shopper, promo: CompiledPromotion) -> bool:
        return cart.amount_of(self.items) >= self.amount

    def why_not(
        self, cart: Cart, shopper: Shopper, promo: CompiledPromotion, fmt: Formatter
    ) -> str:
        what = "subtotal" if self.items.is_everything else "eligible items total"
        return f"{what} {fmt(cart.amount_of(self.items))} is below {fmt(self.amount)}"


class QuantityAtLeast(Condition):
    def __init__(self, params: Mapping[str, Any]) -> None:
        self.quantity = int(params["quantity"])
        self.items = Selector(params.get("items"))
        self.collections = self.items.collections

    def holds(self, cart: Cart, shopper: Shopper, promo: CompiledPromotion) -> bool:
        return cart.units_of(self.items) >= self.quantity

    def why_not(
        self, cart: Cart, shopper: Shopper, promo: CompiledPromotion, fmt: Formatter
    ) -> str:
        units = cart.units_of(self.items)
        what = "items" if self.items.is_everything else "eligible items"
        return f"{units} {what} in the cart, {self.quantity} needed"


class CartContains(Condition):
    def __init__(self, params: Mapping[str, Any]) -> None:
        self.items = Selector(params.get("items"))
        self.collections = self.items.collections

    def holds(self, cart: Cart, shopper: Shopper, promo: CompiledPromotion) -> bool:
        return bool(cart.matching(self.items))

    def why_not(
        self, cart: Cart, shopper: Shopper, promo: CompiledPromotion, fmt: Formatter
    ) -> str:
        return "the cart has none of the eligible items"


class CartExcludes(CartContains):
    def holds(self, cart: Cart, shopper: Shopper, promo: CompiledPromotion) -> bool:
        return not cart.matching(self.items)

    def why_not(
        self, cart: Cart, shopper: Shopper, promo: CompiledPromotion, fmt: Formatter
    ) -> str:
        return "the cart contains an item this promotion excludes"


class CustomerSignedIn(Condition):
    def __init__(self, params: Mapping[str, Any]) -> None:
        pass

    def holds(self, cart: Cart, shopper: Shopper, promo: CompiledPromotion) -> bool:
        return shopper.customer_id is not None

    def why_not(
        self, cart: Cart, shopper: Shopper, promo: CompiledPromotion, fmt: Formatter
    ) -> str:
        return "the customer is not signed in"


class CustomerTag(Condition):
    def __init__(self, params: Mapping[str, Any]) -> None:
        self.tags = frozenset(str(t).lower() for t in params["tags"])

    def holds(self, cart: Cart, shopper: Shopper, promo: CompiledPromotion) -> bool:
        return not self.tags.isdisjoint(shopper.customer_tags)

    def why_not(
        self, cart: Cart, shopper: Shopper, promo: CompiledPromotion, fmt: Formatter
    ) -> str:
        return f"the customer is not tagged {_or(sorted(self.tags))}"


class FirstOrder(Condition):
    def __init__(self, params: Mapping[str, Any]) -> None:
        pass

    def holds(self, cart: Cart, shopper: Shopper, promo: CompiledPromotion) -> bool:
        return shopper.first_order is True

    def why_not(
        self, cart: Cart, shopper: Shopper, promo: CompiledPromotion, fmt: Formatter
    ) -> str:
        if shopper.first_order is None:
            return "first orders are recognised once the customer signs in or gives an email"
        return "not the customer's first order"


class ShippingCountry(Condition):
    def __init__(self, params: Mapping[str, Any]) -> None:
        self.countries = frozenset(params["countries"])

    def holds(self, cart: Cart, shopper: Shopper, promo: CompiledPromotion) -> bool:
        return shopper.country in self.countries

    def why_not(
        self, cart: Cart, shopper: Shopper, promo: CompiledPromotion, fmt: Formatter
    ) -> str:
        if shopper.country is None:
            return f"only when shipping to {_or(sorted(self.countries))}; no address yet"
        return f"ships to {shopper.country}, not {_or(sorted(self.countries))}"


class CouponEntered(Condition):
    def __init__(self, params: Mapping[str, Any]) -> None:
        pass

    def holds(self, cart: Cart, shopper: Shopper, promo: CompiledPromotion) -> bool:
        return promo.id in shopper.codes.values()

    def why_not(
        self, cart: Cart, shopper: Shopper, promo: CompiledPromotion, fmt: Formatter
    ) -> str:
        return promo.code_missing()


class TimeWindow(Condition):
    def __init__(self, params: Mapping[str, Any]) -> None:
        self.weekdays = frozenset(params.get("weekdays") or ())
        self.start = r.parse_time(params["start"]) if params.get("start") else None
        self.end = r.parse_time(params["end"]) if params.get("end") else None

    def holds(self, cart: Cart, shopper: Shopper, promo: CompiledPromotion) -> bool:
        local = promo.local(shopper.now)
        if self.weekdays and local.weekday() not in self.weekdays:
            return False
        moment = local.time()
        if self.start is not None and moment < self.start:
            return False
        return not (self.end is not None and moment >= self.end)

    def why_not(
        self, cart: Cart, shopper: Shopper, promo: CompiledPromotion, fmt: Formatter
    ) -> str:
        parts = []
        if self.weekdays:
            parts.append("on " + ", ".join(r.WEEKDAY_NAMES[d] for d in sorted(self.weekdays)))
        if self.start or self.end:
            start = _hhmm(self.start or time(0, 0))
            parts.append(f"from {start} to {_hhmm(self.end)}" if self.end else f"from {start}")
        return f"only {' '.join(parts)} ({promo.zone.key})"


CONDITIONS: dict[str, type[Condition]] = {
    r.SUBTOTAL_AT_LEAST: SubtotalAtLeast,
    r.QUANTITY_AT_LEAST: QuantityAtLeast,
    r.CART_CONTAINS: CartContains,
    r.CART_EXCLUDES: CartExcludes,
    r.CUSTOMER_SIGNED_IN: CustomerSignedIn,
    r.CUSTOMER_TAG: CustomerTag,
    r.FIRST_ORDER: FirstOrder,
    r.SHIPPING_COUNTRY: ShippingCountry,
    r.COUPON_CODE: CouponEntered,
    r.TIME_WINDOW: TimeWindow,
}


# -- actions ------------------------------------------------------------------------------------


class State:
    """What is left of each line (canonical order) as promotions take their share."""

    __slots__ = ("cart", "remaining")

    def __init__(self, cart: Cart) -> None:
        self.cart = cart
        self.remaining = [item.amount for item in cart.items]

    def take_lines(self, wanted: Mapping[int, int], promo_id: int, label: str) -> list[Effect]:
        effects = []
        for i in sorted(wanted):
            amount = min(wanted[i], self.remaining[i])
            if amount > 0:
                self.remaining[i] -= amount
                variant_id = self.cart.items[i].variant_id
                effects.append(Effect(LINE, promo_id, label, amount, variant_id=variant_id))
        return effects

    def take_order(self, amount: int, promo_id: int, label: str) -> list[Effect]:
        amount = min(amount, sum(self.remaining))
        if amount <= 0:
            return []
        for i, share in enumerate(allocate(amount, self.remaining)):
            self.remaining[i] -= share
        return [Effect(ORDER, promo_id, label, amount)]

    def take_spread(
        self, amount: int, indexes: Sequence[int], promo_id: int, label: str
    ) -> list[Effect]:
        """An amount split over some lines only (as line effects)."""
        if len(indexes) == len(self.remaining):
            return self.take_order(amount, promo_id, label)
        weights = [self.remaining[i] for i in indexes]
        amount = min(amount, sum(weights))
        if amount <= 0:
            return []
        shares = allocate(amount, weights)
        return self.take_lines(dict(zip(indexes, shares, strict=True)), promo_id, label)


class Action:
    kind = ""
    shipping = False
    collections: frozenset[int] = frozenset()

    def apply(self, state: State, shopper: Shopper, promo: CompiledPromotion) -> list[Effect]:
        raise NotImplementedError

    def why_none(self, cart: Cart, shopper: Shopper, fmt: Formatter) -> str:
        return "nothing in the cart qualifies"

    def label(self, promo: CompiledPromotion) -> str:
        return promo.name


class _ItemsAction(Action):
    def __init__(self, params: Mapping[str, Any]) -> None:
        self.items = Selector(params.get("items"))
        self.collections = self.items.collections

    def why_none(self, cart: Cart, shopper: Shopper, fmt: Formatter) -> str:
        if not cart.items:
            return "the cart is empty"
        if not cart.matching(self.items):
            return "no eligible items in the cart"
        return "the eligible items are already fully discounted"


class PercentOffItems(_ItemsAction):
    def __init__(self, params: Mapping[str, Any]) -> None:
        super().__init__(params)
        self.percent = Decimal(params["percent"])

    def label(self, promo: CompiledPromotion) -> str:
        return f"{promo.name} {MINUS}{r.format_percent(self.percent)}%"

    def apply(self, state: State, shopper: Shopper, promo: CompiledPromotion) -> list[Effect]:
        wanted = {
            i: percent_of(state.remaining[i], self.percent) for i in state.cart.matching(self.items)
        }
        return state.take_lines(wanted, promo.id, self.label(promo))


class AmountOffItems(_ItemsAction):
    def __init__(self, params: Mapping[str, Any]) -> None:
        super().__init__(params)
        self.amount = int(params["amount"])

    def apply(self, state: State, shopper: Shopper, promo: CompiledPromotion) -> list[Effect]:
        items = state.cart.items
        wanted = {i: self.amount * items[i].quantity for i in state.cart.matching(self.items)}
        return state.take_lines(wanted, promo.id, self.label(promo))


class FixedPriceItems(_ItemsAction):
    def __init__(self, params: Mapping[str, Any]) -> None:
        super().__init__(params)
        self.price = int(params["price"])

    def apply(self, state: State, shopper: Shopper, promo: CompiledPromotion) -> list[Effect]:
        items = state.cart.items
        wanted = {
            i: max(state.remaining[i] - self.price * items[i].quantity, 0)
            for i in state.cart.matching(self.items)
        }
        return state.take_lines(wanted, promo.id, self.label(promo))


class PercentOffOrder(Action):
    def __init__(self, params: Mapping[str, Any]) -> None:
        self.percent = Decimal(params["percent"])

    def label(self, promo: CompiledPromotion) -> str:
        return f"{promo.name} {MINUS}{r.format_percent(self.percent)}%"

    def apply(self, state: State, shopper: Shopper, promo: CompiledPromotion) -> list[Effect]:
        amount = percent_of(sum(state.remaining), self.percent)
        return state.take_order(amount, promo.id, self.label(promo))

    def why_none(self, cart: Cart, shopper: Shopper, fmt: Formatter) -> str:
        return "the cart is empty" if not cart.items else "nothing left to discount"


class AmountOffOrder(PercentOffOrder):
    def __init__(self, params: Mapping[str, Any]) -> None:
        self.amount = int(params["amount"])

    def label(self, promo: CompiledPromotion) -> str:
        return promo.name

    def apply(self, state: State, shopper: Shopper, promo: CompiledPromotion) -> list[Effect]:
        return state.take_order(self.amount, promo.id, self.label(promo))


class BuyXGetY(Action):
    """Buy `buy` eligible units, get `get` units (of `get_items`, by default the same items)
    at `percent` off (100: free); the cheapest eligible units are the discounted ones, and the
    offer repeats up to `max_per_order` times."""

    def __init__(self, params: Mapping[str, Any]) -> None:
        self.buy = int(params["buy"])
        self.get = int(params["get"])
        self.percent = Decimal(params.get("percent") or "100")
        self.buy_items = Selector(params.get("buy_items"))
        self.get_items = (
            Selector(params["get_items"]) if params.get("get_items") else self.buy_items
        )
        self.max_per_order = params.get("max_per_order")
        self.collections = self.buy_items.collections | self.get_items.collections

    def _plan(self, state: State) -> dict[int, int]:
        """Units taken free (or discounted) per line, for the most applications possible."""
        cart = state.cart
        items = cart.items
        buyable = set(cart.matching(self.buy_items))
        pool = sorted(
            cart.matching(self.get_items),
            key=lambda i: (Decimal(state.remaining[i]) / items[i].quantity, items[i].variant_id),
        )
        buy_units = sum(items[i].quantity for i in buyable)
        get_units = sum(items[i].quantity for i in pool)
        high = min(get_units // self.get, buy_units // self.buy)
        if self.max_per_order is not None:
            high = min(high, int(self.max_per_order))

        def taken_for(times: int) -> dict[int, int]:
            left, taken = times * self.get, {}
            for i in pool:
                if left <= 0:
                    break
                take = min(items[i].quantity, left)
                taken[i] = take
                left -= take
            return taken

        def feasible(times: int) -> bool:
            taken = taken_for(times)
            paying = buy_units - sum(q for i, q in taken.items() if i in buyable)
            return paying >= times * self.buy

        low = 0
        while low < high:  # the largest feasible count (feasibility only falls as it grows)
            middle = (low + high + 1) // 2
            if feasible(middle):
                low = middle
            else:
                high = middle - 1
        return taken_for(low) if low else {}

    def apply(self, state: State, shopper: Shopper, promo: CompiledPromotion) -> list[Effect]:
        items = state.cart.items
        wanted = {}
        for i, units in self._plan(state).items():
            share = Decimal(state.remaining[i]) * units / items[i].quantity
            wanted[i] = percent_of(share, self.percent)
        return state.take_lines(wanted, promo.id, self.label(promo))

    def why_none(self, cart: Cart, shopper: Shopper, fmt: Formatter) -> str:
        offer = "free" if self.percent == 100 else f"{r.format_percent(self.percent)}% off"
        units = cart.units_of(self.buy_items)
        needed = self.buy + (self.get if self.get_items is self.buy_items else 0)
        return (
            f"buy {self.buy} get {self.get} {offer}: {units} eligible in the cart, {needed} needed"
        )


class Tiered(Action):
    def __init__(self, params: Mapping[str, Any]) -> None:
        self.tiers = sorted(params["tiers"], key=lambda tier: tier["threshold"])
        self.items = Selector(params.get("items"))
        self.collections = self.items.collections

    def tier_for(self, spend: int) -> Mapping[str, Any] | None:
        reached = [tier for tier in self.tiers if spend >= tier["threshold"]]
        return reached[-1] if reached else None

    def apply(self, state: State, shopper: Shopper, promo: CompiledPromotion) -> list[Effect]:
        cart = state.cart
        tier = self.tier_for(cart.amount_of(self.items))
        if tier is None:
            return []
        indexes = cart.matching(self.items)
        if "percent" in tier:
            base = sum(state.remaining[i] for i in indexes)
            amount = percent_of(base, Decimal(tier["percent"]))
            label = f"{promo.name} {MINUS}{tier['percent']}%"
        else:
            amount, label = int(tier["amount"]), promo.name
        return state.take_spread(amount, indexes, promo.id, label)

    def why_none(self, cart: Cart, shopper: Shopper, fmt: Formatter) -> str:
        first = self.tiers[0]
        gain = f"{first['percent']}%" if "percent" in first else fmt(int(first["amount"]))
        what = "subtotal" if self.items.is_everything else "eligible items total"
        spend = cart.amount_of(self.items)
        return f"spend {fmt(first['threshold'])} to get {gain} off ({what} {fmt(spend)})"


class FreeShipping(Action):
    shipping = True

    def __init__(self, params: Mapping[str, Any]) -> None:
        self.methods = tuple(params.get("methods") or ())
        self.countries = tuple(params.get("countries") or ())

    def apply(self, state: State, shopper: Shopper, promo: CompiledPromotion) -> list[Effect]:
        if self.countries and shopper.country and shopper.country not in self.countries:
            return []
        if not state.cart.items:
            return []
        return [
            Effect(
                SHIPPING,
                promo.id,
                f"{promo.name} (free shipping)",
                rate_bps=FULL_RATE,
                methods=self.methods,
                countries=self.countries,
            )
        ]

    def why_none(self, cart: Cart, shopper: Shopper, fmt: Formatter) -> str:
        if not cart.items:
            return "the cart is empty"
        return f"free shipping to {_or(list(self.countries))} only"


class FreeGift(Action):
    def __init__(self, params: Mapping[str, Any]) -> None:
        self.variant_id = int(params["variant_id"])
        self.quantity = int(params.get("quantity") or 1)

    def apply(self, state: State, shopper: Shopper, promo: CompiledPromotion) -> list[Effect]:
        if not state.cart.items:
            return []
        return [
            Effect(
                GIFT,
                promo.id,
                f"{promo.name} (free gift)",
                variant_id=self.variant_id,
                quantity=self.quantity,
            )
        ]

    def why_none(self, cart: Cart, shopper: Shopper, fmt: Formatter) -> str:
        return "the cart is empty"


ACTIONS: dict[str, type[Action]] = {
    r.PERCENT_OFF_ITEMS: PercentOffItems,
    r.AMOUNT_OFF_ITEMS: AmountOffItems,
    r.FIXED_PRICE_ITEMS: FixedPriceItems,
    r.PERCENT_OFF_ORDER: PercentOffOrder,
    r.AMOUNT_OFF_ORDER: AmountOffOrder,
    r.BUY_X_GET_Y: BuyXGetY,
    r.TIERED: Tiered,
    r.FREE_SHIPPING: FreeShipping,
    r.FREE_GIFT: FreeGift,
}


# -- compiled promotions ------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class CompiledPromotion:
    id: int
    name: str
    state: str
    starts_at: datetime | None
    ends_at: datetime | None
    zone: ZoneInfo
    priority: int
    stacking: str
    match: str
    requires_coupon: bool
    conditions: tuple[Condition, ...]
    actions: tuple[Action, ...]
    usage_limit: int | None = None
    usage_limit_per_customer: int | None = None
    usage_limit_per_code: int | None = None
    code_hint: str = ""  # its one code, when it has exactly one

    @cached_property
    def shipping_only(self) -> bool:
        return bool(self.actions) and all(action.shipping for action in self.actions)

    @property
    def collections(self) -> frozenset[int]:
        found: frozenset[int] = frozenset()
        for row in (*self.conditions, *self.actions):
            found |= row.collections
        return found

    @property
    def has_limits(self) -> bool:
        return self.usage_limit is not None or self.usage_limit_per_customer is not None

    def status_at(self, now: datetime) -> str:
        return derive_status(self.state, self.starts_at, self.ends_at, now)

    def local(self, moment: datetime) -> datetime:
        return moment.replace(tzinfo=UTC).astimezone(self.zone)

    def code_missing(self) -> str:
        return f"code {self.code_hint} not entered" if self.code_hint else "no coupon code entered"

    def when(self, moment: datetime, now: datetime) -> str:
        local = self.local(moment)
        pattern = "d MMMM" if local.year == self.local(now).year else "d MMMM yyyy"
        if local.time() != time(0, 0):
            pattern += ", HH:mm"
        return format_datetime(local, pattern, locale="en")


def compile_promotion(row: Any, *, currency: str, code_hint: str = "") -> CompiledPromotion | None:
    """A Promotion row (with its conditions and actions loaded) made ready to evaluate, or None
    when a stored row no longer validates (the promotion then never applies)."""
    conditions = []
    actions = []
    try:  # a stored row that no longer builds must not break every price_cart
        for condition in row.conditions:
            params = r.clean_params(
                "conditions", condition.kind, condition.params, currency=currency
            )
            if params is None:
                return None
            conditions.append(CONDITIONS[condition.kind](params))
        for action in row.actions:
            params = r.clean_params("actions", action.kind, action.params, currency=currency)
            if params is None:
                return None
            actions.append(ACTIONS[action.kind](params))
        zone = ZoneInfo(row.timezone or "UTC")
    except (ValueError, KeyError, TypeError):
        return None
    return CompiledPromotion(
        id=row.id,
        name=row.name,
        state=row.state,
        starts_at=row.starts_at,
        ends_at=row.ends_at,
        zone=zone,
        priority=row.priority,
        stacking=row.stacking,
        match=row.match,
        requires_coupon=bool(row.requires_coupon),
        conditions=tuple(conditions),
        actions=tuple(actions),
        usage_limit=row.usage_limit,
        usage_limit_per_customer=row.usage_limit_per_customer,
        usage_limit_per_code=row.usage_limit_per_code,
        code_hint=code_hint,
    )


def in_order(promotions: Sequence[CompiledPromotion]) -> tuple[CompiledPromotion, ...]:
    return tuple(sorted(promotions, key=lambda p: (p.priority, p.id)))


# -- evaluation ---------------------------------------------------------------------------------


def _allows(first: CompiledPromotion, second: CompiledPromotion) -> bool:
    if first.stacking == EXCLUSIVE:
        return False
    if first.stacking == SHIPPING_ONLY:
        return second.shipping_only
    return first.stacking == COMBINABLE


def compatible(first: CompiledPromotion, second: CompiledPromotion) -> bool:
    """Whether two promotions may both apply to one cart (each must accept the other)."""
    return _allows(first, second) and _allows(second, first)


class _Stacked:
    """What the applied promotions allow, kept as flags so checking the next one costs the
    same however many applied (equivalent to `compatible` with each of them)."""

    __slots__ = ("any", "exclusive", "only_shipping", "shipping_only_rule")

    def __init__(self) -> None:
        self.any = False  # anything applied
        self.exclusive = False  # an exclusive one applied
        self.only_shipping = True  # every applied one discounts shipping only
        self.shipping_only_rule = False  # one applied stacks only with shipping discounts

    def accepts(self, promo: CompiledPromotion) -> bool:
        if not self.any:
            return True
        if promo.stacking == EXCLUSIVE or self.exclusive:
            return False
        if promo.stacking == SHIPPING_ONLY and not self.only_shipping:
            return False
        return not (self.shipping_only_rule and not promo.shipping_only)

    def add(self, promo: CompiledPromotion) -> None:
        self.any = True
        self.exclusive |= promo.stacking == EXCLUSIVE
        self.only_shipping &= promo.shipping_only
        self.shipping_only_rule |= promo.stacking == SHIPPING_ONLY


_STATUS_REASONS = {DRAFT: "draft: not published yet", PAUSED: "paused"}


def _ineligible(
    promo: CompiledPromotion, cart: Cart, shopper: Shopper, fmt: Formatter | None
) -> str | None:
    """None when the promotion may apply; otherwise why not ("" when not explaining)."""
    status = promo.status_at(shopper.now)
    if status != ACTIVE:
        if fmt is None:
            return ""
        if status == SCHEDULED:
            assert promo.starts_at is not None
            return f"starts {promo.when(promo.starts_at, shopper.now)}"
        if status == EXPIRED:
            assert promo.ends_at is not None
            return f"ended {promo.when(promo.ends_at, shopper.now)}"
        return _STATUS_REASONS.get(status, status)
    if promo.requires_coupon and promo.id not in shopper.codes.values():
        return promo.code_missing() if fmt is not None else ""
    blocked = shopper.blocked.get(promo.id)
    if blocked is not None:
        return blocked
    if not promo.conditions:
        return None
    if promo.match == ALL:
        failed = [c for c in promo.conditions if not c.holds(cart, shopper, promo)]
        if not failed:
            return None
    elif any(c.holds(cart, shopper, promo) for c in promo.conditions):
        return None
    else:
        failed = list(promo.conditions)
    if fmt is None:
        return ""
    reasons = [c.why_not(cart, shopper, promo, fmt) for c in failed]
    if promo.match == ALL or len(reasons) == 1:
        return "; ".join(reasons)
    return "none of: " + "; ".join(reasons)


def evaluate(
    promotions: Sequence[CompiledPromotion],
    items: Sequence[Item],
    shopper: Shopper,
    *,
    explain: bool | Collection[int] = False,
    fmt: Formatter | None = None,
) -> Evaluation:
    """Apply `promotions` (already in priority order, see in_order) to `items`.

    `explain` asks for an Outcome (applied with its amount, or the reason it did not) for
    every promotion (True) or for the given ids; `fmt` formats money in those reasons."""
    cart = Cart(items)
    state = State(cart)
    fmt = fmt or (lambda amount: format_amount_plain(amount, shopper.currency))
    effects: list[Effect] = []
    outcomes: list[Outcome] = []
    applied: list[CompiledPromotion] = []
    stacked = _Stacked()
    for promo in promotions:
        wanted = explain is True or (bool(explain) and promo.id in explain)  # type: ignore[operator]
        reason = _ineligible(promo, cart, shopper, fmt if wanted else None)
        if reason is None and not stacked.accepts(promo):
            clash = next(other for other in applied if not compatible(promo, other))
            reason = f"not combined with {clash.name}, which applies first"
        produced: list[Effect] = []
        code = ""
        if reason is None:
            for action in promo.actions:
                produced.extend(action.apply(state, shopper, promo))
            if produced:
                code = min((c for c, p in shopper.codes.items() if p == promo.id), default="")
                if code:
                    produced = [_with_code(effect, code) for effect in produced]
                effects.extend(produced)
                applied.append(promo)
                stacked.add(promo)
            elif wanted:
                reason = (
                    promo.actions[0].why_none(cart, shopper, fmt)
                    if promo.actions
                    else "it has no actions"
                )
            else:
                reason = ""
        if wanted:
            taken = sum(e.amount for e in produced if e.kind in (LINE, ORDER))
            outcomes.append(
                Outcome(
                    promotion_id=promo.id,
                    name=promo.name,
                    status=promo.status_at(shopper.now),
                    applied=reason is None,
                    reason=reason or "",
                    amount=taken,
                    code=code,
                )
            )
    return Evaluation(tuple(effects), tuple(outcomes), tuple(p.id for p in applied))


def _with_code(effect: Effect, code: str) -> Effect:
    return Effect(
        effect.kind,
        effect.promotion_id,
        effect.label,
        effect.amount,
        effect.variant_id,
        effect.quantity,
        effect.rate_bps,
        effect.methods,
        effect.countries,
        code,
    )


# -- small text helpers -------------------------------------------------------------------------


def _or(values: Sequence[str]) -> str:
    values = [str(v) for v in values]
    if len(values) <= 1:
        return "".join(values)
    return ", ".join(values[:-1]) + " or " + values[-1]


def _hhmm(moment: time | None) -> str:
    return moment.strftime("%H:%M") if moment else ""

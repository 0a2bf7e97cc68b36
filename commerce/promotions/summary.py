"""A promotion in one plain sentence, as a merchandiser would say it.

    "20% off T-shirts when you buy 2 or more, 1 June to 30 June, max 1,000 uses"

The builder shows it live while the form changes, and the list shows it under each name, so
it must cope with a half-filled form: each condition and action row is read through
commerce.promotions.rules (the same cleaning the services use) and a row that does not clean
yet is left out and counted as unfinished. Pure: names of the products, variants, categories
and collections a row refers to are passed in (commerce.promotions.queries.reference_names
loads them), so nothing here touches the database.

Dates are shown in the promotion's time zone. The end of a schedule is exclusive; an end at
midnight reads as the day before ("to 30 June" for an end of 1 July 00:00), which is how a
person says it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel.dates import format_datetime

from commerce.countries import country_name
from commerce.money import format_money
from commerce.promotions import rules as r
from commerce.promotions.models import ALL, EXCLUSIVE, SHIPPING_ONLY, Promotion


@dataclass(frozen=True)
class Names:
    """Display names by id for what rows refer to; a missing one shows as "product #12"."""

    products: Mapping[int, str] = field(default_factory=dict)
    variants: Mapping[int, str] = field(default_factory=dict)
    categories: Mapping[int, str] = field(default_factory=dict)
    collections: Mapping[int, str] = field(default_factory=dict)


NO_NAMES = Names()


# -- small text helpers -------------------------------------------------------------------------


def join(parts: Sequence[str], word: str = "and") -> str:
    """["a"] -> "a"; ["a", "b"] -> "a and b"; ["a", "b", "c"] -> "a, b and c"."""
    parts = [p for p in parts if p]
    if len(parts) <= 1:
        return "".join(parts)
    return ", ".join(parts[:-1]) + f" {word} " + parts[-1]


def _count(number: int) -> str:
    return f"{number:,}"


def _percent(value: Any) -> str:
    return f"{r.format_percent(Decimal(str(value)))}%"


def _zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _local(moment: datetime, zone: ZoneInfo) -> datetime:
    """Naive moments are UTC (as stored); aware ones are converted."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(zone)


class _Words:
    """The wording of one summary: currency and names."""

    def __init__(self, currency: str, names: Names) -> None:
        self.currency = currency
        self.names = names

    def money(self, amount: int) -> str:
        return format_money(amount, self.currency)

    # -- items ----------------------------------------------------------------------------------

    def _named(self, selector: Mapping[str, Any], prefix: str) -> list[str]:
        found: list[str] = []
        for key, names, noun in (
            ("categories", self.names.categories, "category"),
            ("collections", self.names.collections, "collection"),
            ("products", self.names.products, "product"),
            ("variants", self.names.variants, "variant"),
        ):
            for ident in selector.get(f"{prefix}{key}") or ():
                name = names.get(int(ident)) or f"{noun} #{ident}"
                found.append(f"the {name} collection" if key == "collections" else name)
        tags = list(selector.get(f"{prefix}tags") or ())
        if tags:
            found.append(f"items tagged {join(tags, 'or')}")
        return found

    def items(
        self,
        selector: Mapping[str, Any] | None,
        *,
        everything: str = "everything",
        exclusions: bool = True,
    ) -> str:
        """What a selector matches: "T-shirts or the Summer collection (except Sale socks)"."""
        selector = selector or {}
        included = self._named(selector, "")
        excluded = self._named(selector, "exclude_") if exclusions else []
        text = join(included, "or") if included else everything
        if excluded:
            text += f" (except {join(excluded, 'and')})"
        return text

    # -- actions --------------------------------------------------------------------------------

    def action(self, kind: str, p: Mapping[str, Any]) -> str:
        items = p.get("items")
        if kind == r.PERCENT_OFF_ITEMS:
            return f"{_percent(p['percent'])} off {self.items(items)}"
        if kind == r.AMOUNT_OFF_ITEMS:
            if not items:
                return f"{self.money(p['amount'])} off every item"
            return f"{self.money(p['amount'])} off every unit of {self.items(items)}"
        if kind == r.FIXED_PRICE_ITEMS:
            what = self.items(items)
            if not p["price"]:
                return f"{what} free"
            return f"{what} at {self.money(p['price'])} each"
        if kind == r.PERCENT_OFF_ORDER:
            return f"{_percent(p['percent'])} off the order"
        if kind == r.AMOUNT_OFF_ORDER:
            return f"{self.money(p['amount'])} off the order"
        if kind == r.BUY_X_GET_Y:
            return self._buy_x_get_y(p)
        if kind == r.TIERED:
            steps = [
                f"spend {self.money(t['threshold'])} get "
                + (_percent(t["percent"]) if "percent" in t else self.money(t["amount"]))
                + " off"
                for t in p["tiers"]
            ]
            text = join(steps, "and") if len(steps) < 3 else ", ".join(steps)
            return f"{text} on {self.items(items)}" if items else text
        if kind == r.FREE_SHIPPING:
            text = "free shipping"
            if p.get("methods"):
                text += f" with {join(list(p['methods']), 'or')}"
            if p.get("countries"):
                text += f" to {join([country_name(c) for c in p['countries']], 'or')}"
            return text
        if kind == r.FREE_GIFT:
            variant = int(p["variant_id"])
            name = self.names.variants.get(variant) or f"variant #{variant}"
            quantity = int(p.get("quantity") or 1)
            return f"a free {name}" if quantity == 1 else f"{quantity} free {name}"
        return ""

    def _buy_x_get_y(self, p: Mapping[str, Any]) -> str:
        buy_items = p.get("buy_items")
        get_items = p.get("get_items")
        text = f"buy {p['buy']}"
        if buy_items:
            text += f" {self.items(buy_items)}"
        text += f", get {p['get']}"
        if get_items and get_items != buy_items:
            text += f" {self.items(get_items)}"
        percent = Decimal(str(p.get("percent") or "100"))
        text += " free" if percent == 100 else f" at {_percent(percent)} off"
        limit = p.get("max_per_order")
        if limit:
            text += " (once per order)" if limit == 1 else f" (up to {limit} times per order)"
        return text

    # -- conditions -----------------------------------------------------------------------------

    def condition(self, kind: str, p: Mapping[str, Any], action_items: str | None) -> str:
        items = p.get("items")
        if kind == r.SUBTOTAL_AT_LEAST:
            if not items:
                return f"when the subtotal is at least {self.money(p['amount'])}"
            return f"when {self.items(items)} total at least {self.money(p['amount'])}"
        if kind == r.QUANTITY_AT_LEAST:
            text = f"when you buy {_count(p['quantity'])} or more"
            named = self.items(items, exclusions=False) if items else None
            if named and named != action_items:
                text += f" of {self.items(items)}"
            return text
        if kind == r.CART_CONTAINS:
            return f"when the cart contains {self.items(items)}"
        if kind == r.CART_EXCLUDES:
            return f"when the cart has none of {self.items(items)}"
        if kind == r.CUSTOMER_SIGNED_IN:
            return "for signed-in customers"
        if kind == r.CUSTOMER_TAG:
            return f"for customers tagged {join(list(p['tags']), 'or')}"
        if kind == r.FIRST_ORDER:
            return "on a customer's first order"
        if kind == r.SHIPPING_COUNTRY:
            return f"when shipping to {join([country_name(c) for c in p['countries']], 'or')}"
        if kind == r.TIME_WINDOW:
            parts = []
            if p.get("weekdays"):
                parts.append("on " + join([r.WEEKDAY_NAMES[d] for d in p["weekdays"]], "or"))
            start, end = p.get("start"), p.get("end")
            if start and end:
                parts.append(f"from {start} to {end}")
            elif start:
                parts.append(f"from {start}")
            elif end:
                parts.append(f"until {end}")
            return " ".join(parts)
        return ""  # COUPON_CODE: said with the coupon requirement


# -- schedule and limits ------------------------------------------------------------------------


def _day(local: datetime, *, with_year: bool) -> str:
    pattern = "d MMMM yyyy" if with_year else "d MMMM"
    if local.time() != time(0, 0):
        pattern += ", HH:mm"
    return format_datetime(local, pattern, locale="en")


def schedule_text(
    starts_at: datetime | None,
    ends_at: datetime | None,
    timezone: str | None,
    *,
    now: datetime | None = None,
) -> str:
    """ "1 June to 30 June", "from 1 June", "until 30 June 2027" or "" (no dates)."""
    zone = _zone(timezone)
    this_year = _local(now or datetime.now(UTC).replace(tzinfo=None), zone).year
    start = _local(starts_at, zone) if starts_at else None
    end = _local(ends_at, zone) if ends_at else None
    if end is not None and end.time() == time(0, 0):
        end = end - timedelta(days=1)  # ends at midnight: the day before is the last day
        if start is not None and end < start:
            end = start
    years = {d.year for d in (start, end) if d is not None}
    with_year = bool(years) and (years != {this_year})
    if start and end:
        if start.date() == end.date() and start.time() == time(0, 0):
            return f"on {_day(start, with_year=with_year)}"
        first = _day(start, with_year=with_year and start.year != end.year)
        return f"{first} to {_day(end, with_year=with_year)}"
    if start:
        return f"from {_day(start, with_year=with_year)}"
    if end:
        return f"until {_day(end, with_year=with_year)}"
    return ""


def limits_text(
    usage_limit: int | None, per_customer: int | None, per_code: int | None
) -> list[str]:
    found = []
    if usage_limit:
        found.append(f"max {_count(usage_limit)} {'use' if usage_limit == 1 else 'uses'}")
    if per_customer:
        found.append(f"{_count(per_customer)} per customer")
    if per_code:
        found.append(
            "each code usable once" if per_code == 1 else f"each code usable {per_code} times"
        )
    return found


# -- the sentence -------------------------------------------------------------------------------


def _clean(group: str, rows: Sequence[Any], currency: str) -> tuple[list[tuple[str, dict]], int]:
    """Rows that clean (kind, params) and how many do not yet."""
    good: list[tuple[str, dict]] = []
    unfinished = 0
    for row in rows or ():
        if not isinstance(row, Mapping):
            unfinished += 1
            continue
        kind = str(row.get("kind") or "")
        params = r.clean_params(group, kind, row.get("params") or {}, currency=currency)
        if params is None:
            unfinished += 1
        else:
            good.append((kind, params))
    return good, unfinished


def summarize(
    *,
    currency: str,
    conditions: Sequence[Any] = (),
    actions: Sequence[Any] = (),
    match: str = ALL,
    starts_at: datetime | None = None,
    ends_at: datetime | None = None,
    timezone: str | None = "UTC",
    requires_coupon: bool = False,
    codes: Sequence[str] = (),
    usage_limit: int | None = None,
    usage_limit_per_customer: int | None = None,
    usage_limit_per_code: int | None = None,
    stacking: str | None = None,
    names: Names = NO_NAMES,
    now: datetime | None = None,
) -> str:
    """The promotion in one sentence. Rows are `{"kind", "params"}` as the services take them
    (form text or stored values); `codes` are its coupon codes when known (one is named)."""
    words = _Words(currency, names)
    done_actions, open_actions = _clean("actions", actions, currency)
    done_conditions, open_conditions = _clean("conditions", conditions, currency)

    phrases = [words.action(kind, params) for kind, params in done_actions]
    phrases = [p for p in phrases if p]
    text = join(phrases) if phrases else "No discount yet: add an action"
    action_items = None
    item_actions = [p for k, p in done_actions if k in (r.PERCENT_OFF_ITEMS, r.AMOUNT_OFF_ITEMS)]
    if len(item_actions) == 1 and item_actions[0].get("items"):
        action_items = words.items(item_actions[0]["items"], exclusions=False)

    said = [words.condition(kind, params, action_items) for kind, params in done_conditions]
    said = [s for s in said if s]
    if said:
        text += " " + join(said, "and" if match == ALL else "or")
    coupon = requires_coupon or any(kind == r.COUPON_CODE for kind, _ in done_conditions)
    if coupon:
        text += f" with code {codes[0]}" if len(codes) == 1 else " with a coupon code"

    tail = [schedule_text(starts_at, ends_at, timezone, now=now)]
    tail += limits_text(usage_limit, usage_limit_per_customer, usage_limit_per_code)
    if stacking == EXCLUSIVE:
        tail.append("not combined with other promotions")
    elif stacking == SHIPPING_ONLY:
        tail.append("combined only with shipping discounts")
    tail = [t for t in tail if t]
    if tail:
        text += ", " + ", ".join(tail)
    unfinished = open_actions + open_conditions
    if unfinished:
        text += f" ({unfinished} unfinished {'rule' if unfinished == 1 else 'rules'} left out)"
    return text[:1].upper() + text[1:]


def summarize_promotion(
    promotion: Promotion,
    *,
    currency: str,
    names: Names = NO_NAMES,
    codes: Sequence[str] = (),
    now: datetime | None = None,
) -> str:
    """A stored promotion in one sentence."""
    return summarize(
        currency=currency,
        conditions=[{"kind": c.kind, "params": c.params} for c in promotion.conditions],
        actions=[{"kind": a.kind, "params": a.params} for a in promotion.actions],
        match=promotion.match,
        starts_at=promotion.starts_at,
        ends_at=promotion.ends_at,
        timezone=promotion.timezone,
        requires_coupon=promotion.requires_coupon,
        codes=codes,
        usage_limit=promotion.usage_limit,
        usage_limit_per_customer=promotion.usage_limit_per_customer,
        usage_limit_per_code=promotion.usage_limit_per_code,
        stacking=promotion.stacking,
        names=names,
        now=now,
    )

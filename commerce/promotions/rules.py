"""The kinds of condition and action rows, and the cleaning of their parameters.

Every row is `{"kind": ..., "params": {...}}`. `clean_rows()` turns what a form or a caller
gave into canonical params (ints for money in minor units, percentages as decimal strings,
sorted id lists) or collects messages keyed by their path into the rows: ("conditions", n,
param) / ("actions", n, param), (row..., "items", list) inside an item selector, (row...,
"tiers", n, param) in a tier; a web face names its inputs after those paths. It also returns
what the rows refer to (products, variants, categories, collections, shipping method codes)
so the service can check those exist in one query each.
The engine compiles stored rows through `clean_params()` again, so a row edited by hand never
reaches the arithmetic unchecked.

Item selectors (which cart lines a row is about) are flat dicts of id lists, every key
optional: products, variants, categories (a category includes its subcategories),
collections, tags, and the same five prefixed `exclude_`. No include list means every item.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import time
from decimal import Decimal, InvalidOperation
from typing import Any

from commerce.bounds import INT_MAX
from commerce.countries import is_country
from commerce.errors import ErrorPath, ValidationError
from commerce.money import parse_amount
from commerce.tags import MAX_TAG

# -- condition kinds ----------------------------------------------------------------------------
SUBTOTAL_AT_LEAST = "subtotal_at_least"
QUANTITY_AT_LEAST = "quantity_at_least"
CART_CONTAINS = "cart_contains"
CART_EXCLUDES = "cart_excludes"
CUSTOMER_SIGNED_IN = "customer_signed_in"
CUSTOMER_TAG = "customer_tag"
FIRST_ORDER = "first_order"
SHIPPING_COUNTRY = "shipping_country"
COUPON_CODE = "coupon_code"
TIME_WINDOW = "time_window"

CONDITION_KINDS: dict[str, str] = {
    SUBTOTAL_AT_LEAST: "Cart subtotal is at least",
    QUANTITY_AT_LEAST: "Quantity of matching items is at least",
    CART_CONTAINS: "Cart contains matching items",
    CART_EXCLUDES: "Cart contains none of these items",
    CUSTOMER_SIGNED_IN: "Customer is signed in",
    CUSTOMER_TAG: "Customer has a tag",
    FIRST_ORDER: "Customer's first order",
    SHIPPING_COUNTRY: "Shipping country is",
    COUPON_CODE: "A coupon code of this promotion is entered",
    TIME_WINDOW: "Day and time window",
}

# -- action kinds -------------------------------------------------------------------------------
PERCENT_OFF_ITEMS = "percent_off_items"
AMOUNT_OFF_ITEMS = "amount_off_items"
FIXED_PRICE_ITEMS = "fixed_price_items"
PERCENT_OFF_ORDER = "percent_off_order"
AMOUNT_OFF_ORDER = "amount_off_order"
BUY_X_GET_Y = "buy_x_get_y"
TIERED = "tiered"
FREE_SHIPPING = "free_shipping"
FREE_GIFT = "free_gift"

ACTION_KINDS: dict[str, str] = {
    PERCENT_OFF_ITEMS: "Percentage off matching items",
    AMOUNT_OFF_ITEMS: "Amount off each matching item",
    FIXED_PRICE_ITEMS: "Fixed price for matching items",
    PERCENT_OFF_ORDER: "Percentage off the order",
    AMOUNT_OFF_ORDER: "Amount off the order",
    BUY_X_GET_Y: "Buy X get Y",
    TIERED: "Tiered discount (spend more, save more)",
    FREE_SHIPPING: "Free shipping",
    FREE_GIFT: "Free gift",
}

SELECTOR_LISTS = ("products", "variants", "categories", "collections", "tags")
SELECTOR_KEYS = (*SELECTOR_LISTS, *(f"exclude_{name}" for name in SELECTOR_LISTS))
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")  # Python's weekday() order
WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

MAX_ROWS = 20
MAX_IDS = 500
MAX_QUANTITY = 1_000_000
MAX_AMOUNT = 10**12
_TIME_RE = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")

Path = tuple[str | int, ...]  # into the rows: ("conditions", 0, "items", "products")


def _within(key: ErrorPath, row: Path) -> bool:
    """Whether a message's path lies inside a row's (a parameter of that row)."""
    return isinstance(key, tuple) and len(key) > len(row) and key[: len(row)] == row


@dataclass
class References:
    """What the rows name, each with the field to blame if it does not exist."""

    products: dict[int, Path] = field(default_factory=dict)
    variants: dict[int, Path] = field(default_factory=dict)
    categories: dict[int, Path] = field(default_factory=dict)
    collections: dict[int, Path] = field(default_factory=dict)
    shipping_methods: dict[str, Path] = field(default_factory=dict)


class _Rows:
    """Cleaning state: messages by field key, and the references seen."""

    def __init__(self, currency: str) -> None:
        self.currency = currency
        self.errors: dict[ErrorPath, list[str]] = {}
        self.refs = References()

    def fail(self, key: ErrorPath, message: str) -> None:
        self.errors.setdefault(key, []).append(message)

    # -- scalar parameters ----------------------------------------------------------------------

    def integer(
        self,
        params: Mapping[str, Any],
        name: str,
        key: Path,
        *,
        low: int,
        high: int,
        default: Any,
        required: bool = False,
    ) -> int | None:
        raw = params.get(name, default)
        if raw is None or raw == "":
            if default is None:
                if required:
                    self.fail((*key, name), "Enter a whole number.")
                return None
            raw = default
        try:
            if isinstance(raw, bool) or (isinstance(raw, float) and not raw.is_integer()):
                raise ValueError
            value = int(str(raw).strip()) if not isinstance(raw, int) else raw
        except (TypeError, ValueError):
            self.fail((*key, name), "Enter a whole number.")
            return None
        if value < low:
            self.fail((*key, name), f"Enter {low} or more.")
            return None
        if value > high:
            self.fail((*key, name), f"Enter at most {high}.")
            return None
        return value

    def money(
        self, params: Mapping[str, Any], name: str, key: Path, *, required: bool = True
    ) -> int | None:
        raw = params.get(name)
        if raw is None or raw == "":
            if required:
                self.fail((*key, name), "Enter an amount.")
            return None
        if isinstance(raw, bool):
            self.fail((*key, name), "Enter an amount.")
            return None
        if isinstance(raw, int):
            value = raw  # already minor units
        else:
            try:
                value = parse_amount(str(raw), self.currency, field=name)
            except ValidationError as exc:
                self.fail((*key, name), exc.message)
                return None
        if value <= 0:
            self.fail((*key, name), "Enter an amount above zero.")
            return None
        if value > MAX_AMOUNT:
            self.fail((*key, name), "That amount is too large.")
            return None
        return value

    def percent(
        self, params: Mapping[str, Any], name: str, key: Path, *, default: Any = None
    ) -> str | None:
        raw = params.get(name, default)
        if raw is None or raw == "":
            self.fail((*key, name), "Enter a percentage.")
            return None
        try:
            if isinstance(raw, bool):
                raise InvalidOperation
            value = Decimal(str(raw).strip().rstrip("%").strip())
        except InvalidOperation:
            self.fail((*key, name), "Enter a percentage such as 20 or 12.5.")
            return None
        if not value.is_finite() or value <= 0:
            self.fail((*key, name), "Enter a percentage above 0.")
            return None
        if value > 100:
            self.fail((*key, name), "A percentage cannot be over 100.")
            return None
        if value != value.quantize(Decimal("0.01")):
            self.fail((*key, name), "Use at most two decimal places.")
            return None
        return format_percent(value)

    def ids(self, raw: Any, key: Path) -> list[int]:
        if raw is None or raw == "":
            return []
        if isinstance(raw, str | int):
            raw = [part for part in str(raw).replace(",", " ").split() if part]
        if not isinstance(raw, Sequence | set | frozenset):
            self.fail(key, "Choose from the list.")
            return []
        values: set[int] = set()
        for item in raw:
            try:
                if isinstance(item, bool):
                    raise ValueError
                value = int(item)
            except (TypeError, ValueError):
                self.fail(key, "Choose from the list.")
                return []
            if not 0 < value <= INT_MAX:  # a huge id would overflow the query, not miss
                self.fail(key, "Choose from the list.")
                return []
            values.add(value)
        if len(values) > MAX_IDS:
            self.fail(key, f"At most {MAX_IDS} entries.")
            return []
        return sorted(values)

    def words(self, raw: Any, key: Path, *, upper: bool = False) -> list[str]:
        if raw is None or raw == "":
            return []
        if isinstance(raw, str):
            raw = raw.split(",")
        if not isinstance(raw, Sequence | set | frozenset):
            self.fail(key, "Enter a list.")
            return []
        values: set[str] = set()
        for item in raw:
            text = " ".join(str(item).split())
            if not text:
                continue
            if len(text) > MAX_TAG:
                self.fail(key, f"At most {MAX_TAG} characters each.")
                return []
            values.add(text.upper() if upper else text.lower())
        if len(values) > MAX_IDS:
            self.fail(key, f"At most {MAX_IDS} entries.")
            return []
        return sorted(values)

    def countries(self, raw: Any, key: Path, *, required: bool) -> list[str]:
        codes = self.words(raw, key, upper=True)
        unknown = [c for c in codes if not is_country(c)]
        if unknown:
            self.fail(key, f"Unknown country code: {', '.join(unknown)}.")
            return []
        if required and not codes and key not in self.errors:
            self.fail(key, "Choose at least one country.")
        return codes

    def selector(
        self, params: Mapping[str, Any], name: str, key: Path, *, required: bool = False
    ) -> dict[str, list[Any]]:
        raw = params.get(name) or {}
        where = (*key, name)
        if not isinstance(raw, Mapping):
            self.fail(where, "Choose the items.")
            return {}
        unknown = sorted(set(raw) - set(SELECTOR_KEYS))
        if unknown:
            self.fail(where, f"Unknown item filter: {', '.join(unknown)}.")
            return {}
        clean: dict[str, list[Any]] = {}
        for list_name in SELECTOR_KEYS:
            list_key = (*where, list_name)
            base = list_name.removeprefix("exclude_")
            if base == "tags":
                values: list[Any] = self.words(raw.get(list_name), list_key)
            else:
                values = self.ids(raw.get(list_name), list_key)
                bucket = getattr(self.refs, base)
                for value in values:
                    bucket.setdefault(value, list_key)
            if values:
                clean[list_name] = values
        if required and not any(clean.get(n) for n in SELECTOR_LISTS):
            self.fail(where, "Choose at least one product, category, collection or tag.")
        for base in SELECTOR_LISTS:
            both = set(clean.get(base, ())) & set(clean.get(f"exclude_{base}", ()))
            if both:
                self.fail(where, f"The same {base} cannot be both included and excluded.")
        return clean


def format_percent(value: Decimal) -> str:
    """20 -> "20", 12.50 -> "12.5" (the canonical stored form)."""
    text = f"{value.quantize(Decimal('0.01')):f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def parse_time(text: str) -> time:
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


# -- rows ---------------------------------------------------------------------------------------


def _clean_condition(rows: _Rows, kind: str, params: Mapping[str, Any], key: Path) -> dict:
    if kind == SUBTOTAL_AT_LEAST:
        return {
            "amount": rows.money(params, "amount", key),
            **_optional_items(rows, params, key),
        }
    if kind == QUANTITY_AT_LEAST:
        return {
            "quantity": rows.integer(
                params, "quantity", key, low=1, high=MAX_QUANTITY, default=None, required=True
            ),
            **_optional_items(rows, params, key),
        }
    if kind in (CART_CONTAINS, CART_EXCLUDES):
        return {"items": rows.selector(params, "items", key, required=True)}
    if kind in (CUSTOMER_SIGNED_IN, FIRST_ORDER, COUPON_CODE):
        return {}
    if kind == CUSTOMER_TAG:
        tags = rows.words(params.get("tags"), (*key, "tags"))
        if not tags and (*key, "tags") not in rows.errors:
            rows.fail((*key, "tags"), "Enter at least one customer tag.")
        return {"tags": tags}
    if kind == SHIPPING_COUNTRY:
        return {
            "countries": rows.countries(params.get("countries"), (*key, "countries"), required=True)
        }
    if kind == TIME_WINDOW:
        return _clean_window(rows, params, key)
    rows.fail((*key, "kind"), "Choose a kind of condition.")
    return {}


def _optional_items(rows: _Rows, params: Mapping[str, Any], key: Path) -> dict[str, Any]:
    items = rows.selector(params, "items", key)
    return {"items": items} if items else {}


def _clean_window(rows: _Rows, params: Mapping[str, Any], key: Path) -> dict[str, Any]:
    clean: dict[str, Any] = {}
    raw_days = params.get("weekdays")
    if raw_days not in (None, "", []):
        days = _weekdays(rows, raw_days, (*key, "weekdays"))
        if days:
            clean["weekdays"] = days
    for name in ("start", "end"):
        raw = str(params.get(name) or "").strip()
        if raw:
            if not _TIME_RE.match(raw):
                rows.fail((*key, name), "Enter a time as HH:MM (24-hour).")
            else:
                clean[name] = raw
    if "start" in clean and "end" in clean and clean["end"] <= clean["start"]:
        rows.fail((*key, "end"), "The end time must be after the start time.")
    if not clean and not any(_within(k, key) for k in rows.errors):
        rows.fail((*key, "weekdays"), "Choose days of the week or a time of day.")
    return clean


def _weekdays(rows: _Rows, raw: Any, key: Path) -> list[int]:
    """Days as 0-6 (Monday = 0) or names ("Mon", "monday")."""
    if isinstance(raw, str | int):
        raw = [part for part in str(raw).replace(",", " ").split() if part]
    if not isinstance(raw, Sequence | set | frozenset):
        rows.fail(key, "Choose days of the week.")
        return []
    names = {name.lower(): n for n, name in enumerate(WEEKDAYS)}
    days: set[int] = set()
    for item in raw:
        text = str(item).strip().lower()
        if text.isdigit() and int(text) < 7 and not isinstance(item, bool):
            days.add(int(text))
        elif text[:3] in names and (
            len(text) == 3 or text.startswith(WEEKDAY_NAMES[names[text[:3]]].lower())
        ):
            days.add(names[text[:3]])
        else:
            rows.fail(key, "Choose days of the week.")
            return []
    return sorted(days)


def _clean_action(rows: _Rows, kind: str, params: Mapping[str, Any], key: Path) -> dict:
    if kind == PERCENT_OFF_ITEMS:
        return {
            "percent": rows.percent(params, "percent", key),
            **_optional_items(rows, params, key),
        }
    if kind == AMOUNT_OFF_ITEMS:
        return {"amount": rows.money(params, "amount", key), **_optional_items(rows, params, key)}
    if kind == FIXED_PRICE_ITEMS:
        price = params.get("price")
        if isinstance(price, int) and not isinstance(price, bool) and price == 0:
            value: int | None = 0  # "free"
        else:
            value = rows.money(params, "price", key)
        return {"price": value, **_optional_items(rows, params, key)}
    if kind == PERCENT_OFF_ORDER:
        return {"percent": rows.percent(params, "percent", key)}
    if kind == AMOUNT_OFF_ORDER:
        return {"amount": rows.money(params, "amount", key)}
    if kind == BUY_X_GET_Y:
        clean: dict[str, Any] = {
            "buy": rows.integer(params, "buy", key, low=1, high=1000, default=None, required=True),
            "get": rows.integer(params, "get", key, low=1, high=1000, default=None, required=True),
            "percent": rows.percent(params, "percent", key, default="100"),
        }
        buy_items = rows.selector(params, "buy_items", key)
        get_items = rows.selector(params, "get_items", key)
        if buy_items:
            clean["buy_items"] = buy_items
        if get_items:
            clean["get_items"] = get_items
        limit = rows.integer(params, "max_per_order", key, low=1, high=MAX_QUANTITY, default=None)
        if limit is not None:
            clean["max_per_order"] = limit
        return clean
    if kind == TIERED:
        return _clean_tiers(rows, params, key)
    if kind == FREE_SHIPPING:
        clean = {}
        methods = rows.words(params.get("methods"), (*key, "methods"), upper=True)
        for code in methods:
            rows.refs.shipping_methods.setdefault(code, (*key, "methods"))
        if methods:
            clean["methods"] = methods
        countries = rows.countries(params.get("countries"), (*key, "countries"), required=False)
        if countries:
            clean["countries"] = countries
        return clean
    if kind == FREE_GIFT:
        variant_id = rows.integer(params, "variant_id", key, low=1, high=2**62, default=None)
        if variant_id is not None:
            rows.refs.variants.setdefault(variant_id, (*key, "variant_id"))
        elif (*key, "variant_id") not in rows.errors:
            rows.fail((*key, "variant_id"), "Choose the gift.")
        return {
            "variant_id": variant_id,
            "quantity": rows.integer(params, "quantity", key, low=1, high=100, default=1),
        }
    rows.fail((*key, "kind"), "Choose a kind of action.")
    return {}


def _clean_tiers(rows: _Rows, params: Mapping[str, Any], key: Path) -> dict[str, Any]:
    raw = params.get("tiers") or []
    where = (*key, "tiers")
    if not isinstance(raw, Sequence) or isinstance(raw, str) or not raw:
        rows.fail(where, "Add at least one tier.")
        return {"tiers": []}
    tiers = []
    for n, tier in enumerate(raw):
        tier_key = (*where, n)
        if not isinstance(tier, Mapping):
            rows.fail(tier_key, "Enter the tier's threshold and discount.")
            continue
        threshold = rows.money(tier, "threshold", tier_key)
        has_amount = tier.get("amount") not in (None, "")
        has_percent = tier.get("percent") not in (None, "")
        if has_amount == has_percent:
            rows.fail((*tier_key, "amount"), "Give either an amount or a percentage.")
            continue
        if has_amount:
            amount = rows.money(tier, "amount", tier_key)
            if threshold is not None and amount is not None:
                tiers.append({"threshold": threshold, "amount": amount})
        else:
            percent = rows.percent(tier, "percent", tier_key)
            if threshold is not None and percent is not None:
                tiers.append({"threshold": threshold, "percent": percent})
    thresholds = [t["threshold"] for t in tiers]
    if len(set(thresholds)) != len(thresholds):
        rows.fail(where, "Each tier needs its own threshold.")
    tiers.sort(key=lambda t: t["threshold"])
    clean: dict[str, Any] = {"tiers": tiers}
    clean.update(_optional_items(rows, params, key))
    return clean


def clean_rows(
    conditions: Any, actions: Any, *, currency: str
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], References, dict[ErrorPath, list[str]]]:
    """Clean condition and action rows; returns (conditions, actions, references, errors)."""
    rows = _Rows(currency)
    cleaned: dict[str, list[dict[str, Any]]] = {"conditions": [], "actions": []}
    for group, given, kinds, clean in (
        ("conditions", conditions, CONDITION_KINDS, _clean_condition),
        ("actions", actions, ACTION_KINDS, _clean_action),
    ):
        if given is None:
            given = []
        if not isinstance(given, Sequence) or isinstance(given, str):
            rows.fail(group, "Send a list of rows.")
            continue
        if len(given) > MAX_ROWS:
            rows.fail(group, f"At most {MAX_ROWS} rows.")
            continue
        for n, row in enumerate(given):
            key = (group, n)
            if not isinstance(row, Mapping):
                rows.fail(key, "Each row needs a kind and its parameters.")
                continue
            kind = str(row.get("kind") or "")
            params = row.get("params") or {}
            if kind not in kinds:
                rows.fail((*key, "kind"), f"Choose a kind of {group[:-1]}.")
                continue
            if not isinstance(params, Mapping):
                rows.fail(key, "The row's parameters are not readable.")
                continue
            cleaned[group].append({"kind": kind, "params": clean(rows, kind, params, key)})
    return cleaned["conditions"], cleaned["actions"], rows.refs, rows.errors


def clean_params(group: str, kind: str, params: Any, *, currency: str) -> dict[str, Any] | None:
    """One stored row re-checked (the engine's compile step); None if it is not valid."""
    rows = _Rows(currency)
    cleaner = _clean_condition if group == "conditions" else _clean_action
    kinds = CONDITION_KINDS if group == "conditions" else ACTION_KINDS
    if kind not in kinds or not isinstance(params, Mapping):
        return None
    clean = cleaner(rows, kind, params, "row")
    return None if rows.errors else clean

"""The promotions builder's form: the header fields (a Flask-WTF form) and the condition and
action rows, which the page adds and removes with htmx.

A row is a small form whose inputs are named `<group>-<n>-<param>` (`conditions-0-amount`,
`actions-1-items-categories`, `actions-2-tiers-0-threshold`), the names the services use for
their messages, so a ValidationError maps straight onto the inputs. Rows are renumbered from 0
on every parse (a removed row leaves a gap), and a page that shows messages is always rendered
from the parsed rows, so the numbers in the messages and in the inputs agree.

Nothing here decides what is valid: the text goes to commerce.promotions.services as typed,
except that an empty required number is reported here (the services read a missing count as
"not given").
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from flask_wtf import FlaskForm
from werkzeug.datastructures import MultiDict
from wtforms import BooleanField, SelectField, StringField, TextAreaField

from commerce.errors import ValidationError
from commerce.money import format_amount_plain, parse_amount
from commerce.promotions import rules as r
from commerce.promotions.models import ALL, COMBINABLE, MATCHES, STACKING, STACKING_LABELS

CONDITIONS, ACTIONS = "conditions", "actions"
GROUPS = (CONDITIONS, ACTIONS)

# Input types of row parameters
MONEY, INT, PERCENT, ITEMS, WEEKDAYS, TIME, COUNTRIES, WORDS, METHODS, TIERS, VARIANT = (
    "money",
    "int",
    "percent",
    "items",
    "weekdays",
    "time",
    "countries",
    "words",
    "methods",
    "tiers",
    "variant",
)


@dataclass(frozen=True)
class Param:
    name: str
    type: str
    label: str
    required: bool = False
    hint: str = ""
    placeholder: str = ""


ALL_ITEMS = "Leave empty for every item."
ROW_PARAMS: dict[str, dict[str, tuple[Param, ...]]] = {
    CONDITIONS: {
        r.SUBTOTAL_AT_LEAST: (
            Param("amount", MONEY, "At least"),
            Param("items", ITEMS, "Counting only", hint=ALL_ITEMS),
        ),
        r.QUANTITY_AT_LEAST: (
            Param("quantity", INT, "At least (units)", required=True),
            Param("items", ITEMS, "Of", hint=ALL_ITEMS),
        ),
        r.CART_CONTAINS: (Param("items", ITEMS, "Items"),),
        r.CART_EXCLUDES: (Param("items", ITEMS, "Items"),),
        r.CUSTOMER_SIGNED_IN: (),
        r.CUSTOMER_TAG: (Param("tags", WORDS, "Customer tags", hint="Separate with commas"),),
        r.FIRST_ORDER: (),
        r.SHIPPING_COUNTRY: (
            Param("countries", COUNTRIES, "Countries", hint="ISO codes, e.g. GB, FR"),
        ),
        r.COUPON_CODE: (),
        r.TIME_WINDOW: (
            Param("weekdays", WEEKDAYS, "Days"),
            Param("start", TIME, "From"),
            Param("end", TIME, "Until"),
        ),
    },
    ACTIONS: {
        r.PERCENT_OFF_ITEMS: (
            Param("percent", PERCENT, "Percent off"),
            Param("items", ITEMS, "On", hint=ALL_ITEMS),
        ),
        r.AMOUNT_OFF_ITEMS: (
            Param("amount", MONEY, "Off each unit"),
            Param("items", ITEMS, "On", hint=ALL_ITEMS),
        ),
        r.FIXED_PRICE_ITEMS: (
            Param("price", MONEY, "Price each", hint="0 makes them free"),
            Param("items", ITEMS, "For", hint=ALL_ITEMS),
        ),
        r.PERCENT_OFF_ORDER: (Param("percent", PERCENT, "Percent off"),),
        r.AMOUNT_OFF_ORDER: (Param("amount", MONEY, "Amount off"),),
        r.BUY_X_GET_Y: (
            Param("buy", INT, "Buy (units)", required=True),
            Param("buy_items", ITEMS, "Of", hint=ALL_ITEMS),
            Param("get", INT, "Get (units)", required=True),
            Param("get_items", ITEMS, "Of", hint="Leave empty for the same items"),
            Param(
                "percent", PERCENT, "At percent off", hint="Empty or 100: free", placeholder="100"
            ),
            Param("max_per_order", INT, "At most times per order", hint="Empty: no limit"),
        ),
        r.TIERED: (
            Param("tiers", TIERS, "Tiers"),
            Param("items", ITEMS, "Counting and discounting", hint=ALL_ITEMS),
        ),
        r.FREE_SHIPPING: (
            Param("methods", METHODS, "Methods", hint="None ticked: any method"),
            Param("countries", COUNTRIES, "Countries", hint="Empty: any country"),
        ),
        r.FREE_GIFT: (
            Param("variant_id", VARIANT, "Gift"),
            Param("quantity", INT, "Quantity"),
        ),
    },
}
KIND_LABELS = {CONDITIONS: r.CONDITION_KINDS, ACTIONS: r.ACTION_KINDS}
DEFAULT_KIND = {CONDITIONS: r.SUBTOTAL_AT_LEAST, ACTIONS: r.PERCENT_OFF_ITEMS}
TIER_UNITS = (("amount", "off (amount)"), ("percent", "% off"))


@dataclass
class Row:
    """One condition or action as the form shows it: text values, lists for multi-choices,
    selectors as {list: [values]}, tiers as [{threshold, value, unit}]."""

    group: str
    index: int
    kind: str
    values: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.group}-{self.index}"

    @property
    def params(self) -> tuple[Param, ...]:
        return ROW_PARAMS[self.group].get(self.kind, ())

    def name(self, *parts: Any) -> str:
        return "-".join([self.key, *(str(p) for p in parts)])


def zone_names() -> list[str]:
    return sorted(available_timezones())


class PromotionForm(FlaskForm):
    """The header fields, as typed; the services check them."""

    name = StringField("Name")
    description = TextAreaField("Internal note", description="Only staff see it.")
    starts_at = StringField("Starts", description="Empty: as soon as it is published.")
    ends_at = StringField(
        "Ends", description="The moment it stops (1 July 00:00 includes all of 30 June)."
    )
    timezone = StringField("Time zone", description="The dates and day/time windows are in it.")
    priority = StringField("Priority", description="Lower runs first.", default="100")
    stacking = SelectField(
        "Stacking",
        choices=[(s, STACKING_LABELS[s]) for s in STACKING],
        default=COMBINABLE,
        validate_choice=False,
    )
    match = SelectField(
        "Conditions",
        choices=[(ALL, "All conditions must hold"), ("any", "Any condition is enough")],
        default=ALL,
        validate_choice=False,
    )
    requires_coupon = BooleanField("Needs a coupon code")
    usage_limit = StringField("Uses in total", description="Empty: no limit.")
    usage_limit_per_customer = StringField("Uses per customer", description="Empty: no limit.")
    usage_limit_per_code = StringField("Uses per code", description="Empty: no limit.")

    def header_values(self) -> dict[str, Any]:
        def text(field: Any) -> str:
            return str(field.data if field.data is not None else "").strip()

        return {
            "name": self.name.data or "",
            "description": self.description.data or "",
            "starts_at": text(self.starts_at),
            "ends_at": text(self.ends_at),
            "timezone": text(self.timezone),
            "priority": text(self.priority),
            "stacking": self.stacking.data,
            "match": self.match.data if self.match.data in MATCHES else ALL,
            "requires_coupon": bool(self.requires_coupon.data),
            "usage_limit": text(self.usage_limit),
            "usage_limit_per_customer": text(self.usage_limit_per_customer),
            "usage_limit_per_code": text(self.usage_limit_per_code),
        }


# -- reading rows from the form -----------------------------------------------------------------


def _indexes(form: MultiDict[str, str], pattern: str) -> list[int]:
    regex = re.compile(pattern)
    found = {int(m.group(1)) for key in form if (m := regex.match(key))}
    return sorted(found)


def _split(text: str) -> list[str]:
    return [part for part in re.split(r"[,\s]+", text or "") if part]


def parse_rows(form: MultiDict[str, str], group: str) -> list[Row]:
    """The group's rows as posted, renumbered from 0 in their order."""
    rows = []
    for old in _indexes(form, rf"^{group}-(\d+)-kind$"):
        prefix = f"{group}-{old}-"
        kind = form.get(f"{prefix}kind", "")
        row = Row(group, len(rows), kind)
        for param in row.params:
            name = f"{prefix}{param.name}"
            if param.type == ITEMS:
                row.values[param.name] = {
                    key: [v.strip() for v in form.getlist(f"{name}-{key}") if v.strip()]
                    for key in r.SELECTOR_KEYS
                    if any(v.strip() for v in form.getlist(f"{name}-{key}"))
                }
            elif param.type in (WEEKDAYS, METHODS):
                row.values[param.name] = [v for v in form.getlist(name) if v]
            elif param.type == TIERS:
                tiers = []
                for t in _indexes(form, rf"^{re.escape(name)}-(\d+)-threshold$"):
                    tier = {
                        "threshold": form.get(f"{name}-{t}-threshold", "").strip(),
                        "value": form.get(f"{name}-{t}-value", "").strip(),
                        "unit": form.get(f"{name}-{t}-unit", "amount"),
                    }
                    if tier["threshold"] or tier["value"]:  # a blank tier line is no tier
                        tiers.append(tier)
                row.values[param.name] = tiers
            else:
                row.values[param.name] = form.get(name, "").strip()
        rows.append(row)
    return rows


def new_row(group: str, index: int, kind: str | None) -> Row:
    kind = kind if kind in KIND_LABELS[group] else DEFAULT_KIND[group]
    row = Row(group, index, kind)
    if kind == r.TIERED:
        row.values["tiers"] = [{"threshold": "", "value": "", "unit": "amount"}]
    if kind == r.FREE_GIFT:
        row.values["quantity"] = "1"
    return row


def renumber(rows: list[Row]) -> list[Row]:
    for n, row in enumerate(rows):
        row.index = n
    return rows


# -- rows as the services take them -------------------------------------------------------------


def row_params(row: Row, currency: str) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """The row's params for the services, and messages for empty required numbers."""
    params: dict[str, Any] = {}
    missing: dict[str, list[str]] = {}
    for param in row.params:
        value = row.values.get(param.name)
        if param.type == ITEMS:
            if value:
                params[param.name] = {k: list(v) for k, v in value.items() if v}
        elif param.type in (WEEKDAYS, METHODS):
            if value:
                params[param.name] = list(value)
        elif param.type == COUNTRIES:
            if value:
                params[param.name] = _split(value)
        elif param.type == TIERS:
            tiers = []
            for tier in value or ():
                unit = "percent" if tier.get("unit") == "percent" else "amount"
                tiers.append({"threshold": tier.get("threshold", ""), unit: tier.get("value", "")})
            params[param.name] = tiers
        elif value in (None, ""):
            if param.required:
                missing[row.name(param.name)] = ["Enter a whole number."]
        elif param.type == MONEY and param.name == "price" and _is_zero(value, currency):
            params[param.name] = 0  # a fixed price of 0: free
        else:
            params[param.name] = value
    return params, missing


def _is_zero(text: str, currency: str) -> bool:
    try:
        return parse_amount(text, currency) == 0
    except ValidationError:
        return False


def service_rows(rows: Iterable[Row], currency: str) -> tuple[list[dict], dict[str, list[str]]]:
    found, missing = [], {}
    for row in rows:
        params, problems = row_params(row, currency)
        found.append({"kind": row.kind, "params": params})
        missing.update(problems)
    return found, missing


# -- stored promotions as the form shows them ---------------------------------------------------


def local_input(moment: datetime | None, zone: str) -> str:
    """A stored UTC moment as a datetime-local value in the promotion's zone."""
    if moment is None:
        return ""
    try:
        tz = ZoneInfo(zone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        tz = ZoneInfo("UTC")
    return moment.replace(tzinfo=UTC).astimezone(tz).strftime("%Y-%m-%dT%H:%M")


def parse_local(text: str, zone: str) -> datetime | None:
    """A datetime-local value in `zone` as an aware datetime, or None if it does not read."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
        tz = ZoneInfo(zone or "UTC")
    except (ValueError, ZoneInfoNotFoundError):
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=tz)


def stored_row(group: str, index: int, kind: str, params: Mapping[str, Any], currency: str) -> Row:
    row = Row(group, index, kind)
    for param in row.params:
        value = params.get(param.name)
        if value is None:
            continue
        if param.type == ITEMS:
            row.values[param.name] = {k: [str(v) for v in vs] for k, vs in value.items() if vs}
        elif param.type in (WEEKDAYS, METHODS):
            row.values[param.name] = [str(v) for v in value]
        elif param.type in (COUNTRIES, WORDS):
            row.values[param.name] = ", ".join(str(v) for v in value)
        elif param.type == TIERS:
            row.values[param.name] = [
                {
                    "threshold": _money_text(t.get("threshold"), currency),
                    "value": str(t["percent"])
                    if "percent" in t
                    else _money_text(t.get("amount"), currency),
                    "unit": "percent" if "percent" in t else "amount",
                }
                for t in value
            ]
        elif param.type == MONEY:
            row.values[param.name] = _money_text(value, currency)
        else:
            row.values[param.name] = str(value)
    return row


def _money_text(value: Any, currency: str) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        return format_amount_plain(value, currency)
    return "" if value is None else str(value)


def stored_rows(group: str, rows: Iterable[Any], currency: str) -> list[Row]:
    return [
        stored_row(group, n, row.kind, row.params or {}, currency) for n, row in enumerate(rows)
    ]


# -- where messages show ------------------------------------------------------------------------


def placed_keys(rows: Iterable[Row]) -> set[str]:
    """Every message key the rows' inputs show (the rest go to the top of the form)."""
    keys: set[str] = set(GROUPS)
    for row in rows:
        keys |= {row.key, row.name("kind")}
        for param in row.params:
            base = row.name(param.name)
            keys.add(base)
            if param.type == ITEMS:
                keys |= {f"{base}-{k}" for k in r.SELECTOR_KEYS}
            if param.type == TIERS:
                for t in range(len(row.values.get(param.name) or ()) + 1):
                    keys |= {f"{base}-{t}", f"{base}-{t}-threshold"}
                    keys |= {f"{base}-{t}-amount", f"{base}-{t}-percent"}
    return keys


def tier_messages(errors: Mapping[str, list[str]], row: Row, index: int) -> list[str]:
    """A tier's messages: its line, its threshold's and its discount's (amount or percent)."""
    base = row.name("tiers", index)
    found: list[str] = []
    for key in (base, f"{base}-threshold", f"{base}-amount", f"{base}-percent"):
        found.extend(errors.get(key, ()))
    return found


def selector_messages(errors: Mapping[str, list[str]], row: Row, name: str) -> list[str]:
    base = row.name(name)
    found = list(errors.get(base, ()))
    for key in r.SELECTOR_KEYS:
        found.extend(errors.get(f"{base}-{key}", ()))
    return found

"""Shipping methods: create, change and deactivate them (audited); the options for a parcel."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from sqlalchemy import func, select

from commerce import audit
from commerce.bounds import MAX_PRICE, MAX_WEIGHT_GRAMS
from commerce.countries import is_country
from commerce.db import service
from commerce.errors import DuplicateValue, NotFound, ValidationError
from commerce.extensions import db
from commerce.shipping.models import FLAT, SHIPPING_KINDS, WEIGHT, ShippingMethod

_CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$")
MAX_AMOUNT = MAX_PRICE + 1  # an amount is below it (money columns are INTEGER minor units)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _snapshot(method: ShippingMethod) -> dict[str, Any]:
    return {
        "name": method.name,
        "code": method.code,
        "kind": method.kind,
        "countries": list(method.countries or []),
        "price": method.price,
        "brackets": [dict(b) for b in method.brackets or []],
        "free_over": method.free_over,
        "position": method.position,
        "is_active": method.is_active,
    }


def clean_countries(countries: Iterable[str] | str | None) -> tuple[list[str], list[str]]:
    """Normalised, de-duplicated alpha-2 codes (in input order) and messages for bad ones."""
    if isinstance(countries, str):
        countries = re.split(r"[\s,;]+", countries)
    codes: list[str] = []
    bad: list[str] = []
    for raw in countries or []:
        code = str(raw).strip().upper()
        if not code:
            continue
        if not is_country(code):
            bad.append(code)
        elif code not in codes:
            codes.append(code)
    messages = (
        [f"Unknown country code{'s' if len(bad) > 1 else ''}: {', '.join(bad)}."] if bad else []
    )
    return codes, messages


def bracket_errors(brackets: Any) -> list[str]:
    """Messages for a weight table; each names its row (1-based) so the form can show where."""
    if not isinstance(brackets, list | tuple) or not brackets:
        return ["Add at least one weight bracket."]
    messages: list[str] = []
    previous: int | None = None
    last = len(brackets)
    for n, row in enumerate(brackets, start=1):
        if not isinstance(row, dict):
            messages.append(f"Row {n}: expected a weight and a price.")
            continue
        up_to, price = row.get("up_to_grams"), row.get("price")
        if up_to is None:
            if n != last:
                messages.append(f"Row {n}: only the last row may be open-ended.")
        elif not _is_int(up_to) or not 0 <= up_to <= MAX_WEIGHT_GRAMS:
            messages.append(
                f"Row {n}: the weight must be a whole number of grams from 0 to "
                f"{MAX_WEIGHT_GRAMS:,}."
            )
        else:
            if previous is not None and up_to == previous:
                messages.append(f"Row {n}: {up_to} g appears twice.")
            elif previous is not None and up_to < previous:
                messages.append(f"Row {n}: weights must go up ({up_to} g after {previous} g).")
            previous = up_to
        if not _is_int(price) or not 0 <= price < MAX_AMOUNT:
            messages.append(f"Row {n}: the price must be an amount of 0 or more, within prices.")
    return messages


def _clean(values: dict[str, Any], *, current: ShippingMethod | None = None) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    name = (values.get("name") or "").strip()
    code = (values.get("code") or "").strip().upper()
    kind = values.get("kind")
    if not name:
        errors["name"] = ["Enter a name."]
    elif len(name) > 120:
        errors["name"] = ["At most 120 characters."]
    if not code:
        errors["code"] = ["Enter a short code, like STANDARD."]
    elif not _CODE_RE.match(code):
        errors["code"] = ["Letters, digits, - and _ only, at most 40."]
    if kind not in SHIPPING_KINDS:
        errors["kind"] = ["Choose flat rate or by weight."]
    countries, messages = clean_countries(values.get("countries"))
    if messages:
        errors["countries"] = messages
    price = values.get("price")
    brackets: list[dict[str, Any]] = []
    if kind == FLAT:
        if price is None:
            errors["price"] = ["Enter the price of this method."]
        elif not _is_int(price) or not 0 <= price < MAX_AMOUNT:
            errors["price"] = ["Enter an amount of 0 or more."]
    elif kind == WEIGHT:
        price = None
        raw = values.get("brackets")
        messages = bracket_errors(raw)
        if messages:
            errors["brackets"] = messages
        else:
            brackets = [{"up_to_grams": b.get("up_to_grams"), "price": b["price"]} for b in raw]
    free_over = values.get("free_over")
    if free_over is not None and (not _is_int(free_over) or not 0 <= free_over < MAX_AMOUNT):
        errors["free_over"] = ["Enter an amount of 0 or more, or leave it empty."]
    position = values.get("position")
    if not _is_int(position) or not 0 <= position <= 9999:
        errors["position"] = ["Enter a whole number from 0 to 9999."]
    if errors:
        raise ValidationError(errors=errors)
    taken = db.session.scalar(
        select(ShippingMethod.id).where(func.upper(ShippingMethod.code) == code).limit(1)
    )
    if taken is not None and (current is None or taken != current.id):
        raise DuplicateValue(f"Another shipping method already uses the code {code}.", field="code")
    return {
        "name": name,
        "code": code,
        "kind": kind,
        "countries": countries,
        "price": price if kind == FLAT else None,
        "brackets": brackets,
        "free_over": free_over,
        "position": position,
    }


def get_shipping_method(method_id: int) -> ShippingMethod:
    method = db.session.get(ShippingMethod, method_id)
    if method is None:
        raise NotFound("No such shipping method.")
    return method


def list_shipping_methods() -> list[ShippingMethod]:
    return list(
        db.session.scalars(
            select(ShippingMethod).order_by(ShippingMethod.position, ShippingMethod.id)
        )
    )


@service
def create_shipping_method(
    *,
    name: str,
    code: str,
    by: Any,
    kind: str = FLAT,
    countries: Iterable[str] | str = (),
    price: int | None = None,
    brackets: list[dict[str, Any]] | None = None,
    free_over: int | None = None,
    position: int = 0,
    is_active: bool = True,
) -> ShippingMethod:
    values = _clean(
        {
            "name": name,
            "code": code,
            "kind": kind,
            "countries": countries,
            "price": price,
            "brackets": brackets,
            "free_over": free_over,
            "position": position,
        }
    )
    method = ShippingMethod(**values, is_active=bool(is_active))
    db.session.add(method)
    db.session.flush()
    audit.record(by, "shipping_method.create", method, after=_snapshot(method))
    return method


@service
def update_shipping_method(method: ShippingMethod, *, by: Any, **changes: Any) -> ShippingMethod:
    """Change any of name, code, kind, countries, price, brackets, free_over, position,
    is_active; what is not passed keeps its value."""
    current = _snapshot(method)
    unknown = set(changes) - set(current)
    if unknown:
        raise TypeError(f"unknown shipping method fields: {', '.join(sorted(unknown))}")
    merged = {**current, **changes}
    values = {**_clean(merged, current=method), "is_active": bool(merged["is_active"])}
    return audit.update_audited(
        method, values, by=by, action="shipping_method.update", snapshot=_snapshot
    )


def deactivate_shipping_method(method: ShippingMethod, *, by: Any) -> ShippingMethod:
    """The checkout stops offering it; orders that used it keep their copy of the price."""
    return audit.deactivate_audited(method, by=by, action="shipping_method.deactivate")


def shipping_options(
    country: str, weight_grams: int, subtotal: int
) -> list[tuple[ShippingMethod, int]]:
    """The active methods that ship `weight_grams` to `country`, with their price for an order
    of `subtotal` (int minor units), in display order. A weight above every bracket of a
    weight method leaves that method out."""
    if not _is_int(weight_grams) or weight_grams < 0:
        raise ValidationError("The parcel weight must be 0 g or more.", field="weight_grams")
    if not _is_int(subtotal):
        raise TypeError("subtotal must be an int of minor units")
    code = (country or "").strip().upper()
    methods = db.session.scalars(
        select(ShippingMethod)
        .where(ShippingMethod.is_active.is_(True))
        .order_by(ShippingMethod.position, ShippingMethod.id)
    )
    options: list[tuple[ShippingMethod, int]] = []
    for method in methods:
        if not method.ships_to(code):
            continue
        price = method.price_for(weight_grams, subtotal)
        if price is not None:
            options.append((method, price))
    return options

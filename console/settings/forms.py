"""Forms of the settings screens (shipping methods, tax rates) and the text they parse."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from flask_wtf import FlaskForm
from wtforms import BooleanField, SelectField, StringField, TextAreaField
from wtforms.validators import Length, Optional

from commerce.errors import ValidationError
from commerce.money import format_amount_plain, parse_amount
from commerce.shipping.models import SHIPPING_KINDS
from console.forms import MoneyField

OPEN_ENDED = ("*", "-", "any", "more")


class ShippingMethodForm(FlaskForm):
    name = StringField("Name", validators=[Optional(), Length(max=120)])
    code = StringField("Code", validators=[Optional(), Length(max=40)])
    kind = SelectField("Pricing", choices=list(SHIPPING_KINDS.items()), validate_choice=False)
    countries = StringField(
        "Countries",
        validators=[Optional(), Length(max=2000)],
        description="Two-letter codes separated by spaces or commas (DE AT CH); empty ships "
        "everywhere.",
    )
    price = MoneyField("Price", validators=[Optional()], description="For flat-rate methods.")
    brackets = TextAreaField(
        "Weight brackets",
        validators=[Optional(), Length(max=5000)],
        description="One row per line: up to grams, then the price (500 4.95). Start the last "
        "row with * for any heavier parcel.",
    )
    free_over = MoneyField(
        "Free at or over", validators=[Optional()], description="Order subtotal; empty: never free."
    )
    position = StringField("Position", description="Lower numbers are listed first.")
    is_active = BooleanField("Active (offered at checkout)", default=True)


class TaxRateForm(FlaskForm):
    country = StringField("Country", validators=[Optional(), Length(max=2)])
    region = StringField(
        "Region",
        validators=[Optional(), Length(max=10)],
        description="Optional, e.g. a US state (CA); a region's rate wins over the country's.",
    )
    name = StringField("Name", validators=[Optional(), Length(max=120)])
    rate_bps = StringField("Rate (%)", validators=[Optional(), Length(max=12)])
    is_active = BooleanField("Active", default=True)


def parse_brackets(text: str, currency: str) -> list[dict[str, Any]]:
    """Lines "up_to_grams price" -> bracket rows; errors name the row, under `brackets`."""
    rows: list[dict[str, Any]] = []
    messages: list[str] = []
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    for n, line in enumerate(lines, start=1):
        parts = line.replace("\t", " ").split()
        if len(parts) != 2:
            messages.append(f"Row {n}: write the weight in grams, a space, then the price.")
            continue
        weight, price_text = parts
        weight = weight.lower().removesuffix("g")
        up_to: int | None
        if weight in OPEN_ENDED:
            up_to = None
        elif weight.isdigit():
            up_to = int(weight)
        else:
            messages.append(f"Row {n}: “{parts[0]}” is not a whole number of grams.")
            continue
        try:
            price = parse_amount(price_text, currency)
        except ValidationError as exc:
            messages.append(f"Row {n}: {exc.message}")
            continue
        rows.append({"up_to_grams": up_to, "price": price})
    if messages:
        raise ValidationError(errors={"brackets": messages})
    return rows


def format_brackets(brackets: list[dict[str, Any]], currency: str) -> str:
    return "\n".join(
        f"{'*' if b.get('up_to_grams') is None else b['up_to_grams']} "
        f"{format_amount_plain(b['price'], currency)}"
        for b in brackets or []
    )


def parse_percent_bps(text: str) -> int:
    """ "20" or "8.25%" -> basis points (2000, 825); at most two decimal places."""
    raw = (text or "").strip().removesuffix("%").strip()
    if not raw:
        raise ValidationError("Enter a rate, like 20 or 8.25.", field="rate_bps")
    try:
        value = Decimal(raw)
    except InvalidOperation:
        value = Decimal("NaN")
    if not value.is_finite():
        raise ValidationError(f"“{text}” is not a percentage.", field="rate_bps")
    bps = value * 100
    if bps != bps.to_integral_value():
        raise ValidationError("At most two decimal places (8.25).", field="rate_bps")
    return int(bps)


def format_percent_bps(bps: int) -> str:
    return f"{Decimal(bps) / 100:f}".rstrip("0").rstrip(".") if bps % 100 else str(bps // 100)

"""Forms of the purchasing screens: they parse and type the input; the services decide."""

from __future__ import annotations

from datetime import date

from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, SelectField, StringField, TextAreaField
from wtforms.validators import Length, Optional

from commerce.errors import ValidationError
from commerce.money import parse_amount
from console.inventory.forms import _int_or_none


class SupplierForm(FlaskForm):
    name = StringField("Name", validators=[Optional(), Length(max=120)])
    email = StringField("Email", validators=[Optional(), Length(max=254)])
    phone = StringField("Phone", validators=[Optional(), Length(max=40)])
    lead_time_days = StringField("Lead time (days)", description="From ordering to delivery.")
    currency = StringField("Currency", validators=[Optional(), Length(max=3)])
    notes = TextAreaField("Notes", validators=[Optional(), Length(max=2000)])
    is_active = BooleanField("Active", default=True)


class NewOrderForm(FlaskForm):
    supplier_id = SelectField("Supplier", coerce=_int_or_none, validate_choice=False)
    location_id = SelectField("Deliver to", coerce=_int_or_none, validate_choice=False)
    expected_on = StringField("Expected on", description="The date the supplier promised.")
    note = TextAreaField("Note", validators=[Optional(), Length(max=2000)])


class OrderDetailsForm(FlaskForm):
    expected_on = StringField("Expected on")
    note = TextAreaField("Note", validators=[Optional(), Length(max=2000)])


class LineForm(FlaskForm):
    code = StringField("SKU or barcode", validators=[Optional(), Length(max=64)])
    quantity = StringField("Quantity", validators=[Optional(), Length(max=12)])
    unit_cost = StringField("Unit cost", validators=[Optional(), Length(max=20)])


class ReceiveLineForm(FlaskForm):
    code = StringField("SKU or barcode", validators=[Optional(), Length(max=64)])
    quantity = StringField("Quantity", validators=[Optional(), Length(max=12)])
    accept_over = HiddenField()
    key = HiddenField()


class PreferredSupplierForm(FlaskForm):
    supplier_id = SelectField("Preferred supplier", coerce=_int_or_none, validate_choice=False)
    supplier_sku = StringField("Supplier's code", validators=[Optional(), Length(max=64)])
    unit_cost = StringField("Agreed unit cost", validators=[Optional(), Length(max=20)])


class ShopSettingsForm(FlaskForm):
    show_incoming_in_shop = BooleanField(
        "Show “Back soon, expected <date>” on sold-out products with incoming stock"
    )


def whole_number(text: str | None, field: str) -> int:
    text = (text or "").strip()
    if not text.isdigit():
        raise ValidationError("Enter a whole number.", field=field)
    return int(text)


def optional_date(text: str | None, field: str = "expected_on") -> date | None:
    text = (text or "").strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValidationError("Enter a date like 2026-12-31.", field=field) from None


def money(text: str | None, currency: str, field: str, *, required: bool = True) -> int | None:
    text = (text or "").strip()
    if not text:
        if required:
            raise ValidationError("Enter an amount, such as 4.50.", field=field)
        return None
    return parse_amount(text, currency, field=field)

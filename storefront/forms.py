"""Flask-WTF forms for the shop's account pages: they parse input; the services decide."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    EmailField,
    HiddenField,
    PasswordField,
    RadioField,
    SelectField,
    StringField,
)
from wtforms.validators import DataRequired, Length

from commerce.countries import country_names
from commerce.customers.services import ADDRESS_FIELDS


class RegisterForm(FlaskForm):
    name = StringField("Name", validators=[Length(max=120)])
    email = EmailField("Email", validators=[DataRequired(), Length(max=255)])
    password = PasswordField(
        "Password", description="At least 12 characters; a few unrelated words work well."
    )
    next = HiddenField()


class EmailOnlyForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), Length(max=255)])


class NewPasswordForm(FlaskForm):
    password = PasswordField(
        "New password", description="At least 12 characters; a few unrelated words work well."
    )


class ChangePasswordForm(NewPasswordForm):
    current = PasswordField("Current password", validators=[DataRequired()])


class SignInForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), Length(max=255)])
    password = PasswordField("Password", validators=[DataRequired()])
    next = HiddenField()


class AddressForm(FlaskForm):
    name = StringField("Full name")
    line1 = StringField("Address line 1")
    line2 = StringField("Address line 2 (optional)")
    city = StringField("City")
    region = StringField("State / province / region")
    postal_code = StringField("Postal code")
    country = SelectField("Country", choices=[], validate_choice=False)
    phone = StringField("Phone (optional)")
    make_default = BooleanField("Use as my default address")

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.country.choices = [("", "Choose a country"), *country_names().items()]

    def values(self) -> dict[str, str]:
        return {key: getattr(self, key).data or "" for key in ADDRESS_FIELDS}


class ConfirmForm(FlaskForm):
    """An empty form carrying only the CSRF token (logout, delete, set default)."""


class InformationForm(AddressForm):
    """Checkout step one: contact email and the shipping address."""

    email = EmailField("Email", validators=[Length(max=255)])
    # Asked only when the shop requires consent for cart reminders (commerce.abandoned).
    recovery_consent = BooleanField("Email me a reminder if I do not finish my order")
    saved_address = SelectField("Saved address", choices=[], validate_choice=False)


class ShippingForm(FlaskForm):
    shipping_method = RadioField("Shipping method", choices=[], validate_choice=False)


class PaymentForm(FlaskForm):
    """Card details go to the payment provider; they are never stored."""

    card_number = StringField("Card number")
    exp_month = StringField("Expiry month (MM)")
    exp_year = StringField("Expiry year (YYYY)")
    cvc = StringField("Security code (CVC)")

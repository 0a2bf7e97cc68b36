"""Flask-WTF forms: they parse and type the input; the domain services decide what is valid."""

from __future__ import annotations

from typing import Any

from flask import current_app
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import (
    BooleanField,
    EmailField,
    HiddenField,
    IntegerField,
    PasswordField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Email, InputRequired, Length, NumberRange, Optional
from wtforms.validators import ValidationError as FormError

from commerce.catalog.models import PRODUCT_STATUSES
from commerce.catalog.services import BULK_ACTIONS
from commerce.errors import ValidationError
from commerce.money import parse_amount
from commerce.staff.permissions import ROLE_LABELS, ROLES


class MoneyField(StringField):
    """Decimal text in the shop currency, exposed as int minor units in `.amount`."""

    amount: int | None = None

    def process_formdata(self, valuelist: list[Any]) -> None:
        super().process_formdata(valuelist)
        self.amount = None
        text = (self.data or "").strip()
        if not text:
            return
        try:
            self.amount = parse_amount(text, current_app.config["SHOP_CURRENCY"])
        except ValidationError as exc:
            raise ValueError(exc.message) from exc

    def _value(self) -> str:
        if self.raw_data:
            return self.raw_data[0]
        return self.data or ""


def _optional_id(value: Any) -> int | None:
    if value in (None, "", "None"):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ValueError("Choose from the list.") from None


class SignInForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), Length(max=255)])
    password = PasswordField("Password", validators=[DataRequired()])
    remember = BooleanField("Keep me signed in on this computer")
    next = HiddenField()


class SetPasswordForm(FlaskForm):
    password = PasswordField("New password", validators=[DataRequired()])
    confirm = PasswordField("Repeat the password", validators=[DataRequired()])

    def validate_confirm(self, field: Any) -> None:
        if field.data != self.password.data:
            raise FormError("The two passwords differ.")


class StaffForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), Email(), Length(max=255)])
    name = StringField("Name", validators=[Optional(), Length(max=120)])
    role = SelectField("Role", choices=[(r, ROLE_LABELS[r]) for r in ROLES])


class RoleForm(FlaskForm):
    role = SelectField("Role", choices=[(r, ROLE_LABELS[r]) for r in ROLES])


class ConfirmForm(FlaskForm):
    """A POST with nothing but the CSRF token (deactivate, delete...)."""


STATUS_CHOICES = [(s, s.capitalize()) for s in PRODUCT_STATUSES]


class ProductForm(FlaskForm):
    title = StringField("Title", validators=[DataRequired(), Length(max=255)])
    handle = StringField("Handle", validators=[Optional(), Length(max=255)])
    status = SelectField("Status", choices=STATUS_CHOICES, default="draft")
    description = TextAreaField("Description", validators=[Optional()])
    description_format = SelectField(
        "Format", choices=[("markdown", "Markdown"), ("html", "HTML")], default="markdown"
    )
    vendor = StringField("Vendor", validators=[Optional(), Length(max=120)])
    product_type = StringField("Product type", validators=[Optional(), Length(max=120)])
    tags = StringField("Tags", validators=[Optional()], description="Separate tags with commas")
    # validate_choice off: the service names an unknown category in its own words.
    category_id = SelectField("Category", coerce=_optional_id, validate_choice=False)
    seo_title = StringField("SEO title", validators=[Optional(), Length(max=255)])
    seo_description = TextAreaField("SEO description", validators=[Optional(), Length(max=320)])
    is_gift_card = BooleanField("Gift card")

    def product_fields(self) -> dict[str, Any]:
        return {
            "title": self.title.data,
            "status": self.status.data,
            "description": self.description.data or "",
            "description_format": self.description_format.data,
            "vendor": self.vendor.data or "",
            "product_type": self.product_type.data or "",
            "tags": self.tags.data or "",
            "category_id": self.category_id.data,
            "seo_title": self.seo_title.data or "",
            "seo_description": self.seo_description.data or "",
            "is_gift_card": bool(self.is_gift_card.data),
        }


class NewProductForm(ProductForm):
    price = MoneyField("Price", validators=[InputRequired()])
    compare_at_price = MoneyField("Compare-at price", validators=[Optional()])
    sku = StringField("SKU", validators=[Optional(), Length(max=64)])
    barcode = StringField("Barcode", validators=[Optional(), Length(max=64)])
    weight_grams = IntegerField("Weight (g)", validators=[Optional()])


class VariantForm(FlaskForm):
    sku = StringField("SKU", validators=[Optional(), Length(max=64)])
    barcode = StringField("Barcode", validators=[Optional(), Length(max=64)])
    price = MoneyField("Price", validators=[InputRequired()])
    compare_at_price = MoneyField("Compare-at price", validators=[Optional()])
    weight_grams = IntegerField("Weight (g)", validators=[Optional()])


class OptionsForm(FlaskForm):
    option1_name = StringField("Option 1", validators=[Optional(), Length(max=80)])
    option1_values = StringField("Values", validators=[Optional()])
    option2_name = StringField("Option 2", validators=[Optional(), Length(max=80)])
    option2_values = StringField("Values", validators=[Optional()])
    option3_name = StringField("Option 3", validators=[Optional(), Length(max=80)])
    option3_values = StringField("Values", validators=[Optional()])

    def options(self) -> list[tuple[str, list[str]]]:
        result = []
        for i in (1, 2, 3):
            name = getattr(self, f"option{i}_name").data or ""
            values = [v.strip() for v in (getattr(self, f"option{i}_values").data or "").split(",")]
            if name.strip() or any(values):
                result.append((name, [v for v in values if v]))
        return result


class BulkForm(FlaskForm):
    """Choices are checked by the bulk service, which names the field that is wrong."""

    action = SelectField(
        "Action", choices=[("", "Bulk action…"), *BULK_ACTIONS.items()], validate_choice=False
    )
    tag = StringField("Tag", validators=[Optional(), Length(max=80)])
    category_id = SelectField("Category", coerce=_optional_id, validate_choice=False)
    price_mode = SelectField(
        "Change", choices=[("percent", "by %"), ("amount", "by amount")], validate_choice=False
    )
    price_value = StringField("Value", validators=[Optional(), Length(max=20)])


class CategoryForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=120)])
    handle = StringField("Handle", validators=[Optional(), Length(max=160)])
    parent_id = SelectField("Parent", coerce=_optional_id, validate_choice=False)
    description = TextAreaField("Description", validators=[Optional()])
    position = IntegerField("Position", validators=[Optional(), NumberRange(min=0)])


class CollectionForm(FlaskForm):
    title = StringField("Title", validators=[DataRequired(), Length(max=255)])
    handle = StringField("Handle", validators=[Optional(), Length(max=255)])
    description = TextAreaField("Description", validators=[Optional()])
    kind = SelectField("Type", choices=[("manual", "Manual"), ("rule", "Rule-based")])
    match = SelectField("Products must match", choices=[("all", "all rules"), ("any", "any rule")])


class MediaUploadForm(FlaskForm):
    image = FileField("Image")
    alt = StringField("Alt text", validators=[Optional(), Length(max=512)])


class MediaAltForm(FlaskForm):
    alt = StringField("Alt text", validators=[Optional(), Length(max=512)])


class ImportForm(FlaskForm):
    file = FileField("CSV file")


class EmailOnlyForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), Length(max=255)])


class ChangePasswordForm(SetPasswordForm):
    current = PasswordField("Current password", validators=[DataRequired()])


class CodeForm(FlaskForm):
    code = StringField("Code from your authenticator app", validators=[DataRequired()])


class CurrentPasswordForm(FlaskForm):
    password = PasswordField("Current password", validators=[DataRequired()])

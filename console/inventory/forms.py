"""Forms of the warehouse screens: they parse and type the input; the services decide."""

from __future__ import annotations

import uuid

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import BooleanField, HiddenField, SelectField, StringField, TextAreaField
from wtforms.validators import Length, Optional

from commerce.inventory.locations import LOCATION_KINDS
from commerce.inventory.services import ADJUST_REASONS, REASON_LABELS

SET_COUNT = "count"
ADJUST_CHOICES = [(r, REASON_LABELS[r]) for r in ADJUST_REASONS] + [
    (SET_COUNT, "Set counted quantity")
]


def new_key() -> str:
    return uuid.uuid4().hex


def _int_or_none(value: object) -> int | None:
    try:
        return int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


class ScanForm(FlaskForm):
    code = StringField("SKU or barcode", validators=[Optional(), Length(max=64)])
    variant_id = HiddenField()
    quantity = StringField("Quantity", validators=[Optional(), Length(max=12)])
    location_id = SelectField("Location", coerce=_int_or_none, validate_choice=False)
    reason = SelectField("Reason", choices=ADJUST_CHOICES, validate_choice=False)
    note = StringField("Note", validators=[Optional(), Length(max=500)])
    unit_cost = StringField("Unit cost", validators=[Optional(), Length(max=20)])
    key = HiddenField()


class TransferForm(FlaskForm):
    code = StringField("SKU or barcode", validators=[Optional(), Length(max=64)])
    from_location_id = SelectField("From", coerce=_int_or_none, validate_choice=False)
    to_location_id = SelectField("To", coerce=_int_or_none, validate_choice=False)
    quantity = StringField("Quantity", validators=[Optional(), Length(max=12)])
    note = StringField("Note", validators=[Optional(), Length(max=500)])
    key = HiddenField()


class CountUploadForm(FlaskForm):
    file = FileField("Count sheet (CSV)")


class CountBookForm(FlaskForm):
    sheet = TextAreaField()
    reference = StringField("Reference", validators=[Optional(), Length(max=120)])


class LocationForm(FlaskForm):
    name = StringField("Name", validators=[Optional(), Length(max=120)])
    code = StringField("Code", validators=[Optional(), Length(max=20)])
    kind = SelectField("Kind", choices=list(LOCATION_KINDS.items()), validate_choice=False)
    priority = StringField("Priority", description="Lower numbers are allocated from first.")
    is_active = BooleanField("Active (stock here can be sold)", default=True)
    address = TextAreaField("Address", validators=[Optional(), Length(max=1000)])

"""Unavailable stock on a variant's stock page: set units aside as damaged or in quality
control (or release them back to sale), and set the safety stock kept back per location.
Each form posts to its own URL, calls one service and returns to the stock page."""

from __future__ import annotations

from typing import Any

from flask import url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import IntegerField, RadioField, SelectField, StringField
from wtforms.validators import InputRequired, Length, NumberRange

from commerce.catalog.services import get_variant
from commerce.inventory.models import DAMAGED, QUALITY_CONTROL, SAFETY_STOCK
from commerce.inventory.unavailable import (
    MAX_REASON,
    STATE_LABELS,
    release_set_aside,
    set_aside,
    set_safety_stock,
    write_off_set_aside,
)
from console.web import done
from web.forms import form_status, submit

ACTIONS = [
    ("set_aside", "Set aside"),
    ("release", "Release to sale"),
    ("write_off", "Write off (they leave stock)"),
]


def _location(value: Any) -> int | None:
    return int(value) if str(value or "").isdigit() else None


class SetAsideForm(FlaskForm):
    action = RadioField("Action", choices=ACTIONS, default="set_aside", validate_choice=True)
    state = SelectField(
        "State",
        choices=[(state, STATE_LABELS[state]) for state in (DAMAGED, QUALITY_CONTROL)],
        validate_choice=False,
    )
    location_id = SelectField("Location", coerce=_location, validate_choice=False)
    quantity = IntegerField("Units", validators=[InputRequired(), NumberRange(min=1)])
    reason = StringField("Reason", validators=[InputRequired(), Length(max=MAX_REASON)])


class SafetyStockForm(FlaskForm):
    location_id = SelectField("Location", coerce=_location, validate_choice=False)
    units = IntegerField(
        STATE_LABELS[SAFETY_STOCK], validators=[InputRequired(), NumberRange(min=0)]
    )


def _back(variant_id: int, **forms: Any) -> Any:
    from console.inventory.stock import stock_variant_page  # the page these forms sit on

    return stock_variant_page(variant_id, status=form_status(), **forms)


def variant_set_aside(variant_id: int) -> Any:
    variant = get_variant(variant_id)
    form = SetAsideForm()
    verb = {"release": release_set_aside, "write_off": write_off_set_aside}.get(
        form.action.data, set_aside
    )
    result = submit(
        form,
        lambda: verb(
            variant.id,
            location_id=form.location_id.data,
            state=form.state.data,
            quantity=form.quantity.data,
            reason=form.reason.data,
            by=current_user,
        ),
    )
    if not result.ok:
        return _back(variant.id, aside_form=form)
    state = STATE_LABELS.get(form.state.data, "").lower()
    message = {
        "release": f"{form.quantity.data} unit(s) released from {state} to sale.",
        "write_off": f"{form.quantity.data} unit(s) {state} written off.",
    }.get(form.action.data, f"{form.quantity.data} unit(s) set aside as {state}.")
    return done(message, url_for("console.stock_variant", variant_id=variant.id))


def variant_safety_stock(variant_id: int) -> Any:
    variant = get_variant(variant_id)
    form = SafetyStockForm()
    result = submit(
        form,
        lambda: set_safety_stock(
            variant.id, location_id=form.location_id.data, units=form.units.data, by=current_user
        ),
    )
    if not result.ok:
        return _back(variant.id, safety_form=form)
    return done(
        f"Safety stock set to {form.units.data}.",
        url_for("console.stock_variant", variant_id=variant.id),
    )

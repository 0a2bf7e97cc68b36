"""The checkout line in the console: shoppers in checkout, in line and admitted per minute
(a dashboard panel that reloads itself), and its capacity, changed live (admins:
settings.manage; audited; every app process uses the new value at its next admission)."""

from __future__ import annotations

from typing import Any

from flask import current_app, redirect, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import StringField

from commerce.checkout.queue import current_capacity, line_stats, set_capacity
from commerce.errors import CommerceError
from console.web import done
from web.forms import apply_errors, note_expired
from web.pages import is_htmx, render

PERMISSION = "settings.manage"
PANEL_REFRESH_SECONDS = 5


class CapacityForm(FlaskForm):
    capacity = StringField(
        "Shoppers in checkout at once",
        description="0 lets everyone in (no line). Lowering it lets nobody new in until enough "
        "shoppers have finished; raising it moves the line at once.",
    )


def _page(form: CapacityForm, status: int) -> Any:
    return render(
        "console/settings/checkout_queue.html",
        form=form,
        line=line_stats(),
        default_capacity=current_app.config["CHECKOUT_QUEUE_CAPACITY"],
        refresh_seconds=PANEL_REFRESH_SECONDS,
        status=status,
    )


def checkout_queue_settings() -> Any:
    if request.method == "GET":
        form = CapacityForm(formdata=None)
        form.capacity.data = str(current_capacity())
        return _page(form, 200)
    form = CapacityForm()
    if form.validate_on_submit():
        try:
            capacity = set_capacity(form.capacity.data, by=current_user)
        except CommerceError as exc:
            apply_errors(form, exc)
            return _page(form, 422 if exc.status < 500 else exc.status)
        message = (
            "The checkout line is off: everyone goes straight to checkout."
            if capacity == 0
            else f"Up to {capacity:,} shoppers may now be in checkout at once."
        )
        return done(message, url_for("console.checkout_queue_settings"))
    note_expired(form)
    return _page(form, 422)


def dashboard_checkout_queue() -> Any:
    """The dashboard's checkout-line panel again (it reloads itself every few seconds)."""
    if not is_htmx():
        return redirect(url_for("console.checkout_queue_settings"))
    return render(
        "console/_dashboard_checkout_queue.html",
        "console/_dashboard_checkout_queue.html",
        line=line_stats(),
        refresh_seconds=PANEL_REFRESH_SECONDS,
    )

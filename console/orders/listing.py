"""Orders: the dense order list (filters, sort and paging in the URL, saved presets), the
queue of refunds waiting for an admin's approval and the queue of returns across orders.

The order page itself is console/orders/page.py. Filter input comes from the URL, so anything
can arrive: a bad value is reported at its filter with a 422, never a 500.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timedelta
from urllib.parse import parse_qs, urlencode

from flask import abort, current_app, redirect, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Response
from wtforms import HiddenField, StringField

from commerce.db import utcnow
from commerce.errors import CommerceError, NotFound, ValidationError
from commerce.money import parse_amount
from commerce.orders.models import FULFILLMENT_STATUSES, ORDER_STATUSES, PAYMENT_STATUSES
from commerce.orders.queries import (
    CHANNELS,
    ORDER_SORTS,
    RETURN_FILTERS,
    OrderFilter,
    list_orders,
    list_returns,
    refunds_awaiting_approval,
    to_shop_time,
)
from commerce.staff.saved_filters import (
    MAX_NAME,
    delete_saved_filter,
    list_saved_filters,
    save_filter,
)
from console import bp
from console.web import done, kept_filter_args
from web.forms import FORM_EXPIRED, apply_errors
from web.pages import is_htmx, render

AREA = "orders"  # SavedFilter.area of the order list's presets
# The URL parameters the list understands; presets keep only these.
FILTER_KEYS = (
    "q",
    "status",
    "payment",
    "fulfillment",
    "from",
    "to",
    "total_min",
    "total_max",
    "channel",
    "note",
    "email",
    "sku",
    "customer",
    "sort",
    "dir",
)
MULTI_KEYS = ("status", "payment", "fulfillment")


@bp.app_template_filter("shop_time")
def shop_time(moment: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A stored (naive UTC) moment in the shop's time zone, the zone dates are filtered in."""
    return to_shop_time(moment).strftime(fmt) if moment else ""


@bp.app_template_filter("age_short")
def age_short(moment: datetime | None, now: datetime | None = None) -> str:
    """How long ago, as a queue shows it: "45 min", "3 h", "2 d"."""
    if moment is None:
        return ""
    seconds = max(int(((now or utcnow()) - moment).total_seconds()), 0)
    if seconds < 3600:
        return f"{max(seconds // 60, 1)} min"
    if seconds < 86400:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} d"


def status_label(value: str) -> str:
    return value.replace("_", " ").capitalize()


# -- reading the filter -------------------------------------------------------------------------


def _choices(
    args: MultiDict[str, str], key: str, known: tuple[str, ...], problems: dict[str, str]
) -> tuple[str, ...]:
    values = tuple(dict.fromkeys(v for v in args.getlist(key) if v))
    if any(v not in known for v in values):
        problems[key] = "Choose from the list."
        return tuple(v for v in values if v in known)
    return values


def _date(args: MultiDict[str, str], key: str, problems: dict[str, str]) -> date | None:
    text = args.get(key, "").strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        problems[key] = "Enter a date like 2026-01-31."
        return None


def _amount(args: MultiDict[str, str], key: str, problems: dict[str, str]) -> int | None:
    text = args.get(key, "").strip()
    if not text:
        return None
    try:
        amount = parse_amount(text, current_app.config["SHOP_CURRENCY"], field=key)
    except ValidationError as exc:
        problems[key] = exc.message
        return None
    if amount < 0:
        problems[key] = "Cannot be negative."
        return None
    return amount


def read_order_filter(args: MultiDict[str, str]) -> tuple[OrderFilter, dict[str, str]]:
    """The list's filter from URL parameters, and a message per parameter that was wrong.

    Wrong values are left out of the filter (and reported); sort and direction fall back to
    their defaults silently, as a stale bookmark should.
    """
    problems: dict[str, str] = {}
    statuses = _choices(args, "status", ORDER_STATUSES, problems)
    payments = _choices(args, "payment", PAYMENT_STATUSES, problems)
    fulfillments = _choices(args, "fulfillment", FULFILLMENT_STATUSES, problems)
    placed_from = _date(args, "from", problems)
    placed_to = _date(args, "to", problems)
    if placed_from and placed_to and placed_to < placed_from:
        problems["to"] = "The end date is before the start date."
        placed_to = None
    total_min = _amount(args, "total_min", problems)
    total_max = _amount(args, "total_max", problems)
    if total_min is not None and total_max is not None and total_max < total_min:
        problems["total_max"] = "The maximum is below the minimum."
        total_max = None
    channel = args.get("channel", "").strip()
    if channel and channel not in CHANNELS:
        problems["channel"] = "Choose a channel from the list."
        channel = ""
    note = args.get("note", "").strip()
    if note not in ("", "1", "0"):
        problems["note"] = "Choose yes, no or any."
        note = ""
    customer = args.get("customer", "").strip()
    if customer and not (customer.isdigit() and len(customer) < 12):
        problems["customer"] = "Not a customer number."
        customer = ""
    email = args.get("email", "").strip()
    if len(email) > 255:
        problems["email"] = "Too long for an email address."
        email = ""
    flt = OrderFilter(
        q=args.get("q", "")[:200],
        statuses=statuses,
        payment_statuses=payments,
        fulfillment_statuses=fulfillments,
        placed_from=placed_from,
        placed_to=placed_to,
        total_min=total_min,
        total_max=total_max,
        channel=channel,
        has_note={"1": True, "0": False}.get(note),
        email=email,
        sku=args.get("sku", "")[:64],
        customer_id=int(customer) if customer else None,
        sort=args.get("sort", ""),
        direction=args.get("dir", ""),
    ).normalized()
    return flt, problems


def filter_args(args: MultiDict[str, str]) -> dict[str, str | list[str]]:
    return kept_filter_args(args, FILTER_KEYS, MULTI_KEYS)


def query_string(args: Mapping[str, str | list[str]]) -> str:
    return urlencode(args, doseq=True)


# -- the list -----------------------------------------------------------------------------------


class PresetForm(FlaskForm):
    """Save the current filter (carried in `query`) under a name."""

    name = StringField("Preset name")
    query = HiddenField()


class PresetDeleteForm(FlaskForm):
    """Delete a preset: nothing but the CSRF token (and the list to go back to)."""

    query = HiddenField()


def _list_response(
    args: MultiDict[str, str], *, preset_form: PresetForm | None = None, status: int = 200
) -> Response:
    flt, problems = read_order_filter(args)
    page = list_orders(
        flt,
        after=args.get("after"),
        before=args.get("before"),
        limit=current_app.config["PAGE_SIZE"],
    )
    kept = filter_args(args)
    current_query = query_string(kept)
    if preset_form is None:
        preset_form = PresetForm(formdata=None)
    preset_form.query.data = current_query
    return render(
        "console/orders/list.html",
        "console/orders/_list.html",
        status=422 if problems else status,
        page=page,
        flt=flt,
        problems=problems,
        args=kept,
        raw=args,
        current_query=current_query,
        presets=list_saved_filters(current_user.id, AREA),
        preset_form=preset_form,
        delete_form=PresetDeleteForm(formdata=None),
        sorts=ORDER_SORTS,
        statuses=ORDER_STATUSES,
        payment_statuses=PAYMENT_STATUSES,
        fulfillment_statuses=FULFILLMENT_STATUSES,
        channels=CHANNELS,
        status_label=status_label,
        max_preset_name=MAX_NAME,
        htmx_fragment=is_htmx(),
    )


def order_list() -> Response:
    return _list_response(request.args)


def _list_url(query: str) -> str:
    base = url_for("console.order_list")
    return f"{base}?{query}" if query else base


def _posted_query() -> tuple[str, MultiDict[str, str]]:
    """The list state a preset form carried, reduced to the list's own parameters."""
    raw = MultiDict(parse_qs(request.form.get("query", "").lstrip("?"), keep_blank_values=False))
    kept = filter_args(raw)
    return query_string(kept), MultiDict(
        [(k, v) for k, vs in kept.items() for v in ([vs] if isinstance(vs, str) else vs)]
    )


def order_preset_save() -> Response:
    if request.method == "GET":  # a reload after a failed save: back to the list
        return redirect(url_for("console.order_list"))
    form = PresetForm()
    query, args = _posted_query()
    if not form.validate_on_submit():
        form.form_errors.append(FORM_EXPIRED)
        return _list_response(args, preset_form=form, status=422)
    try:
        saved = save_filter(AREA, name=form.name.data, query=query, by=current_user)
    except CommerceError as exc:
        apply_errors(form, exc)
        return _list_response(args, preset_form=form, status=exc.status)
    return done(f"Saved the filter “{saved.name}”.", _list_url(saved.query))


def order_preset_delete(preset_id: int) -> Response:
    PresetDeleteForm().validate_on_submit()  # CSRFProtect has checked the token already
    query, _args = _posted_query()
    try:
        name = delete_saved_filter(preset_id, by=current_user)
    except NotFound:
        abort(404)
    return done(f"Deleted the filter “{name}”.", _list_url(query))


# -- refunds awaiting approval ------------------------------------------------------------------


def refund_approvals() -> Response:
    """The approval queue; approving and rejecting happen on each order's page."""
    page = refunds_awaiting_approval(
        after=request.args.get("after"),
        before=request.args.get("before"),
        limit=current_app.config["PAGE_SIZE"],
    )
    return render(
        "console/orders/refund_approvals.html",
        "console/orders/_list_refund_approvals.html",
        page=page,
        now=utcnow(),
        stale_after=timedelta(days=2),
    )


RETURN_FILTER_LABELS = {
    "open": "Open",
    "received": "Received",
    "cancelled": "Cancelled",
    "all": "All",
}


def return_queue() -> Response:
    """Returns across orders, open ones first in line; receiving happens on each order's page.
    An unknown status in the URL is answered with the open queue and a 422 saying so."""
    asked = request.args.get("status", "open")
    status = asked if asked in RETURN_FILTERS else "open"
    page = list_returns(
        status,
        after=request.args.get("after"),
        before=request.args.get("before"),
        limit=current_app.config["PAGE_SIZE"],
    )
    return render(
        "console/orders/returns.html",
        "console/orders/_list_returns.html",
        page=page,
        shown=status,
        unknown_status=asked if asked != status else None,
        filters=RETURN_FILTER_LABELS,
        now=utcnow(),
        status=422 if asked != status else 200,
    )

"""Inventory: the stock overview (+ CSV export), per-SKU and per-location history, locations.

The booking screens (receive, adjust, undo, transfers, cycle counts) live in
console/inventory/scan.py and console/inventory/counts.py.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from flask import Response, abort, current_app, request, stream_with_context, url_for
from flask_login import current_user

from commerce.catalog.models import Variant
from commerce.catalog.taxonomy import category_tree
from commerce.errors import ValidationError
from commerce.extensions import db
from commerce.inventory.bundles import component_stock
from commerce.inventory.locations import (
    LOCATION_KINDS,
    create_location,
    get_location,
    update_location,
)
from commerce.inventory.models import REASONS
from commerce.inventory.queries import (
    STOCK_SORTS,
    MovementFilter,
    StockFilter,
    all_locations,
    export_stock_csv,
    list_movements,
    list_stock,
    location_totals,
    variant_levels,
)
from commerce.inventory.services import REASON_LABELS, active_locations
from commerce.inventory.transfers import in_transit_at
from commerce.purchasing.queries import incoming_at
from console import bp
from console.inventory.forms import LocationForm
from console.purchasing.panel import purchasing_panel
from console.web import done, int_arg
from web.forms import form_status, submit
from web.pages import render


@bp.app_template_global("reason_label")
def reason_label(reason: str) -> str:
    return REASON_LABELS.get(reason, reason)


# -- the stock overview ---------------------------------------------------------------------------


def read_stock_filter() -> StockFilter:
    args = request.args
    return StockFilter(
        q=args.get("q", ""),
        location_id=int_arg("location"),
        category_id=int_arg("category"),
        low=args.get("low") == "1",
        out=args.get("out") == "1",
        sort=args.get("sort", ""),
        direction=args.get("dir", ""),
    ).normalized()


def _page_args() -> dict[str, str]:
    return {k: v for k, v in request.args.items() if v and k not in ("after", "before")}


def stock_overview() -> Any:
    flt = read_stock_filter()
    page = list_stock(
        flt,
        after=request.args.get("after"),
        before=request.args.get("before"),
        limit=current_app.config["PAGE_SIZE"],
    )
    return render(
        "console/inventory/stock.html",
        "console/inventory/_stock.html",
        page=page,
        # units on the road per row, to it and from it (transfer documents)
        in_transit=in_transit_at((r.variant_id, r.location_id) for r in page.items),
        incoming=incoming_at((r.variant_id, r.location_id) for r in page.items),
        flt=flt,
        args=_page_args(),
        sorts=STOCK_SORTS,
        locations=all_locations(),
        categories=[("", "Any category")]
        + [(c.id, ("— " * c.depth) + c.name) for c in category_tree()],
    )


def stock_export() -> Any:
    """The overview's current filter as CSV, streamed batch by batch."""
    flt = read_stock_filter()
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M")
    response = Response(stream_with_context(export_stock_csv(flt)), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="stock-{stamp}.csv"'
    return response


# -- history ------------------------------------------------------------------------------------


def _date_arg(name: str, problems: dict[str, str]) -> date | None:
    text = request.args.get(name, "").strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        problems[name] = "Enter a date like 2026-01-31."
        return None


def read_movement_filter(**fixed: Any) -> tuple[MovementFilter, dict[str, str]]:
    problems: dict[str, str] = {}
    reason = request.args.get("reason", "")
    if reason and reason not in REASONS:
        problems["reason"] = "Choose a reason from the list."
    values: dict[str, Any] = {
        "location_id": int_arg("location"),
        "reason": reason,
        "date_from": _date_arg("from", problems),
        "date_to": _date_arg("to", problems),
    }
    values.update(fixed)
    return MovementFilter(**values).normalized(), problems


def _ledger_context(flt: MovementFilter, problems: dict[str, str], endpoint: str, **ids: Any):
    page = list_movements(
        flt,
        after=request.args.get("after"),
        before=request.args.get("before"),
        limit=current_app.config["PAGE_SIZE"],
    )
    return {
        "ledger": page,
        "mflt": flt,
        "problems": problems,
        "args": _page_args(),
        "ledger_endpoint": endpoint,
        "ledger_ids": ids,
        "reasons": [(r, REASON_LABELS[r]) for r in REASONS],
        "locations": all_locations(),
    }


def stock_variant(variant_id: int) -> Any:
    return stock_variant_page(variant_id)


def stock_variant_page(variant_id: int, *, status: int = 200, **forms: Any) -> Any:
    """The variant's stock page; `forms` are the unavailable-stock forms as posted (with
    their messages) when a post comes back to the page."""
    from console.inventory.unavailable import SafetyStockForm, SetAsideForm

    variant = db.session.get(Variant, variant_id)
    if variant is None:
        abort(404)
    flt, problems = read_movement_filter(variant_id=variant.id)
    context = _ledger_context(flt, problems, "console.stock_variant", variant_id=variant.id)
    levels = variant_levels(variant.id)
    choices = [(loc.id, f"{loc.code} · {loc.name}") for loc in active_locations()]
    aside = forms.get("aside_form") or SetAsideForm(formdata=None)
    safety = forms.get("safety_form") or SafetyStockForm(formdata=None)
    aside.location_id.choices = safety.location_id.choices = choices
    return render(
        "console/inventory/variant.html",
        "console/inventory/_ledger.html",
        status=422 if problems else status,
        variant=variant,
        levels=levels,
        in_transit=in_transit_at((variant.id, level.location_id) for level in levels),
        **purchasing_panel(variant),
        parts=component_stock(variant.id),  # a bundle's stock is its components'
        aside_form=aside,
        safety_form=safety,
        **context,
    )


# -- locations ----------------------------------------------------------------------------------


def location_list() -> Any:
    return render(
        "console/inventory/locations.html",
        locations=all_locations(),
        totals=location_totals(),
        kinds=LOCATION_KINDS,
    )


def location_detail(location_id: int) -> Any:
    location = get_location(location_id)
    flt, problems = read_movement_filter(location_id=location.id)
    context = _ledger_context(flt, problems, "console.location_detail", location_id=location.id)
    return render(
        "console/inventory/location.html",
        "console/inventory/_ledger.html",
        status=422 if problems else 200,
        location=location,
        totals=location_totals().get(location.id, {}),
        kinds=LOCATION_KINDS,
        **context,
    )


def _location_values(form: LocationForm) -> dict[str, Any]:
    text = (form.priority.data or "").strip()
    if not text.isdigit():
        raise ValidationError("Enter a whole number from 0 to 9999.", field="priority")
    return {
        "name": form.name.data or "",
        "code": form.code.data or "",
        "kind": form.kind.data,
        "priority": int(text),
        "is_active": bool(form.is_active.data),
        "address": form.address.data or "",
    }


def location_new() -> Any:
    form = LocationForm()
    if request.method == "GET":
        form.priority.data = "1"
    else:
        sent = submit(form, lambda: create_location(by=current_user, **_location_values(form)))
        if sent.ok:
            return done(
                f"Location {sent.value.code} created.",
                url_for("console.location_detail", location_id=sent.value.id),
            )
    return render(
        "console/inventory/location_form.html", form=form, location=None, status=form_status()
    )


def location_edit(location_id: int) -> Any:
    location = get_location(location_id)
    if request.method == "GET":
        form = LocationForm(obj=location, formdata=None)
        form.priority.data = str(location.priority)
    else:
        form = LocationForm()
        sent = submit(
            form, lambda: update_location(location, by=current_user, **_location_values(form))
        )
        if sent.ok:
            return done(
                f"Location {location.code} saved.",
                url_for("console.location_detail", location_id=location.id),
            )
    return render(
        "console/inventory/location_form.html", form=form, location=location, status=form_status()
    )

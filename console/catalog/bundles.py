"""A variant's bundle page: what it is made of (each component's stock, per location, and the
bundles it allows) and the builder: a picker that searches variants and rows of quantities.

One URL serves the page and, for htmx with `q`, the picker's results; the picker's rows join
the builder's form (named after its current rows), so one POST saves all."""

from __future__ import annotations

from typing import Any

from flask import request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import FieldList, Form, FormField, HiddenField, IntegerField
from wtforms.validators import NumberRange, Optional

from commerce.catalog.bundles import (
    MAX_COMPONENT_QUANTITY,
    MAX_COMPONENTS,
    components_of,
    describe_variants,
    find_components,
    set_bundle_components,
)
from commerce.catalog.services import get_variant
from commerce.inventory.bundles import bundles_stock, component_stock, free_units
from console.web import done
from web.forms import form_status, submit
from web.pages import is_htmx, render


class ComponentRow(Form):
    variant_id = HiddenField()
    quantity = IntegerField(
        "Units per bundle",
        validators=[Optional(), NumberRange(min=0, max=MAX_COMPONENT_QUANTITY)],
    )


class BundleForm(FlaskForm):
    components = FieldList(FormField(ComponentRow), max_entries=MAX_COMPONENTS * 3)


def _rows(form: BundleForm) -> list[tuple[Any, int]]:
    """The rows as the service takes them: (variant id, units); an empty quantity is 0 (a
    picker row not chosen, or a component taken out)."""
    return [
        (
            int(row.variant_id.data) if str(row.variant_id.data or "").isdigit() else None,
            row.quantity.data or 0,
        )
        for row in form.components
    ]


def _page(variant_id: int, form: BundleForm | None = None, *, status: int = 200) -> Any:
    variant = get_variant(variant_id)
    if form is None:
        form = BundleForm()
        for component_id, quantity in components_of([variant.id]).get(variant.id, []):
            form.components.append_entry({"variant_id": str(component_id), "quantity": quantity})
    parts = component_stock(variant.id)
    return render(
        "console/catalog/bundle.html",
        variant=variant,
        form=form,
        parts=parts,
        labels=_labels(form),
        sellable=bundles_stock([variant.id]).get(variant.id),
        status=status,
        **_picker(variant.id),
    )


def _labels(form: BundleForm) -> dict[int, str]:
    """What each row of the form is (SKU and title), also for rows the picker added."""
    ids = [int(r.variant_id.data) for r in form.components if str(r.variant_id.data).isdigit()]
    return describe_variants(ids)


def _picker(variant_id: int) -> dict[str, Any]:
    """The picker's results for `q`, as rows numbered after `start` (the builder's rows)."""
    query = request.args.get("q", "").strip()
    found = find_components(query, exclude=variant_id)
    start = request.args.get("start", "0")
    return {
        "found": found,
        "free": free_units(v.id for v, _ in found),
        "start": int(start) if start.isdigit() and int(start) < 1000 else 0,
        "query": query,
    }


def bundle_page(variant_id: int) -> Any:
    """The page (with the picker's results for `q`, without JavaScript), or for htmx with `q`
    the results alone."""
    if is_htmx() and "q" in request.args:
        return render(
            "console/catalog/_bundle_picker.html",
            variant=get_variant(variant_id),
            **_picker(variant_id),
        )
    return _page(variant_id)


def bundle_save(variant_id: int) -> Any:
    variant = get_variant(variant_id)
    form = BundleForm()
    result = submit(form, lambda: set_bundle_components(variant, _rows(form), by=current_user))
    if not result.ok:
        return _page(variant_id, form, status=form_status())
    count = len(result.value or [])
    message = (
        f"{variant.sku or variant.title} is a bundle of {count} component(s)."
        if count
        else f"{variant.sku or variant.title} is a plain variant again."
    )
    return done(message, url_for("console.bundle_page", variant_id=variant.id))

"""Suppliers (list, add, edit) and a variant's preferred supplier."""

from __future__ import annotations

from typing import Any

from flask import current_app, request, url_for
from flask_login import current_user

from commerce.catalog.models import Variant
from commerce.errors import NotFound
from commerce.extensions import db
from commerce.purchasing.queries import all_suppliers
from commerce.purchasing.services import (
    create_supplier,
    get_supplier,
    set_preferred_supplier,
    update_supplier,
)
from console.purchasing.forms import PreferredSupplierForm, SupplierForm, money, whole_number
from console.web import done
from web.forms import FORM_EXPIRED, form_status, submit
from web.pages import render


def supplier_list() -> Any:
    return render("console/purchasing/suppliers.html", suppliers=all_suppliers())


def _values(form: SupplierForm) -> dict[str, Any]:
    return {
        "name": form.name.data or "",
        "email": form.email.data or "",
        "phone": form.phone.data or "",
        "lead_time_days": whole_number(form.lead_time_days.data, "lead_time_days"),
        "currency": form.currency.data or "",
        "notes": form.notes.data or "",
    }


def supplier_new() -> Any:
    form = SupplierForm()
    if request.method == "GET":
        form.lead_time_days.data = "7"
        form.currency.data = current_app.config["SHOP_CURRENCY"]
    else:
        sent = submit(form, lambda: create_supplier(by=current_user, **_values(form)))
        if sent.ok:
            return done(f"Supplier {sent.value.name} added.", url_for("console.supplier_list"))
    return render(
        "console/purchasing/supplier_form.html", form=form, supplier=None, status=form_status()
    )


def supplier_edit(supplier_id: int) -> Any:
    supplier = get_supplier(supplier_id)
    if request.method == "GET":
        form = SupplierForm(obj=supplier, formdata=None)
        form.lead_time_days.data = str(supplier.lead_time_days)
    else:
        form = SupplierForm()
        sent = submit(
            form,
            lambda: update_supplier(
                supplier, by=current_user, is_active=bool(form.is_active.data), **_values(form)
            ),
        )
        if sent.ok:
            return done(f"Supplier {supplier.name} saved.", url_for("console.supplier_list"))
    return render(
        "console/purchasing/supplier_form.html", form=form, supplier=supplier, status=form_status()
    )


def variant_supplier(variant_id: int) -> Any:
    """The stock page's "Preferred supplier" form (the reorder suggestions use it)."""
    variant = db.session.get(Variant, variant_id)
    if variant is None:
        raise NotFound("No such variant.")
    target = url_for("console.stock_variant", variant_id=variant.id)
    form = PreferredSupplierForm()
    form.supplier_id.choices = [("", "None")] + [(s.id, s.name) for s in all_suppliers()]

    def save() -> Any:
        supplier = get_supplier(form.supplier_id.data) if form.supplier_id.data else None
        cost = (
            money(form.unit_cost.data, supplier.currency, "unit_cost", required=False)
            if supplier
            else None
        )
        return set_preferred_supplier(
            variant.id,
            by=current_user,
            supplier_id=supplier.id if supplier else None,
            supplier_sku=form.supplier_sku.data or "",
            unit_cost=cost,
        )

    sent = submit(form, save)
    if sent.ok:
        return done("Preferred supplier saved.", target)
    message = sent.error.message if sent.error else FORM_EXPIRED
    if sent.error is not None and getattr(sent.error, "errors", None):
        message = next(iter(sent.error.errors.values()))[0]
    return done(message, target, level="error")

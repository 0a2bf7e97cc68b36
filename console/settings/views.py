"""Settings for the checkout: shipping methods and tax rates (admins: settings.manage)."""

from __future__ import annotations

from typing import Any

from flask import current_app, request, url_for
from flask_login import current_user

from commerce.countries import country_name
from commerce.errors import ValidationError
from commerce.money import format_amount_plain
from commerce.shipping.models import SHIPPING_KINDS, WEIGHT, ShippingMethod
from commerce.shipping.services import (
    create_shipping_method,
    deactivate_shipping_method,
    get_shipping_method,
    list_shipping_methods,
    update_shipping_method,
)
from commerce.tax.models import TaxRate
from commerce.tax.services import (
    create_tax_rate,
    deactivate_tax_rate,
    get_tax_rate,
    list_tax_rates,
    shop_prices_include_tax,
    update_tax_rate,
)
from console import bp
from console.forms import ConfirmForm
from console.settings.forms import (
    ShippingMethodForm,
    TaxRateForm,
    format_brackets,
    format_percent_bps,
    parse_brackets,
    parse_percent_bps,
)
from console.web import done
from web.forms import form_status, submit
from web.pages import render

PERMISSION = "settings.manage"


bp.app_template_filter("country_name")(country_name)


@bp.app_template_filter("bps_percent")
def _bps_percent(bps: int) -> str:
    return f"{format_percent_bps(bps)}%"


def _currency() -> str:
    return current_app.config["SHOP_CURRENCY"]


def _whole_number(text: str | None, field: str, problems: dict[str, list[str]]) -> int | None:
    text = (text or "").strip()
    if not text.isdigit():
        problems[field] = ["Enter a whole number from 0 to 9999."]
        return None
    return int(text)


# -- shipping methods ----------------------------------------------------------------------------


def shipping_list() -> Any:
    return render(
        "console/settings/shipping.html",
        methods=list_shipping_methods(),
        kinds=SHIPPING_KINDS,
    )


def _shipping_values(form: ShippingMethodForm) -> dict[str, Any]:
    """The form's typed values; parse problems of every field are raised together."""
    problems: dict[str, list[str]] = {}
    position = _whole_number(form.position.data, "position", problems)
    brackets: list[dict[str, Any]] = []
    if form.kind.data == WEIGHT:
        try:
            brackets = parse_brackets(form.brackets.data or "", _currency())
        except ValidationError as exc:
            problems.update(exc.errors)
    if problems:
        raise ValidationError(errors=problems)
    return {
        "name": form.name.data or "",
        "code": form.code.data or "",
        "kind": form.kind.data,
        "countries": form.countries.data or "",
        "price": form.price.amount,
        "brackets": brackets,
        "free_over": form.free_over.amount,
        "position": position,
        "is_active": bool(form.is_active.data),
    }


def _fill_shipping_form(form: ShippingMethodForm, method: ShippingMethod) -> None:
    currency = _currency()
    form.countries.data = " ".join(method.countries or [])
    form.price.data = "" if method.price is None else format_amount_plain(method.price, currency)
    form.free_over.data = (
        "" if method.free_over is None else format_amount_plain(method.free_over, currency)
    )
    form.brackets.data = format_brackets(method.brackets, currency)
    form.position.data = str(method.position)


def _shipping_form_page(form: ShippingMethodForm, method: ShippingMethod | None, status: int):
    return render(
        "console/settings/shipping_form.html",
        form=form,
        method=method,
        confirm=ConfirmForm(),
        status=status,
    )


def shipping_new() -> Any:
    form = ShippingMethodForm()
    if request.method == "GET":
        form.position.data = "0"
    else:
        sent = submit(
            form, lambda: create_shipping_method(by=current_user, **_shipping_values(form))
        )
        if sent.ok:
            return done(
                f"Shipping method {sent.value.code} created.", url_for("console.shipping_list")
            )
    return _shipping_form_page(form, None, form_status())


def shipping_edit(method_id: int) -> Any:
    method = get_shipping_method(method_id)
    if request.method == "GET":
        form = ShippingMethodForm(obj=method, formdata=None)
        _fill_shipping_form(form, method)
    else:
        form = ShippingMethodForm()
        sent = submit(
            form, lambda: update_shipping_method(method, by=current_user, **_shipping_values(form))
        )
        if sent.ok:
            return done(f"Shipping method {method.code} saved.", url_for("console.shipping_list"))
    return _shipping_form_page(form, method, form_status())


def shipping_deactivate(method_id: int) -> Any:
    method = get_shipping_method(method_id)
    ConfirmForm().validate_on_submit()
    deactivate_shipping_method(method, by=current_user)
    return done(
        f"Shipping method {method.code} is deactivated; checkout no longer offers it.",
        url_for("console.shipping_list"),
    )


# -- tax rates -----------------------------------------------------------------------------------


def tax_rate_list() -> Any:
    return render(
        "console/settings/taxes.html",
        rates=list_tax_rates(),
        prices_include_tax=shop_prices_include_tax(),
    )


def _tax_values(form: TaxRateForm) -> dict[str, Any]:
    return {
        "country": form.country.data or "",
        "region": form.region.data or "",
        "name": form.name.data or "",
        "rate_bps": parse_percent_bps(form.rate_bps.data or ""),
        "is_active": bool(form.is_active.data),
    }


def _tax_form_page(form: TaxRateForm, rate: TaxRate | None, status: int) -> Any:
    return render(
        "console/settings/tax_form.html", form=form, rate=rate, confirm=ConfirmForm(), status=status
    )


def tax_rate_new() -> Any:
    form = TaxRateForm()
    if request.method == "POST":
        sent = submit(form, lambda: create_tax_rate(by=current_user, **_tax_values(form)))
        if sent.ok:
            return done(
                f"Tax rate {sent.value.audit_label} created.", url_for("console.tax_rate_list")
            )
    return _tax_form_page(form, None, form_status())


def tax_rate_edit(rate_id: int) -> Any:
    rate = get_tax_rate(rate_id)
    if request.method == "GET":
        form = TaxRateForm(obj=rate, formdata=None)
        form.rate_bps.data = format_percent_bps(rate.rate_bps)
    else:
        form = TaxRateForm()
        sent = submit(form, lambda: update_tax_rate(rate, by=current_user, **_tax_values(form)))
        if sent.ok:
            return done(f"Tax rate {rate.audit_label} saved.", url_for("console.tax_rate_list"))
    return _tax_form_page(form, rate, form_status())


def tax_rate_deactivate(rate_id: int) -> Any:
    rate = get_tax_rate(rate_id)
    ConfirmForm().validate_on_submit()
    deactivate_tax_rate(rate, by=current_user)
    return done(f"Tax rate {rate.audit_label} is deactivated.", url_for("console.tax_rate_list"))

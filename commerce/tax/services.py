"""Tax rates: create, change and deactivate them (audited); the tax on an amount."""

from __future__ import annotations

import re
from typing import Any

from flask import current_app
from sqlalchemy import select

from commerce import audit
from commerce.countries import is_country
from commerce.db import service, transaction
from commerce.errors import DuplicateValue, NotFound, ValidationError
from commerce.extensions import db
from commerce.tax.models import TaxRate

BPS = 10_000  # basis points in 100%
_REGION_RE = re.compile(r"^[A-Z0-9]{1,10}$")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _divide_half_even(numerator: int, denominator: int) -> int:
    """numerator / denominator rounded half-even, in integers (no float, no Decimal context)."""
    quotient, remainder = divmod(numerator, denominator)
    twice = 2 * remainder
    if twice > denominator or (twice == denominator and quotient % 2 == 1):
        quotient += 1
    return quotient


def compute_tax(amount: int, rate_bps: int, *, prices_include_tax: bool) -> int:
    """The tax in int minor units, rounded half-even.

    Inclusive prices: the tax contained in `amount` (amount * rate / (10000 + rate)).
    Exclusive prices: the tax to add to `amount` (amount * rate / 10000).
    """
    if not _is_int(amount) or amount < 0:
        raise ValueError("amount must be an int of minor units, 0 or more")
    if not _is_int(rate_bps) or not 0 <= rate_bps <= BPS:
        raise ValueError("rate_bps must be an int from 0 to 10000")
    if prices_include_tax:
        return _divide_half_even(amount * rate_bps, BPS + rate_bps)
    return _divide_half_even(amount * rate_bps, BPS)


def _snapshot(rate: TaxRate) -> dict[str, Any]:
    return {
        "country": rate.country,
        "region": rate.region,
        "name": rate.name,
        "rate_bps": rate.rate_bps,
        "is_active": rate.is_active,
    }


def _clean(values: dict[str, Any], *, current: TaxRate | None = None) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    country = (values.get("country") or "").strip().upper()
    region = (values.get("region") or "").strip().upper()
    name = (values.get("name") or "").strip()
    rate_bps = values.get("rate_bps")
    if not country:
        errors["country"] = ["Enter a two-letter country code, like DE or US."]
    elif not is_country(country):
        errors["country"] = [f"{country} is not an ISO 3166 country code."]
    if region and not _REGION_RE.match(region):
        errors["region"] = ["Letters and digits only, at most 10 (e.g. CA for California)."]
    if not name:
        errors["name"] = ["Enter a name, like VAT or Sales tax."]
    elif len(name) > 120:
        errors["name"] = ["At most 120 characters."]
    if not _is_int(rate_bps) or not 0 <= rate_bps <= BPS:
        errors["rate_bps"] = ["Enter a rate from 0% to 100%."]
    if errors:
        raise ValidationError(errors=errors)
    taken = db.session.scalar(
        select(TaxRate.id).where(TaxRate.country == country, TaxRate.region == region).limit(1)
    )
    if taken is not None and (current is None or taken != current.id):
        where = f"{country} {region}" if region else country
        field = "region" if region else "country"
        raise DuplicateValue(f"{where} already has a tax rate; edit that one.", field=field)
    return {"country": country, "region": region, "name": name, "rate_bps": rate_bps}


def get_tax_rate(rate_id: int) -> TaxRate:
    rate = db.session.get(TaxRate, rate_id)
    if rate is None:
        raise NotFound("No such tax rate.")
    return rate


def list_tax_rates() -> list[TaxRate]:
    return list(db.session.scalars(select(TaxRate).order_by(TaxRate.country, TaxRate.region)))


@service
def create_tax_rate(
    *,
    country: str,
    name: str,
    rate_bps: int,
    by: Any,
    region: str = "",
    is_active: bool = True,
) -> TaxRate:
    values = _clean({"country": country, "region": region, "name": name, "rate_bps": rate_bps})
    rate = TaxRate(**values, is_active=bool(is_active))
    db.session.add(rate)
    db.session.flush()
    audit.record(by, "tax_rate.create", rate, after=_snapshot(rate))
    return rate


@service
def update_tax_rate(rate: TaxRate, *, by: Any, **changes: Any) -> TaxRate:
    """Change any of country, region, name, rate_bps, is_active."""
    current = _snapshot(rate)
    unknown = set(changes) - set(current)
    if unknown:
        raise TypeError(f"unknown tax rate fields: {', '.join(sorted(unknown))}")
    merged = {**current, **changes}
    values = {**_clean(merged, current=rate), "is_active": bool(merged["is_active"])}
    return audit.update_audited(rate, values, by=by, action="tax_rate.update", snapshot=_snapshot)


@service
def deactivate_tax_rate(rate: TaxRate, *, by: Any) -> TaxRate:
    """The rate no longer applies to new orders; orders keep the tax they were charged."""
    return audit.deactivate_audited(rate, by=by, action="tax_rate.deactivate")
    with transaction():
        rate.is_active = False
        audit.record(
            by, "tax_rate.deactivate", rate, before={"is_active": True}, after={"is_active": False}
        )
    return rate


def shop_prices_include_tax() -> bool:
    """The shop setting PRICES_INCLUDE_TAX (environment variable, default off)."""
    return bool(current_app.config.get("PRICES_INCLUDE_TAX", False))


def rate_for(country: str, region: str | None = None) -> TaxRate | None:
    """The active rate for a region when one exists, else the country's, else None."""
    country = (country or "").strip().upper()
    region = (region or "").strip().upper()
    regions = [region, ""] if region else [""]
    rates = {
        r.region: r
        for r in db.session.scalars(
            select(TaxRate).where(
                TaxRate.country == country,
                TaxRate.region.in_(regions),
                TaxRate.is_active.is_(True),
            )
        )
    }
    return rates.get(region) or rates.get("")


def tax_for(
    country: str,
    region: str | None,
    amount: int,
    *,
    prices_include_tax: bool | None = None,
) -> tuple[int, int]:
    """(rate_bps, tax_amount) for `amount` (int minor units) shipped to country/region.

    A region's rate wins over the country's; no rate means (0, 0). With inclusive prices the
    tax is the part contained in `amount`, otherwise the part to add; rounded half-even.
    `prices_include_tax` defaults to the shop setting.
    """
    if prices_include_tax is None:
        prices_include_tax = shop_prices_include_tax()
    rate = rate_for(country, region)
    if rate is None:
        return 0, compute_tax(amount, 0, prices_include_tax=bool(prices_include_tax))
    tax = compute_tax(amount, rate.rate_bps, prices_include_tax=bool(prices_include_tax))
    return rate.rate_bps, tax

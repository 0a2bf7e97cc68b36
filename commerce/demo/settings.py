"""Demo shipping methods and tax rates, so the demo shop can take an order out of the box.

Loaded only when the shop has none of its own (a merchant's settings are never touched).
"""

from __future__ import annotations

from sqlalchemy import func, select

from commerce.db import transaction
from commerce.extensions import db
from commerce.shipping.models import FLAT, WEIGHT, ShippingMethod
from commerce.shipping.services import create_shipping_method
from commerce.tax.models import TaxRate
from commerce.tax.services import create_tax_rate

EUROPE = "GB DE FR NL BE AT IE ES IT DK SE"
SHIPPING = [
    # name, code, kind, countries, price, brackets, free_over
    ("Standard (3 to 5 days)", "STANDARD", FLAT, "US CA", 595, None, 7500),
    ("Express (1 to 2 days)", "EXPRESS", FLAT, "US", 1495, None, None),
    (
        "International tracked",
        "INTL",
        WEIGHT,
        f"{EUROPE} AU NZ JP",
        None,
        [
            {"up_to_grams": 500, "price": 1295},
            {"up_to_grams": 2000, "price": 1995},
            {"up_to_grams": 10000, "price": 3995},
        ],
        None,
    ),
]
TAX_RATES = [
    # country, region, name, basis points
    ("US", "CA", "California sales tax", 725),
    ("US", "NY", "New York sales tax", 400),
    ("US", "TX", "Texas sales tax", 625),
    ("US", "WA", "Washington sales tax", 650),
    ("CA", "", "GST", 500),
    ("GB", "", "VAT", 2000),
    ("DE", "", "MwSt.", 1900),
    ("FR", "", "TVA", 2000),
    ("NL", "", "BTW", 2100),
]


def ensure_demo_settings() -> dict[str, int]:
    """Create the demo shipping methods and tax rates where the shop has none."""
    created = {"shipping_methods": 0, "tax_rates": 0}
    with transaction():
        if not db.session.scalar(select(func.count(ShippingMethod.id))):
            for position, (name, code, kind, countries, price, brackets, free_over) in enumerate(
                SHIPPING
            ):
                create_shipping_method(
                    name=name,
                    code=code,
                    kind=kind,
                    countries=countries,
                    price=price,
                    brackets=brackets,
                    free_over=free_over,
                    position=position,
                    by=None,
                )
                created["shipping_methods"] += 1
        if not db.session.scalar(select(func.count(TaxRate.id))):
            for country, region, name, rate_bps in TAX_RATES:
                create_tax_rate(
                    country=country, region=region, name=name, rate_bps=rate_bps, by=None
                )
                created["tax_rates"] += 1
    return created

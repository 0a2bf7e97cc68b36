"""A small shop for pricing tests: two products, two shipping methods, three tax rates."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from commerce.shipping.services import create_shipping_method
from commerce.tax.services import create_tax_rate

BRACKETS = [
    {"up_to_grams": 500, "price": 495},
    {"up_to_grams": 2000, "price": 795},
    {"up_to_grams": 10000, "price": 1495},
]


@pytest.fixture
def shop(make_product, monkeypatch, app):
    """A: $19.99, 300 g. B: $5.00 (was $8.00), 1200 g. STD: $5.00 flat anywhere, free from
    $50.00. PARCEL: by weight, France only. Tax: GB 20%, US 5%, US-CA 7.25%."""
    monkeypatch.setitem(app.config, "PRICES_INCLUDE_TAX", False)
    a = make_product("Mug", price=1999, weight_grams=300, status="active")
    b = make_product("Card", price=500, compare_at_price=800, weight_grams=1200, status="active")
    create_shipping_method(name="Standard", code="STD", price=500, free_over=5000, by=None)
    create_shipping_method(
        name="Parcel", code="PARCEL", kind="weight", brackets=BRACKETS, countries="FR", by=None
    )
    create_tax_rate(country="GB", name="VAT", rate_bps=2000, by=None)
    create_tax_rate(country="US", name="Sales tax", rate_bps=500, by=None)
    create_tax_rate(country="US", region="CA", name="CA sales tax", rate_bps=725, by=None)
    return SimpleNamespace(a=a.variants[0].id, b=b.variants[0].id, products={"a": a, "b": b})

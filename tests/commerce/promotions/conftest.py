"""A small shop for promotion tests: T-shirts (a child category of Clothing), a mug in the
Summer collection, a card tagged "gift", two shipping methods, GB VAT 20%, and `promo(...)`
making an enabled promotion through the services."""

from __future__ import annotations

from datetime import datetime
from types import SimpleNamespace
from typing import Any

import pytest

from commerce.catalog.taxonomy import add_to_collection, create_collection
from commerce.extensions import db
from commerce.inventory.models import Location
from commerce.inventory.services import receive_stock
from commerce.pricing import CartLine, PricingContext, price_cart
from commerce.promotions.coupons import add_coupon_code
from commerce.promotions.services import create_promotion, enable_promotion
from commerce.shipping.services import create_shipping_method
from commerce.tax.services import create_tax_rate

# Monday 7 June 2027, 10:00 UTC (12:00 in Paris)
NOW = datetime(2027, 6, 7, 10, 0)


@pytest.fixture
def shop(app, make_product, make_category, monkeypatch):
    monkeypatch.setitem(app.config, "PRICES_INCLUDE_TAX", False)
    clothing = make_category("Clothing")
    tshirts = make_category("T-shirts", parent=clothing)
    mugs = make_category("Mugs")
    tee = make_product("Plain tee", price=1000, category_id=tshirts.id, status="active")
    tee2 = make_product("Print tee", price=2000, category_id=tshirts.id, status="active")
    mug = make_product("Mug", price=1500, category_id=mugs.id, status="active")
    card = make_product("Card", price=500, tags=["gift"], status="active")
    sale = make_product("Sale socks", price=300, tags=["sale"], status="active")
    summer = create_collection(title="Summer", by=None)
    add_to_collection(summer, [mug.id], by=None)
    on_sale = create_collection(
        title="On sale",
        kind="rule",
        rules=[{"field": "tag", "op": "equals", "value": "sale"}],
        by=None,
    )
    db.session.add(Location(name="Main", code="MAIN", priority=1))
    db.session.commit()
    for product in (tee, tee2, mug, card, sale):
        receive_stock(product.variants[0].id, quantity=50, by=None)
    create_shipping_method(name="Standard", code="STD", price=500, by=None)
    create_shipping_method(name="Express", code="EXP", price=1500, by=None)
    create_tax_rate(country="GB", name="VAT", rate_bps=2000, by=None)
    return SimpleNamespace(
        clothing=clothing,
        tshirts=tshirts,
        mugs=mugs,
        summer=summer,
        on_sale=on_sale,
        products={"tee": tee, "tee2": tee2, "mug": mug, "card": card, "sale": sale},
        tee=tee.variants[0].id,
        tee2=tee2.variants[0].id,
        mug=mug.variants[0].id,
        card=card.variants[0].id,
        sale=sale.variants[0].id,
    )


@pytest.fixture
def promo(shop):
    """promo(actions=[...], conditions=[...], code="SUMMER", enabled=True, **fields)."""

    def make(
        actions: list[dict[str, Any]] | None = None,
        conditions: list[dict[str, Any]] | None = None,
        *,
        code: str | None = None,
        enabled: bool = True,
        **fields: Any,
    ) -> Any:
        fields.setdefault("name", "Summer sale")
        fields.setdefault("timezone", "Europe/Paris")
        promotion = create_promotion(
            by=None, actions=actions or [], conditions=conditions or [], **fields
        )
        if code:
            add_coupon_code(promotion, code=code, by=None)
        if enabled:
            enable_promotion(promotion, by=None)
        return promotion

    return make


def row(kind: str, **params: Any) -> dict[str, Any]:
    return {"kind": kind, "params": params}


def context(**kw: Any) -> PricingContext:
    kw.setdefault("now", NOW)
    return PricingContext(**kw)


def price(lines: dict[int, int], **kw: Any) -> Any:
    return price_cart([CartLine(v, q) for v, q in lines.items()], context(**kw))

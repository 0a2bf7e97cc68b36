"""An order line keeps what its units cost when the order was placed, so a margin does not move
when later receipts move the average cost (and a bundle is costed by its components)."""

from __future__ import annotations

from sqlalchemy import select

from commerce.catalog.bundles import set_bundle_components
from commerce.catalog.services import create_product
from commerce.checkout.cart import add_to_cart
from commerce.checkout.services import (
    choose_shipping_method,
    place_order,
    save_information,
    start_checkout,
)
from commerce.db import utcnow
from commerce.extensions import db
from commerce.inventory.services import default_location, receive_stock
from commerce.orders.models import OrderLine
from commerce.reports.periods import Period
from commerce.reports.rankings import top_products
from tests.conftest import TEST_CARD, US_ADDRESS


def buy(variant_id: int, quantity: int) -> OrderLine:
    cart = add_to_cart(None, variant_id=variant_id, quantity=quantity)
    checkout = start_checkout(cart)
    save_information(checkout, email="ada@example.com", address=US_ADDRESS)
    choose_shipping_method(checkout, code="STD")
    order = place_order(checkout.key, card=TEST_CARD).order
    return order.lines[0]


def test_a_margin_keeps_the_cost_of_when_the_order_was_placed(checkout_shop):
    where = default_location().id
    receive_stock(checkout_shop.small, quantity=10, by=None, location_id=where, unit_cost=1000)
    line = buy(checkout_shop.small, 2)  # $25.00 each, the average cost $10.00
    assert line.unit_cost == 1000
    # a dearer receipt moves the average cost to about $20.00; the sale keeps its $10.00
    receive_stock(checkout_shop.small, quantity=10, by=None, location_id=where, unit_cost=3000)
    today = utcnow().date()
    (row,) = [r for r in top_products(Period(today, today)).rows if r.units == 2]
    assert (row.cost, row.uncosted_units, row.margin) == (2 * 1000, 0, 2 * 2500 - 2 * 1000)


def test_a_bundle_line_costs_its_components_and_a_line_without_cost_stays_unknown(
    checkout_shop,
):
    where = default_location().id
    receive_stock(checkout_shop.small, quantity=5, by=None, location_id=where, unit_cost=800)
    receive_stock(checkout_shop.medium, quantity=5, by=None, location_id=where, unit_cost=900)
    kit = create_product(title="Pair of tees", price=4500, sku="TEE-PAIR", status="active", by=None)
    set_bundle_components(
        kit.variants[0], [(checkout_shop.small, 1), (checkout_shop.medium, 1)], by=None
    )
    db.session.commit()
    assert buy(kit.variants[0].id, 1).unit_cost == 800 + 900
    plain = create_product(title="Uncosted mug", price=900, sku="MUG-NC", status="active", by=None)
    db.session.commit()
    receive_stock(plain.variants[0].id, quantity=3, by=None, location_id=where)  # no cost named
    assert buy(plain.variants[0].id, 1).unit_cost is None
    lines = db.session.scalars(select(OrderLine).order_by(OrderLine.id)).all()
    assert [line.unit_cost for line in lines] == [1700, None]

"""The bundle race on PostgreSQL: shoppers on real threads check out at once, gift boxes (1 mug +
2 coffee bags), boxes with a loose mug, loose mugs and loose bags, for the last units. Exactly
what exists is sold (more loose buyers than units, so nothing can be left), never more, and the
ledger, the holds and the allocations agree afterwards (reconcile)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from commerce.checkout.cart import add_to_cart
from commerce.checkout.services import (
    choose_shipping_method,
    place_order,
    save_information,
    start_checkout,
)
from commerce.errors import OutOfStock
from commerce.extensions import db
from commerce.inventory.models import Allocation, Reservation, StockLevel
from commerce.inventory.services import availability, reconcile
from commerce.orders.models import Order, OrderLine
from tests.commerce.inventory.bundle_shop import build_bundle_shop
from tests.concurrency.conftest import run_together, unexpected
from tests.conftest import TEST_CARD, US_ADDRESS

pytestmark = pytest.mark.postgres

MUGS, BAGS = 3, 4


def test_bundles_and_their_loose_components_never_oversell(race_app):
    shop = build_bundle_shop(mugs=MUGS, coffee=BAGS)
    carts = (
        [[(shop.box, 1)]] * 3
        + [[(shop.box, 1), (shop.mug, 1)]] * 2
        + [[(shop.mug, 1)]] * (MUGS + 1)
        + [[(shop.coffee, 1)]] * (BAGS + 1)
    )

    def check_out(i: int) -> int:
        cart = None
        for variant_id, quantity in carts[i]:
            cart = add_to_cart(cart, variant_id=variant_id, quantity=quantity)
        checkout = start_checkout(cart)
        save_information(checkout, email=f"buyer{i}@example.com", address=US_ADDRESS)
        choose_shipping_method(checkout, code="STD")
        order = place_order(checkout.key, card=TEST_CARD).order
        assert order is not None
        return order.id

    outcomes = run_together(race_app, len(carts), check_out)

    assert unexpected(outcomes) == []
    refused = [o.domain_error for o in outcomes if o.domain_error is not None]
    assert all(isinstance(e, OutOfStock) for e in refused), refused
    db.session.expire_all()
    # Every mug and bag was sold, none twice: what the placed orders' lines need equals what
    # was allocated, and equals the stock there was.
    needed = {shop.mug: 0, shop.coffee: 0}
    for line in db.session.scalars(select(OrderLine)):
        if line.components:
            for part in line.components:
                needed[part["variant_id"]] += part["quantity"] * line.quantity
        else:
            needed[line.variant_id] += line.quantity
    allocated = dict(
        db.session.execute(
            select(Allocation.variant_id, func.sum(Allocation.quantity)).group_by(
                Allocation.variant_id
            )
        ).all()
    )
    assert needed == {shop.mug: MUGS, shop.coffee: BAGS}
    assert allocated == needed
    assert db.session.scalar(select(func.count(Order.id))) == sum(o.ok for o in outcomes)
    for level in db.session.scalars(select(StockLevel)):
        assert (level.allocated, level.reserved, level.available) == (level.on_hand, 0, 0)
    assert not db.session.scalar(
        select(func.count(Reservation.id)).where(Reservation.status == "active")
    )
    assert availability([shop.box])[shop.box].available == 0
    assert reconcile() == []


def test_forty_holds_mixing_boxes_and_mugs_for_ten_mugs(race_app):
    """The holds alone, more contended: 40 carts at once, each a box, a box and a mug, or two
    mugs, for 10 mugs and 12 bags. Mugs run out first (bags never do), so every mug is held."""
    from commerce.inventory.services import reserve_stock

    shop = build_bundle_shop(mugs=10, coffee=40)
    kinds = [[(shop.box, 1)], [(shop.box, 1), (shop.mug, 1)], [(shop.mug, 2)]]

    outcomes = run_together(
        race_app,
        40,
        lambda i: sum(
            h.quantity
            for h in reserve_stock(kinds[i % 3], reference=f"cart-{i}")
            if h.variant_id == shop.mug
        ),
    )

    assert unexpected(outcomes) == []
    mugs_held = sum(o.value for o in outcomes if o.ok)
    db.session.expire_all()
    (level,) = db.session.scalars(select(StockLevel).where(StockLevel.variant_id == shop.mug))
    assert (level.on_hand, level.reserved) == (10, mugs_held)
    assert mugs_held in (9, 10)  # a last single mug is left only if no box came after it
    assert reconcile() == []

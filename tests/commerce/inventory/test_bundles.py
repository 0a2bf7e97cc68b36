"""Bundles: availability is what the components allow, holds take the components (summed with
loose lines of the same variants), and the order's stock moves by components from allocation to
shipment, return and cancellation. The ledger and reconcile agree at every step."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from commerce.catalog.bundles import (
    components_of,
    parse_components,
    set_bundle_components,
    snapshot,
)
from commerce.catalog.models import CONTINUE, Product
from commerce.catalog.services import delete_product
from commerce.checkout.cart import add_to_cart
from commerce.checkout.services import (
    choose_shipping_method,
    place_order,
    save_information,
    start_checkout,
)
from commerce.errors import Conflict, OutOfStock, ValidationError
from commerce.extensions import db
from commerce.inventory.models import (
    RETURNED,
    SOLD,
    Allocation,
    Reservation,
    StockLevel,
    StockMovement,
)
from commerce.inventory.queries import product_available
from commerce.inventory.services import (
    SOLD_OUT,
    adjust_stock,
    availability,
    reconcile,
    reserve_stock,
)
from commerce.orders.cancellation import cancel_order
from commerce.orders.fulfillment import create_fulfillment, pickable, ship_fulfillment
from commerce.orders.models import Order
from commerce.outbox import OutboxEvent
from tests.commerce.inventory.bundle_shop import build_bundle_shop
from tests.conftest import TEST_CARD, US_ADDRESS


@pytest.fixture
def shop(app, monkeypatch):
    monkeypatch.setitem(app.config, "PRICES_INCLUDE_TAX", False)
    return build_bundle_shop(mugs=5, coffee=6)


def free(variant_id: int) -> int:
    return availability([variant_id])[variant_id].available


def held_by(reference: str) -> dict[int, int]:
    rows = db.session.execute(
        select(Reservation.variant_id, func.sum(Reservation.quantity))
        .where(Reservation.reference == reference, Reservation.status == "active")
        .group_by(Reservation.variant_id)
    ).all()
    return dict(rows)


def buy(lines: list[tuple[int, int]]) -> Order:
    cart = None
    for variant_id, quantity in lines:
        cart = add_to_cart(cart, variant_id=variant_id, quantity=quantity)
    checkout = start_checkout(cart)
    save_information(checkout, email="ada@example.com", address=US_ADDRESS)
    choose_shipping_method(checkout, code="STD")
    order = place_order(checkout.key, card=TEST_CARD).order
    assert order is not None
    return order


def on_hand(variant_id: int) -> tuple[int, int, int]:
    db.session.expire_all()
    level = db.session.scalar(select(StockLevel).where(StockLevel.variant_id == variant_id))
    return level.on_hand, level.allocated, level.reserved


def test_a_bundle_sells_what_its_scarcest_component_allows(shop):
    # 5 mugs allow 5 boxes, 6 bags allow 3: the box has 3.
    assert free(shop.box) == 3
    adjust_stock(
        shop.coffee, location_id=_location(shop.coffee), delta=-5, reason="damaged", by=None
    )
    assert free(shop.box) == 0
    assert availability([shop.box])[shop.box].status == SOLD_OUT
    assert not availability([shop.box])[shop.box].can_buy
    assert free(shop.mug) == 5  # the loose mug still sells


def test_a_component_sold_beyond_stock_never_limits_the_bundle(shop):
    bag = db.session.get(type(_variant(shop.coffee)), shop.coffee)
    bag.inventory_policy = CONTINUE
    db.session.commit()
    assert free(shop.box) == 5  # the mugs alone limit it now


def test_a_cart_holds_the_components_summed_with_its_loose_lines(shop):
    holds = reserve_stock([(shop.box, 2), (shop.mug, 3)], reference="cart-1")
    assert {h.variant_id for h in holds} == {shop.mug, shop.coffee}  # nothing of the box
    assert held_by("cart-1") == {shop.mug: 5, shop.coffee: 4}
    assert free(shop.mug) == 0 and free(shop.box) == 0
    # One mug too many: the whole cart is refused, nothing held.
    with pytest.raises(OutOfStock) as refused:
        reserve_stock([(shop.box, 1), (shop.mug, 1)], reference="cart-2")
    assert "MUG" in refused.value.message
    assert held_by("cart-2") == {}
    assert reconcile() == []


def test_a_bundle_and_a_loose_mug_cannot_take_more_mugs_than_exist(shop):
    # 5 mugs: 3 boxes (3 mugs) + 3 loose mugs is 6.
    with pytest.raises(OutOfStock):
        reserve_stock([(shop.box, 3), (shop.mug, 3)], reference="cart-3")
    assert on_hand(shop.mug) == (5, 0, 0)


def test_an_order_allocates_picks_ships_and_returns_components(shop, make_staff):
    staff = make_staff("warehouse")
    order = buy([(shop.box, 2), (shop.mug, 1)])
    box_line = next(line for line in order.lines if line.variant_id == shop.box)
    mug_line = next(line for line in order.lines if line.variant_id == shop.mug)
    assert [c["sku"] for c in box_line.components] == [f"MUG-{shop.n}", f"COF-{shop.n}"]
    assert on_hand(shop.mug) == (5, 3, 0) and on_hand(shop.coffee) == (6, 4, 0)
    allocated = db.session.scalars(
        select(Allocation.variant_id).where(Allocation.reference == order.reference)
    ).all()
    assert shop.box not in allocated

    (location_id, picks), *_ = pickable(order).items()
    by_line: dict[int, dict[int, int]] = {}
    for pick in picks:
        by_line.setdefault(pick.order_line_id, {})[pick.variant_id] = pick.quantity
    assert by_line[mug_line.id] == {shop.mug: 1}
    assert by_line[box_line.id] == {shop.mug: 2, shop.coffee: 4}

    # One box first: its components go in the parcel, the order line counts one box.
    parcel = create_fulfillment(order, location_id=location_id, lines={box_line.id: 1}, by=staff)
    assert parcel.item_count == 1
    with pytest.raises(ValidationError):
        create_fulfillment(order, location_id=location_id, lines={box_line.id: 2}, by=staff)
    ship_fulfillment(parcel, carrier="UPS", tracking_number="1Z1", by=staff)
    assert on_hand(shop.mug) == (4, 2, 0) and on_hand(shop.coffee) == (4, 2, 0)
    db.session.refresh(box_line)
    assert box_line.fulfilled_quantity == 1
    rest = create_fulfillment(order, location_id=location_id, by=staff)
    assert rest.units_by_line() == {box_line.id: 1, mug_line.id: 1}
    ship_fulfillment(rest, carrier="UPS", tracking_number="1Z2", by=staff)
    order = db.session.get(Order, order.id, populate_existing=True)
    assert order.fulfillment_status == "fulfilled"
    assert on_hand(shop.mug) == (2, 0, 0) and on_hand(shop.coffee) == (2, 0, 0)
    sold = db.session.scalars(select(StockMovement.delta).where(StockMovement.reason == SOLD))
    assert sum(sold) == -7  # 3 mugs + 4 bags

    # A returned box goes back on the shelf as a mug and two bags.
    from commerce.orders.returns import open_return, receive_return

    opened = open_return(order, lines={box_line.id: 1}, reason="gift", by=staff)
    receive_return(
        opened,
        received={rl.id: (1, "restock", location_id) for rl in opened.lines},
        refund=False,
        idempotency_key="rma-1",
        by=staff,
    )
    assert on_hand(shop.mug)[0] == 3 and on_hand(shop.coffee)[0] == 4
    back = db.session.scalars(select(StockMovement.delta).where(StockMovement.reason == RETURNED))
    assert sorted(back) == [1, 2]
    assert reconcile() == []


def test_cancelling_an_order_releases_the_components(shop, make_staff):
    order = buy([(shop.box, 1), (shop.coffee, 1)])
    assert on_hand(shop.coffee) == (6, 3, 0)
    cancel_order(order, reason="customer", by=make_staff("support"))
    assert on_hand(shop.coffee) == (6, 0, 0) and on_hand(shop.mug) == (5, 0, 0)
    assert free(shop.box) == 3
    assert reconcile() == []


def test_editing_and_refunding_a_bundle_line_moves_its_components(shop, make_staff):
    from commerce.orders.edits import edit_order
    from commerce.orders.refunds import issue_refund

    support = make_staff("admin")
    order = buy([(shop.box, 2)])
    box_line = order.lines[0]
    assert on_hand(shop.mug) == (5, 2, 0) and on_hand(shop.coffee) == (6, 4, 0)
    # One box fewer and a loose mug more: a box's bag units go back, the mug stays promised.
    edited = edit_order(order, quantities={box_line.id: 1}, add={shop.mug: 1}, by=support)
    assert on_hand(shop.mug) == (5, 2, 0) and on_hand(shop.coffee) == (6, 2, 0)
    box_line = next(line for line in edited.lines if line.variant_id == shop.box)
    assert box_line.components  # kept as sold
    # Refunding the unshipped box gives its components back at once.
    issue_refund(
        edited,
        lines={box_line.id: 1},
        reason="changed mind",
        idempotency_key="bundle-refund-1",
        by=support,
    )
    assert on_hand(shop.mug) == (5, 1, 0) and on_hand(shop.coffee) == (6, 0, 0)
    assert free(shop.box) == 3
    assert reconcile() == []


def test_a_component_selling_out_is_news_for_the_bundle(shop):
    before = db.session.scalar(select(func.coalesce(func.max(OutboxEvent.id), 0)))
    reserve_stock([(shop.coffee, 5)], reference="cart-4")  # 1 bag left: the box sold out
    crossed = db.session.scalars(
        select(OutboxEvent).where(OutboxEvent.topic == "stock.crossed", OutboxEvent.id > before)
    ).all()
    assert any(shop.box in e.payload["variant_ids"] for e in crossed)
    assert not any(shop.coffee in e.payload["variant_ids"] for e in crossed)


def test_the_in_stock_filter_follows_the_components(shop):
    def listed() -> bool:
        return bool(
            db.session.scalar(
                select(func.count(Product.id)).where(
                    Product.id == _variant(shop.box).product_id, product_available()
                )
            )
        )

    assert listed()
    reserve_stock([(shop.coffee, 5)], reference="cart-5")
    assert not listed()


def test_components_are_checked(shop, make_product):
    box = _variant(shop.box)
    other = make_product().variants[0]
    with pytest.raises(ValidationError) as nested:
        set_bundle_components(other, [(shop.box, 1)], by=None)
    assert ("components", 0, "variant_id") in nested.value.errors
    with pytest.raises(ValidationError) as itself:
        set_bundle_components(box, [(shop.box, 1)], by=None)
    assert "itself" in itself.value.errors[("components", 0, "variant_id")][0]
    with pytest.raises(ValidationError) as twice:
        set_bundle_components(box, [(shop.mug, 1), (shop.mug, 2)], by=None)
    assert ("components", 1, "variant_id") in twice.value.errors
    with pytest.raises(ValidationError) as negative:
        set_bundle_components(box, [(shop.mug, -1)], by=None)
    assert ("components", 0, "quantity") in negative.value.errors
    with pytest.raises(ValidationError):  # a component cannot become a bundle
        set_bundle_components(_variant(shop.mug), [(other.id, 1)], by=None)
    assert components_of([shop.box]) == {shop.box: [(shop.mug, 1), (shop.coffee, 2)]}
    assert snapshot([shop.box])[shop.box][1]["quantity"] == 2


def test_a_component_cannot_be_deleted_while_bundled(shop):
    mug_product = db.session.get(Product, _variant(shop.mug).product_id)
    with pytest.raises(Conflict) as refused:
        delete_product(mug_product, by=None)
    assert f"BOX-{shop.n}" in refused.value.message


def test_a_bundle_takes_no_stock_of_its_own(shop):
    from commerce.inventory.services import receive_stock

    with pytest.raises(ValidationError) as refused:
        receive_stock(shop.box, quantity=3, by=None)
    assert "components" in refused.value.message


def test_the_csv_spelling_of_components():
    assert parse_components("MUG-1 x1; COF-1 x2") == [("MUG-1", 1), ("COF-1", 2)]
    assert parse_components("CUP-X2;  ; TEA") == [("CUP-X2", 1), ("TEA", 1)]
    assert parse_components("") == []


def _variant(variant_id: int):
    from commerce.catalog.models import Variant

    return db.session.get(Variant, variant_id)


def _location(variant_id: int) -> int:
    return db.session.scalar(
        select(StockLevel.location_id).where(StockLevel.variant_id == variant_id)
    )

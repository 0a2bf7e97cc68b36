"""The stock core through its services (SQLite): the ledger, holds, allocations, low-stock
events, availability and reconcile."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select, text

from commerce.catalog.models import CONTINUE
from commerce.db import utcnow
from commerce.errors import Conflict, NotFound, OutOfStock, ValidationError
from commerce.extensions import db
from commerce.inventory.models import (
    ALLOCATED,
    CANCELLED,
    COMMITTED,
    CYCLE_COUNT,
    DAMAGED,
    EXPIRED,
    FOUND,
    LOST,
    RECEIVED,
    RELEASED,
    RETURNED,
    SHIPPED,
    SOLD,
    TRANSFER_IN,
    TRANSFER_OUT,
    Allocation,
    Reservation,
    StockLevel,
    StockMovement,
)
from commerce.inventory.services import (
    BACKORDER,
    IN_STOCK,
    LOW,
    SOLD_OUT,
    adjust_stock,
    availability,
    cancel_allocation,
    commit_reservation,
    receive_stock,
    reconcile,
    release_expired_reservations,
    release_reservation,
    reserve_stock,
    restock,
    set_counted_quantity,
    ship_allocation,
    stock_level_for,
    transfer_stock,
    undo_movement,
)
from commerce.outbox import OutboxEvent


@pytest.fixture
def staff(make_staff):
    return make_staff("warehouse")


@pytest.fixture
def variant(make_variant):
    return make_variant(low_stock_threshold=2)


def level(variant_id: int, location_id: int) -> StockLevel:
    found = db.session.scalar(
        select(StockLevel).where(
            StockLevel.variant_id == variant_id, StockLevel.location_id == location_id
        )
    )
    db.session.refresh(found)
    return found


def counters(variant_id: int, location_id: int) -> tuple[int, int, int]:
    lv = level(variant_id, location_id)
    return lv.on_hand, lv.reserved, lv.allocated


def movements(variant_id: int) -> list[StockMovement]:
    return list(
        db.session.scalars(
            select(StockMovement)
            .join(StockLevel, StockLevel.id == StockMovement.stock_level_id)
            .where(StockLevel.variant_id == variant_id)
            .order_by(StockMovement.id)
        )
    )


def low_events(variant_id: int) -> list[OutboxEvent]:
    return [
        e
        for e in db.session.scalars(select(OutboxEvent).where(OutboxEvent.topic == "stock.low"))
        if e.payload.get("variant_id") == variant_id
    ]


# -- the ledger ---------------------------------------------------------------------------------


def test_receive_books_a_movement_and_the_counter(variant, main_wh, staff):
    movement = receive_stock(variant.id, quantity=12, by=staff, reference="PO-1", note="pallet")
    assert (movement.delta, movement.reason, movement.reference) == (12, RECEIVED, "PO-1")
    assert movement.actor_id == staff.id
    assert counters(variant.id, main_wh.id) == (12, 0, 0)  # default location: the first active
    receive_stock(variant.id, quantity=3, by=None, location_id=main_wh.id)
    assert counters(variant.id, main_wh.id) == (15, 0, 0)
    assert [m.delta for m in movements(variant.id)] == [12, 3]


@pytest.mark.parametrize("quantity", [0, -3, 1.5, True, "4", 10_000_001])
def test_receive_rejects_bad_quantities_at_the_quantity_field(variant, main_wh, quantity):
    with pytest.raises(ValidationError) as caught:
        receive_stock(variant.id, quantity=quantity, by=None)
    assert caught.value.field == "quantity"
    assert movements(variant.id) == []


def test_unknown_location_and_variant_are_named(variant, main_wh):
    with pytest.raises((ValidationError, NotFound)) as caught:
        receive_stock(variant.id, quantity=1, by=None, location_id=999_999)
    assert caught.value.field == "location_id"
    with pytest.raises((ValidationError, NotFound)) as caught:
        adjust_stock(variant.id, location_id=999_999, delta=1, reason=FOUND, by=None)
    assert caught.value.field == "location_id"
    with pytest.raises((ValidationError, NotFound)) as caught:
        transfer_stock(
            variant.id, from_location_id=main_wh.id, to_location_id=999_999, quantity=1, by=None
        )
    assert caught.value.field == "to_location_id"
    with pytest.raises(ValidationError) as caught:
        receive_stock(999_999, quantity=1, by=None, location_id=main_wh.id)
    assert caught.value.field == "variant_id"


def test_receive_without_any_location_is_refused(variant):
    # No Location rows exist in this test's (rolled back) transaction.
    with pytest.raises(NotFound):
        receive_stock(variant.id, quantity=1, by=None)


def test_adjust_checks_reason_and_sign(variant, main_wh, staff):
    receive_stock(variant.id, quantity=10, by=staff)
    with pytest.raises(ValidationError) as caught:
        adjust_stock(variant.id, location_id=main_wh.id, delta=-1, reason="stolen", by=staff)
    assert caught.value.field == "reason"
    for reason, delta in ((DAMAGED, 2), (LOST, 1), (FOUND, -1)):
        with pytest.raises(ValidationError) as caught:
            adjust_stock(variant.id, location_id=main_wh.id, delta=delta, reason=reason, by=staff)
        assert caught.value.field == "quantity", reason
    with pytest.raises(ValidationError) as caught:
        adjust_stock(variant.id, location_id=main_wh.id, delta=0, reason=FOUND, by=staff)
    assert caught.value.field == "quantity"

    adjust_stock(variant.id, location_id=main_wh.id, delta=-2, reason=DAMAGED, by=staff)
    adjust_stock(variant.id, location_id=main_wh.id, delta=1, reason=FOUND, by=staff)
    adjust_stock(variant.id, location_id=main_wh.id, delta=-1, reason="correction", by=staff)
    adjust_stock(variant.id, location_id=main_wh.id, delta=3, reason="correction", by=staff)
    assert counters(variant.id, main_wh.id) == (11, 0, 0)
    assert [m.reason for m in movements(variant.id)][1:] == [
        DAMAGED,
        FOUND,
        "correction",
        "correction",
    ]


def test_taking_more_than_available_is_out_of_stock(variant, main_wh, staff):
    receive_stock(variant.id, quantity=5, by=staff)
    reserve_stock([(variant.id, 2)], reference="cart-1")
    with pytest.raises(OutOfStock) as caught:
        adjust_stock(variant.id, location_id=main_wh.id, delta=-4, reason=DAMAGED, by=staff)
    error = caught.value
    assert error.field == "quantity"
    assert error.details["available"] == 3
    assert error.details["requested"] == 4
    assert counters(variant.id, main_wh.id) == (5, 2, 0)
    assert len(movements(variant.id)) == 1
    adjust_stock(variant.id, location_id=main_wh.id, delta=-3, reason=LOST, by=staff)
    assert counters(variant.id, main_wh.id) == (2, 2, 0)


def test_cycle_count_books_the_difference(variant, main_wh, staff):
    receive_stock(variant.id, quantity=10, by=staff)
    movement = set_counted_quantity(variant.id, location_id=main_wh.id, counted=7, by=staff)
    assert (movement.delta, movement.reason) == (-3, CYCLE_COUNT)
    assert set_counted_quantity(variant.id, location_id=main_wh.id, counted=7, by=staff) is None
    assert set_counted_quantity(variant.id, location_id=main_wh.id, counted=9, by=staff).delta == 2
    reserve_stock([(variant.id, 4)], reference="cart-count")
    with pytest.raises(OutOfStock) as caught:
        set_counted_quantity(variant.id, location_id=main_wh.id, counted=3, by=staff)
    assert caught.value.field == "counted"
    with pytest.raises(ValidationError) as caught:
        set_counted_quantity(variant.id, location_id=main_wh.id, counted=-1, by=staff)
    assert caught.value.field == "counted"
    assert set_counted_quantity(variant.id, location_id=main_wh.id, counted=4, by=staff).delta == -5
    assert counters(variant.id, main_wh.id) == (4, 4, 0)
    assert reconcile() == []


def test_transfer_moves_units_in_one_transaction(variant, main_wh, second_wh, staff):
    receive_stock(variant.id, quantity=6, by=staff, location_id=main_wh.id)
    out, into = transfer_stock(
        variant.id, from_location_id=main_wh.id, to_location_id=second_wh.id, quantity=4, by=staff
    )
    assert (out.delta, out.reason, into.delta, into.reason) == (-4, TRANSFER_OUT, 4, TRANSFER_IN)
    assert out.reference == into.reference
    assert counters(variant.id, main_wh.id) == (2, 0, 0)
    assert counters(variant.id, second_wh.id) == (4, 0, 0)
    with pytest.raises(OutOfStock) as caught:
        transfer_stock(
            variant.id,
            from_location_id=main_wh.id,
            to_location_id=second_wh.id,
            quantity=3,
            by=staff,
        )
    assert caught.value.details["available"] == 2
    # Nothing half-done: the target did not get the units the source could not give.
    assert counters(variant.id, second_wh.id) == (4, 0, 0)
    with pytest.raises(ValidationError) as caught:
        transfer_stock(
            variant.id, from_location_id=main_wh.id, to_location_id=main_wh.id, quantity=1, by=staff
        )
    assert caught.value.field == "to_location_id"
    with pytest.raises(ValidationError) as caught:
        transfer_stock(
            variant.id,
            from_location_id=main_wh.id,
            to_location_id=second_wh.id,
            quantity=-1,
            by=staff,
        )
    assert caught.value.field == "quantity"
    assert reconcile() == []


def test_restock_and_undo(variant, main_wh, staff):
    received = receive_stock(variant.id, quantity=5, by=staff)
    returned = restock(variant.id, location_id=main_wh.id, quantity=2, by=staff, reference="RMA-1")
    assert (returned.delta, returned.reason) == (2, RETURNED)
    undo = undo_movement(received.id, by=staff)
    assert undo.delta == -5 and undo.reference == f"undo of #{received.id}"
    assert undo_movement(received.id, by=staff) is undo  # each movement undoes once
    assert counters(variant.id, main_wh.id) == (2, 0, 0)
    with pytest.raises(NotFound):
        undo_movement(999_999, by=staff)
    with pytest.raises(ValidationError) as caught:
        restock(variant.id, location_id=main_wh.id, quantity=0, by=staff)
    assert caught.value.field == "quantity"


def test_undo_cannot_take_held_units_or_reverse_sales(variant, main_wh, second_wh, staff):
    received = receive_stock(variant.id, quantity=3, by=staff)
    reserve_stock([(variant.id, 2)], reference="cart-undo")
    with pytest.raises(OutOfStock):
        undo_movement(received.id, by=staff)
    out, _into = transfer_stock(
        variant.id, from_location_id=main_wh.id, to_location_id=second_wh.id, quantity=1, by=staff
    )
    with pytest.raises(ValidationError):
        undo_movement(out.id, by=staff)
    assert reconcile() == []


# -- idempotency --------------------------------------------------------------------------------


def test_receive_is_idempotent_by_key(variant, main_wh, staff):
    first = receive_stock(variant.id, quantity=4, by=staff, idempotency_key="asn-77")
    again = receive_stock(variant.id, quantity=4, by=staff, idempotency_key="asn-77")
    assert again is first
    assert len(movements(variant.id)) == 1
    assert counters(variant.id, main_wh.id) == (4, 0, 0)


def test_adjust_is_idempotent_by_key(variant, main_wh, staff):
    receive_stock(variant.id, quantity=4, by=staff)
    first = adjust_stock(
        variant.id, location_id=main_wh.id, delta=-1, reason=DAMAGED, by=staff, idempotency_key="k"
    )
    again = adjust_stock(
        variant.id, location_id=main_wh.id, delta=-1, reason=DAMAGED, by=staff, idempotency_key="k"
    )
    assert again is first
    assert len(movements(variant.id)) == 2
    assert counters(variant.id, main_wh.id) == (3, 0, 0)


def test_transfer_is_idempotent_by_key(variant, main_wh, second_wh, staff):
    receive_stock(variant.id, quantity=4, by=staff, location_id=main_wh.id)
    kwargs = dict(from_location_id=main_wh.id, to_location_id=second_wh.id, quantity=3, by=staff)
    first = transfer_stock(variant.id, idempotency_key="t-1", **kwargs)
    again = transfer_stock(variant.id, idempotency_key="t-1", **kwargs)
    assert again[0] is first[0] and again[1] is first[1]
    assert len(movements(variant.id)) == 3
    assert counters(variant.id, main_wh.id) == (1, 0, 0)
    assert counters(variant.id, second_wh.id) == (3, 0, 0)


# -- reservations -------------------------------------------------------------------------------


def test_lines_of_one_variant_are_summed(variant, main_wh):
    receive_stock(variant.id, quantity=5, by=None)
    with pytest.raises(OutOfStock) as caught:
        reserve_stock([(variant.id, 3), (variant.id, 3)], reference="cart-sum")
    assert caught.value.field == "lines"
    assert caught.value.details["shortages"] == [
        {"variant_id": variant.id, "requested": 6, "available": 5}
    ]
    assert counters(variant.id, main_wh.id) == (5, 0, 0)
    held = reserve_stock([(variant.id, 2), (variant.id, 3)], reference="cart-sum")
    assert [(r.quantity, r.stock_level.location_id) for r in held] == [(5, main_wh.id)]
    assert counters(variant.id, main_wh.id) == (5, 5, 0)


def test_shortage_names_every_short_variant_and_holds_nothing(make_variant, main_wh):
    a, b, c = make_variant(), make_variant(), make_variant()
    receive_stock(a.id, quantity=1, by=None)
    receive_stock(b.id, quantity=5, by=None)
    with pytest.raises(OutOfStock) as caught:
        reserve_stock([(a.id, 2), (b.id, 1), (c.id, 1)], reference="cart-x")
    short = {s["variant_id"]: s["available"] for s in caught.value.details["shortages"]}
    assert short == {a.id: 1, c.id: 0}
    assert counters(b.id, main_wh.id) == (5, 0, 0)  # all lines or none
    with pytest.raises(ValidationError):
        reserve_stock([(999_999, 1)], reference="cart-y")
    with pytest.raises(ValidationError):
        reserve_stock([(a.id, 1)], reference="")
    with pytest.raises(ValidationError):
        reserve_stock([(a.id, 0)], reference="cart-z")


def test_one_location_is_preferred_and_a_split_only_when_needed(variant, main_wh, second_wh):
    receive_stock(variant.id, quantity=5, by=None, location_id=main_wh.id)
    receive_stock(variant.id, quantity=5, by=None, location_id=second_wh.id)
    held = reserve_stock([(variant.id, 3)], reference="r1")
    assert [(r.stock_level.location_id, r.quantity) for r in held] == [(main_wh.id, 3)]
    # main has 2 left, overflow 5: overflow alone can fill 4, so no split.
    held = reserve_stock([(variant.id, 4)], reference="r2")
    assert [(r.stock_level.location_id, r.quantity) for r in held] == [(second_wh.id, 4)]
    # main 2, overflow 1: only a split fills 3, taken in priority order.
    held = reserve_stock([(variant.id, 3)], reference="r3")
    assert sorted((r.stock_level.location_id, r.quantity) for r in held) == [
        (main_wh.id, 2),
        (second_wh.id, 1),
    ]
    rows = db.session.scalars(select(Reservation).where(Reservation.reference == "r3")).all()
    assert {(r.stock_level.location_id, r.quantity, r.variant_id) for r in rows} == {
        (main_wh.id, 2, variant.id),
        (second_wh.id, 1, variant.id),
    }
    assert availability([variant.id])[variant.id].available == 0
    assert reconcile() == []


def test_an_order_is_held_at_one_location_when_one_has_it_all(make_variant, main_wh, second_wh):
    """Main (first by priority) has the mug only, Overflow has the mug and the tee: the order
    is held at Overflow, so it ships as one parcel; when no location has it all, each item is
    held where it is first found, as before."""
    mug, tee = make_variant(), make_variant()
    receive_stock(mug.id, quantity=5, by=None, location_id=main_wh.id)
    receive_stock(mug.id, quantity=5, by=None, location_id=second_wh.id)
    receive_stock(tee.id, quantity=2, by=None, location_id=second_wh.id)
    held = reserve_stock([(mug.id, 1), (tee.id, 1)], reference="together")
    assert {(r.variant_id, r.stock_level.location_id) for r in held} == {
        (mug.id, second_wh.id),
        (tee.id, second_wh.id),
    }
    alone = reserve_stock([(mug.id, 1)], reference="alone")  # one item: first by priority
    assert [r.stock_level.location_id for r in alone] == [main_wh.id]
    receive_stock(tee.id, quantity=1, by=None, location_id=main_wh.id)
    # one tee at each location: two tees and a mug have no single location
    held = reserve_stock([(mug.id, 1), (tee.id, 2)], reference="apart")
    assert sorted((r.variant_id, r.stock_level.location_id, r.quantity) for r in held) == sorted(
        [(mug.id, main_wh.id, 1), (tee.id, main_wh.id, 1), (tee.id, second_wh.id, 1)]
    )
    assert reconcile() == []


def test_inactive_locations_are_not_reserved_from(variant, main_wh, make_location):
    closed = make_location("Closed", priority=0, active=False)
    receive_stock(variant.id, quantity=5, by=None, location_id=closed.id)
    receive_stock(variant.id, quantity=1, by=None, location_id=main_wh.id)
    with pytest.raises(OutOfStock):
        reserve_stock([(variant.id, 2)], reference="r-closed")
    assert availability([variant.id])[variant.id].available == 1


def test_continue_selling_variants_do_not_fail(make_variant, main_wh):
    keeps_selling = make_variant(inventory_policy=CONTINUE)
    never_stocked = make_variant(inventory_policy=CONTINUE)
    receive_stock(keeps_selling.id, quantity=1, by=None)
    held = reserve_stock([(keeps_selling.id, 3), (never_stocked.id, 2)], reference="cart-cont")
    assert [(r.variant_id, r.quantity) for r in held] == [(keeps_selling.id, 1)]
    assert counters(keeps_selling.id, main_wh.id) == (1, 1, 0)


def test_release_gives_units_back(variant, main_wh):
    receive_stock(variant.id, quantity=5, by=None)
    reserve_stock([(variant.id, 4)], reference="cart-rel")
    assert release_reservation("cart-rel") == 4
    assert release_reservation("cart-rel") == 0
    assert counters(variant.id, main_wh.id) == (5, 0, 0)
    row = db.session.scalar(select(Reservation).where(Reservation.reference == "cart-rel"))
    db.session.refresh(row)
    assert row.status == RELEASED and row.ended_at is not None


def test_expired_holds_are_released_by_the_sweep(variant, main_wh):
    receive_stock(variant.id, quantity=5, by=None)
    start = utcnow()
    reserve_stock([(variant.id, 2)], reference="old", ttl=timedelta(minutes=10), now=start)
    reserve_stock([(variant.id, 1)], reference="new", ttl=timedelta(minutes=30), now=start)
    assert release_expired_reservations(now=start + timedelta(minutes=5)) == 0
    assert release_expired_reservations(now=start + timedelta(minutes=11)) == 2
    assert counters(variant.id, main_wh.id) == (5, 1, 0)
    statuses = dict(db.session.execute(select(Reservation.reference, Reservation.status)).all())
    assert statuses == {"old": EXPIRED, "new": "active"}
    assert release_expired_reservations(now=start + timedelta(hours=1)) == 1
    assert counters(variant.id, main_wh.id) == (5, 0, 0)


def test_the_celery_task_releases_expired_holds(variant, main_wh):
    from commerce.inventory.tasks import release_expired

    receive_stock(variant.id, quantity=3, by=None)
    reserve_stock(
        [(variant.id, 3)], reference="stale", ttl=timedelta(minutes=1), now=utcnow() - timedelta(1)
    )
    assert availability([variant.id])[variant.id].available == 0
    assert release_expired.delay().get() == 3
    assert availability([variant.id])[variant.id].available == 3


def test_commit_turns_holds_into_allocations(variant, main_wh, second_wh):
    receive_stock(variant.id, quantity=2, by=None, location_id=main_wh.id)
    receive_stock(variant.id, quantity=2, by=None, location_id=second_wh.id)
    reserve_stock([(variant.id, 3)], reference="checkout-1")
    allocations = commit_reservation("checkout-1", order_reference="ORD-1")
    assert sorted((a.stock_level.location_id, a.quantity) for a in allocations) == [
        (main_wh.id, 2),
        (second_wh.id, 1),
    ]
    assert all(a.reference == "ORD-1" and a.status == ALLOCATED for a in allocations)
    assert counters(variant.id, main_wh.id) == (2, 0, 2)
    assert counters(variant.id, second_wh.id) == (2, 0, 1)
    rows = db.session.scalars(select(Reservation).where(Reservation.reference == "checkout-1"))
    assert {r.status for r in rows} == {COMMITTED}
    with pytest.raises(Conflict):  # a hold commits once
        commit_reservation("checkout-1", order_reference="ORD-1")
    assert availability([variant.id])[variant.id].available == 1
    assert reconcile() == []


def test_commit_after_expiry_is_refused(variant, main_wh):
    receive_stock(variant.id, quantity=5, by=None)
    start = utcnow() - timedelta(hours=1)
    reserve_stock([(variant.id, 2)], reference="late", ttl=timedelta(minutes=10), now=start)
    with pytest.raises(Conflict) as caught:
        commit_reservation("late", order_reference="ORD-late")
    assert caught.value.field == "reference"
    assert counters(variant.id, main_wh.id) == (5, 2, 0)  # still held until the sweep
    assert release_expired_reservations() == 2
    with pytest.raises(Conflict):
        commit_reservation("late", order_reference="ORD-late")
    assert counters(variant.id, main_wh.id) == (5, 0, 0)
    assert db.session.scalar(select(func.count(Allocation.id))) == 0


def test_ship_partially_then_fully(variant, main_wh, staff):
    receive_stock(variant.id, quantity=5, by=None)
    reserve_stock([(variant.id, 3)], reference="c-ship")
    (allocation,) = commit_reservation("c-ship", order_reference="ORD-ship")
    first = ship_allocation(allocation.id, by=staff, quantity=1)
    assert (first.delta, first.reason, first.reference) == (-1, SOLD, "ORD-ship")
    assert counters(variant.id, main_wh.id) == (4, 0, 2)
    assert (allocation.shipped, allocation.status) == (1, ALLOCATED)
    with pytest.raises(Conflict) as caught:
        ship_allocation(allocation.id, by=staff, quantity=3)
    assert caught.value.field == "quantity"
    rest = ship_allocation(allocation.id, by=staff)
    assert rest.delta == -2
    db.session.refresh(allocation)
    assert (allocation.shipped, allocation.status) == (3, SHIPPED)
    assert counters(variant.id, main_wh.id) == (2, 0, 0)
    with pytest.raises(Conflict):
        ship_allocation(allocation.id, by=staff)
    with pytest.raises(NotFound):
        ship_allocation(999_999, by=staff)
    assert [m.reason for m in movements(variant.id)] == [RECEIVED, SOLD, SOLD]
    assert reconcile() == []


def test_cancel_allocation_returns_outstanding_units(variant, main_wh, staff):
    receive_stock(variant.id, quantity=5, by=None)
    reserve_stock([(variant.id, 3)], reference="c-cancel")
    (allocation,) = commit_reservation("c-cancel", order_reference="ORD-cancel")
    ship_allocation(allocation.id, by=staff, quantity=1)
    assert cancel_allocation(allocation.id, by=staff) == 2
    assert cancel_allocation(allocation.id, by=staff) == 0
    db.session.refresh(allocation)
    assert allocation.status == CANCELLED
    assert counters(variant.id, main_wh.id) == (4, 0, 0)
    with pytest.raises(Conflict):
        ship_allocation(allocation.id, by=staff, quantity=1)
    assert availability([variant.id])[variant.id].available == 4
    assert reconcile() == []


# -- low stock and availability -----------------------------------------------------------------


def test_low_stock_event_only_when_crossing_below(make_variant, main_wh, staff):
    variant = make_variant(low_stock_threshold=5)
    receive_stock(variant.id, quantity=8, by=staff)
    adjust_stock(variant.id, location_id=main_wh.id, delta=-2, reason=DAMAGED, by=staff)  # 6
    assert low_events(variant.id) == []
    adjust_stock(variant.id, location_id=main_wh.id, delta=-1, reason=DAMAGED, by=staff)  # 5
    assert low_events(variant.id) == []
    adjust_stock(variant.id, location_id=main_wh.id, delta=-1, reason=LOST, by=staff)  # 4
    (event,) = low_events(variant.id)
    assert event.payload == {"variant_id": variant.id, "available": 4, "threshold": 5}
    adjust_stock(variant.id, location_id=main_wh.id, delta=-1, reason=LOST, by=staff)  # 3
    reserve_stock([(variant.id, 1)], reference="low-1")  # 2
    assert len(low_events(variant.id)) == 1  # already below: no new event
    receive_stock(variant.id, quantity=10, by=staff)  # 12
    reserve_stock([(variant.id, 8)], reference="low-2")  # 4: crosses again
    assert len(low_events(variant.id)) == 2
    receive_stock(variant.id, quantity=2, by=staff)  # 6
    set_counted_quantity(variant.id, location_id=main_wh.id, counted=13, by=staff)  # 3
    assert len(low_events(variant.id)) == 3


def test_low_stock_event_counts_only_units_held_for_continue_selling(make_variant, main_wh):
    # Already below the threshold before: an oversized continue-selling hold is no crossing.
    variant = make_variant(low_stock_threshold=5, inventory_policy=CONTINUE)
    receive_stock(variant.id, quantity=2, by=None)
    reserve_stock([(variant.id, 10)], reference="cont-low")
    assert low_events(variant.id) == []


def test_low_stock_uses_the_shop_default_threshold(app, make_variant, main_wh, staff):
    variant = make_variant()  # no own threshold: LOW_STOCK_THRESHOLD applies
    threshold = app.config["LOW_STOCK_THRESHOLD"]
    receive_stock(variant.id, quantity=threshold, by=staff)
    adjust_stock(variant.id, location_id=main_wh.id, delta=-1, reason=DAMAGED, by=staff)
    assert [e.payload["threshold"] for e in low_events(variant.id)] == [threshold]


def test_availability_statuses(make_variant, main_wh):
    plenty = make_variant(low_stock_threshold=3)
    few = make_variant(low_stock_threshold=3)
    none = make_variant(low_stock_threshold=3)
    backorder = make_variant(low_stock_threshold=3, inventory_policy=CONTINUE)
    receive_stock(plenty.id, quantity=3, by=None)
    receive_stock(few.id, quantity=5, by=None)
    reserve_stock([(few.id, 3)], reference="avail")
    receive_stock(none.id, quantity=1, by=None)
    reserve_stock([(none.id, 1)], reference="avail-2")
    result = availability([plenty.id, few.id, none.id, backorder.id])
    assert {v: (a.status, a.available, a.can_buy) for v, a in result.items()} == {
        plenty.id: (IN_STOCK, 3, True),
        few.id: (LOW, 2, True),
        none.id: (SOLD_OUT, 0, False),
        backorder.id: (BACKORDER, 0, True),
    }


# -- reconcile ----------------------------------------------------------------------------------


def corrupt(level_id: int) -> None:
    db.session.execute(
        text("UPDATE stock_level SET on_hand = on_hand + 7, reserved = reserved + 1 WHERE id = :i"),
        {"i": level_id},
    )
    db.session.commit()


def test_reconcile_reports_and_fixes_drift(variant, main_wh, staff):
    receive_stock(variant.id, quantity=5, by=staff)
    reserve_stock([(variant.id, 2)], reference="rec")
    lv = stock_level_for(variant.id, main_wh.id)
    assert reconcile() == []
    corrupt(lv.id)
    drifts = {(d.level_id, d.field, d.counter, d.computed) for d in reconcile()}
    assert drifts == {(lv.id, "on_hand", 12, 5), (lv.id, "reserved", 3, 2)}
    assert counters(variant.id, main_wh.id) == (12, 3, 0)  # reporting changes nothing
    assert len(reconcile(fix=True, by=staff)) == 2
    assert counters(variant.id, main_wh.id) == (5, 2, 0)
    assert reconcile() == []


def test_reconcile_cli_exit_codes(app, variant, main_wh):
    receive_stock(variant.id, quantity=5, by=None)
    runner = app.test_cli_runner()
    result = runner.invoke(args=["inventory", "reconcile"])
    assert result.exit_code == 0, result.output
    assert "0 drifted counters" in result.output
    corrupt(stock_level_for(variant.id, main_wh.id).id)
    result = runner.invoke(args=["inventory", "reconcile"])
    assert result.exit_code == 1, result.output
    assert "on_hand is 12, should be 5" in result.output
    result = runner.invoke(args=["inventory", "reconcile", "--fix"])
    assert result.exit_code == 0, result.output
    assert "2 drifted counters repaired" in result.output
    result = runner.invoke(args=["inventory", "reconcile"])
    assert result.exit_code == 0, result.output
    assert counters(variant.id, main_wh.id) == (5, 0, 0)

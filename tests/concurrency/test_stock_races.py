"""Stock races on PostgreSQL with real threads and real commits: no oversell, no deadlock, the
ledger and the counters agree afterwards. Assertions are about counts, never timing."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from commerce.catalog.models import CONTINUE
from commerce.catalog.services import create_product
from commerce.db import utcnow
from commerce.errors import OutOfStock
from commerce.extensions import db
from commerce.inventory.models import (
    DAMAGED,
    FOUND,
    Allocation,
    Location,
    Reservation,
    StockLevel,
    StockMovement,
)
from commerce.inventory.services import (
    adjust_stock,
    availability,
    cancel_allocation,
    commit_reservation,
    receive_stock,
    reconcile,
    reserve_stock,
    ship_allocation,
    transfer_stock,
)
from tests.concurrency.conftest import run_together, unexpected

pytestmark = pytest.mark.postgres


def make_location(code: str, priority: int = 1) -> int:
    location = Location(name=f"Warehouse {code}", code=code, priority=priority)
    db.session.add(location)
    db.session.commit()
    return location.id


def make_variant(sku: str, **fields) -> int:
    variant = create_product(title=f"Product {sku}", sku=sku, price=500, by=None).variants[0]
    for name, value in fields.items():
        setattr(variant, name, value)
    db.session.commit()
    return variant.id


def stocked(sku: str, quantity: int, location_id: int, **fields) -> int:
    variant_id = make_variant(sku, **fields)
    receive_stock(variant_id, quantity=quantity, location_id=location_id, by=None)
    return variant_id


def levels_of(variant_id: int) -> list[StockLevel]:
    db.session.expire_all()
    return list(db.session.scalars(select(StockLevel).where(StockLevel.variant_id == variant_id)))


def held(variant_id: int) -> int:
    return sum(level.reserved for level in levels_of(variant_id))


def assert_no_deadlock(outcomes) -> None:
    errors = unexpected(outcomes)
    assert not [e for e in errors if "deadlock" in e.lower()], errors
    assert errors == []


def assert_consistent() -> None:
    db.session.expire_all()
    for level in db.session.scalars(select(StockLevel)):
        ledger = db.session.scalar(
            select(func.coalesce(func.sum(StockMovement.delta), 0)).where(
                StockMovement.stock_level_id == level.id
            )
        )
        assert level.on_hand == ledger, level.id
        assert min(level.on_hand, level.reserved, level.allocated, level.available) >= 0
    assert reconcile() == []


def test_fifty_buyers_for_ten_units(race_app):
    location = make_location("HOT")
    variant_id = stocked("HOT-1", 10, location)

    outcomes = run_together(
        race_app, 50, lambda i: len(reserve_stock([(variant_id, 1)], reference=f"hot-{i}"))
    )

    assert unexpected(outcomes) == []
    assert sum(o.ok for o in outcomes) == 10
    assert sum(isinstance(o.domain_error, OutOfStock) for o in outcomes) == 40
    (level,) = levels_of(variant_id)
    assert (level.on_hand, level.reserved, level.available) == (10, 10, 0)
    assert db.session.scalar(select(func.count(Reservation.id))) == 10
    assert availability([variant_id])[variant_id].available == 0
    assert_consistent()


def test_mixed_quantities_never_oversell(race_app):
    first, second = make_location("MIX-A", 1), make_location("MIX-B", 2)
    variant_id = stocked("MIX-1", 15, first)
    receive_stock(variant_id, quantity=10, location_id=second, by=None)
    wanted = [random.Random(i).randint(1, 3) for i in range(40)]

    def buy(i: int) -> int:
        return sum(r.quantity for r in reserve_stock([(variant_id, wanted[i])], reference=f"m{i}"))

    outcomes = run_together(race_app, 40, buy)

    assert unexpected(outcomes) == []
    sold = sum(o.value for o in outcomes if o.ok)
    assert sold == sum(wanted[i] for i, o in enumerate(outcomes) if o.ok)
    assert sold == held(variant_id) <= 25
    assert all(level.available >= 0 for level in levels_of(variant_id))
    assert availability([variant_id])[variant_id].available == 25 - sold
    assert all(isinstance(o.domain_error, OutOfStock) for o in outcomes if not o.ok)
    assert_consistent()


def test_overlapping_carts_in_any_line_order_do_not_deadlock(race_app):
    location = make_location("CART")
    skus = [stocked(f"CART-{k}", 12, location) for k in range(4)]
    skus.append(stocked("CART-4", 9, location))  # the scarcest line decides
    orders = []
    for i in range(20):
        lines = [(v, 1) for v in skus]
        random.Random(i).shuffle(lines)
        orders.append(lines)

    outcomes = run_together(
        race_app, 20, lambda i: len(reserve_stock(orders[i], reference=f"cart-{i}"))
    )

    assert_no_deadlock(outcomes)
    winners = sum(o.ok for o in outcomes)
    assert winners == 9
    assert all(isinstance(o.domain_error, OutOfStock) for o in outcomes if not o.ok)
    for variant_id in skus:  # all lines or none: every SKU is held once per winning cart
        assert held(variant_id) == winners
    assert_consistent()


def test_two_lines_of_one_variant_cannot_exceed_available(race_app):
    location = make_location("TWO")
    variant_id = stocked("TWO-1", 5, location)

    too_much = run_together(
        race_app,
        10,
        lambda i: reserve_stock([(variant_id, 3), (variant_id, 3)], reference=f"big-{i}"),
    )
    assert unexpected(too_much) == []
    assert not any(o.ok for o in too_much)
    assert held(variant_id) == 0

    pairs = run_together(
        race_app,
        10,
        lambda i: len(reserve_stock([(variant_id, 1), (variant_id, 1)], reference=f"pair-{i}")),
    )
    assert unexpected(pairs) == []
    assert sum(o.ok for o in pairs) == 2
    assert held(variant_id) == 4
    assert_consistent()


def test_concurrent_receipts_adjustments_and_transfers_keep_the_ledger(race_app):
    north, south = make_location("NORTH", 1), make_location("SOUTH", 2)
    variants = [stocked("LEDGER-1", 30, north), stocked("LEDGER-2", 30, north)]
    for variant_id in variants:
        receive_stock(variant_id, quantity=30, location_id=south, by=None)
    ends = (north, south)

    def churn(i: int) -> int:
        rng = random.Random(1000 + i)
        done = 0
        for _ in range(12):
            variant_id = rng.choice(variants)
            a, b = rng.sample(ends, 2)
            verb = rng.choice(["receive", "damaged", "found", "transfer", "transfer"])
            try:
                if verb == "receive":
                    receive_stock(variant_id, quantity=rng.randint(1, 3), location_id=a, by=None)
                elif verb == "damaged":
                    adjust_stock(
                        variant_id, location_id=a, delta=-rng.randint(1, 4), reason=DAMAGED, by=None
                    )
                elif verb == "found":
                    adjust_stock(variant_id, location_id=a, delta=1, reason=FOUND, by=None)
                else:
                    transfer_stock(
                        variant_id,
                        from_location_id=a,
                        to_location_id=b,
                        quantity=rng.randint(1, 5),
                        by=None,
                    )
                done += 1
            except OutOfStock:
                pass
        return done

    outcomes = run_together(race_app, 16, churn)

    assert_no_deadlock(outcomes)
    assert all(o.ok for o in outcomes)
    assert sum(o.value for o in outcomes) > 0
    assert_consistent()


def test_the_same_receipt_key_books_once(race_app):
    location = make_location("KEY")
    variant_id = make_variant("KEY-1")
    receive_stock(variant_id, quantity=1, location_id=location, by=None)

    outcomes = run_together(
        race_app,
        8,
        lambda i: (
            receive_stock(
                variant_id, quantity=5, location_id=location, by=None, idempotency_key="asn-1"
            ).id
        ),
    )

    assert unexpected(outcomes) == []
    assert len({o.value for o in outcomes}) == 1
    (level,) = levels_of(variant_id)
    assert level.on_hand == 6
    assert_consistent()


def test_first_receipts_at_a_new_location_create_one_level(race_app):
    location = make_location("NEW")
    variant_id = make_variant("NEW-1")

    outcomes = run_together(
        race_app,
        8,
        lambda i: receive_stock(variant_id, quantity=1, location_id=location, by=None).id,
    )

    assert unexpected(outcomes) == []
    (level,) = levels_of(variant_id)
    assert level.on_hand == 8
    assert_consistent()


def test_continue_selling_variant_never_fails_under_contention(race_app):
    location = make_location("CONT")
    variant_id = stocked("CONT-1", 5, location, inventory_policy=CONTINUE)

    outcomes = run_together(
        race_app, 20, lambda i: len(reserve_stock([(variant_id, 2)], reference=f"c-{i}"))
    )

    assert unexpected(outcomes) == []
    assert all(o.ok for o in outcomes)
    assert held(variant_id) <= 5
    assert_consistent()


def test_expired_holds_come_back_through_the_task(race_app):
    from commerce.inventory.tasks import release_expired

    location = make_location("EXP")
    variant_id = stocked("EXP-1", 5, location)
    reserve_stock(
        [(variant_id, 5)],
        reference="abandoned",
        ttl=timedelta(minutes=10),
        now=utcnow() - timedelta(hours=1),
    )
    refused = run_together(race_app, 5, lambda i: reserve_stock([(variant_id, 1)], reference="x"))
    assert not any(o.ok for o in refused)

    assert release_expired.delay().get() == 5  # eager: runs here, commits

    outcomes = run_together(
        race_app, 10, lambda i: len(reserve_stock([(variant_id, 1)], reference=f"late-{i}"))
    )
    assert unexpected(outcomes) == []
    assert sum(o.ok for o in outcomes) == 5
    statuses = dict(db.session.execute(select(Reservation.reference, Reservation.status)).all())
    assert statuses["abandoned"] == "expired"
    assert_consistent()


def test_cancel_after_a_shipment_from_another_session_gives_back_only_the_rest(race_app):
    location = make_location("CAN")
    variant_id = stocked("CAN-1", 5, location)
    reserve_stock([(variant_id, 3)], reference="order-cart")
    (allocation,) = commit_reservation("order-cart", order_reference="ORD-9")
    allocation_id = allocation.id
    db.session.commit()

    stale = db.session.get(Allocation, allocation_id)  # loaded before the shipment below
    assert stale.shipped == 0
    with race_app.app_context():  # another request: its own session and connection
        ship_allocation(allocation_id, by=None, quantity=2)
        db.session.remove()

    assert cancel_allocation(allocation_id, by=None) == 1
    (level,) = levels_of(variant_id)
    assert (level.on_hand, level.allocated, level.available) == (3, 0, 3)
    assert_consistent()

"""Transfer races on PostgreSQL with real threads and real commits: receipts of one line never
take more than was shipped, a retried receipt books once, shipping and shoppers never oversell
between them, and a cancellation racing receipts returns only what did not arrive. Assertions
are about counts, never timing."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from commerce.errors import Conflict, InvalidTransition, OutOfStock
from commerce.extensions import db
from commerce.inventory.models import StockLevel
from commerce.inventory.services import receive_stock, reserve_stock
from commerce.inventory.transfer_models import StockTransferLine, StockTransferReceipt
from commerce.inventory.transfers import (
    cancel_transfer,
    create_transfer,
    receive_transfer,
    ship_transfer,
)
from tests.concurrency.conftest import run_together, unexpected
from tests.concurrency.test_stock_races import assert_consistent, make_location, stocked

pytestmark = pytest.mark.postgres


def on_hand(variant_id: int, location_id: int) -> int:
    db.session.expire_all()
    return db.session.scalar(
        select(StockLevel.on_hand).where(
            StockLevel.variant_id == variant_id, StockLevel.location_id == location_id
        )
    )


def shipped_transfer(sku: str, units: int) -> tuple[int, int, int, int]:
    origin, destination = make_location(f"{sku}-O", 1), make_location(f"{sku}-D", 2)
    variant_id = stocked(sku, units, origin)
    transfer = create_transfer(
        origin_id=origin, destination_id=destination, lines=[(variant_id, units)], by=None
    )
    ship_transfer(transfer.id, by=None)
    return transfer.id, variant_id, origin, destination


def test_receipts_never_over_receive_nor_book_a_retry_twice(race_app):
    transfer_id, variant_id, _, destination = shipped_transfer("RCV", 10)

    outcomes = run_together(
        race_app,
        16,
        lambda i: receive_transfer(
            transfer_id, lines=[(variant_id, 1 + i % 2)], by=None, idempotency_key=f"r{i}"
        ),
    )

    assert unexpected(outcomes) == []
    got = sum(1 + i % 2 for i, o in enumerate(outcomes) if o.ok)
    assert got <= 10 and got >= 9  # the last units go to whoever asked few enough
    # too many for what is left, or nothing left at all (the transfer is received)
    refusals = (Conflict, InvalidTransition)
    assert all(isinstance(o.domain_error, refusals) for o in outcomes if not o.ok)
    line = db.session.scalars(select(StockTransferLine)).one()
    db.session.refresh(line)
    assert line.received == got == on_hand(variant_id, destination)
    assert_consistent()

    # the same receipt sent eight times at once (a retried scan) books once
    transfer_id, variant_id, _, destination = shipped_transfer("DUP", 6)

    outcomes = run_together(
        race_app,
        8,
        lambda i: [
            r.id
            for r in receive_transfer(
                transfer_id, lines=[(variant_id, 2)], by=None, idempotency_key="one-scan"
            )
        ],
    )

    assert unexpected(outcomes) == []
    assert all(o.ok for o in outcomes)
    assert len({tuple(o.value) for o in outcomes}) == 1  # every caller got the first receipt
    receipts = select(func.count(StockTransferReceipt.id)).where(
        StockTransferReceipt.transfer_id == transfer_id
    )
    assert db.session.scalar(receipts) == 1
    assert on_hand(variant_id, destination) == 2
    assert_consistent()


def test_shipping_while_shoppers_take_the_last_units_never_oversells(race_app):
    origin, destination = make_location("LAST-O", 1), make_location("LAST-D", 2)
    variant_id = stocked("LAST", 5, origin)
    transfer = create_transfer(
        origin_id=origin, destination_id=destination, lines=[(variant_id, 3)], by=None
    )

    def act(i: int) -> str:
        if i == 0:
            ship_transfer(transfer.id, by=None)
            return "shipped"
        reserve_stock([(variant_id, 1)], reference=f"cart-{i}")
        return "held"

    outcomes = run_together(race_app, 6, act)

    assert unexpected(outcomes) == []
    assert all(isinstance(o.domain_error, OutOfStock) for o in outcomes if not o.ok)
    shipped = sum(o.value == "shipped" for o in outcomes)
    held = sum(o.value == "held" for o in outcomes)
    assert 3 * shipped + held <= 5
    assert held >= 2  # the shoppers alone could not be refused below what was left
    db.session.expire_all()
    level = db.session.scalar(
        select(StockLevel).where(
            StockLevel.variant_id == variant_id, StockLevel.location_id == origin
        )
    )
    assert level.on_hand == 5 - 3 * shipped and level.reserved == held
    assert level.available >= 0
    assert_consistent()

    _two_transfers_crossing_do_not_deadlock(race_app)


def test_cancel_racing_receipts_returns_only_what_did_not_arrive(race_app):
    transfer_id, variant_id, origin, destination = shipped_transfer("CNL", 8)

    def act(i: int) -> str:
        if i == 0:
            cancel_transfer(transfer_id, by=None)
            return "cancelled"
        receive_transfer(transfer_id, lines=[(variant_id, 1)], by=None, idempotency_key=f"c{i}")
        return "received"

    outcomes = run_together(race_app, 6, act)

    assert unexpected(outcomes) == []
    assert all(isinstance(o.domain_error, InvalidTransition) for o in outcomes if not o.ok)
    received = sum(o.value == "received" for o in outcomes)
    assert on_hand(variant_id, destination) == received
    assert on_hand(variant_id, origin) == 8 - received  # everything else came back
    assert_consistent()


def _two_transfers_crossing_do_not_deadlock(race_app):
    """Transfers both ways between two locations, lines in both orders, shipped at once."""
    a, b = make_location("X-A", 1), make_location("X-B", 2)
    first, second = stocked("X-1", 20, a), stocked("X-2", 20, a)
    receive_stock(first, quantity=20, location_id=b, by=None)
    receive_stock(second, quantity=20, location_id=b, by=None)
    transfers = [
        create_transfer(
            origin_id=a if i % 2 else b,
            destination_id=b if i % 2 else a,
            lines=[(first, 1), (second, 1)] if i % 2 else [(second, 1), (first, 1)],
            by=None,
        ).id
        for i in range(10)
    ]

    outcomes = run_together(race_app, 10, lambda i: ship_transfer(transfers[i], by=None).id)

    assert unexpected(outcomes) == []
    assert all(o.ok for o in outcomes)
    assert_consistent()


def test_scanners_counting_the_same_item_at_once_lose_no_scan(race_app):
    """Ten scans of an item not counted yet, at once: ten units (one creates the line, the
    others add to it); the same scan sent eight times at once counts once."""
    from commerce.inventory.count_session_models import CountSessionLine
    from commerce.inventory.count_sessions import count_scanned, start_count_session

    location = make_location("CNT", 1)
    first, second = stocked("CNT-1", 3, location), stocked("CNT-2", 3, location)
    session = start_count_session(location_id=location, by=None)

    scans = run_together(
        race_app,
        10,
        lambda i: count_scanned(session.id, variant_id=first, key=f"s{i}", by=None).id,
    )
    repeats = run_together(
        race_app,
        8,
        lambda i: count_scanned(session.id, variant_id=second, key="same", by=None).id,
    )

    assert unexpected(scans) == [] and unexpected(repeats) == []
    assert all(o.ok for o in scans + repeats)
    db.session.expire_all()
    counted = dict(
        db.session.execute(
            select(CountSessionLine.variant_id, CountSessionLine.counted).where(
                CountSessionLine.session_id == session.id
            )
        ).all()
    )
    assert counted == {first: 10, second: 1}

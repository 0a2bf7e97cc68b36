"""Receiving purchase orders under contention on PostgreSQL: a retried scan sent many times at
once books one receipt; receipts racing for a line's last units never pass its quantity
without confirmation; a cancel racing receipts leaves the counters and the ledger in step;
concurrent receipts at different costs leave the average the documented rule gives for the
order they were booked in."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from commerce.catalog.models import Variant
from commerce.catalog.services import create_product
from commerce.errors import InvalidTransition
from commerce.extensions import db
from commerce.inventory.costing import weighted_average
from commerce.inventory.models import Location, StockLevel, StockMovement
from commerce.inventory.services import reconcile
from commerce.purchasing.models import (
    CANCELLED,
    RECEIVED,
    PurchaseOrder,
    PurchaseOrderLine,
    PurchaseReceipt,
)
from commerce.purchasing.services import (
    OverReceipt,
    cancel_purchase_order,
    create_purchase_order,
    create_supplier,
    place_purchase_order,
    receive_purchase_order_line,
)
from tests.concurrency.conftest import run_together, unexpected

pytestmark = pytest.mark.postgres


def ordered(code: str, lines: list[tuple[int, int]]) -> tuple[int, list[int], int]:
    """An ordered PO of (quantity, unit cost) lines, one new variant each."""
    location = Location(name=f"Dock {code}", code=code, priority=1)
    db.session.add(location)
    db.session.commit()
    supplier = create_supplier(by=None, name=f"Supplier {code}", currency="USD")
    variants = [
        create_product(title=f"{code} {i}", sku=f"{code}-{i}", price=900, by=None).variants[0].id
        for i in range(len(lines))
    ]
    po = create_purchase_order(
        by=None,
        supplier_id=supplier.id,
        location_id=location.id,
        lines=[(v, q, c) for v, (q, c) in zip(variants, lines, strict=True)],
    )
    place_purchase_order(po, by=None)
    return po.id, [line.id for line in po.lines], location.id


def line_received(line_id: int) -> int:
    db.session.expire_all()
    return db.session.get(PurchaseOrderLine, line_id).received


def booked(line_id: int) -> int:
    """Units the ledger holds for a line's receipts (through the receipt rows)."""
    return db.session.scalar(
        select(func.coalesce(func.sum(StockMovement.delta), 0))
        .join(PurchaseReceipt, PurchaseReceipt.movement_id == StockMovement.id)
        .where(PurchaseReceipt.line_id == line_id)
    )


def test_retries_last_units_and_a_cancel_race_receipts(race_app):
    """Three races on one database (one migrated schema for all three, to keep CI quick)."""
    a_scan_retried_at_once_books_one_receipt(race_app)
    receipts_racing_for_the_last_units_never_pass_the_line(race_app)
    a_cancel_racing_receipts_keeps_counters_and_ledger_in_step(race_app)


def a_scan_retried_at_once_books_one_receipt(race_app):
    _, (line,), _ = ordered("RETRY", [(10, 300)])
    outcomes = run_together(
        race_app,
        8,
        lambda i: (
            receive_purchase_order_line(line, quantity=4, by=None, idempotency_key="scan-42").id
        ),
    )
    assert unexpected(outcomes) == []
    assert all(o.ok for o in outcomes) and len({o.value for o in outcomes}) == 1
    assert line_received(line) == 4 == booked(line)
    assert reconcile() == []


def receipts_racing_for_the_last_units_never_pass_the_line(race_app):
    po_id, (line,), _ = ordered("LAST", [(10, 300)])
    outcomes = run_together(
        race_app, 12, lambda i: receive_purchase_order_line(line, quantity=1, by=None).id
    )
    assert unexpected(outcomes) == []
    assert sum(o.ok for o in outcomes) == 10
    # Refused as an over-receipt, or (once the line is complete) as a received PO.
    assert all(
        isinstance(o.domain_error, OverReceipt | InvalidTransition) for o in outcomes if not o.ok
    )
    assert line_received(line) == 10 == booked(line)
    assert db.session.get(PurchaseOrder, po_id).status == RECEIVED
    assert reconcile() == []


def a_cancel_racing_receipts_keeps_counters_and_ledger_in_step(race_app):
    po_id, (line,), _ = ordered("CANCEL", [(50, 300)])

    def work(i: int):
        if i == 5:
            return cancel_purchase_order(db.session.get(PurchaseOrder, po_id), by=None).status
        return receive_purchase_order_line(line, quantity=2, by=None).id

    outcomes = run_together(race_app, 10, work)
    assert unexpected(outcomes) == []
    db.session.expire_all()
    assert db.session.get(PurchaseOrder, po_id).status == CANCELLED
    assert line_received(line) == booked(line)
    assert reconcile() == []


def test_concurrent_receipts_average_in_the_order_they_were_booked(race_app):
    costs = [100, 250, 400, 175, 990, 333]
    po_id, _, location = ordered("COST", [(1, 1)])  # the location and supplier
    supplier_id = db.session.get(PurchaseOrder, po_id).supplier_id
    variant_id = create_product(title="Costed", sku="COSTED", price=900, by=None).variants[0].id
    pos = []
    for cost in costs:
        po = create_purchase_order(
            by=None, supplier_id=supplier_id, location_id=location, lines=[(variant_id, 3, cost)]
        )
        place_purchase_order(po, by=None)
        pos.append(po.lines[0].id)

    outcomes = run_together(
        race_app, len(pos), lambda i: receive_purchase_order_line(pos[i], quantity=3, by=None).id
    )
    assert unexpected(outcomes) == [] and all(o.ok for o in outcomes)
    order = db.session.scalars(
        select(PurchaseReceipt.line_id).order_by(PurchaseReceipt.movement_id)
    ).all()
    by_line = dict(zip(pos, costs, strict=True))
    average, on_hand = None, 0
    for line_id in order:
        average = weighted_average(average, on_hand, 3, by_line[line_id])
        on_hand += 3
    db.session.expire_all()
    assert db.session.get(Variant, variant_id).cost == average
    assert db.session.scalar(
        select(func.sum(StockLevel.on_hand)).where(StockLevel.variant_id == variant_id)
    ) == 3 * len(costs)

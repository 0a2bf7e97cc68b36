"""Purchase orders through their services (SQLite): draft, ordered, partial receipts,
received, cancelled; over-receipts; idempotent retries; incoming units; the average cost."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from commerce.audit import AuditEntry
from commerce.errors import InvalidTransition, ValidationError
from commerce.extensions import db
from commerce.inventory.models import RECEIVED as RECEIVED_REASON
from commerce.inventory.models import StockLevel, StockMovement
from commerce.inventory.services import reconcile
from commerce.purchasing.models import (
    CANCELLED,
    DRAFT,
    ORDERED,
    PARTLY_RECEIVED,
    RECEIVED,
    PurchaseReceipt,
)
from commerce.purchasing.queries import incoming_for, stock_value_by_location
from commerce.purchasing.services import (
    OverReceipt,
    add_purchase_order_line,
    cancel_purchase_order,
    create_purchase_order,
    place_purchase_order,
    receive_purchase_order_line,
    remove_purchase_order_line,
)


def on_hand(variant_id: int, location_id: int) -> int:
    return db.session.scalar(
        select(StockLevel.on_hand).where(
            StockLevel.variant_id == variant_id, StockLevel.location_id == location_id
        )
    )


@pytest.fixture
def mug(make_variant):
    return make_variant(sku="MUG-1")


@pytest.fixture
def beans(make_variant):
    return make_variant(sku="BEANS-1")


def ordered_po(supplier, main_wh, staff, mug, beans):
    po = create_purchase_order(
        by=staff,
        supplier_id=supplier.id,
        location_id=main_wh.id,
        expected_on=date(2026, 12, 20),
        lines=[(mug.id, 10, 450), (beans.id, 4, 1200)],
    )
    return place_purchase_order(po, by=staff)


def test_lifecycle_draft_ordered_partly_received_received(supplier, main_wh, staff, mug, beans):
    po = create_purchase_order(
        by=staff, supplier_id=supplier.id, location_id=main_wh.id, lines=[(mug.id, 10, 450)]
    )
    assert (po.status, po.number, po.currency) == (DRAFT, f"PO-{po.id:05d}", "USD")
    assert incoming_for([mug.id]) == {}, "a draft is not incoming yet"
    add_purchase_order_line(po, by=staff, variant_id=beans.id, quantity=4, unit_cost=1200)
    assert po.total == 10 * 450 + 4 * 1200
    place_purchase_order(po, by=staff)
    assert po.status == ORDERED
    assert incoming_for([mug.id, beans.id])[mug.id].units == 10

    mug_line, beans_line = po.lines
    receipt = receive_purchase_order_line(mug_line.id, quantity=6, by=staff, idempotency_key="k1")
    assert po.status == PARTLY_RECEIVED
    assert on_hand(mug.id, main_wh.id) == 6
    movement = db.session.get(StockMovement, receipt.movement_id)
    assert (movement.delta, movement.reason, movement.reference) == (6, RECEIVED_REASON, po.number)
    assert incoming_for([mug.id])[mug.id].units == 4
    assert incoming_for([mug.id])[mug.id].expected_on is None

    receive_purchase_order_line(mug_line.id, quantity=4, by=staff, idempotency_key="k2")
    receive_purchase_order_line(beans_line.id, quantity=4, by=staff, idempotency_key="k3")
    db.session.refresh(po)
    assert po.status == RECEIVED and po.closed_at is not None
    assert incoming_for([mug.id, beans.id]) == {}
    assert reconcile() == []
    words = [
        e.action
        for e in db.session.scalars(
            select(AuditEntry).where(AuditEntry.subject_type == "purchase_order")
        )
    ]
    assert words.count("purchase_order.receive") == 3
    assert "purchase_order.order" in words


def test_a_draft_can_be_edited_an_ordered_po_cannot(supplier, main_wh, staff, mug, beans):
    po = create_purchase_order(
        by=staff, supplier_id=supplier.id, location_id=main_wh.id, lines=[(mug.id, 1, 0)]
    )
    with pytest.raises(ValidationError):
        add_purchase_order_line(po, by=staff, variant_id=beans.id, quantity=0, unit_cost=10)
    place_purchase_order(po, by=staff)
    with pytest.raises(InvalidTransition):
        add_purchase_order_line(po, by=staff, variant_id=beans.id, quantity=1, unit_cost=10)
    with pytest.raises(InvalidTransition):
        remove_purchase_order_line(po.lines[0].id, by=staff)
    with pytest.raises(InvalidTransition):
        receive_purchase_order_line(
            create_purchase_order(
                by=staff, supplier_id=supplier.id, location_id=main_wh.id, lines=[(mug.id, 1, 0)]
            )
            .lines[0]
            .id,
            quantity=1,
            by=staff,
        )


def test_an_empty_draft_cannot_be_ordered(supplier, main_wh, staff):
    po = create_purchase_order(by=staff, supplier_id=supplier.id, location_id=main_wh.id)
    with pytest.raises(ValidationError):
        place_purchase_order(po, by=staff)


def test_over_receipt_needs_confirmation(supplier, main_wh, staff, mug, beans):
    po = ordered_po(supplier, main_wh, staff, mug, beans)
    line = po.lines[0]
    receive_purchase_order_line(line.id, quantity=8, by=staff)
    with pytest.raises(OverReceipt) as refused:
        receive_purchase_order_line(line.id, quantity=5, by=staff)
    assert refused.value.details == {"outstanding": 2, "requested": 5}
    assert on_hand(mug.id, main_wh.id) == 8, "nothing booked without confirmation"
    receipt = receive_purchase_order_line(line.id, quantity=5, by=staff, accept_over=True)
    assert receipt.over_received
    db.session.refresh(line)
    assert (line.received, line.outstanding) == (13, 0)
    assert on_hand(mug.id, main_wh.id) == 13


def test_a_retried_receipt_books_once(supplier, main_wh, staff, mug, beans):
    po = ordered_po(supplier, main_wh, staff, mug, beans)
    line = po.lines[0]
    first = receive_purchase_order_line(line.id, quantity=3, by=staff, idempotency_key="scan-1")
    again = receive_purchase_order_line(line.id, quantity=3, by=staff, idempotency_key="scan-1")
    assert again.id == first.id
    db.session.refresh(line)
    assert line.received == 3
    assert on_hand(mug.id, main_wh.id) == 3
    assert db.session.scalar(select(PurchaseReceipt.id).where(PurchaseReceipt.line_id == line.id))


def test_cancel_keeps_what_was_received(supplier, main_wh, staff, mug, beans):
    po = ordered_po(supplier, main_wh, staff, mug, beans)
    receive_purchase_order_line(po.lines[0].id, quantity=2, by=staff)
    cancel_purchase_order(po, by=staff, reason="supplier out of stock")
    assert po.status == CANCELLED
    assert on_hand(mug.id, main_wh.id) == 2
    assert incoming_for([mug.id, beans.id]) == {}
    with pytest.raises(InvalidTransition):
        receive_purchase_order_line(po.lines[0].id, quantity=1, by=staff)
    with pytest.raises(InvalidTransition):
        cancel_purchase_order(po, by=staff)


def test_receipts_move_the_average_cost_and_the_stock_value(supplier, main_wh, staff, mug, beans):
    po = ordered_po(supplier, main_wh, staff, mug, beans)
    receive_purchase_order_line(po.lines[0].id, quantity=4, by=staff)
    db.session.refresh(mug)
    assert mug.cost == 450
    po2 = create_purchase_order(
        by=staff, supplier_id=supplier.id, location_id=main_wh.id, lines=[(mug.id, 2, 601)]
    )
    place_purchase_order(po2, by=staff)
    receive_purchase_order_line(po2.lines[0].id, quantity=2, by=staff)
    db.session.refresh(mug)
    # (4 * 450 + 2 * 601) / 6 = 500.33... -> 500
    assert mug.cost == 500
    values = {v.currency: v for v in stock_value_by_location() if v.location_id == main_wh.id}
    assert values["USD"].value == 6 * 500
    assert values["USD"].uncosted_units == 0


def test_a_supplier_needs_a_name_a_known_currency_and_a_sane_lead_time(app, staff, supplier):
    from commerce.purchasing.services import create_supplier, update_supplier

    with pytest.raises(ValidationError) as refused:
        create_supplier(by=staff, name=" ", currency="ZZZ", lead_time_days=-1, email="nope")
    assert set(refused.value.errors) == {"name", "currency", "lead_time_days", "email"}
    with pytest.raises(ValidationError) as taken:
        create_supplier(by=staff, name="Roastery Ltd", currency="EUR")
    assert "exists already" in taken.value.errors["name"][0]
    update_supplier(supplier, by=staff, name="Roastery Ltd", currency="eur", lead_time_days=3)
    assert (supplier.currency, supplier.lead_time_days) == ("EUR", 3)
    entry = db.session.scalars(
        select(AuditEntry).where(AuditEntry.action == "supplier.update")
    ).one()
    assert entry.after["lead_time"] == "3 days" and entry.before["lead_time"] == "10 days"

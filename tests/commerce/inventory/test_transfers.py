"""Transfers of many variants (draft, ship, receive, finish, cancel) and count sessions,
through their services (SQLite): the ledger stays the truth of every level."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from commerce.audit import AuditEntry
from commerce.errors import Conflict, InvalidTransition, OutOfStock, ValidationError
from commerce.extensions import db
from commerce.inventory.count_sessions import (
    apply_count_session,
    count_scanned,
    count_variances,
    start_count_session,
)
from commerce.inventory.models import (
    CYCLE_COUNT,
    TRANSFER_IN,
    TRANSFER_OUT,
    StockLevel,
    StockMovement,
)
from commerce.inventory.services import receive_stock, reserve_stock
from commerce.inventory.transfer_models import (
    CANCELLED,
    DRAFT,
    IN_TRANSIT,
    PARTLY_RECEIVED,
    RECEIVED,
    StockTransferReceipt,
)
from commerce.inventory.transfers import (
    TransferFilter,
    add_to_transfer,
    cancel_transfer,
    create_transfer,
    finish_receiving,
    get_transfer,
    in_transit_at,
    list_transfers,
    receive_transfer,
    set_transfer_quantities,
    ship_transfer,
)


@pytest.fixture
def staff(make_staff):
    return make_staff("warehouse")


@pytest.fixture
def tee(make_variant):
    return make_variant(sku="TEE-1", barcode="111")


@pytest.fixture
def mug(make_variant):
    return make_variant(sku="MUG-1", barcode="222")


def on_hand(variant_id, location_id):
    units = db.session.scalar(
        select(StockLevel.on_hand).where(
            StockLevel.variant_id == variant_id, StockLevel.location_id == location_id
        )
    )
    return units or 0


def ledger_matches():
    """Every level's on_hand is the sum of its movements."""
    sums = dict(
        db.session.execute(
            select(StockMovement.stock_level_id, func.sum(StockMovement.delta)).group_by(
                StockMovement.stock_level_id
            )
        ).all()
    )
    for level in db.session.scalars(select(StockLevel)):
        db.session.refresh(level)
        assert level.on_hand == int(sums.get(level.id) or 0), level.id
    return True


@pytest.fixture
def shipped(tee, mug, main_wh, second_wh, staff):
    receive_stock(tee.id, quantity=10, location_id=main_wh.id, by=staff)
    receive_stock(mug.id, quantity=4, location_id=main_wh.id, by=staff)
    transfer = create_transfer(
        origin_id=main_wh.id,
        destination_id=second_wh.id,
        lines=[(tee.id, 6), (mug.id, 4)],
        by=staff,
    )
    return ship_transfer(transfer.id, by=staff)


def test_a_draft_moves_nothing_and_grows_by_scans(tee, mug, main_wh, second_wh, staff):
    receive_stock(tee.id, quantity=5, location_id=main_wh.id, by=staff)
    transfer = create_transfer(origin_id=main_wh.id, destination_id=second_wh.id, by=staff)
    assert transfer.status == DRAFT and transfer.number.startswith("T-")
    add_to_transfer(transfer.id, variant_id=tee.id, by=staff)
    add_to_transfer(transfer.id, variant_id=tee.id, by=staff)
    line = add_to_transfer(transfer.id, variant_id=mug.id, quantity=3, by=staff)
    assert line.quantity == 3
    transfer = get_transfer(transfer.id)
    assert [(x.variant_id, x.quantity) for x in transfer.lines] == [(tee.id, 2), (mug.id, 3)]
    set_transfer_quantities(transfer.id, {transfer.lines[1].id: 0}, by=staff)
    assert [x.variant_id for x in get_transfer(transfer.id).lines] == [tee.id]
    assert on_hand(tee.id, main_wh.id) == 5


def test_two_locations_are_needed(main_wh, staff):
    with pytest.raises(ValidationError) as error:
        create_transfer(origin_id=main_wh.id, destination_id=main_wh.id, by=staff)
    assert error.value.field == "destination_id"


def test_ship_takes_every_line_out_of_the_origin(shipped, tee, mug, main_wh, second_wh, staff):
    assert shipped.status == IN_TRANSIT
    assert on_hand(tee.id, main_wh.id) == 4 and on_hand(mug.id, main_wh.id) == 0
    outs = db.session.scalars(
        select(StockMovement).where(StockMovement.reason == TRANSFER_OUT)
    ).all()
    assert sorted(m.delta for m in outs) == [-6, -4]
    assert all(m.reference.startswith(f"transfer {shipped.number}") for m in outs)
    seen = in_transit_at([(tee.id, second_wh.id), (tee.id, main_wh.id), (mug.id, second_wh.id)])
    assert seen[(tee.id, second_wh.id)] == {"incoming": 6, "outgoing": 0}
    assert seen[(tee.id, main_wh.id)] == {"incoming": 0, "outgoing": 6}
    assert seen[(mug.id, second_wh.id)]["incoming"] == 4
    # shipping again is a repeat, not a second booking
    ship_transfer(shipped.id, by=staff)
    assert on_hand(tee.id, main_wh.id) == 4
    entry = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "transfer.ship")).one()
    assert "TEE-1" in entry.after["shipped"] and "x 6" in entry.after["shipped"]
    assert ledger_matches()


def test_ship_refuses_every_short_line_and_books_nothing(tee, mug, main_wh, second_wh, staff):
    receive_stock(tee.id, quantity=2, location_id=main_wh.id, by=staff)
    receive_stock(mug.id, quantity=9, location_id=main_wh.id, by=staff)
    reserve_stock([(mug.id, 8)], reference="cart-1")
    transfer = create_transfer(
        origin_id=main_wh.id,
        destination_id=second_wh.id,
        lines=[(tee.id, 3), (mug.id, 2)],
        by=staff,
    )
    with pytest.raises(OutOfStock) as error:
        ship_transfer(transfer.id, by=staff)
    assert "TEE-1" in error.value.message and ": 1 of 2" in error.value.message
    assert get_transfer(transfer.id).status == DRAFT
    assert on_hand(tee.id, main_wh.id) == 2 and on_hand(mug.id, main_wh.id) == 9
    assert ledger_matches()


def test_partial_then_full_receipt(shipped, tee, mug, second_wh, staff):
    first = receive_transfer(shipped.id, lines=[(tee.id, 2)], by=staff, idempotency_key="k1")
    assert [r.quantity for r in first] == [2]
    assert get_transfer(shipped.id).status == PARTLY_RECEIVED
    assert on_hand(tee.id, second_wh.id) == 2
    receive_transfer(shipped.id, lines=[(tee.id, 4), (mug.id, 4)], by=staff, idempotency_key="k2")
    transfer = get_transfer(shipped.id)
    assert transfer.status == RECEIVED and transfer.received_at is not None
    assert on_hand(tee.id, second_wh.id) == 6 and on_hand(mug.id, second_wh.id) == 4
    ins = db.session.scalars(select(StockMovement).where(StockMovement.reason == TRANSFER_IN))
    receipts = db.session.scalars(select(StockTransferReceipt)).all()
    assert sorted(m.id for m in ins) == sorted(r.movement_id for r in receipts)
    assert in_transit_at([(tee.id, second_wh.id)]) == {}
    assert ledger_matches()


def test_a_retried_receipt_never_books_twice(shipped, tee, second_wh, staff):
    first = receive_transfer(shipped.id, lines=[(tee.id, 3)], by=staff, idempotency_key="same")
    again = receive_transfer(shipped.id, lines=[(tee.id, 3)], by=staff, idempotency_key="same")
    assert [r.id for r in again] == [r.id for r in first]
    assert on_hand(tee.id, second_wh.id) == 3
    assert get_transfer(shipped.id).lines[0].received == 3


def test_over_receipt_is_refused_with_what_is_expected(shipped, tee, second_wh, staff):
    receive_transfer(shipped.id, lines=[(tee.id, 5)], by=staff, idempotency_key="a")
    with pytest.raises(Conflict) as error:
        receive_transfer(shipped.id, lines=[(tee.id, 2)], by=staff, idempotency_key="b")
    assert "Only 1 of TEE-1" in error.value.message
    assert on_hand(tee.id, second_wh.id) == 5


def test_a_variant_not_on_the_transfer_is_refused(shipped, make_variant, staff):
    other = make_variant(sku="OTHER")
    with pytest.raises(ValidationError) as error:
        receive_transfer(shipped.id, lines=[(other.id, 1)], by=staff, idempotency_key="x")
    assert "is not on" in error.value.message and error.value.field == "code"


def test_a_draft_cannot_be_received(tee, main_wh, second_wh, staff):
    transfer = create_transfer(
        origin_id=main_wh.id, destination_id=second_wh.id, lines=[(tee.id, 1)], by=staff
    )
    with pytest.raises(InvalidTransition):
        receive_transfer(transfer.id, lines=[(tee.id, 1)], by=staff, idempotency_key="d")


def test_finishing_early_records_the_missing_units(shipped, tee, mug, staff):
    receive_transfer(shipped.id, lines=[(tee.id, 4), (mug.id, 4)], by=staff, idempotency_key="r")
    transfer = finish_receiving(shipped.id, by=staff, note="box torn")
    assert transfer.status == RECEIVED and transfer.discrepancy_note == "box torn"
    line = next(x for x in transfer.lines if x.variant_id == tee.id)
    assert (line.received, line.missing, line.in_transit) == (4, 2, 0)
    entry = db.session.scalars(
        select(AuditEntry).where(AuditEntry.action == "transfer.finish_receiving")
    ).one()
    assert "TEE-1" in entry.after["missing"] and "x 2" in entry.after["missing"]
    with pytest.raises(InvalidTransition):
        receive_transfer(shipped.id, lines=[(tee.id, 1)], by=staff, idempotency_key="late")
    assert ledger_matches()


def test_cancel_in_transit_returns_what_is_still_on_the_road(
    shipped, tee, mug, main_wh, second_wh, staff
):
    receive_transfer(shipped.id, lines=[(tee.id, 1)], by=staff, idempotency_key="one")
    transfer = cancel_transfer(shipped.id, by=staff)
    assert transfer.status == CANCELLED
    assert on_hand(tee.id, main_wh.id) == 4 + 5 and on_hand(mug.id, main_wh.id) == 4
    assert on_hand(tee.id, second_wh.id) == 1
    cancel_transfer(shipped.id, by=staff)  # a repeat books nothing more
    assert on_hand(tee.id, main_wh.id) == 9
    assert in_transit_at([(tee.id, second_wh.id), (tee.id, main_wh.id)]) == {}
    with pytest.raises(InvalidTransition):
        ship_transfer(shipped.id, by=staff)
    assert ledger_matches()


def test_cancel_a_draft(tee, main_wh, second_wh, staff):
    transfer = create_transfer(
        origin_id=main_wh.id, destination_id=second_wh.id, lines=[(tee.id, 1)], by=staff
    )
    assert cancel_transfer(transfer.id, by=staff).status == CANCELLED
    with pytest.raises(InvalidTransition):
        add_to_transfer(transfer.id, variant_id=tee.id, by=staff)


def test_list_filters_and_sorts(shipped, tee, main_wh, second_wh, staff):
    draft = create_transfer(
        origin_id=second_wh.id, destination_id=main_wh.id, lines=[(tee.id, 1)], by=staff
    )
    page = list_transfers(TransferFilter())
    assert [r.id for r in page.items] == [draft.id, shipped.id]
    assert page.items[1].units == 10 and page.items[1].in_transit == 10
    assert [r.id for r in list_transfers(TransferFilter(status=IN_TRANSIT)).items] == [shipped.id]
    assert [r.id for r in list_transfers(TransferFilter(direction="asc")).items] == [
        shipped.id,
        draft.id,
    ]
    first = list_transfers(TransferFilter(), limit=1)
    second = list_transfers(TransferFilter(), after=first.next_cursor, limit=1)
    assert [r.id for r in second.items] == [shipped.id]


# -- count sessions -----------------------------------------------------------------------------


def test_count_by_scanning_then_apply(tee, mug, make_variant, main_wh, staff):
    lamp = make_variant(sku="LAMP")
    receive_stock(tee.id, quantity=5, location_id=main_wh.id, by=staff)
    receive_stock(mug.id, quantity=2, location_id=main_wh.id, by=staff)
    receive_stock(lamp.id, quantity=3, location_id=main_wh.id, by=staff)
    session = start_count_session(location_id=main_wh.id, by=staff)
    for n in range(4):
        count_scanned(session.id, variant_id=tee.id, by=staff, key=f"s{n}")
    count_scanned(session.id, variant_id=tee.id, by=staff, key="s3")  # the same scan again
    count_scanned(session.id, variant_id=mug.id, by=staff, quantity=7, add=False, key="t")
    rows = {r.sku: r for r in count_variances(session)}
    assert (rows["TEE-1"].counted, rows["TEE-1"].expected) == (4, 5)
    assert rows["MUG-1"].difference == 5 and "LAMP" not in rows
    whole = {r.sku: r for r in count_variances(session, whole_location=True)}
    assert whole["LAMP"].counted is None and whole["LAMP"].difference == -3
    movements = apply_count_session(session.id, by=staff, whole_location=True)
    assert sorted(m.delta for m in movements) == [-3, -1, 5]
    assert all(m.reason == CYCLE_COUNT for m in movements)
    assert on_hand(tee.id, main_wh.id) == 4 and on_hand(lamp.id, main_wh.id) == 0
    assert apply_count_session(session.id, by=staff) == []  # applied once
    with pytest.raises(InvalidTransition):
        count_scanned(session.id, variant_id=tee.id, by=staff, key="late")
    assert ledger_matches()

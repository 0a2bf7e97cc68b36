"""Returns through the real services: shipped units come back, are restocked (through the
ledger) or written off (no stock movement), and the refund of what arrived follows."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from commerce.audit import AuditEntry
from commerce.errors import InvalidTransition, ValidationError
from commerce.extensions import db
from commerce.inventory.models import RETURNED as MOVEMENT_RETURNED
from commerce.inventory.models import StockLevel, StockMovement
from commerce.inventory.services import availability, default_location
from commerce.orders.models import (
    FULFILLED,
    PARTIALLY_REFUNDED,
    PARTIALLY_RETURNED,
    REFUND_AWAITING_APPROVAL,
    REFUND_FAILED,
    REFUND_SUCCEEDED,
    RESTOCK,
    RETURN_CANCELLED,
    RETURN_OPEN,
    RETURN_RECEIVED,
    RETURNED,
    WRITE_OFF,
    Refund,
)
from commerce.orders.refunds import issue_refund, line_paid, retry_refund
from commerce.orders.returns import (
    cancel_return,
    open_return,
    receive_return,
    refund_for_return,
    returnable_quantities,
)
from tests.commerce.orders.factories import (
    assert_refunds_consistent,
    ledger_mismatches,
    new_key,
    place_paid_order,
    ship,
    use_flaky_gateway,
)


@pytest.fixture
def order(checkout_shop):
    """2 small + 1 medium T-shirts (25.00 each), shipped."""
    placed = place_paid_order(checkout_shop, small=2, medium=1)
    return ship(placed)


@pytest.fixture
def lines(order, checkout_shop):
    by_variant = {line.variant_id: line for line in order.lines}
    return by_variant[checkout_shop.small], by_variant[checkout_shop.medium]


@pytest.fixture
def clerk(make_staff):
    return make_staff("warehouse")


@pytest.fixture
def admin(make_staff):
    return make_staff("admin")


def on_hand(variant_id: int) -> int:
    return sum(
        level.on_hand
        for level in db.session.scalars(
            select(StockLevel)
            .where(StockLevel.variant_id == variant_id)
            .execution_options(populate_existing=True)
        )
    )


def movements(reference: str) -> list[tuple[int, str]]:
    return [
        (m.delta, m.reason)
        for m in db.session.scalars(
            select(StockMovement)
            .where(StockMovement.reference == reference)
            .order_by(StockMovement.id)
        )
    ]


def actions(order) -> list[str]:
    return list(
        db.session.scalars(
            select(AuditEntry.action)
            .where(AuditEntry.subject_type == "order", AuditEntry.subject_id == str(order.id))
            .order_by(AuditEntry.id)
        )
    )


# -- opening ------------------------------------------------------------------------------------


def test_only_shipped_units_not_already_coming_back_can_be_returned(checkout_shop, clerk):
    order = place_paid_order(checkout_shop, small=2)
    (line,) = order.lines
    with pytest.raises(ValidationError) as caught:
        open_return(order, lines={line.id: 1}, reason="Too small", by=clerk)
    assert caught.value.errors[("line", line.id)] == ["Only 0 shipped unit(s) can come back."]

    ship(order, {line.id: 1})
    with pytest.raises(ValidationError) as caught:
        open_return(order, lines={line.id: 2}, reason="Too small", by=clerk)
    assert ("line", line.id) in caught.value.errors
    first = open_return(order, lines={line.id: 1}, reason="Too small", by_customer=True)
    assert (first.status, first.opened_by_customer, first.name) == (
        RETURN_OPEN,
        True,
        f"RMA-{first.id}",
    )
    assert returnable_quantities(order) == {line.id: 0}
    with pytest.raises(ValidationError):  # that unit is already expected back
        open_return(order, lines={line.id: 1}, reason="Again", by=clerk)

    cancel_return(first, by=clerk, reason="Customer kept it")
    assert first.status == RETURN_CANCELLED
    assert returnable_quantities(order) == {line.id: 1}
    assert open_return(order, lines={line.id: 1}, reason="Changed mind", by=clerk).id != first.id

    db.session.refresh(order)
    opened = [e for e in order.events if e.kind == "return.opened"]
    assert len(opened) == 2 and not any(e.customer_visible for e in opened)  # internal
    assert actions(order).count("order.return_open") == 2
    assert "order.return_cancel" in actions(order)


def test_open_return_validates_every_field(order, lines, clerk):
    small, _ = lines
    with pytest.raises(ValidationError) as caught:
        open_return(order, lines={small.id: -1, 999_999: 1}, reason="", by=clerk)
    assert set(caught.value.errors) == {("line", small.id), ("line", 999999), "reason"}
    with pytest.raises(ValidationError) as caught:
        open_return(order, lines={small.id: 0}, reason="Nothing", by=clerk)
    assert "lines" in caught.value.errors


# -- receiving ----------------------------------------------------------------------------------


def test_restocked_units_go_back_through_the_ledger_and_write_offs_do_not(
    order, lines, clerk, checkout_shop
):
    small, medium = lines
    rma = open_return(order, lines={small.id: 2, medium.id: 1}, reason="Wrong colour", by=clerk)
    by_order_line = {line.order_line_id: line for line in rma.lines}
    location = default_location()
    small_on_hand, medium_on_hand = on_hand(checkout_shop.small), on_hand(checkout_shop.medium)
    available = availability([checkout_shop.small, checkout_shop.medium])

    received = receive_return(
        rma,
        received={
            by_order_line[small.id].id: (2, RESTOCK, location.id),
            by_order_line[medium.id].id: (1, WRITE_OFF, None),
        },
        idempotency_key=new_key("rma"),
        by=clerk,
    )
    assert received.status == RETURN_RECEIVED and received.received_at is not None
    dispositions = {
        line.order_line_id: (line.received_quantity, line.disposition) for line in received.lines
    }
    assert dispositions == {small.id: (2, RESTOCK), medium.id: (1, WRITE_OFF)}

    # restocked: +2 on hand and available, one RETURNED movement filed under the RMA name
    assert movements(rma.name) == [(2, MOVEMENT_RETURNED)]
    assert on_hand(checkout_shop.small) == small_on_hand + 2
    after = availability([checkout_shop.small, checkout_shop.medium])
    assert after[checkout_shop.small].available == available[checkout_shop.small].available + 2
    # written off: no movement at all, stock unchanged
    assert on_hand(checkout_shop.medium) == medium_on_hand
    assert after[checkout_shop.medium].available == available[checkout_shop.medium].available
    assert ledger_mismatches() == []

    db.session.refresh(order)
    for line in order.lines:
        db.session.refresh(line)
    assert (small.returned_quantity, medium.returned_quantity) == (2, 1)
    assert order.fulfillment_status == RETURNED

    (refund,) = db.session.scalars(select(Refund).where(Refund.return_id == rma.id)).all()
    assert refund_for_return(received) == refund
    assert refund.status == REFUND_SUCCEEDED
    assert refund.amount == line_paid(order, small) + line_paid(order, medium)
    assert {rl.order_line_id: rl.quantity for rl in refund.lines} == {small.id: 2, medium.id: 1}
    assert not any(rl.restock for rl in refund.lines)  # restocking was the receipt's job
    assert order.payment_status == PARTIALLY_REFUNDED  # shipping was not refunded
    assert "return.received" in [e.kind for e in order.events]
    assert "order.return_receive" in actions(order)
    assert_refunds_consistent(order)


def test_receiving_twice_books_once_and_refunds_once(order, lines, clerk, checkout_shop):
    small, _ = lines
    rma = open_return(order, lines={small.id: 2}, reason="Too big", by=clerk)
    (line,) = rma.lines
    location = default_location()
    received = {line.id: (2, RESTOCK, location.id)}
    key = new_key("rma")
    receive_return(rma, received=received, idempotency_key=key, by=clerk)
    stock = on_hand(checkout_shop.small)
    receive_return(rma, received=received, idempotency_key=key, by=clerk)
    receive_return(rma, received=received, idempotency_key=new_key("rma"), by=clerk)
    assert on_hand(checkout_shop.small) == stock
    assert movements(rma.name) == [(2, MOVEMENT_RETURNED)]
    assert db.session.query(Refund).filter_by(return_id=rma.id).count() == 1
    db.session.refresh(small)
    assert small.returned_quantity == 2
    assert_refunds_consistent(order)


def test_fewer_units_than_expected_arrive(order, lines, clerk):
    small, medium = lines
    rma = open_return(order, lines={small.id: 2, medium.id: 1}, reason="Too big", by=clerk)
    by_order_line = {line.order_line_id: line for line in rma.lines}
    receive_return(
        rma,
        received={by_order_line[small.id].id: (1, WRITE_OFF, None)},
        idempotency_key=new_key("rma"),
        by=clerk,
    )
    db.session.refresh(order)
    for line in order.lines:
        db.session.refresh(line)
    assert (small.returned_quantity, medium.returned_quantity) == (1, 0)
    assert order.fulfillment_status == PARTIALLY_RETURNED
    (refund,) = db.session.scalars(select(Refund).where(Refund.return_id == rma.id)).all()
    assert {rl.order_line_id: rl.quantity for rl in refund.lines} == {small.id: 1}
    # the rest can come back in another return
    assert returnable_quantities(order) == {small.id: 1, medium.id: 1}


def test_received_lines_are_validated(order, lines, clerk):
    small, medium = lines
    rma = open_return(order, lines={small.id: 2, medium.id: 1}, reason="Too big", by=clerk)
    a, b = sorted(rma.lines, key=lambda line: line.order_line_id != small.id)
    with pytest.raises(ValidationError) as caught:
        receive_return(
            rma,
            received={a.id: (3, RESTOCK, default_location().id), b.id: (1, RESTOCK, None)},
            idempotency_key=new_key("rma"),
            by=clerk,
        )
    assert set(caught.value.errors) == {("line", a.id), ("line", b.id)}
    with pytest.raises(ValidationError) as caught:
        receive_return(
            rma, received={a.id: (1, "burn", None)}, idempotency_key=new_key("rma"), by=clerk
        )
    assert ("line", a.id) in caught.value.errors
    with pytest.raises(ValidationError) as caught:
        receive_return(
            rma, received={a.id: (0, WRITE_OFF, None)}, idempotency_key=new_key("rma"), by=clerk
        )
    assert "received" in caught.value.errors
    db.session.refresh(rma)
    assert rma.status == RETURN_OPEN
    assert ledger_mismatches() == []


def test_receipt_without_refund_then_cancel_rules(order, lines, clerk):
    small, _ = lines
    rma = open_return(order, lines={small.id: 1}, reason="Exchange", by=clerk)
    (line,) = rma.lines
    receive_return(
        rma,
        received={line.id: (1, RESTOCK, default_location().id)},
        refund=False,
        idempotency_key=new_key("rma"),
        by=clerk,
    )
    assert db.session.query(Refund).count() == 0
    with pytest.raises(InvalidTransition):
        cancel_return(rma, by=clerk)
    other = open_return(order, lines={small.id: 1}, reason="Exchange", by=clerk)
    cancel_return(other, by=clerk)
    assert cancel_return(other, by=clerk).status == RETURN_CANCELLED  # once
    with pytest.raises(InvalidTransition):
        receive_return(
            other,
            received={other.lines[0].id: (1, WRITE_OFF, None)},
            idempotency_key=new_key("rma"),
            by=clerk,
        )


def test_units_refunded_before_they_came_back_are_not_refunded_again(order, lines, clerk, admin):
    small, _ = lines
    issue_refund(
        order, lines={small.id: 2}, reason="Refunded early", idempotency_key=new_key(), by=admin
    )
    rma = open_return(order, lines={small.id: 2}, reason="Sent back anyway", by=clerk)
    received = receive_return(
        rma,
        received={rma.lines[0].id: (2, RESTOCK, default_location().id)},
        idempotency_key=new_key("rma"),
        by=clerk,
    )
    assert received.status == RETURN_RECEIVED
    assert db.session.query(Refund).filter_by(return_id=rma.id).count() == 0
    db.session.refresh(small)
    assert (small.refunded_quantity, small.returned_quantity) == (2, 2)
    assert_refunds_consistent(order)


def test_a_refund_above_the_limit_waits_for_approval(app, order, lines, clerk, monkeypatch):
    monkeypatch.setitem(app.config, "REFUND_APPROVAL_LIMIT", 1000)
    small, _ = lines
    rma = open_return(order, lines={small.id: 2}, reason="Too big", by=clerk)
    receive_return(
        rma,
        received={rma.lines[0].id: (2, WRITE_OFF, None)},
        idempotency_key=new_key("rma"),
        by=clerk,
    )
    (refund,) = db.session.scalars(select(Refund).where(Refund.return_id == rma.id)).all()
    assert refund.status == REFUND_AWAITING_APPROVAL
    db.session.refresh(order)
    assert order.refunded_total == 0


def test_a_provider_failure_keeps_the_receipt_and_the_refund_is_retried(
    app, checkout_shop, clerk, admin, monkeypatch
):
    bank = use_flaky_gateway(app, monkeypatch)
    order = ship(place_paid_order(checkout_shop, small=1))
    (line,) = order.lines
    assert order.fulfillment_status == FULFILLED
    rma = open_return(order, lines={line.id: 1}, reason="Faulty", by=clerk)
    key = new_key("rma")
    received = {rma.lines[0].id: (1, WRITE_OFF, None)}
    receive_return(rma, received=received, idempotency_key=key, by=clerk)
    db.session.refresh(rma)
    assert rma.status == RETURN_RECEIVED
    (refund,) = db.session.scalars(select(Refund).where(Refund.return_id == rma.id)).all()
    assert refund.status == REFUND_FAILED
    receive_return(rma, received=received, idempotency_key=key, by=clerk)  # no second refund
    assert db.session.query(Refund).filter_by(return_id=rma.id).count() == 1
    bank.failing = False
    assert retry_refund(refund, by=admin).status == REFUND_SUCCEEDED
    assert_refunds_consistent(order)

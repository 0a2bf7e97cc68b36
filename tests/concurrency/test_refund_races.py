"""Refund and return races on PostgreSQL with real threads and real commits: agents refunding
one order at once never give back more than was captured, never refund a unit twice, and the
order, its refunds and its payment agree afterwards; a unit is in one return at a time and a
parcel is booked once. Assertions are about counts, never timing."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from commerce.errors import InvalidTransition, RefundExceedsCapture, ValidationError
from commerce.extensions import db
from commerce.inventory.models import StockMovement
from commerce.inventory.services import default_location
from commerce.orders.models import (
    REFUND_AWAITING_APPROVAL,
    REFUND_SUCCEEDED,
    RESTOCK,
    Order,
    Refund,
)
from commerce.orders.refunds import approve_refund, get_refund, issue_refund, line_paid
from commerce.orders.returns import get_return, open_return, receive_return, refund_for_return
from commerce.payments.models import PaymentTransaction
from commerce.staff.models import StaffMember
from tests.commerce.orders.factories import (
    assert_refunds_consistent,
    ledger_mismatches,
    place_paid_order,
    ship,
)
from tests.concurrency.conftest import run_together, unexpected
from tests.conftest import FAST_HASH, build_checkout_shop

pytestmark = pytest.mark.postgres

AGENTS = 10


def paid_order(*, small: int = 2) -> int:
    shop = build_checkout_shop(stock=20)
    return place_paid_order(shop, small=small).id


def provider_refunds() -> int:
    return int(
        db.session.scalar(
            select(func.count())
            .select_from(PaymentTransaction)
            .where(PaymentTransaction.kind == "refund", PaymentTransaction.status == "succeeded")
        )
        or 0
    )


def reloaded(order_id: int) -> Order:
    db.session.expire_all()
    order = db.session.get(Order, order_id)
    assert order is not None
    return order


def test_ten_agents_refunding_thirty_percent_at_once_refund_at_most_the_capture(race_app):
    order_id = paid_order()
    paid = reloaded(order_id).paid_total
    share = paid * 30 // 100

    def refund(i: int) -> int:
        order = db.session.get(Order, order_id)
        return issue_refund(
            order,
            lines={},
            extra_amount=share,
            reason=f"agent {i}",
            idempotency_key=f"race-30-{i}",
            by=None,
        ).id

    outcomes = run_together(race_app, AGENTS, refund)
    assert unexpected(outcomes) == []
    assert sum(o.ok for o in outcomes) == 3
    assert all(isinstance(o.domain_error, RefundExceedsCapture) for o in outcomes if not o.ok)
    order = reloaded(order_id)
    assert order.refunded_total == 3 * share <= order.paid_total
    assert {get_refund(o.value).status for o in outcomes if o.ok} == {REFUND_SUCCEEDED}
    assert db.session.scalar(select(func.count(Refund.id))) == 3  # the refused wrote nothing
    assert provider_refunds() == 3
    assert_refunds_consistent(order)


def test_agents_refunding_the_same_units_refund_each_unit_once_and_exactly(race_app):
    order_id = paid_order(small=3)
    line = reloaded(order_id).lines[0]
    line_id, paid = line.id, line_paid(line.order, line)

    def refund(i: int) -> int:
        order = db.session.get(Order, order_id)
        return issue_refund(
            order,
            lines={line_id: 1},
            reason=f"agent {i}",
            idempotency_key=f"race-unit-{i}",
            by=None,
        ).id

    outcomes = run_together(race_app, AGENTS, refund)
    assert unexpected(outcomes) == []
    assert sum(o.ok for o in outcomes) == 3
    assert all(isinstance(o.domain_error, ValidationError) for o in outcomes if not o.ok)
    order = reloaded(order_id)
    assert order.lines[0].refunded_quantity == 3
    amounts = [get_refund(o.value).amount for o in outcomes if o.ok]
    assert sum(amounts) == paid  # three pieces, exactly the line's paid amount
    assert_refunds_consistent(order)


def test_one_key_sent_five_times_at_once_is_one_refund(race_app):
    order_id = paid_order()

    def refund(_i: int) -> int:
        order = db.session.get(Order, order_id)
        return issue_refund(
            order,
            lines={},
            extra_amount=1000,
            reason="double click",
            idempotency_key="same",
            by=None,
        ).id

    outcomes = run_together(race_app, 5, refund)
    assert unexpected(outcomes) == []
    assert all(o.ok for o in outcomes), [o.domain_error for o in outcomes]
    assert len({o.value for o in outcomes}) == 1
    assert provider_refunds() == 1
    order = reloaded(order_id)
    assert order.refunded_total == 1000
    assert_refunds_consistent(order)


def test_two_approvers_at_once_approve_once(race_app):
    race_app.config["REFUND_APPROVAL_LIMIT"] = 100
    order_id = paid_order()
    staff = {}
    for role in ("support", "admin", "admin"):
        member = StaffMember(
            email=f"{role}{len(staff)}@example.com", name=role, role=role, password_hash=FAST_HASH
        )
        db.session.add(member)
        db.session.commit()
        staff[len(staff)] = member.id
    requester = db.session.get(StaffMember, staff[0])
    queued = issue_refund(
        reloaded(order_id),
        lines={},
        extra_amount=2000,
        reason="big",
        idempotency_key="queued",
        by=requester,
    )
    assert queued.status == REFUND_AWAITING_APPROVAL
    refund_id = queued.id

    def approve(i: int) -> str:
        approver = db.session.get(StaffMember, staff[1 + i])
        return approve_refund(get_refund(refund_id), by=approver).status

    outcomes = run_together(race_app, 2, approve)
    assert unexpected(outcomes) == []
    assert [o.value for o in outcomes if o.ok] == [REFUND_SUCCEEDED]
    assert all(isinstance(o.domain_error, InvalidTransition) for o in outcomes if not o.ok)
    assert provider_refunds() == 1
    order = reloaded(order_id)
    assert order.refunded_total == 2000
    assert_refunds_consistent(order)


def test_agents_splitting_a_refund_at_once_pass_the_approval_limit_once(race_app):
    """Ten support agents each refund 6.00 at once against a 10.00 limit: the running total is
    read under the order's lock, so one passes and the rest queue for approval."""
    race_app.config["REFUND_APPROVAL_LIMIT"] = 1000
    order_id = paid_order()
    agents = []
    for i in range(AGENTS):
        member = StaffMember(
            email=f"agent{i}@example.com", name="agent", role="support", password_hash=FAST_HASH
        )
        db.session.add(member)
        db.session.commit()
        agents.append(member.id)

    def refund(i: int) -> str:
        return issue_refund(
            db.session.get(Order, order_id),
            lines={},
            extra_amount=600,
            reason=f"agent {i}",
            idempotency_key=f"split-{i}",
            by=db.session.get(StaffMember, agents[i]),
        ).status

    outcomes = run_together(race_app, AGENTS, refund)
    assert unexpected(outcomes) == []
    assert all(o.ok for o in outcomes), [o.domain_error for o in outcomes]
    statuses = sorted(o.value for o in outcomes)
    assert statuses.count(REFUND_SUCCEEDED) == 1
    assert statuses.count(REFUND_AWAITING_APPROVAL) == AGENTS - 1
    order = reloaded(order_id)
    assert order.refunded_total == 600
    assert provider_refunds() == 1
    assert_refunds_consistent(order)


def test_agents_opening_returns_for_the_same_units_open_one_and_receiving_it_refunds(race_app):
    order_id = paid_order(small=2)
    order = ship(reloaded(order_id))
    line_id = order.lines[0].id

    def open_one(i: int) -> int:
        return open_return(
            db.session.get(Order, order_id), lines={line_id: 2}, reason=f"agent {i}"
        ).id

    outcomes = run_together(race_app, 5, open_one)
    assert unexpected(outcomes) == []
    assert sum(o.ok for o in outcomes) == 1
    assert all(isinstance(o.domain_error, ValidationError) for o in outcomes if not o.ok)
    (rma_id,) = [o.value for o in outcomes if o.ok]

    rma = get_return(rma_id)
    location = default_location()

    def receive(_i: int) -> int | None:
        refund = refund_for_return(
            receive_return(
                get_return(rma_id),
                received={rma.lines[0].id: (2, RESTOCK, location.id)},
                idempotency_key=f"rma-{rma_id}",
                by=None,
            )
        )
        return refund.id if refund else None

    outcomes = run_together(race_app, 3, receive)  # a double scan at the returns desk
    assert unexpected(outcomes) == []
    refund_ids = {o.value for o in outcomes if o.ok}
    assert len(refund_ids) == 1 and None not in refund_ids
    order = reloaded(order_id)
    assert order.lines[0].returned_quantity == 2
    assert db.session.scalar(select(func.count(Refund.id))) == 1
    restocked = db.session.scalar(
        select(func.coalesce(func.sum(StockMovement.delta), 0)).where(
            StockMovement.reference == rma.name
        )
    )
    assert restocked == 2
    assert ledger_mismatches() == []
    assert_refunds_consistent(order)

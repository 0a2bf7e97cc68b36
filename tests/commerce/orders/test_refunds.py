"""Refunds through the real services: orders from the real checkout, the test payment gateway
(and, for provider failures, a gateway whose refunds fail), the real stock ledger."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from commerce.audit import AuditEntry
from commerce.documents.models import CREDIT_NOTE, Document
from commerce.errors import (
    Conflict,
    InvalidTransition,
    PermissionDenied,
    RefundExceedsCapture,
    ValidationError,
)
from commerce.extensions import db
from commerce.inventory.models import RETURNED as MOVEMENT_RETURNED
from commerce.inventory.models import StockLevel, StockMovement
from commerce.inventory.services import availability, default_location
from commerce.orders.fulfillment import create_fulfillment, pickable, ship_fulfillment
from commerce.orders.models import (
    AUTHORIZED,
    COMPLETED,
    FULFILLED,
    PAID,
    PARTIALLY_FULFILLED,
    PARTIALLY_REFUNDED,
    PARTIALLY_RETURNED,
    REFUND_AWAITING_APPROVAL,
    REFUND_FAILED,
    REFUND_REJECTED,
    REFUND_SUCCEEDED,
    REFUNDED,
    RETURNED,
    Refund,
)
from commerce.orders.refunds import (
    LIVE,
    approve_refund,
    issue_refund,
    line_paid,
    quote_refund,
    refunds_awaiting_approval,
    reject_refund,
    retry_refund,
    shipping_paid,
)
from commerce.outbox import OutboxEvent, dispatch_pending
from commerce.payments import sandbox_gateway as tg
from commerce.payments.models import Payment, PaymentTransaction
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
    """2 x 25.00 + 5.00 shipping, CA tax 7.25%: line 50.00 + 3.62 tax, shipping 5.00 + 0.36."""
    return place_paid_order(checkout_shop, small=2)


@pytest.fixture
def admin(make_staff):
    return make_staff("admin")


@pytest.fixture
def support(make_staff):
    return make_staff("support")


@pytest.fixture
def provider_refunds(monkeypatch) -> list[int]:
    """The amounts the test gateway was asked to refund (a spy on the external provider)."""
    calls: list[int] = []
    original = tg.SandboxGateway.refund

    def spy(self, **kw: Any):
        calls.append(kw["amount"])
        return original(self, **kw)

    monkeypatch.setattr(tg.SandboxGateway, "refund", spy)
    return calls


def refund(order, by, **kw: Any) -> Refund:
    kw.setdefault("lines", {})
    kw.setdefault("reason", "Customer asked")
    kw.setdefault("idempotency_key", new_key())
    return issue_refund(order, by=by, **kw)


def kinds(order) -> list[str]:
    db.session.refresh(order)
    return [event.kind for event in order.events]


def audit_actions(order) -> list[str]:
    return list(
        db.session.scalars(
            select(AuditEntry.action)
            .where(AuditEntry.subject_type == "order", AuditEntry.subject_id == str(order.id))
            .order_by(AuditEntry.id)
        )
    )


# -- quotes -------------------------------------------------------------------------------------


def test_quote_shows_line_tax_shipping_extra_and_the_refundable_maximum(order):
    (line,) = order.lines
    assert (order.total, order.paid_total, line_paid(order, line), shipping_paid(order)) == (
        5898,
        5898,
        5362,
        536,
    )
    quote = quote_refund(order, lines={line.id: 1}, shipping_amount=536, extra_amount=100)
    (quoted,) = quote.lines
    assert (quoted.quantity, quoted.amount, quoted.tax) == (1, 2681, 181)  # half of 53.62
    assert (quote.shipping_amount, quote.shipping_tax, quote.extra_amount) == (536, 36, 100)
    assert quote.total == 2681 + 536 + 100
    assert quote.tax_amount == 181 + 36
    assert quote.refundable == 5898
    assert quote.shipping_refundable == 536


def test_quote_refuses_bad_input_field_by_field(order):
    (line,) = order.lines
    with pytest.raises(ValidationError) as caught:
        quote_refund(order, lines={line.id: 3, 999_999: 1}, shipping_amount=537, extra_amount=-1)
    assert set(caught.value.errors) == {
        ("line", line.id),
        ("line", 999999),
        "shipping_amount",
        "extra_amount",
    }
    with pytest.raises(ValidationError) as caught:
        quote_refund(order, lines={line.id: -1})
    assert ("line", line.id) in caught.value.errors
    with pytest.raises(ValidationError) as caught:
        quote_refund(order, lines={line.id: 0})
    assert "lines" in caught.value.errors  # nothing to refund
    with pytest.raises(ValidationError) as caught:
        quote_refund(order, lines={}, extra_amount=5899)
    assert "amount" in caught.value.errors and caught.value.details["refundable"] == 5898


def test_refunding_a_line_in_pieces_adds_up_to_what_it_was_paid(checkout_shop, admin):
    order = place_paid_order(checkout_shop, small=3)  # 75.00 + 5.44 tax (7.25% half-even)
    (line,) = order.lines
    paid = line_paid(order, line)
    amounts, taxes = [], []
    for _ in range(3):
        done = refund(order, admin, lines={line.id: 1})
        assert done.status == REFUND_SUCCEEDED
        amounts.append(done.lines[0].amount)
        taxes.append(done.lines[0].tax)
    assert sum(amounts) == paid and sum(taxes) == line.tax
    assert max(amounts) - min(amounts) <= 1
    with pytest.raises(ValidationError):
        quote_refund(order, lines={line.id: 1})
    assert_refunds_consistent(order)


def test_tax_inclusive_orders_refund_the_tax_inside(app, checkout_shop, admin, monkeypatch):
    monkeypatch.setitem(app.config, "PRICES_INCLUDE_TAX", True)
    order = place_paid_order(checkout_shop, small=2)
    assert order.prices_include_tax
    (line,) = order.lines
    assert line_paid(order, line) == line.discounted_amount == 5000
    assert shipping_paid(order) == order.shipping_total == 500
    quote = quote_refund(order, lines={line.id: 2}, shipping_amount=500)
    assert quote.total == 5500 == order.total
    assert quote.tax_amount == order.tax_total
    done = refund(order, admin, lines={line.id: 2}, shipping_amount=500)
    assert (done.status, done.amount, done.tax_amount) == (REFUND_SUCCEEDED, 5500, order.tax_total)
    db.session.refresh(order)
    assert order.payment_status == REFUNDED
    assert_refunds_consistent(order)


# -- issuing ------------------------------------------------------------------------------------


def test_partial_then_full_refund_moves_payment_status_and_records_everything(order, admin):
    (line,) = order.lines
    first = refund(order, admin, lines={line.id: 1}, reason="One arrived torn")
    assert first.status == REFUND_SUCCEEDED and first.attempts == 1
    assert first.provider_reference.startswith("tg_ref_")
    db.session.refresh(order)
    assert (order.payment_status, order.refunded_total) == (PARTIALLY_REFUNDED, 2681)
    assert_refunds_consistent(order)

    second = refund(order, admin, lines={line.id: 1}, shipping_amount=536, reason="Goodwill")
    assert second.amount == 5898 - 2681
    db.session.refresh(order)
    assert (order.payment_status, order.refunded_total) == (REFUNDED, 5898)
    payment = db.session.get(Payment, order.payment_id)
    assert (payment.status, payment.refunded_amount) == ("refunded", 5898)
    assert_refunds_consistent(order)

    assert kinds(order).count("refund.succeeded") == 2
    assert "payment_status.partially_refunded" in kinds(order)
    assert "payment_status.refunded" in kinds(order)
    actions = audit_actions(order)
    assert actions.count("order.refund_issue") == 2
    assert actions.count("order.refund_succeeded") == 2
    issue = db.session.scalar(
        select(AuditEntry).where(AuditEntry.action == "order.refund_issue").limit(1)
    )
    assert issue.actor_id == admin.id and issue.before == {"refunded_total": 0}
    assert issue.after["lines"] == {str(line.id): 1}
    events = db.session.scalars(
        select(OutboxEvent).where(OutboxEvent.topic == "refund.succeeded")
    ).all()
    assert sorted(e.payload["refund_id"] for e in events) == [first.id, second.id]
    with pytest.raises(RefundExceedsCapture):
        refund(order, admin, extra_amount=1)


def test_more_than_is_left_is_refused_and_nothing_is_written(order, admin):
    refund(order, admin, extra_amount=5000)
    before = db.session.query(Refund).count()
    with pytest.raises(RefundExceedsCapture) as caught:
        refund(order, admin, extra_amount=899)
    assert caught.value.details["refundable"] == 898
    assert db.session.query(Refund).count() == before
    assert_refunds_consistent(order)


def test_a_key_is_required_and_a_reason_is_optional(order, admin):
    """Most refunds explain themselves by their lines (issue 16: fewer steps)."""
    given = refund(order, admin, extra_amount=100, reason="  ")
    assert given.reason == "" and given.status == "succeeded"
    assert any(e.message == "Refunded $1.00" for e in order.events)
    with pytest.raises(ValidationError) as caught:
        refund(order, admin, extra_amount=100, idempotency_key="")
    assert "idempotency_key" in caught.value.errors


def test_the_same_key_twice_is_one_refund_and_one_provider_call(
    checkout_shop, order, admin, provider_refunds
):
    key = new_key()
    first = refund(order, admin, extra_amount=700, idempotency_key=key)
    again = refund(order, admin, extra_amount=700, idempotency_key=key)
    assert again.id == first.id
    assert provider_refunds == [700]
    db.session.refresh(order)
    assert order.refunded_total == 700
    other = place_paid_order(checkout_shop, small=1)
    with pytest.raises(Conflict):
        refund(other, admin, extra_amount=700, idempotency_key=key)
    assert_refunds_consistent(order)


def test_an_order_with_nothing_captured_is_voided_not_refunded(
    app, checkout_shop, admin, monkeypatch
):
    monkeypatch.setitem(app.config, "PAYMENTS_CAPTURE", "fulfillment")
    order = place_paid_order(checkout_shop, small=1)
    assert (order.payment_status, order.paid_total) == (AUTHORIZED, 0)
    with pytest.raises(InvalidTransition, match="cancel the order"):
        refund(order, admin, extra_amount=100)
    with pytest.raises(InvalidTransition, match="cancel the order"):
        quote_refund(order, lines={order.lines[0].id: 1})
    assert db.session.query(Refund).count() == 0


def test_issue_refund_must_not_run_inside_a_transaction(order, admin):
    from commerce.db import transaction

    with pytest.raises(RuntimeError), transaction():
        refund(order, admin, extra_amount=100)


# -- restock ------------------------------------------------------------------------------------


def test_restocking_shipped_units_frees_stock_and_keeps_the_ledger(checkout_shop, order, admin):
    ship(order)
    db.session.refresh(order)
    assert order.fulfillment_status == FULFILLED
    (line,) = order.lines
    location = default_location()
    level = db.session.scalar(
        select(StockLevel).where(
            StockLevel.variant_id == checkout_shop.small, StockLevel.location_id == location.id
        )
    )
    on_hand_before = level.on_hand
    available_before = availability([checkout_shop.small])[checkout_shop.small].available

    done = refund(order, admin, lines={line.id: 1}, restock={line.id: location.id})
    assert done.status == REFUND_SUCCEEDED
    assert done.lines[0].restock and done.lines[0].location_id == location.id
    db.session.refresh(level)
    assert level.on_hand == on_hand_before + 1
    assert availability([checkout_shop.small])[checkout_shop.small].available == (
        available_before + 1
    )
    movement = db.session.scalar(
        select(StockMovement).where(StockMovement.reason == MOVEMENT_RETURNED)
    )
    assert (movement.delta, movement.reference) == (1, order.reference)
    assert ledger_mismatches() == []
    db.session.refresh(order)
    db.session.refresh(line)
    assert line.returned_quantity == 1
    assert order.fulfillment_status == PARTIALLY_RETURNED

    refund(order, admin, lines={line.id: 1}, restock={line.id: location.id})
    db.session.refresh(order)
    assert order.fulfillment_status == RETURNED
    assert ledger_mismatches() == []
    assert_refunds_consistent(order)


def test_unshipped_units_cannot_be_restocked(order, admin):
    (line,) = order.lines
    location = default_location()
    with pytest.raises(ValidationError) as caught:
        refund(order, admin, lines={line.id: 1}, restock={line.id: location.id})
    assert ("restock", line.id) in caught.value.errors
    with pytest.raises(ValidationError) as caught:
        refund(order, admin, lines={}, extra_amount=10, restock={line.id: location.id})
    assert ("restock", line.id) in caught.value.errors
    done = refund(order, admin, lines={line.id: 1}, restock={line.id: None})  # no restock
    assert done.status == REFUND_SUCCEEDED and not done.lines[0].restock
    assert ledger_mismatches() == []


def test_refunded_units_that_have_not_shipped_do_not_ship_and_go_back_on_sale(
    checkout_shop, order, admin
):
    (line,) = order.lines
    available = availability([checkout_shop.small])[checkout_shop.small].available
    order = ship(order, {line.id: 1})
    assert order.fulfillment_status == PARTIALLY_FULFILLED

    refund(order, admin, lines={line.id: 1})  # the unit still waiting, not the shipped one
    db.session.refresh(order)
    assert pickable(order) == {}
    assert availability([checkout_shop.small])[checkout_shop.small].available == available + 1
    assert order.fulfillment_status == FULFILLED and order.status == COMPLETED
    assert "refund.released" in kinds(order)
    assert ledger_mismatches() == []
    assert_refunds_consistent(order)


def test_units_in_a_parcel_being_packed_are_not_released(checkout_shop, order, admin):
    (line,) = order.lines
    parcel = create_fulfillment(order, location_id=default_location().id, by=admin)
    available = availability([checkout_shop.small])[checkout_shop.small].available
    refund(order, admin, lines={line.id: 1})
    assert availability([checkout_shop.small])[checkout_shop.small].available == available
    ship_fulfillment(parcel, carrier="UPS", tracking_number="1Z999", by=admin)  # still ships
    db.session.refresh(order)
    assert order.fulfillment_status == FULFILLED
    assert ledger_mismatches() == []


# -- approval -----------------------------------------------------------------------------------


@pytest.fixture
def low_limit(app, monkeypatch):
    monkeypatch.setitem(app.config, "REFUND_APPROVAL_LIMIT", 1000)


def test_above_the_limit_waits_for_an_approver_then_runs(
    low_limit, order, support, admin, provider_refunds
):
    (line,) = order.lines
    queued = refund(order, support, lines={line.id: 1})
    assert (queued.status, queued.amount, queued.attempts) == (REFUND_AWAITING_APPROVAL, 2681, 0)
    assert provider_refunds == []
    db.session.refresh(order)
    db.session.refresh(line)
    assert (order.refunded_total, line.refunded_quantity, order.payment_status) == (0, 0, PAID)
    assert [r.id for r in refunds_awaiting_approval()] == [queued.id]

    small = refund(order, support, extra_amount=1000)  # at the limit: no approval needed
    assert small.status == REFUND_SUCCEEDED

    with pytest.raises(PermissionDenied):
        approve_refund(queued, by=support)
    with pytest.raises(PermissionDenied):
        approve_refund(queued, by=None)
    done = approve_refund(queued, by=admin)
    assert (done.status, done.approved_by_id, done.requested_by_id) == (
        REFUND_SUCCEEDED,
        admin.id,
        support.id,
    )
    assert done.approved_at is not None and done.attempts == 1
    assert refunds_awaiting_approval() == []
    assert provider_refunds == [1000, 2681]
    with pytest.raises(InvalidTransition):
        approve_refund(done, by=admin)
    assert "order.refund_approve" in audit_actions(order)
    assert "refund.approved" in kinds(order)
    assert_refunds_consistent(order)


def test_a_large_refund_split_into_small_ones_still_waits_for_approval(
    low_limit, order, support, make_staff, admin, provider_refunds
):
    """The limit is per order and cumulative over what agents refunded without approval: the
    probe's 6 x 4.00 against a 10.00 limit passes twice, then queues."""
    first = refund(order, support, extra_amount=400)
    second = refund(order, make_staff("support"), extra_amount=400)  # another agent counts too
    third = refund(order, support, extra_amount=400)
    assert [first.status, second.status] == [REFUND_SUCCEEDED, REFUND_SUCCEEDED]
    assert third.status == REFUND_AWAITING_APPROVAL
    assert provider_refunds == [400, 400]
    assert quote_refund(order, lines={}, extra_amount=200).approval_used == 800
    assert quote_refund(order, lines={}, extra_amount=300).needs_approval
    assert refund(order, support, extra_amount=200).status == REFUND_SUCCEEDED  # exactly 10.00
    # an approver's own refunds and approved ones do not use up the agents' allowance
    approve_refund(third, by=admin)
    assert refund(order, admin, extra_amount=500).status == REFUND_SUCCEEDED
    assert refund(order, support, extra_amount=1).status == REFUND_AWAITING_APPROVAL
    assert_refunds_consistent(order)


def test_a_failed_refund_retried_by_an_agent_cannot_pass_the_limit(
    app, low_limit, checkout_shop, support, admin, monkeypatch
):
    bank = use_flaky_gateway(app, monkeypatch)
    order = place_paid_order(checkout_shop, small=2)
    failed = refund(order, support, extra_amount=800)
    assert failed.status == REFUND_FAILED
    bank.failing = False
    assert refund(order, support, extra_amount=800).status == REFUND_SUCCEEDED
    with pytest.raises(PermissionDenied):
        retry_refund(failed, by=support)
    assert retry_refund(failed, by=admin).status == REFUND_SUCCEEDED
    assert_refunds_consistent(order)


def test_approvers_and_the_system_are_not_queued(low_limit, order, admin):
    assert refund(order, admin, extra_amount=2000).status == REFUND_SUCCEEDED
    assert refund(order, None, extra_amount=2000).status == REFUND_SUCCEEDED


def test_rejecting_a_queued_refund_moves_nothing(low_limit, order, support, admin):
    queued = refund(order, support, extra_amount=3000)
    with pytest.raises(PermissionDenied):
        reject_refund(queued, by=support, reason="no")
    with pytest.raises(ValidationError):
        reject_refund(queued, by=admin, reason="")
    rejected = reject_refund(queued, by=admin, reason="Outside the return window")
    assert rejected.status == REFUND_REJECTED
    assert "Outside the return window" in rejected.error_message
    with pytest.raises(InvalidTransition):
        approve_refund(rejected, by=admin)
    with pytest.raises(InvalidTransition):
        reject_refund(rejected, by=admin, reason="again")
    assert refunds_awaiting_approval() == []
    assert "order.refund_reject" in audit_actions(order)
    assert "refund.rejected" in kinds(order)
    assert_refunds_consistent(order)


def test_approval_fails_cleanly_when_the_money_went_meanwhile(low_limit, order, support, admin):
    queued = refund(order, support, extra_amount=5000)
    refund(order, admin, extra_amount=1000)  # 58.98 paid: 48.98 left
    with pytest.raises(RefundExceedsCapture):
        approve_refund(queued, by=admin)
    db.session.refresh(queued)
    assert queued.status == REFUND_AWAITING_APPROVAL  # still in the queue, to be rejected
    assert_refunds_consistent(order)


# -- provider failures and retry ----------------------------------------------------------------


def test_a_provider_failure_gives_everything_back_and_a_retry_succeeds(
    app, checkout_shop, admin, monkeypatch
):
    bank = use_flaky_gateway(app, monkeypatch)
    order = place_paid_order(checkout_shop, small=2)
    ship(order)
    (line,) = order.lines
    location = default_location()
    on_hand = availability([checkout_shop.small])[checkout_shop.small].available

    failed = refund(order, admin, lines={line.id: 1}, restock={line.id: location.id})
    assert failed.status == REFUND_FAILED
    assert "did not answer" in failed.error_message
    db.session.refresh(order)
    db.session.refresh(line)
    assert (order.refunded_total, order.payment_status) == (0, PAID)
    assert (line.refunded_quantity, line.returned_quantity) == (0, 0)
    assert availability([checkout_shop.small])[checkout_shop.small].available == on_hand
    assert "refund.failed" in kinds(order)
    assert_refunds_consistent(order)

    again = retry_refund(failed, by=admin)  # the bank is still down
    assert (again.status, again.attempts) == (REFUND_FAILED, 2)
    assert_refunds_consistent(order)

    bank.failing = False
    done = retry_refund(again, by=admin)
    assert (done.status, done.attempts) == (REFUND_SUCCEEDED, 3)
    keys = db.session.scalars(
        select(PaymentTransaction.request_key)
        .where(PaymentTransaction.kind == "refund")
        .order_by(PaymentTransaction.id)
    ).all()
    assert keys == [f"refund:{done.id}:1", f"refund:{done.id}:2", f"refund:{done.id}:3"]
    db.session.refresh(order)
    assert (order.refunded_total, order.payment_status) == (2681, PARTIALLY_REFUNDED)
    assert availability([checkout_shop.small])[checkout_shop.small].available == on_hand + 1
    assert retry_refund(done, by=admin).id == done.id  # succeeded: nothing more happens
    assert audit_actions(order).count("order.refund_retry") == 2
    assert ledger_mismatches() == []
    assert_refunds_consistent(order)


def test_only_failed_refunds_are_retried(low_limit, order, support):
    queued = refund(order, support, extra_amount=2000)
    with pytest.raises(InvalidTransition):
        retry_refund(queued, by=support)


def test_a_repeated_key_after_a_failure_returns_the_failed_refund(
    app, checkout_shop, admin, monkeypatch
):
    use_flaky_gateway(app, monkeypatch)
    order = place_paid_order(checkout_shop, small=1)
    key = new_key()
    failed = refund(order, admin, extra_amount=500, idempotency_key=key)
    again = refund(order, admin, extra_amount=500, idempotency_key=key)
    assert again.id == failed.id and again.status == REFUND_FAILED
    assert db.session.query(Refund).count() == 1


# -- properties ---------------------------------------------------------------------------------

down = st.sampled_from([False, False, True])  # the bank is down for this call
refund_step = st.tuples(
    st.just("refund"),
    st.sampled_from([0, 1, 1, 2, 3]),  # small units (2 ordered: 3 is refused)
    st.integers(0, 1),  # medium units
    st.one_of(st.just(0), st.integers(0, 540)),  # shipping (5.36 paid)
    st.one_of(st.just(0), st.integers(1, 3000), st.integers(3000, 9000)),  # extra
    st.booleans(),  # restock the refunded units
    down,
)
retry_step = st.tuples(st.just("retry"), st.integers(0, 20), down)


SEEN: dict[str, int] = {}  # outcomes over all examples: the run must not be vacuous


def seen(outcome: str) -> None:
    SEEN[outcome] = SEEN.get(outcome, 0) + 1


@pytest.fixture
def big_shop(app, monkeypatch):
    from tests.conftest import build_checkout_shop

    monkeypatch.setitem(app.config, "PRICES_INCLUDE_TAX", False)
    return build_checkout_shop(stock=10_000)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=st.lists(st.one_of(refund_step, retry_step), min_size=1, max_size=8))
# Every outcome the run must see, whatever the random draw: a refund the bank refused, then
# retried once it was back; a refund over the capture; a line refunded to the last unit.
@example(steps=[("refund", 1, 0, 0, 0, True, True), ("retry", 0, False)])
@example(steps=[("refund", 3, 0, 0, 0, False, False), ("refund", 0, 0, 0, 9000, False, False)])
@example(steps=[("refund", 2, 1, 536, 0, True, False)])
def test_any_sequence_of_partial_refunds_keeps_the_money_straight(
    app, big_shop, admin, monkeypatch, steps
):
    bank = use_flaky_gateway(app, monkeypatch)
    bank.failing = False
    order = place_paid_order(big_shop, small=2, medium=1)
    ship(order)
    small, medium = sorted(order.lines, key=lambda line: line.variant_id != big_shop.small)
    location = default_location()
    expected = 0
    for step in steps:
        if step[0] == "refund":
            _, q_small, q_medium, shipping, extra, restock, down = step
            lines = {small.id: q_small, medium.id: q_medium}
            bank.failing = down
            chosen = {small.id: location.id, medium.id: location.id} if restock else {}
            try:
                done = refund(
                    order,
                    admin,
                    lines=lines,
                    shipping_amount=shipping,
                    extra_amount=extra,
                    restock={k: v for k, v in chosen.items() if lines[k]},
                )
            except (ValidationError, RefundExceedsCapture) as exc:
                seen(type(exc).__name__)
            else:
                assert done.status == (REFUND_FAILED if down else REFUND_SUCCEEDED)
                seen(done.status)
                expected += 0 if down else done.amount
        else:
            _, pick, down = step
            failed = db.session.scalars(
                select(Refund).where(Refund.order_id == order.id, Refund.status == REFUND_FAILED)
            ).all()
            if not failed:
                continue
            bank.failing = down
            try:
                done = retry_refund(failed[pick % len(failed)], by=admin)
            except (ValidationError, RefundExceedsCapture) as exc:
                seen(f"retry {type(exc).__name__}")  # later refunds took what it asked for
            else:
                seen(f"retry {done.status}")
                expected += 0 if down else done.amount
        db.session.refresh(order)
        assert order.refunded_total == expected
        assert_refunds_consistent(order)
        refunds = db.session.scalars(
            select(Refund)
            .where(Refund.order_id == order.id)
            .execution_options(populate_existing=True)
        ).all()
        # a line refunded to the last unit gave back exactly what it was paid, tax included
        for line in order.lines:
            pieces = [
                rl
                for r in refunds
                if r.status == REFUND_SUCCEEDED
                for rl in r.lines
                if rl.order_line_id == line.id
            ]
            assert sum(rl.quantity for rl in pieces) == line.refunded_quantity
            if line.refunded_quantity == line.quantity:
                SEEN["line fully refunded"] = SEEN.get("line fully refunded", 0) + 1
                assert sum(rl.amount for rl in pieces) == line_paid(order, line)
                assert sum(rl.tax for rl in pieces) == line.tax
        shipping_back = sum(r.shipping_amount for r in refunds if r.status in LIVE)
        assert shipping_back <= shipping_paid(order)
        # one credit note per refund that went through (issued from the outbox), none for
        # failed ones, and what they credit adds up to what went back
        dispatch_pending()
        credited = db.session.scalars(
            select(Refund)
            .join(Document, Document.refund_id == Refund.id)
            .where(Document.order_id == order.id, Document.kind == CREDIT_NOTE)
        ).all()
        assert {r.id for r in credited} == {r.id for r in refunds if r.status == REFUND_SUCCEEDED}
        assert sum(r.amount for r in credited) == order.refunded_total
    assert ledger_mismatches() == []


def test_the_refund_property_run_was_not_vacuous():
    """Runs after the property test (file order): every kind of outcome happened."""
    if not SEEN:
        pytest.skip("run together with the property test")
    for outcome in (
        REFUND_SUCCEEDED,
        REFUND_FAILED,
        "ValidationError",
        "RefundExceedsCapture",
        "retry succeeded",
        "line fully refunded",
    ):
        assert SEEN.get(outcome), (outcome, SEEN)

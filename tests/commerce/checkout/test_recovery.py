"""Payment recovery on SQLite, one in-between state at a time: a crash at a chosen point
(before or after the provider acted), then the recovery task or the shopper's retry, and what
the provider and our database say afterwards. The in-flight timeout is zero here, so every
leftover counts as old at once (the real timing is in tests/faults)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from commerce.audit import AuditEntry
from commerce.checkout.cart import add_to_cart, set_line_quantity
from commerce.checkout.models import ABANDONED, COMPLETED, OPEN, PLACING, Checkout
from commerce.checkout.recovery import recover_payments
from commerce.checkout.services import (
    CheckoutTakenOver,
    Claim,
    _finish,
    place_order,
    start_checkout,
)
from commerce.db import utcnow
from commerce.errors import Conflict, InvalidTransition
from commerce.extensions import db
from commerce.inventory.services import reconcile, release_expired_reservations
from commerce.orders.attention import (
    CAPTURE_REFUSED,
    NOT_CAPTURED,
    payments_needing_attention,
)
from commerce.orders.cancellation import cancel_order
from commerce.orders.models import (
    AUTHORIZED,
    CANCELLED,
    PAID,
    REFUND_PROCESSING,
    REFUND_SUCCEEDED,
    VOIDED,
    Order,
    Refund,
)
from commerce.orders.refunds import issue_refund
from commerce.orders.services import ORDER_PLACED, capture_payment_by_hand
from commerce.outbox import OutboxEvent
from commerce.payments import models as pm
from commerce.payments import sandbox_gateway as tg
from commerce.payments.provider import FAILED, ProviderResult
from commerce.payments.services import get_provider
from tests.commerce.checkout.crashes import (
    ProcessKilled,
    as_if_dead,
    die_in,
    provider_authorizations,
    ready_checkout,
)
from tests.conftest import TEST_CARD


@pytest.fixture(autouse=True)
def no_grace(app, monkeypatch):
    monkeypatch.setitem(app.config, "PAYMENTS_IN_FLIGHT_TIMEOUT", timedelta(0))


def orders_of(checkout) -> list[Order]:
    return list(db.session.scalars(select(Order).where(Order.checkout_key == checkout.key)))


def live(reference: str) -> list[dict]:
    """Authorizations the provider still holds money for (not voided, not failed)."""
    return [
        a for a in provider_authorizations(reference) if a["status"] in ("authorized", "captured")
    ]


def placed_events(order: Order) -> int:
    return sum(
        1
        for event in db.session.scalars(
            select(OutboxEvent).where(OutboxEvent.topic == ORDER_PLACED)
        )
        if event.payload.get("order_id") == order.id
    )


def crash_while_authorizing(shop, monkeypatch, *, after: bool):
    cart, checkout = ready_checkout(shop)
    die_in(monkeypatch, "authorize", after=after)
    with pytest.raises(ProcessKilled):
        place_order(checkout.key, card=TEST_CARD)
    as_if_dead(checkout)
    return cart, checkout


# -- a placement killed during the authorization ------------------------------------------------


def test_authorized_at_the_provider_becomes_the_order(checkout_shop, monkeypatch):
    _, checkout = crash_while_authorizing(checkout_shop, monkeypatch, after=True)
    [payment] = db.session.scalars(select(pm.Payment)).all()
    assert payment.status == pm.PENDING  # the answer never reached our database
    assert [a["status"] for a in provider_authorizations(checkout.reference)] == ["authorized"]

    report = recover_payments()

    assert (report.calls_settled, report.orders_placed) == (1, 1)
    [order] = orders_of(checkout)
    assert order.payment_status == PAID  # captured at placement, as the shop is set up
    assert [a["status"] for a in provider_authorizations(checkout.reference)] == ["captured"]
    db.session.refresh(checkout)
    assert checkout.status == COMPLETED and checkout.claim_token is None
    assert placed_events(order) == 1
    assert "payment.recovered" in [e.kind for e in order.events]
    actions = set(db.session.scalars(select(AuditEntry.action)))
    assert {"payment.recovered", "order.recovered", "payment.capture"} <= actions
    assert reconcile() == []
    again = recover_payments()
    assert again.changed == 0  # nothing left: running it twice changes nothing


def test_never_received_by_the_provider_fails_and_the_shopper_pays_again(
    checkout_shop, monkeypatch
):
    _, checkout = crash_while_authorizing(checkout_shop, monkeypatch, after=False)
    assert provider_authorizations(checkout.reference) == []

    report = recover_payments()

    assert report.calls_settled == 1 and report.orders_placed == 0
    payment = db.session.scalars(select(pm.Payment)).one()
    assert (payment.status, payment.error_code) == (pm.FAILED, "not_received")
    db.session.refresh(checkout)
    assert checkout.status == OPEN  # the shopper may place it again
    order = place_order(checkout.key, card=TEST_CARD).order
    assert order is not None and order.payment_status == PAID
    assert len(live(checkout.reference)) == 1


def test_the_old_tab_retry_uses_the_authorization_instead_of_charging_again(
    checkout_shop, monkeypatch
):
    """A payment left pending no longer blocks the retry: the provider is asked at once."""
    _, checkout = crash_while_authorizing(checkout_shop, monkeypatch, after=True)
    placement = place_order(checkout.key, card=TEST_CARD)
    assert placement.order is not None
    assert db.session.scalar(select(func.count(pm.Payment.id))) == 1
    assert [a["status"] for a in provider_authorizations(checkout.reference)] == ["captured"]
    assert place_order(checkout.key, card=TEST_CARD).order.id == placement.order.id


def test_a_retry_after_a_lost_request_authorizes_afresh(checkout_shop, monkeypatch):
    _, checkout = crash_while_authorizing(checkout_shop, monkeypatch, after=False)
    order = place_order(checkout.key, card=TEST_CARD).order
    assert order is not None
    statuses = sorted(p.status for p in db.session.scalars(select(pm.Payment)))
    assert statuses == [pm.CAPTURED, pm.FAILED]
    assert len(live(checkout.reference)) == 1


def test_a_provider_that_did_not_answer_is_asked_instead_of_charging_again(
    checkout_shop, monkeypatch
):
    """A timeout is not a decline: the outcome is unknown, so the payment stays pending and
    the shopper's retry asks the provider (here, it had authorized)."""
    _, checkout = ready_checkout(checkout_shop)
    original = tg.SandboxGateway.authorize

    def times_out(self, **kw):
        original(self, **kw)
        raise TimeoutError("read timed out")

    with monkeypatch.context() as patch:
        patch.setattr(tg.SandboxGateway, "authorize", times_out)
        with pytest.raises(Conflict) as caught:
            place_order(checkout.key, card=TEST_CARD)
    assert caught.value.details["in_flight"]
    assert db.session.scalars(select(pm.Payment)).one().status == pm.PENDING
    order = place_order(checkout.key, card=TEST_CARD).order
    assert order is not None and order.payment_status == PAID
    assert db.session.scalar(select(func.count(pm.Payment.id))) == 1
    assert len(live(checkout.reference)) == 1


def test_an_authorization_that_cannot_become_its_order_is_voided(checkout_shop, monkeypatch):
    _, checkout = crash_while_authorizing(checkout_shop, monkeypatch, after=True)
    # The hold lapses and someone buys everything meanwhile.
    later = utcnow() + timedelta(minutes=20)
    release_expired_reservations(now=later)
    rival = add_to_cart(None, variant_id=checkout_shop.small, quantity=10)
    start_checkout(rival, now=later)

    report = recover_payments(now=later)

    assert (report.orders_placed, report.payments_voided) == (0, 1)
    assert orders_of(checkout) == []
    assert [a["status"] for a in provider_authorizations(checkout.reference)] == ["voided"]
    db.session.refresh(checkout)
    assert checkout.status == OPEN
    assert reconcile() == []


def test_requires_action_is_voided_only_after_its_hold(checkout_shop):
    _, checkout = ready_checkout(checkout_shop)
    placement = place_order(checkout.key, card=dict(TEST_CARD, number=tg.REQUIRES_ACTION_CARD))
    assert placement.requires_action
    assert recover_payments().payments_voided == 0  # the shopper may be at the bank's page
    later = utcnow() + timedelta(minutes=20)
    report = recover_payments(now=later)
    assert report.payments_voided == 1
    payment = db.session.get(pm.Payment, placement.payment.id, populate_existing=True)
    assert payment.status == pm.VOIDED
    assert [a["status"] for a in provider_authorizations(checkout.reference)] == ["voided"]


def test_a_challenge_confirmed_at_the_bank_without_coming_back_becomes_the_order(
    checkout_shop,
):
    _, checkout = ready_checkout(checkout_shop)
    placement = place_order(checkout.key, card=dict(TEST_CARD, number=tg.REQUIRES_ACTION_CARD))
    payment = placement.payment
    bank = get_provider()  # the customer confirms at the bank; our page never hears of it
    assert bank.confirm(provider_reference=payment.provider_reference, token=payment.action_token)
    report = recover_payments(now=utcnow() + timedelta(minutes=20))
    assert report.orders_placed == 1
    [order] = orders_of(checkout)
    assert order.payment_status == PAID
    assert [a["status"] for a in provider_authorizations(checkout.reference)] == ["captured"]


# -- a new checkout of the same cart -----------------------------------------------------------


def test_a_new_checkout_of_the_cart_turns_the_stuck_one_into_its_order(checkout_shop, monkeypatch):
    cart, checkout = crash_while_authorizing(checkout_shop, monkeypatch, after=True)
    again = start_checkout(cart)
    assert again.id == checkout.id and again.status == COMPLETED  # the shopper sees the order
    [order] = orders_of(checkout)
    assert order.payment_status == PAID
    db.session.refresh(cart)
    assert cart.lines == []  # what was bought left the cart: nothing to check out twice
    assert len(live(checkout.reference)) == 1
    # the old tab's retry lands on the same order
    assert place_order(checkout.key, card=TEST_CARD).order.id == order.id


def test_a_changed_cart_supersedes_the_stuck_checkout_and_voids_its_money(
    checkout_shop, monkeypatch
):
    cart, checkout = crash_while_authorizing(checkout_shop, monkeypatch, after=True)
    set_line_quantity(cart, variant_id=checkout_shop.small, quantity=3)
    fresh = start_checkout(cart)
    assert fresh.id != checkout.id and fresh.status == OPEN
    db.session.refresh(checkout)
    assert checkout.status == ABANDONED
    assert [a["status"] for a in provider_authorizations(checkout.reference)] == ["voided"]
    with pytest.raises(InvalidTransition):  # the old tab cannot place the abandoned checkout
        place_order(checkout.key, card=TEST_CARD)
    assert reconcile() == []


def test_a_checkout_being_placed_makes_a_new_one_wait(checkout_shop):
    cart, checkout = ready_checkout(checkout_shop)
    db.session.execute(
        update(Checkout)
        .where(Checkout.id == checkout.id)
        .values(status=PLACING, placing_since=utcnow() + timedelta(minutes=1), claim_token="x")
    )
    db.session.commit()
    with pytest.raises(Conflict, match="being placed"):
        start_checkout(cart)


def test_a_process_that_lost_its_claim_cannot_write_the_order(checkout_shop):
    _, checkout = ready_checkout(checkout_shop)
    as_if_dead(checkout)
    stale = Claim(checkout, "dead-process")
    db.session.execute(
        update(Checkout).where(Checkout.id == checkout.id).values(claim_token="new-owner")
    )
    db.session.commit()
    with pytest.raises(CheckoutTakenOver):
        _finish(stale, None, utcnow())
    assert orders_of(checkout) == []


def test_the_database_allows_one_live_checkout_per_cart(checkout_shop):
    cart, _ = ready_checkout(checkout_shop)
    db.session.add(Checkout(key="second-live", cart_id=cart.id, lines=[], status=PLACING))
    with pytest.raises(IntegrityError):
        db.session.flush()
    db.session.rollback()


# -- captures, voids and refunds whose answer was lost ------------------------------------------


@pytest.mark.parametrize("after", [True, False], ids=["captured", "never_received"])
def test_a_capture_left_capturing_is_completed(checkout_shop, monkeypatch, after):
    _, checkout = ready_checkout(checkout_shop)
    die_in(monkeypatch, "capture", after=after)
    with pytest.raises(ProcessKilled):
        place_order(checkout.key, card=TEST_CARD)
    [order] = orders_of(checkout)
    payment = db.session.get(pm.Payment, order.payment_id)
    assert (order.payment_status, payment.status) == (AUTHORIZED, pm.CAPTURING)

    report = recover_payments()

    assert report.calls_settled == 1 and report.paid_status_fixed == 1
    db.session.refresh(order)
    assert (order.payment_status, order.paid_total) == (PAID, order.total)
    assert [a["status"] for a in provider_authorizations(checkout.reference)] == ["captured"]
    assert len(get_provider().store.operations("capture")) >= 1
    assert recover_payments().changed == 0


def test_a_void_left_voiding_is_completed(checkout_shop, monkeypatch, app, make_staff):
    monkeypatch.setitem(app.config, "PAYMENTS_CAPTURE", "fulfillment")
    _, checkout = ready_checkout(checkout_shop)
    order = place_order(checkout.key, card=TEST_CARD).order
    die_in(monkeypatch, "void", after=True)
    with pytest.raises(ProcessKilled):
        cancel_order(order, reason="Changed mind", by=make_staff("support"))
    db.session.refresh(order)
    assert (order.status, order.payment_status) == (CANCELLED, AUTHORIZED)

    recover_payments()

    db.session.refresh(order)
    assert order.payment_status == VOIDED
    assert db.session.get(pm.Payment, order.payment_id).status == pm.VOIDED
    assert [a["status"] for a in provider_authorizations(checkout.reference)] == ["voided"]


@pytest.mark.parametrize("after", [True, False], ids=["refunded", "never_received"])
def test_a_refund_left_processing_is_settled_once(checkout_shop, monkeypatch, make_staff, after):
    _, checkout = ready_checkout(checkout_shop)
    order = place_order(checkout.key, card=TEST_CARD).order
    die_in(monkeypatch, "refund", after=after)
    with pytest.raises(ProcessKilled):
        issue_refund(
            order,
            extra_amount=500,
            lines={},
            reason="Late",
            idempotency_key="r1",
            by=make_staff("admin"),
        )
    refund = db.session.scalars(select(Refund)).one()
    assert refund.status == REFUND_PROCESSING

    report = recover_payments()

    assert report.refunds_settled == 1
    db.session.refresh(refund)
    db.session.refresh(order)
    assert refund.status == REFUND_SUCCEEDED
    assert order.refunded_total == 500
    [auth] = provider_authorizations(checkout.reference)
    assert auth["refunded"] == 500  # once, whether the provider had it or got it again
    assert db.session.get(pm.Payment, order.payment_id).refunded_amount == 500


def test_orders_captured_but_shown_unpaid_follow_their_captures(checkout_shop):
    _, checkout = ready_checkout(checkout_shop)
    order = place_order(checkout.key, card=TEST_CARD).order
    db.session.execute(  # what a crash between the capture and the order's update leaves
        update(Order).where(Order.id == order.id).values(payment_status=AUTHORIZED, paid_total=0)
    )
    db.session.commit()
    assert recover_payments().paid_status_fixed == 1
    db.session.refresh(order)
    assert (order.payment_status, order.paid_total) == (PAID, order.total)


# -- what needs a person ------------------------------------------------------------------------


def test_a_refused_capture_is_listed_and_captured_by_hand(checkout_shop, monkeypatch, make_staff):
    monkeypatch.setattr(
        tg.SandboxGateway,
        "capture",
        lambda self, **kw: ProviderResult(FAILED, error_code="processing_error", message="down"),
    )
    _, checkout = ready_checkout(checkout_shop)
    order = place_order(checkout.key, card=TEST_CARD).order
    assert order.payment_status == AUTHORIZED
    recover_payments()  # a refused capture is not retried on its own
    [item] = [i for i in payments_needing_attention() if i.order_id == order.id]
    assert (item.kind, item.can_capture) == (CAPTURE_REFUSED, True)
    monkeypatch.undo()
    support = make_staff("support")
    order = capture_payment_by_hand(order, by=support)
    assert order.payment_status == PAID
    again = capture_payment_by_hand  # a second press changes nothing
    with pytest.raises(InvalidTransition):
        again(order, by=support)
    assert [i for i in payments_needing_attention() if i.order_id == order.id] == []
    from commerce.audit import AuditEntry

    assert (
        db.session.scalar(
            select(func.count(AuditEntry.id)).where(AuditEntry.action == "order.capture")
        )
        == 1
    )


def test_an_order_authorized_but_never_captured_is_captured(checkout_shop, app, monkeypatch):
    monkeypatch.setitem(app.config, "PAYMENTS_CAPTURE", "fulfillment")
    _, checkout = ready_checkout(checkout_shop)
    order = place_order(checkout.key, card=TEST_CARD).order  # not captured: fulfillment mode
    monkeypatch.setitem(app.config, "PAYMENTS_CAPTURE", "placement")
    assert [i.kind for i in payments_needing_attention() if i.order_id == order.id] == [
        NOT_CAPTURED
    ]
    assert recover_payments().captured == 1
    db.session.refresh(order)
    assert order.payment_status == PAID


def test_the_command_reports_what_it_did(app, checkout_shop, monkeypatch):
    crash_while_authorizing(checkout_shop, monkeypatch, after=True)
    result = app.test_cli_runner().invoke(args=["payments", "recover"])
    assert result.exit_code == 0, result.output
    assert "1 authorizations turned into their order" in result.output
    assert "0 errors" in result.output

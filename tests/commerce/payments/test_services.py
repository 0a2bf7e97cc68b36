"""Payment services on SQLite: outcomes, the attempt log, capture/refund limits, idempotency,
expiry, and webhooks applied once."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from sqlalchemy import select

from commerce.db import transaction, utcnow
from commerce.errors import (
    AuthorizationExpired,
    Conflict,
    InvalidTransition,
    PaymentFailed,
    RefundExceedsCapture,
    ValidationError,
    WebhookRejected,
)
from commerce.extensions import db
from commerce.money import Money
from commerce.outbox import OutboxEvent
from commerce.payments import models as m
from commerce.payments import sandbox_gateway as tg
from commerce.payments import services as svc
from commerce.payments.provider import FAILED, ProviderResult
from tests.commerce.payments.conftest import card, new_key


def payments() -> list[m.Payment]:
    return list(db.session.scalars(select(m.Payment).order_by(m.Payment.id)))


def topics() -> list[str]:
    return list(db.session.scalars(select(OutboxEvent.topic).order_by(OutboxEvent.id)))


# -- authorize ----------------------------------------------------------------------------------


def test_authorize_success_records_the_payment_and_the_attempt(authorized, spy):
    payment = authorized(2599, reference="checkout-42")
    assert payment.status == m.AUTHORIZED
    assert (payment.amount, payment.authorized_amount, payment.currency) == (2599, 2599, "USD")
    assert (payment.card_brand, payment.card_last4) == ("visa", "4242")
    assert (payment.card_exp_month, payment.card_exp_year) == (12, card().exp_year)
    assert payment.provider == "test" and payment.provider_reference.startswith("tg_auth_")
    assert abs(payment.expires_at - (utcnow() + timedelta(days=7))) < timedelta(minutes=1)
    [tx] = payment.transactions
    assert (tx.kind, tx.status, tx.amount, tx.error_code) == ("authorize", "succeeded", 2599, None)
    assert spy.calls == ["authorize"] and spy.inside_transaction == []
    assert "payment.authorized" in topics()


@pytest.mark.parametrize(
    ("number", "code", "field"),
    [
        (tg.DECLINE_CARD, "card_declined", "card_number"),
        (tg.INSUFFICIENT_FUNDS_CARD, "insufficient_funds", "card_number"),
        (tg.PROCESSING_ERROR_CARD, "processing_error", None),
    ],
)
def test_failed_authorization_is_recorded_and_raised(authorized, number, code, field):
    with pytest.raises(PaymentFailed) as caught:
        authorized(1000, card=card(number))
    error = caught.value
    assert (error.details["decline_code"], error.field, error.status) == (code, field, 402)
    payment = db.session.get(m.Payment, error.details["payment_id"])
    assert (payment.status, payment.error_code, payment.authorized_amount) == ("failed", code, 0)
    assert payment.idempotency_key is None and payment.request_key
    [tx] = payment.transactions
    assert (tx.status, tx.error_code) == ("failed", code)
    assert "payment.failed" in topics()


def test_money_amounts_are_accepted(authorized):
    payment = svc.authorize_payment(
        reference="c", amount=Money(1234, "EUR"), card=card(), idempotency_key=new_key()
    )
    assert (payment.amount, payment.currency) == (1234, "EUR")


@pytest.mark.parametrize(
    ("amount", "currency", "field"),
    [
        (0, "USD", "amount"),
        (-5, "USD", "amount"),
        (100, None, "currency"),
        ("1.00", "USD", "amount"),
    ],
)
def test_bad_amounts_are_field_errors(amount, currency, field, spy):
    with pytest.raises(ValidationError) as caught:
        svc.authorize_payment(
            reference="c", amount=amount, currency=currency, card=card(), idempotency_key="k"
        )
    assert caught.value.field == field
    assert spy.calls == []


def test_invalid_card_is_a_field_error_before_anything_is_recorded(spy):
    with pytest.raises(ValidationError) as caught:
        svc.authorize_payment(
            reference="c",
            amount=100,
            currency="USD",
            card={"number": "4242424242424241", "exp_month": 1, "exp_year": 2001, "cvc": "1"},
            idempotency_key="k-invalid",
        )
    assert set(caught.value.errors) == {"card_number", "card_exp_year", "card_cvc"}
    assert payments() == [] and spy.calls == []


def test_full_card_number_and_cvc_are_never_stored(authorized):
    payment = authorized(100, card=card(cvc="987"))
    for row in [payment, *payment.transactions]:
        values = [getattr(row, c.key) for c in row.__table__.columns]
        text = " ".join(str(v) for v in values)
        assert tg.SUCCESS_CARD not in text and "424242424242" not in text
        assert "987" not in values and 987 not in values


# -- requires action ----------------------------------------------------------------------------


def test_requires_action_then_confirm(authorized, spy):
    payment = authorized(5000, card=card(tg.REQUIRES_ACTION_CARD))
    assert payment.status == m.REQUIRES_ACTION and payment.action_token
    assert payment.authorized_amount == 0 and payment.expires_at is None
    confirmed = svc.confirm_payment_action(payment, payment.action_token)
    assert confirmed.status == m.AUTHORIZED and confirmed.authorized_amount == 5000
    assert confirmed.action_token is None and confirmed.expires_at is not None
    assert [t.kind for t in confirmed.transactions] == ["authorize", "confirm"]
    assert [t.status for t in confirmed.transactions] == ["requires_action", "succeeded"]
    # Confirming again is harmless: no second provider call.
    assert svc.confirm_payment_action(confirmed, "anything").status == m.AUTHORIZED
    assert spy.calls == ["authorize", "confirm"]


def test_confirm_with_a_wrong_token_fails_the_payment(authorized):
    payment = authorized(5000, card=card(tg.REQUIRES_ACTION_CARD))
    with pytest.raises(PaymentFailed) as caught:
        svc.confirm_payment_action(payment, "tg_act_wrong")
    assert caught.value.details["decline_code"] == "authentication_failed"
    assert db.session.get(m.Payment, payment.id).status == m.FAILED


def test_confirm_needs_a_payment_waiting_for_action(authorized):
    with pytest.raises(InvalidTransition):
        svc.confirm_payment_action(_failed(authorized), "x")


def _failed(authorized) -> m.Payment:
    with pytest.raises(PaymentFailed) as caught:
        authorized(100, card=card(tg.DECLINE_CARD))
    return db.session.get(m.Payment, caught.value.details["payment_id"])


# -- capture and expiry -------------------------------------------------------------------------


def test_full_capture(authorized, spy):
    payment = svc.capture_payment(authorized(10000), idempotency_key=new_key())
    assert (payment.status, payment.captured_amount) == (m.CAPTURED, 10000)
    assert payment.transactions[-1].kind == "capture"
    assert spy.inside_transaction == []
    assert "payment.captured" in topics()


def test_partial_capture_takes_less_once(authorized):
    payment = svc.capture_payment(authorized(10000), amount=6000, idempotency_key=new_key())
    assert (payment.status, payment.captured_amount, payment.authorized_amount) == (
        m.CAPTURED,
        6000,
        10000,
    )
    with pytest.raises(InvalidTransition):
        svc.capture_payment(payment, amount=1000, idempotency_key=new_key())


def test_capture_more_than_authorized_is_refused(authorized, spy):
    payment = authorized(10000)
    with pytest.raises(ValidationError) as caught:
        svc.capture_payment(payment, amount=10001, idempotency_key=new_key())
    assert caught.value.field == "amount"
    with pytest.raises(ValidationError):
        svc.capture_payment(payment, amount=Money(100, "EUR"), idempotency_key=new_key())
    assert db.session.get(m.Payment, payment.id).status == m.AUTHORIZED
    assert spy.count("capture") == 0


def test_capturing_an_expired_authorization_fails_clearly(authorized, spy):
    payment = authorized(10000)
    payment.expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    with pytest.raises(AuthorizationExpired) as caught:
        svc.capture_payment(payment, idempotency_key=new_key())
    assert caught.value.details["payment_id"] == payment.id
    assert db.session.get(m.Payment, payment.id).status == m.EXPIRED
    assert spy.count("capture") == 0
    with pytest.raises(InvalidTransition):
        svc.capture_payment(payment, idempotency_key=new_key())


def test_authorization_lifetime_comes_from_config(app, authorized, monkeypatch):
    monkeypatch.setattr(svc.get_provider(), "authorization_ttl", timedelta(hours=2))
    payment = authorized(100)
    assert abs(payment.expires_at - (utcnow() + timedelta(hours=2))) < timedelta(minutes=1)
    assert app.config["PAYMENTS_AUTHORIZATION_TTL"] == timedelta(days=7)


def test_expire_authorizations_sweeps_lapsed_ones(authorized):
    old, fresh = authorized(100), authorized(100)
    old.expires_at = utcnow() - timedelta(minutes=1)
    db.session.commit()
    assert svc.expire_authorizations() == 1
    assert db.session.get(m.Payment, old.id).status == m.EXPIRED
    assert db.session.get(m.Payment, fresh.id).status == m.AUTHORIZED


def test_provider_is_called_after_the_intent_is_committed_and_outside_a_transaction(
    authorized, monkeypatch
):
    payment = authorized(100)
    seen = {}
    original = tg.SandboxGateway.capture

    def capture(self, **kw):
        seen["in_transaction"] = svc.in_transaction()
        seen["status"] = db.session.scalar(
            select(m.Payment.status).where(m.Payment.id == payment.id)
        )
        return original(self, **kw)

    monkeypatch.setattr(tg.SandboxGateway, "capture", capture)
    svc.capture_payment(payment, idempotency_key=new_key())
    assert seen == {"in_transaction": False, "status": m.CAPTURING}


def test_services_refuse_to_run_inside_a_transaction(authorized, spy):
    payment = authorized(100)
    with pytest.raises(RuntimeError, match="outside"), transaction():
        svc.capture_payment(payment, idempotency_key=new_key())
    assert spy.count("capture") == 0


def test_failed_capture_gives_the_authorization_back(authorized, monkeypatch):
    payment = authorized(100)
    monkeypatch.setattr(
        tg.SandboxGateway,
        "capture",
        lambda self, **kw: ProviderResult(FAILED, error_code="processing_error", message="down"),
    )
    key = new_key()
    with pytest.raises(PaymentFailed):
        svc.capture_payment(payment, idempotency_key=key)
    again = db.session.get(m.Payment, payment.id)
    assert (again.status, again.captured_amount) == (m.AUTHORIZED, 0)
    monkeypatch.undo()
    assert svc.capture_payment(payment, idempotency_key=key).status == m.CAPTURED  # key reusable


# -- void ---------------------------------------------------------------------------------------


def test_void_an_authorization(authorized, spy):
    payment = svc.void_payment(authorized(100))
    assert payment.status == m.VOIDED
    assert svc.void_payment(payment).status == m.VOIDED
    assert spy.count("void") == 1
    with pytest.raises(InvalidTransition):
        svc.capture_payment(payment, idempotency_key=new_key())


def test_void_a_payment_waiting_for_action(authorized):
    payment = authorized(100, card=card(tg.REQUIRES_ACTION_CARD))
    assert svc.void_payment(payment).status == m.VOIDED


def test_captured_payment_cannot_be_voided(captured):
    with pytest.raises(InvalidTransition):
        svc.void_payment(captured(100))


# -- refunds ------------------------------------------------------------------------------------


def test_partial_refunds_up_to_the_capture(captured):
    payment = captured(10000)
    first = svc.refund_payment(payment, amount=3000, idempotency_key=new_key())
    assert (first.kind, first.status, first.amount) == ("refund", "succeeded", 3000)
    payment = db.session.get(m.Payment, payment.id)
    assert (payment.status, payment.refunded_amount) == (m.PARTIALLY_REFUNDED, 3000)
    svc.refund_payment(payment, amount=Money(5000, "USD"), idempotency_key=new_key())
    with pytest.raises(RefundExceedsCapture) as caught:
        svc.refund_payment(payment, amount=2001, idempotency_key=new_key())
    assert caught.value.details["refundable"] == 2000 and caught.value.field == "amount"
    svc.refund_payment(payment, amount=2000, idempotency_key=new_key())
    payment = db.session.get(m.Payment, payment.id)
    assert (payment.status, payment.refunded_amount, payment.refundable_amount) == (
        m.REFUNDED,
        10000,
        0,
    )
    with pytest.raises(RefundExceedsCapture):
        svc.refund_payment(payment, amount=1, idempotency_key=new_key())
    assert topics().count("payment.refunded") == 3


def test_refunds_are_limited_to_a_partial_capture(authorized):
    payment = svc.capture_payment(authorized(10000), amount=4000, idempotency_key=new_key())
    with pytest.raises(RefundExceedsCapture):
        svc.refund_payment(payment, amount=4001, idempotency_key=new_key())
    svc.refund_payment(payment, amount=4000, idempotency_key=new_key())


def test_uncaptured_payment_cannot_be_refunded(authorized):
    with pytest.raises(InvalidTransition):
        svc.refund_payment(authorized(100), amount=100, idempotency_key=new_key())


def test_failed_refund_releases_the_amount_and_the_key(captured, monkeypatch):
    payment = captured(10000)
    svc.refund_payment(payment, amount=1000, idempotency_key=new_key())
    monkeypatch.setattr(
        tg.SandboxGateway,
        "refund",
        lambda self, **kw: ProviderResult(FAILED, error_code="processing_error"),
    )
    key = new_key()
    with pytest.raises(PaymentFailed):
        svc.refund_payment(payment, amount=9000, idempotency_key=key)
    again = db.session.get(m.Payment, payment.id)
    assert (again.refunded_amount, again.status) == (1000, m.PARTIALLY_REFUNDED)
    monkeypatch.undo()
    retried = svc.refund_payment(payment, amount=9000, idempotency_key=key)
    assert retried.status == "succeeded"
    assert db.session.get(m.Payment, payment.id).status == m.REFUNDED


# -- idempotency --------------------------------------------------------------------------------


def test_same_authorize_key_calls_the_provider_once(authorized, spy):
    first = authorized(100, reference="c-1", idempotency_key="auth-same")
    again = authorized(100, reference="c-1", idempotency_key="auth-same")
    assert again.id == first.id and spy.count("authorize") == 1
    assert len(payments()) == 1


def test_same_key_for_another_payment_is_a_conflict(authorized):
    authorized(100, reference="c-1", idempotency_key="auth-conflict")
    with pytest.raises(Conflict):
        authorized(200, reference="c-1", idempotency_key="auth-conflict")


def test_a_failed_attempt_does_not_burn_the_key(authorized, spy):
    with pytest.raises(PaymentFailed):
        authorized(100, reference="c-9", idempotency_key="auth-retry", card=card(tg.DECLINE_CARD))
    payment = authorized(100, reference="c-9", idempotency_key="auth-retry")
    assert payment.status == m.AUTHORIZED and payment.idempotency_key == "auth-retry"
    assert [p.status for p in payments()] == [m.FAILED, m.AUTHORIZED]
    assert spy.count("authorize") == 2
    assert authorized(100, reference="c-9", idempotency_key="auth-retry").id == payment.id
    assert spy.count("authorize") == 2


def test_same_capture_key_captures_once(authorized, spy):
    payment = authorized(100)
    first = svc.capture_payment(payment, idempotency_key="cap-same")
    again = svc.capture_payment(payment, idempotency_key="cap-same")
    assert again.id == first.id and again.status == m.CAPTURED
    assert spy.count("capture") == 1


def test_same_refund_key_refunds_once(captured, spy):
    payment = captured(10000)
    first = svc.refund_payment(payment, amount=2500, idempotency_key="ref-same")
    again = svc.refund_payment(payment, amount=2500, idempotency_key="ref-same")
    assert again.id == first.id and spy.count("refund") == 1
    assert db.session.get(m.Payment, payment.id).refunded_amount == 2500
    with pytest.raises(Conflict):
        svc.refund_payment(payment, amount=1000, idempotency_key="ref-same")


def test_a_refund_key_cannot_capture(captured):
    payment = captured(10000)
    svc.refund_payment(payment, amount=100, idempotency_key="ref-kind")
    with pytest.raises(Conflict):
        svc.capture_payment(payment, idempotency_key="ref-kind")


def test_missing_key_is_a_field_error(authorized):
    with pytest.raises(ValidationError) as caught:
        svc.capture_payment(authorized(100), idempotency_key=" ")
    assert caught.value.field == "idempotency_key"


# -- webhooks -----------------------------------------------------------------------------------


def deliver(event_type: str, data: dict, **kw) -> str:
    headers, body = svc.get_provider().build_webhook(event_type, data, **kw)
    return svc.receive_webhook(headers, body)


def test_webhook_completes_a_payment_waiting_for_action(authorized):
    payment = authorized(700, card=card(tg.REQUIRES_ACTION_CARD))
    data = {"payment_reference": payment.provider_reference}
    assert deliver("payment.authorized", data, event_id="evt_a1") == svc.APPLIED
    again = db.session.get(m.Payment, payment.id)
    assert (again.status, again.authorized_amount) == (m.AUTHORIZED, 700)
    assert again.expires_at is not None
    # The same event delivered again changes nothing.
    assert deliver("payment.authorized", data, event_id="evt_a1") == svc.DUPLICATE
    assert db.session.scalar(select(m.PaymentEvent.outcome)) == "applied"


def test_duplicate_event_is_applied_once(authorized):
    payment = authorized(700, card=card(tg.REQUIRES_ACTION_CARD))
    data = {"payment_reference": payment.provider_reference, "error_code": "expired_card"}
    assert deliver("payment.failed", data, event_id="evt_f1") == svc.APPLIED
    assert deliver("payment.failed", data, event_id="evt_f1") == svc.DUPLICATE
    again = db.session.get(m.Payment, payment.id)
    assert (again.status, again.error_code) == (m.FAILED, "expired_card")
    assert topics().count("payment.failed") == 1


def test_webhook_that_no_longer_applies_is_ignored(authorized):
    payment = authorized(700)
    assert deliver("payment.failed", {"payment_reference": payment.provider_reference}) == "ignored"
    assert deliver("something.else", {"payment_reference": payment.provider_reference}) == "ignored"
    assert deliver("payment.failed", {"payment_reference": "tg_auth_unknown"}) == "ignored"
    assert db.session.get(m.Payment, payment.id).status == m.AUTHORIZED


def test_authorization_expired_webhook(authorized):
    payment = authorized(700)
    assert deliver("authorization.expired", {"payment_reference": payment.provider_reference}) == (
        "applied"
    )
    assert db.session.get(m.Payment, payment.id).status == m.EXPIRED


def test_webhook_with_bad_signature_or_replayed_is_rejected_and_not_recorded(authorized):
    payment = authorized(700, card=card(tg.REQUIRES_ACTION_CARD))
    gateway = svc.get_provider()
    headers, body = gateway.build_webhook(
        "payment.authorized", {"payment_reference": payment.provider_reference}
    )
    forged = {tg.SIGNATURE_HEADER: headers[tg.SIGNATURE_HEADER].replace("v1=", "v1=00")}
    with pytest.raises(WebhookRejected):
        svc.receive_webhook(forged, body)
    stale_headers, stale_body = gateway.build_webhook(
        "payment.authorized",
        {"payment_reference": payment.provider_reference},
        timestamp=int(time.time()) - 600,
    )
    with pytest.raises(WebhookRejected):
        svc.receive_webhook(stale_headers, stale_body)
    assert db.session.scalar(select(m.PaymentEvent.id)) is None
    assert db.session.get(m.Payment, payment.id).status == m.REQUIRES_ACTION


def test_webhook_secret_comes_from_config(app):
    assert app.config["PAYMENTS_WEBHOOK_SECRET"]
    headers, body = tg.SandboxGateway(
        webhook_secret=app.config["PAYMENTS_WEBHOOK_SECRET"]
    ).build_webhook("noop", {})
    assert svc.get_provider().verify_webhook(headers, body).type == "noop"

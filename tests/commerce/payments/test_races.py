"""Payment races on PostgreSQL with real threads and real commits. Assertions are about
counts, never timing."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import create_engine, func, select, text

from commerce.errors import Conflict, RefundExceedsCapture
from commerce.extensions import db
from commerce.payments import models as m
from commerce.payments import sandbox_gateway as tg
from commerce.payments import services as svc
from tests.commerce.payments.conftest import card
from tests.concurrency.conftest import run_together, unexpected
from tests.conftest import base_config, reset_postgres

pytestmark = pytest.mark.postgres


@pytest.fixture
def race_app(pg_url: str, tmp_path: Any) -> Iterator[Flask]:
    from flask_migrate import upgrade

    from wsgi import create_app

    reset_postgres(pg_url)
    application = create_app(
        base_config(
            tmp_path,
            SQLALCHEMY_DATABASE_URI=pg_url,
            SQLALCHEMY_ENGINE_OPTIONS={"pool_size": 30, "max_overflow": 10, "pool_timeout": 30},
        )
    )
    with application.app_context():
        upgrade()
        yield application
        db.session.remove()
        db.engine.dispose()


def captured_payment(amount: int = 10000) -> int:
    payment = svc.authorize_payment(
        reference="race", amount=amount, currency="USD", card=card(), idempotency_key="race-auth"
    )
    payment = svc.capture_payment(payment, idempotency_key="race-cap")
    return payment.id


def test_concurrent_refunds_never_exceed_the_capture(race_app, spy):
    payment_id = captured_payment(10000)  # 100.00

    def refund(i: int) -> int:
        payment = db.session.get(m.Payment, payment_id)
        return svc.refund_payment(payment, amount=2000, idempotency_key=f"race-refund-{i}").id

    outcomes = run_together(race_app, 10, refund)
    assert unexpected(outcomes) == []
    assert sum(o.ok for o in outcomes) == 5
    assert all(isinstance(o.domain_error, RefundExceedsCapture) for o in outcomes if not o.ok)
    db.session.expire_all()
    payment = db.session.get(m.Payment, payment_id)
    assert (payment.refunded_amount, payment.status) == (10000, m.REFUNDED)
    refunds = db.session.scalar(
        select(func.count())
        .select_from(m.PaymentTransaction)
        .where(m.PaymentTransaction.kind == "refund", m.PaymentTransaction.status == "succeeded")
    )
    assert refunds == 5 and spy.count("refund") == 5


def test_concurrent_repeats_of_one_refund_key_call_the_provider_once(race_app, spy):
    payment_id = captured_payment(10000)

    def refund(_i: int) -> int:
        payment = db.session.get(m.Payment, payment_id)
        return svc.refund_payment(payment, amount=1500, idempotency_key="race-same").id

    outcomes = run_together(race_app, 8, refund)
    assert unexpected(outcomes) == []
    assert spy.count("refund") == 1
    assert len({o.value for o in outcomes if o.ok}) == 1
    assert all(isinstance(o.domain_error, Conflict) for o in outcomes if not o.ok)
    db.session.expire_all()
    assert db.session.get(m.Payment, payment_id).refunded_amount == 1500


def test_a_slow_provider_holds_no_row_lock(race_app, pg_url, monkeypatch):
    """While the provider is working on a refund, another connection can lock the payment."""
    payment_id = captured_payment(10000)
    entered, release = threading.Event(), threading.Event()
    original = tg.SandboxGateway.refund

    def slow_refund(self, **kw):
        entered.set()
        assert release.wait(30)
        return original(self, **kw)

    monkeypatch.setattr(tg.SandboxGateway, "refund", slow_refund)
    result: dict[str, Any] = {}

    def worker() -> None:
        with race_app.app_context():
            try:
                payment = db.session.get(m.Payment, payment_id)
                result["tx"] = svc.refund_payment(
                    payment, amount=500, idempotency_key="slow"
                ).status
            except BaseException as exc:
                result["error"] = exc
            finally:
                db.session.remove()

    thread = threading.Thread(target=worker, daemon=True)
    thread.start()
    try:
        assert entered.wait(30)
        engine = create_engine(pg_url)
        with engine.begin() as conn:
            conn.execute(text("SET LOCAL lock_timeout = '1s'"))
            row = conn.execute(
                text("SELECT refunded_amount FROM payment WHERE id = :id FOR UPDATE NOWAIT"),
                {"id": payment_id},
            ).one()
            assert row.refunded_amount == 500  # reserved and committed before the call
        engine.dispose()
    finally:
        release.set()
        thread.join(30)
    assert result == {"tx": "succeeded"}


def test_concurrent_deliveries_of_one_webhook_apply_once(race_app):
    payment = svc.authorize_payment(
        reference="hook",
        amount=700,
        currency="USD",
        card=card(tg.REQUIRES_ACTION_CARD),
        idempotency_key="hook-auth",
    )
    headers, body = svc.get_provider().build_webhook(
        "payment.authorized", {"payment_reference": payment.provider_reference}, event_id="evt_r"
    )
    outcomes = run_together(race_app, 6, lambda _i: svc.receive_webhook(headers, body))
    assert unexpected(outcomes) == []
    assert sorted(o.value for o in outcomes) == ["applied"] + ["duplicate"] * 5
    db.session.expire_all()
    assert db.session.get(m.Payment, payment.id).status == m.AUTHORIZED
    assert db.session.scalar(select(func.count()).select_from(m.PaymentEvent)) == 1

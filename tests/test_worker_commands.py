"""The README's production commands, run for real: `make worker` and `make beat` against
PostgreSQL and a Redis broker. Beat sends the outbox dispatch on its schedule, the worker
delivers an order's confirmation (an .eml file in the embedded mail mode), and beat keeps its
schedule in the instance folder."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from commerce.extensions import db
from commerce.orders.emails import CONFIRMATION_SENT
from commerce.orders.models import OrderEvent
from commerce.orders.services import ORDER_PLACED
from commerce.outbox import OutboxEvent
from tests.celery_processes import MakeTarget, private_redis, production_app, wait_for, worker_env

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


def place_one_order() -> int:
    from commerce.checkout.cart import add_to_cart
    from commerce.checkout.services import (
        choose_shipping_method,
        place_order,
        save_information,
        start_checkout,
    )
    from tests.conftest import TEST_CARD, US_ADDRESS, build_checkout_shop

    shop = build_checkout_shop(stock=3)
    checkout = start_checkout(add_to_cart(None, variant_id=shop.small, quantity=1))
    save_information(checkout, email="beat@example.com", address=US_ADDRESS)
    choose_shipping_method(checkout, code="STD")
    return place_order(checkout.key, card=TEST_CARD).order.id


def delivered(topic: str) -> bool:
    db.session.remove()  # a fresh read of what the worker committed
    event = db.session.scalar(select(OutboxEvent).where(OutboxEvent.topic == topic))
    return event is not None and event.dispatched_at is not None


def test_make_worker_and_make_beat_deliver_an_order_confirmation(pg_url, tmp_path, monkeypatch):
    import redis

    mail = tmp_path / "mail"
    with private_redis() as broker, production_app(pg_url, broker, tmp_path, monkeypatch):
        env = worker_env(database_url=pg_url, broker_url=broker, instance=tmp_path)
        worker = MakeTarget("worker", env, tmp_path / "worker.log").start()
        order_id = place_one_order()
        # Nothing is queued: only beat will ask for the outbox to be delivered.
        assert redis.Redis.from_url(broker).llen("celery") == 0
        beat = MakeTarget("beat", env, tmp_path / "beat.log").start()
        try:
            worker.wait_for_output(" ready.")
            sent = wait_for(lambda: list(mail.glob("*.eml")), timeout=60, what="the email")
            # The email is written before its event is marked delivered: wait for both.
            wait_for(lambda: delivered(ORDER_PLACED), timeout=60, what="the event delivered")
            beat.wait_for_output("Sending due task dispatch-outbox (commerce.outbox.dispatch)")
        finally:
            beat.stop()
            worker.stop()

        assert len(sent) == 1
        db.session.expire_all()
        event = db.session.scalar(select(OutboxEvent).where(OutboxEvent.topic == ORDER_PLACED))
        assert event.dispatched_at is not None and event.attempts == 1
        entries = db.session.scalars(
            select(OrderEvent).where(
                OrderEvent.order_id == order_id, OrderEvent.kind == CONFIRMATION_SENT
            )
        ).all()
        assert [e.data["file"] for e in entries] == [sent[0].name]
        assert list(tmp_path.glob("celerybeat-schedule*")), "beat keeps its state in instance/"
        for task in ("commerce.outbox.dispatch", "commerce.jobs.sweep"):
            assert task in worker.output()
        assert "Traceback" not in worker.output() + beat.output()

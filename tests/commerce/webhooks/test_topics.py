"""Which shop events reach a subscriber, and what their JSON says (money in minor units)."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select

from commerce.extensions import db
from commerce.outbox import OutboxEvent, dispatch_pending
from commerce.webhooks.models import WebhookDelivery
from commerce.webhooks.payloads import TOPICS
from commerce.webhooks.services import create_endpoint


def _received(httpserver: Any) -> list[dict[str, Any]]:
    return [json.loads(request.get_data(as_text=True)) for request, _ in httpserver.log]


def test_an_order_sends_created_and_paid_then_cancelled(
    httpserver: Any, place: Any, mail_dir: Any
) -> None:
    from commerce.orders.cancellation import cancel_order

    httpserver.expect_request("/hook").respond_with_data("ok")
    create_endpoint(url=httpserver.url_for("/hook"), topics=list(TOPICS), by=None)
    order = place(quantity=2)
    dispatch_pending()
    cancel_order(order, reason="Changed my mind", by=None)
    dispatch_pending()

    events = _received(httpserver)
    types = [e["type"] for e in events]
    assert types.index("order.created") < types.index("order.paid") < types.index("order.cancelled")
    assert "order.refunded" in types  # cancelling a paid order refunds it
    created = next(e for e in events if e["type"] == "order.created")
    assert created["version"] == 1 and created["timestamp"].endswith("Z")
    data = created["data"]["order"]
    assert data["id"] == order.id
    assert data["total"] == {"amount": order.total, "currency": order.currency}
    assert data["lines"][0]["quantity"] == 2
    paid = next(e for e in events if e["type"] == "order.paid")["data"]
    assert paid["captured"] == {"amount": order.total, "currency": order.currency}
    assert "inventory.level_changed" in types


def test_nobody_subscribed_means_no_rows(make_product: Any) -> None:
    make_product()
    dispatch_pending()
    assert db.session.scalar(select(WebhookDelivery)) is None
    assert db.session.scalar(select(OutboxEvent).where(OutboxEvent.dispatched_at.is_(None))) is None

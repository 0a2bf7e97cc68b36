"""Webhooks on PostgreSQL with real commits (the schema from the migrations): an event's
deliveries are recorded once, sent signed, and a lost claim is taken again."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from standardwebhooks.webhooks import Webhook

from commerce.catalog.services import create_product
from commerce.db import utcnow
from commerce.extensions import db
from commerce.outbox import OutboxEvent, dispatch_pending
from commerce.webhooks import delivery
from commerce.webhooks.models import SUCCEEDED, WebhookDelivery
from commerce.webhooks.services import create_endpoint

pytestmark = pytest.mark.postgres


def test_deliveries_on_postgres(pg_app: Any, httpserver: Any) -> None:
    httpserver.expect_request("/hook").respond_with_data("ok")
    endpoint = create_endpoint(url=httpserver.url_for("/hook"), topics=["product.created"], by=None)
    secret = endpoint.secret
    product = create_product(title="Canoe", price=99900, by=None)
    dispatch_pending()

    [row] = db.session.scalars(select(WebhookDelivery)).all()
    assert row.status == SUCCEEDED
    [(request, _)] = httpserver.log
    event = Webhook(secret).verify(request.get_data(as_text=True), dict(request.headers))
    assert event["data"]["product"]["id"] == product.id

    # The outbox consuming the event again (a crash before its note) adds no second row.
    source = db.session.get(OutboxEvent, row.event_id)
    assert delivery.record_deliveries(source) == 0
    db.session.commit()

    # A claim whose sender died is taken again after its lease, with the same webhook-id.
    now = utcnow()
    row.status, row.locked_until = "pending", now + delivery.LEASE
    db.session.commit()
    assert delivery.send_due(now=now) == 0
    assert delivery.send_due(now=now + delivery.LEASE + timedelta(seconds=1)) == 1
    assert httpserver.log[-1][0].headers["webhook-id"] == row.message_id

"""The embedded mode (no worker): a request that committed outbox events delivers them inline
after its response is ready, so a shopper's confirmation is written as the order is placed."""

from __future__ import annotations

from sqlalchemy import select

from commerce.extensions import db
from commerce.orders.models import Order
from commerce.orders.services import ORDER_PLACED
from commerce.outbox import OutboxEvent
from tests.storefront.test_cart_checkout import CARD, add, enter_checkout, information


def test_placing_an_order_emails_its_confirmation_at_once(client, checkout_shop, mail_dir):
    add(client, checkout_shop.small, 1)
    key, _response = enter_checkout(client)
    information(client, key)
    client.post(f"/checkout/{key}/shipping", data={"shipping_method": "STD"})
    response = client.post(f"/checkout/{key}/place", data=CARD)
    assert response.status_code == 303
    order = db.session.scalar(select(Order))
    (sent,) = mail_dir.glob("*.eml")
    assert f"order-{order.number}-confirmation" in sent.name
    event = db.session.scalar(select(OutboxEvent).where(OutboxEvent.topic == ORDER_PLACED))
    assert event.dispatched_at is not None and event.attempts == 1
    # the email, the search index's note, the invoice's number (numbered at placement), the
    # webhooks' two steps (record deliveries, queue their first try) and a draft order's
    # completion (nothing to do for an order from the shop)
    assert len(event.completed) == 6


def test_an_event_enqueued_in_a_request_marks_it_and_none_outside(app):
    """The outbox knows nothing of requests: the app's hook (wsgi) marks the request whose
    events the after-request step queues for delivery; work outside a request marks nothing."""
    from flask import g

    from commerce import outbox

    with app.test_request_context("/"):
        assert "outbox_pending" not in g
        outbox.enqueue("test.marked", {})
        assert g.outbox_pending is True
        db.session.rollback()
    with app.app_context():
        outbox.enqueue("test.unmarked", {})
        assert "outbox_pending" not in g
        db.session.rollback()

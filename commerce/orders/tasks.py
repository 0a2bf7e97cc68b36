"""Order background work: the confirmation and shipment emails, sent by outbox consumers.

The outbox consumer sends the email itself, so the event stays pending until the mail server
accepted the message; a server that is down fails the delivery and the outbox tries again
with backoff. A redelivered event sends nothing twice: orders.emails records each message on
the order's timeline and gives it a Message-ID made from its key.

The Celery tasks stay for messages queued by earlier releases (and for scripts): they take the
order id, never an ORM object, and are as idempotent as the consumers.
"""

from __future__ import annotations

from collections.abc import Callable

from celery import Task

from commerce import outbox
from commerce.extensions import celery
from commerce.giftcards.services import GIFT_CARD_ISSUED
from commerce.orders.emails import SHOP_URL_KEY, send_confirmation, send_shipment_email
from commerce.orders.fulfillment import ORDER_SHIPPED, deliver_gift_card_lines
from commerce.orders.services import ORDER_PLACED

RETRY_LIMIT = 8  # with the backoff below: about four hours of SMTP trouble


def _send_or_retry(task: Task, send: Callable[[int], bool], object_id: int) -> bool:
    """A mail server that is down is tried again with backoff (inline: the caller retries)."""
    try:
        return send(object_id)
    except OSError as exc:  # smtplib's errors, refused connections, timeouts
        if task.request.is_eager:
            raise
        raise task.retry(exc=exc, countdown=min(60 * 2**task.request.retries, 3600)) from exc


@celery.task(name="commerce.orders.send_order_confirmation", bind=True, max_retries=RETRY_LIMIT)
def send_order_confirmation(self: Task, order_id: int) -> bool:
    return _send_or_retry(self, send_confirmation, order_id)


@celery.task(name="commerce.orders.send_shipment_email", bind=True, max_retries=RETRY_LIMIT)
def send_shipment_notice(self: Task, fulfillment_id: int) -> bool:
    return _send_or_retry(self, send_shipment_email, fulfillment_id)


@outbox.handler(ORDER_PLACED, atomic=False)
def email_order_confirmation(event: outbox.OutboxEvent) -> None:
    """Delivered once the mail server accepted the confirmation (or refused the address for
    good, which the timeline notes); a transient failure raises and the outbox retries."""
    send_confirmation(int(event.payload["order_id"]), event.payload.get(SHOP_URL_KEY))


@outbox.handler(ORDER_SHIPPED, atomic=False)
def email_shipment_notice(event: outbox.OutboxEvent) -> None:
    send_shipment_email(int(event.payload["fulfillment_id"]), event.payload.get(SHOP_URL_KEY))


@outbox.handler(GIFT_CARD_ISSUED, atomic=False)
def deliver_gift_cards(event: outbox.OutboxEvent) -> None:
    """Gift cards travel by email: their lines are marked delivered, never picked."""
    deliver_gift_card_lines(int(event.payload["order_id"]))

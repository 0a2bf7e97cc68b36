"""Order background work: the confirmation email, fed by the outbox (thin over orders.emails).

The task takes the order id, never an ORM object, so the eager embedded mode and a real
worker run the same code.
"""

from __future__ import annotations

from collections.abc import Callable

from celery import Task

from commerce import outbox
from commerce.extensions import celery
from commerce.orders.emails import send_confirmation, send_shipment_email
from commerce.orders.fulfillment import ORDER_SHIPPED
from commerce.orders.services import ORDER_PLACED

RETRY_LIMIT = 8  # with the backoff below: about four hours of SMTP trouble


def _send_or_retry(task: Task, send: Callable[[int], bool], object_id: int) -> bool:
    """A mail server that is down is tried again with backoff (inline: the outbox retries)."""
    try:
        return send(object_id)
    except OSError as exc:  # smtplib's errors, refused connections, timeouts
        if task.request.is_eager:
            raise  # embedded mode: the outbox keeps the event pending and delivers it again
        raise task.retry(exc=exc, countdown=min(60 * 2**task.request.retries, 3600)) from exc


@celery.task(name="commerce.orders.send_order_confirmation", bind=True, max_retries=RETRY_LIMIT)
def send_order_confirmation(self: Task, order_id: int) -> bool:
    return _send_or_retry(self, send_confirmation, order_id)


@celery.task(name="commerce.orders.send_shipment_email", bind=True, max_retries=RETRY_LIMIT)
def send_shipment_notice(self: Task, fulfillment_id: int) -> bool:
    return _send_or_retry(self, send_shipment_email, fulfillment_id)


@outbox.handler(ORDER_PLACED)
def queue_order_confirmation(event: outbox.OutboxEvent) -> None:
    """A redelivered event is harmless: the task skips an order whose confirmation went."""
    send_order_confirmation.delay(int(event.payload["order_id"]))


@outbox.handler(ORDER_SHIPPED)
def queue_shipment_notice(event: outbox.OutboxEvent) -> None:
    send_shipment_notice.delay(int(event.payload["fulfillment_id"]))

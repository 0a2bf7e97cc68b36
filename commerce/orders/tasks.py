"""Order background work: the confirmation email, fed by the outbox (thin over orders.emails).

The task takes the order id, never an ORM object, so the eager embedded mode and a real
worker run the same code.
"""

from __future__ import annotations

from celery import Task

from commerce import outbox
from commerce.extensions import celery
from commerce.orders.emails import send_confirmation
from commerce.orders.services import ORDER_PLACED

RETRY_LIMIT = 8  # with the backoff below: about four hours of SMTP trouble


@celery.task(name="commerce.orders.send_order_confirmation", bind=True, max_retries=RETRY_LIMIT)
def send_order_confirmation(self: Task, order_id: int) -> bool:
    """Email the confirmation; a mail server that is down is tried again with backoff."""
    try:
        return send_confirmation(order_id)
    except OSError as exc:  # smtplib's errors, refused connections, timeouts
        if self.request.is_eager:
            raise  # embedded mode: the outbox keeps the event pending and delivers it again
        raise self.retry(exc=exc, countdown=min(60 * 2**self.request.retries, 3600)) from exc


@outbox.handler(ORDER_PLACED)
def queue_order_confirmation(event: outbox.OutboxEvent) -> None:
    """A redelivered event is harmless: the task skips an order whose confirmation went."""
    send_order_confirmation.delay(int(event.payload["order_id"]))

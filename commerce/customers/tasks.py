"""Outbox consumers of the customers package: the registration's emails. Outside consumers
(atomic=False, an SMTP conversation): a transient failure raises and the outbox retries."""

from __future__ import annotations

from commerce import outbox
from commerce.customers.emails import send_registration_attempt, send_welcome
from commerce.customers.services import CUSTOMER_REGISTERED, REGISTRATION_ATTEMPTED


@outbox.handler(REGISTRATION_ATTEMPTED, atomic=False)
def email_registration_attempt(event: outbox.OutboxEvent) -> None:
    send_registration_attempt(int(event.payload["customer_id"]), event_id=event.id)


@outbox.handler(CUSTOMER_REGISTERED, atomic=False)
def email_welcome(event: outbox.OutboxEvent) -> None:
    send_welcome(int(event.payload["customer_id"]), event_id=event.id)

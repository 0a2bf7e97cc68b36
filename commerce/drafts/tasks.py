"""Draft orders' outbox consumers (thin: each calls one function)."""

from __future__ import annotations

from commerce import outbox
from commerce.drafts.paylink import send_invoice_email
from commerce.drafts.services import INVOICE_TOPIC, complete_paid_draft
from commerce.orders.emails import SHOP_URL_KEY
from commerce.orders.services import ORDER_PLACED


@outbox.handler(INVOICE_TOPIC, atomic=False)
def email_draft_invoice(event: outbox.OutboxEvent) -> None:
    send_invoice_email(
        int(event.payload["draft_id"]), str(event.payload["nonce"]), event.payload.get(SHOP_URL_KEY)
    )


@outbox.handler(ORDER_PLACED)
def complete_draft_paid_by_link(event: outbox.OutboxEvent) -> None:
    """An order placed through a draft's pay link completes the draft (a no-op for others)."""
    complete_paid_draft(int(event.payload["order_id"]))

"""Gift card background work: the buyer's email with the codes (an outbox consumer) and the
periodic expiry of cards past their date (thin: each calls one service)."""

from __future__ import annotations

from datetime import timedelta

from commerce import outbox
from commerce.extensions import PERIODIC, celery
from commerce.giftcards.emails import send_gift_card_codes
from commerce.giftcards.services import GIFT_CARD_ISSUED, expire_gift_cards

PERIODIC["gift-cards-expire"] = {
    "task": "commerce.giftcards.expire",
    "schedule": timedelta(hours=1),
}


@outbox.handler(GIFT_CARD_ISSUED, atomic=False)
def email_gift_card_codes(event: outbox.OutboxEvent) -> None:
    """Delivered once the mail server accepted the codes; a transient failure (OSError)
    raises and the outbox retries."""
    send_gift_card_codes(int(event.payload["order_line_id"]), event.payload.get("shop_url"))


@celery.task(name="commerce.giftcards.expire")
def expire_gift_cards_task() -> int:
    """Cards past their expiry date expire through the ledger (hourly by beat)."""
    return expire_gift_cards()

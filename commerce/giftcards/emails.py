"""The buyer's email with the codes of the gift cards an order line issued.

Sent after commit by an outbox consumer, which opens the codes sealed on the cards and drops
them once the email has gone (nothing at rest can say a code after that). The message's key
(hence its Message-ID and, in the embedded mode, its file) is the line's, and `emailed_at`
records that it went, so a redelivered event sends nothing twice.
"""

from __future__ import annotations

import contextlib

from flask import current_app
from sqlalchemy import select, update

from commerce import mail
from commerce.db import transaction, utcnow
from commerce.extensions import db
from commerce.giftcards.codes import grouped
from commerce.giftcards.models import GiftCard


def gift_card_email_key(order_line_id: int) -> str:
    return f"gift-cards-line-{order_line_id}"


def send_gift_card_codes(order_line_id: int, reached_at: str | None = None) -> bool:
    """Email the codes of the line's cards not emailed yet; False when there were none."""
    with transaction():  # the reads end here, before the mail server is called
        cards = db.session.scalars(
            select(GiftCard)
            .where(
                GiftCard.order_line_id == order_line_id,
                GiftCard.emailed_at.is_(None),
                GiftCard.code_sealed.is_not(None),
            )
            .order_by(GiftCard.unit)
        ).all()
        if not cards:
            return False
        to = cards[0].recipient_email
        shop_name = current_app.config["SHOP_NAME"]
        context = {
            "shop_name": shop_name,
            "shop_url": mail.shop_base(reached_at),
            "cards": [
                {
                    "code": grouped(card.code_sealed or ""),
                    "amount": card.initial_amount,
                    "currency": card.currency,
                    "expires_at": card.expires_at,
                }
                for card in cards
            ],
        }
        ids = [card.id for card in cards]
        env = current_app.jinja_env
        key = gift_card_email_key(order_line_id)
        message = mail.build_message(
            key=key,
            to=to,
            subject=f"Your gift card{'' if len(cards) == 1 else 's'} from {shop_name}",
            text=env.get_template("emails/gift_cards.txt").render(context),
            html=env.get_template("emails/gift_cards.html").render(context),
        )
    # An address refused for good is not retried (the cards work; support can say the codes
    # again by reissuing); anything transient raises and the outbox tries again.
    with contextlib.suppress(mail.RecipientRefused):
        mail.send_email(message, key=key)
    with transaction():
        db.session.execute(
            update(GiftCard)
            .where(GiftCard.id.in_(ids))
            .values(emailed_at=utcnow(), code_sealed=None)
            .execution_options(synchronize_session=False)
        )
    return True

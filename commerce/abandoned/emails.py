"""The recovery email: rendered from templates/emails/checkout_recovery.*, sent after commit by
the outbox consumer, with the restore link and an unsubscribe link."""

from __future__ import annotations

from flask import current_app

from commerce import mail
from commerce.abandoned.models import FIRST, CheckoutRecovery
from commerce.abandoned.services import (
    recovery_settings,
    restore_token,
    still_recoverable,
    unsubscribe_token,
)
from commerce.checkout.services import price_checkout
from commerce.db import transaction
from commerce.extensions import db
from commerce.orders.emails import shop_url

RESTORE_ENDPOINT = "storefront.recover_cart"  # /recover/<token>
UNSUBSCRIBE_ENDPOINT = "storefront.recover_unsubscribe"  # /recover/unsubscribe/<token>


def send_recovery_email(checkout_id: int, which: str) -> bool:
    """Send one recovery email (a redelivery writes the same file, the same Message-ID);
    False when the shopper ordered, unsubscribed or the checkout finished meanwhile."""
    with transaction():
        checkout = still_recoverable(checkout_id)
        recovery = db.session.get(CheckoutRecovery, checkout_id)
        if checkout is None or recovery is None:
            return False
        token = restore_token(recovery)
        unsubscribe = unsubscribe_token(checkout.email)
        shop_name = current_app.config["SHOP_NAME"]
        context = {
            "shop_name": shop_name,
            "priced": price_checkout(checkout),
            "reminder": which != FIRST,
            "code": recovery_settings().promotion_code,
            "url": shop_url(RESTORE_ENDPOINT, fallback=f"/recover/{token}", token=token),
            "unsubscribe_url": shop_url(
                UNSUBSCRIBE_ENDPOINT,
                fallback=f"/recover/unsubscribe/{unsubscribe}",
                token=unsubscribe,
            ),
        }
        env = current_app.jinja_env
        key = f"recovery-{checkout_id}-{which}-{recovery.nonce}"
        subject = (
            f"Still thinking it over? Your cart at {shop_name}"
            if which != FIRST
            else f"You left something in your cart at {shop_name}"
        )
        message = mail.build_message(
            key=key,
            to=checkout.email,
            subject=subject,
            text=env.get_template("emails/checkout_recovery.txt").render(context),
            html=env.get_template("emails/checkout_recovery.html").render(context),
        )
        message["List-Unsubscribe"] = f"<{context['unsubscribe_url']}>"
    mail.send_email(message, key=key)
    return True

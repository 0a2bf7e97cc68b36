"""The draft's pay link and invoice email.

The link carries `{"d": draft id, "n": nonce}` signed with the app's secret and a timestamp
(itsdangerous): unguessable, it expires after DRAFT_PAY_LINK_DAYS, and it names the draft's
current nonce, so sending the invoice again or completing the draft ends every older link.
Nothing secret is stored: the outbox event and the row hold the nonce, which is worthless
without the secret.
"""

from __future__ import annotations

from datetime import timedelta

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from commerce import mail
from commerce.db import transaction
from commerce.drafts.models import COMPLETED, DraftOrder
from commerce.drafts.services import price_draft
from commerce.errors import NotFound
from commerce.extensions import db
from commerce.orders.emails import shop_url
from commerce.orders.models import Order

_SALT = "draft-pay-link"
PAY_ENDPOINT = "storefront.draft_pay"  # served at /pay/<token>


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=_SALT)


def link_lifetime() -> timedelta:
    return timedelta(days=int(current_app.config["DRAFT_PAY_LINK_DAYS"]))


def pay_token(draft: DraftOrder, nonce: str) -> str:
    return str(_serializer().dumps({"d": draft.id, "n": nonce}))


def pay_url(draft: DraftOrder, nonce: str, reached_at: str | None = None) -> str:
    token = pay_token(draft, nonce)
    return shop_url(PAY_ENDPOINT, fallback=f"/pay/{token}", reached_at=reached_at, token=token)


def draft_from_pay_token(token: str) -> DraftOrder:
    """The draft a live link names (a completed one too: its page is the order); an expired,
    replaced or forged link is NotFound, saying which."""
    try:
        data = _serializer().loads(token, max_age=int(link_lifetime().total_seconds()))
    except SignatureExpired:
        raise NotFound("This payment link has expired. Ask the shop for a new one.") from None
    except BadSignature:
        raise NotFound("This payment link is not valid.") from None
    if not isinstance(data, dict) or not isinstance(data.get("d"), int):
        raise NotFound("This payment link is not valid.")
    draft = db.session.get(DraftOrder, data["d"])
    if draft is None:
        raise NotFound("This payment link is not valid.")
    if draft.status != COMPLETED and draft.pay_nonce != data.get("n"):
        raise NotFound("This payment link was replaced by a newer one. Use the latest email.")
    return draft


def paid_order(draft: DraftOrder) -> Order | None:
    return db.session.get(Order, draft.order_id) if draft.order_id else None


def send_invoice_email(draft_id: int, nonce: str, reached_at: str | None = None) -> bool:
    """Email the invoice for this nonce (one message per nonce: a redelivery writes nothing
    new, its Message-ID and file are the same). False when the draft moved on."""
    with transaction():
        draft = db.session.get(DraftOrder, draft_id)
        if draft is None or draft.status == COMPLETED or draft.pay_nonce != nonce:
            return False
        priced = price_draft(draft)
        shop_name = current_app.config["SHOP_NAME"]
        context = {
            "draft": draft,
            "priced": priced,
            "shop_name": shop_name,
            "url": pay_url(draft, nonce, reached_at),
            "days": link_lifetime().days,
        }
        env = current_app.jinja_env
        key = f"draft-{draft.id}-invoice-{nonce}"
        message = mail.build_message(
            key=key,
            to=draft.email,
            subject=f"Your order from {shop_name}: invoice {draft.name}",
            text=env.get_template("emails/draft_invoice.txt").render(context),
            html=env.get_template("emails/draft_invoice.html").render(context),
        )
    mail.send_email(message, key=key)
    return True

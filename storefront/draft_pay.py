"""A draft order's pay link, /pay/<token>: the invoice email's link into the shop's own payment
step.

The signed link (commerce.drafts.paylink) names the draft; opening it lets this browser see the
draft's checkout (its key kept in the session) and sends it to /checkout/<key>/payment, where
`place_order` takes the payment with the shop's idempotency and stock rules. Only the payment
steps serve a draft's checkout: its lines, address, shipping and codes are the shop's to
change. A link to a paid draft shows its order.
"""

from __future__ import annotations

from flask import redirect, session, url_for
from werkzeug.wrappers import Response

from commerce.checkout.models import Checkout
from commerce.checkout.services import get_checkout
from commerce.drafts.models import KEY_PREFIX
from commerce.drafts.paylink import draft_from_pay_token, paid_order
from commerce.errors import NotFound
from commerce.orders.services import order_status_token
from storefront import bp
from storefront.web import private

SESSION_KEY = "draft_checkouts"  # the draft checkouts this browser opened by their link
KEEP = 5
PAY_LINK_ENDPOINTS = frozenset(
    {"storefront.checkout_payment", "storefront.checkout_place", "storefront.checkout_authenticate"}
)


def is_draft_checkout(checkout: Checkout) -> bool:
    return checkout.cart_id is None and checkout.key.startswith(KEY_PREFIX)


def paid_by_link(key: str) -> Checkout | None:
    """The draft checkout with this key, if this browser opened its pay link."""
    if key not in session.get(SESSION_KEY, []):
        return None
    try:
        return get_checkout(key)
    except NotFound:
        return None


@bp.route("/pay/<token>")
def draft_pay(token: str) -> Response:
    draft = draft_from_pay_token(token)  # NotFound (404) for an expired or replaced link
    order = paid_order(draft)
    if order is not None:
        target = url_for("storefront.order_status", token=order_status_token(order))
        return private(redirect(target, code=303))
    opened = [k for k in session.get(SESSION_KEY, []) if k != draft.checkout_key]
    session[SESSION_KEY] = [*opened[-(KEEP - 1) :], draft.checkout_key]
    target = url_for("storefront.checkout_payment", key=draft.checkout_key)
    return private(redirect(target, code=303))

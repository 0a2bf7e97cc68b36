"""The shopper's order emails, rendered from templates/emails/ and sent through commerce.mail.

Sending runs after commit (an outbox consumer), so it reads the order fresh and writes its
own timeline entry; the entry is also what makes a redelivered event send nothing twice.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC
from decimal import Decimal
from email.message import EmailMessage
from typing import Any
from urllib.parse import quote, urlsplit

from babel.dates import format_date, get_timezone
from babel.numbers import format_decimal
from flask import current_app
from sqlalchemy import select

from commerce import mail
from commerce.countries import address_lines
from commerce.db import transaction
from commerce.extensions import db
from commerce.giftcards.tenders import order_tenders
from commerce.orders.models import Fulfillment, Order, OrderEvent
from commerce.orders.services import get_order, order_status_token, record_event
from commerce.pricing.models import GIFT, LINE

CONFIRMATION_SENT = "email.confirmation_sent"  # timeline kinds
CONFIRMATION_FAILED = "email.confirmation_failed"
SHIPMENT_SENT = "email.shipment_sent"  # + ":<fulfillment id>"
SHIPMENT_FAILED = "email.shipment_failed"
ORDER_STATUS_ENDPOINT = "storefront.order_status"  # served at /orders/<token>


# events whose emails link into the shop
LINKED_TOPICS = ("order.placed", "order.shipped", "draft.invoice")
SHOP_URL_KEY = "shop_url"  # in their payload: where the shop was reached (when SHOP_URL unset)


def shop_url(endpoint: str, *, fallback: str, reached_at: str | None = None, **values: Any) -> str:
    """An absolute link into the shop for a message sent outside any request: built from
    mail.shop_base() with the app's URL map when `endpoint` is registered, else the base +
    `fallback` (the core must not depend on a web face being loaded)."""
    base = urlsplit(mail.shop_base(reached_at))
    if endpoint in current_app.view_functions:
        adapter = current_app.url_map.bind(
            base.netloc, script_name=base.path or "/", url_scheme=base.scheme or "http"
        )
        return adapter.build(endpoint, values, force_external=True)
    return f"{base.geturl()}{fallback}"


def order_status_url(order: Order, reached_at: str | None = None) -> str:
    """The signed guest link to the order's status page."""
    token = order_status_token(order)
    fallback = f"/orders/{quote(token)}"
    return shop_url(ORDER_STATUS_ENDPOINT, fallback=fallback, reached_at=reached_at, token=token)


def confirmation_key(order: Order) -> str:
    """One key per order. The checkout digest keeps it unique when a database is reset and
    order numbers start over, so mail clients never merge two shoppers' confirmations."""
    digest = hashlib.sha256(order.checkout_key.encode()).hexdigest()[:10]
    return f"order-{order.number}-confirmation-{digest}"


def render_order_confirmation(order: Order, reached_at: str | None = None) -> EmailMessage:
    """The confirmation as a text + HTML message. Rendered straight from the Jinja
    environment, without request context processors, so eager and worker mode match."""
    shop_name = current_app.config["SHOP_NAME"]
    context = {
        "order": order,
        "shop_name": shop_name,
        "shop_url": mail.shop_base(reached_at),
        "status_url": order_status_url(order, reached_at),
        "placed_on": _placed_on(order),
        "address_lines": address_lines(order.shipping_address, company=False),
        "line_discounts": {
            line.id: [
                a for a in line.adjustments if a.get("scope") in (LINE, GIFT) and a.get("amount")
            ]
            for line in order.lines
        },
        "discounts": order.discounts(),
        "shipping_discounts": order.shipping_discounts(),
        "tax_label": tax_label(order),
        # gift cards and store credit that paid (the card pays the rest)
        "paid_with": [(t.label, t.amount) for t in order_tenders(order.id)],
    }
    env = current_app.jinja_env
    text = env.get_template("emails/order_confirmation.txt").render(context)
    html = env.get_template("emails/order_confirmation.html").render(context)
    return mail.build_message(
        key=confirmation_key(order),
        to=order.email,
        subject=f"Order {order.name} confirmed — {shop_name}",
        text=text,
        html=html,
    )


def confirmation_sent(order: Order) -> bool:
    return _has_event(order, CONFIRMATION_SENT)


def send_confirmation(order_id: int, reached_at: str | None = None) -> bool:
    """Email the order confirmation once; False when it had already gone or the address was
    refused for good (a timeline entry says so). Transient failures raise OSError."""
    order = get_order(order_id)
    return _send_once(
        order,
        sent=CONFIRMATION_SENT,
        failed=CONFIRMATION_FAILED,
        what="Order confirmation",
        key=confirmation_key(order),
        render=lambda: render_order_confirmation(order, reached_at),
    )


def render_shipment_email(fulfillment: Fulfillment, reached_at: str | None = None) -> EmailMessage:
    order = fulfillment.order
    shop_name = current_app.config["SHOP_NAME"]
    context = {
        "order": order,
        "fulfillment": fulfillment,
        "shop_name": shop_name,
        "shop_url": mail.shop_base(reached_at),
        "status_url": order_status_url(order, reached_at),
        "address_lines": address_lines(order.shipping_address, company=False),
    }
    env = current_app.jinja_env
    return mail.build_message(
        key=_shipment_key(fulfillment),
        to=order.email,
        subject=f"Order {order.name} is on its way — {shop_name}",
        text=env.get_template("emails/order_shipped.txt").render(context),
        html=env.get_template("emails/order_shipped.html").render(context),
    )


def _shipment_key(fulfillment: Fulfillment) -> str:
    digest = hashlib.sha256(fulfillment.order.checkout_key.encode()).hexdigest()[:10]
    return f"order-{fulfillment.order.number}-shipment-{fulfillment.id}-{digest}"


def send_shipment_email(fulfillment_id: int, reached_at: str | None = None) -> bool:
    """Tell the customer a parcel left (carrier, tracking, what is in it), once per parcel."""
    fulfillment = db.session.get(Fulfillment, fulfillment_id)
    if fulfillment is None:
        return False
    return _send_once(
        fulfillment.order,
        sent=f"{SHIPMENT_SENT}:{fulfillment.id}",
        failed=f"{SHIPMENT_FAILED}:{fulfillment.id}",
        what="Shipment notice",
        key=_shipment_key(fulfillment),
        render=lambda: render_shipment_email(fulfillment, reached_at),
    )


def _send_once(
    order: Order,
    *,
    sent: str,
    failed: str,
    what: str,
    key: str,
    render: Callable[[], EmailMessage],
) -> bool:
    """Send a message unless the timeline says it went (or was refused for good), then say so
    on the timeline: that entry is what makes a redelivered outbox event send nothing twice.

    Three steps, and no transaction is open while the mail server is talked to (it may take
    seconds): read and render, send, record."""
    with transaction():  # the reads end here, before the mail server is called
        if _has_event(order, sent) or _has_event(order, failed):
            return False
        message = render()
        to = order.email
    try:
        path = mail.send_email(message, key=key)
    except mail.RecipientRefused as exc:
        with transaction():
            record_event(order, failed, f"{what} to {to} was refused: {exc}", to=to)
        return False
    with transaction():
        record_event(
            order,
            sent,
            f"{what} emailed to {to}.",
            to=to,
            message_id=str(message["Message-ID"]),
            **({"file": path.name} if path is not None else {}),
        )
    return True


def _has_event(order: Order, kind: str) -> bool:
    return (
        db.session.scalar(
            select(OrderEvent.id)
            .where(OrderEvent.order_id == order.id, OrderEvent.kind == kind)
            .limit(1)
        )
        is not None
    )


def _placed_on(order: Order) -> str:
    """The placing date in the shop's own time zone and locale (placed_at is naive UTC)."""
    local = order.placed_at.replace(tzinfo=UTC).astimezone(
        get_timezone(current_app.config["SHOP_TIMEZONE"])
    )
    return format_date(local.date(), format="long", locale=current_app.config["SHOP_LOCALE"])


def tax_label(order: Order) -> str:
    """The tax's name and the rate the order was taxed at, as in "Sales tax (7.25%)" (the
    emails' and the documents' tax line)."""
    name = order.tax_name or "Tax"
    if not order.tax_rate_bps:
        return name
    locale = current_app.config["SHOP_LOCALE"]
    rate = format_decimal(Decimal(order.tax_rate_bps) / 100, format="#,##0.##", locale=locale)
    return f"{name} ({rate}%)"

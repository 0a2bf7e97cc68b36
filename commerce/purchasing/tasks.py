"""Purchasing background work: the purchase order emailed to its supplier (an outbox consumer).

The consumer sends the email itself, so the event stays pending until the mail server took
the message; a redelivered event writes nothing twice (the message's key is the event's id:
the embedded mode keeps its first file, and SMTP receivers see the same Message-ID)."""

from __future__ import annotations

from flask import current_app

from commerce import mail, outbox
from commerce.extensions import db
from commerce.purchasing.documents import purchase_order_pdf
from commerce.purchasing.models import PurchaseOrder
from commerce.purchasing.services import PURCHASE_ORDER_SEND


@outbox.handler(PURCHASE_ORDER_SEND, atomic=False)
def email_purchase_order(event: outbox.OutboxEvent) -> None:
    po = db.session.get(PurchaseOrder, int(event.payload["purchase_order_id"]))
    if po is None:
        return
    shop = current_app.config.get("SHOP_NAME") or "Our shop"
    key = f"purchase-order-{po.id}-event-{event.id}"
    lines = "\n".join(
        f"- {line.quantity} x {line.variant.sku or line.variant.product.title}" for line in po.lines
    )
    expected = f"\nWe expect it by {po.expected_on.isoformat()}." if po.expected_on else ""
    text = (
        f"Hello {po.supplier.name},\n\nplease find our purchase order {po.number} attached:\n"
        f"{lines}\n{expected}\nPlease quote {po.number} on the delivery note and the invoice.\n"
        f"\n{shop}\n"
    )
    html = "<pre>" + text.replace("&", "&amp;").replace("<", "&lt;") + "</pre>"
    message = mail.build_message(
        key=key,
        to=str(event.payload["to"]),
        subject=f"Purchase order {po.number} from {shop}",
        text=text,
        html=html,
    )
    message.add_attachment(
        purchase_order_pdf(po),
        maintype="application",
        subtype="pdf",
        filename=f"{po.number}.pdf",
    )
    mail.send_email(message, key=key)

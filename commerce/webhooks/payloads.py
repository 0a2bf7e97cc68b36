"""Which outbox events become which webhook topics, and the versioned JSON they carry.

The data is read when the outbox event is consumed and fixed in the delivery, so every try
sends the same bytes (a signature stays valid; a receiver de-duplicates by webhook-id). Money
is `{"amount": minor units, "currency": code}`, as in the Admin API.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import select

from commerce.catalog.models import Product, Variant
from commerce.customers.models import Customer
from commerce.extensions import db
from commerce.inventory.models import StockLevel
from commerce.orders.models import Order, Refund, Return
from commerce.outbox import OutboxEvent

VERSION = 1

TOPICS: dict[str, str] = {
    "order.created": "An order was placed",
    "order.paid": "An order's payment was captured",
    "order.fulfilled": "A parcel of an order was shipped",
    "order.cancelled": "An order was cancelled",
    "order.refunded": "Money was refunded on an order",
    "product.created": "A product was created",
    "product.updated": "A product, its variants or prices changed",
    "product.deleted": "A product was deleted",
    "inventory.level_changed": "Stock levels of variants changed",
    "customer.created": "A shopper registered an account",
    "return.opened": "A return was opened",
}


def _money(amount: int | None, currency: str) -> dict[str, Any] | None:
    return None if amount is None else {"amount": amount, "currency": currency}


def _time(at: datetime | None) -> str | None:
    return None if at is None else at.replace(microsecond=0).isoformat() + "Z"


def order_data(order: Order) -> dict[str, Any]:
    c = order.currency
    return {
        "id": order.id,
        "number": order.number,
        "email": order.email,
        "customer_id": order.customer_id,
        "status": order.status,
        "payment_status": order.payment_status,
        "fulfillment_status": order.fulfillment_status,
        "subtotal": _money(order.subtotal, c),
        "discount_total": _money(order.discount_total, c),
        "shipping_total": _money(order.shipping_total, c),
        "tax_total": _money(order.tax_total, c),
        "total": _money(order.total, c),
        "paid_total": _money(order.paid_total, c),
        "refunded_total": _money(order.refunded_total, c),
        "placed_at": _time(order.placed_at),
        "lines": [
            {
                "id": line.id,
                "variant_id": line.variant_id,
                "product_id": line.product_id,
                "sku": line.sku,
                "title": line.title,
                "quantity": line.quantity,
                "unit_price": _money(line.unit_price, c),
                "total": _money(line.amount, c),
            }
            for line in order.lines
        ],
    }


def _order(order_id: Any) -> dict[str, Any] | None:
    order = db.session.get(Order, int(order_id)) if order_id is not None else None
    return None if order is None else {"order": order_data(order)}


def _placed(p: dict[str, Any]) -> dict[str, Any] | None:
    return _order(p.get("order_id"))


def _paid(p: dict[str, Any]) -> dict[str, Any] | None:
    order = db.session.scalar(select(Order).where(Order.payment_id == p.get("payment_id")))
    if order is None:  # a payment for a checkout not yet an order: order.created says it
        return None
    data = {"order": order_data(order)}
    if p.get("amount") is not None:
        data["captured"] = _money(int(p["amount"]), order.currency)
    return data


def _shipped(p: dict[str, Any]) -> dict[str, Any] | None:
    from commerce.orders.models import Fulfillment

    fulfillment = db.session.get(Fulfillment, int(p["fulfillment_id"]))
    if fulfillment is None:
        return None
    data = _order(fulfillment.order_id)
    if data is not None:
        data["fulfillment_id"] = fulfillment.id
    return data


def _refunded(p: dict[str, Any]) -> dict[str, Any] | None:
    refund = db.session.get(Refund, int(p["refund_id"]))
    if refund is None:
        return None
    data = _order(refund.order_id)
    if data is not None:
        data["refund"] = {"id": refund.id, "amount": _money(refund.amount, refund.currency)}
    return data


def _return_opened(p: dict[str, Any]) -> dict[str, Any] | None:
    order_return = db.session.get(Return, int(p["return_id"]))
    if order_return is None:
        return None
    data = _order(order_return.order_id)
    if data is not None:
        data["return"] = {"id": order_return.id, "reason": order_return.reason}
    return data


def product_data(product: Product) -> dict[str, Any]:
    return {
        "id": product.id,
        "title": product.title,
        "handle": product.handle,
        "status": product.status,
        "variants": [
            {
                "id": v.id,
                "sku": v.sku,
                "price": _money(v.price, v.currency),
            }
            for v in db.session.scalars(
                select(Variant).where(Variant.product_id == product.id).order_by(Variant.id)
            )
        ],
    }


def _product(p: dict[str, Any]) -> dict[str, Any] | None:
    product = db.session.get(Product, int(p["product_id"]))
    return None if product is None else {"product": product_data(product)}


def _product_deleted(p: dict[str, Any]) -> dict[str, Any] | None:
    return {"product": {"id": int(p["product_id"])}}


def _stock(p: dict[str, Any]) -> dict[str, Any] | None:
    ids = [int(v) for v in p.get("variant_ids", [])]
    rows = db.session.scalars(
        select(StockLevel)
        .where(StockLevel.variant_id.in_(ids))
        .order_by(StockLevel.variant_id, StockLevel.location_id)
    )
    return {
        "levels": [
            {
                "variant_id": s.variant_id,
                "location_id": s.location_id,
                "on_hand": s.on_hand,
                "available": s.available,
            }
            for s in rows
        ]
    }


def _customer(p: dict[str, Any]) -> dict[str, Any] | None:
    customer = db.session.get(Customer, int(p["customer_id"]))
    if customer is None:
        return None
    return {
        "customer": {
            "id": customer.id,
            "email": customer.email,
            "name": customer.name,
            "created_at": _time(customer.created_at),
        }
    }


Builder = Callable[[dict[str, Any]], dict[str, Any] | None]

# outbox topic -> (webhook topic, or a function of the payload choosing it; the data builder)
SOURCES: dict[str, tuple[str | Callable[[dict[str, Any]], str], Builder]] = {
    "order.placed": ("order.created", _placed),
    "payment.captured": ("order.paid", _paid),
    "order.shipped": ("order.fulfilled", _shipped),
    "order.cancelled": ("order.cancelled", _placed),
    "refund.succeeded": ("order.refunded", _refunded),
    "product.changed": (
        lambda p: "product.created" if p.get("created") else "product.updated",
        _product,
    ),
    "product.deleted": ("product.deleted", _product_deleted),
    "stock.changed": ("inventory.level_changed", _stock),
    "customer.registered": ("customer.created", _customer),
    "return.opened": ("return.opened", _return_opened),
}


def topic_for(event: OutboxEvent) -> str:
    """The webhook topic an outbox event stands for (read before any data: most events have
    no subscriber)."""
    name, _builder = SOURCES[event.topic]
    return name if isinstance(name, str) else name(dict(event.payload or {}))


def build(event: OutboxEvent) -> str | None:
    """The JSON body for an outbox event, or None when it says nothing to send (its subject
    is already gone)."""
    _name, builder = SOURCES[event.topic]
    data = builder(dict(event.payload or {}))
    if data is None:
        return None
    body = {
        "type": topic_for(event),
        "version": VERSION,
        "timestamp": _time(event.created_at),
        "data": data,
    }
    return json.dumps(body, separators=(",", ":"), sort_keys=True)

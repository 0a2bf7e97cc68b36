"""The purchase order as a PDF to send the supplier (WeasyPrint, through the documents'
renderer: the shop's block, page size and the no-network fetcher)."""

from __future__ import annotations

from typing import Any

from flask import current_app

from commerce.documents.render import barcode_uri, html_to_pdf, page_size, shop_identity
from commerce.extensions import db
from commerce.inventory.models import Location
from commerce.money import format_money
from commerce.purchasing.models import PurchaseOrder, SupplierVariant


def purchase_order_html(po: PurchaseOrder) -> str:
    """Straight from the Jinja environment (no request needed: the outbox's sender renders)."""
    return current_app.jinja_env.get_template("documents/purchase_order.html").render(
        shop=shop_identity(), page_size=page_size(), **purchase_order_context(po)
    )


def purchase_order_context(po: PurchaseOrder) -> dict[str, Any]:
    locale = current_app.config["SHOP_LOCALE"]
    codes = {
        link.variant_id: link.supplier_sku
        for link in db.session.query(SupplierVariant).filter(
            SupplierVariant.variant_id.in_([line.variant_id for line in po.lines]),
            SupplierVariant.supplier_id == po.supplier_id,
        )
    }
    lines = [
        {
            "sku": line.variant.sku or "",
            "supplier_sku": codes.get(line.variant_id, ""),
            "title": line.variant.product.title
            + (f" · {line.variant.title}" if line.variant.option_values else ""),
            "quantity": line.quantity,
            "unit_cost": format_money(line.unit_cost, po.currency, locale=locale),
            "total": format_money(line.quantity * line.unit_cost, po.currency, locale=locale),
        }
        for line in po.lines
    ]
    return {
        "po": po,
        "supplier": po.supplier,
        "location": db.session.get(Location, po.location_id),
        "lines": lines,
        "units": sum(line.quantity for line in po.lines),
        "total": format_money(po.total, po.currency, locale=locale),
        "barcode": barcode_uri(po.number or ""),
    }


def purchase_order_pdf(po: PurchaseOrder) -> bytes:
    return html_to_pdf(purchase_order_html(po))

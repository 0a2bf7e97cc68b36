"""The stock page's purchasing panel for one variant: incoming units, average cost, preferred
supplier (console/inventory/stock.py renders it through templates/console/purchasing/)."""

from __future__ import annotations

from typing import Any

from commerce.catalog.models import Product, Variant
from commerce.money import format_money
from commerce.purchasing.queries import (
    IncomingLine,
    all_suppliers,
    incoming_lines,
    incoming_lines_of,
    preferred_suppliers,
)
from console import bp
from console.purchasing.forms import PreferredSupplierForm
from console.purchasing.orders import cost_text


def purchasing_panel(variant: Variant) -> dict[str, Any]:
    link = preferred_suppliers([variant.id]).get(variant.id)
    form = PreferredSupplierForm(formdata=None)
    form.supplier_id.choices = [("", "None")] + [(s.id, s.name) for s in all_suppliers()]
    if link is not None:
        form.supplier_id.data = link.supplier_id
        form.supplier_sku.data = link.supplier_sku
        form.unit_cost.data = (
            cost_text(link.unit_cost, link.supplier.currency) if link.unit_cost is not None else ""
        )
    return {
        "incoming_lines": incoming_lines(variant.id),
        "average_cost": format_money(variant.cost, variant.currency)
        if variant.cost is not None
        else None,
        "supplier_link": link,
        "supplier_form": form,
    }


@bp.app_template_global("product_incoming")
def product_incoming(product: Product) -> list[tuple[str, IncomingLine]]:
    """(SKU, open PO line) for the product editor, in one bounded read."""
    return incoming_lines_of([v.id for v in product.variants])

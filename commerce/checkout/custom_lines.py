"""Custom lines as a checkout stores them: staff-made lines that are no catalog variant.

Only a draft order's checkout carries them (`Checkout.custom_lines`, copied from the draft by
commerce.drafts); the shop's cart has no such column and no form of the shop writes one, so a
shopper can neither add a custom line nor set a price. Each is a dict kept in JSON:
{"key", "title", "unit_price" (minor units), "quantity", "taxable", "requires_shipping"}.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from commerce.pricing import CartLine, CustomItem


def custom_cart_lines(rows: Iterable[dict[str, Any]] | None) -> list[CartLine]:
    """The pricing pipeline's lines for stored custom lines (a malformed row is priced as an
    error by the pipeline, never dropped silently)."""
    lines = []
    for row in rows or ():
        price = row.get("unit_price")
        quantity = row.get("quantity")
        lines.append(
            CartLine(
                None,
                quantity if isinstance(quantity, int) else 0,
                price if isinstance(price, int) else -1,
                CustomItem(
                    key=str(row.get("key") or ""),
                    title=str(row.get("title") or ""),
                    taxable=bool(row.get("taxable", True)),
                    requires_shipping=bool(row.get("requires_shipping", True)),
                ),
            )
        )
    return lines

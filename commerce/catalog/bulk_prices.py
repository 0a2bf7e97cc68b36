"""Bulk price changes: by a percentage or an amount, rounded as merchants like prices (.99,
.95, whole), compare-at prices too; first a preview that says how many variants change and by
how much, then one bulk edit batch (commerce/catalog/bulk_edit.py: audited, undoable, a job
when large)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from commerce.bounds import MAX_PRICE
from commerce.catalog.bulk_edit import (
    PRICE_CHANGE,
    BulkEditBatch,
    PlannedChange,
    apply_changes,
    row_label,
)
from commerce.catalog.models import Variant
from commerce.db import workflow
from commerce.errors import ValidationError
from commerce.extensions import db
from commerce.money import format_amount_plain, format_money, minor_digits, scale_amount

ROUNDINGS = {
    "": "No rounding",
    "99": "End in .99",
    "95": "End in .95",
    "whole": "Whole amounts",
}


def round_price(amount: int, rounding: str, currency: str) -> int:
    """A price rounded as merchants like them: to the nearest amount ending in .99 or .95, or
    to a whole unit; never below zero."""
    if not rounding:
        return amount
    unit = 10 ** minor_digits(currency)
    if unit == 1:
        if rounding in ("99", "95"):
            raise ValidationError(
                f"{currency} prices have no cents to end in .{rounding}.", field="rounding"
            )
        return amount
    if rounding == "whole":
        return int((Decimal(amount) / unit).quantize(Decimal(1), rounding=ROUND_HALF_UP)) * unit
    ending = int(rounding) * unit // 100
    base = amount - amount % unit  # the whole units
    candidates = [c for c in (base - unit + ending, base + ending, base + unit + ending) if c >= 0]
    return min(candidates, key=lambda c: (abs(c - amount), -c))


@dataclass
class PricePreview:
    """What a bulk price change would do, for the confirmation before it runs."""

    changes: list[PlannedChange]
    currency: str
    variants: int = 0
    prices_before: int = 0
    prices_after: int = 0
    smallest: int = 0
    largest: int = 0
    compare_at_changes: int = 0

    @property
    def sentence(self) -> str:
        money = lambda a: format_money(a, self.currency)  # noqa: E731
        if not self.variants:
            return "No variant's price would change."
        change = self.prices_after - self.prices_before
        sign = "+" if change >= 0 else "-"
        one = self.variants == 1
        if self.smallest == self.largest:
            each = f"by {money(self.smallest)}" if one else f"each by {money(self.smallest)}"
        else:
            each = f"each by {money(self.smallest)} to {money(self.largest)}"
        compare = (
            f"; {self.compare_at_changes} compare-at price"
            f"{' changes' if self.compare_at_changes == 1 else 's change'} too"
            if self.compare_at_changes
            else ""
        )
        return (
            f"{self.variants} variant{' changes' if one else 's change'} price {each} "
            f"(together {money(self.prices_before)} → {money(self.prices_after)}, "
            f"{sign}{money(abs(change))}){compare}."
        )


def preview_price_change(
    product_ids: Iterable[int],
    *,
    percent: Decimal | None = None,
    amount: int | None = None,
    rounding: str = "",
    compare_at: bool = False,
) -> PricePreview:
    """The new price (and compare-at price) of every variant of the products, checked; a
    price that would fall below zero or rise above the largest is refused at the value."""
    currency = current_app.config["SHOP_CURRENCY"]
    if rounding not in ROUNDINGS:
        raise ValidationError("Choose a rounding.", field="rounding")
    if (percent is None) == (amount is None):
        raise ValidationError("Give either a percentage or an amount.", field="price_value")
    if percent is not None and (not percent.is_finite() or percent <= -100 or percent > 1000):
        raise ValidationError(
            "Enter a percentage above -100 and at most 1000.", field="price_value"
        )
    ids = sorted({int(i) for i in product_ids})
    if not ids:
        raise ValidationError("Select at least one product.", field="ids")

    def new_amount(old: int, label: str) -> int:
        value = scale_amount(old, percent=percent) if percent is not None else old + (amount or 0)
        value = round_price(value, rounding, currency)
        if value < 0:
            raise ValidationError(f"{label} would get a negative price.", field="price_value")
        if value > MAX_PRICE:
            raise ValidationError(
                f"{label} would get a price above {format_amount_plain(MAX_PRICE, currency)}.",
                field="price_value",
            )
        return value

    preview = PricePreview(changes=[], currency=currency)
    deltas: list[int] = []
    for start in range(0, len(ids), 500):
        variants = db.session.scalars(
            select(Variant)
            .where(Variant.product_id.in_(ids[start : start + 500]))
            .options(joinedload(Variant.product))
            .order_by(Variant.product_id, Variant.position, Variant.id)
        ).all()
        for variant in variants:
            label = row_label(variant)
            price = new_amount(variant.price, label)
            if price != variant.price:
                preview.changes.append(
                    PlannedChange(
                        variant.product_id, variant.id, "price", variant.price, price, label
                    )
                )
                preview.variants += 1
                preview.prices_before += variant.price
                preview.prices_after += price
                deltas.append(price - variant.price)
            if compare_at and variant.compare_at_price is not None:
                compare = new_amount(variant.compare_at_price, label)
                if compare != variant.compare_at_price:
                    preview.changes.append(
                        PlannedChange(
                            variant.product_id,
                            variant.id,
                            "compare_at_price",
                            variant.compare_at_price,
                            compare,
                            label,
                        )
                    )
                    preview.compare_at_changes += 1
    if deltas:
        preview.smallest, preview.largest = min(deltas), max(deltas)
    return preview


@workflow
def change_prices(
    product_ids: Iterable[int],
    *,
    by: Any,
    percent: Decimal | None = None,
    amount: int | None = None,
    rounding: str = "",
    compare_at: bool = False,
) -> BulkEditBatch:
    """The bulk price change, confirmed: one batch (undoable), a job when large."""
    preview = preview_price_change(
        product_ids, percent=percent, amount=amount, rounding=rounding, compare_at=compare_at
    )
    if not preview.changes:
        raise ValidationError("No variant's price would change.", field="price_value")
    change = f"{percent:+}%" if percent is not None else format_money(amount, preview.currency)
    title = f"Price change {change}" + (f", {ROUNDINGS[rounding].lower()}" if rounding else "")
    return apply_changes(preview.changes, by=by, kind=PRICE_CHANGE, title=title)

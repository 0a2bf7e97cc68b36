"""Opening stock from a catalog import: the file's quantities booked at the default location.

The catalog's CSV import (commerce/catalog/csv_import.py) sits below inventory, so it cannot
book stock itself; the app hands it `book_opening_stock` (wsgi.create_app), which runs inside
the import's transaction: an import with an error books nothing."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from commerce.catalog.csv_import import ImportReport
from commerce.catalog.models import Variant
from commerce.errors import NotFound
from commerce.extensions import db
from commerce.inventory.models import StockLevel
from commerce.inventory.services import default_location, receive_stock


def book_opening_stock(
    lines: list[tuple[Variant, int, int]], report: ImportReport, *, by: Any
) -> None:
    """Quantities from the file become opening stock at the default location, booked once
    per variant (a variant that already has stock there keeps it: the ledger rules)."""
    if not lines:
        return
    try:
        location = default_location()
    except NotFound:
        report.notes.append(
            "No stock location exists yet, so inventory quantities were not booked."
        )
        return
    stocked = set(
        db.session.scalars(
            select(StockLevel.variant_id).where(
                StockLevel.location_id == location.id,
                StockLevel.variant_id.in_([v.id for v, _, _ in lines]),
            )
        )
    )
    skipped = 0
    for variant, quantity, row in lines:
        if variant.id in stocked or quantity < 0:
            skipped += 1
            continue
        receive_stock(
            variant.id,
            quantity=quantity,
            by=by,
            location_id=location.id,
            reference="CSV import",
            note=f"Opening stock from row {row}",
            idempotency_key=f"catalog-import:opening:{variant.id}:{location.id}",
        )
        report.stock_units += quantity
    if skipped:
        report.notes.append(
            f"{skipped} inventory quantities were not booked: those variants already have "
            f"stock at {location.name} (or the quantity was negative); use stock adjustments."
        )

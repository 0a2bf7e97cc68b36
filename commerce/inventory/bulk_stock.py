"""Stock cells of the catalog's bulk editor: on hand per location, set through the ledger.

The bulk editor (commerce/catalog/bulk_edit.py) sits below inventory, so the app hands it this
object (wsgi._wire_layers). A cell's new on hand becomes a manual correction in the ledger
(reason "correction", the batch named in its note), never a write of the counter; the cells'
rows are locked in id order first, so a cell whose on hand moved since the grid was loaded is
answered as a conflict instead of being overwritten.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select

from commerce.errors import OutOfStock
from commerce.extensions import db
from commerce.inventory.models import CORRECTION, StockLevel
from commerce.inventory.services import (
    active_locations,
    adjust_stock,
    lock_levels,
    stock_level_for,
)


class BulkStockCells:
    """The StockCells the bulk editor asks for (see its Protocol)."""

    def locations(self) -> list[tuple[int, str]]:
        return [(location.id, location.name) for location in active_locations()]

    def _levels(self, variant_ids: Sequence[int]) -> list[StockLevel]:
        ids = sorted(set(variant_ids))
        rows: list[StockLevel] = []
        for start in range(0, len(ids), 500):
            rows.extend(
                db.session.scalars(
                    select(StockLevel).where(StockLevel.variant_id.in_(ids[start : start + 500]))
                )
            )
        return rows

    def on_hand(self, variant_ids: Sequence[int]) -> dict[tuple[int, int], int]:
        return {(r.variant_id, r.location_id): r.on_hand for r in self._levels(variant_ids)}

    def held(self, variant_ids: Sequence[int]) -> dict[tuple[int, int], int]:
        return {
            (r.variant_id, r.location_id): r.allocated + r.reserved + r.unavailable
            for r in self._levels(variant_ids)
        }

    def set_on_hand(
        self, cells: Sequence[tuple[int, int, int, int]], *, by: Any, note: str
    ) -> dict[tuple[int, int], str]:
        levels = {(v, loc): stock_level_for(v, loc) for v, loc, _, _ in cells}
        locked = lock_levels(level.id for level in levels.values())
        problems: dict[tuple[int, int], str] = {}
        for variant_id, location_id, expected, new in cells:
            level = locked[levels[(variant_id, location_id)].id]
            if level.on_hand != expected:
                problems[(variant_id, location_id)] = (
                    f"Changed since the grid was loaded: {level.on_hand} on hand now."
                )
                continue
            if new == expected:
                continue
            try:
                adjust_stock(
                    variant_id,
                    location_id=location_id,
                    delta=new - expected,
                    reason=CORRECTION,
                    by=by,
                    note=note,
                    reference="Bulk editor",
                )
            except OutOfStock as exc:
                problems[(variant_id, location_id)] = exc.message
        return problems

"""Cycle counts from a CSV file: read and check every line first, then book all or nothing.

`read_count_csv` never changes anything: it resolves each line's SKU (or barcode) and location
code, reports every bad row by its row number, and shows what booking would change.
`book_cycle_count` books every difference as a cycle-count movement in ONE transaction.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import or_, select, tuple_

from commerce.catalog.models import Variant
from commerce.csv_safe import unescape_cell
from commerce.db import service
from commerce.errors import CommerceError, ValidationError
from commerce.extensions import db
from commerce.inventory.models import Location, StockLevel, StockMovement
from commerce.inventory.services import MAX_QUANTITY, set_counted_quantity

MAX_COUNT_BYTES = 2 * 1024 * 1024
MAX_COUNT_LINES = 20_000
REQUIRED_COLUMNS = ("sku", "location", "counted")


@dataclass
class CountLine:
    row: int
    sku: str
    location_code: str
    counted: int
    variant_id: int
    location_id: int
    product_title: str = ""
    variant_title: str = ""
    on_hand: int = 0

    @property
    def difference(self) -> int:
        return self.counted - self.on_hand


@dataclass
class CountRowError:
    row: int
    column: str
    message: str


@dataclass
class CountSheet:
    lines: list[CountLine] = field(default_factory=list)
    errors: list[CountRowError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors and bool(self.lines)

    @property
    def changes(self) -> list[CountLine]:
        return [line for line in self.lines if line.difference]


def _decode(data: bytes) -> str:
    if len(data) > MAX_COUNT_BYTES:
        raise ValidationError("The file is larger than 2 MB; split it.", field="file")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValidationError(
            "The file is not UTF-8 text; save it as CSV UTF-8.", field="file"
        ) from None


def read_count_csv(data: bytes | str) -> CountSheet:
    """Parse and check a count sheet (columns sku, location, counted); changes nothing."""
    text = data if isinstance(data, str) else _decode(data)
    reader = csv.DictReader(io.StringIO(text))
    headers = [(h or "").strip().lower() for h in (reader.fieldnames or [])]
    missing = [c for c in REQUIRED_COLUMNS if c not in headers]
    if missing:
        raise ValidationError(
            "The file needs the columns sku, location and counted (missing: "
            + ", ".join(missing)
            + ").",
            field="file",
        )
    reader.fieldnames = headers
    sheet = CountSheet()
    raw: list[tuple[int, str, str, int]] = []
    for number, cells in enumerate(reader, start=2):  # row 1 is the header
        # our exports quote a cell a spreadsheet would run (csv_safe): read it back as it was
        record = {k: unescape_cell(v) if isinstance(v, str) else v for k, v in cells.items()}
        if number - 1 > MAX_COUNT_LINES:
            raise ValidationError(
                f"At most {MAX_COUNT_LINES:,} lines per file; split it.", field="file"
            )
        sku = (record.get("sku") or "").strip()
        code = (record.get("location") or "").strip()
        counted_text = (record.get("counted") or "").strip()
        if not (sku or code or counted_text):
            continue  # a blank line
        bad = False
        if not sku:
            sheet.errors.append(CountRowError(number, "sku", "Enter a SKU or barcode."))
            bad = True
        if not code:
            sheet.errors.append(CountRowError(number, "location", "Enter a location code."))
            bad = True
        counted = 0
        if not counted_text.lstrip("-").isdigit() or len(counted_text) > 12:
            sheet.errors.append(
                CountRowError(number, "counted", f"“{counted_text}” is not a whole number.")
            )
            bad = True
        else:
            counted = int(counted_text)
            if counted < 0:
                sheet.errors.append(CountRowError(number, "counted", "Cannot be negative."))
                bad = True
            elif counted > MAX_QUANTITY:
                sheet.errors.append(CountRowError(number, "counted", "That is too many units."))
                bad = True
        if not bad:
            raw.append((number, sku, code, counted))
    if not raw and not sheet.errors:
        raise ValidationError("The file has no count lines.", field="file")

    codes = {code.lower() for _, _, code, _ in raw}
    locations = {
        loc.code.lower(): loc
        for loc in db.session.scalars(select(Location).where(Location.code.in_(_cased(codes))))
    }
    if len(locations) < len(codes):  # codes typed in another case
        for loc in db.session.scalars(select(Location)):
            locations.setdefault(loc.code.lower(), loc)
    skus = {sku for _, sku, _, _ in raw}
    variants: dict[str, Variant] = {}
    for start in range(0, len(skus), 500):
        chunk = list(skus)[start : start + 500]
        for variant in db.session.scalars(
            select(Variant).where(or_(Variant.sku.in_(chunk), Variant.barcode.in_(chunk)))
        ):
            if variant.sku:
                variants.setdefault(variant.sku, variant)
            if variant.barcode:
                variants.setdefault(variant.barcode, variant)

    seen: dict[tuple[int, int], int] = {}
    for number, sku, code, counted in raw:
        variant = variants.get(sku)
        location = locations.get(code.lower())
        if variant is None:
            sheet.errors.append(
                CountRowError(number, "sku", f"No variant has SKU or barcode “{sku}”.")
            )
        if location is None:
            sheet.errors.append(
                CountRowError(number, "location", f"No location has code “{code}”.")
            )
        if variant is None or location is None:
            continue
        pair = (variant.id, location.id)
        if pair in seen:
            sheet.errors.append(
                CountRowError(
                    number,
                    "sku",
                    f"{sku} at {location.code} is already counted on row {seen[pair]}.",
                )
            )
            continue
        seen[pair] = number
        sheet.lines.append(
            CountLine(
                row=number,
                sku=variant.sku or sku,
                location_code=location.code,
                counted=counted,
                variant_id=variant.id,
                location_id=location.id,
                product_title=variant.product.title,
                variant_title=variant.title,
            )
        )
    _fill_on_hand(sheet.lines)
    sheet.errors.sort(key=lambda e: (e.row, e.column))
    return sheet


def _cased(codes: set[str]) -> list[str]:
    return sorted(codes | {c.upper() for c in codes})


def _fill_on_hand(lines: list[CountLine]) -> None:
    pairs = [(line.variant_id, line.location_id) for line in lines]
    on_hand: dict[tuple[int, int], int] = {}
    for start in range(0, len(pairs), 500):
        chunk = pairs[start : start + 500]
        for variant_id, location_id, units in db.session.execute(
            select(StockLevel.variant_id, StockLevel.location_id, StockLevel.on_hand).where(
                tuple_(StockLevel.variant_id, StockLevel.location_id).in_(chunk)
            )
        ):
            on_hand[(variant_id, location_id)] = units
    for line in lines:
        line.on_hand = on_hand.get((line.variant_id, line.location_id), 0)


@service
def book_cycle_count(
    lines: Sequence[CountLine], *, by: Any, reference: str = ""
) -> list[StockMovement]:
    """Book every counted quantity in ONE transaction: all lines, or none.

    Each line goes through `set_counted_quantity` (a cycle-count movement for its difference).
    A line that cannot be booked (units promised to orders, say) is reported by its row and
    nothing is booked.
    """
    if not lines:
        raise ValidationError("There is nothing to book.", field="file")
    movements: list[StockMovement] = []
    errors: dict[str, list[str]] = {}
    # A stable order (variant, location) so two count books never lock levels crosswise.
    for line in sorted(lines, key=lambda item: (item.variant_id, item.location_id)):
        try:
            movement = set_counted_quantity(
                line.variant_id,
                location_id=line.location_id,
                counted=line.counted,
                by=by,
                reference=reference,
            )
        except CommerceError as exc:
            errors.setdefault(f"row {line.row}", []).append(exc.message)
            continue
        if movement is not None:
            movements.append(movement)
    if errors:
        raise ValidationError(
            f"Nothing was booked: {len(errors)} line(s) cannot be booked.", errors=errors
        )
    return movements

"""The bulk editor: many variants' cells changed as one audited batch, and undone as one.

A batch is planned before anything is written: every cell is parsed and checked (money by the
shop's currency, a decimal comma refused as the CSV import refuses it), and every cell whose
value changed since the grid was loaded is a conflict. Any problem refuses the whole batch with
a message per cell. The changes are then applied by conditional UPDATEs (`WHERE price IS NOT
DISTINCT FROM <the value the grid showed>`), so a change made meanwhile is never overwritten.

Small batches apply in one transaction. A batch over BULK_EDIT_JOB_VARIANTS variants runs as a
job (commerce/jobs.py) that commits in chunks, so other staff are never blocked for long; a
cell changed by someone else between the plan and its chunk is skipped and said so. Either way
there is one batch record, with each cell's before and after, and it can be undone: the undo is
a batch of its own (the stock through compensating ledger movements), refused when a cell was
changed since.

Stock sits above the catalog (commerce/inventory), so the app hands in its part through
`app.extensions[STOCK]` (wsgi._wire_layers; commerce/inventory/bulk_stock.py).
"""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from flask import current_app
from sqlalchemy import JSON, ForeignKey, Index, String, Text, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, joinedload, mapped_column, relationship

from commerce import audit
from commerce.bounds import INT_MAX, MAX_PRICE, MAX_WEIGHT_GRAMS
from commerce.catalog.models import ACTIVE, PRODUCT_STATUSES, Product, Variant
from commerce.catalog.services import product_changed, refresh_price_range
from commerce.catalog.text import check_barcode, check_sku
from commerce.db import in_transaction, transaction, utcnow, workflow
from commerce.errors import CommerceError, NotFound, ValidationError
from commerce.extensions import db
from commerce.jobs import create_job, finish_job, get_job, queue_job, report_progress
from commerce.money import (
    format_amount_plain,
    format_money,
    parse_amount,
)

log = logging.getLogger(__name__)

KIND = "bulk_edit"
STOCK = "commerce.catalog.bulk_edit.stock"  # app.extensions key: the inventory's StockCells
CHUNK = 200  # changes per transaction in a job
MAX_GRID_VARIANTS = 1000  # rows one grid shows (narrow the filter for more)

APPLYING, APPLIED, UNDONE, FAILED = "applying", "applied", "undone", "failed"
PENDING, DONE, SKIPPED = "pending", "applied", "skipped"
GRID, PRICE_CHANGE, UNDO = "grid", "price_change", "undo"

COLUMNS = {
    "price": "Price",
    "compare_at_price": "Compare-at price",
    "sku": "SKU",
    "barcode": "Barcode",
    "weight_grams": "Weight (g)",
    "status": "Status",
}
MONEY = ("price", "compare_at_price")
STOCK_COLUMN = "stock"
# A comma that is not a thousands separator ("50,00", "1,5"): a decimal comma, refused.
_GROUPED = re.compile(r"^-?\d{1,3}(,\d{3})+(\.\d+)?$")
_WHOLE = re.compile(r"^\d{1,9}$")


# -- the tables ---------------------------------------------------------------------------------


class BulkEditBatch(db.Model):
    """One save of the bulk editor (or one bulk price change, or the undo of either)."""

    __tablename__ = "bulk_edit_batch"
    audit_type = "bulk_edit"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), default=GRID)
    title: Mapped[str] = mapped_column(String(255), default="")
    status: Mapped[str] = mapped_column(String(20), default=APPLYING)
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_member.id", ondelete="SET NULL")
    )
    created_by_label: Mapped[str] = mapped_column(String(255), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
    change_count: Mapped[int] = mapped_column(default=0)
    variant_count: Mapped[int] = mapped_column(default=0)
    job_id: Mapped[str | None] = mapped_column(String(36))
    # The batch this one undid, and the batch that undid this one.
    undo_of_id: Mapped[int | None] = mapped_column(
        ForeignKey("bulk_edit_batch.id", ondelete="SET NULL")
    )
    undone_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("bulk_edit_batch.id", ondelete="SET NULL")
    )
    message: Mapped[str] = mapped_column(Text, default="")

    changes: Mapped[list[BulkEditChange]] = relationship(
        back_populates="batch",
        order_by="BulkEditChange.id",
        cascade="all, delete-orphan",
        lazy="select",
    )

    @property
    def audit_label(self) -> str:
        return f"Bulk edit #{self.id}"

    @property
    def can_undo(self) -> bool:
        """Applied (or stopped partway), and not undone yet."""
        return self.status in (APPLIED, FAILED) and self.undone_by_id is None


class BulkEditChange(db.Model):
    """One cell of a batch: what it held before and what it was set to."""

    __tablename__ = "bulk_edit_change"
    __table_args__ = (Index("ix_bulk_edit_change_batch", "batch_id", "state"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("bulk_edit_batch.id", ondelete="CASCADE"))
    product_id: Mapped[int]
    variant_id: Mapped[int | None]  # None for a product's own column (status)
    location_id: Mapped[int | None]  # for stock
    column: Mapped[str] = mapped_column(String(40))
    label: Mapped[str] = mapped_column(String(255), default="")  # the row, as people read it
    before: Mapped[Any] = mapped_column(JSON, nullable=True)
    after: Mapped[Any] = mapped_column(JSON, nullable=True)
    state: Mapped[str] = mapped_column(String(12), default=PENDING)
    note: Mapped[str] = mapped_column(Text, default="")

    batch: Mapped[BulkEditBatch] = relationship(back_populates="changes")


# -- the stock port -----------------------------------------------------------------------------


class StockCells(Protocol):
    """What the bulk editor asks of inventory (commerce/inventory/bulk_stock.py)."""

    def locations(self) -> list[tuple[int, str]]:
        """Active locations: (id, name), in the order the grid shows them."""
        ...

    def on_hand(self, variant_ids: Sequence[int]) -> dict[tuple[int, int], int]:
        """(variant id, location id) -> units on hand (missing: none booked)."""
        ...

    def held(self, variant_ids: Sequence[int]) -> dict[tuple[int, int], int]:
        """(variant id, location id) -> units allocated or reserved (cannot be removed)."""
        ...

    def set_on_hand(
        self, cells: Sequence[tuple[int, int, int, int]], *, by: Any, note: str
    ) -> dict[tuple[int, int], str]:
        """Set on hand for (variant, location, expected, new) by adjustments through the
        ledger, under row locks taken in id order; a cell whose on hand is no longer
        `expected`, or that cannot drop that far, is left as it is and answered with its
        message: (variant id, location id) -> message."""
        ...


def stock_cells() -> StockCells:
    return current_app.extensions[STOCK]


# -- cells as people type them ------------------------------------------------------------------


@dataclass(frozen=True)
class CellEdit:
    """One cell the grid sent: `row` is the variant's id (the product's for status), `was`
    the text the grid showed when it was loaded, `value` the text now in it."""

    row: int
    column: str
    was: str
    value: str
    location_id: int | None = None

    @property
    def key(self) -> str:
        return cell_key(self.row, self.column, self.location_id)


def cell_key(row: int, column: str, location_id: int | None = None) -> str:
    """The cell's name in the grid's form and in error paths: v12-price, p3-status, v12-stock-4."""
    if column == STOCK_COLUMN:
        return f"v{row}-stock-{location_id}"
    return f"{'p' if column == 'status' else 'v'}{row}-{column}"


_KEY_RE = re.compile(
    r"^(?:v(\d{1,10})-(price|compare_at_price|sku|barcode|weight_grams)"
    r"|p(\d{1,10})-(status)|v(\d{1,10})-stock-(\d{1,10}))$"
)


def parse_cell_key(key: str) -> tuple[int, str, int | None] | None:
    """(row, column, location id) from a cell's name, or None when it is not one."""
    match = _KEY_RE.match(key)
    if not match:
        return None
    v, vcol, p, pcol, s, loc = match.groups()
    row, column, location = (
        (v, vcol, None) if v else (p, pcol, None) if p else (s, STOCK_COLUMN, loc)
    )
    if int(row) > INT_MAX or (location is not None and int(location) > INT_MAX):
        return None  # no such row: a number that large would overflow the query
    return int(row), column, None if location is None else int(location)


def cell_text(column: str, value: Any, currency: str) -> str:
    """A value as the grid shows it (and sends back as `was`)."""
    if value is None:
        return ""
    if column in MONEY:
        return format_amount_plain(value, currency)
    return str(value)


def cell_words(column: str, value: Any, currency: str, locale: str = "en_US") -> str:
    """A value as the batch page and the audit log say it."""
    if value is None or value == "":
        return "(blank)"
    if column in MONEY:
        return format_money(value, currency, locale=locale)
    if column == "status":
        return str(value).capitalize()
    return str(value)


def read_amount(text: str, currency: str, *, field: str) -> int:
    """Money as typed, by our money helpers; a decimal comma ("50,00") is ambiguous and
    refused, as the CSV import refuses it."""
    if "," in text and not _GROUPED.match(text.strip()):
        raise ValidationError(
            f"“{text}” is ambiguous: write amounts with a decimal point (like 50.00), "
            "with commas only between thousands (1,250.00).",
            field=field,
        )
    return parse_amount(text, currency, field=field)


def _parse(column: str, text: str, currency: str, key: str) -> Any:
    """A cell's text -> its typed value (ValidationError at the cell)."""
    text = (text or "").strip()
    if column == "price":
        if not text:
            raise ValidationError("Enter a price.", field=key)
        value = read_amount(text, currency, field=key)
    elif column == "compare_at_price":
        if not text:
            return None
        value = read_amount(text, currency, field=key)
    elif column == "sku":
        return check_sku(text, field=key)
    elif column == "barcode":
        return check_barcode(text, field=key)
    elif column == "status":
        status = text.lower()
        if status not in PRODUCT_STATUSES:
            raise ValidationError("Status is draft, active or archived.", field=key)
        return status
    elif column == "weight_grams":
        if not text:
            return None
        if not _WHOLE.match(text) or int(text) > MAX_WEIGHT_GRAMS:
            raise ValidationError(f"Enter whole grams from 0 to {MAX_WEIGHT_GRAMS:,}.", field=key)
        return int(text)
    elif column == STOCK_COLUMN:
        if not _WHOLE.match(text) or int(text) > 1_000_000:
            raise ValidationError("Enter a whole number of units from 0 to 1,000,000.", field=key)
        return int(text)
    else:  # pragma: no cover - parse_cell_key only lets known columns through
        raise ValidationError("Not a column of the bulk editor.", field=key)
    if value < 0:
        raise ValidationError("A price cannot be negative.", field=key)
    if value > MAX_PRICE:
        raise ValidationError(
            f"A price is at most {format_amount_plain(MAX_PRICE, currency)}.", field=key
        )
    return value


# -- planning -----------------------------------------------------------------------------------


@dataclass
class PlannedChange:
    """A cell to change: from `before` (what it must still hold) to `after`."""

    product_id: int
    variant_id: int | None
    column: str
    before: Any
    after: Any
    label: str
    location_id: int | None = None

    @property
    def key(self) -> str:
        row = self.product_id if self.column == "status" else self.variant_id
        return cell_key(row or 0, self.column, self.location_id)


def row_label(variant: Variant) -> str:
    product = variant.product
    title = (
        product.title if variant.title == "Default Title" else f"{product.title} / {variant.title}"
    )
    return f"{title} ({variant.sku})" if variant.sku else title


def _load_variants(ids: Iterable[int]) -> dict[int, Variant]:
    ids = sorted(set(ids))
    found: dict[int, Variant] = {}
    for start in range(0, len(ids), 500):
        for variant in db.session.scalars(
            select(Variant)
            .where(Variant.id.in_(ids[start : start + 500]))
            .options(joinedload(Variant.product))
        ):
            found[variant.id] = variant
    return found


def _load_products(ids: Iterable[int], *, fresh: bool = False) -> dict[int, Product]:
    """`fresh`: read again rows the session holds (after this module's own UPDATEs)."""
    ids = sorted(set(ids))
    found: dict[int, Product] = {}
    for start in range(0, len(ids), 500):
        for product in db.session.scalars(
            select(Product)
            .where(Product.id.in_(ids[start : start + 500]))
            .execution_options(populate_existing=fresh)
        ):
            found[product.id] = product
    return found


def plan_grid_edits(edits: Sequence[CellEdit], *, stock_allowed: bool) -> list[PlannedChange]:
    """Every cell parsed and checked against what the database holds now: the changes to
    make, or one ValidationError naming each bad or conflicting cell (nothing is written)."""
    currency = current_app.config["SHOP_CURRENCY"]
    errors: dict[Any, list[str]] = {}
    variants = _load_variants(e.row for e in edits if e.column != "status")
    products = _load_products(e.row for e in edits if e.column == "status")
    stock_ids = sorted({e.row for e in edits if e.column == STOCK_COLUMN})
    on_hand = stock_cells().on_hand(stock_ids) if stock_ids else {}
    held = stock_cells().held(stock_ids) if stock_ids else {}
    locations = dict(stock_cells().locations()) if stock_ids else {}
    planned: list[PlannedChange] = []
    new_skus: dict[str, str] = {}
    for edit in edits:
        key = edit.key
        try:
            if edit.column == "status":
                product = products.get(edit.row)
                if product is None:
                    raise ValidationError("This product was deleted; reload the grid.", field=key)
                current, label = product.status, product.title
                product_id, variant_id = product.id, None
            else:
                variant = variants.get(edit.row)
                if variant is None:
                    raise ValidationError("This variant was deleted; reload the grid.", field=key)
                label, product_id, variant_id = row_label(variant), variant.product_id, variant.id
                if edit.column == STOCK_COLUMN:
                    if not stock_allowed:
                        raise ValidationError("You may not change stock.", field=key)
                    if edit.location_id not in locations:
                        raise ValidationError(
                            "No such active location; reload the grid.", field=key
                        )
                    current = on_hand.get((variant.id, edit.location_id), 0)
                    label = f"{label} @ {locations[edit.location_id]}"
                else:
                    current = getattr(variant, edit.column)
            was = _parse(edit.column, edit.was, currency, key) if edit.was.strip() else None
            if edit.column == "price" and not edit.was.strip():
                was = None
            if edit.column == STOCK_COLUMN and was is None:
                was = 0
            value = _parse(edit.column, edit.value, currency, key)
        except ValidationError as exc:
            for path, messages in exc.errors.items():
                errors.setdefault(path or key, []).extend(messages)
            continue
        if value == was:
            continue  # not changed in the grid (whatever happened to it meanwhile)
        if current != was:
            errors.setdefault(key, []).append(
                "Changed since the grid was loaded: it is now "
                f"{cell_words(edit.column, current, currency)}. Reload to see it."
            )
            continue
        if value == current:
            continue
        if edit.column == STOCK_COLUMN and value < current:
            floor = held.get((variant_id, edit.location_id), 0)
            if value < floor:
                errors.setdefault(key, []).append(
                    f"{floor} units here are held for orders or not for sale: on hand cannot go "
                    f"below {floor}."
                )
                continue
        if edit.column == "sku" and value is not None:
            if value in new_skus:
                errors.setdefault(key, []).append(
                    f"SKU “{value}” is given to two variants in this batch."
                )
                continue
            new_skus[value] = key
        planned.append(
            PlannedChange(
                product_id=product_id,
                variant_id=variant_id,
                column=edit.column,
                before=current,
                after=value,
                label=label,
                location_id=edit.location_id,
            )
        )
    if new_skus:
        taken = _skus_in_use(list(new_skus))
        for sku, holder in taken.items():
            errors.setdefault(new_skus[sku], []).append(f"SKU “{sku}” is already used by {holder}.")
    if errors:
        count = len(errors)
        raise ValidationError(
            f"Nothing was saved: {count} cell{'s' if count != 1 else ''} "
            f"need{'s' if count == 1 else ''} attention.",
            errors=errors,
        )
    return planned


def _skus_in_use(skus: list[str]) -> dict[str, str]:
    """SKU -> the variant holding it now, for the SKUs a batch would give. A swap inside one
    batch is refused too: the unique index would trip over it halfway."""
    taken: dict[str, str] = {}
    for start in range(0, len(skus), 500):
        for variant in db.session.scalars(
            select(Variant)
            .where(Variant.sku.in_(skus[start : start + 500]))
            .options(joinedload(Variant.product))
        ):
            taken[variant.sku or ""] = row_label(variant)
    return taken


# -- applying -----------------------------------------------------------------------------------


def _job_threshold() -> int:
    return int(current_app.config.get("BULK_EDIT_JOB_VARIANTS", 300))


def _touched_variants(changes: Sequence[PlannedChange]) -> int:
    return len({(c.variant_id, c.product_id if c.variant_id is None else None) for c in changes})


@workflow
def apply_changes(
    changes: Sequence[PlannedChange],
    *,
    by: Any,
    kind: str = GRID,
    title: str = "",
    undo_of: BulkEditBatch | None = None,
) -> BulkEditBatch:
    """Record the batch and apply it: in this request when small (any conflict found on the
    way refuses it all), as a job committing in chunks when over BULK_EDIT_JOB_VARIANTS."""
    if not changes:
        raise ValidationError("Nothing to save: no cell was changed.")
    variants = _touched_variants(changes)
    as_job = variants > _job_threshold()
    with transaction():
        batch = BulkEditBatch(
            kind=kind,
            title=title or f"{len(changes)} cells of {variants} variants",
            status=APPLYING,
            created_by_id=getattr(by, "id", None),
            created_by_label=getattr(by, "email", None) or "system",
            created_at=utcnow(),
            change_count=len(changes),
            variant_count=variants,
            undo_of_id=undo_of.id if undo_of is not None else None,
        )
        db.session.add(batch)
        rows = [
            BulkEditChange(
                product_id=c.product_id,
                variant_id=c.variant_id,
                location_id=c.location_id,
                column=c.column,
                label=c.label[:255],
                before=c.before,
                after=c.after,
                state=PENDING,
            )
            for c in changes
        ]
        batch.changes.extend(rows)
        db.session.flush()
        if undo_of is not None:
            # Claimed now, so two undos of one batch cannot both run.
            claimed = db.session.execute(
                update(BulkEditBatch)
                .where(BulkEditBatch.id == undo_of.id, BulkEditBatch.undone_by_id.is_(None))
                .values(undone_by_id=batch.id)
                .execution_options(synchronize_session=False)
            ).rowcount
            if claimed != 1:
                raise ValidationError("This batch was undone already.")
        if as_job:
            job = create_job(
                KIND,
                title=batch.title,
                params={"batch_id": batch.id},
                by=by,
            )
            job.total = len(rows)
            batch.job_id = job.id
        else:
            _apply_chunk(batch, rows, by=by, strict=True)
            _finish_batch(batch, by=by)
    if as_job:
        queue_job(job)
        db.session.refresh(batch)
    return batch


def _apply_chunk(
    batch: BulkEditBatch, rows: Sequence[BulkEditChange], *, by: Any, strict: bool
) -> None:
    """Apply some of a batch's cells inside the caller's transaction. `strict`: a cell that no
    longer holds its before-value refuses the whole batch (ValidationError per cell); else it
    is skipped with a note. The stock cells go last (their row locks are held shortest)."""
    currency = current_app.config["SHOP_CURRENCY"]
    problems: dict[str, list[str]] = {}
    by_variant: dict[int, list[BulkEditChange]] = defaultdict(list)
    statuses: list[BulkEditChange] = []
    stock: list[BulkEditChange] = []
    for row in rows:
        if row.column == "status":
            statuses.append(row)
        elif row.column == STOCK_COLUMN:
            stock.append(row)
        else:
            by_variant[row.variant_id or 0].append(row)
    changed_products: set[int] = set()
    priced_products: set[int] = set()

    def conflict(row: BulkEditChange, now: Any) -> None:
        message = (
            f"Changed since the grid was loaded: it is now {cell_words(row.column, now, currency)}."
        )
        problems.setdefault(_key_of(row), []).append(message)
        row.state, row.note = SKIPPED, message

    for variant_id, cells in sorted(by_variant.items()):
        with db.session.no_autoflush:  # audit rows wait for the end, not one flush per UPDATE
            _update_variant(batch, variant_id, cells, by=by, conflict=conflict, problems=problems)
        if all(cell.state == DONE for cell in cells):
            changed_products.add(cells[0].product_id)
            if any(cell.column == "price" for cell in cells):
                priced_products.add(cells[0].product_id)
    for cell in statuses:
        values: dict[str, Any] = {"status": cell.after, "updated_at": utcnow()}
        count = db.session.execute(
            update(Product)
            .where(Product.id == cell.product_id, Product.status == cell.before)
            .values(**values)
            .execution_options(synchronize_session=False)
        ).rowcount
        if count == 1:
            if cell.after == ACTIVE:
                db.session.execute(
                    update(Product)
                    .where(Product.id == cell.product_id, Product.published_at.is_(None))
                    .values(published_at=utcnow())
                    .execution_options(synchronize_session=False)
                )
            cell.state = DONE
            changed_products.add(cell.product_id)
            audit.record(
                by,
                "product.bulk_edit",
                subject_type="product",
                subject_id=cell.product_id,
                subject_label=cell.label,
                before={"status": cell.before},
                after={"status": cell.after, "batch": f"Bulk edit #{batch.id}"},
            )
        else:
            product = db.session.get(Product, cell.product_id, populate_existing=True)
            conflict(cell, product.status if product is not None else None)
    if problems and strict:
        raise ValidationError(_refusal(len(problems)), errors=dict(problems))
    if changed_products:
        for product in _load_products(changed_products, fresh=True).values():
            if product.id in priced_products:
                refresh_price_range(product)
            product_changed(product)
    if stock:
        answers = stock_cells().set_on_hand(
            [(c.variant_id or 0, c.location_id or 0, c.before, c.after) for c in stock],
            by=by,
            note=f"Bulk editor, batch #{batch.id}",
        )
        for cell in stock:
            message = answers.get((cell.variant_id or 0, cell.location_id or 0))
            if message:
                problems.setdefault(_key_of(cell), []).append(message)
                cell.state, cell.note = SKIPPED, message
            else:
                cell.state = DONE
        if problems and strict:
            raise ValidationError(_refusal(len(problems)), errors=dict(problems))


def _update_variant(
    batch: BulkEditBatch,
    variant_id: int,
    cells: Sequence[BulkEditChange],
    *,
    by: Any,
    conflict: Any,
    problems: dict[str, list[str]],
) -> None:
    """One conditional UPDATE of a variant's cells: it changes the row only while every cell
    still holds its before-value; else each cell is marked as it should be."""
    stmt = update(Variant).where(Variant.id == variant_id)
    for cell in cells:
        stmt = stmt.where(getattr(Variant, cell.column).is_not_distinct_from(cell.before))
    values = {cell.column: cell.after for cell in cells}
    statement = stmt.values(**values, updated_at=utcnow()).execution_options(
        synchronize_session=False
    )
    try:
        if "sku" in values:  # a SKU taken meanwhile trips the unique index: this row only
            with db.session.begin_nested():
                count = db.session.execute(statement).rowcount
        else:
            count = db.session.execute(statement).rowcount
    except IntegrityError:
        for cell in cells:
            if cell.column == "sku":
                message = f"SKU “{cell.after}” was taken by another variant meanwhile."
                problems.setdefault(_key_of(cell), []).append(message)
                cell.state, cell.note = SKIPPED, message
            else:
                cell.state, cell.note = SKIPPED, "Not changed: its row's SKU could not be."
        count = -1
    if count == 1:
        for cell in cells:
            cell.state = DONE
        audit.record(
            by,
            "variant.bulk_edit",
            subject_type="variant",
            subject_id=variant_id,
            subject_label=cells[0].label,
            before={cell.column: cell.before for cell in cells},
            after={
                **{cell.column: cell.after for cell in cells},
                "batch": f"Bulk edit #{batch.id}",
            },
        )
    elif count == 0:
        variant = db.session.get(Variant, variant_id, populate_existing=True)
        for cell in cells:
            now = getattr(variant, cell.column) if variant is not None else None
            if variant is None or now != cell.before:
                conflict(cell, now)
            else:
                # Its neighbours conflicted: this one is left as it is too.
                cell.state, cell.note = SKIPPED, "Not changed: another cell of its row was."


def _refusal(count: int) -> str:
    return (
        f"Nothing was saved: {count} cell{'s' if count != 1 else ''} "
        f"changed meanwhile or could not be set."
    )


def _key_of(row: BulkEditChange) -> str:
    if row.column == "status":
        return cell_key(row.product_id, "status")
    return cell_key(row.variant_id or 0, row.column, row.location_id)


def _finish_batch(batch: BulkEditBatch, *, by: Any) -> None:
    """The batch's own audit entry, in words, and its final state."""
    currency = current_app.config["SHOP_CURRENCY"]
    applied = [c for c in batch.changes if c.state == DONE]
    skipped = [c for c in batch.changes if c.state == SKIPPED]
    batch.status = APPLIED
    batch.finished_at = utcnow()
    batch.message = (
        f"{len(applied)} cells changed"
        + (f", {len(skipped)} skipped (changed meanwhile)" if skipped else "")
        + "."
    )
    if batch.undo_of_id:
        original = db.session.get(BulkEditBatch, batch.undo_of_id)
        if original is not None:
            original.status = UNDONE
    sample = [
        f"{c.label}: {COLUMNS.get(c.column, 'Stock')} {cell_words(c.column, c.before, currency)}"
        f" → {cell_words(c.column, c.after, currency)}"
        for c in applied[:20]
    ]
    audit.record(
        by,
        "bulk_edit.undo" if batch.kind == UNDO else "bulk_edit.apply",
        batch,
        after={
            "title": batch.title,
            "outcome": batch.message,
            "changes": sample + ([f"… and {len(applied) - 20} more"] if len(applied) > 20 else []),
            **({"undoes": f"Bulk edit #{batch.undo_of_id}"} if batch.undo_of_id else {}),
        },
    )


# -- the job ------------------------------------------------------------------------------------


def run_bulk_edit_job(job_id: str) -> None:
    """Apply a large batch chunk by chunk, each its own short transaction; a cell changed by
    someone else meanwhile is skipped and noted. Never raises: the outcome goes on the job.

    It applies the batch's pending cells only, so a run after a worker died ("Run again" on the
    job) carries on where the last committed chunk ended."""
    job = get_job(job_id)
    batch_id = int(job.params["batch_id"])
    from commerce.staff.models import StaffMember

    by = db.session.get(StaffMember, job.created_by_id) if job.created_by_id else None
    try:
        with transaction():
            batch = get_batch(batch_id)
            batch.status, batch.job_id = APPLYING, job_id
            if batch.undone_by_id is not None:  # undone while stopped: the rest stays undone
                db.session.execute(
                    update(BulkEditChange)
                    .where(BulkEditChange.batch_id == batch_id, BulkEditChange.state == PENDING)
                    .values(state=SKIPPED, note="Not applied: the batch was undone first.")
                    .execution_options(synchronize_session=False)
                )
        total = db.session.scalar(
            select(func.count())
            .select_from(BulkEditChange)
            .where(BulkEditChange.batch_id == batch_id)
        )
        done = total - _pending_count(batch_id)
        report_progress(job_id, done=done, total=total, message="Saving…")
        while True:
            with transaction():
                batch = db.session.get(BulkEditBatch, batch_id)
                rows = db.session.scalars(
                    select(BulkEditChange)
                    .where(BulkEditChange.batch_id == batch_id, BulkEditChange.state == PENDING)
                    .order_by(BulkEditChange.variant_id, BulkEditChange.id)
                    .limit(CHUNK)
                ).all()
                if not rows:
                    _finish_batch(batch, by=by)
                    break
                _apply_chunk(batch, rows, by=by, strict=False)
            done += len(rows)
            report_progress(job_id, done=done, total=total, message=f"{done:,} of {total:,} cells")
    except Exception as exc:
        log.exception("bulk edit job %s failed", job_id)
        if not in_transaction():
            db.session.rollback()
        mark_batch_stopped(job_id)
        reason = exc.message if isinstance(exc, CommerceError) else "an unexpected error"
        finish_job(
            job_id,
            result={"ok": False, "batch_id": batch_id},
            failed=True,
            retryable=not isinstance(exc, CommerceError),
            message=f"Stopped: {reason.rstrip('.')}.",
        )
        return
    batch = db.session.get(BulkEditBatch, batch_id)
    finish_job(job_id, result={"ok": True, "batch_id": batch_id}, message=batch.message)


def mark_batch_stopped(job_id: str) -> None:
    """The job of a batch stopped partway (an error, or its worker died): the batch says so;
    the cells applied so far stay, and can be undone, or the job run again for the rest."""
    with transaction():
        batch = db.session.scalar(select(BulkEditBatch).where(BulkEditBatch.job_id == job_id))
        if batch is not None and batch.status == APPLYING:
            batch.status = FAILED
            batch.finished_at = utcnow()
            batch.message = (
                "Stopped partway: the cells applied so far stay. Run the job again for the "
                "rest, or undo what was applied."
            )


def _pending_count(batch_id: int) -> int:
    return db.session.scalar(
        select(func.count())
        .select_from(BulkEditChange)
        .where(BulkEditChange.batch_id == batch_id, BulkEditChange.state == PENDING)
    )


# -- the verbs the console calls ----------------------------------------------------------------


@workflow
def save_grid(edits: Sequence[CellEdit], *, by: Any, stock_allowed: bool) -> BulkEditBatch:
    """The bulk editor's Save: plan every cell (ValidationError per cell, nothing written),
    then apply them as one batch."""
    changes = plan_grid_edits(edits, stock_allowed=stock_allowed)
    if not changes:
        raise ValidationError("Nothing to save: no cell was changed.")
    return apply_changes(changes, by=by, kind=GRID)


def get_batch(batch_id: int) -> BulkEditBatch:
    batch = db.session.get(BulkEditBatch, batch_id)
    if batch is None:
        raise NotFound("No such bulk edit.")
    return batch


def recent_batches(limit: int = 50) -> list[BulkEditBatch]:
    return list(
        db.session.scalars(select(BulkEditBatch).order_by(BulkEditBatch.id.desc()).limit(limit))
    )


@workflow
def undo_batch(batch_id: int, *, by: Any) -> BulkEditBatch:
    """Restore a batch's before-values as a new batch; refused, naming the cells, when any
    was changed since by someone else (the stock by compensating ledger movements)."""
    batch = get_batch(batch_id)
    if batch.undone_by_id is not None:
        raise ValidationError("This batch was undone already.")
    if batch.status not in (APPLIED, FAILED):
        raise ValidationError("This batch is still being applied; undo it when it is done.")
    applied = [c for c in batch.changes if c.state == DONE]
    if not applied:
        raise ValidationError("Nothing of this batch was applied, so there is nothing to undo.")
    currency = current_app.config["SHOP_CURRENCY"]
    now = _current_values(applied)
    changed = [c for c in applied if now.get(c.id, _GONE) != c.after]
    if changed:
        lines = [
            f"{COLUMNS.get(c.column, 'Stock')} of {c.label} is now "
            f"{_now_words(c, now, currency)}{_changed_by(c, batch)}"
            for c in changed[:10]
        ]
        more = f" … and {len(changed) - 10} more." if len(changed) > 10 else ""
        raise ValidationError(
            f"Not undone: {len(changed)} cell{'s' if len(changed) != 1 else ''} changed since "
            f"this batch: " + "; ".join(lines) + "." + more,
            cells=[_key_of(c) for c in changed],
        )
    reverse = [
        PlannedChange(
            product_id=c.product_id,
            variant_id=c.variant_id,
            column=c.column,
            before=c.after,
            after=c.before,
            label=c.label,
            location_id=c.location_id,
        )
        for c in applied
    ]
    return apply_changes(
        reverse, by=by, kind=UNDO, title=f"Undo of bulk edit #{batch.id}", undo_of=batch
    )


_GONE: Any = object()


def _now_words(change: BulkEditChange, now: dict[int, Any], currency: str) -> str:
    value = now.get(change.id, _GONE)
    return "deleted" if value is _GONE else cell_words(change.column, value, currency)


def _current_values(rows: Sequence[BulkEditChange]) -> dict[int, Any]:
    """Each change's cell as it is now (missing: the row was deleted)."""
    variants = _load_variants(c.variant_id for c in rows if c.variant_id)
    products = _load_products(c.product_id for c in rows if c.column == "status")
    stock_ids = sorted({c.variant_id or 0 for c in rows if c.column == STOCK_COLUMN})
    on_hand = stock_cells().on_hand(stock_ids) if stock_ids else {}
    now: dict[int, Any] = {}
    for c in rows:
        if c.column == "status":
            if c.product_id in products:
                now[c.id] = products[c.product_id].status
        elif c.column == STOCK_COLUMN:
            if c.variant_id in variants:
                now[c.id] = on_hand.get((c.variant_id or 0, c.location_id or 0), 0)
        elif c.variant_id in variants:
            now[c.id] = getattr(variants[c.variant_id], c.column)
    return now


def _changed_by(change: BulkEditChange, batch: BulkEditBatch) -> str:
    """ ", by someone@example.com" when the audit log says who changed the row last."""
    from commerce.audit import AuditEntry

    if change.column == STOCK_COLUMN:
        return ""
    subject_type, subject_id = (
        ("product", change.product_id)
        if change.column == "status"
        else ("variant", change.variant_id)
    )
    who = db.session.scalar(
        select(AuditEntry.actor_label)
        .where(
            AuditEntry.subject_type == subject_type,
            AuditEntry.subject_id == str(subject_id),
            AuditEntry.id > _batch_audit_floor(batch),
        )
        .order_by(AuditEntry.id.desc())
        .limit(1)
    )
    return f", by {who}" if who else ""


def _batch_audit_floor(batch: BulkEditBatch) -> int:
    from commerce.audit import AuditEntry

    return (
        db.session.scalar(
            select(AuditEntry.id)
            .where(AuditEntry.subject_type == "bulk_edit", AuditEntry.subject_id == str(batch.id))
            .order_by(AuditEntry.id.asc())
            .limit(1)
        )
        or 0
    )


# -- the grid's rows ----------------------------------------------------------------------------


@dataclass
class GridRow:
    product: Product
    variant: Variant
    first: bool  # the product's first row (it carries the product's own cells)
    stock: dict[int, int] = field(default_factory=dict)  # location id -> on hand


@dataclass
class Grid:
    rows: list[GridRow]
    locations: list[tuple[int, str]]
    truncated: bool
    currency: str


def load_grid(product_ids: Sequence[int]) -> Grid:
    """The rows of the grid for these products (one per variant), at most MAX_GRID_VARIANTS."""
    currency = current_app.config["SHOP_CURRENCY"]
    ids = sorted({int(i) for i in product_ids})
    rows: list[GridRow] = []
    truncated = False
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        products = {
            p.id: p for p in db.session.scalars(select(Product).where(Product.id.in_(chunk)))
        }
        variants = db.session.scalars(
            select(Variant)
            .where(Variant.product_id.in_(chunk))
            .order_by(Variant.product_id, Variant.position, Variant.id)
        ).all()
        seen: set[int] = set()
        for variant in variants:
            if len(rows) >= MAX_GRID_VARIANTS:
                truncated = True
                break
            rows.append(
                GridRow(products[variant.product_id], variant, variant.product_id not in seen)
            )
            seen.add(variant.product_id)
    rows.sort(
        key=lambda r: (r.product.title.lower(), r.product.id, r.variant.position, r.variant.id)
    )
    seen_first: set[int] = set()
    for row in rows:
        row.first = row.product.id not in seen_first
        seen_first.add(row.product.id)
    port = stock_cells()
    locations = port.locations()
    on_hand = port.on_hand([r.variant.id for r in rows]) if rows else {}
    for row in rows:
        row.stock = {loc: on_hand.get((row.variant.id, loc), 0) for loc, _ in locations}
    return Grid(rows=rows, locations=locations, truncated=truncated, currency=currency)

"""The bulk editor: products picked on the list (ticked, or by its filter) opened in a grid of
their variants, saved as one batch; the batches and their undo.

The grid is a plain form table (it works without JavaScript); static/js/bulk-grid.js adds the
spreadsheet keys (arrows, Enter, Escape, paste a block, Ctrl+D fill down), marks changed cells
and posts only those. Each cell's input is named `cell-<key>` (commerce.catalog.bulk_edit
cell_key); what the grid showed when it was loaded travels in one hidden field, `loaded`, so
the service can tell a cell someone else changed meanwhile."""

from __future__ import annotations

import json
from typing import Any

from flask import current_app, request, url_for
from flask_login import current_user
from sqlalchemy import select

from commerce.bounds import check_id
from commerce.catalog.bulk_edit import (
    COLUMNS,
    MAX_GRID_VARIANTS,
    STOCK_COLUMN,
    CellEdit,
    Grid,
    cell_key,
    cell_text,
    cell_words,
    get_batch,
    load_grid,
    parse_cell_key,
    recent_batches,
    save_grid,
    undo_batch,
)
from commerce.catalog.models import PRODUCT_STATUSES, Product
from commerce.catalog.queries import filtered_products
from commerce.errors import ValidationError
from commerce.extensions import db
from commerce.jobs import Job
from console.catalog.products import read_filter
from console.forms import ConfirmForm
from console.web import done
from web.forms import FORM_EXPIRED
from web.pages import render

VARIANT_COLUMNS = ("price", "compare_at_price", "sku", "barcode", "weight_grams")
MAX_CELLS = MAX_GRID_VARIANTS * 16  # a generous bound on the form's fields


def _product_ids() -> list[int]:
    """The grid's products: `products` (comma list, from the grid's own form), `ids` (ticked on
    the list) or else the list's filter from the query string."""
    source = request.form if request.method == "POST" else request.args
    raw = source.get("products", "")
    texts = [*(raw.split(",") if raw else []), *source.getlist("ids")]
    ids = [i for i in (check_id(t.strip()) for t in texts[:MAX_GRID_VARIANTS]) if i is not None]
    if ids or raw:
        return sorted(set(ids))[:MAX_GRID_VARIANTS]
    flt, _ = read_filter()
    stmt = filtered_products(flt).with_only_columns(Product.id).order_by(None)
    return list(db.session.scalars(select(stmt.subquery().c.id).limit(MAX_GRID_VARIANTS)))


def _cells(grid: Grid) -> dict[str, str]:
    """Every cell's text as the grid shows it now."""
    cells: dict[str, str] = {}
    for row in grid.rows:
        for column in VARIANT_COLUMNS:
            cells[cell_key(row.variant.id, column)] = cell_text(
                column, getattr(row.variant, column), grid.currency
            )
        for location_id, _ in grid.locations:
            cells[cell_key(row.variant.id, STOCK_COLUMN, location_id)] = str(
                row.stock.get(location_id, 0)
            )
        if row.first:
            cells[cell_key(row.product.id, "status")] = row.product.status
    return cells


def _grid_page(
    grid: Grid,
    ids: list[int],
    *,
    loaded: dict[str, str],
    values: dict[str, str] | None = None,
    errors: dict[str, list[str]] | None = None,
    message: str = "",
    status: int = 200,
) -> Any:
    return render(
        "console/catalog/grid.html",
        status=status,
        grid=grid,
        product_ids=",".join(str(i) for i in ids),
        loaded=loaded,
        loaded_json=json.dumps(loaded, separators=(",", ":")),
        values={**loaded, **(values or {})},
        errors=errors or {},
        message=message,
        columns=COLUMNS,
        variant_columns=VARIANT_COLUMNS,
        statuses=PRODUCT_STATUSES,
        can_stock=current_user.can("inventory.edit"),
        cell_key=cell_key,
        max_rows=MAX_GRID_VARIANTS,
    )


def bulk_grid() -> Any:
    ids = _product_ids()
    grid = load_grid(ids)
    return _grid_page(grid, ids, loaded=_cells(grid))


def _read_loaded() -> dict[str, str]:
    try:
        loaded = json.loads(request.form.get("loaded", "") or "{}")
    except ValueError:
        loaded = None
    if not isinstance(loaded, dict):
        raise ValidationError("The grid's form was damaged; reload the grid.")
    return {str(k): str(v) for k, v in loaded.items() if parse_cell_key(str(k))}


def bulk_grid_save() -> Any:
    request.max_form_parts = MAX_CELLS  # one field per cell, on a grid of many variants
    ids = _product_ids()
    values: dict[str, str] = {}
    loaded: dict[str, str] = {}
    try:
        if not ConfirmForm().validate_on_submit():
            raise ValidationError(FORM_EXPIRED)
        loaded = _read_loaded()
        edits = []
        for name, value in request.form.items():
            if not name.startswith("cell-"):
                continue
            key = name[5:]
            parsed = parse_cell_key(key)
            if parsed is None or key not in loaded:
                continue
            values[key] = value
            if value.strip() == loaded[key].strip():
                continue
            row, column, location_id = parsed
            edits.append(CellEdit(row, column, loaded[key], value, location_id))
        batch = save_grid(edits, by=current_user, stock_allowed=current_user.can("inventory.edit"))
    except ValidationError as exc:
        grid = load_grid(ids)
        loaded = loaded or _cells(grid)
        errors = {str(k): v for k, v in exc.errors.items() if k}
        return _grid_page(
            grid,
            ids,
            loaded=loaded,
            values=values,
            errors=errors,
            message=exc.message,
            status=422,
        )
    target = url_for("console.bulk_edit_detail", batch_id=batch.id)
    if batch.job_id:
        return done(f"Saving {batch.change_count} cells in the background…", target)
    return done(f"Saved: {batch.message}", target)


def bulk_edit_list() -> Any:
    return render("console/catalog/bulk_edits.html", batches=recent_batches())


def _batch_page(batch: Any, *, status: int = 200, undo_error: str = "") -> Any:
    job = db.session.get(Job, batch.job_id) if batch.job_id else None
    return render(
        "console/catalog/bulk_edit.html",
        status=status,
        undo_error=undo_error,
        batch=batch,
        job=job,
        confirm=ConfirmForm(),
        columns=COLUMNS,
        words=lambda column, value: cell_words(
            column, value, current_app.config["SHOP_CURRENCY"], current_app.config["SHOP_LOCALE"]
        ),
        can_undo=batch.can_undo,
    )


def bulk_edit_detail(batch_id: int) -> Any:
    return _batch_page(get_batch(batch_id))


def bulk_edit_undo(batch_id: int) -> Any:
    batch = get_batch(batch_id)
    back = url_for("console.bulk_edit_detail", batch_id=batch.id)
    if not ConfirmForm().validate_on_submit():
        return done(FORM_EXPIRED, back, level="error")
    try:
        undo = undo_batch(batch.id, by=current_user)
    except ValidationError as exc:
        return _batch_page(get_batch(batch_id), status=422, undo_error=exc.message)
    target = url_for("console.bulk_edit_detail", batch_id=undo.id)
    if undo.job_id:
        return done(f"Undoing bulk edit #{batch.id} in the background…", target)
    return done(f"Bulk edit #{batch.id} undone: {undo.message}", target)

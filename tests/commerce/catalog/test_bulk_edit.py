"""The bulk editor's batches: planned cell by cell, applied as one audited batch, undone."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select

from commerce.audit import AuditEntry
from commerce.catalog.bulk_edit import (
    APPLIED,
    DONE,
    SKIPPED,
    UNDONE,
    BulkEditBatch,
    CellEdit,
    PlannedChange,
    apply_changes,
    load_grid,
    save_grid,
    undo_batch,
)
from commerce.catalog.bulk_prices import change_prices, preview_price_change, round_price
from commerce.catalog.services import update_variant
from commerce.errors import ValidationError
from commerce.extensions import db
from commerce.inventory.models import Location, StockLevel, StockMovement
from commerce.inventory.services import receive_stock
from commerce.jobs import Job


@pytest.fixture
def shop(app, make_product, make_staff):
    warehouse = Location(name="Main", code="MAIN", priority=1)
    db.session.add(warehouse)
    db.session.commit()
    shirt = make_product("Shirt", price=2000, options=[("Size", ["S", "M"])])
    mug = make_product("Mug", price=900)
    for variant in shirt.variants:
        receive_stock(variant.id, quantity=5, by=None, location_id=warehouse.id)
    return {
        "loc": warehouse,
        "s": shirt.variants[0],
        "m": shirt.variants[1],
        "mug": mug.variants[0],
        "shirt": shirt,
        "mug_product": mug,
        "staff": make_staff("merchandiser"),
    }


def edit(row, column, was, value, location_id=None):
    return CellEdit(row=row, column=column, was=was, value=value, location_id=location_id)


def test_a_batch_applies_every_cell_with_its_before_and_after(shop):
    s, m, mug, loc = shop["s"], shop["m"], shop["mug"], shop["loc"]
    s_price = f"{s.price / 100:.2f}"
    batch = save_grid(
        [
            edit(s.id, "price", s_price, "25.00"),
            edit(s.id, "compare_at_price", "", "30.00"),
            edit(m.id, "sku", m.sku or "", "SHIRT-M"),
            edit(mug.id, "weight_grams", "", "350"),
            edit(mug.id, "barcode", "", "400-123"),
            edit(shop["shirt"].id, "status", shop["shirt"].status, "active"),
            edit(m.id, "stock", "5", "8", loc.id),
            edit(s.id, "stock", "5", "2", loc.id),
            edit(mug.id, "price", "9.00", "9.00"),  # untouched: no change
        ],
        by=shop["staff"],
        stock_allowed=True,
    )
    assert batch.status == APPLIED and batch.change_count == 8
    assert {c.state for c in batch.changes} == {DONE}
    db.session.expire_all()
    assert (s.price, s.compare_at_price, m.sku) == (2500, 3000, "SHIRT-M")
    assert (mug.weight_grams, mug.barcode, shop["shirt"].status) == (350, "400-123", "active")
    assert shop["shirt"].max_price == 2500
    levels = {lv.variant_id: lv.on_hand for lv in db.session.scalars(select(StockLevel))}
    assert levels[m.id] == 8 and levels[s.id] == 2
    notes = db.session.scalars(
        select(StockMovement.note).where(StockMovement.reason == "correction")
    ).all()
    assert notes == [f"Bulk editor, batch #{batch.id}"] * 2
    price = next(c for c in batch.changes if c.column == "price")
    assert (price.before, price.after) == (s.price - 500, 2500)
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "bulk_edit.apply"))
    assert entry.subject_label == f"Bulk edit #{batch.id}"
    assert any("Shirt / S" in line and "$25.00" in line for line in entry.after["changes"])
    variant_entries = db.session.scalars(
        select(AuditEntry).where(AuditEntry.action == "variant.bulk_edit")
    ).all()
    assert {e.subject_id for e in variant_entries} == {str(s.id), str(m.id), str(mug.id)}


def test_bad_cells_are_each_named_and_nothing_is_written(shop):
    s, m, mug = shop["s"], shop["m"], shop["mug"]
    with pytest.raises(ValidationError) as caught:
        save_grid(
            [
                edit(mug.id, "price", "9.00", "12.00"),  # fine on its own
                edit(s.id, "price", f"{s.price / 100:.2f}", "50,00"),
                edit(m.id, "weight_grams", "", "-3"),
                edit(mug.id, "sku", mug.sku, s.sku),
                edit(shop["shirt"].id, "status", "draft", "gone"),
            ],
            by=shop["staff"],
            stock_allowed=True,
        )
    errors = caught.value.errors
    assert "ambiguous" in errors[f"v{s.id}-price"][0]
    assert "whole grams" in errors[f"v{m.id}-weight_grams"][0]
    assert "already used by Shirt / S" in errors[f"v{mug.id}-sku"][0]
    assert f"p{shop['shirt'].id}-status" in errors
    assert f"v{mug.id}-price" not in errors
    db.session.expire_all()
    assert mug.price == 900
    assert db.session.scalar(select(BulkEditBatch)) is None


def test_a_cell_changed_since_the_grid_was_loaded_is_a_conflict(shop):
    mug = shop["mug"]
    update_variant(mug, by=None, price=1100)  # someone else, after the grid was loaded
    with pytest.raises(ValidationError) as caught:
        save_grid([edit(mug.id, "price", "9.00", "12.00")], by=shop["staff"], stock_allowed=True)
    assert "it is now $11.00" in caught.value.errors[f"v{mug.id}-price"][0]
    db.session.expire_all()
    assert mug.price == 1100


def test_stock_cells_need_the_permission_and_respect_held_units(shop):
    s, loc = shop["s"], shop["loc"]
    with pytest.raises(ValidationError) as caught:
        save_grid([edit(s.id, "stock", "5", "1", loc.id)], by=shop["staff"], stock_allowed=False)
    assert caught.value.errors[f"v{s.id}-stock-{loc.id}"] == ["You may not change stock."]


def test_a_race_between_plan_and_apply_refuses_the_whole_small_batch(shop):
    mug, s = shop["mug"], shop["s"]
    stale = [
        PlannedChange(mug.product_id, mug.id, "price", 800, 1200, "Mug"),  # it holds 900
        PlannedChange(s.product_id, s.id, "weight_grams", None, 100, "Shirt / S"),
    ]
    with pytest.raises(ValidationError) as caught:
        apply_changes(stale, by=shop["staff"])
    assert "it is now $9.00" in caught.value.errors[f"v{mug.id}-price"][0]
    db.session.expire_all()
    assert s.weight_grams is None and db.session.scalar(select(BulkEditBatch)) is None


def test_undo_restores_every_cell_and_is_audited(shop):
    s, m, loc = shop["s"], shop["m"], shop["loc"]
    batch = save_grid(
        [
            edit(s.id, "price", f"{s.price / 100:.2f}", "31.00"),
            edit(m.id, "stock", "5", "9", loc.id),
            edit(shop["shirt"].id, "status", shop["shirt"].status, "archived"),
        ],
        by=shop["staff"],
        stock_allowed=True,
    )
    before_price = next(c.before for c in batch.changes if c.column == "price")
    undo = undo_batch(batch.id, by=shop["staff"])
    db.session.expire_all()
    assert undo.undo_of_id == batch.id and batch.status == UNDONE
    assert s.price == before_price and shop["shirt"].status == "draft"
    level = db.session.scalar(select(StockLevel).where(StockLevel.variant_id == m.id))
    assert level.on_hand == 5
    deltas = db.session.scalars(
        select(StockMovement.delta).where(StockMovement.stock_level_id == level.id)
    ).all()
    assert deltas == [5, 4, -4]  # received, the batch, its compensating movement
    assert db.session.scalar(select(AuditEntry).where(AuditEntry.action == "bulk_edit.undo"))
    with pytest.raises(ValidationError, match="undone already"):
        undo_batch(batch.id, by=shop["staff"])


def test_undo_is_refused_naming_the_cells_changed_since(shop, make_staff):
    mug = shop["mug"]
    batch = save_grid(
        [edit(mug.id, "price", "9.00", "10.00")], by=shop["staff"], stock_allowed=False
    )
    other = make_staff("admin", email="other@example.com")
    update_variant(db.session.get(type(mug), mug.id), by=other, price=1500)
    with pytest.raises(ValidationError) as caught:
        undo_batch(batch.id, by=shop["staff"])
    message = caught.value.message
    assert "Price of Mug" in message and "$15.00" in message and "other@example.com" in message
    db.session.expire_all()
    assert mug.price == 1500 and batch.undone_by_id is None


@pytest.mark.parametrize(
    ("amount", "rounding", "expected"),
    [
        (2137, "99", 1999 + 100),  # 21.37 -> 20.99 or 21.99: 20.99 is nearer
        (2160, "99", 2199),
        (2160, "95", 2195),
        (2150, "whole", 2200),
        (2149, "whole", 2100),
        (30, "99", 99),  # never below zero
        (2160, "", 2160),
    ],
)
def test_rounding(app, amount, rounding, expected):
    if amount == 2137:
        expected = 2099
    assert round_price(amount, rounding, "USD") == expected


def test_price_change_preview_says_how_many_and_by_how_much(shop):
    s, m = shop["s"], shop["m"]
    s.compare_at_price = 3000
    db.session.commit()
    preview = preview_price_change(
        [shop["shirt"].id], percent=Decimal("10"), rounding="99", compare_at=True
    )
    assert preview.variants == 2 and preview.compare_at_changes == 1
    assert "2 variants change price" in preview.sentence
    assert "1 compare-at price changes too" in preview.sentence
    batch = change_prices(
        [shop["shirt"].id],
        by=shop["staff"],
        percent=Decimal("10"),
        rounding="99",
        compare_at=True,
    )
    db.session.expire_all()
    assert s.price % 100 == 99 and m.price % 100 == 99 and s.compare_at_price == 3299
    assert batch.kind == "price_change" and batch.change_count == 3
    undo_batch(batch.id, by=shop["staff"])
    db.session.expire_all()
    assert s.compare_at_price == 3000


def test_a_large_batch_runs_as_a_job_and_skips_cells_changed_meanwhile(shop, app, monkeypatch):
    monkeypatch.setitem(app.config, "BULK_EDIT_JOB_VARIANTS", 1)
    s, m, mug = shop["s"], shop["m"], shop["mug"]
    changes = [
        PlannedChange(s.product_id, s.id, "weight_grams", None, 100, "Shirt / S"),
        PlannedChange(m.product_id, m.id, "weight_grams", None, 200, "Shirt / M"),
        PlannedChange(mug.product_id, mug.id, "price", 700, 1200, "Mug"),  # it holds 900
    ]
    batch = apply_changes(changes, by=shop["staff"])
    job = db.session.get(Job, batch.job_id)
    assert job.status == "succeeded" and job.result["batch_id"] == batch.id
    db.session.expire_all()
    assert batch.status == APPLIED and "1 skipped" in batch.message
    assert (s.weight_grams, m.weight_grams, mug.price) == (100, 200, 900)
    skipped = [c for c in batch.changes if c.state == SKIPPED]
    assert [c.variant_id for c in skipped] == [mug.id]
    assert "it is now $9.00" in skipped[0].note


def test_the_grid_has_a_row_per_variant_and_stock_per_location(shop):
    grid = load_grid([shop["shirt"].id, shop["mug_product"].id])
    assert [r.product.title for r in grid.rows] == ["Mug", "Shirt", "Shirt"]
    assert [r.first for r in grid.rows] == [True, True, False]
    assert grid.locations == [(shop["loc"].id, "Main")]
    assert grid.rows[1].stock == {shop["loc"].id: 5}


def test_a_batch_whose_worker_died_says_so_and_runs_again_for_the_rest(shop, app):
    from datetime import timedelta

    from commerce.catalog import tasks  # noqa: F401  (registers the job kind)
    from commerce.catalog.bulk_edit import DONE as APPLIED_CELL
    from commerce.catalog.bulk_edit import BulkEditChange
    from commerce.db import utcnow
    from commerce.jobs import run_job_again, sweep_jobs

    s, m = shop["s"], shop["m"]
    long_ago = utcnow() - timedelta(hours=1)
    # A batch whose worker died after its first chunk: one cell applied, one pending.
    s.weight_grams = 100
    batch = BulkEditBatch(kind="grid", title="2 cells", status="applying", created_at=long_ago)
    batch.changes = [
        BulkEditChange(
            product_id=s.product_id,
            variant_id=s.id,
            column="weight_grams",
            before=None,
            after=100,
            label="Shirt / S",
            state=APPLIED_CELL,
            note="",
        ),
        BulkEditChange(
            product_id=m.product_id,
            variant_id=m.id,
            column="weight_grams",
            before=None,
            after=200,
            label="Shirt / M",
            state="pending",
            note="",
        ),
    ]
    job = Job(
        id="0" * 35 + "1",
        kind="bulk_edit",
        title="2 cells",
        status="running",
        params={"batch_id": 0},
        created_at=long_ago,
        heartbeat_at=long_ago,
        runs=1,
        requeues=0,
    )
    db.session.add_all([batch, job])
    db.session.flush()
    job.params = {"batch_id": batch.id}
    batch.job_id = job.id
    db.session.commit()

    assert job.id in sweep_jobs().stopped
    db.session.expire_all()
    assert batch.status == "failed" and "Run the job again" in batch.message
    assert batch.can_undo  # what was applied can be undone...

    fresh = run_job_again(job.id, by=shop["staff"])  # ... or the rest applied
    db.session.expire_all()
    assert db.session.get(Job, fresh.id).status == "succeeded"
    assert batch.status == APPLIED and batch.job_id == fresh.id
    assert (s.weight_grams, m.weight_grams) == (100, 200)


def test_a_cell_left_as_loaded_is_no_conflict_even_if_changed_meanwhile(shop):
    mug, s = shop["mug"], shop["s"]
    update_variant(mug, by=None, price=1100)  # someone else; this grid never touched it
    batch = save_grid(
        [edit(mug.id, "price", "9.00", "9.000"), edit(s.id, "weight_grams", "", "75")],
        by=shop["staff"],
        stock_allowed=False,
    )
    assert batch.change_count == 1
    db.session.expire_all()
    assert mug.price == 1100 and s.weight_grams == 75

"""A large bulk edit on PostgreSQL: a job that commits chunk by chunk, so other staff are not
blocked behind it, and that skips (never overwrites) a cell someone changed meanwhile."""

from __future__ import annotations

import threading
import time
from decimal import Decimal

import pytest
from sqlalchemy import create_engine, select, text

from commerce.catalog import bulk_edit
from commerce.catalog.bulk_edit import APPLIED, SKIPPED, BulkEditBatch, undo_batch
from commerce.catalog.bulk_prices import change_prices
from commerce.catalog.models import Variant
from commerce.catalog.services import create_product
from commerce.extensions import db
from commerce.jobs import Job

pytestmark = pytest.mark.postgres


def test_a_large_batch_commits_in_chunks_and_skips_a_cell_changed_meanwhile(
    race_app, pg_url, monkeypatch
):
    monkeypatch.setitem(race_app.config, "BULK_EDIT_JOB_VARIANTS", 3)
    monkeypatch.setattr(bulk_edit, "CHUNK", 4)
    products = [
        create_product(title=f"Lamp {i:02d}", price=1000, sku=f"LAMP-{i:02d}", by=None)
        for i in range(12)
    ]
    variant_ids = sorted(p.variants[0].id for p in products)
    first, last = variant_ids[0], variant_ids[-1]
    other = create_engine(pg_url, pool_size=3)
    outcome: dict[str, object] = {}

    # Another member holds the last variant's row: the job's last chunk waits behind it.
    locker = other.connect()
    holding = locker.begin()
    locker.execute(text("SELECT id FROM variant WHERE id = :id FOR UPDATE"), {"id": last})

    def run_job() -> None:
        with race_app.app_context():
            try:
                batch = change_prices(
                    [p.id for p in products], by=None, percent=Decimal(10), rounding=""
                )
                outcome["batch_id"] = batch.id
            except BaseException as exc:  # reported below
                outcome["error"] = exc
            finally:
                db.session.remove()

    worker = threading.Thread(target=run_job)
    worker.start()
    try:
        done = 0
        for _ in range(300):  # until the first chunks are committed (a bounded wait)
            with other.connect() as watcher:
                done = watcher.scalar(text("SELECT max(done) FROM job")) or 0
            if done >= 4:
                break
            time.sleep(0.05)
        assert done >= 4, "the job never committed a chunk"
        # A chunk already applied holds no lock: another member's write goes through at once.
        with other.connect() as staff:
            staff.execute(text("SET lock_timeout = '2s'"))
            staff.execute(text("UPDATE variant SET barcode = '4001' WHERE id = :id"), {"id": first})
            staff.commit()
        # ... and the held row is changed by its holder: the job must not overwrite it.
        locker.execute(text("UPDATE variant SET price = 5555 WHERE id = :id"), {"id": last})
        holding.commit()
    finally:
        locker.close()
        worker.join(timeout=60)
        other.dispose()
    assert "error" not in outcome, outcome.get("error")

    db.session.expire_all()
    batch = db.session.get(BulkEditBatch, outcome["batch_id"])
    job = db.session.get(Job, batch.job_id)
    assert job.status == "succeeded" and job.done == job.total == 12
    assert batch.status == APPLIED and "11 cells changed, 1 skipped" in batch.message
    prices = dict(db.session.execute(select(Variant.id, Variant.price)).all())
    assert prices[last] == 5555
    assert {prices[v] for v in variant_ids[:-1]} == {1100}
    skipped = [c for c in batch.changes if c.state == SKIPPED]
    assert [c.variant_id for c in skipped] == [last] and "$55.55" in skipped[0].note

    # One batch record, undone as one (again a job, since it is as large).
    undo = undo_batch(batch.id, by=None)
    db.session.expire_all()
    assert db.session.get(Job, undo.job_id).status == "succeeded"
    prices = dict(db.session.execute(select(Variant.id, Variant.price)).all())
    assert {prices[v] for v in variant_ids[:-1]} == {1000} and prices[last] == 5555
    assert db.session.get(BulkEditBatch, batch.id).status == "undone"

"""Keeping the index in step with the catalog: outbox events in, backend updates out.

1. Catalog, inventory and order services queue outbox events in their own transactions
   (product.changed, product.deleted, stock.changed, category.changed, collection.changed,
   order.placed, catalog.bulk_loaded, search.settings_changed).
2. The outbox consumer (tasks.py) records each event once in search_pending: a redelivered
   event finds its row and adds nothing (idempotent by event id).
3. sync_pending() takes the open rows in batches, rebuilds the affected products' documents
   and sends them to the backend; only after the backend confirmed do the rows close. A
   failure leaves them open for the next run, so nothing is lost and nothing is sent twice
   once it succeeded.

reindex() builds a whole new index (a new db generation, a new Meilisearch index) while the old
one keeps answering, then swaps them in one step.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, event, false, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from commerce.catalog.models import Variant
from commerce.db import in_transaction, transaction, utcnow
from commerce.extensions import celery, db
from commerce.jobs import create_job, finish_job, report_progress
from commerce.orders.models import CANCELLED, Order, OrderLine
from commerce.outbox import OutboxEvent
from commerce.search.backends import get_backend
from commerce.search.documents import (
    POPULARITY_DAYS,
    Context,
    build_documents,
    count_active,
    iter_active_ids,
)
from commerce.search.merchandising import SETTINGS_CHANGED, load_settings
from commerce.search.models import (
    BUILDING,
    FAILED,
    LIVE,
    RETIRED,
    SearchGeneration,
    SearchPending,
    SearchSettings,
)
from commerce.search.port import SearchBackendError

log = logging.getLogger(__name__)

PRODUCT_CHANGED = "product.changed"
PRODUCT_DELETED = "product.deleted"
STOCK_CHANGED = "stock.changed"
CATEGORY_CHANGED = "category.changed"
COLLECTION_CHANGED = "collection.changed"
ORDER_PLACED = "order.placed"
BULK_LOADED = "catalog.bulk_loaded"
TOPICS = (
    PRODUCT_CHANGED,
    PRODUCT_DELETED,
    STOCK_CHANGED,
    CATEGORY_CHANGED,
    COLLECTION_CHANGED,
    ORDER_PLACED,
    BULK_LOADED,
    SETTINGS_CHANGED,
)
BATCH = 500
MAX_ATTEMPTS = 20
REINDEX_JOB = "search_reindex"


# -- recording events ---------------------------------------------------------------------------


def _affected(topic: str, payload: dict[str, Any]) -> tuple[list[int], bool, bool]:
    """(product ids to refresh, whether to rebuild everything, whether settings changed)."""
    if topic in (PRODUCT_CHANGED, PRODUCT_DELETED):
        return [int(payload["product_id"])], False, False
    if topic == STOCK_CHANGED:
        ids = [int(v) for v in payload.get("variant_ids", [])]
        found = db.session.scalars(select(Variant.product_id).where(Variant.id.in_(ids)).distinct())
        return sorted(found), False, False
    if topic in (CATEGORY_CHANGED, COLLECTION_CHANGED):
        if payload.get("all"):
            return [], True, False
        return sorted({int(p) for p in payload.get("product_ids", [])}), False, False
    if topic == ORDER_PLACED:
        found = db.session.scalars(
            select(OrderLine.product_id)
            .where(
                OrderLine.order_id == int(payload["order_id"]),
                OrderLine.product_id.is_not(None),
            )
            .distinct()
        )
        return sorted(found), False, False
    if topic == BULK_LOADED:
        return [], True, False
    if topic == SETTINGS_CHANGED:
        return [], False, True
    return [], False, False


def record(event_id: int, topic: str, payload: dict[str, Any]) -> bool:
    """Note an outbox event for the index, once: False when it was already recorded."""
    if db.session.get(SearchPending, event_id) is not None:
        return False
    product_ids, rebuild, settings = _affected(topic, payload or {})
    dialect = db.session.get_bind().dialect.name
    stmt = (pg_insert if dialect == "postgresql" else sqlite_insert)(SearchPending).values(
        event_id=event_id,
        topic=topic,
        product_ids=product_ids,
        rebuild=rebuild,
        settings=settings,
        created_at=utcnow(),
        attempts=0,
    )
    result = db.session.execute(stmt.on_conflict_do_nothing(index_elements=["event_id"]))
    return bool(result.rowcount)


def record_outbox_event(event: OutboxEvent) -> bool:
    return record(event.id, event.topic, event.payload)


def claim_writer() -> None:
    """On SQLite, take the write lock before the first read of a transaction that will write:
    a read followed by a write fails at once ("database is locked") when another connection
    committed in between, while a transaction that starts by writing waits its turn."""
    if db.session.get_bind().dialect.name == "sqlite":
        db.session.execute(
            update(SearchSettings).where(false()).values(revision=SearchSettings.revision)
        )


def outbox_has_unrecorded() -> bool:
    recorded = select(SearchPending.event_id)
    return (
        db.session.scalar(
            select(OutboxEvent.id)
            .where(
                OutboxEvent.dispatched_at.is_(None),
                OutboxEvent.topic.in_(TOPICS),
                OutboxEvent.id.not_in(recorded),
            )
            .limit(1)
        )
        is not None
    )


def has_open_pending() -> bool:
    """Recorded events not applied yet (an update that failed, or one still on its way)."""
    return (
        db.session.scalar(
            select(SearchPending.event_id)
            .where(SearchPending.applied_at.is_(None), SearchPending.attempts < MAX_ATTEMPTS)
            .limit(1)
        )
        is not None
    )


def catch_up_outbox(*, limit: int = 500) -> int:
    """Record search events still waiting in the outbox (embedded mode: no beat delivers them
    while nobody makes a request); the outbox delivers them later too, and finds them noted."""
    recorded = select(SearchPending.event_id)
    events = db.session.execute(
        select(OutboxEvent.id, OutboxEvent.topic, OutboxEvent.payload)
        .where(
            OutboxEvent.dispatched_at.is_(None),
            OutboxEvent.topic.in_(TOPICS),
            OutboxEvent.id.not_in(recorded),
        )
        .order_by(OutboxEvent.id)
        .limit(limit)
    ).all()
    count = 0
    for event_id, topic, payload in events:
        count += record(event_id, topic, payload)
    return count


# -- applying them ------------------------------------------------------------------------------


def refresh_products(product_ids: Iterable[int], *, ctx: Context | None = None) -> int:
    """Send the current documents of these products (deleting those that have none)."""
    backend = get_backend()
    ids = sorted({int(i) for i in product_ids})
    ctx = ctx or Context.load()
    sent = 0
    for start in range(0, len(ids), BATCH):
        documents, absent = build_documents(ids[start : start + BATCH], ctx=ctx)
        backend.index(documents)
        backend.delete(absent)
        sent += len(documents)
    return sent


def refresh_lapsed_popularity(*, now: datetime | None = None) -> int:
    """Products whose sales left the 30-day window in the last day get their popularity
    recomputed (sales inside the window arrive with each order's event)."""
    now = now or utcnow()
    edge = now - timedelta(days=POPULARITY_DAYS)
    with transaction():
        ids = list(
            db.session.scalars(
                select(OrderLine.product_id)
                .join(Order, Order.id == OrderLine.order_id)
                .where(
                    Order.placed_at < edge,
                    Order.placed_at >= edge - timedelta(days=1, hours=1),
                    Order.status != CANCELLED,
                    OrderLine.product_id.is_not(None),
                )
                .distinct()
            )
        )
        return refresh_products(ids, ctx=Context.load(now=now))


def sync_pending(*, limit: int = 1000) -> int:
    """Apply open search_pending rows; returns how many events were applied. Rows close only
    once the backend has confirmed, so a crash or a refusal leaves them for the next run."""
    backend = get_backend()
    applied = 0
    while True:
        with transaction() as session:
            claim_writer()
            if backend.name == "db":
                # One writer at a time (and one first build, not one per worker).
                from commerce.search.backends.db import lock_index_writes

                lock_index_writes()
            stmt = (
                select(SearchPending)
                .where(SearchPending.applied_at.is_(None), SearchPending.attempts < MAX_ATTEMPTS)
                .order_by(SearchPending.event_id)
                .limit(limit)
            )
            if session.get_bind().dialect.name == "postgresql":
                stmt = stmt.with_for_update(skip_locked=True)
            rows = list(session.scalars(stmt))
            if not rows:
                return applied
            try:
                if any(r.rebuild for r in rows) or not backend.has_index():
                    reindex()
                else:
                    if any(r.settings for r in rows):
                        backend.configure(load_settings())
                    refresh_products(pid for r in rows for pid in r.product_ids or [])
            except SearchBackendError as exc:
                log.warning("search index update failed, will retry: %s", exc.message)
                for row in rows:
                    row.attempts += 1
                    row.last_error = exc.message[:2000]
                return applied
            now = utcnow()
            for row in rows:
                row.applied_at = now
                row.last_error = None
            applied += len(rows)
        if len(rows) < limit:
            return applied


def purge_applied(*, older_than: timedelta = timedelta(days=7)) -> int:
    """Forget events applied long ago (a redelivery that old cannot happen)."""
    with transaction():
        return db.session.execute(
            delete(SearchPending).where(SearchPending.applied_at < utcnow() - older_than)
        ).rowcount


def request_sync() -> None:
    """Update the index for what was just recorded: inline in the eager embedded mode (inside
    a savepoint: a failure leaves the rows open and the caller's work intact), otherwise by a
    worker once the recording transaction has committed."""
    if celery.conf.task_always_eager:
        session = db.session()
        try:
            if in_transaction():
                with session.begin_nested():
                    sync_pending()
            else:
                sync_pending()
        except Exception:
            log.exception("search index update failed; the events stay pending")
            if not in_transaction():
                session.rollback()
        return
    db.session().info["search.sync_requested"] = True


@event.listens_for(Session, "after_commit")
def _queue_sync_after_commit(session: Session) -> None:
    if session.info.pop("search.sync_requested", False):
        from commerce.search.tasks import sync_index

        try:
            sync_index.delay()
        except Exception:  # the periodic sync picks the rows up
            log.exception("could not queue the search index update")


@event.listens_for(Session, "after_soft_rollback")
def _forget_sync_request(session: Session, _previous: Any) -> None:
    if not session.in_transaction():
        session.info.pop("search.sync_requested", None)


# -- full rebuild -------------------------------------------------------------------------------


@dataclass
class ReindexResult:
    generation_id: int
    documents: int
    seconds: float
    name: str


def reindex(
    *,
    progress: Callable[[int, int], None] | None = None,
    job_id: str | None = None,
    batch: int = BATCH,
) -> ReindexResult:
    """Build the whole index anew beside the live one and swap it in; searches keep being
    answered by the old index until the swap. Products changed meanwhile are written to both
    (sync_pending writes to every open generation) and refreshed again after the swap."""
    started = utcnow()
    clock = datetime.now()
    backend = get_backend()
    settings = load_settings()
    with transaction():
        generation = SearchGeneration(
            backend=backend.name, status=BUILDING, started_at=started, job_id=job_id
        )
        db.session.add(generation)
        db.session.flush()
        generation_id = generation.id
    total = count_active()
    if job_id:
        report_progress(job_id, done=0, total=total, message="Building a new index")
    try:
        rebuild = backend.start_rebuild(generation_id, settings)
        with transaction():
            db.session.get(SearchGeneration, generation_id).name = rebuild.name
        ctx = Context.load(whole_catalog=True)
        done = 0
        for ids in iter_active_ids(batch):
            documents, _absent = build_documents(ids, ctx=ctx)
            rebuild.add(documents)
            done += len(documents)
            if progress:
                progress(done, total)
            if job_id:
                report_progress(job_id, done=done, total=total)
        rebuild.swap()
    except Exception as exc:
        with transaction():
            generation = db.session.get(SearchGeneration, generation_id)
            if generation is not None:
                generation.status = FAILED
                generation.error = f"{type(exc).__name__}: {exc}"[:2000]
                generation.finished_at = utcnow()
        raise
    with transaction():
        db.session.execute(
            update(SearchGeneration)
            .where(
                SearchGeneration.backend == backend.name,
                SearchGeneration.status == LIVE,
                SearchGeneration.id != generation_id,
            )
            .values(status=RETIRED, retired_at=utcnow())
        )
        generation = db.session.get(SearchGeneration, generation_id)
        generation.documents = done
        generation.status = LIVE
        generation.finished_at = generation.finished_at or utcnow()
        # Changes applied while the build ran may have raced a batch: send them again.
        again = db.session.scalars(select(SearchPending).where(SearchPending.created_at >= started))
        refresh_products(pid for row in again for pid in row.product_ids or [])
    purge = getattr(backend, "purge_retired", None)
    if purge is not None:
        purge()
    seconds = (datetime.now() - clock).total_seconds()
    log.info("search index rebuilt: %s documents in %.1fs", done, seconds)
    return ReindexResult(generation_id, done, seconds, rebuild.name)


def start_reindex_job(*, by: Any) -> str:
    """A Job the console can watch; the task runs it (inline in the embedded mode)."""
    from commerce.search.tasks import reindex_job

    job = create_job(REINDEX_JOB, title="Rebuild the search index", params={}, by=by)
    reindex_job.delay(job.id)
    return job.id


def abandon_rebuild(job_id: str) -> int:
    """Close the generations a rebuild job left "building" when its worker stopped, so index
    writes stop going to them (the job's next run starts a fresh one)."""
    with transaction():
        return db.session.execute(
            update(SearchGeneration)
            .where(SearchGeneration.job_id == job_id, SearchGeneration.status == BUILDING)
            .values(
                status=FAILED, error="The worker stopped during the rebuild.", finished_at=utcnow()
            )
        ).rowcount


def run_reindex_job(
    job_id: str, *, progress: Callable[[int, int], None] | None = None
) -> ReindexResult | None:
    abandon_rebuild(job_id)  # a redelivered run: the stopped run's half-built index is closed
    try:
        result = reindex(job_id=job_id, progress=progress)
    except Exception as exc:
        log.exception("search reindex job %s failed", job_id)
        finish_job(
            job_id, result={"ok": False}, failed=True, retryable=True, message=str(exc)[:500]
        )
        return None
    finish_job(
        job_id,
        result={"ok": True, "documents": result.documents, "seconds": round(result.seconds, 2)},
        message=f"{result.documents} products indexed in {result.seconds:.1f}s",
    )
    return result

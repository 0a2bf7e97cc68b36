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

from flask import current_app
from sqlalchemy import and_, delete, event, false, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from commerce.broker import queue_task
from commerce.catalog.models import Variant
from commerce.db import in_transaction, service, transaction, utcnow
from commerce.extensions import celery, db
from commerce.jobs import create_job, finish_job, queue_job, report_progress
from commerce.orders.models import CANCELLED, Order, OrderLine
from commerce.outbox import OutboxEvent
from commerce.search.backends import get_backend, get_standby
from commerce.search.documents import (
    POPULARITY_DAYS,
    Context,
    build_documents,
    count_active,
    iter_active_ids,
)
from commerce.search.models import (
    BUILDING,
    FAILED,
    LIVE,
    RETIRED,
    SearchGeneration,
    SearchPending,
    SearchSettings,
)
from commerce.search.port import SearchBackend, SearchBackendError
from commerce.search.rules import SETTINGS_CHANGED, load_settings

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


def _due(now: datetime) -> ColumnElement[bool]:
    """Open rows whose next attempt has come (a failed update waits out its backoff)."""
    return and_(
        SearchPending.applied_at.is_(None),
        or_(SearchPending.next_attempt_at.is_(None), SearchPending.next_attempt_at <= now),
    )


def has_open_pending() -> bool:
    """Recorded events due to be applied (an update still on its way, or a failed one whose
    backoff is over)."""
    return (
        db.session.scalar(select(SearchPending.event_id).where(_due(utcnow())).limit(1)) is not None
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


def refresh_products(
    product_ids: Iterable[int],
    *,
    ctx: Context | None = None,
    backend: SearchBackend | None = None,
) -> int:
    """Send the current documents of these products (deleting those that have none) to the
    backend (the configured one unless given)."""
    backend = backend or get_backend()
    ids = sorted({int(i) for i in product_ids})
    ctx = ctx or Context.load()
    sent = 0
    for start in range(0, len(ids), BATCH):
        documents, absent = build_documents(ids[start : start + BATCH], ctx=ctx)
        backend.index(documents)
        backend.delete(absent)
        sent += len(documents)
    return sent


@service
def refresh_lapsed_popularity(*, now: datetime | None = None) -> int:
    """Products whose sales left the 30-day window in the last day get their popularity
    recomputed (sales inside the window arrive with each order's event)."""
    now = now or utcnow()
    edge = now - timedelta(days=POPULARITY_DAYS)
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
    ctx = Context.load(now=now)
    standby = get_standby()
    if standby is not None and standby.has_index():
        refresh_products(ids, ctx=ctx, backend=standby)
    return refresh_products(ids, ctx=ctx)


@dataclass
class SyncRun:
    """What one run of the index sync did."""

    applied: int = 0  # events applied (the backend confirmed)
    failed: int = 0  # events whose update failed in this run: kept, with a next attempt time
    error: str = ""  # what the backend said about the last failure


def sync_pending(
    *, limit: int = 1000, now: datetime | None = None, everything: bool = False
) -> int:
    """Apply open search_pending rows; returns how many events were applied (apply_pending)."""
    return apply_pending(limit=limit, now=now, everything=everything).applied


def apply_pending(
    *, limit: int = 1000, now: datetime | None = None, everything: bool = False
) -> SyncRun:
    """Apply the open search_pending rows that are due, in batches. Rows close only once the
    backend has confirmed; a failure keeps them with a next attempt time that backs off
    (SEARCH_RETRY_FIRST_SECONDS doubling up to SEARCH_RETRY_MAX_SECONDS), never dropping
    one, however long the engine stays down. Once the backend took a batch, rows still
    waiting out a backoff go too (it is back); `everything` takes them from the start (an
    operator's `flask search sync`, a push from the console).

    With a standby index (backends.get_standby()), each change is written to the database's
    copy first, once (on its first attempt), so searches that fall back to it see the change
    while Meilisearch is down."""
    backend = get_backend()
    standby = get_standby()
    run = SyncRun()
    waiting_too = everything
    while True:
        with transaction() as session:
            claim_writer()
            if backend.name == "db" or standby is not None:
                # One writer at a time (and one first build, not one per worker).
                from commerce.search.backends.db import lock_index_writes

                lock_index_writes()
            clock = now or utcnow()
            stmt = select(SearchPending).where(
                SearchPending.applied_at.is_(None) if waiting_too else _due(clock)
            )
            stmt = stmt.order_by(SearchPending.event_id).limit(limit)
            if session.get_bind().dialect.name == "postgresql":
                stmt = stmt.with_for_update(skip_locked=True)
            rows = list(session.scalars(stmt))
            if not rows:
                return run
            if standby is not None:
                fresh = [row for row in rows if not row.attempts]
                if fresh or not standby.has_index():
                    _apply(standby, fresh)
            try:
                _apply(backend, rows)
            except SearchBackendError as exc:
                if exc.refused_request and len(rows) > 1:
                    # The engine works but refused: one bad change must not hold the rest.
                    _apply_one_by_one(backend, rows, clock, run)
                else:
                    _postpone(rows, exc, clock, run)
            else:
                _close(rows, run)
        if run.failed:
            return run
        if len(rows) < limit and waiting_too:
            return run
        waiting_too = True  # the backend took the batch: what waits out a backoff can go now


def _apply(backend: SearchBackend, rows: list[SearchPending]) -> None:
    if any(row.rebuild for row in rows) or not backend.has_index():
        reindex(backend=backend)
        return
    if any(row.settings for row in rows):
        backend.configure(load_settings())
    refresh_products((pid for row in rows for pid in row.product_ids or []), backend=backend)


def _apply_one_by_one(
    backend: SearchBackend, rows: list[SearchPending], clock: datetime, run: SyncRun
) -> None:
    for at, row in enumerate(rows):
        try:
            _apply(backend, [row])
        except SearchBackendError as exc:
            if not exc.refused_request:  # not this change's fault: the rest waits too
                _postpone(rows[at:], exc, clock, run)
                return
            _postpone([row], exc, clock, run)
        else:
            _close([row], run)


def _close(rows: list[SearchPending], run: SyncRun) -> None:
    now = utcnow()
    for row in rows:
        row.applied_at = now
        row.last_error = None
        row.next_attempt_at = None
    run.applied += len(rows)


def _postpone(
    rows: list[SearchPending], exc: SearchBackendError, clock: datetime, run: SyncRun
) -> None:
    first = float(current_app.config.get("SEARCH_RETRY_FIRST_SECONDS", 10))
    longest = float(current_app.config.get("SEARCH_RETRY_MAX_SECONDS", 300))
    for row in rows:
        row.attempts += 1
        row.last_error = exc.detail[:2000]
        delay = min(first * 2 ** min(row.attempts - 1, 30), longest)
        row.next_attempt_at = clock + timedelta(seconds=delay)
    run.failed += len(rows)
    run.error = exc.detail
    log.warning(
        "search index update failed for %s events, kept for a later attempt: %s",
        len(rows),
        exc.detail,
    )


@dataclass(frozen=True)
class PendingStatus:
    """Index changes not applied yet, for `flask search sync` and the console."""

    waiting: int  # recorded events not applied yet
    failing: int  # of those, how many failed at least once
    next_attempt_at: datetime | None  # the earliest retry of a failed one
    since: datetime | None  # when the oldest waiting change was recorded
    last_error: str  # the latest failure's message
    standby: str  # "" (none), "live" or "not built"


def pending_status() -> PendingStatus:
    open_rows = SearchPending.applied_at.is_(None)
    count = func.count(SearchPending.event_id)
    waiting, since = db.session.execute(
        select(count, func.min(SearchPending.created_at)).where(open_rows)
    ).one()
    failing, next_attempt_at = db.session.execute(
        select(count, func.min(SearchPending.next_attempt_at)).where(
            open_rows, SearchPending.attempts > 0
        )
    ).one()
    last_error = db.session.scalar(
        select(SearchPending.last_error)
        .where(open_rows, SearchPending.last_error.is_not(None))
        .order_by(SearchPending.event_id.desc())
        .limit(1)
    )
    standby = get_standby()
    return PendingStatus(
        waiting=int(waiting or 0),
        failing=int(failing or 0),
        next_attempt_at=next_attempt_at,
        since=since,
        last_error=last_error or "",
        standby="" if standby is None else ("live" if standby.has_index() else "not built"),
    )


@service
def purge_applied(*, older_than: timedelta = timedelta(days=7)) -> int:
    """Forget events applied long ago (a redelivery that old cannot happen)."""
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
            queue_task(sync_index)  # broker down: False, and the periodic sync applies them
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
    backend: SearchBackend | None = None,
) -> ReindexResult:
    """Build the whole index anew beside the live one and swap it in; searches keep being
    answered by the old index until the swap. Products changed meanwhile are written to both
    (sync_pending writes to every open generation) and refreshed again after the swap. The
    configured backend's index unless `backend` is given (the standby)."""
    started = utcnow()
    clock = datetime.now()
    backend = backend or get_backend()
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
        refresh_products((pid for row in again for pid in row.product_ids or []), backend=backend)
    purge = getattr(backend, "purge_retired", None)
    if purge is not None:
        purge()
    seconds = (datetime.now() - clock).total_seconds()
    log.info("search index (%s) rebuilt: %s documents in %.1fs", backend.name, done, seconds)
    return ReindexResult(generation_id, done, seconds, rebuild.name)


def start_reindex_job(*, by: Any) -> str:
    """A Job the console can watch; the task runs it (inline in the embedded mode)."""
    from commerce.search import tasks  # noqa: F401  (registers the job kind's task)

    job = create_job(REINDEX_JOB, title="Rebuild the search index", params={}, by=by)
    queue_job(job)  # broker down: the job stays queued for the job sweep
    return job.id


@service
def abandon_rebuild(job_id: str) -> int:
    """Close the generations a rebuild job left "building" when its worker stopped, so index
    writes stop going to them (the job's next run starts a fresh one)."""
    return db.session.execute(
        update(SearchGeneration)
        .where(SearchGeneration.job_id == job_id, SearchGeneration.status == BUILDING)
        .values(status=FAILED, error="The worker stopped during the rebuild.", finished_at=utcnow())
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
    standby = get_standby()
    if standby is not None:
        try:
            reindex(backend=standby)
        except Exception:  # the live index is rebuilt; the sync builds the standby later
            log.exception("rebuilding the standby search index failed")
    finish_job(
        job_id,
        result={"ok": True, "documents": result.documents, "seconds": round(result.seconds, 2)},
        message=f"{result.documents} products indexed in {result.seconds:.1f}s",
    )
    return result

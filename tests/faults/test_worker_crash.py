"""kill -9 of the Celery worker (`make worker`: make, Celery and its pool at once) while it
sends confirmation emails, while it writes the search index, and while it imports a CSV file;
then a new worker, and the periodic sweeps as beat runs them. What must hold afterwards: every
order's confirmation accepted by the mail server exactly once, the search index equal to the
catalog, every job finished or failed (never "running"), and the dead import applied again.

The kills land at known points without sleeping for them: a slow SMTP server holds a message
in DATA, or the test holds a row lock the worker's next write needs, and the worker is killed
once PostgreSQL shows it waiting there.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from email import policy
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import func, select, text

from bench._server import free_port
from commerce.catalog.models import Product
from commerce.extensions import db
from commerce.jobs import FAILED, QUEUED, RUNNING, SUCCEEDED, WORKER_STOPPED, Job, get_job
from tests.celery_processes import (
    WORKER_APP,
    MakeTarget,
    private_redis,
    production_app,
    wait_for,
    worker_env,
)
from tests.commerce.catalog.test_csv_import import csv_bytes

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.faults]

# Short clocks, so recovery happens within the test: leases, heartbeats and Redis redelivery.
SETTINGS: dict[str, Any] = {
    "OUTBOX_LEASE_SECONDS": 3,
    "JOB_HEARTBEAT_SECONDS": 0.25,
    "JOB_STALE_SECONDS": 1,
    "CELERY_VISIBILITY_TIMEOUT": 1,
    "IMPORT_FETCH_IMAGES": False,
}


@pytest.fixture(scope="module")
def broker() -> Iterator[str]:
    with private_redis() as url:
        yield url


@pytest.fixture
def shop(pg_url: str, broker: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    import redis

    redis.Redis.from_url(broker).flushdb()
    with production_app(pg_url, broker, tmp_path, monkeypatch, **SETTINGS) as app:
        yield app


@pytest.fixture
def workers(pg_url: str, broker: str, tmp_path: Path) -> Iterator[Callable[..., MakeTarget]]:
    """workers(**settings) starts `make worker` (not waiting for it to be ready)."""
    started: list[MakeTarget] = []

    def start(**extra: Any) -> MakeTarget:
        settings = {**SETTINGS, **extra, "IMPORT_FETCH_IMAGES": 0}
        env = worker_env(database_url=pg_url, broker_url=broker, instance=tmp_path, **settings)
        worker = MakeTarget("worker", env, tmp_path / "worker.log").start()
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


# -- reading what happened -----------------------------------------------------------------------


def scalar(sql: str, **params: Any) -> Any:
    """A fresh read of what the workers committed."""
    db.session.rollback()
    return db.session.execute(text(sql), params).scalar()


def idle_worker_transactions() -> int:
    """Worker transactions left open, doing nothing, for a while (held across a slow call)."""
    return scalar(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = :name"
        " AND state LIKE 'idle in transaction%' AND now() - state_change > interval '0.1 second'",
        name=WORKER_APP,
    )


class RowLock:
    """Hold a row lock from a connection of the test's own, as a busy writer would, and see
    who waits for it."""

    def __init__(self, sql: str, **params: Any) -> None:
        self.conn = db.engine.connect()
        self.tx = self.conn.begin()
        assert self.conn.execute(text(sql), params).first() is not None
        self.pid = self.conn.execute(text("SELECT pg_backend_pid()")).scalar()

    def waiting(self) -> int:
        """Worker connections waiting for this lock, first in line."""
        return scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE :pid = ANY(pg_blocking_pids(pid))"
            " AND application_name = :name",
            pid=self.pid,
            name=WORKER_APP,
        )

    def release(self) -> None:
        self.tx.rollback()
        self.conn.close()


def workers_waiting_on_locks(*, query_like: str = "%") -> int:
    """Worker connections waiting for any lock: the test's, or one that a worker waiting for
    the test's holds (PostgreSQL queues the waiters of a row)."""
    return scalar(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = :name"
        " AND wait_event_type = 'Lock' AND query LIKE :like",
        name=WORKER_APP,
        like=query_like,
    )


def unfinished_jobs() -> int:
    return scalar("SELECT count(*) FROM job WHERE status IN (:q, :r)", q=QUEUED, r=RUNNING)


def pending_events() -> int:
    return scalar("SELECT count(*) FROM outbox_event WHERE dispatched_at IS NULL")


def finished(job_id: str, *, timeout: float = 60) -> Job:
    def check() -> Job | None:
        db.session.rollback()
        job = get_job(job_id)
        return job if job.finished else None

    return wait_for(check, timeout=timeout, what=f"job {job_id} to finish")


def sweep_until_failed(job_id: str) -> Job:
    """Run the periodic job sweep as beat does, until it gives up on the dead worker's job."""
    from commerce.jobs import sweep_jobs

    def check() -> Job | None:
        sweep_jobs()
        db.session.rollback()
        job = get_job(job_id)
        return job if job.status == FAILED else None

    return wait_for(check, timeout=30, what=f"the sweep to fail job {job_id}", every=0.25)


# -- (a) email ----------------------------------------------------------------------------------


class SlowMailServer:
    """An SMTP server that takes `delay` seconds to accept a message (a content filter), and
    holds the one after `hold_after` acceptances for `hold` seconds. A message counts as
    accepted only if its client was still there to hear "250": a client killed meanwhile never
    learnt it went, so it was not delivered (and must be sent again)."""

    def __init__(self, *, delay: float, hold_after: int, hold: float) -> None:
        self.delay, self.hold_after, self.hold = delay, hold_after, hold
        self.accepted: list[str] = []  # Message-IDs, in order
        self.abandoned = 0  # DATA whose client vanished before the answer
        self.holding = threading.Event()  # set while the held message waits for its answer

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = BytesParser(policy=policy.default).parsebytes(envelope.content)
        wait = self.delay
        if len(self.accepted) >= self.hold_after and not self.holding.is_set():
            self.holding.set()
            wait = self.hold
        try:
            await asyncio.sleep(wait)
        except asyncio.CancelledError:
            self.abandoned += 1
            raise
        self.accepted.append(str(message["Message-ID"]))
        return "250 Message accepted"


def place_orders(count: int) -> list[int]:
    from commerce.checkout.cart import add_to_cart
    from commerce.checkout.services import (
        choose_shipping_method,
        place_order,
        save_information,
        start_checkout,
    )
    from tests.conftest import TEST_CARD, US_ADDRESS, build_checkout_shop

    shop = build_checkout_shop(stock=count)
    ids = []
    for n in range(count):
        checkout = start_checkout(add_to_cart(None, variant_id=shop.small, quantity=1))
        save_information(checkout, email=f"shopper{n}@example.com", address=US_ADDRESS)
        choose_shipping_method(checkout, code="STD")
        ids.append(place_order(checkout.key, card=TEST_CARD).order.id)
    return ids


def test_worker_killed_while_sending_confirmations(shop, workers, fault_report):
    from commerce.orders.emails import CONFIRMATION_SENT
    from commerce.orders.models import OrderEvent
    from commerce.outbox import dispatch_outbox

    server = SlowMailServer(delay=0.1, hold_after=4, hold=3)
    port = free_port()
    controller = Controller(server, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        worker = workers(MAIL_SMTP_URL=f"smtp://127.0.0.1:{port}")
        orders = place_orders(12)
        worker.wait_for_output(" ready.")

        def held() -> bool:
            # What beat sends every few seconds: a busy machine delivers fewer per run (each
            # run stops taking new events halfway through its lease), so ask until one is held.
            if server.holding.is_set():
                return True
            dispatch_outbox.delay()
            return False

        wait_for(held, timeout=90, what="a message held in DATA", every=1.0)
        time.sleep(0.2)  # into the held DATA (a transaction held across it would be idle now)
        held_open = idle_worker_transactions()
        worker.kill()
        sent_before = len(server.accepted)
        wait_for(lambda: server.abandoned, what="the server to notice the dead client")

        again = workers(MAIL_SMTP_URL=f"smtp://127.0.0.1:{port}")
        again.wait_for_output(" ready.")

        def all_sent() -> bool:
            if not scalar("SELECT count(*) FROM outbox_event WHERE dispatched_at IS NULL"):
                return True
            dispatch_outbox.delay()  # beat's every-few-seconds dispatch
            return False

        wait_for(all_sent, timeout=60, what="every event to be delivered", every=0.5)
    finally:
        controller.stop()

    accepted = Counter(server.accepted)
    recorded = db.session.scalars(
        select(OrderEvent).where(OrderEvent.kind == CONFIRMATION_SENT)
    ).all()
    per_order = Counter(e.order_id for e in recorded)
    assert held_open == 0, "a transaction stayed open while the mail server was talked to"
    assert sorted(per_order) == sorted(orders) and set(per_order.values()) == {1}
    assert set(accepted) == {e.data["message_id"] for e in recorded}
    assert len(accepted) == len(orders) and set(accepted.values()) == {1}
    assert pending_events() == 0
    fault_report(
        orders=len(orders),
        accepted_before_kill=sent_before,
        abandoned_in_data=server.abandoned,
        accepted=len(server.accepted),
        duplicate_message_ids=sum(n - 1 for n in accepted.values()),
        lost=len(orders) - len(accepted),
        idle_transactions_during_smtp=held_open,
        events_pending=pending_events(),
    )


# -- (b) search index ---------------------------------------------------------------------------


def import_file(rows: list[dict[str, str]], name: str) -> None:
    """Apply a CSV in this process, through the import service (setup, not under test)."""
    from commerce.catalog.csv_import import apply_import
    from commerce.catalog.csv_uploads import store_upload

    upload = store_upload(csv_bytes(rows), filename=name)
    report = apply_import(upload.path, by=None)
    assert report.ok, report.errors[:3]


def tote_rows(count: int, *, price: str, prefix: str = "tote") -> list[dict[str, str]]:
    return [
        {
            "handle": f"{prefix}-{n}",
            "title": f"Canvas {prefix.title()} {n}",
            "sku": f"{prefix.upper()}-{n}",
            "price": price,
            "status": "active",
        }
        for n in range(count)
    ]


def index_mismatches() -> list[str]:
    """How the live db-backend index differs from the catalog: missing or extra products, and
    documents whose title or price is not the product's."""
    from commerce.search.models import LIVE, SearchDocument, SearchGeneration

    db.session.rollback()
    live = db.session.scalar(
        select(SearchGeneration.id).where(
            SearchGeneration.backend == "db", SearchGeneration.status == LIVE
        )
    )
    documents = {
        row.product_id: row
        for row in db.session.execute(
            select(SearchDocument.product_id, SearchDocument.data, SearchDocument.price_min).where(
                SearchDocument.generation_id == live
            )
        )
    }
    products = {
        p.id: p for p in db.session.scalars(select(Product).where(Product.status == "active"))
    }
    problems = [f"missing {pid}" for pid in products.keys() - documents.keys()]
    problems += [f"extra {pid}" for pid in documents.keys() - products.keys()]
    for pid in products.keys() & documents.keys():
        product, document = products[pid], documents[pid]
        price = min(v.price for v in product.variants)
        title = (document.data or {}).get("title")
        if (title, document.price_min) != (product.title, price):
            problems.append(f"{pid}: {title} {document.price_min} != {product.title} {price}")
    return problems


PRODUCTS = 150


def test_worker_killed_while_writing_the_search_index(shop, workers, fault_report):
    from commerce.jobs import run_job_again
    from commerce.outbox import dispatch_outbox, dispatch_pending
    from commerce.search.indexing import start_reindex_job, sync_pending
    from commerce.search.models import BUILDING, SearchGeneration, SearchPending
    from commerce.search.tasks import sync_index

    worker = workers()
    import_file(tote_rows(PRODUCTS, price="12.00"), "totes.csv")
    dispatch_pending(limit=10_000)
    sync_pending()  # the first index, built here
    assert index_mismatches() == []
    import_file(tote_rows(PRODUCTS, price="15.00"), "new-prices.csv")  # product.changed each
    import redis

    redis.Redis.from_url(shop.config["CELERY"]["broker_url"]).flushdb()  # setup's sync requests

    # The live generation's row is busy: the worker's index writes (and a rebuild's swap) wait
    # for it with their documents written but not committed.
    lock = RowLock("SELECT id FROM search_generation WHERE status = 'live' FOR UPDATE")
    try:
        worker.wait_for_output(" ready.")
        dispatch_outbox.delay()
        rebuild = start_reindex_job(by=None)
        wait_for(
            lambda: lock.waiting() and workers_waiting_on_locks() >= 2,
            timeout=60,
            what="both worker processes to wait",
        )
        worker.kill()
    finally:
        lock.release()

    stale_prices = scalar(
        "SELECT count(*) FROM search_document d JOIN search_generation g ON g.id = d.generation_id"
        " WHERE g.status = 'live' AND d.price_min = 1200"
    )
    recorded = scalar("SELECT count(*) FROM search_pending WHERE applied_at IS NULL")
    assert stale_prices == PRODUCTS, "half an index update was committed"
    assert get_job(rebuild).status == RUNNING  # as the dead worker left it

    stopped = sweep_until_failed(rebuild)
    assert stopped.message == WORKER_STOPPED and stopped.can_run_again
    left_building = db.session.scalar(
        select(func.count())
        .select_from(SearchGeneration)
        .where(SearchGeneration.job_id == rebuild, SearchGeneration.status == BUILDING)
    )
    assert left_building == 0  # the half-built generation is closed, not written to forever

    again = workers()
    again.wait_for_output(" ready.")
    rerun = run_job_again(rebuild, by=None)  # the console's "Run again"
    assert finished(rerun.id).status == SUCCEEDED

    def caught_up() -> bool:
        open_rows = db.session.scalar(
            select(func.count())
            .select_from(SearchPending)
            .where(SearchPending.applied_at.is_(None))
        )
        if not pending_events() and not open_rows:
            return True
        dispatch_outbox.delay()  # beat: the outbox every 5 s, the index every 10 s
        sync_index.delay()
        return False

    wait_for(caught_up, timeout=60, what="the index to catch up", every=0.5)
    mismatches = index_mismatches()
    assert mismatches == []
    assert unfinished_jobs() == 0
    fault_report(
        products=PRODUCTS,
        changes_recorded_at_kill=recorded,
        stale_documents_after_kill=stale_prices,
        rebuild_job=get_job(rebuild).status,
        rerun_job=get_job(rerun.id).status,
        index_mismatches=len(mismatches),
        jobs_running=unfinished_jobs(),
    )


# -- (c) CSV import -----------------------------------------------------------------------------


def test_worker_killed_during_a_csv_import(shop, workers, make_staff_pg, fault_report):
    from commerce.catalog.csv_uploads import create_apply_job, create_check_job, store_upload
    from commerce.catalog.tasks import start_import
    from commerce.errors import Conflict
    from commerce.jobs import run_claimed, run_job_again

    rows = tote_rows(250, price="9.00", prefix="bag")
    worker = workers()
    staff = make_staff_pg()
    upload = store_upload(csv_bytes(rows), filename="bags.csv")
    check = create_check_job(upload, by=staff)
    from commerce.catalog.csv_uploads import run_import_job

    run_claimed(check.id, run_import_job)  # the dry run, here (the worker is starting)
    assert get_job(check.id).status == SUCCEEDED

    worker.wait_for_output(" ready.")
    job = start_import(upload.id, by=staff)
    wait_for(
        lambda: scalar("SELECT done FROM job WHERE id = :id", id=job.id) >= 50,
        timeout=60,
        what="the import to get going",
    )
    # The job's row is busy: the import's next progress report waits, mid-transaction.
    lock = RowLock("SELECT id FROM job WHERE id = :id FOR UPDATE", id=job.id)
    try:
        wait_for(
            lambda: lock.waiting() and workers_waiting_on_locks(query_like="%done=%"),
            what="the import's progress report to wait",
        )
        worker.kill()
    finally:
        lock.release()
    done_at_kill = scalar("SELECT done FROM job WHERE id = :id", id=job.id)

    def products() -> int:
        return scalar("SELECT count(*) FROM product WHERE handle LIKE 'bag-%'")

    half_written = products()
    events = scalar("SELECT count(*) FROM outbox_event WHERE topic = 'product.changed'")
    assert (half_written, events) == (0, 0), "the dead import left rows behind"
    assert get_job(job.id).status == RUNNING
    with pytest.raises(Conflict) as refused:
        create_apply_job(upload.id, by=staff)
    assert "being imported" in refused.value.message  # not "already imported"

    stopped = sweep_until_failed(job.id)
    assert stopped.message == WORKER_STOPPED and stopped.can_run_again

    again = workers()
    again.wait_for_output(" ready.")
    # Redis hands the dead worker's message to the new worker: its claim finds the job failed.
    again.wait_for_output(f"job {job.id} is failed (run 1): nothing to do")
    rerun = run_job_again(job.id, by=staff)  # the console's "Run again"
    assert finished(rerun.id).status == SUCCEEDED
    assert products() == len(rows)
    dead = get_job(job.id)
    assert (dead.status, dead.runs) == (FAILED, 1)
    assert unfinished_jobs() == 0
    fault_report(
        rows=len(rows),
        done_at_kill=done_at_kill,
        products_after_kill=half_written,
        events_after_kill=events,
        redelivered_runs=dead.runs - 1,
        products=products(),
        jobs_running=unfinished_jobs(),
    )


@pytest.fixture
def make_staff_pg(shop: Any) -> Callable[[], Any]:
    def make() -> Any:
        from commerce.staff.services import create_staff

        return create_staff(
            "importer@example.com", role="merchandiser", password="long-enough-1", by=None
        )

    return make

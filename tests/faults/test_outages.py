"""Outages of the services the shop leans on, with real processes (gunicorn, redis-server):

- Redis stopped while shoppers check out and staff sign in (Redis is the rate limits' store,
  the cache and the Celery broker): orders are placed, sign-ins succeed, a background job
  started meanwhile stays queued, nobody gets a 5xx; once Redis is back the outbox delivers
  every event (one confirmation email per order).
- The database unreachable (a TCP proxy in front of PostgreSQL, stopped): the shop and the
  console answer the static 503 page (an alert for htmx) with Retry-After, naming no host,
  port or error; once the proxy is back the shop answers again.
- Meilisearch down (a closed port for the live server; a pytest-httpserver answering 503 for
  the index sync): searches and suggestions come from the database's standby index with no
  internal detail shown; a product renamed during the outage is found under its new name
  meanwhile, its index change survives more attempts than the old limit of 20 and reaches
  Meilisearch when it returns.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests
from flask import Flask
from sqlalchemy import func, make_url, select
from werkzeug.wrappers import Request, Response

from bench._server import (
    ERROR_5XX,
    ORDER,
    LiveServer,
    Shopper,
    build_flash_shop,
    check_out,
    free_port,
    stock_report,
)
from commerce.extensions import db
from tests.commerce.search.meili_contract import DocumentedApi
from tests.conftest import FAST_HASH, TEST_PASSWORD, base_config, require_service, reset_postgres

pytestmark = [pytest.mark.postgres, pytest.mark.faults]

CSRF = re.compile(r'"X-CSRFToken": "([^"]+)"')
# What an error page must never show: where the services are, or what failed inside.
LEAKS = ("127.0.0.1", "traceback", "psycopg", "sqlalchemy", "operationalerror", "meilisearch")


def leaks(text: str, *extra: str) -> list[str]:
    lowered = text.lower()
    return [word for word in (*LEAKS, *extra) if word.lower() in lowered]


def plain(html: str) -> str:
    """The text of a page (titles of hits carry <mark> highlights)."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", html))


# -- processes and faults -----------------------------------------------------------------------


class RedisServer:
    """A redis-server of the test's own on a free port, killed and started again at will."""

    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server is not installed (make test installs it)")
        self.binary = binary
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> RedisServer:
        import redis

        self.process = subprocess.Popen(
            [
                *(self.binary, "--port", str(self.port), "--bind", "127.0.0.1"),
                *("--save", "", "--appendonly", "no"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis.from_url(self.url, socket_connect_timeout=1)
        for _ in range(100):
            try:
                client.ping()
                client.close()
                return self
            except redis.RedisError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def kill(self) -> None:
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.kill()
            process.wait(timeout=10)


class TcpProxy:
    """A loopback TCP proxy to PostgreSQL: stop() makes the database unreachable (open
    connections cut, new ones refused), start() brings it back on the same port."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self.running = False
        self.sockets: list[socket.socket] = []
        self.lock = threading.Lock()

    def start(self) -> TcpProxy:
        self.listener = socket.create_server(("127.0.0.1", self.port))
        self.listener.settimeout(0.1)
        self.running = True
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def _accept(self) -> None:
        while self.running:
            try:
                client, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port))
            except OSError:
                client.close()
                continue
            with self.lock:
                self.sockets += [client, upstream]
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def stop(self) -> None:
        self.running = False
        self.listener.close()
        with self.lock:
            sockets, self.sockets = self.sockets, []
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()


class Staff:
    """A staff member's browser on the console: its own cookies and CSRF token."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.http = requests.Session()
        self.token = ""

    def get(self, path: str, **kw: Any) -> requests.Response:
        response = self.http.get(self.base_url + path, allow_redirects=False, timeout=60, **kw)
        found = CSRF.search(response.text)
        if found:
            self.token = found.group(1)
        return response

    def post(self, path: str, data: dict[str, Any]) -> requests.Response:
        return self.http.post(
            self.base_url + path,
            data={**data, "csrf_token": self.token},
            allow_redirects=False,
            timeout=60,
        )

    def sign_in(self, email: str) -> list[int]:
        """The statuses of: the sign-in page, the sign-in, the dashboard it leads to."""
        page = self.get("/console/login")
        answer = self.post("/console/login", {"email": email, "password": TEST_PASSWORD})
        dashboard = self.get("/console/")
        return [page.status_code, answer.status_code, dashboard.status_code]


def make_admin(email: str) -> None:
    from commerce.staff.models import StaffMember

    db.session.add(StaffMember(email=email, name="Admin", role="admin", password_hash=FAST_HASH))
    db.session.commit()


# -- (a) Redis stopped during checkout and sign-in ---------------------------------------------


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    require_service("Redis", "TEST_REDIS_URL")  # the Redis leg of the suite runs here
    server = RedisServer().start()
    yield server
    server.kill()


@pytest.mark.redis
def test_redis_stopped_during_checkout_and_sign_in(
    pg_app: Flask, pg_url: str, redis_server: RedisServer, tmp_path: Any, fault_report: Any
) -> None:
    from commerce.jobs import Job
    from commerce.orders.models import Order
    from commerce.outbox import OutboxEvent, dispatch_pending

    shop = build_flash_shop(units=40)
    make_admin("admin@example.com")
    live = LiveServer(
        database_url=pg_url,
        redis_url=redis_server.url,
        instance=tmp_path / "server",
        workers=2,
        threads=4,
        env={"CELERY_BROKER_URL": redis_server.url, "RATELIMIT_ENABLED": "true"},
    )
    journeys: list[Any] = []
    sign_ins: list[list[int]] = []
    n = iter(range(1000))

    def shop_once(_: int = 0) -> Any:
        shopper = Shopper(live.url, timeout=60)
        try:
            shopper.open()
            shopper.add_to_cart(shop.variant_id, 1)
            journey = check_out(shopper, email=f"shopper{next(n)}@example.com")
        finally:
            shopper.close()
        journeys.append(journey)
        return journey

    def sign_in_once(_: int = 0) -> None:
        sign_ins.append(Staff(live.url).sign_in("admin@example.com"))

    import redis

    with live:
        # Redis up: the limits count there and the broker takes the outbox's dispatch task.
        shop_once()
        sign_in_once()
        probe = redis.Redis.from_url(redis_server.url)
        used = {"limits": len(probe.keys("LIMITS*")), "queued": probe.llen("celery")}
        probe.close()

        # Redis killed while shoppers are on their way through checkout.
        first_order = threading.Event()
        with ThreadPoolExecutor(max_workers=4) as pool:
            wave = [pool.submit(shop_once) for _ in range(6)]
            wave.append(pool.submit(sign_in_once))
            while not first_order.is_set() and not all(f.done() for f in wave):
                first_order.wait(0.02)
                if any(j.outcome == ORDER for j in journeys[1:]):
                    first_order.set()
            redis_server.kill()
            [f.result() for f in wave]

            # Redis down: more checkouts, sign-ins and a background job.
            down = [pool.submit(shop_once) for _ in range(6)]
            down += [pool.submit(sign_in_once) for _ in range(3)]
            [f.result() for f in down]
        admin = Staff(live.url)
        admin.sign_in("admin@example.com")
        admin.get("/console/orders/packing-slips")
        order_ids = list(db.session.scalars(select(Order.id).order_by(Order.id).limit(3)))
        job_answer = admin.post("/console/orders/packing-slips", {"order_id": order_ids})

        # Redis back on the same port.
        redis_server.start()
        shop_once()
        sign_in_once()
        log = live.log_tail(chars=1_000_000)

    outcomes = [j.outcome for j in journeys]
    failures = [j.failure.describe() for j in journeys if j.outcome != ORDER and j.failure]
    assert failures == [], f"{failures[:3]}\n{log[-3000:]}"
    assert outcomes.count(ORDER) == 14 and ERROR_5XX not in outcomes
    assert sign_ins == [[200, 303, 200]] * 6, sign_ins
    assert job_answer.status_code == 303, job_answer.text[:500]
    assert "Exception on" not in log, log[-3000:]  # no request failed unhandled
    assert used["limits"] > 0 and used["queued"] > 0  # Redis was really in use before
    assert "falling back to in-memory storage" in log  # the limiter said so
    assert "broker unreachable" in log

    db.session.expire_all()
    job = db.session.scalars(select(Job).where(Job.kind == "packing_slips")).one()
    assert job.status == "queued"  # for the job sweeper; the request did not fail it

    # Nothing lost: every order's events are in the outbox and are delivered now.
    waiting = db.session.scalar(
        select(func.count()).select_from(OutboxEvent).where(OutboxEvent.dispatched_at.is_(None))
    )
    delivered = 0
    while batch := dispatch_pending():
        delivered += batch
    undelivered = db.session.scalar(
        select(func.count()).select_from(OutboxEvent).where(OutboxEvent.dispatched_at.is_(None))
    )
    emails = list((tmp_path / "mail").glob("*.eml"))
    report = stock_report(shop.variant_id)
    assert undelivered == 0 and delivered >= waiting
    assert len(emails) == report.orders == 14
    assert report.ledger_mismatches == [] and report.counter_mismatches == []
    assert report.units_ordered == 14 and report.captured == 14
    fault_report(
        orders=report.orders,
        five_xx=outcomes.count(ERROR_5XX),
        sign_ins_ok=len(sign_ins),
        job_left_queued=int(job.status == "queued"),
        events_delivered_after=delivered,
        undelivered=undelivered,
        emails=len(emails),
        slowest_request_ms=round(max(a.ms for j in journeys for a in j.answers)),
    )


# -- (b) the database unreachable ---------------------------------------------------------------


def test_database_unreachable_answers_the_static_503_page(
    pg_app: Flask, pg_url: str, tmp_path: Any, fault_report: Any
) -> None:
    target = make_url(pg_url)
    proxy = TcpProxy(target.port or 5432).start()
    via_proxy = target.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    make_admin("admin@example.com")
    shop = build_flash_shop(units=5)
    live = LiveServer(
        database_url=via_proxy,
        redis_url="",  # in-process cache and limits: only the database fails here
        instance=tmp_path / "server",
        workers=1,
        threads=4,
    )
    answers: list[tuple[str, requests.Response]] = []
    try:
        with live:
            staff = Staff(live.url)
            assert staff.sign_in("admin@example.com") == [200, 303, 200]
            cart = Shopper(live.url, timeout=30)
            cart.open()
            cart.add_to_cart(shop.variant_id, 1)  # the cart page now reads the database
            shopper = cart.http

            proxy.stop()
            hx = {"HX-Request": "true"}
            for path, headers in (
                ("/", {}),
                ("/cart", {}),
                ("/search?q=sneaker", {}),
                ("/products/flash-sale-sneaker", {}),
                ("/cart", hx),
            ):
                answers.append((path, shopper.get(live.url + path, headers=headers, timeout=30)))
            for path, headers in (("/console/", {}), ("/console/orders", {}), ("/console/", hx)):
                answers.append((path, staff.get(path, headers=headers)))
            newcomer = Staff(live.url)
            assert newcomer.get("/console/login").status_code == 200  # needs no database
            signing_in = {"email": "admin@example.com", "password": TEST_PASSWORD}
            answers.append(("POST /console/login", newcomer.post("/console/login", signing_in)))

            proxy.start()
            back = shopper.get(live.url + "/cart", timeout=30).status_code
    finally:
        proxy.stop()

    shown: list[str] = []
    for path, answer in answers:
        hx_request = answer.request.headers.get("HX-Request") == "true"
        assert answer.status_code == 503, (path, answer.status_code, answer.text[:300])
        assert answer.headers["Retry-After"] == "30"
        assert leaks(answer.text, f":{proxy.port}", str(target.port)) == [], (path, answer.text)
        if hx_request:
            assert answer.text.startswith('<div class="alert alert-error"'), answer.text
        elif path.startswith(("/console", "POST /console")):
            assert "The console is unavailable for a moment" in answer.text
        else:
            assert "Back in a moment" in answer.text
        shown.append(path)
    assert back == 200  # the shop recovers on its own
    fault_report(requests=len(answers), static_503=len(shown), leaks=0, recovered=int(back == 200))


# -- (c) Meilisearch down -----------------------------------------------------------------------


@pytest.fixture
def meili(httpserver: Any) -> Iterator[tuple[DocumentedApi, threading.Event]]:
    """Meilisearch's documented API, answering 503 to everything while the event is set."""
    api = DocumentedApi()
    down = threading.Event()

    def handle(request: Request) -> Response:
        if down.is_set():
            return Response("no healthy upstream", status=503)
        return api(request)

    httpserver.expect_request(re.compile(r"^/.*$")).respond_with_handler(handle)
    yield api, down
    assert api.problems == []


@pytest.fixture
def meili_pg_app(
    meili: tuple[DocumentedApi, threading.Event], httpserver: Any, pg_url: str, tmp_path: Any
) -> Iterator[Flask]:
    from flask_migrate import upgrade

    from wsgi import create_app

    reset_postgres(pg_url)
    app = create_app(
        base_config(
            tmp_path,
            SQLALCHEMY_DATABASE_URI=pg_url,
            MEILISEARCH_URL=httpserver.url_for("/").rstrip("/"),
            MEILISEARCH_API_KEY=meili[0].api_key,
            SEARCH_EMBEDDED_CATCH_UP=False,
        )
    )
    with app.app_context():
        upgrade()
        yield app
        db.session.remove()
        db.engine.dispose()


def test_meilisearch_down_search_falls_back_and_changes_catch_up(
    meili_pg_app: Flask,
    meili: tuple[DocumentedApi, threading.Event],
    pg_url: str,
    tmp_path: Any,
    fault_report: Any,
) -> None:
    from commerce.catalog.services import create_product, update_product
    from commerce.outbox import dispatch_pending
    from commerce.search.indexing import pending_status, sync_pending
    from commerce.search.models import SearchPending

    api, down = meili
    walnut = create_product(title="Walnut Board", price=4500, status="active", by=None)
    for title in ("Maple Spoon", "Oak Stool"):
        create_product(title=title, price=1500, status="active", by=None)
    dispatch_pending()  # builds Meilisearch's index and the database's standby
    assert api.requests("POST", "/swap-indexes")
    assert pending_status().standby == "live"

    closed = free_port()  # nothing listens there: Meilisearch is down for the live server
    live = LiveServer(
        database_url=pg_url,
        redis_url="",
        instance=tmp_path / "server",
        workers=1,
        threads=4,
        env={
            "MEILISEARCH_URL": f"http://127.0.0.1:{closed}",
            "MEILISEARCH_API_KEY": api.api_key,
            "SEARCH_EMBEDDED_CATCH_UP": "false",
        },
    )
    runner = meili_pg_app.test_cli_runner()
    with live:
        http = requests.Session()
        searches: list[str] = []

        def get(path: str) -> requests.Response:
            searches.append(path)
            answer = http.get(live.url + path, timeout=30)
            assert answer.status_code == 200, (path, answer.status_code, answer.text[:300])
            assert leaks(answer.text, str(closed), "did not answer") == [], answer.text
            return answer

        found = get("/search?q=walnut")
        suggested = get("/search/suggest?q=walnu")
        assert "Walnut Board" in plain(found.text) and "Walnut Board" in plain(suggested.text)

        # Index changes while Meilisearch answers 503: kept, retried with backoff, never
        # dropped; the standby has the new name at once.
        down.set()
        update_product(walnut, title="Cedar Crate", by=None)
        dispatch_pending()
        (row,) = db.session.scalars(select(SearchPending).where(SearchPending.applied_at.is_(None)))
        assert row.attempts == 1
        renamed = get("/search?q=cedar")
        assert "Cedar Crate" in plain(renamed.text)
        sent = len(api.sent)
        assert sync_pending() == 0 and row.attempts == 1  # waiting out its backoff: no call
        assert len(api.sent) == sent
        while row.attempts < 25:  # the periodic sync, each time the backoff is over
            assert sync_pending(now=row.next_attempt_at) == 0
            db.session.refresh(row)
        outage_cli = runner.invoke(args=["search", "sync"])
        db.session.refresh(row)
        assert row.applied_at is None and "503" in (row.last_error or "")
        still_found = get("/search?q=cedar")
        log = live.log_tail(chars=1_000_000)

    # Meilisearch is back: the next periodic attempt applies the change.
    down.clear()
    assert sync_pending(now=row.next_attempt_at) == 1
    db.session.refresh(row)
    titles = [d["title"] for batch in api.documents_sent() for d in batch if d["id"] == walnut.id]
    back_cli = runner.invoke(args=["search", "sync"])

    assert "Cedar Crate" in plain(still_found.text)
    assert "answering searches from the database's standby index" in log
    assert outage_cli.exit_code == 1, outage_cli.output
    assert "Still pending: 1 events" in outage_cli.output
    assert "Last error: Meilisearch refused the request: 503" in outage_cli.output
    assert row.applied_at is not None and titles[-1] == "Cedar Crate"
    assert back_cli.exit_code == 0 and "Nothing is pending." in back_cli.output
    fault_report(
        searches_from_standby=len(searches),  # Meilisearch never answered the live server
        attempts_while_down=row.attempts,
        dropped=0,
        applied_on_return=1,
        leaks=0,
    )

"""Flash-sale benchmark: N shoppers race for M units of one SKU over real HTTP while others
browse the shop, with a Flask hello-world measured by the same client as the reference.

    python bench/flash_sale.py [--quick] [--shoppers N] [--units M] [--workers W] [--threads T]
                               [--browsers B] [--browse-rate R] [--edge] [--eager]
                               [--rate-limits]
                               [--database-url URL] [--redis-url URL]

Defaults: 2,000 shoppers for 100 units, gunicorn 4 workers x 8 threads, 8 browsing clients
asking for 100 pages a second in all;
--quick: 500 shoppers for 100 units (under a minute).

Needs PostgreSQL and Redis: --database-url / --redis-url or TEST_DATABASE_URL / TEST_REDIS_URL
(refuses to run without them; `make services` starts the local test servers). The shop lives
in its own schema (`bench_flash_sale`, dropped and rebuilt at the start and dropped at the
end, so the database's other tables are never touched; pg_trgm, which the search index needs,
is installed in the database if missing); the Redis database is flushed (cache entries of an
earlier run would name other rows) and its next database is the Celery broker.

1. The reference: a Flask hello-world (bench/_hello.py) on gunicorn with the same settings,
   driven by as many client threads as the server has threads for 3 s: hello_rps.
2. The shop (built by the migrations and the domain services): the sale's product with M units
   in a category of 20 other stocked products; US shipping and tax. gunicorn serves it,
   configured by environment variables only as in production, with a Celery worker taking the
   outbox's work after each commit (--eager: none, Celery runs the work inside the request as in
   the embedded mode). Rate limits are off unless --rate-limits.
3. Each shopper is its own browser (cookie jar, CSRF token from GET /cart; the clients speak
   http.client, bench._server.LeanHTTP, to leave the shared CPU to the server); all N put one unit
   in their carts (16 at a time). B browsing clients then walk product and category pages at
   R pages a second in all (through the edge cache with --edge: bench._server.EdgeCache), and
   a barrier releases the shoppers together through POST /checkout -> information -> shipping
   -> place (waiting in the checkout queue where there is one).

The server processes carry a probe (bench/_probe) counting SQL statements per endpoint and
timing each transaction that updated the stock row: from the UPDATE's answer to its COMMIT
(the lock's hold) and the UPDATE itself (its wait for the lock). The database is checked after
the run (ledger, counters, captured payments). The last line holds every figure as key=value:

    orders, oversold (must be 0), errors_5xx (shoppers and browsing), checkouts_per_s (orders /
    time from the release to the last shopper's answer), place_p50_ms, place_p99_ms,
    sold_out_p99_ms (the answer saying sold out), queue_wait_p50_ms / queue_wait_p99_ms (time
    in the checkout queue, from the journeys; n/a without a queue), browse_p99_ms (pages
    browsed while the sale ran), sql_per_checkout (statements of the checkout requests during
    the sale, sold-out answers included, per order), server_cpu_ms_per_checkout (gunicorn's CPU
    during the sale, browsing included, per order), stock_hold_p99_ms, stock_wait_p99_ms,
    hello_rps.
"""

from __future__ import annotations

import argparse
import http.client as http_client
import json
import logging
import os
import random
import resource
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = "bench_flash_sale"
PREPARE_CLIENTS = 16
MAX_DB_CONNECTIONS = 80  # of PostgreSQL's 100, leave room for this script and psql
CATALOG = 20  # other products in the sale's category, for the browsing clients
HELLO_SECONDS = 3.0
BROWSE_RATE = 100.0  # pages/s of browsing during the sale, paced like arriving visitors
CHECKOUT_ENDPOINTS = (
    "storefront.checkout_start",
    "storefront.checkout_information",
    "storefront.checkout_shipping",
    "storefront.checkout_payment",
    "storefront.checkout_place",
)


def service_urls(args: argparse.Namespace) -> tuple[str, str]:
    sys.path.insert(0, str(ROOT))
    from bench._server import postgres_url

    url = postgres_url(args.database_url, "bench/flash_sale.py")
    redis_url = args.redis_url or os.environ.get("TEST_REDIS_URL")
    if not redis_url:
        sys.exit(
            "bench/flash_sale.py needs Redis: pass --redis-url redis://... or set TEST_REDIS_URL "
            "(`make redis` starts the local test server)."
        )
    return url, redis_url


def edge_cache_class() -> Any:
    """The edge cache the browsing goes through with --edge: Varnish (`make varnish`)."""
    sys.path.insert(0, str(ROOT))
    from bench._server import EdgeCache, varnish_available

    missing = varnish_available()  # why it cannot run, or None
    if missing:
        sys.exit(f"--edge needs Varnish with its xkey module: {missing}")
    return EdgeCache


def build_app(url: str, instance: str) -> Any:
    from wsgi import create_app

    return create_app(
        {
            "INSTANCE_PATH": instance,
            "SECRET_KEY": "bench",
            "SQLALCHEMY_DATABASE_URI": url,
            "RATELIMIT_ENABLED": False,
            "MEDIA_ROOT": str(Path(instance) / "media"),
        }
    )


def build_browsing(shop: Any) -> list[str]:
    """The sale's product in a category with CATALOG other stocked products; the pages the
    browsing clients walk (the category and every product page)."""
    from commerce.catalog.models import Variant
    from commerce.catalog.services import create_product, update_product
    from commerce.catalog.taxonomy import create_category
    from commerce.extensions import db
    from commerce.inventory.services import receive_stock
    from commerce.outbox import dispatch_pending

    category = create_category(name="Sneakers", by=None)
    sale = db.session.get(Variant, shop.variant_id).product
    update_product(sale, category_id=category.id, by=None)
    handles = [sale.handle]
    for n in range(CATALOG):
        product = create_product(
            title=f"Everyday sneaker {n + 1}",
            price=4000 + 100 * n,
            sku=f"SNEAK-{n + 1}",
            status="active",
            category_id=category.id,
            by=None,
        )
        receive_stock(product.variants[0].id, quantity=50, reference="bench", by=None)
        handles.append(product.handle)
    db.session.commit()
    dispatch_pending()  # the catalog's own follow-ups (search index), before anything is timed
    return [f"/c/{category.handle}"] + [f"/products/{handle}" for handle in handles]


def prepare(shoppers: list[Any], variant_id: int) -> float:
    """Every shopper opens the cart page (session, CSRF token) and adds one unit."""

    def fill(shopper: Any) -> None:
        shopper.open()
        shopper.add_to_cart(variant_id, 1)

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=PREPARE_CLIENTS) as pool:
        list(pool.map(fill, shoppers))  # re-raises the first failure
    return time.perf_counter() - started


# -- the reference ------------------------------------------------------------------------------


class Gunicorn:
    """gunicorn serving `app` with the shop's settings (the same flags as LiveServer, from the
    project folder so gunicorn.conf.py applies too), answering GET `ready` before use."""

    def __init__(
        self, app: str, *, workers: int, threads: int, env: dict[str, str], log: Path
    ) -> None:
        from bench._server import free_port

        self.app, self.workers, self.threads, self.env, self.log = app, workers, threads, env, log
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Gunicorn:
        command = [
            str(Path(sys.executable).with_name("gunicorn")),
            "--workers", str(self.workers),
            "--worker-class", "gthread",
            "--threads", str(self.threads),
            "--bind", f"127.0.0.1:{self.port}",
            "--keep-alive", "75",
            "--timeout", "120",
            "--log-level", "warning",
            self.app,
        ]  # fmt: skip
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                command,
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its workers go with it (see __exit__)
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn {self.app} exited at start; see {self.log}")
            try:
                if requests.get(self.url + "/", timeout=5).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.2)
        self.__exit__()
        raise RuntimeError(f"gunicorn {self.app} did not answer; see {self.log}")

    def __exit__(self, *exc: object) -> None:
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                # A master killed alone leaves its workers serving: kill the whole group.
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)


def requests_per_second(url: str, *, clients: int, seconds: float) -> float:
    """`clients` threads, each a keep-alive session, GET `url` for `seconds`: answers/s."""
    done = [0] * clients
    start = threading.Barrier(clients + 1)
    deadline = [0.0]

    from bench._server import LeanHTTP

    parts = urlsplit(url)
    origin, path = f"{parts.scheme}://{parts.netloc}", parts.path or "/"

    def run(i: int) -> None:
        http = LeanHTTP(origin, timeout=30)
        try:
            http.request("GET", path)  # connect before the clock starts
            start.wait()
            while time.perf_counter() < deadline[0]:
                if http.request("GET", path)[0] == 200:
                    done[i] += 1
        finally:
            http.close()

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(clients)]
    for thread in threads:
        thread.start()
    deadline[0] = time.perf_counter() + seconds
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    return sum(done) / (time.perf_counter() - began)


def hello_rps(workers: int, threads: int, log: Path, seconds: float = HELLO_SECONDS) -> float:
    """The hello-world's answers per second, as many client threads as server threads."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with Gunicorn("bench._hello:app", workers=workers, threads=threads, env=env, log=log) as hello:
        return requests_per_second(hello.url + "/", clients=workers * threads, seconds=seconds)


# -- background work and browsing --------------------------------------------------------------


@contextmanager
def celery_worker(env: dict[str, str], log: Path) -> Any:
    """One Celery worker process (concurrency 1) taking the outbox's work off the requests."""
    command = [
        str(Path(sys.executable).with_name("celery")),
        "-A", "wsgi:celery", "worker",
        "--loglevel", "warning",
        "--concurrency", "1",
        "--without-mingle", "--without-gossip",
    ]  # fmt: skip
    with open(log, "ab") as out:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@dataclass
class Browsing:
    """Browsing clients walking the catalog's pages until stopped, `rate` pages a second in
    all (paced, as visitors arrive whatever the server's speed; 0: each as fast as it can);
    every answer's start, latency and status."""

    base_url: str
    pages: list[str]
    clients: int
    rate: float = 0.0
    samples: list[tuple[float, float, int]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> Browsing:
        for i in range(self.clients):
            thread = threading.Thread(target=self._walk, args=(i,), daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def _walk(self, seed: int) -> None:
        from bench._server import LeanHTTP

        pick = random.Random(seed)
        every = self.clients / self.rate if self.rate > 0 else 0.0
        http = LeanHTTP(self.base_url, timeout=60)
        due = time.perf_counter() + pick.random() * every
        try:
            while not self._stop.is_set():
                if every:
                    self._stop.wait(max(0.0, due - time.perf_counter()))
                    due += every
                path = pick.choice(self.pages)
                began = time.perf_counter()
                try:
                    status = http.request("GET", path)[0]
                except (OSError, http_client.HTTPException):
                    status = 0
                ms = (time.perf_counter() - began) * 1000
                self.samples.append((began, ms, status))
        finally:
            http.close()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=120)

    def during(self, started: float, ended: float) -> list[tuple[float, float, int]]:
        return [s for s in self.samples if started <= s[0] <= ended]


# -- what the server says about itself ----------------------------------------------------------


@dataclass
class Probe:
    """The probe files' sums at one moment."""

    statements: Counter[str]
    hold_ms: dict[str, list[float]]
    wait_ms: dict[str, list[float]]
    cpu_ms: Counter[str] = field(default_factory=Counter)
    requests: Counter[str] = field(default_factory=Counter)

    @classmethod
    def read(cls, folder: Path) -> Probe:
        statements: Counter[str] = Counter()
        cpu: Counter[str] = Counter()
        requests: Counter[str] = Counter()
        hold: dict[str, list[float]] = {}
        wait: dict[str, list[float]] = {}
        for path in folder.glob("probe.*.json"):
            try:
                data = json.loads(path.read_text())
            except (OSError, ValueError):
                continue
            statements.update(data.get("statements", {}))
            cpu.update(data.get("cpu_ms", {}))
            requests.update(data.get("requests", {}))
            hold[path.name] = list(data.get("hold_ms", []))
            wait[path.name] = list(data.get("wait_ms", []))
        return cls(statements, hold, wait, cpu, requests)

    def since(self, before: Probe) -> Probe:
        def newer(now: dict[str, list[float]], then: dict[str, list[float]]) -> dict[str, Any]:
            return {k: v[len(then.get(k, [])) :] for k, v in now.items()}

        return Probe(
            self.statements - before.statements,
            newer(self.hold_ms, before.hold_ms),
            newer(self.wait_ms, before.wait_ms),
            self.cpu_ms - before.cpu_ms,
            self.requests - before.requests,
        )

    def holds(self) -> list[float]:
        return [ms for values in self.hold_ms.values() for ms in values]

    def waits(self) -> list[float]:
        return [ms for values in self.wait_ms.values() for ms in values]


def process_tree_cpu(pid: int) -> float:
    """CPU seconds (user + system) of a process and its children, from /proc."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ppid, utime, stime = int(fields[1]), int(fields[11]), int(fields[12])
        if int(entry.name) == pid or ppid == pid:
            total += (utime + stime) / ticks
    return total


def cpu_by_program() -> Counter[str]:
    """CPU seconds so far of every process on the machine, summed by program name (from
    /proc): where a run's CPU went, this script and the servers included, and how much other
    work shared the machine. Exited processes are not counted."""
    ticks = os.sysconf("SC_CLK_TCK")
    totals: Counter[str] = Counter()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            head, tail = (entry / "stat").read_text().rsplit(")", 1)
        except OSError:
            continue
        fields = tail.split()
        name = "bench client" if int(entry.name) == os.getpid() else head.split("(", 1)[1]
        totals[name] += (int(fields[11]) + int(fields[12])) / ticks
    return totals


def queue_wait_ms(journey: Any) -> float | None:
    """The time a journey spent in the checkout queue, if the journey says (the queue adds it
    to bench._server.Journey)."""
    for name in ("queue_wait_ms", "waited_ms", "wait_ms"):
        value = getattr(journey, name, None)
        if isinstance(value, int | float):
            return float(value)
    return None


# -- the run ------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="500 shoppers for 100 units")
    parser.add_argument("--shoppers", type=int, help="concurrent shoppers (default 2000)")
    parser.add_argument("--units", type=int, help="units in stock (default 100)")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=8, help="threads per worker")
    parser.add_argument("--browsers", type=int, default=8, help="browsing clients during the sale")
    parser.add_argument(
        "--browse-rate",
        type=float,
        default=BROWSE_RATE,
        help=f"pages a second the browsing clients ask for in all (default {BROWSE_RATE:.0f}; "
        "0: each client as fast as it can)",
    )
    parser.add_argument("--edge", action="store_true", help="browse through the edge cache")
    parser.add_argument(
        "--capacity",
        type=int,
        default=None,
        help="shoppers let into checkout at once, the rest wait in line (default: 3 per "
        "worker process; 0: no line)",
    )
    parser.add_argument(
        "--hello-seconds", type=float, default=HELLO_SECONDS, help="how long hello_rps is measured"
    )
    parser.add_argument(
        "--eager",
        action="store_true",
        help="no Celery worker: the outbox's work runs inside the requests (embedded mode)",
    )
    parser.add_argument("--database-url", help="PostgreSQL URL (default: TEST_DATABASE_URL)")
    parser.add_argument("--redis-url", help="Redis URL (default: TEST_REDIS_URL)")
    parser.add_argument(
        "--rate-limits",
        action="store_true",
        help="keep the production rate limits on (every shopper comes from 127.0.0.1, as "
        "behind a proxy)",
    )
    args = parser.parse_args(argv)
    shoppers_n = args.shoppers or (500 if args.quick else 2000)
    units = args.units if args.units is not None else 100
    if args.workers * args.threads > MAX_DB_CONNECTIONS:
        sys.exit(
            f"--workers x --threads = {args.workers * args.threads} could open more PostgreSQL "
            f"connections than the {MAX_DB_CONNECTIONS} this benchmark allows itself"
        )
    edge_class = edge_cache_class() if args.edge else None
    url, redis_url = service_urls(args)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = min(hard, max(soft, 2 * shoppers_n + 1024))
    if soft < wanted:  # a socket per shopper, here and in gunicorn
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))

    sys.path.insert(0, str(ROOT))
    from bench._server import (
        ERROR_5XX,
        ERROR_OTHER,
        ORDER,
        SOLD_OUT_ANSWER,
        BoardReader,
        LeanShopper,
        LiveServer,
        bench_database,
        build_flash_shop,
        check_out,
        flush_redis,
        percentile,
        reset_schema,
        run_barrier,
        stock_report,
    )

    schema_url = bench_database(url, SCHEMA)
    flush_redis(redis_url)
    broker_url = next_redis_database(redis_url)
    flush_redis(broker_url)
    try:
        with tempfile.TemporaryDirectory(prefix="bench-flash-") as instance:
            from flask_migrate import upgrade

            from commerce.extensions import db

            app = build_app(schema_url, instance)
            with app.app_context():
                t0 = time.perf_counter()
                logging.disable(logging.INFO)  # Alembic's per-revision lines
                try:
                    upgrade()
                finally:
                    logging.disable(logging.NOTSET)
                shop = build_flash_shop(units=units)
                pages = build_browsing(shop)
                db.session.remove()
                print(f"schema and shop ready in {time.perf_counter() - t0:.1f}s", flush=True)

            folder = Path(instance)
            reference = hello_rps(
                args.workers, args.threads, folder / "hello.log", seconds=args.hello_seconds
            )
            print(
                f"hello-world: {reference:.0f} requests/s (gunicorn {args.workers} workers x "
                f"{args.threads} threads, {args.workers * args.threads} client threads)",
                flush=True,
            )
            probe_dir = folder / "probe"
            probe_dir.mkdir()
            env = {
                "PYTHONPATH": os.pathsep.join([str(ROOT / "bench" / "_probe"), str(ROOT)]),
                "BENCH_PROBE_DIR": str(probe_dir),
            }
            if args.rate_limits:
                env["RATELIMIT_ENABLED"] = "true"
            # Three shoppers in checkout per worker keep the CPU busy while the next in line
            # come to ask for their slots; more only lengthen every checkout and queue the
            # waiting pages' asks behind them (README: sizing the cap).
            capacity = 3 * args.workers if args.capacity is None else args.capacity
            env["CHECKOUT_QUEUE_CAPACITY"] = str(capacity)
            server_instance = folder / "server"
            if not args.eager:
                env["CELERY_BROKER_URL"] = broker_url
            server = LiveServer(
                database_url=schema_url,
                redis_url=redis_url,
                instance=server_instance,
                workers=args.workers,
                threads=args.threads,
                env=env,
            )
            # The edge cache's address is known before the shop starts: changes purge it.
            edge = edge_class(server.url, workdir=folder / "edge") if edge_class else None
            if edge is not None:
                server.env.update(edge.shop_env())
            with ExitStack() as stack:
                if not args.eager:
                    stack.enter_context(
                        celery_worker(
                            {
                                **server.env,
                                "BENCH_PROBE_DIR": "",
                                "PYTHONPATH": str(ROOT),
                                "CELERY_CONCURRENCY": "1",
                            },
                            folder / "celery.log",
                        )
                    )
                stack.enter_context(server)
                browse_url = server.url
                if edge is not None:
                    browse_url = stack.enter_context(edge).url
                shoppers = [LeanShopper(server.url) for _ in range(shoppers_n)]
                for shopper in shoppers:  # the waiting page reads the line's board there
                    shopper.board_base = browse_url
                took = prepare(shoppers, shop.variant_id)
                print(
                    f"{shoppers_n} carts filled in {took:.1f}s; {args.browsers} clients browse "
                    f"{args.browse_rate:.0f} pages/s "
                    f"{'through the edge cache' if edge_class else 'gunicorn'}; releasing the "
                    "shoppers",
                    flush=True,
                )
                browsing = Browsing(browse_url, pages, args.browsers, args.browse_rate).start()
                time.sleep(1.0)  # browsing under way before the release
                time.sleep(0.3)
                before, cpu_before = Probe.read(probe_dir), process_tree_cpu(server.process.pid)
                machine_before, measured_from = cpu_by_program(), time.perf_counter()

                def race(numbered: tuple[int, Any], barrier: Any) -> Any:
                    n, shopper = numbered
                    return check_out(shopper, email=f"shopper{n}@example.com", before=barrier)

                try:
                    journeys = run_barrier(list(enumerate(shoppers)), race, timeout=900)
                finally:
                    boards = BoardReader.stop_all()
                cpu_after = process_tree_cpu(server.process.pid)
                machine = cpu_by_program()
                machine.subtract(machine_before)
                measured = time.perf_counter() - measured_from  # the give-ups after it too
                time.sleep(0.5)  # the probes write every 0.2 s
                during = Probe.read(probe_dir).since(before)
                browsing.stop()
                for shopper in shoppers:
                    shopper.close()
                tracebacks = server.tracebacks()
                log_tail = server.log_tail(1500)

            with app.app_context():
                report = stock_report(shop.variant_id)
                db.session.remove()
                db.engine.dispose()
    finally:
        reset_schema(url, SCHEMA, create=False)

    crashed = [j for j in journeys if isinstance(j, BaseException)]
    journeys = [j for j in journeys if not isinstance(j, BaseException)]
    outcomes = Counter(j.outcome for j in journeys)
    errors_other = outcomes[ERROR_OTHER] + len(crashed)
    statuses = Counter(
        f"{j.failure.step}:{j.failure.status}"
        for j in journeys
        if j.outcome in (ERROR_5XX, ERROR_OTHER) and j.failure
    )
    orders = outcomes[ORDER]
    started = min((j.started for j in journeys), default=0.0)
    ended = max((j.ended for j in journeys), default=0.0)
    elapsed = max(ended - started, 1e-9)
    place_ms = [a.ms for j in journeys for a in j.answers if a.step == "place"]
    sold_out_ms = [j.answers[-1].ms for j in journeys if j.outcome == SOLD_OUT_ANSWER]
    waits = [w for j in journeys if (w := queue_wait_ms(j)) is not None]
    browsed = browsing.during(started, ended)
    browse_ms = [ms for _, ms, status in browsed if status]
    browse_5xx = sum(1 for _, _, status in browsed if status >= 500)
    oversold = max(orders, report.orders, report.units_ordered, report.allocated) - units
    oversold = max(oversold, 0) + max(-report.available, 0)
    checks = {
        "ledger": not report.ledger_mismatches,
        "counters": not report.counter_mismatches,
        "orders_in_db": report.orders == orders,
        "captured": report.captured == orders,
        "holds_left": report.active_reservations == 0,
    }
    checkout_sql = sum(during.statements[e] for e in CHECKOUT_ENDPOINTS)
    browse_sql = sum(n for e, n in during.statements.items() if e not in CHECKOUT_ENDPOINTS)
    holds, stock_waits = during.holds(), during.waits()
    server_cpu_ms = (cpu_after - cpu_before) * 1000

    last_order = max((j.ended for j in journeys if j.outcome == ORDER), default=started)
    print(
        f"orders {orders}/{units}  sold out {outcomes[SOLD_OUT_ANSWER]}  "
        f"5xx {outcomes[ERROR_5XX]}  other errors {errors_other}  in {elapsed:.1f}s (the last "
        f"order at {last_order - started:.1f}s)"
    )
    # How the cap's slots were used: from the answer letting a shopper in to their order.
    inside_ms = [
        (j.ended - j.started) * 1000 - (j.queue_wait_ms or 0.0)
        for j in journeys
        if j.outcome == ORDER
    ]
    if inside_ms and capacity > 0:
        busy = sum(inside_ms) / 1000 / (capacity * max(last_order - started, 1e-9))
        print(
            f"in checkout (let in -> order placed): p50/p99 {percentile(inside_ms, 0.5):.0f}/"
            f"{percentile(inside_ms, 0.99):.0f} ms; the cap's {capacity} slots were in use "
            f"{busy:.0%} of the time until the last order (below 100%: waiting for the next "
            "shopper in line to ask; above: a slot is given on while the order's answer is "
            "still on its way)"
        )
    print(
        f"database: orders {report.orders}  captured {report.captured}  on_hand {report.on_hand}  "
        f"allocated {report.allocated}  reserved {report.reserved}  "
        f"available {report.available}  active holds {report.active_reservations}"
    )
    steps: dict[str, list[float]] = {}
    for j in journeys:
        for a in j.answers:
            steps.setdefault(a.step, []).append(a.ms)
    print(
        "latency p50/p99 ms: "
        + "  ".join(
            f"{step} {percentile(ms, 0.5):.0f}/{percentile(ms, 0.99):.0f} (n={len(ms)})"
            for step, ms in steps.items()
        )
    )
    board_ms = [ms for reader in boards for ms in reader.read_ms]
    if boards:
        print(
            f"the line's board, read for all waiting pages once a period through "
            f"{'the edge cache' if edge_class else 'gunicorn'}: {len(board_ms)} reads, p50/p99 "
            f"{percentile(board_ms, 0.5):.0f}/{percentile(board_ms, 0.99):.0f} ms, "
            f"{sum(r.errors for r in boards)} failed; pages woken by it "
            f"{sum(j.board_reads for j in journeys)}, of which told sold out by it (asking "
            f"nobody) {sum(1 for j in journeys if j.answers and j.answers[-1].step == 'board')}"
        )
    print(
        f"browsing during the sale: {len(browsed)} pages, p50/p99 "
        f"{percentile(browse_ms, 0.5):.0f}/{percentile(browse_ms, 0.99):.0f} ms, "
        f"{browse_5xx} 5xx"
    )
    print(
        f"server during the sale: {server_cpu_ms:.0f} ms CPU; SQL statements: checkout "
        f"{checkout_sql} ({', '.join(f'{e.split(chr(46))[-1]} {during.statements[e]}' for e in CHECKOUT_ENDPOINTS if during.statements[e])}), "  # noqa: E501
        f"browsing and other {browse_sql}"
    )
    print(
        f"machine CPU from the release until the last shopper's last request, the sold-out "
        f"pages giving their places up included ({os.cpu_count()} cores x {measured:.1f}s): "
        + ", ".join(f"{name} {seconds:.1f}s" for name, seconds in machine.most_common(8))
    )
    print(
        "server CPU by endpoint (requests, ms each, s in all): "
        + ", ".join(
            f"{e.split(chr(46))[-1]} {during.requests[e]} x {ms / max(during.requests[e], 1):.1f}"
            f" = {ms / 1000:.1f}"
            for e, ms in during.cpu_ms.most_common(8)
        )
    )
    print(
        f"stock row: {len(stock_waits)} UPDATEs; wait for the lock p50/p99/max "
        f"{percentile(stock_waits, 0.5):.1f}/{percentile(stock_waits, 0.99):.1f}/"
        f"{max(stock_waits, default=0):.1f} ms; held until COMMIT p50/p99/max "
        f"{percentile(holds, 0.5):.1f}/{percentile(holds, 0.99):.1f}/"
        f"{max(holds, default=0):.1f} ms"
    )
    failed_checks = [name for name, ok in checks.items() if not ok]
    if failed_checks:
        print(f"database checks failed: {', '.join(failed_checks)}")
        for line in report.ledger_mismatches + report.counter_mismatches:
            print(f"  {line}")
    if statuses:
        print("errors by step:status: " + ", ".join(f"{k}={v}" for k, v in statuses.items()))
        first = next(j.failure for j in journeys if j.failure)
        print(f"first error: {first.describe()}")
    if crashed:
        print(f"first crash: {crashed[0]!r}")
    if tracebacks:
        print(f"server tracebacks: {len(tracebacks)}; log tail:\n{log_tail}")

    per_order = max(orders, 1)
    figures: dict[str, Any] = {
        "shoppers": shoppers_n,
        "units": units,
        "orders": orders,
        "oversold": oversold,
        "sold_out": outcomes[SOLD_OUT_ANSWER],
        "errors_5xx": outcomes[ERROR_5XX] + browse_5xx,
        "errors_other": errors_other,
        "checkouts_per_s": f"{orders / elapsed:.1f}",
        "place_p50_ms": f"{percentile(place_ms, 0.50):.0f}",
        "place_p99_ms": f"{percentile(place_ms, 0.99):.0f}",
        "sold_out_p99_ms": f"{percentile(sold_out_ms, 0.99):.0f}",
        "queue_wait_p50_ms": f"{percentile(waits, 0.50):.0f}" if waits else "n/a",
        "queue_wait_p99_ms": f"{percentile(waits, 0.99):.0f}" if waits else "n/a",
        "browse_p99_ms": f"{percentile(browse_ms, 0.99):.0f}",
        "sql_per_checkout": f"{checkout_sql / per_order:.0f}",
        "server_cpu_ms_per_checkout": f"{server_cpu_ms / per_order:.0f}",
        "stock_hold_p99_ms": f"{percentile(holds, 0.99):.1f}",
        "stock_wait_p99_ms": f"{percentile(stock_waits, 0.99):.1f}",
        "hello_rps": f"{reference:.0f}",
        "workers": args.workers,
        "threads": args.threads,
        "edge": "yes" if edge_class else "no",
        "capacity": capacity,
        "db_checks": "ok" if not failed_checks else "failed",
    }
    print(" ".join(f"{key}={value}" for key, value in figures.items()))
    bad = oversold or figures["errors_5xx"] or errors_other or failed_checks or tracebacks
    return 1 if bad else 0


def next_redis_database(url: str) -> str:
    """The Redis URL's next database number (the Celery broker, apart from the cache)."""
    parts = urlsplit(url)
    number = parts.path.strip("/")
    return urlunsplit(parts._replace(path=f"/{int(number) + 1 if number.isdigit() else 1}"))


if __name__ == "__main__":
    raise SystemExit(main())

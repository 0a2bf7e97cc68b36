"""A real shop over real HTTP, for races and benchmarks.

- `build_flash_shop(units=...)`: one active product whose variant has `units` in stock at one
  location, US shipping (STD flat) and US/CA sales tax, made through the domain services
  (call it inside an app context whose schema is migrated).
- `LiveServer`: gunicorn (gthread workers) on PostgreSQL and Redis on a free loopback port,
  configured the production way (environment variables only), waited for, and stopped.
- `LeanHTTP`: a keep-alive connection on http.client with a small cookie jar, for clients that
  share the machine with the server they measure (`LeanShopper`, the benches' load).
- `Shopper`: one browser's worth of state (its own cookie jar: Flask session + signed cart
  cookie, and the CSRF token read from GET /cart) speaking the storefront's form contract;
  `check_out()` walks POST /checkout -> (the checkout line's waiting page, asked again until
  the shopper is let in or told sold out: `wait_in_line`) -> information -> shipping -> place
  and classifies the end; the Journey records the time in line (`queue_wait_ms`).
- `stock_report(variant_id)`: the counters, the ledger and the rows that must agree afterwards.
- `EdgeCache`: varnishd (Debian's, with the xkey module) running the repo's VCL
  (deploy/varnish/default.vcl) in front of a LiveServer, on a free port, in its own working
  directory; the shop sends its purges to `purge_url` (EDGE_PURGE_URLS).

Used by bench/flash_sale.py and by tests/concurrency/. Tests may import this module; nothing
here imports from tests/.
"""

from __future__ import annotations

import html
import http.client
import json
import math
import os
import random
import re
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import requests

ROOT = Path(__file__).resolve().parent.parent

SECRET_KEY = "live-server-secret"
TEST_CARD = {"card_number": "4242424242424242", "exp_month": "12", "exp_year": "2030", "cvc": "123"}
US_ADDRESS = {
    "name": "Ada Shopper",
    "line1": "1 Market Street",
    "line2": "",
    "city": "San Francisco",
    "region": "CA",
    "postal_code": "94105",
    "country": "US",
    "phone": "",
}
SHIPPING_CODE = "STD"

CSRF_META = re.compile(r'<meta\s+name="csrf-token"\s+content="([^"]+)"')
CHECKOUT_PATH = re.compile(r"^/checkout/([^/]+)/")
QUEUE_PATH = "/checkout/queue"  # the checkout line's waiting page
POLL_MS = re.compile(r'data-poll-ms="(\d+)"')
OWN_ADDRESS = re.compile(r'hx-get="(/checkout/queue\?ticket=[^"]+)"')  # the waiting box's own
JSON_ACCEPT = {"Accept": "application/json"}
BOARD = re.compile(
    r'data-board="([^"]+)" data-board-ms="(\d+)" data-seq="(\d+)" data-keepalive-ms="(\d+)"'
)
SOLD_OUT = re.compile(r"sold out|not enough stock|out of stock", re.IGNORECASE)
ALREADY_PLACING = re.compile(r"already being placed", re.IGNORECASE)


# -- database -----------------------------------------------------------------------------------
def postgres_url(given: str | None, script: str) -> str:
    """The PostgreSQL URL to measure on (--database-url or TEST_DATABASE_URL), or exit."""
    url = given or os.environ.get("TEST_DATABASE_URL")
    if not url:
        sys.exit(
            f"{script} needs PostgreSQL: pass --database-url postgresql+psycopg://... "
            "or set TEST_DATABASE_URL (`make postgres` starts the local test cluster)."
        )
    if not url.startswith("postgresql"):
        sys.exit(f"{script} measures PostgreSQL only; got {url.split(':', 1)[0]}://")
    return url


def reset_schema(url: str, schema: str, *, create: bool) -> None:
    """Drop (and recreate) a bench's own schema, so a run starts empty and leaves nothing."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        if create:
            conn.execute(text(f"CREATE SCHEMA {schema}"))
    engine.dispose()


def bench_database(url: str, schema: str) -> str:
    """A bench's own empty schema in the database at `url`, and the URL whose connections
    work in it (libpq `options`). The search index's trigram operator class comes from
    pg_trgm, which lives in one schema of the database (public after `make test`): it is
    installed there if missing and that schema goes on the search path too, so the
    migrations and queries find it, on a brand-new database and on the test database.

    With that schema on the path, a table missing from the bench's schema would be found
    there: make tables with `checkfirst=False` (the schema is empty), and the migrations find
    their (empty) version table in the bench's schema first, made here."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        conn.execute(text(f"CREATE SCHEMA {schema}"))
        conn.execute(
            text(
                f"CREATE TABLE {schema}.alembic_version (version_num VARCHAR(32) NOT NULL, "
                "CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))"
            )
        )
        conn.execute(text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
        home = conn.execute(
            text(
                "SELECT n.nspname FROM pg_extension e "
                "JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'pg_trgm'"
            )
        ).scalar_one()
    engine.dispose()
    return with_search_path(url, schema if home == schema else f"{schema},{home}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def with_search_path(url: str, schema: str) -> str:
    """The same PostgreSQL URL with every connection working in `schema` (libpq `options`),
    so a separate process (gunicorn) configured only by DATABASE_URL uses it too."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "options"]
    query.append(("options", f"-csearch_path={schema}"))
    return urlunsplit(parts._replace(query=urlencode(query)))


def flush_redis(url: str) -> None:
    """Empty the Redis database (stale cache entries from an earlier run name other rows)."""
    import redis

    client = redis.Redis.from_url(url)
    try:
        client.flushdb()
    finally:
        client.close()


@dataclass(frozen=True)
class FlashShop:
    variant_id: int
    sku: str
    units: int
    price: int
    shipping_code: str = SHIPPING_CODE


def prepare_us_checkout() -> None:
    """A location (if none), STD shipping to the US ($5.00 flat, free from $100.00) and US
    sales tax 5% (7.25% in CA): what a checkout in these benches and tests needs (call inside
    an app context). Does nothing when STD shipping exists, so tests sharing a database may
    all call it."""
    from sqlalchemy import select

    from commerce.extensions import db
    from commerce.inventory.locations import create_location
    from commerce.inventory.services import active_locations
    from commerce.shipping.models import ShippingMethod
    from commerce.shipping.services import create_shipping_method
    from commerce.tax.services import create_tax_rate

    if db.session.scalar(select(ShippingMethod.id).where(ShippingMethod.code == SHIPPING_CODE)):
        return
    if not active_locations():
        create_location(name="Main warehouse", code="MAIN", by=None)
    create_shipping_method(
        name="Standard", code=SHIPPING_CODE, price=500, free_over=10000, countries="US", by=None
    )
    create_tax_rate(country="US", name="Sales tax", rate_bps=500, by=None)
    create_tax_rate(country="US", region="CA", name="CA sales tax", rate_bps=725, by=None)


def build_flash_shop(*, units: int, price: int = 2500, sku: str = "FLASH-1") -> FlashShop:
    """One active product, one variant with `units` at the only location, US shipping and tax
    (call inside an app context)."""
    from commerce.catalog.services import create_product
    from commerce.extensions import db
    from commerce.inventory.services import receive_stock

    prepare_us_checkout()
    product = create_product(
        title="Flash sale sneaker", price=price, sku=sku, status="active", by=None
    )
    variant = product.variants[0]
    variant.weight_grams = 800
    db.session.commit()
    if units:
        receive_stock(variant.id, quantity=units, reference="flash-sale", by=None)
    db.session.commit()
    return FlashShop(variant_id=variant.id, sku=sku, units=units, price=price)


@dataclass
class StockReport:
    on_hand: int
    allocated: int
    reserved: int
    available: int
    negative_levels: int  # levels with available < 0 (oversold)
    ledger_mismatches: list[str]  # levels whose sum(movements.delta) != on_hand
    counter_mismatches: list[str]  # reserved/allocated counters vs reservation/allocation rows
    active_reservations: int  # rows still holding units
    orders: int  # shop_order rows
    units_ordered: int  # order_line quantity of the variant
    payments: int  # payment rows
    captured: int  # payment rows with status captured


def stock_report(variant_id: int) -> StockReport:
    """Read what the database says now (inside an app context)."""
    from sqlalchemy import func, select

    from commerce.extensions import db
    from commerce.inventory.models import (
        ACTIVE,
        ALLOCATED,
        Allocation,
        Reservation,
        StockLevel,
        StockMovement,
    )
    from commerce.orders.models import Order, OrderLine
    from commerce.payments.models import CAPTURED, Payment

    db.session.expire_all()
    levels = list(db.session.scalars(select(StockLevel).where(StockLevel.variant_id == variant_id)))
    ledger, counters = [], []
    for level in levels:
        moved = db.session.scalar(
            select(func.coalesce(func.sum(StockMovement.delta), 0)).where(
                StockMovement.stock_level_id == level.id, StockMovement.bucket == "on_hand"
            )
        )
        if moved != level.on_hand:
            ledger.append(f"level {level.id}: movements sum {moved}, on_hand {level.on_hand}")
        held = db.session.scalar(
            select(func.coalesce(func.sum(Reservation.quantity), 0)).where(
                Reservation.stock_level_id == level.id, Reservation.status == ACTIVE
            )
        )
        if held != level.reserved:
            counters.append(
                f"level {level.id}: active reservations {held}, reserved {level.reserved}"
            )
        promised = db.session.scalar(
            select(func.coalesce(func.sum(Allocation.quantity - Allocation.shipped), 0)).where(
                Allocation.stock_level_id == level.id, Allocation.status == ALLOCATED
            )
        )
        if promised != level.allocated:
            counters.append(
                f"level {level.id}: allocations {promised}, allocated {level.allocated}"
            )
    count = func.count()
    return StockReport(
        on_hand=sum(level.on_hand for level in levels),
        allocated=sum(level.allocated for level in levels),
        reserved=sum(level.reserved for level in levels),
        available=sum(level.available for level in levels),
        negative_levels=sum(1 for level in levels if level.available < 0),
        ledger_mismatches=ledger,
        counter_mismatches=counters,
        active_reservations=db.session.scalar(
            select(count)
            .select_from(Reservation)
            .where(Reservation.variant_id == variant_id, Reservation.status == ACTIVE)
        ),
        orders=db.session.scalar(select(count).select_from(Order)),
        units_ordered=db.session.scalar(
            select(func.coalesce(func.sum(OrderLine.quantity), 0)).where(
                OrderLine.variant_id == variant_id
            )
        ),
        payments=db.session.scalar(select(count).select_from(Payment)),
        captured=db.session.scalar(
            select(count).select_from(Payment).where(Payment.status == CAPTURED)
        ),
    )


# -- the server ---------------------------------------------------------------------------------


class LiveServer:
    """gunicorn serving `wsgi:app` on a free loopback port, configured through the environment
    exactly as in production. Its log (stderr) goes to <instance>/gunicorn.log."""

    def __init__(
        self,
        *,
        database_url: str,
        redis_url: str,
        instance: str | Path,
        workers: int = 3,
        threads: int = 8,
        env: dict[str, str] | None = None,
    ) -> None:
        self.instance = Path(instance)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.workers, self.threads = workers, threads
        self.log_path = self.instance / "gunicorn.log"
        inherited = {k: v for k, v in os.environ.items() if k != "CELERY_BROKER_URL"}
        # Without CELERY_BROKER_URL Celery is eager: outbox work such as the confirmation email
        # runs in the worker right after the request's commit, as in the embedded mode.
        self.env = {
            **inherited,
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "SECRET_KEY": SECRET_KEY,
            "INSTANCE_PATH": str(self.instance),
            "MEDIA_ROOT": str(self.instance / "media"),
            "MAIL_DIR": str(self.instance / "mail"),
            "RATELIMIT_ENABLED": "false",
            "SHOP_URL": self.url,
            **(env or {}),
        }
        self.process: subprocess.Popen[bytes] | None = None

    ready_path = "/cart"  # answers 200 once the app serves pages

    def command(self) -> list[str]:
        """gunicorn with the bench's settings on the command line (they win over
        gunicorn.conf.py, which gunicorn also reads from the project folder)."""
        gunicorn = str(Path(sys.executable).with_name("gunicorn"))
        return [
            gunicorn,
            "--workers", str(self.workers),
            "--worker-class", "gthread",
            "--threads", str(self.threads),
            "--bind", f"127.0.0.1:{self.port}",
            "--keep-alive", "75",  # shoppers wait at the barrier with their connections open
            "--timeout", "120",
            "--graceful-timeout", "10",
            "--log-level", "warning",
            "wsgi:app",
        ]  # fmt: skip

    def start(self, timeout: float = 60) -> LiveServer:
        self.instance.mkdir(parents=True, exist_ok=True)
        command = self.command()
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited at start:\n{self.log_tail()}")
            try:
                if requests.get(self.url + self.ready_path, timeout=5).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"gunicorn did not answer within {timeout:.0f}s:\n{self.log_tail()}")

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        # Quick shutdown: callers stop it once their requests are answered, and a graceful stop
        # would wait out idle keep-alive connections.
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def tracebacks(self) -> list[str]:
        """Server-side tracebacks logged so far (an unhandled error in a request)."""
        text = self.log_tail(chars=1_000_000)
        return text.split("Traceback")[1:]

    def __enter__(self) -> LiveServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# -- the edge cache -----------------------------------------------------------------------------

VCL_DIR = ROOT / "deploy" / "varnish"


def varnish_available() -> str | None:
    """Why Varnish with xkey cannot run here, or None (`make varnish` installs both)."""
    import glob
    import shutil

    if not shutil.which("varnishd"):
        return "varnishd is not installed (make varnish)"
    if not glob.glob("/usr/lib/*/varnish/vmods/libvmod_xkey.so"):
        return "the xkey module is not installed (make varnish: varnish-modules)"
    return None


class EdgeCache:
    """varnishd with the repo's default.vcl in front of `backend_url`, on a free loopback port.

    Its working directory (-n) is `workdir`/varnish; the site part of the VCL (the backend and
    the purgers ACL: loopback) is written to `workdir`/site.vcl, which comes first on vcl_path.
    The shop must know where to purge before it starts:

        server = LiveServer(...)
        edge = EdgeCache(server.url, workdir=tmp / "edge")
        server.env.update(edge.shop_env())
        with server, edge:
            ...  # browse edge.url; changes purge it
    """

    def __init__(
        self,
        backend_url: str,
        *,
        workdir: str | Path,
        port: int | None = None,
        memory: str = "128m",
        purgers: tuple[str, ...] = ("127.0.0.1", "::1"),
    ) -> None:
        self.backend = urlsplit(backend_url)
        self.workdir = Path(workdir)
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.purge_url = self.url + "/"
        self.memory = memory
        self.purgers = purgers
        self.log_path = self.workdir / "varnishd.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def name(self) -> str:
        return str(self.workdir / "varnish")

    def shop_env(self) -> dict[str, str]:
        """The shop's settings for purging this Varnish (LiveServer env)."""
        return {"EDGE_CACHE": "varnish", "EDGE_PURGE_URLS": self.purge_url}

    def site_vcl(self) -> str:
        acl = "\n".join(f'    "{address}";' for address in self.purgers)
        return (
            "backend shop {\n"
            f'    .host = "{self.backend.hostname}";\n'
            f'    .port = "{self.backend.port}";\n'
            "    .connect_timeout = 2s;\n"
            "    .first_byte_timeout = 60s;\n"
            "}\n"
            f"acl purgers {{\n{acl}\n}}\n"
        )

    def start(self, timeout: float = 30) -> EdgeCache:
        self.workdir.mkdir(parents=True, exist_ok=True)
        (self.workdir / "site.vcl").write_text(self.site_vcl())
        command = [
            "varnishd",
            "-F",  # in the foreground: this object owns the process
            "-j", "none",  # no privilege separation: runs as whoever runs the tests
            "-n", self.name,
            "-a", f"127.0.0.1:{self.port}",
            "-f", str(VCL_DIR / "default.vcl"),
            "-p", f"vcl_path={self.workdir}:{VCL_DIR}",
            "-T", "none",
            "-s", f"malloc,{self.memory}",
        ]  # fmt: skip
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"varnishd exited at start:\n{self.log_tail()}")
            try:
                # Any answer from Varnish itself (400: no keys) means it is serving.
                if requests.request("PURGE", self.purge_url, timeout=2).status_code == 400:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"varnishd did not answer within {timeout:.0f}s:\n{self.log_tail()}")

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)

    def purge(self, *keys: str) -> int:
        """Purge by key as the shop does; returns how many stored objects were dropped."""
        answer = requests.request("PURGE", self.purge_url, headers={"xkey-purge": " ".join(keys)})
        answer.raise_for_status()
        return int(answer.headers.get("xkey-purged", "0"))

    def stats(self) -> dict[str, int]:
        """varnishstat's counters (MAIN.cache_hit, MAIN.cache_miss, MAIN.backend_req...)."""
        import json

        out = subprocess.run(
            ["varnishstat", "-n", self.name, "-1", "-j"],
            capture_output=True,
            check=True,
            timeout=20,
        ).stdout
        counters = json.loads(out)
        counters = counters.get("counters", counters)  # the layout of varnishstat 6.5 and later
        return {
            name: int(value["value"])
            for name, value in counters.items()
            if isinstance(value, dict) and "value" in value
        }

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def __enter__(self) -> EdgeCache:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# -- shoppers -----------------------------------------------------------------------------------


@dataclass
class Answer:
    """One HTTP exchange (redirects are not followed)."""

    step: str
    status: int  # 0: no answer (connection error or timeout)
    location: str = ""  # path of the redirect target
    text: str = ""  # body of a non-redirect answer
    ms: float = 0.0
    target: str = ""  # the redirect target with its query (a waiting page's ticket)

    def __post_init__(self) -> None:
        if not self.target and self.status == 200:  # the waiting page as the join's answer
            found = OWN_ADDRESS.search(self.text) if 'data-queue="waiting"' in self.text else None
            if found:
                self.target = html.unescape(found.group(1))

    @property
    def sold_out(self) -> bool:
        return self.status == 409 and bool(SOLD_OUT.search(self.text))

    @property
    def in_line(self) -> bool:
        """Sent to (or showing) the checkout line's waiting page."""
        if self.status == 303:
            return self.location == QUEUE_PATH
        # the page (200), or its box asked by htmx (429 with Retry-After)
        return self.status in (200, 429) and 'data-queue="waiting"' in self.text

    def poll_seconds(self, default: float = 1.0) -> float:
        """How long the waiting page says to wait before asking again."""
        found = POLL_MS.search(self.text)
        return int(found.group(1)) / 1000 if found else default

    def board(self) -> tuple[str, float, int, float] | None:
        """A waiting page that reads the line's board (behind an edge cache): the board's
        path, how often to read it (s), the place's number, and how often to ask anyway (s)."""
        found = BOARD.search(self.text)
        if not found:
            return None
        path, every, seq, keepalive = found.groups()
        return html.unescape(path), int(every) / 1000, int(seq), int(keepalive) / 1000

    @property
    def already_placing(self) -> bool:
        return self.status == 409 and bool(ALREADY_PLACING.search(self.text))

    def describe(self) -> str:
        text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", self.text)).strip()
        return f"{self.step}: {self.status} {self.location} {text[:300]}".strip()


class Shopper:
    """One shopper's browser: a cookie jar (session and cart cookies) and its CSRF token."""

    def __init__(self, base_url: str, *, timeout: float = 120) -> None:
        self.base_url = base_url
        self.board_base: str | None = None  # where the line's board is read (the edge)
        self.timeout = timeout
        self.http = requests.Session()
        self.csrf_token = ""

    def clone(self) -> Shopper:
        """Another connection with the same cookies and token: the same browser, a second tab
        (or a double click)."""
        twin = Shopper(self.base_url, timeout=self.timeout)
        twin.http.cookies.update(self.http.cookies)
        twin.csrf_token = self.csrf_token
        return twin

    def close(self) -> None:
        self.http.close()

    def get(self, path: str, step: str = "") -> Answer:
        return self._send("GET", path, step or f"GET {path}")

    def post(self, path: str, data: dict[str, Any], step: str = "") -> Answer:
        return self._send(
            "POST", path, step or f"POST {path}", {**data, "csrf_token": self.csrf_token}
        )

    def _send(
        self, method: str, path: str, step: str, data: dict[str, Any] | None = None
    ) -> Answer:
        started = time.perf_counter()
        try:
            response = self.http.request(
                method,
                self.base_url + path,
                data=data,
                headers={"X-CSRFToken": self.csrf_token} if self.csrf_token else None,
                allow_redirects=False,
                timeout=self.timeout,
            )
        except requests.RequestException as exc:
            ms = (time.perf_counter() - started) * 1000
            return Answer(step, 0, text=f"{type(exc).__name__}: {exc}", ms=ms)
        ms = (time.perf_counter() - started) * 1000
        target = urlsplit(response.headers.get("Location", ""))
        text = "" if 300 <= response.status_code < 400 else response.text
        query = f"?{target.query}" if target.query else ""
        return Answer(step, response.status_code, target.path, text, ms, target.path + query)

    def open(self) -> Answer:
        """GET /cart: starts the session and reads the CSRF token from its meta tag."""
        answer = self.get("/cart", "open cart")
        found = CSRF_META.search(answer.text)
        if answer.status != 200 or not found:
            raise RuntimeError(f"no CSRF token on /cart: {answer.describe()}")
        self.csrf_token = found.group(1)
        return answer

    def add_to_cart(self, variant_id: int, quantity: int = 1) -> Answer:
        answer = self.post(
            "/cart/add", {"variant_id": variant_id, "quantity": quantity}, "cart add"
        )
        if answer.status != 303:
            raise RuntimeError(f"cart add failed: {answer.describe()}")
        return answer

    def start_checkout(self) -> tuple[Answer, str | None]:
        """POST /checkout: the key of the checkout on success (stock reserved); no key when
        sent to the checkout line (answer.in_line) or refused."""
        answer = self.post("/checkout", {}, "checkout")
        return answer, checkout_key(answer)

    def ask_in_line(self, target: str) -> tuple[Answer, str | None]:
        """GET the waiting page (target: its path with the ticket), as its meta refresh
        does: still waiting, or admitted (the checkout's key), sold out or refused."""
        answer = self.get(target, "queue")
        return answer, checkout_key(answer)

    def information(self, key: str, *, email: str, **address: str) -> Answer:
        return self.post(
            f"/checkout/{key}/information",
            {"email": email, **US_ADDRESS, **address},
            "information",
        )

    def shipping(self, key: str, code: str = SHIPPING_CODE) -> Answer:
        return self.post(f"/checkout/{key}/shipping", {"shipping_method": code}, "shipping")

    def place(self, key: str, card: dict[str, str] | None = None) -> Answer:
        return self.post(f"/checkout/{key}/place", dict(card or TEST_CARD), "place")


class LeanHTTP:
    """One keep-alive HTTP/1.1 connection to one origin, on http.client, with a cookie jar of
    name -> value. A benchmark's client runs on the machine it measures: this one spends about
    a fifth of the CPU per exchange that requests does, leaving it to the server. Redirects
    are not followed; a connection the server closed while idle is reopened before use."""

    def __init__(self, base_url: str, *, timeout: float = 120) -> None:
        parts = urlsplit(base_url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.timeout = timeout
        self.cookies: dict[str, str] = {}
        self._connection: http.client.HTTPConnection | None = None

    def request(
        self, method: str, path: str, *, data: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, http.client.HTTPMessage, str]:  # fmt: skip
        """Send one request; (status, headers, body text). Raises OSError/HTTPException."""
        sent = {"Connection": "keep-alive", **(headers or {})}
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if data is not None:
            body = urlencode(data)
            sent["Content-Type"] = "application/x-www-form-urlencoded"
        connection = self._open()
        try:
            connection.request(method, path, body=body, headers=sent)
            response = connection.getresponse()
            text = response.read().decode("utf-8", "replace")
        except BaseException:
            self.close()
            raise
        for header in response.msg.get_all("Set-Cookie") or ():
            self._keep_cookie(header)
        if response.will_close:
            self.close()
        return response.status, response.msg, text

    def _open(self) -> http.client.HTTPConnection:
        connection = self._connection
        if connection is not None and connection.sock is not None:
            poller = select.poll()  # (select() cannot watch descriptors past 1023)
            poller.register(connection.sock, select.POLLIN)
            if poller.poll(0):  # idle, so readable means closed by the server
                self.close()
                connection = None
        if connection is None:
            connection = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            self._connection = connection
        return connection

    def _keep_cookie(self, header: str) -> None:
        pair, _, attributes = header.partition(";")
        name, _, value = pair.strip().partition("=")
        lowered = attributes.lower().replace(" ", "")
        if "max-age=0" in lowered or "expires=thu,01jan1970" in lowered:
            self.cookies.pop(name, None)
        else:
            self.cookies[name] = value

    def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()


class LeanShopper(Shopper):
    """A Shopper whose requests go over LeanHTTP (the benchmarks' crowds): the same steps and
    answers at a fraction of the client's CPU. In the checkout line it waits as a browser with
    script does: the waiting page is loaded once, then its box asks again through htmx (an
    admission's HX-Redirect is followed as the browser would, read as a 303)."""

    def __init__(self, base_url: str, *, timeout: float = 120) -> None:
        self.base_url = base_url
        self.timeout = timeout
        self.csrf_token = ""
        self.lean = LeanHTTP(base_url, timeout=timeout)
        self._pages_loaded: set[str] = set()
        self.board_base = None

    def start_checkout(self) -> tuple[Answer, str | None]:
        answer, key = super().start_checkout()
        if answer.status == 200 and answer.in_line:  # the waiting page came as the answer
            self._pages_loaded.add(answer.target)
        return answer, key

    def ask_in_line(self, target: str) -> tuple[Answer, str | None]:
        if target not in self._pages_loaded:
            self._pages_loaded.add(target)
            return super().ask_in_line(target)
        answer = self._send("GET", target, "queue", htmx=True)
        return answer, checkout_key(answer)

    def clone(self) -> LeanShopper:
        twin = LeanShopper(self.base_url, timeout=self.timeout)
        twin.lean.cookies.update(self.lean.cookies)
        twin.csrf_token = self.csrf_token
        return twin

    def close(self) -> None:
        self.lean.close()

    def _send(
        self,
        method: str,
        path: str,
        step: str,
        data: dict[str, Any] | None = None,
        *,
        htmx: bool = False,
    ) -> Answer:
        sent = {"X-CSRFToken": self.csrf_token} if self.csrf_token else {}
        if htmx:
            sent["HX-Request"] = "true"
        started = time.perf_counter()
        try:
            status, headers, text = self.lean.request(method, path, data=data, headers=sent)
        except (OSError, http.client.HTTPException) as exc:
            ms = (time.perf_counter() - started) * 1000
            return Answer(step, 0, text=f"{type(exc).__name__}: {exc}", ms=ms)
        ms = (time.perf_counter() - started) * 1000
        redirect = headers.get("HX-Redirect") if htmx else None
        if redirect:  # htmx navigates there: the same as following a 303
            status = 303
        target = urlsplit(redirect or headers.get("Location", ""))
        if 300 <= status < 400:
            text = ""
        query = f"?{target.query}" if target.query else ""
        return Answer(step, status, target.path, text, ms, target.path + query)


def checkout_key(answer: Answer) -> str | None:
    """The checkout an answer sends the shopper into (303 to one of its steps)."""
    found = CHECKOUT_PATH.match(answer.location) if answer.status == 303 else None
    return found.group(1) if found and found.group(1) != "queue" else None


# Journey.outcome
ORDER, SOLD_OUT_ANSWER, ERROR_5XX, ERROR_OTHER = "order", "sold_out", "error_5xx", "error_other"
LINE_TIMEOUT = 300.0  # seconds a shopper waits in the checkout line before giving up
GIVE_UP_SPREAD = 10.0  # seconds over which pages told sold out by the board free their places


@dataclass
class Journey:
    """A shopper's way through checkout: how it ended and every answer on the way."""

    outcome: str = ""
    answers: list[Answer] = field(default_factory=list)
    confirmation: str = ""  # /orders/<token> for an order
    started: float = 0.0
    ended: float = 0.0
    queue_wait_ms: float | None = None  # time in the checkout line (None: let in at once)
    queue_polls: int = 0  # how often the waiting page asked
    board_reads: int = 0  # how often it read the line's board instead
    gives_up: str = ""  # told sold out by the board: the waiting page's ask that frees the place

    @property
    def sold_out_ms(self) -> float | None:
        """How long the "sold out" answer took (the request that said it)."""
        if self.outcome != SOLD_OUT_ANSWER or not self.answers:
            return None
        return self.answers[-1].ms

    @property
    def failure(self) -> Answer | None:
        return self.answers[-1] if self.outcome in (ERROR_5XX, ERROR_OTHER) else None

    def ms(self, step: str) -> float | None:
        return next((a.ms for a in self.answers if a.step == step), None)


def _end(journey: Journey, outcome: str) -> Journey:
    journey.outcome = outcome
    journey.ended = time.perf_counter()
    return journey


def _failed(journey: Journey, answer: Answer) -> Journey:
    return _end(journey, ERROR_5XX if answer.status >= 500 else ERROR_OTHER)


def check_out(
    shopper: Shopper,
    *,
    email: str,
    shipping_code: str = SHIPPING_CODE,
    card: dict[str, str] | None = None,
    before: threading.Barrier | None = None,
) -> Journey:
    """POST /checkout -> information -> shipping -> place, stopping at the first answer that is
    not the expected 303. A 409 naming sold-out stock at /checkout or /place is a clean
    'sold out'; anything else unexpected is an error (5xx or other)."""
    if before is not None:
        before.wait()
    journey = Journey(started=time.perf_counter())
    answer, key = shopper.start_checkout()
    journey.answers.append(answer)
    if answer.in_line:
        answer, key = wait_in_line(shopper, journey, answer)
    if answer.sold_out:
        ended = _end(journey, SOLD_OUT_ANSWER)
        if journey.gives_up:  # told by the board: the page gives its place up meanwhile
            time.sleep(random.uniform(0, GIVE_UP_SPREAD))
            shopper.ask_in_line(journey.gives_up)
        return ended
    if key is None:
        return _failed(journey, answer)
    for answer in (
        shopper.information(key, email=email),
        shopper.shipping(key, shipping_code),
    ):
        journey.answers.append(answer)
        if answer.status != 303:
            return _failed(journey, answer)
    answer = shopper.place(key, card)
    journey.answers.append(answer)
    if answer.sold_out:
        return _end(journey, SOLD_OUT_ANSWER)
    if answer.status == 303 and answer.location.startswith("/orders/"):
        journey.confirmation = answer.location
        return _end(journey, ORDER)
    return _failed(journey, answer)


def wait_in_line(
    shopper: Shopper, journey: Journey, answer: Answer, *, timeout: float = LINE_TIMEOUT
) -> tuple[Answer, str | None]:
    """Follow the checkout line's waiting page from `answer` (the page itself, the join's
    answer; or the 303 to it) until the shopper is let in (the answer and the checkout's key),
    told sold out, or anything else; the wait is recorded on the journey (queue_wait_ms,
    queue_polls)."""
    started = time.perf_counter()
    target = answer.target
    deadline = started + timeout
    key: str | None = None
    rejoins = 0
    shown: Answer | None = answer if answer.status == 200 else None  # the page in hand
    while True:
        if shown is not None:  # wait as the page in hand says before asking
            answer, shown = shown, None
        else:
            answer, key = shopper.ask_in_line(target)
            journey.answers.append(answer)
            journey.queue_polls += 1
        if answer.status == 410 and rejoins < 3:  # the place lapsed (an answer took too long)
            rejoins += 1
            answer, key = shopper.start_checkout()  # "Check out again": back of the line
            journey.answers.append(answer)
            if answer.in_line:
                target = answer.target
                shown = answer if answer.status == 200 else None
                continue
        if not answer.in_line or time.perf_counter() >= deadline:
            break
        board = answer.board()
        if board is None:
            time.sleep(answer.poll_seconds())
            continue
        told = watch_board(shopper, journey, *board, deadline=deadline)
        if told is not None:  # the page says "sold out" from the board, asking nobody
            journey.answers.append(told)
            journey.gives_up = target
            answer, key = told, None
            break
    journey.queue_wait_ms = (time.perf_counter() - started) * 1000
    return answer, key


class BoardReader:
    """The checkout line's board as a crowd of waiting pages sees it: read from the edge once
    a period for all of them. Every browser reads the same answer from the edge (the edge's
    own rate is bench/edge.py's figure); a thread per page reading it over Python HTTP would
    make this client, on the machine it measures, the crowd's bottleneck (2,000 pages: 2,000
    reads a second)."""

    _readers: ClassVar[dict[tuple[str, str], BoardReader]] = {}
    _made = threading.Lock()

    def __init__(self, base_url: str, path: str, every: float) -> None:
        self.http = LeanHTTP(base_url, timeout=30)
        self.path = path
        self.every = every
        self.latest: dict[str, Any] | None = None
        self.read_ms: list[float] = []
        self.last_ms = 0.0
        self.errors = 0
        self._changed = threading.Condition()
        self._stopped = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()

    @classmethod
    def of(cls, base_url: str, path: str, every: float) -> BoardReader:
        with cls._made:
            reader = cls._readers.get((base_url, path))
            if reader is None:
                reader = cls._readers[(base_url, path)] = cls(base_url, path, every)
            return reader

    @classmethod
    def stop_all(cls) -> list[BoardReader]:
        """Stop every reader (the run is over); returns them for their figures."""
        with cls._made:
            readers, cls._readers = list(cls._readers.values()), {}
        for reader in readers:
            reader._stopped.set()
        return readers

    def _read(self) -> None:
        while not self._stopped.wait(self.every):
            started = time.perf_counter()
            try:
                status, _, text = self.http.request("GET", self.path, headers=JSON_ACCEPT)
            except (OSError, http.client.HTTPException):
                self.errors += 1
                continue
            self.last_ms = (time.perf_counter() - started) * 1000
            self.read_ms.append(self.last_ms)
            if status != 200:
                self.errors += 1
                continue
            with self._changed:
                self.latest = json.loads(text)
                self._changed.notify_all()
        self.http.close()

    def wait(self, seq: int, until: float) -> dict[str, Any] | None:
        """The board once it says place `seq` is near or an item sold out; None at `until`."""
        with self._changed:
            while True:
                board = self.latest
                if board is not None and (board["sold_out"] or board["near"] >= seq):
                    return board
                left = until - time.perf_counter()
                if left <= 0:
                    return None
                self._changed.wait(left)


def watch_board(
    shopper: Shopper,
    journey: Journey,
    path: str,
    every: float,
    seq: int,
    keepalive: float,
    *,
    deadline: float,
) -> Answer | None:
    """Wait as the waiting page's script does while it reads the line's board (BoardReader):
    until the board says the turn is near (None: the page asks for it), or `keepalive` has
    passed (None too), or sold out: the page shows it from the board itself (the answer, as
    long as the board's read took)."""
    reader = BoardReader.of(shopper.board_base or shopper.base_url, path, every)
    board = reader.wait(seq, min(time.perf_counter() + keepalive, deadline))
    if board is None:
        return None
    journey.board_reads += 1
    if not board["sold_out"]:
        return None
    names = ", ".join(board["sold_out"])
    return Answer("board", 409, text=f"Sold out: {names}", ms=reader.last_ms)


def run_barrier(targets: list[Any], work: Any, *, timeout: float = 300) -> list[Any]:
    """Run work(target, barrier) on one thread per target, all released by one barrier; return
    the results in order. A thread that raised leaves its exception as the result."""
    barrier = threading.Barrier(len(targets))
    results: list[Any] = [None] * len(targets)

    def run(i: int) -> None:
        try:
            results[i] = work(targets[i], barrier)
        except BaseException as exc:
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(len(targets))]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    if any(thread.is_alive() for thread in threads):
        raise RuntimeError("a shopper thread hung")
    return results


def reference_ms() -> float:
    """A fixed pure-Python workload (median of 5): how fast this machine is right now, so
    figures taken on a busy machine can be read against it."""
    times = []
    for _ in range(5):
        started = time.perf_counter()
        sum(i * i for i in range(300_000))
        times.append((time.perf_counter() - started) * 1000)
    return sorted(times)[2]


def percentile(samples: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..1); 0.0 without samples."""
    ordered = sorted(samples)
    if not ordered:
        return 0.0
    return ordered[max(0, min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1))]

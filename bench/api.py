"""Admin API benchmark: requests per second and p99 of listing products and orders (pages of
50) and of shipping a parcel, over real HTTP, on PostgreSQL, with a reference in the same run.

    python bench/api.py [--quick] [--database-url URL] [--products N] [--orders N]
                        [--fulfilments N] [--seconds S] [--clients C] [--workers W] [--threads T]

Needs PostgreSQL (--database-url or TEST_DATABASE_URL) and Redis (TEST_REDIS_URL or REDIS_URL:
the server keeps its rate limits and cache there, as in production). Works in its own schema
(`bench_api`, rebuilt by the migrations at the start, dropped at the end).

The shop: N products with one variant each and N orders with their lines (50,000 and 10,000 by
default; `--quick`: 2,000 and 500, well under a minute), written by bulk inserts (the
services would take an hour for that many), plus --fulfilments orders placed through the real
checkout (200; `--quick` 10), whose stock is allocated, to be shipped. Then gunicorn (W workers
x T threads) serves the app with a Celery broker and no worker (the side effects of a request,
emails, documents and webhooks, queue as in production instead of running in the request as
in the embedded mode), and C client threads on keep-alive connections, for S seconds each:

- `healthz`: GET /healthz on the same server (one SELECT 1): the reference, what this server
  and client can do at all on this machine now;
- `products`: GET /api/v1/products?limit=50 at a random depth of the catalog (a keyset
  cursor: every page costs the same);
- `orders`: GET /api/v1/orders?limit=50, newest first, following `links.next`;
- `fulfil`: POST /api/v1/orders/{id}/fulfillments with a carrier and tracking number (each
  order once, an Idempotency-Key each), until the placed orders are shipped.

The last line holds every figure as key=value (`<kind>_rps`, `<kind>_p99_ms`, `errors_5xx`,
and the sizes; `quick=1` when the data was the small set).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._server import (  # noqa: E402  (the project root on the path first)
    LiveServer,
    bench_database,
    flush_redis,
    percentile,
    postgres_url,
    reset_schema,
)
from bench.flash_sale import next_redis_database  # noqa: E402

SCHEMA = "bench_api"
PAGE = 50


# -- the data -----------------------------------------------------------------------------------


def build_app(url: str, instance: str) -> Any:
    from wsgi import create_app

    return create_app(
        {
            "INSTANCE_PATH": instance,
            "SECRET_KEY": "bench",
            "SQLALCHEMY_DATABASE_URI": url,
            "RATELIMIT_ENABLED": False,
            "MEDIA_ROOT": str(Path(instance) / "media"),
            "MAIL_DIR": str(Path(instance) / "mail"),
        }
    )


def fill_products(count: int) -> None:
    """Active products with one priced variant each, by bulk inserts with explicit ids (the
    sequence is moved past them)."""
    from sqlalchemy import func, insert, select, text

    from commerce.catalog.models import Product, Variant
    from commerce.db import utcnow
    from commerce.extensions import db

    now = utcnow()
    first = int(db.session.scalar(select(func.max(Product.id))) or 0) + 1
    first_variant = int(db.session.scalar(select(func.max(Variant.id))) or 0) + 1
    rng = random.Random("bench-api-products")
    batch = 5000
    for start in range(0, count, batch):
        products, variants = [], []
        for n in range(start, min(start + batch, count)):
            price = rng.randint(500, 20_000)
            products.append(
                {
                    "id": first + n,
                    "title": f"Bench product {n}",
                    "handle": f"bench-product-{n}",
                    "status": "active",
                    "vendor": rng.choice(["Acme", "Birch & Co", "Cole"]),
                    "currency": "USD",
                    "min_price": price,
                    "max_price": price,
                    "variant_count": 1,
                    "published_at": now,
                    "created_at": now,
                    "updated_at": now,
                }
            )
            variants.append(
                {
                    "id": first_variant + n,
                    "product_id": first + n,
                    "sku": f"BENCH-API-{n:06d}",
                    "price": price,
                    "currency": "USD",
                    "position": 1,
                    "created_at": now,
                    "updated_at": now,
                }
            )
        db.session.execute(insert(Product), products)
        db.session.execute(insert(Variant), variants)
        db.session.commit()
    for table in ("product", "variant"):
        db.session.execute(
            text(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT max(id) FROM {table}))"
            )
        )
    db.session.commit()


def place_orders(count: int) -> tuple[list[int], int]:
    """`count` orders through the real checkout (stock allocated at the default location):
    their ids, and that location's id."""
    from bench._server import TEST_CARD, US_ADDRESS, build_flash_shop
    from commerce.checkout.cart import add_to_cart
    from commerce.checkout.services import (
        choose_shipping_method,
        place_order,
        save_information,
        start_checkout,
    )
    from commerce.extensions import db
    from commerce.inventory.services import default_location

    shop = build_flash_shop(units=count * 2 + 10, sku="BENCH-SHIP")
    card = {**TEST_CARD, "number": TEST_CARD["card_number"]}
    card.pop("card_number")
    ids = []
    for n in range(count):
        cart = add_to_cart(None, variant_id=shop.variant_id, quantity=1 + n % 2)
        checkout = start_checkout(cart)
        save_information(checkout, email=f"ship{n}@example.test", address=US_ADDRESS)
        choose_shipping_method(checkout, code="STD")
        order = place_order(checkout.key, card=card).order
        ids.append(order.id)
    location_id = default_location().id
    db.session.commit()
    return ids, location_id


def seed(args: argparse.Namespace) -> tuple[list[int], int, str]:
    """Everything the run needs (inside the app context): placed order ids, the location,
    and an all-scopes token's secret."""
    from bench.catalog import fill_orders
    from commerce.extensions import db
    from commerce.staff.permissions import SCOPES
    from commerce.staff.tokens import create_token

    to_ship, location_id = place_orders(args.fulfilments)
    fill_orders(args.orders, seed=17)
    fill_products(args.products)
    _token, secret = create_token("bench", scopes=list(SCOPES), by=None)
    db.session.commit()
    return to_ship, location_id, secret


# -- the load -----------------------------------------------------------------------------------


@dataclass
class Tally:
    times_ms: list[float] = field(default_factory=list)
    answers: int = 0
    errors_5xx: int = 0
    other: dict[int, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, status: int, elapsed_ms: float) -> None:
        with self.lock:
            self.times_ms.append(elapsed_ms)
            self.answers += 1
            if status >= 500:
                self.errors_5xx += 1
            elif status not in (200, 201):
                self.other[status] = self.other.get(status, 0) + 1


class Client:
    """One keep-alive connection sending JSON with the token."""

    def __init__(self, base: str, secret: str) -> None:
        parts = urlsplit(base)
        self.connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
        self.auth = {"Authorization": f"Bearer {secret}", "Connection": "keep-alive"}

    def send(self, method: str, path: str, body: Any = None, **headers: str) -> tuple[int, Any]:
        sent = {**self.auth, **headers}
        data = None
        if body is not None:
            data = json.dumps(body)
            sent["Content-Type"] = "application/json"
        try:
            self.connection.request(method, path, body=data, headers=sent)
            response = self.connection.getresponse()
            text = response.read()
        except (OSError, http.client.HTTPException):
            self.connection.close()  # reopened by the next request
            return 599, None
        if response.will_close:
            self.connection.close()
        return response.status, text


def drive(clients: list[Client], seconds: float, step: Any) -> Tally:
    """Every client calls `step(client, state)` in a loop for `seconds` (or until `step`
    returns None): answers per second and their times."""
    tally = Tally()
    start = threading.Barrier(len(clients) + 1)
    deadline = [0.0]

    def run(client: Client) -> None:
        state: dict[str, Any] = {}
        start.wait()
        while time.perf_counter() < deadline[0]:
            began = time.perf_counter()
            status = step(client, state)
            if status is None:
                return
            tally.add(status, (time.perf_counter() - began) * 1000)

    threads = [threading.Thread(target=run, args=(c,), daemon=True) for c in clients]
    for thread in threads:
        thread.start()
    deadline[0] = time.perf_counter() + seconds
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    tally.elapsed = time.perf_counter() - began  # type: ignore[attr-defined]
    return tally


def healthz(client: Client, _state: dict[str, Any]) -> int:
    return client.send("GET", "/healthz")[0]


def products_step(first_id: int, last_id: int) -> Any:
    from commerce.paging import encode_cursor

    rng = random.Random("bench-api-depth")

    def step(client: Client, _state: dict[str, Any]) -> int:
        at = rng.randint(first_id, max(first_id, last_id - PAGE))
        cursor = encode_cursor([at, at])
        return client.send("GET", f"/api/v1/products?limit={PAGE}&cursor={cursor}")[0]

    return step


def orders_step(client: Client, state: dict[str, Any]) -> int:
    path = state.get("next") or f"/api/v1/orders?limit={PAGE}"
    status, body = client.send("GET", path)
    nxt = json.loads(body)["links"]["next"] if status == 200 else None
    state["next"] = None if not nxt else nxt[nxt.index("/api/") :]
    return status


def fulfil_step(to_ship: list[int], location_id: int) -> Any:
    queue = list(to_ship)
    lock = threading.Lock()

    def step(client: Client, _state: dict[str, Any]) -> int | None:
        with lock:
            if not queue:
                return None
            order_id = queue.pop()
        body = {"location_id": location_id, "carrier": "UPS", "tracking_number": f"1Z{order_id}"}
        key = str(uuid.uuid4())
        path = f"/api/v1/orders/{order_id}/fulfillments"
        return client.send("POST", path, body, **{"Idempotency-Key": key})[0]

    return step


def figures_of(name: str, tally: Tally) -> dict[str, str]:
    elapsed = getattr(tally, "elapsed", 0.0) or 1e-9
    return {
        f"{name}_rps": f"{tally.answers / elapsed:.0f}",
        f"{name}_p50_ms": f"{percentile(tally.times_ms, 0.5):.1f}",
        f"{name}_p99_ms": f"{percentile(tally.times_ms, 0.99):.1f}",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small data, short runs (< 1 min)")
    parser.add_argument("--database-url")
    parser.add_argument("--products", type=int)
    parser.add_argument("--orders", type=int)
    parser.add_argument("--fulfilments", type=int)
    parser.add_argument("--seconds", type=float)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args(argv)
    small = {"products": 2000, "orders": 500, "fulfilments": 10, "seconds": 1.0}
    full = {"products": 50_000, "orders": 10_000, "fulfilments": 200, "seconds": 6.0}
    for name, value in (small if args.quick else full).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    url = postgres_url(args.database_url, "bench/api.py")
    redis_url = os.environ.get("TEST_REDIS_URL") or os.environ.get("REDIS_URL")
    if not redis_url:
        sys.exit("bench/api.py needs Redis: set TEST_REDIS_URL (or REDIS_URL)")
    broker_url = next_redis_database(redis_url)
    flush_redis(redis_url)
    flush_redis(broker_url)

    from flask_migrate import upgrade

    from commerce.catalog.models import Product
    from commerce.extensions import db

    schema_url = bench_database(url, SCHEMA)
    figures: dict[str, str] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="bench-api-") as instance:
            app = build_app(schema_url, instance)
            started = time.perf_counter()
            with app.app_context():
                upgrade()
                to_ship, location_id, secret = seed(args)
                first_id = int(db.session.scalar(db.select(db.func.min(Product.id))) or 1)
                last_id = int(db.session.scalar(db.select(db.func.max(Product.id))) or 1)
                db.session.remove()
                db.engine.dispose()
            print(
                f"seeded {args.products:,} products, {args.orders + len(to_ship):,} orders "
                f"({len(to_ship)} to ship) in {time.perf_counter() - started:.0f} s",
                flush=True,
            )
            server = LiveServer(
                database_url=schema_url,
                redis_url=redis_url,
                instance=instance,
                workers=args.workers,
                threads=args.threads,
                # The side effects (emails, documents, webhooks) queue for a worker, as in
                # production, instead of running inline in the request (the embedded mode).
                env={"CELERY_BROKER_URL": broker_url},
            )
            with server:
                clients = [Client(server.url, secret) for _ in range(args.clients)]
                runs = [
                    ("healthz", healthz, args.seconds),
                    ("products", products_step(first_id, last_id), args.seconds),
                    ("orders", orders_step, args.seconds),
                    ("fulfil", fulfil_step(to_ship, location_id), 600.0),
                ]
                errors = 0
                for name, step, seconds in runs:
                    if name != "fulfil":  # a warm-up request each (connections, caches)
                        for client in clients:
                            step(client, {})
                    tally = drive(clients, seconds, step)
                    errors += tally.errors_5xx
                    figures.update(figures_of(name, tally))
                    print(
                        f"{name:9} {figures[f'{name}_rps']:>6} requests/s  "
                        f"p50 {figures[f'{name}_p50_ms']:>7} ms  "
                        f"p99 {figures[f'{name}_p99_ms']:>7} ms  "
                        f"({tally.answers} answers, {tally.errors_5xx} 5xx"
                        + (f", other {tally.other}" if tally.other else "")
                        + ")",
                        flush=True,
                    )
                tracebacks = server.tracebacks()
    finally:
        reset_schema(url, SCHEMA, create=False)
        flush_redis(broker_url)  # the queued side effects no worker will run
    figures.update(
        {
            "errors_5xx": str(errors),
            "tracebacks": str(len(tracebacks)),
            "products": str(args.products),
            "orders": str(args.orders + args.fulfilments),
            "fulfilments": str(args.fulfilments),
            "clients": str(args.clients),
            "workers": str(args.workers),
            "threads": str(args.threads),
            "quick": "1" if args.quick else "0",
        }
    )
    print(" ".join(f"{k}={v}" for k, v in figures.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())

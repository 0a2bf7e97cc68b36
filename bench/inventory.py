"""Inventory benchmark: reservations per second on PostgreSQL, hot and spread, 1/8/32 clients.

    python bench/inventory.py [--quick] [--database-url URL] [--seconds S]

Needs PostgreSQL: --database-url or TEST_DATABASE_URL (refuses to run without one). Works in its
own schema (`bench_inventory`, dropped and rebuilt at the start and dropped at the end), so the
database's other tables are never touched. It builds one hot SKU and 1,000 spread SKUs (bulk
inserts, with a ledger row for every level's on_hand), then for each of hot/spread and 1, 8 and 32
concurrent clients (threads, each with its own app context and so its own connection) loops
`reserve_stock` 1 unit -> `release_reservation` for S seconds and counts the cycles.

A final drain phase has 32 clients reserve single units of a SKU with a fixed stock, without
releasing, until everyone is refused: successes above the stock (or any negative available) are
oversold units. Errors are exceptions other than domain errors; deadlocks are the subset that are
PostgreSQL deadlocks. The last line holds every figure as key=value, for scripts to read.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = "bench_inventory"
SPREAD_SKUS = 1_000
DRAIN_STOCK = 500
CLIENTS = (1, 8, 32)


@dataclass
class Tally:
    cycles: int = 0
    refused: int = 0
    errors: int = 0
    deadlocks: int = 0
    first_error: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def error(self, exc: BaseException) -> None:
        with self.lock:
            self.errors += 1
            text = f"{type(exc).__name__}: {exc}"
            if "deadlock" in text.lower():
                self.deadlocks += 1
            if self.first_error is None:
                self.first_error = text.splitlines()[0][:300]


def database_url(args: argparse.Namespace) -> str:
    sys.path.insert(0, str(ROOT))
    from bench._server import postgres_url

    return postgres_url(args.database_url, "bench/inventory.py")


def reset_schema(url: str, *, create: bool) -> str:
    """Drop the bench's schema (and make it again, empty, when `create`): the URL to use."""
    sys.path.insert(0, str(ROOT))
    from bench._server import bench_database
    from bench._server import reset_schema as reset

    if create:
        return bench_database(url, SCHEMA)
    reset(url, SCHEMA, create=False)
    return url


def build_app(url: str, instance: str) -> Any:
    sys.path.insert(0, str(ROOT))
    from wsgi import create_app

    return create_app(
        {
            "TESTING": True,
            "INSTANCE_PATH": instance,
            "SECRET_KEY": "bench",
            "SQLALCHEMY_DATABASE_URI": url,
            "SQLALCHEMY_ENGINE_OPTIONS": {
                "pool_size": 40,
                "max_overflow": 10,
                "pool_timeout": 60,
            },
            "RATELIMIT_ENABLED": False,
            "MEDIA_ROOT": str(Path(instance) / "media"),
        }
    )


def seed(skus: list[tuple[str, int]]) -> list[int]:
    """Products with one variant each, stocked at one location by bulk inserts (ledger
    included). Returns the variant ids in order."""
    from commerce.catalog.models import Product, Variant
    from commerce.db import utcnow
    from commerce.extensions import db
    from commerce.inventory.models import RECEIVED, Location, StockLevel, StockMovement

    location = db.session.scalar(db.select(Location).where(Location.code == "BENCH"))
    if location is None:
        location = Location(name="Bench warehouse", code="BENCH", priority=1)
        db.session.add(location)
        db.session.flush()
    variants = []
    for sku, _stock in skus:
        product = Product(title=sku, handle=sku.lower(), currency="USD", status="active")
        variant = Variant(product=product, sku=sku, price=100, currency="USD", position=1)
        db.session.add_all([product, variant])
        variants.append(variant)
    db.session.flush()
    levels = [
        StockLevel(variant_id=v.id, location_id=location.id, on_hand=stock, allocated=0, reserved=0)
        for v, (_sku, stock) in zip(variants, skus, strict=True)
    ]
    db.session.add_all(levels)
    db.session.flush()
    now = utcnow()
    db.session.add_all(
        StockMovement(stock_level_id=level.id, delta=level.on_hand, reason=RECEIVED, created_at=now)
        for level in levels
    )
    db.session.commit()
    return [v.id for v in variants]


def run_clients(
    app: Any, clients: int, seconds: float, variant_ids: list[int], *, release: bool
) -> tuple[Tally, float]:
    from commerce.errors import CommerceError
    from commerce.extensions import db
    from commerce.inventory.services import release_reservation, reserve_stock

    tally = Tally()
    barrier = threading.Barrier(clients + 1)
    window: dict[str, float] = {}

    def client(n: int) -> None:
        rng = random.Random(n)
        cycles = refused = 0
        with app.app_context():
            try:
                barrier.wait()
                i = 0
                while time.perf_counter() < window["end"]:
                    i += 1
                    reference = f"bench-{clients}-{n}-{i}"
                    try:
                        reserve_stock([(rng.choice(variant_ids), 1)], reference=reference)
                        if release:
                            release_reservation(reference)
                        cycles += 1
                    except CommerceError:
                        refused += 1
                        if not release:
                            break  # draining: refused means sold out for this client
                    except Exception as exc:  # counted, the loop goes on
                        db.session.rollback()
                        tally.error(exc)
            finally:
                db.session.remove()
        with tally.lock:
            tally.cycles += cycles
            tally.refused += refused

    threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(clients)]
    for thread in threads:
        thread.start()
    started = time.perf_counter()
    window["end"] = started + seconds
    barrier.wait()
    for thread in threads:
        thread.join()
    return tally, time.perf_counter() - started


def held_and_negative(variant_ids: list[int]) -> tuple[int, int]:
    from sqlalchemy import func, select

    from commerce.extensions import db
    from commerce.inventory.models import StockLevel

    db.session.expire_all()
    reserved, negative = db.session.execute(
        select(
            func.coalesce(func.sum(StockLevel.reserved), 0),
            func.count().filter(StockLevel.available < 0),
        ).where(StockLevel.variant_id.in_(variant_ids))
    ).one()
    return int(reserved), int(negative)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short phases (under a minute)")
    parser.add_argument("--database-url", help="PostgreSQL URL (default: TEST_DATABASE_URL)")
    parser.add_argument("--seconds", type=float, help="length of each phase")
    args = parser.parse_args()
    url = database_url(args)
    seconds = args.seconds or (3.0 if args.quick else 10.0)

    schema_url = reset_schema(url, create=True)
    figures: dict[str, Any] = {}
    oversold = errors = deadlocks = leaked = 0
    first_error = None
    try:
        with tempfile.TemporaryDirectory() as instance:
            app = build_app(schema_url, instance)
            from commerce.extensions import db

            with app.app_context():
                db.metadata.create_all(db.engine, checkfirst=False)  # an empty schema
                t0 = time.perf_counter()
                hot = seed([("HOT-1", 1_000_000)])
                spread = seed([(f"SPREAD-{i:04d}", 1_000_000) for i in range(SPREAD_SKUS)])
                (drain,) = seed([("DRAIN-1", DRAIN_STOCK)])
                print(f"seeded {SPREAD_SKUS + 2} SKUs in {time.perf_counter() - t0:.1f}s")

                for name, ids in (("hot", hot), ("spread", spread)):
                    for clients in CLIENTS:
                        tally, elapsed = run_clients(app, clients, seconds, ids, release=True)
                        rate = tally.cycles / elapsed
                        figures[f"{name}_c{clients}_per_s"] = round(rate, 1)
                        reserved, negative = held_and_negative(ids)
                        oversold += negative
                        leaked += reserved  # every cycle released its hold: must be 0
                        errors += tally.errors
                        deadlocks += tally.deadlocks
                        first_error = first_error or tally.first_error
                        print(
                            f"{name:>6} clients={clients:>2} cycles={tally.cycles:>6} "
                            f"{rate:8.1f}/s refused={tally.refused} errors={tally.errors}"
                        )

                tally, elapsed = run_clients(app, 32, 60.0, [drain], release=False)
                reserved, negative = held_and_negative([drain])
                oversold += negative + max(tally.cycles - DRAIN_STOCK, 0)
                oversold += max(reserved - DRAIN_STOCK, 0)
                errors += tally.errors
                deadlocks += tally.deadlocks
                first_error = first_error or tally.first_error
                figures["drain_sold"] = tally.cycles
                figures["drain_stock"] = DRAIN_STOCK
                print(
                    f" drain clients=32 sold={tally.cycles}/{DRAIN_STOCK} held={reserved} "
                    f"in {elapsed:.1f}s refused={tally.refused} errors={tally.errors}"
                )
                db.session.remove()
                db.engine.dispose()
    finally:
        reset_schema(url, create=False)
    if first_error:
        print(f"first error: {first_error}")
    figures.update(oversold=oversold, leaked_holds=leaked, errors=errors, deadlocks=deadlocks)
    print(" ".join(f"{key}={value}" for key, value in figures.items()))
    return 0 if oversold == 0 and errors == 0 and leaked == 0 else 1


if __name__ == "__main__":
    sys.exit(main())

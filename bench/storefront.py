"""Storefront benchmark: requests per second and latency of the shop's catalog pages.

    python bench/storefront.py [--quick] [--products N] [--orders O] [--workers W] [--clients C]
                               [--seconds S]

Loads the demo shop into a fresh SQLite instance, starts gunicorn (W worker processes) on a free
loopback port, and drives it with C client threads over real HTTP for S seconds per page kind:
home, a category page, a product page and a search. Every request is a cache miss for the
server (no If-None-Match), so the figures are the application's own cost. The last line holds
every figure as key=value.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return (
        ordered[max(0, min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1))] if ordered else 0.0
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def prepare(tmp: str, products: int, orders: int = 40) -> dict[str, list[str]]:
    """Build the demo shop; return sample URLs per page kind."""
    sys.path.insert(0, str(ROOT))
    from flask_migrate import upgrade
    from sqlalchemy import select

    from commerce.catalog.models import ACTIVE, Category, Product
    from commerce.demo import load_demo
    from commerce.extensions import db
    from wsgi import create_app

    app = create_app(
        {
            "INSTANCE_PATH": tmp,
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp}/bench.db",
            "MEDIA_ROOT": f"{tmp}/media",
            "SECRET_KEY": "bench",
        }
    )
    with app.app_context():
        upgrade()
        load_demo(products=products, orders=orders, seed=11)
        handles = list(
            db.session.scalars(select(Product.handle).where(Product.status == ACTIVE).limit(200))
        )
        categories = list(
            db.session.scalars(select(Category.handle).where(Category.parent_id.is_(None)))
        )
        db.session.remove()
    words = sorted({w for h in handles for w in h.split("-") if len(w) > 3})[:30]
    return {
        "home": ["/"],
        "category": [f"/c/{c}" for c in categories],
        "product": [f"/products/{h}" for h in handles],
        "search": [f"/search?q={w}" for w in words],
    }


def start_server(tmp: str, port: int, workers: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "INSTANCE_PATH": tmp,
        "DATABASE_URL": f"sqlite:///{tmp}/bench.db",
        "MEDIA_ROOT": f"{tmp}/media",
        "SECRET_KEY": "bench",
    }
    gunicorn = str(Path(sys.executable).with_name("gunicorn"))
    process = subprocess.Popen(
        [
            gunicorn,
            "-w",
            str(workers),
            "-b",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
            "wsgi:app",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    import requests

    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            if requests.get(f"http://127.0.0.1:{port}/", timeout=2).status_code == 200:
                return process
        except requests.RequestException:
            time.sleep(0.3)
    process.terminate()
    raise SystemExit("gunicorn did not start: " + (process.stderr.read() or b"").decode()[-500:])


def drive(base: str, urls: list[str], clients: int, seconds: float) -> dict[str, Any]:
    """C threads request random URLs of one kind until time is up (bounded, loopback only)."""
    import requests

    latencies: list[float] = []
    errors = {"5xx": 0, "other": 0}
    lock = threading.Lock()
    stop_at = time.perf_counter() + seconds

    def client(seed: int) -> None:
        rng = random.Random(seed)
        session = requests.Session()
        mine: list[float] = []
        while time.perf_counter() < stop_at:
            started = time.perf_counter()
            try:
                status = session.get(base + rng.choice(urls), timeout=10).status_code
            except requests.RequestException:
                status = 0
            mine.append((time.perf_counter() - started) * 1000)
            if status >= 500:
                with lock:
                    errors["5xx"] += 1
            elif status != 200:
                with lock:
                    errors["other"] += 1
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    return {
        "rps": len(latencies) / elapsed,
        "p50": percentile(latencies, 0.5),
        "p99": percentile(latencies, 0.99),
        **errors,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="2,000 products, 5 s per page kind")
    parser.add_argument("--products", type=int, default=None)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=None)
    parser.add_argument("--orders", type=int, default=40, help="demo orders (default 40)")
    args = parser.parse_args(argv)
    products = args.products or (2_000 if args.quick else 20_000)
    seconds = args.seconds or (5.0 if args.quick else 20.0)

    with tempfile.TemporaryDirectory(prefix="bench-storefront-") as tmp:
        urls = prepare(tmp, products, args.orders)
        port = free_port()
        server = start_server(tmp, port, args.workers)
        figures: dict[str, Any] = {
            "products": products,
            "workers": args.workers,
            "clients": args.clients,
        }
        try:
            base = f"http://127.0.0.1:{port}"
            errors_5xx = 0
            for kind, kind_urls in urls.items():
                drive(base, kind_urls, args.clients, 1.0)  # warm-up
                result = drive(base, kind_urls, args.clients, seconds)
                errors_5xx += result["5xx"]
                figures[f"{kind}_rps"] = f"{result['rps']:.0f}"
                figures[f"{kind}_p50_ms"] = f"{result['p50']:.1f}"
                figures[f"{kind}_p99_ms"] = f"{result['p99']:.1f}"
                print(
                    f"{kind:>9}: {result['rps']:7.0f} req/s  p50 {result['p50']:6.1f} ms  "
                    f"p99 {result['p99']:6.1f} ms  5xx {result['5xx']}  other {result['other']}"
                )
            figures["errors_5xx"] = errors_5xx
        finally:
            server.terminate()
            server.wait(timeout=20)
        print(" ".join(f"{key}={value}" for key, value in figures.items()))
    return 1 if figures.get("errors_5xx") else 0


if __name__ == "__main__":
    raise SystemExit(main())

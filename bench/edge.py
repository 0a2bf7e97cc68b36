"""Edge cache benchmark: a cached product page through Varnish, against a Flask hello-world
through gunicorn, both driven by wrk in the same run.

    python bench/edge.py [--quick] [--seconds S] [--connections C] [--wrk-threads T]
                         [--workers W] [--threads G] [--database-url URL] [--redis-url URL]

Needs wrk and Varnish with the xkey module (`make varnish`; Debian packages wrk, varnish,
varnish-modules). The shop is one product in a category, made through the domain services, in
a fresh SQLite file (a hit never reaches the database, so its engine does not matter here), or
with --database-url in its own PostgreSQL schema (`bench_edge`, rebuilt at the start and
dropped at the end). Redis is used when --redis-url is given.

Three measurements, gunicorn always with the same settings (W gthread workers x G threads) and
the same client (wrk, T threads, C connections, S seconds each):

- hello: a Flask app answering "Hello, World!" (the reference: the server's own ceiling);
- edge: the product page through varnishd running deploy/varnish/default.vcl in front of the
  shop (EDGE_CACHE=varnish), stored by one request before the run: every request is a hit;
- direct: the same page from gunicorn itself, without the edge (what each miss costs).

The target: edge_rps at least 5 x hello_rps. Also printed: p50/p99 latencies, the hit ratio
and the requests that reached the shop during the edge run (varnishstat), non-2xx answers and
server tracebacks (must be 0), and wrk's socket errors (must be 0 for the edge run). The last
line holds every figure as key=value.
"""

from __future__ import annotations

import argparse
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from flask import Flask

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = "bench_edge"

# The reference app, served by gunicorn as `bench.edge:hello`.
hello = Flask("hello")


@hello.get("/")
def hello_world() -> str:
    return "Hello, World!"


def gunicorn_command(app: str, port: int, workers: int, threads: int) -> list[str]:
    """The LiveServer's settings (gthread workers, keep-alive), for any WSGI app."""
    return [
        str(Path(sys.executable).with_name("gunicorn")),
        "--workers", str(workers),
        "--worker-class", "gthread",
        "--threads", str(threads),
        "--bind", f"127.0.0.1:{port}",
        "--keep-alive", "75",
        "--log-level", "warning",
        "--no-control-socket",  # one per user by default: several servers would share it
        app,
    ]  # fmt: skip


class HelloServer:
    def __init__(self, workers: int, threads: int, log: Path) -> None:
        from bench._server import free_port

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.command = gunicorn_command("bench.edge:hello", self.port, workers, threads)
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> HelloServer:
        import requests

        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                self.command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if requests.get(self.url, timeout=2).status_code == 200:
                    return self
            except requests.RequestException:
                time.sleep(0.2)
        self.__exit__()
        raise SystemExit(f"the hello-world gunicorn did not start: {self.log.read_text()[-500:]}")

    def __exit__(self, *exc: object) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def wrk(url: str, *, seconds: float, connections: int, threads: int) -> dict[str, float]:
    """Run wrk against one URL; requests/s, latency percentiles (ms), non-2xx and errors."""
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s"]
    # As browsers ask: the edge stores pages compressed and sends them so.
    command += ["--timeout", "10s", "--latency", "-H", "Accept-Encoding: gzip", url]
    out = subprocess.run(
        command, capture_output=True, text=True, check=True, timeout=seconds + 60
    ).stdout

    def latency(label: str) -> float:
        found = re.search(rf"^\s*{label}\s+([\d.]+)(us|ms|s)\s*$", out, re.MULTILINE)
        if not found:
            return 0.0
        scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[found.group(2)]
        return float(found.group(1)) * scale

    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return {
        "rps": float(rps.group(1)) if rps else 0.0,
        "p50": latency("50%"),
        "p99": latency("99%"),
        "non_2xx": int(non_2xx.group(1)) if non_2xx else 0,
        "errors": sum(int(n) for n in errors.groups()) if errors else 0,
    }


def build_shop(schema_url: str, instance: str) -> str:
    """Migrate the bench schema and make one active product in a category; its page's path."""
    import logging

    from flask_migrate import upgrade

    from commerce.catalog.services import create_product
    from commerce.catalog.taxonomy import create_category
    from commerce.extensions import db
    from wsgi import create_app

    app = create_app(
        {
            "INSTANCE_PATH": instance,
            "SECRET_KEY": "bench",
            "SQLALCHEMY_DATABASE_URI": schema_url,
            "MEDIA_ROOT": str(Path(instance) / "media"),
        }
    )
    with app.app_context():
        logging.disable(logging.INFO)  # Alembic's per-revision lines
        try:
            upgrade()
        finally:
            logging.disable(logging.NOTSET)
        category = create_category(name="Sneakers", by=None)
        product = create_product(
            title="Edge sneaker",
            price=2500,
            sku="EDGE-1",
            status="active",
            category_id=category.id,
            description="A product page served from the edge cache.",
            by=None,
        )
        path = f"/products/{product.handle}"
        db.session.remove()
        db.engine.dispose()
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 s per measurement")
    parser.add_argument("--seconds", type=float, help="per measurement (default 10)")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections")
    parser.add_argument("--wrk-threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=8, help="threads per gunicorn worker")
    parser.add_argument("--database-url", help="PostgreSQL URL (default: a SQLite file)")
    parser.add_argument("--redis-url", help="Redis URL (default: none, in-process caching)")
    args = parser.parse_args(argv)
    seconds = args.seconds or (3.0 if args.quick else 10.0)

    sys.path.insert(0, str(ROOT))
    from bench._server import (
        EdgeCache,
        LiveServer,
        bench_database,
        flush_redis,
        postgres_url,
        reset_schema,
        varnish_available,
    )

    missing = varnish_available() or (None if shutil.which("wrk") else "wrk is not installed")
    if missing:
        sys.exit(f"bench/edge.py: {missing}")
    url = postgres_url(args.database_url, "bench/edge.py") if args.database_url else ""
    redis_url = args.redis_url or ""
    client = {"seconds": seconds, "connections": args.connections, "threads": args.wrk_threads}

    # The bench's own schema, with pg_trgm's on the search path (on the test database after
    # `make test` the extension lives in public: the search index's operator class is there).
    schema_url = bench_database(url, SCHEMA) if url else ""
    if redis_url:
        flush_redis(redis_url)
    figures: dict[str, Any] = {
        "workers": args.workers,
        "threads": args.threads,
        "connections": args.connections,
        "seconds": seconds,
    }
    try:
        with tempfile.TemporaryDirectory(prefix="bench-edge-") as tmp:
            schema_url = schema_url or f"sqlite:///{tmp}/shop.db"
            page = build_shop(schema_url, tmp)
            server = LiveServer(
                database_url=schema_url,
                redis_url=redis_url,
                instance=Path(tmp) / "server",
                workers=args.workers,
                threads=args.threads,
            )
            edge = EdgeCache(server.url, workdir=Path(tmp) / "edge")
            server.env.update(edge.shop_env())
            with HelloServer(args.workers, args.threads, Path(tmp) / "hello.log") as hello_server:
                wrk(hello_server.url, **{**client, "seconds": 1})  # warm-up
                runs = {"hello": wrk(hello_server.url, **client)}
            with server, edge:
                import requests

                stored = requests.get(edge.url + page, timeout=10)
                if stored.status_code != 200:
                    raise SystemExit(f"the product page answered {stored.status_code}")
                requests.get(edge.url + page, timeout=10)  # a hit
                before = edge.stats()
                runs["edge"] = wrk(edge.url + page, **client)
                after = edge.stats()
                wrk(server.url + page, **{**client, "seconds": 1})  # warm-up
                runs["direct"] = wrk(server.url + page, **client)
                tracebacks = server.tracebacks()
    finally:
        if url:
            reset_schema(url, SCHEMA, create=False)

    hits = after["MAIN.cache_hit"] - before["MAIN.cache_hit"]
    misses = after["MAIN.cache_miss"] - before["MAIN.cache_miss"]
    for name, run in runs.items():
        figures[f"{name}_rps"] = f"{run['rps']:.0f}"
        figures[f"{name}_p50_ms"] = f"{run['p50']:.2f}"
        figures[f"{name}_p99_ms"] = f"{run['p99']:.2f}"
        print(
            f"{name:>6}: {run['rps']:9.0f} req/s  p50 {run['p50']:7.2f} ms  "
            f"p99 {run['p99']:7.2f} ms  non-2xx {run['non_2xx']}  socket errors {run['errors']}"
        )
    ratio = runs["edge"]["rps"] / max(runs["hello"]["rps"], 1e-9)
    figures["edge_vs_hello"] = f"{ratio:.1f}"
    figures["direct_vs_hello"] = f"{runs['direct']['rps'] / max(runs['hello']['rps'], 1e-9):.2f}"
    figures["hit_ratio"] = f"{hits / max(hits + misses, 1):.4f}"
    figures["backend_requests"] = after["MAIN.backend_req"] - before["MAIN.backend_req"]
    figures["non_2xx"] = sum(int(r["non_2xx"]) for r in runs.values())
    # Socket errors (wrk's timeouts) of the edge run; those of the gunicorn runs are load on a
    # busy machine, printed above.
    figures["edge_socket_errors"] = int(runs["edge"]["errors"])
    figures["gunicorn_socket_errors"] = int(runs["hello"]["errors"] + runs["direct"]["errors"])
    figures["server_tracebacks"] = len(tracebacks)
    figures["target_met"] = "yes" if ratio >= 5 else "no"
    print(
        f"cached product page through Varnish: {ratio:.1f}x the hello-world through gunicorn "
        f"(target 5x); hit ratio {figures['hit_ratio']}, "
        f"{figures['backend_requests']} requests reached the shop"
    )
    print(" ".join(f"{key}={value}" for key, value in figures.items()))
    failed = figures["non_2xx"] or figures["edge_socket_errors"] or figures["server_tracebacks"]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

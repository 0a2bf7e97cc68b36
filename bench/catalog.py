"""Catalog benchmark: demo load time and console product-list server time at scale.

    python bench/catalog.py [--quick] [--products N] [--repeat R]

Builds a fresh SQLite instance in a temporary directory, times `load_demo` for N products
(50,000 by default, 5,000 with --quick), then signs in as the demo merchandiser and times
GET /console/products through the Flask test client: the first page, a filtered page, a
price-sorted page and a deep keyset page (the 'Next' link followed 20 times). Each is repeated
R times after a warm-up. The last line holds every figure as key=value, for scripts to read.
"""

from __future__ import annotations

import argparse
import html
import math
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
NEXT_LINK = re.compile(r'<a\b[^>]*\brel="next"[^>]*\bhref="([^"]*after=[^"]*)"')
ANY_AFTER_LINK = re.compile(r'href="(/console/products\?[^"]*after=[^"]*)"')
DEEP_PAGES = 20


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[max(0, min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1))]


def next_url(body: str) -> str | None:
    match = NEXT_LINK.search(body) or ANY_AFTER_LINK.search(body)
    return html.unescape(match.group(1)) if match else None


class Timer:
    """Times GETs through the test client, counts server errors and keeps the first one."""

    def __init__(self, app: Any, client: Any) -> None:
        from flask import got_request_exception

        self.client = client
        self.errors_5xx = 0
        self.non_200 = 0
        self.first_error: str | None = None
        app.logger.disabled = True  # one line below instead of a traceback per request
        got_request_exception.connect(self._failed, app, weak=False)

    def _failed(self, _sender: Any, exception: BaseException, **_extra: Any) -> None:
        if self.first_error is None:
            self.first_error = f"{type(exception).__name__}: {exception}"

    def get(self, url: str) -> tuple[float, int, str]:
        started = time.perf_counter()
        response = self.client.get(url)
        elapsed = (time.perf_counter() - started) * 1000
        if response.status_code >= 500:
            self.errors_5xx += 1
        if response.status_code != 200:
            self.non_200 += 1
        return elapsed, response.status_code, response.get_data(as_text=True)

    def measure(self, url: str, repeat: int) -> list[float]:
        self.get(url)  # warm-up: templates compiled, pages in SQLite's cache
        return [self.get(url)[0] for _ in range(repeat)]


def deep_url(app: Any, timer: Timer, first_url: str) -> tuple[str, str]:
    """The URL of page DEEP_PAGES + 1, found by following the pages' 'Next' links, or (when the
    page has no such link) built from the query layer's cursor; says which it was."""
    url = first_url
    for _ in range(DEEP_PAGES):
        found = next_url(timer.get(url)[2])
        if found is None:
            break
        url = found
    else:
        return url, "html"
    from commerce.catalog.queries import ProductFilter, list_products

    with app.app_context():
        cursor = None
        for _ in range(DEEP_PAGES):
            cursor = list_products(ProductFilter(), after=cursor).next_cursor
    return f"{first_url}?{urlencode({'after': cursor})}", "list_products"


def measure_queries(app: Any, repeat: int, vendor: str) -> dict[str, list[float]]:
    """Stand-in while the page itself fails: time the list query layer the page calls."""
    from commerce.catalog.queries import ProductFilter, list_products
    from commerce.extensions import db

    def timed(flt: ProductFilter, after: str | None = None) -> list[float]:
        samples = []
        for n in range(repeat + 1):
            started = time.perf_counter()
            list_products(flt, after=after)
            db.session.remove()
            if n:  # the first run is the warm-up
                samples.append((time.perf_counter() - started) * 1000)
        return samples

    with app.app_context():
        cursor = None
        for _ in range(DEEP_PAGES):
            cursor = list_products(ProductFilter(), after=cursor).next_cursor
        return {
            "first": timed(ProductFilter()),
            "filtered": timed(ProductFilter(status="active", vendor=vendor, q="shirt")),
            "sorted": timed(ProductFilter(sort="price", direction="asc")),
            "deep": timed(ProductFilter(), after=cursor),
        }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="5,000 products (under a minute)")
    parser.add_argument("--products", type=int, default=None)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    count = args.products or (5_000 if args.quick else 50_000)

    sys.path.insert(0, str(ROOT))
    from flask_migrate import upgrade

    from commerce.demo import DEMO_STAFF, load_demo
    from commerce.demo.data import VENDORS
    from wsgi import create_app

    with tempfile.TemporaryDirectory(prefix="bench-catalog-") as tmp:
        app = create_app(
            {
                "INSTANCE_PATH": tmp,
                "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp}/bench.db",
                "MEDIA_ROOT": f"{tmp}/media",
                "SECRET_KEY": "bench",
                "RATELIMIT_ENABLED": False,
                "WTF_CSRF_ENABLED": False,
            }
        )
        with app.app_context():
            upgrade()
            started = time.perf_counter()
            summary = load_demo(products=count, orders=0, seed=args.seed)
            load_s = time.perf_counter() - started
        print(
            f"demo load: {summary['products']:,} products, {summary['variants']:,} variants "
            f"in {load_s:.1f}s"
        )

        email, password = DEMO_STAFF["merchandiser"][:2]
        vendor = VENDORS["Apparel"][0]
        figures: dict[str, Any] = {"products": summary["products"], "demo_load_s": f"{load_s:.1f}"}
        client = app.test_client()
        response = client.post("/console/login", data={"email": email, "password": password})
        if response.status_code != 303:
            print(f"sign-in failed: HTTP {response.status_code}", file=sys.stderr)
            return 1
        timer = Timer(app, client)
        base = "/console/products"
        pages: dict[str, str] = {
            "first": base,
            "filtered": f"{base}?"
            + urlencode({"status": "active", "vendor": vendor, "q": "shirt"}),
            "sorted": f"{base}?sort=price&dir=asc",
        }
        samples: dict[str, list[float]] = {}
        if timer.get(base)[1] < 500:
            pages["deep"], source = deep_url(app, timer, base)
            if source != "html":
                print("no 'Next' link in the list page; the deep cursor came from list_products")
            for name, url in pages.items():
                samples[name] = timer.measure(url, args.repeat)
            figures["list_via"] = "http"
        else:
            print(f"GET {base} fails ({timer.first_error}); timing list_products instead")
            samples = measure_queries(app, args.repeat, vendor)
            figures["list_via"] = "queries"
        for name, values in samples.items():
            p50, p99 = percentile(values, 0.5), percentile(values, 0.99)
            figures[f"list_{name}_p50_ms"] = f"{p50:.1f}"
            figures[f"list_{name}_p99_ms"] = f"{p99:.1f}"
            print(
                f"{name:>9}: p50 {p50:7.1f} ms  p99 {p99:7.1f} ms  {(pages.get(name) or '')[:80]}"
            )
        if timer.first_error:
            print(f"first server error: {timer.first_error}")
        figures["errors_5xx"] = timer.errors_5xx
        figures["non_200"] = timer.non_200
        print(" ".join(f"{key}={value}" for key, value in figures.items()))
    return 1 if figures["errors_5xx"] else 0


if __name__ == "__main__":
    raise SystemExit(main())

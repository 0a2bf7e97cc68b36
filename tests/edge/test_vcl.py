"""What the shipped VCL stores and what it never stores, against a backend that answers as
told: every request the backend sees is counted, so a hit is a request it did not see."""

from __future__ import annotations

import http.client
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests

from bench._server import EdgeCache, free_port

SHARED = {"Cache-Control": "public, max-age=60", "Surrogate-Control": "max-age=3600"}


class Backend(ThreadingHTTPServer):
    """Answers by path; counts what reached it and remembers the cookies it was sent."""

    daemon_threads = True

    def __init__(self, port: int) -> None:
        super().__init__(("127.0.0.1", port), Handler)
        self.seen: Counter[str] = Counter()
        self.cookies: list[str] = []
        self.failing = False  # answer 503 to everything (the shop's database is down)


class Handler(BaseHTTPRequestHandler):
    server: Backend

    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        path = self.path
        self.server.seen[path] += 1
        self.server.cookies.append(self.headers.get("Cookie", ""))
        headers: dict[str, str] = {"Content-Type": "text/html"}
        status = 200
        if self.server.failing:
            status = 503
        elif path.startswith("/products/shared") or path.startswith("/c/"):
            headers.update(SHARED, xkey="catalog product-1 category-1")
        elif path == "/products/short":
            headers.update(SHARED, xkey="catalog product-2")
            headers["Surrogate-Control"] = "max-age=1"
        elif path == "/products/cookie":
            headers.update(SHARED, xkey="catalog")
            headers["Set-Cookie"] = "session=someone; HttpOnly"
        elif path == "/products/private":
            headers.update(SHARED, xkey="catalog")
            headers["Cache-Control"] = "private, no-store"
        elif path == "/products/unmarked":
            headers["Cache-Control"] = "public, max-age=60"  # no Surrogate-Control
        body = f"{path} #{self.server.seen[path]} cookie={self.headers.get('Cookie', '')}"
        data = body.encode()
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def start_backend() -> Backend:
    server = Backend(free_port())
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def stop_backend(server: Backend) -> None:
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def shared_edge(
    varnish: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[EdgeCache, Backend]]:
    """One Varnish for the module (starting one takes a second or two)."""
    server = start_backend()
    cache = EdgeCache(
        f"http://127.0.0.1:{server.server_port}", workdir=tmp_path_factory.mktemp("edge")
    )
    try:
        with cache:
            yield cache, server
    finally:
        stop_backend(server)


@pytest.fixture
def backend(shared_edge: tuple[EdgeCache, Backend]) -> Backend:
    return shared_edge[1]


@pytest.fixture
def edge(shared_edge: tuple[EdgeCache, Backend]) -> EdgeCache:
    """The module's Varnish, emptied of what earlier tests stored, its backend's counts reset."""
    cache, server = shared_edge
    cache.purge("catalog")
    server.seen.clear()
    server.cookies.clear()
    server.failing = False
    return cache


def get(edge: EdgeCache, path: str, **kw: Any) -> requests.Response:
    return requests.get(edge.url + path, timeout=10, **kw)


def test_shared_pages_are_stored_without_cookies_and_purged_by_key(edge, backend):
    first = get(edge, "/products/shared", cookies={"session": "shopper-1"})
    assert first.headers["X-Cache"] == "MISS"
    assert first.text.endswith("cookie=")  # the shop never saw the shopper's cookie
    again = get(edge, "/products/shared", cookies={"session": "shopper-2"})
    assert again.headers["X-Cache"] == "HIT" and again.text == first.text
    assert backend.seen["/products/shared"] == 1
    for name in ("xkey", "Surrogate-Key", "Cache-Tag", "Surrogate-Control"):
        assert name not in again.headers  # the edge's business, not the browser's
    assert again.headers["Cache-Control"] == "public, max-age=60"

    assert edge.purge("product-9") == 0  # another product's key: nothing dropped
    assert get(edge, "/products/shared").headers["X-Cache"] == "HIT"
    assert edge.purge("product-1") == 1
    fresh = get(edge, "/products/shared")
    assert fresh.headers["X-Cache"] == "MISS" and "#2" in fresh.text


def test_campaign_tags_and_argument_order_share_one_copy(edge, backend):
    get(edge, "/c/pans?sort=title&page=2")
    tagged = get(edge, "/c/pans?utm_source=mail&page=2&sort=title&gclid=x")
    assert tagged.headers["X-Cache"] == "HIT"
    assert sum(backend.seen.values()) == 1


@pytest.mark.parametrize("path", ["/products/cookie", "/products/private", "/products/unmarked"])
def test_never_stored_set_cookie_private_or_unmarked(edge, backend, path):
    for _ in range(3):
        answer = get(edge, path)
        assert answer.headers["X-Cache"] != "HIT"
    assert backend.seen[path] == 3


@pytest.mark.parametrize("path", ["/cart", "/checkout/abc/information", "/account", "/console/"])
def test_per_visitor_pages_pass_with_their_cookies(edge, backend, path):
    for _ in range(2):
        answer = get(edge, path, cookies={"session": "shopper-1"})
        assert answer.headers["X-Cache"] == "PASS"
        assert answer.text.endswith("cookie=session=shopper-1")
    assert backend.seen[path] == 2


def test_posts_pass(edge, backend):
    get(edge, "/products/shared")
    answer = requests.post(edge.url + "/products/shared", data={"a": "1"}, timeout=10)
    assert answer.headers["X-Cache"] == "PASS"
    assert backend.seen["/products/shared"] == 2


def test_only_the_purgers_acl_may_purge(edge):
    get(edge, "/products/shared")
    # 127.0.0.2 is this machine too, but not in the ACL (127.0.0.1 and ::1).
    conn = http.client.HTTPConnection("127.0.0.1", edge.port, source_address=("127.0.0.2", 0))
    conn.request("PURGE", "/", headers={"xkey-purge": "catalog"})
    assert conn.getresponse().status == 403
    conn.close()
    assert get(edge, "/products/shared").headers["X-Cache"] == "HIT"
    answer = requests.request("PURGE", edge.purge_url, timeout=10)
    assert answer.status_code == 400  # no keys: nothing purged


def test_grace_serves_the_stale_copy_while_the_shop_fails_or_is_down(varnish, tmp_path):
    backend = start_backend()
    try:
        with EdgeCache(f"http://127.0.0.1:{backend.server_port}", workdir=tmp_path) as edge:
            stored = get(edge, "/products/short")
            assert stored.headers["X-Cache"] == "MISS"
            backend.failing = True
            time.sleep(1.5)  # past its one-second lifetime
            for _ in range(2):
                stale = get(edge, "/products/short")
                assert stale.status_code == 200 and stale.text == stored.text
                assert stale.headers["X-Cache"] == "HIT-STALE"
            stop_backend(backend)  # now not answering at all
            stale = get(edge, "/products/short")
            assert stale.status_code == 200 and stale.text == stored.text
            assert backend.seen["/products/short"] >= 2  # the refreshes that failed
    finally:
        stop_backend(backend)

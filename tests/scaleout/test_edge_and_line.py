"""The whole serving stack scaled out: Varnish in front of HAProxy in front of two app servers
(sharing PostgreSQL and Redis). A change saved through either server purges the edge, and the
checkout line is one line for the shop: a shopper waiting on one server is let in by the other
when a place frees up there. Consecutive requests of one client alternate between the servers
(HAProxy's X-Served-By header says which answered); counts, never timings.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from itertools import pairwise
from typing import Any

import pytest
import requests

from bench._balancer import ScaledOut, track_servers
from bench._server import EdgeCache, Shopper, build_flash_shop, flush_redis, free_port
from commerce.extensions import db
from tests.conftest import require_service
from tests.scaleout.conftest import csrf_token, make_staff, unique_sku
from tests.scaleout.test_two_servers import product_form, staff_session

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

BOTH = {"app1", "app2"}


def _need(program: str, target: str) -> None:
    if shutil.which(program) or shutil.which(f"/usr/sbin/{program}"):
        return
    if os.environ.get("CI"):
        pytest.fail(f"{program} is required under CI ({target})")
    pytest.skip(f"{program} is not installed ({target})")


@pytest.fixture(scope="module")
def stack(shop_app: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """(cluster, edge): two servers behind HAProxy, Varnish in front; one checkout place."""
    redis_url = require_service("Redis", "TEST_REDIS_URL")
    _need("haproxy", "make haproxy")
    _need("varnishd", "make varnish")
    flush_redis(redis_url)
    root = tmp_path_factory.mktemp("stack")
    port = free_port()  # Varnish's, known before the servers start: they purge it
    cluster = ScaledOut(
        database_url=shop_app.config["SQLALCHEMY_DATABASE_URI"],
        redis_url=redis_url,
        root=root,
        workers=1,
        threads=8,
        env={
            "EDGE_CACHE": "varnish",
            "EDGE_PURGE_URLS": f"http://127.0.0.1:{port}/",
            "CHECKOUT_QUEUE_CAPACITY": "1",
        },
    )
    edge = EdgeCache(cluster.url, workdir=root / "edge", port=port)
    with cluster, edge:
        yield cluster, edge


def served_by(response: requests.Response) -> str:
    return response.headers.get("X-Served-By", "")


def test_a_save_on_either_server_purges_the_edge(stack: Any, shop_app: Any) -> None:
    from commerce.catalog.services import create_product

    cluster, edge = stack
    member = make_staff("merchandiser")
    product = create_product(
        title="Harbor Mug", price=1800, sku=unique_sku("MUG"), status="active", by=None
    )
    db.session.commit()
    product_id, page_url = product.id, f"{edge.url}/products/{product.handle}"
    http, _served = staff_session(cluster.url, member)

    savers: list[str] = []
    for title in ("Harbor Mug Blue", "Harbor Mug Green", "Harbor Mug Grey"):
        shopper = requests.Session()
        first, second = shopper.get(page_url), shopper.get(page_url)
        assert first.status_code == second.status_code == 200
        assert second.headers.get("X-Cache") == "HIT", second.headers
        editor = http.get(f"{cluster.url}/console/products/{product_id}")
        saved = http.post(
            f"{cluster.url}/console/products/{product_id}",
            data=product_form(title, csrf_token(editor.text)),
            allow_redirects=False,
        )
        assert saved.status_code == 303, saved.text[:300]
        savers.append(served_by(saved))
        # The saving server's outbox purged Varnish before the next look.
        fresh = shopper.get(page_url)
        assert fresh.status_code == 200 and title in fresh.text
        assert fresh.headers.get("X-Cache") == "MISS", fresh.headers
    assert set(savers) == BOTH, savers  # purges worked whichever server saved


def test_one_checkout_line_for_both_servers(stack: Any, shop_app: Any) -> None:
    cluster, _edge = stack
    shop = build_flash_shop(units=5, sku=unique_sku("LINE"))
    db.session.commit()

    first, second = Shopper(cluster.url), Shopper(cluster.url)
    asked = track_servers(second.http)
    try:
        first.open()
        first.add_to_cart(shop.variant_id, 1)
        answer, key = first.start_checkout()
        assert key, answer.describe()  # the one place

        second.open()
        second.add_to_cart(shop.variant_id, 1)
        waiting, none = second.start_checkout()
        assert none is None and waiting.in_line, waiting.describe()
        asked.clear()
        for _ in range(4):  # waiting, whichever server is asked
            answer, none = second.ask_in_line(waiting.target)
            assert none is None and answer.in_line, answer.describe()
        assert set(asked) == BOTH and all(a != b for a, b in pairwise(asked)), asked

        assert first.information(key, email="first@scale.example").status == 303
        assert first.shipping(key).status == 303
        placed = first.place(key)
        assert placed.status == 303 and "/orders/" in placed.location, placed.describe()

        let_in = None
        for _ in range(4):  # the freed place goes to the one waiting, on either server
            answer, let_in = second.ask_in_line(waiting.target)
            if let_in:
                break
        assert let_in, answer.describe()
    finally:
        first.close()
        second.close()

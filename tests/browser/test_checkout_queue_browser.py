"""The checkout line in a real browser: the waiting page moves on to checkout by itself when
the shopper's turn comes, with script (htmx asks again) and without (the meta refresh)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import LiveServer, _new_page, snap, unique

pytestmark = pytest.mark.browser


@pytest.fixture
def full_line(live_server: LiveServer) -> Iterator[Any]:
    """A capacity of one, taken by another shopper; the line is emptied afterwards."""
    from bench._server import build_flash_shop
    from commerce.crowd import crowd_state, now_ms

    # A fresh line: shoppers of earlier browser tests (who checked out) are not in it, and
    # the capacity of one never outlives this test, even when its set-up fails.
    live_server.app.extensions.pop("crowd", None)
    try:
        with live_server.app_context():
            shop = build_flash_shop(units=5, sku=unique("QUEUE").replace(" ", "-"))
            state = crowd_state(live_server.app)
            state.set_capacity(1)
            assert state.take_turn("someone-else", [], now_ms=now_ms()).admitted
        yield shop.variant_id, state
    finally:
        live_server.app.extensions.pop("crowd", None)


@pytest.fixture
def no_script_page(browser: Any, live_server: LiveServer, request: pytest.FixtureRequest) -> Any:
    yield from _new_page(browser, live_server, request, java_script_enabled=False)


def add_and_check_out(page: Page, variant_id: int) -> None:
    """Put one unit in the cart (the product page's form needs script, so as its form posts)
    and press "Check out" on the cart page."""
    page.goto("/cart")
    token = page.locator('meta[name="csrf-token"]').get_attribute("content")
    added = page.request.post(
        "/cart/add",
        form={"variant_id": str(variant_id), "quantity": "1", "csrf_token": token or ""},
        max_redirects=0,
    )
    assert added.status == 303
    page.goto("/cart")
    page.get_by_role("button", name="Check out").click()


@pytest.mark.parametrize("script", [True, False], ids=["htmx", "no-script"])
def test_the_waiting_page_takes_the_shopper_to_checkout_at_their_turn(
    anon_page: Page, no_script_page: Page, full_line: Any, script: bool
):
    page = anon_page if script else no_script_page
    variant_id, state = full_line
    add_and_check_out(page, variant_id)
    expect(page.get_by_role("heading", name="You are in line for checkout")).to_be_visible()
    expect(page.locator(".queue-position")).to_contain_text("Your place in line: 1")
    if script:  # the page answering "Check out" takes its own address: a reload posts nothing
        expect(page).to_have_url(re.compile(r"/checkout/queue\?ticket="))
    snap(page, f"queue-waiting-{'htmx' if script else 'noscript'}")

    state.leave("someone-else")  # their order is placed
    expect(page.get_by_role("heading", name="Contact and shipping address")).to_be_visible()
    assert page.url.endswith("/information")


def test_behind_an_edge_the_page_reads_the_board_and_moves_on_when_it_says_so(
    anon_page: Page, full_line: Any, live_server: LiveServer, monkeypatch: pytest.MonkeyPatch
):
    """Third in line behind an edge cache (beyond the two places called near): the page reads
    the shared board (the shop's script) instead of asking for its turn, and asks at once
    when the board says the turn is near; its own ask would come only after the keepalive."""
    from commerce.crowd import now_ms

    variant_id, state = full_line
    monkeypatch.setitem(live_server.app.config, "EDGE_CACHE", "varnish")
    monkeypatch.setitem(live_server.app.config, "EDGE_PURGE_URLS", ["http://127.0.0.1:9/"])
    # Far back, the page's own ask comes after 50-100 s (a sixth to a third of the place
    # timeout), so only the board can move it on within the few seconds below.
    for ahead in ("someone-ahead", "someone-further-ahead"):  # beyond the places called near
        assert state.take_turn(ahead, [variant_id], now_ms=now_ms()).status == "waiting"
    boards: list[str] = []
    anon_page.on("request", lambda r: "/checkout/queue/board" in r.url and boards.append(r.url))

    add_and_check_out(anon_page, variant_id)
    expect(anon_page.locator(".queue-position")).to_contain_text("Your place in line: 3")
    box = anon_page.locator("#checkout-queue")
    assert int(box.get_attribute("data-keepalive-ms") or 0) >= 50_000
    anon_page.wait_for_timeout(2500)
    assert len(boards) >= 1  # the script reads the board every second

    state.leave("someone-else")  # an order placed, and the shopper ahead gave up
    state.leave("someone-ahead")
    state.leave("someone-further-ahead")
    expect(anon_page.get_by_role("heading", name="Contact and shipping address")).to_be_visible(
        timeout=6000  # the board's second, the edge's second, and the ask
    )
    assert anon_page.url.endswith("/information")


def test_behind_an_edge_the_page_says_sold_out_from_the_board(
    anon_page: Page, full_line: Any, live_server: LiveServer, monkeypatch: pytest.MonkeyPatch
):
    """Sold out reaches a whole line at once: the page says so from the board, in the shop's
    words, without waiting for the shop; then it gives its place up in the background."""
    from commerce.crowd import now_ms

    variant_id, state = full_line
    monkeypatch.setitem(live_server.app.config, "EDGE_CACHE", "varnish")
    monkeypatch.setitem(live_server.app.config, "EDGE_PURGE_URLS", ["http://127.0.0.1:9/"])
    for ahead in ("someone-ahead", "someone-further-ahead"):
        assert state.take_turn(ahead, [variant_id], now_ms=now_ms()).status == "waiting"
    add_and_check_out(anon_page, variant_id)
    expect(anon_page.locator(".queue-position")).to_contain_text("Your place in line: 3")
    assert state.stats(now_ms=now_ms()).waiting == 3

    state.mark_sold_out(state.epochs([variant_id]), {variant_id: "Flash Sneaker"}, ttl_ms=60_000)
    with anon_page.expect_request(lambda r: "/checkout/queue?" in r.url, timeout=15_000) as ask:
        expect(anon_page.get_by_role("heading", name="Sold out")).to_be_visible(timeout=6000)
        expect(anon_page.get_by_role("alert")).to_have_text("Sorry, Flash Sneaker is sold out.")
        expect(anon_page.get_by_role("link", name="Change your cart")).to_be_visible()
        assert anon_page.title().startswith("Sold out")
    # The page's ask after showing it (not awaited by the shopper) gives the place up.
    assert ask.value.headers.get("hx-request") == "true"
    ask.value.response()
    assert state.stats(now_ms=now_ms()).waiting == 2

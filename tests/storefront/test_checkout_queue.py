"""The checkout line over HTTP: the waiting page (htmx box and no-script refresh), 429 with
Retry-After for htmx and JSON callers, the turn coming, sold out while waiting, a lapsed place,
and tickets that are not this browser's. Embedded store (process memory), SQLite."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from markupsafe import escape

from commerce.crowd import crowd_state
from commerce.outbox import dispatch_pending
from tests.conftest import count_queries, htmx_headers, waiting_address
from tests.storefront.test_cart_checkout import CARD, add, information

JSON = {"Accept": "application/json"}


@pytest.fixture
def line(checkout_shop: Any) -> Any:
    """A capacity of one shopper in checkout, and one browser already in."""
    crowd_state().set_capacity(1)
    return checkout_shop


def shopper(app: Any, variant_id: int, quantity: int = 1) -> Any:
    browser = app.test_client()
    assert add(browser, variant_id, quantity).status_code == 303
    return browser


def step_key(location: str) -> str:
    return re.search(r"/checkout/([^/]+)/", location).group(1)


def pay(browser: Any, key: str) -> Any:
    assert information(browser, key).status_code == 303
    browser.post(f"/checkout/{key}/shipping", data={"shipping_method": "STD"})
    return browser.post(f"/checkout/{key}/place", data=CARD)


def test_beyond_the_capacity_a_browser_waits_on_a_page_that_asks_again(app, line):
    first, second = shopper(app, line.small), shopper(app, line.small)
    entered = first.post("/checkout")
    assert entered.status_code == 303 and entered.location.endswith("/information")

    # The answer is the waiting page itself (one request for a crowd joining the line, not a
    # redirect and a second); its address is the box's, with the ticket.
    page = second.post("/checkout")
    own = waiting_address(page)
    target = urlsplit(own)
    assert target.path == "/checkout/queue" and parse_qs(target.query)["ticket"]
    html = page.get_data(as_text=True)
    assert page.headers["Cache-Control"] == "private, no-store"
    assert "Your place in line: <strong>1</strong>" in html
    refresh = f'<noscript><meta http-equiv="refresh" content="1;url={escape(own)}"></noscript>'
    assert refresh in html  # without script: the page's own address, not the POST again
    assert second.get(own).status_code == 200  # the page at its own address
    # First in line: the next slot to free up is theirs, so the box asks four times a second.
    assert 'hx-get="/checkout/queue?ticket=' in html and 'hx-trigger="load delay:250ms"' in html
    assert "data-board" not in html  # no edge cache in front: no board to read

    box = second.get(own, headers=htmx_headers())
    assert box.status_code == 429 and box.headers["Retry-After"] == "1"
    assert box.get_data(as_text=True).lstrip().startswith('<section id="checkout-queue"')

    # The first shopper's order is placed: the next ask starts the second's checkout.
    placed = pay(first, step_key(entered.location))
    assert placed.status_code == 303 and "/orders/" in placed.location
    admitted = second.get(own)
    assert admitted.status_code == 303 and admitted.location.endswith("/information")
    assert second.get(admitted.location).status_code == 200  # the normal checkout, with its hold


def test_htmx_and_json_callers_get_429_with_retry_after(app, line):
    shopper(app, line.small).post("/checkout")
    htmx_browser, json_client = shopper(app, line.small), shopper(app, line.small)

    box = htmx_browser.post("/checkout", headers=htmx_headers())
    assert box.status_code == 429 and box.headers["Retry-After"] == "1"
    assert 'data-queue="waiting"' in box.get_data(as_text=True)

    answer = json_client.post("/checkout", headers=JSON)
    # Second in line with one shopper let in at a time: beyond the front, asked every second.
    assert answer.status_code == 429 and answer.headers["Retry-After"] == "1"
    body = answer.get_json()
    assert (body["status"], body["position"], body["retry_after"]) == ("waiting", 2, 1)
    again = json_client.get(body["poll_url"], headers=JSON)
    assert again.status_code == 429 and again.get_json()["position"] == 2


def test_the_turn_comes_to_an_htmx_page_as_a_redirect_header(app, line):
    first, second = shopper(app, line.small), shopper(app, line.small)
    key = step_key(first.post("/checkout").location)
    poll_url = waiting_address(second.post("/checkout"))
    pay(first, key)
    turn = second.get(poll_url, headers=htmx_headers())
    assert turn.status_code == 200 and turn.headers["HX-Redirect"].endswith("/information")


def test_the_waiting_box_reads_no_database(app, line):
    shopper(app, line.small).post("/checkout")
    second = shopper(app, line.small)
    poll_url = waiting_address(second.post("/checkout"))
    with count_queries() as statements:
        assert second.get(poll_url, headers=htmx_headers()).status_code == 429
        assert second.get(poll_url).status_code == 200  # the page too (no navigation)
    assert statements == []


def test_sold_out_while_waiting(app, line):
    from commerce.inventory.services import adjust_stock, default_location

    inside, waiting, newcomer = (shopper(app, line.small) for _ in range(3))
    inside.post("/checkout")  # one of the ten units
    poll_url = waiting_address(waiting.post("/checkout"))
    # The other nine turn out damaged; the stock.changed consumer (run by a worker, or by the
    # request's own dispatch in the embedded mode) finds nothing left.
    adjust_stock(line.small, location_id=default_location().id, delta=-9, reason="damaged", by=None)
    dispatch_pending()
    told = waiting.get(poll_url)
    html = told.get_data(as_text=True)
    assert told.status_code == 409 and "sold out" in html
    assert re.search(r"Field Tee \d+ - S is sold out", html)
    with count_queries() as statements:
        answer = newcomer.post("/checkout", headers=JSON)
    assert answer.status_code == 409 and answer.get_json()["status"] == "sold_out"
    # Sold out is answered without the stock row (the session's cart is all it reads).
    assert not any("stock_level" in s for s in statements)


def test_a_lapsed_place_is_410_with_a_way_back_into_line(app, line, monkeypatch):
    from datetime import timedelta

    import commerce.checkout.queue as queue
    from commerce.db import utcnow

    shopper(app, line.small).post("/checkout")
    second = shopper(app, line.small)
    poll_url = waiting_address(second.post("/checkout"))
    later = utcnow() + timedelta(minutes=5)  # the page stopped asking long ago
    monkeypatch.setattr(queue, "now_ms", lambda now=None, _real=queue.now_ms: _real(later))
    gone = second.get(poll_url)
    assert gone.status_code == 410
    html = gone.get_data(as_text=True)
    assert "Your place in line lapsed" in html and 'action="/checkout"' in html
    assert waiting_address(second.post("/checkout")).startswith("/checkout/queue?ticket=")


def test_a_ticket_is_refused_to_another_browser_and_when_forged(app, line):
    shopper(app, line.small).post("/checkout")
    owner, thief = shopper(app, line.small), shopper(app, line.small)
    poll_url = waiting_address(owner.post("/checkout"))
    stolen = thief.get(poll_url)
    assert stolen.status_code == 403 and "belongs to another browser" in stolen.get_data(
        as_text=True
    )
    assert thief.get("/checkout/queue?ticket=made-up").status_code == 403
    assert thief.get("/checkout/queue", headers=JSON).get_json()["status"] == "refused"
    assert owner.get(poll_url).status_code == 200  # the owner's place is untouched


@pytest.fixture
def behind_an_edge(app: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(app.config, "EDGE_CACHE", "varnish")
    monkeypatch.setitem(app.config, "EDGE_PURGE_URLS", ["http://127.0.0.1:9/"])


def board_of(page_html: str) -> tuple[str, int, int]:
    found = re.search(
        r'data-board="([^"]+)" data-board-ms="(\d+)" data-seq="(\d+)" data-keepalive-ms="(\d+)"',
        page_html,
    )
    assert found, "the waiting page reads no board"
    return found.group(1).replace("&amp;", "&"), int(found.group(3)), int(found.group(4))


def test_behind_an_edge_pages_beyond_the_front_read_the_shared_board(app, line, behind_an_edge):
    first = shopper(app, line.small)
    key = step_key(first.post("/checkout").location)
    front, middle, back = (shopper(app, line.small) for _ in range(3))
    front_url = waiting_address(front.post("/checkout"))
    middle_url = waiting_address(middle.post("/checkout"))
    back_url = waiting_address(back.post("/checkout"))

    # The board calls the first two capacities' worth of places near (here two): their pages
    # ask for themselves, the first often (the edge's copy would tell them too late).
    assert 'hx-trigger="load delay:250ms"' in front.get(front_url).get_data(as_text=True)
    middle_page = middle.get(middle_url).get_data(as_text=True)
    assert 'hx-trigger="load delay:1000ms"' in middle_page and "data-board" not in middle_page
    page = back.get(back_url).get_data(as_text=True)
    board_url, seq, keepalive = board_of(page)
    assert urlsplit(board_url).path == "/checkout/queue/board"
    assert parse_qs(urlsplit(board_url).query)["items"] == [str(line.small)]
    # It still asks by itself every keepalive (between a sixth and a third of the place
    # timeout, five minutes, spread by place), or when the board says so ("line-moved", sent
    # by the shop's script).
    assert 50_000 <= keepalive <= 100_000
    assert f'hx-trigger="load delay:{keepalive}ms, line-moved"' in page

    # The board: the same for every shopper (no cookie read or set), shared for a second.
    with count_queries() as statements:
        answer = app.test_client().get(board_url)
    assert statements == []
    assert answer.status_code == 200 and "Set-Cookie" not in answer.headers
    assert answer.headers["Cache-Control"] == "public, max-age=1"
    assert answer.headers["Surrogate-Control"] == "max-age=1"
    assert "Cookie" not in answer.headers.get("Vary", "")
    board = answer.get_json()
    assert board == {"serving": seq - 3, "near": seq - 1, "sold_out": []}
    assert back.get(board_url).get_json() == board  # a shopper's cookies change nothing

    pay(first, key)  # a slot frees up: the front shopper's
    assert app.test_client().get(board_url).get_json()["serving"] == seq - 2
    assert front.get(front_url).location.endswith("/information")
    # The back shopper is now second in line: near, so their page asks for itself.
    assert app.test_client().get(board_url).get_json() == {
        "serving": seq - 2,
        "near": seq,
        "sold_out": [],
    }


def test_the_board_says_sold_out(app, line, behind_an_edge):
    for _ in range(3):  # one in checkout, two in line (the places called near)
        shopper(app, line.small).post("/checkout")
    back = shopper(app, line.small)
    page = back.post("/checkout").get_data(as_text=True)
    board_url, _, _ = board_of(page)
    # The waiting page carries the shop's sold-out box for its script to show from the board.
    assert "<template data-sold-out-box>" in page and "data-sold-out-text" in page
    with app.app_context():
        state = crowd_state()
        state.mark_sold_out(state.epochs([line.small]), {line.small: "Mug"}, ttl_ms=60_000)
    assert app.test_client().get(board_url).get_json()["sold_out"] == ["Mug"]


@pytest.mark.parametrize("items", ["", "x", "1,,", "1;2", ",".join(["1"] * 101), "-1"])
def test_a_board_for_items_that_are_not_ids_is_400(app, items):
    answer = app.test_client().get("/checkout/queue/board", query_string={"items": items})
    assert answer.status_code == 400 and "items" in answer.get_json()["error"]

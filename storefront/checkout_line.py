"""The checkout line's pages: what a shopper who cannot go into checkout yet is told.

POST /checkout (storefront/checkout.py) lets a shopper in, or answers here: a browser is sent
(303) to GET /checkout/queue?ticket=..., the waiting page with its place in line, which asks
again by itself: htmx reloads its box after `poll_ms`, and without script a meta refresh
reloads the page. When the turn comes the same GET starts the checkout and sends the shopper
to its first step (303; htmx: HX-Redirect). The ticket only continues what the shopper's own
POST (with its CSRF token) began, and is bound to this browser.

Answers: waiting 200 (the page), or 429 with Retry-After to htmx and JSON callers; sold out
409; a place that lapsed 410 (with a button to queue again); a ticket that is not this
browser's 403. The poll reads no database until the shopper is admitted.
"""

from __future__ import annotations

import math
from typing import Any

from flask import (
    current_app,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from werkzeug.wrappers import Response

from commerce.checkout.queue import (
    LOST,
    SOLD_OUT,
    WAITING,
    Entry,
    TicketRefused,
    continue_in_line,
    line_board,
    sold_out_names,
)
from commerce.errors import Conflict, OutOfStock, ValidationError
from storefront import bp
from storefront.account import SESSION_KEY, current_customer
from storefront.cart import _token_from_cookie, cart_page, current_cart
from storefront.web import private, public
from web.forms import named
from web.pages import is_htmx

LAPSED = (
    "Your place in line lapsed (the waiting page was closed or could not reach us for a "
    "while). Your cart is kept: check out again to join the line."
)


def shopper_binding() -> str:
    """What ties a ticket to this browser without a query: the signed-in customer's session
    value, else the guest cart's token from its signed cookie."""
    customer = session.get(SESSION_KEY)
    if isinstance(customer, str) and customer:
        return f"customer:{customer}"
    return f"cart:{_token_from_cookie() or ''}"


def wants_json() -> bool:
    return request.is_json or request.accept_mimetypes.best == "application/json"


def _no_categories() -> list[Any]:
    return []  # the waiting page shows no navigation (and so reads no database)


def _page(status: int, entry: Entry | None = None, **context: Any) -> Response:
    """The waiting box: only the box for htmx, the page around it otherwise."""
    template = "storefront/checkout/_queue.html" if is_htmx() else "storefront/checkout/queue.html"
    context.setdefault("outcome", entry.outcome if entry else LOST)
    body = render_template(
        template,
        entry=entry,
        place=entry.place if entry else None,
        poll_url=_poll_url(entry),
        board_url=_board_url(entry),
        nav_categories=_no_categories,
        private_page=True,
        **context,
    )
    response = make_response(body, status)
    if status == 429 and entry is not None and entry.place is not None:
        response.headers["Retry-After"] = str(_seconds(entry.place.poll_ms))
    return private(response)


def _seconds(ms: int) -> int:
    return max(1, math.ceil(ms / 1000))


def _poll_url(entry: Entry | None) -> str:
    if entry is None or entry.place is None:
        return ""
    return url_for("storefront.checkout_queue", ticket=entry.place.ticket)


def _board_url(entry: Entry | None) -> str:
    place = entry.place if entry is not None else None
    if place is None or not place.watches_board:
        return ""
    items = ",".join(map(str, place.variant_ids))
    return url_for("storefront.checkout_queue_board", items=items)


MAX_BOARD_ITEMS = 100


def _board_items(text: str) -> list[int] | None:
    """The variant ids of ?items=1,2,3 (sorted, each once), or None when it is not that."""
    parts = text.split(",")
    if not text or len(parts) > MAX_BOARD_ITEMS or not all(p.isdigit() for p in parts):
        return None
    return sorted({int(part) for part in parts})


def _json(code: int, entry: Entry | None, **body: Any) -> Response:
    response = jsonify(body)
    response.status_code = code
    if code == 429 and entry is not None and entry.place is not None:
        response.headers["Retry-After"] = str(_seconds(entry.place.poll_ms))
    return private(response)


def line_answer(entry: Entry, *, joined: bool = False) -> Response:
    """The answer for a shopper not let into checkout (yet): waiting, sold out or lapsed.
    A browser gets the waiting page itself (also as the answer to POST /checkout: a crowd
    joining the line costs one request each, not two; the page's script then makes its
    address the page's own). `joined`: the answer to a link that let the shopper join (the
    recovery link), which sends the browser to the waiting page's address instead."""
    if entry.outcome == WAITING:
        place = entry.place
        assert place is not None
        if wants_json():
            return _json(
                429,
                entry,
                status="waiting",
                position=place.position,
                waiting=place.waiting,
                ticket=place.ticket,
                poll_url=_poll_url(entry),
                retry_after=_seconds(place.poll_ms),
            )
        if is_htmx():
            return _page(429, entry)
        if joined:
            return private(redirect(_poll_url(entry), code=303))
        return _page(200, entry)
    if entry.outcome == SOLD_OUT:
        if wants_json():
            return _json(409, entry, status="sold_out", items=list(entry.sold_out))
        return _page(409, entry)
    if wants_json():
        return _json(410, entry, status="lost", message=LAPSED)
    return _page(410, entry, message=LAPSED)


def admitted_answer(entry: Entry) -> Response:
    """In checkout: its first step still to do (or the order, when an earlier placement of
    this cart became one)."""
    from storefront.checkout import checkout_entered  # the checkout pages import this module

    response = checkout_entered(entry.checkout)
    if is_htmx() and response.status_code in (301, 302, 303):
        target = response.headers["Location"]
        response = private(make_response("", 200))
        response.headers["HX-Redirect"] = target
    return response


@bp.route("/checkout/queue")
def checkout_queue() -> Response:
    """The waiting page (and its box, for htmx): asks for the turn with the ticket."""
    try:
        entry = continue_in_line(
            request.args.get("ticket"),
            binding=shopper_binding(),
            load_cart=lambda: (current_cart(), current_customer()),
        )
    except TicketRefused as exc:
        if wants_json():
            return _json(403, None, status="refused", message=exc.message)
        return _page(403, None, outcome="refused", message=exc.message)
    except ValidationError as exc:
        return cart_page(current_cart(), status=422, errors=named(exc.errors), message=exc.message)
    except OutOfStock as exc:
        return cart_page(current_cart(), status=409, message=f"Sold out: {exc.message}")
    except Conflict as exc:
        return cart_page(current_cart(), status=409, message=exc.message)
    if entry.outcome in (WAITING, SOLD_OUT, LOST):
        return line_answer(entry)
    return admitted_answer(entry)


@bp.route("/checkout/queue/board")
def checkout_queue_board() -> Response:
    """The line's board for the items of ?items=: the same answer for every shopper, kept by
    the edge cache for BOARD_MS, so a crowd of waiting pages reading it every second costs the
    shop one answer a second. It names no shopper and sets no cookie."""
    items = _board_items(request.args.get("items", ""))
    if items is None:
        response = jsonify(error="items: give the variant ids, comma-separated.")
        response.status_code = 400
        return private(response)
    board = line_board(items)
    response = jsonify(
        serving=board.serving, near=board.near, sold_out=list(sold_out_names(board.sold_out))
    )
    seconds = max(1, current_app.config["CHECKOUT_QUEUE_BOARD_MS"] // 1000)
    return public(response, max_age=seconds, edge_max_age=seconds)

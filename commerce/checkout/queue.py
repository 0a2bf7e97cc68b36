"""The checkout line (admission control): at most a capacity of shoppers are in checkout at
once; the others wait their turn in a fair line, and everyone hears "sold out" at once.

Why a cap on shoppers in checkout rather than admissions per second: what a crowd exhausts is
the work in flight (request threads, database connections, the hot stock row's lock queue)
and the stock held. A concurrent cap keeps that bounded however fast or slow checkouts are:
when they finish quickly more are let in at once, when the payment provider slows down fewer;
a rate would have to be tuned to a guess of how long a checkout takes, and admits too many when
it guessed short. The capacity is CHECKOUT_QUEUE_CAPACITY (0: no cap), changed live in the
console (set_capacity, audited, stored where every process reads it).

In checkout: from admission until the order is placed (place_order calls checkout_left), the
checkout cannot start (sold out, a cart problem), or the hold's time is up (a slot lasts
RESERVATION_TTL, like the hold, so a shopper who walks away frees it then).

In line: a shopper starting checkout when the cap is reached gets a place (one per cart:
starting again keeps it) and a ticket: the cart, the place's number and the cart's variants,
signed with the app's secret and bound to the browser (its cart cookie, or its signed-in
customer). The waiting page asks again with the ticket; first come, first served. A forged
ticket, or one shown by another browser, is refused (TicketRefused); a ticket whose place is
gone (its page not asking: for CHECKOUT_QUEUE_NEAR_TIMEOUT once near the front, where a
closed page would hold up the line, and for CHECKOUT_QUEUE_PLACE_TIMEOUT anywhere; or an
older ticket of the same cart) gets no place back: the shopper starts again at the back.
Asking costs no SQL: the ticket says which cart and variants, the crowd state decides.

Sold out: the cart's variants' markers (commerce/inventory/sold_out.py) are read in the same
step, so a shopper starting checkout or waiting for a sold-out item is told so at once, and
gives up their place. A shopper already in checkout is never told sold out by a marker (they
may hold the last units).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask import current_app
from itsdangerous import BadSignature, URLSafeTimedSerializer

from commerce import audit
from commerce.checkout.models import Cart, Checkout
from commerce.checkout.services import start_checkout
from commerce.crowd import (
    ADMITTED,
    INSIDE,
    LOST,
    NEAR_ROUNDS,
    SOLD_OUT,
    WAITING,
    Board,
    LineStats,
    Turn,
    checkout_left,
    crowd_state,
    now_ms,
)
from commerce.customers.models import Customer
from commerce.db import service
from commerce.edge.purge import edge_enabled
from commerce.errors import CommerceError, OutOfStock, ValidationError
from commerce.inventory.sold_out import note_shortages
from commerce.pricing import PricedCart, PricingContext

__all__ = [
    "ADMITTED",
    "INSIDE",
    "LOST",
    "SOLD_OUT",
    "WAITING",
    "Board",
    "Entry",
    "Place",
    "TicketRefused",
    "checkout_left",
    "continue_in_line",
    "enter_checkout",
    "line_board",
    "line_stats",
    "set_capacity",
    "sold_out_names",
]

MAX_CAPACITY = 100_000
TICKET_MAX_AGE = 24 * 3600  # seconds: an older ticket is not read at all

# The cart priced for the shopper, asked for only when the shopper is let in.
Pricing = Callable[[], tuple[PricingContext, PricedCart]]


class TicketRefused(CommerceError):
    """A ticket that was not issued to this browser (forged, altered, or shown by another)."""

    status = 403
    code = "ticket_refused"


@dataclass(frozen=True)
class Place:
    """A shopper's place in line, as the waiting page shows it."""

    position: int  # 1: next
    waiting: int  # everyone in line
    inside: int  # shoppers in checkout now
    capacity: int
    ticket: str
    poll_ms: int  # ask again after this long
    seq: int = 0  # the place's number (first come, first served)
    # With an edge cache in front, a page beyond the places the board calls near reads the
    # line's board (the same for everyone, answered by the edge) every BOARD_MS instead, and
    # asks itself only when the board says its turn is near, or every keepalive_ms to keep the
    # place; a board naming its items sold out, it says so itself (README "The checkout queue").
    watches_board: bool = False
    keepalive_ms: int = 0
    variant_ids: tuple[int, ...] = ()  # the cart's items, which the board is read for


@dataclass(frozen=True)
class Entry:
    """Where starting (or waiting for) checkout got the shopper."""

    outcome: str  # ADMITTED (checkout set), WAITING (place set), SOLD_OUT, LOST
    checkout: Checkout | None = None
    place: Place | None = None
    sold_out: tuple[str, ...] = ()  # the names of the sold-out items

    @property
    def admitted(self) -> bool:
        return self.outcome == ADMITTED


@dataclass(frozen=True)
class Ticket:
    cart_id: int
    seq: int
    variant_ids: list[int] = field(default_factory=list)


# -- tickets ------------------------------------------------------------------------------------


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="checkout-line")


def _bound_to(binding: str) -> str:
    """A digest of what identifies the browser (its cart token or signed-in customer); the
    secret itself stays out of the ticket, which is signed, not encrypted."""
    return hashlib.sha256(binding.encode()).hexdigest()[:32]


def issue_ticket(cart_id: int, seq: int, *, binding: str, variant_ids: list[int]) -> str:
    return _serializer().dumps(
        {"c": cart_id, "n": seq, "b": _bound_to(binding), "v": sorted(set(variant_ids))}
    )


def read_ticket(text: str | None, *, binding: str) -> Ticket:
    """The ticket's contents, if it was issued by this shop to this browser."""
    try:
        data = _serializer().loads(text or "", max_age=TICKET_MAX_AGE)
        ticket = Ticket(int(data["c"]), int(data["n"]), [int(v) for v in data["v"]])
        issued_to = str(data["b"])
    except (BadSignature, KeyError, TypeError, ValueError):
        raise TicketRefused(
            "This place in line could not be read. Check out again from your cart to join the line."
        ) from None
    if issued_to != _bound_to(binding):
        raise TicketRefused(
            "This place in line belongs to another browser. Check out from your own cart to "
            "join the line."
        )
    return ticket


# -- the line -----------------------------------------------------------------------------------


def poll_interval_ms(position: int, capacity: int) -> int:
    """How long a waiting page waits before asking again: often near the front, seldom far
    back (a thousand pages asking every second would be a crowd of their own).

    The shoppers whose turn comes with the next slots to free up (the first `capacity` places)
    ask every POLL_FRONT_MS: a slot stays empty until the next shopper asks, so at the front
    the asking interval is what limits how fast the line moves, not the server. Farther back
    it grows by POLL_MS for each capacity's worth of places ahead, up to POLL_MAX_MS."""
    config = current_app.config
    base = max(int(config["CHECKOUT_QUEUE_POLL_MS"]), 100)
    front = min(max(int(config["CHECKOUT_QUEUE_POLL_FRONT_MS"]), 100), base)
    most = max(int(config["CHECKOUT_QUEUE_POLL_MAX_MS"]), base)
    if capacity <= 0:
        return base
    if position <= capacity:
        return front
    return min(most, base * math.ceil((position - capacity) / capacity))


def watches_board(position: int, capacity: int) -> bool:
    """Whether a waiting page reads the shared board rather than asking for its turn: only
    behind an edge cache (which answers the board for everyone), and only beyond the places
    the board calls near, whose pages ask themselves (poll_interval_ms)."""
    return edge_enabled() and capacity > 0 and position > NEAR_ROUNDS * capacity


def keepalive_ms(poll_ms: int, seq: int) -> int:
    """How often a page that reads the board still asks for its turn: often enough that its
    place is never given up as silent (CHECKOUT_QUEUE_PLACE_TIMEOUT): every sixth to third
    of it, spread by place number, so a crowd that joined in the same second does not come
    back in the same second."""
    spread = (seq * 0.6180339887) % 1.0  # successive places fall far apart
    third = crowd_state().rules.place_timeout_ms // 3
    return max(poll_ms, int(third * (0.5 + 0.5 * spread)))


def line_board(variant_ids: list[int], *, now: datetime | None = None) -> Board:
    """The line as every waiting page may read it (commerce.crowd.Board); no SQL, no shopper."""
    return crowd_state().board(variant_ids, now_ms=now_ms(now))


def _cart_variants(cart: Cart) -> list[int]:
    return sorted({variant_id for variant_id, _ in cart.line_pairs()})


def sold_out_names(sold_out: dict[int, str]) -> tuple[str, ...]:
    """The names a shopper is told are sold out (a marker without a label: the item's id)."""
    return tuple(label or f"item {v}" for v, label in sorted(sold_out.items()))


def _waiting(turn: Turn, cart_id: int, binding: str, variant_ids: list[int]) -> Entry:
    ticket = issue_ticket(cart_id, turn.seq, binding=binding, variant_ids=variant_ids)
    poll_ms = poll_interval_ms(turn.position, turn.capacity)
    place = Place(
        position=turn.position,
        waiting=turn.waiting,
        inside=turn.inside,
        capacity=turn.capacity,
        ticket=ticket,
        poll_ms=poll_ms,
        seq=turn.seq,
        watches_board=watches_board(turn.position, turn.capacity),
        keepalive_ms=keepalive_ms(poll_ms, turn.seq),
        variant_ids=tuple(variant_ids),
    )
    return Entry(WAITING, place=place)


def _start(
    cart: Cart, customer: Customer | None, turn: Turn, pricing: Pricing | None = None
) -> Entry:
    """Admitted: the normal checkout with its hold. A start that fails gives the slot back;
    one that fails for lack of stock marks what is gone sold out (if no restock was noted
    since the turn read the counters)."""
    try:
        checkout = start_checkout(
            cart, customer=customer, priced=pricing() if pricing is not None else None
        )
    except OutOfStock as exc:
        checkout_left(cart.id)
        note_shortages(exc.details.get("shortages") or [], epochs=turn.epochs)
        raise
    except BaseException:
        checkout_left(cart.id)
        raise
    # (A start that found an earlier placement of this cart turned into its order returns that
    # checkout, completed; its slot then ends with the hold's time, like an abandoned one.)
    return Entry(ADMITTED, checkout=checkout)


def enter_checkout(
    cart: Cart,
    *,
    customer: Customer | None = None,
    binding: str,
    now: datetime | None = None,
    pricing: Pricing | None = None,
) -> Entry:
    """A shopper starts checkout: in at once (the normal start_checkout, whose errors it
    raises), a place in line, or sold out. Adds no SQL before start_checkout; `pricing` gives
    the cart priced for this shopper, called only when let in."""
    variant_ids = _cart_variants(cart)
    turn = crowd_state().take_turn(str(cart.id), variant_ids, now_ms=now_ms(now))
    if turn.status == SOLD_OUT:
        return Entry(SOLD_OUT, sold_out=sold_out_names(turn.sold_out))
    if turn.status == WAITING:
        return _waiting(turn, cart.id, binding, variant_ids)
    return _start(cart, customer, turn, pricing)


def continue_in_line(
    ticket: str | None,
    *,
    binding: str,
    load_cart: Callable[[], tuple[Cart | None, Customer | None]],
    now: datetime | None = None,
) -> Entry:
    """The waiting page asks again: still waiting (a fresh ticket for the same place), sold
    out, lost, or admitted (then `load_cart` gives the browser's cart and customer, and the
    checkout starts). Raises TicketRefused for a ticket that is not this browser's. Only an
    admission reads the database."""
    held = read_ticket(ticket, binding=binding)
    turn = crowd_state().take_turn(
        str(held.cart_id), held.variant_ids, now_ms=now_ms(now), polling=True, ticket_seq=held.seq
    )
    if turn.status == SOLD_OUT:
        return Entry(SOLD_OUT, sold_out=sold_out_names(turn.sold_out))
    if turn.status == LOST:
        return Entry(LOST)
    if turn.status == WAITING:
        return _waiting(turn, held.cart_id, binding, held.variant_ids)
    cart, customer = load_cart()
    if cart is None or cart.id != held.cart_id or not cart.lines:
        checkout_left(held.cart_id)  # the browser's cart changed meanwhile (a sign-in merge)
        return Entry(LOST)
    return _start(cart, customer, turn)


# -- merchants ----------------------------------------------------------------------------------


def line_stats(*, now: datetime | None = None) -> LineStats:
    """Shoppers in checkout, in line, and admitted in the last minute (the dashboard)."""
    return crowd_state().stats(now_ms=now_ms(now))


def current_capacity() -> int:
    return crowd_state().capacity()


@service
def set_capacity(value: Any, *, by: Any) -> int:
    """Change how many shoppers may be in checkout at once (0: no cap), for every process at
    once and without a restart. Lowering it lets nobody new in until enough have finished;
    raising it lets the line move at the next ask."""
    text = str(value if value is not None else "").strip()
    if not text.isdigit() or int(text) > MAX_CAPACITY:
        raise ValidationError(
            f"Enter a whole number from 0 (no cap) to {MAX_CAPACITY:,}.", field="capacity"
        )
    capacity = int(text)
    state = crowd_state()
    before = state.capacity()
    audit.record(
        by,
        "checkout_queue.capacity",
        subject_type="setting",
        subject_id="checkout_queue.capacity",
        subject_label="Checkout queue capacity",
        before={"capacity": before},
        after={"capacity": capacity},
    )
    state.set_capacity(capacity)  # last: unreachable store, no audit entry either
    return capacity

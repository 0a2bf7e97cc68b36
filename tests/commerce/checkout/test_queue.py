"""The checkout line as a service (commerce/checkout/queue.py) on the embedded store (process
memory): who gets in, who waits, tickets, and sold-out markers that restocks always clear.

The same rules on Redis are proven in test_line_store.py (both stores), and over real HTTP
against gunicorn on PostgreSQL + Redis in tests/concurrency/test_checkout_queue_race.py.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from commerce.audit import AuditEntry
from commerce.catalog.models import CONTINUE, Variant
from commerce.checkout.cart import add_to_cart
from commerce.checkout.queue import (
    ADMITTED,
    LOST,
    SOLD_OUT,
    WAITING,
    TicketRefused,
    continue_in_line,
    enter_checkout,
    line_stats,
    set_capacity,
)
from commerce.checkout.services import choose_shipping_method, place_order, save_information
from commerce.crowd import crowd_state
from commerce.db import utcnow
from commerce.errors import OutOfStock, ValidationError
from commerce.extensions import db
from commerce.inventory.services import (
    adjust_stock,
    default_location,
    receive_stock,
    release_expired_reservations,
)
from commerce.inventory.sold_out import note_shortages, refresh_sold_out
from commerce.outbox import dispatch_pending
from tests.conftest import TEST_CARD, US_ADDRESS, build_checkout_shop, count_queries


@pytest.fixture
def shop(app: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setitem(app.config, "PRICES_INCLUDE_TAX", False)
    return build_checkout_shop(stock=1)


def cart_of(variant_id: int, quantity: int = 1) -> Any:
    return add_to_cart(None, variant_id=variant_id, quantity=quantity)


def loaded(cart: Any) -> Any:
    """The cart as a request has it: loaded with its lines (a commit expired the test's)."""
    assert cart.token and cart.line_pairs()
    return cart


def enter(cart: Any, **kw: Any) -> Any:
    return enter_checkout(cart, binding=f"cart:{cart.token}", **kw)


def ask(cart: Any, ticket: str, **kw: Any) -> Any:
    return continue_in_line(
        ticket, binding=f"cart:{cart.token}", load_cart=lambda: (cart, None), **kw
    )


def pay(checkout: Any) -> Any:
    save_information(checkout, email="ada@example.com", address=US_ADDRESS)
    choose_shipping_method(checkout, code="STD")
    return place_order(checkout.key, card=TEST_CARD).order


def test_beyond_the_capacity_shoppers_wait_in_order_and_placing_lets_the_next_in(shop):
    crowd_state().set_capacity(1)
    receive_stock(shop.medium, quantity=9, by=None)
    first, second, third = (cart_of(shop.medium) for _ in range(3))
    inside = enter(first)
    assert inside.outcome == ADMITTED and inside.checkout.reserved_until is not None
    loaded(second)
    with count_queries() as statements:
        waiting = enter(second)
    assert statements == []  # the line is answered without the database
    assert (waiting.outcome, waiting.place.position, waiting.place.inside) == (WAITING, 1, 1)
    assert enter(third).place.position == 2
    assert enter(second).place.position == 1  # starting again keeps the place

    with count_queries() as statements:
        still = ask(second, waiting.place.ticket)
    assert statements == [] and still.outcome == WAITING

    assert pay(inside.checkout) is not None  # placing the order frees the slot
    admitted = ask(second, still.place.ticket)
    assert admitted.outcome == ADMITTED
    assert admitted.checkout.cart_id == second.id and admitted.checkout.reserved_until
    assert ask(third, enter(third).place.ticket).place.position == 1
    stats = line_stats()
    assert (stats.capacity, stats.inside, stats.waiting, stats.store) == (1, 1, 1, "memory")


def test_letting_a_shopper_in_adds_no_sql_to_starting_checkout(shop):
    from commerce.checkout.services import start_checkout

    receive_stock(shop.medium, quantity=9, by=None)
    plain, queued = cart_of(shop.medium), cart_of(shop.medium)
    loaded(plain)
    with count_queries() as without_line:
        start_checkout(plain)
    loaded(queued)
    with count_queries() as with_line:
        assert enter(queued).outcome == ADMITTED
    assert len(with_line) == len(without_line)


def test_forged_altered_and_borrowed_tickets_are_refused(shop, app):
    crowd_state().set_capacity(1)
    mine, other = cart_of(shop.medium), cart_of(shop.medium)
    enter(cart_of(shop.medium))
    ticket = enter(mine).place.ticket
    payload, _, signature = ticket.rpartition(".")
    with pytest.raises(TicketRefused):
        ask(mine, payload + "." + signature[::-1])  # altered
    with pytest.raises(TicketRefused):
        ask(mine, "")
    with pytest.raises(TicketRefused, match="another browser"):
        ask(other, ticket)  # shown by another browser (its own cart cookie)
    from itsdangerous import URLSafeTimedSerializer

    forged = URLSafeTimedSerializer("not-the-secret", salt="checkout-line").dumps(
        {"c": mine.id, "n": 1, "b": "x", "v": []}
    )
    with pytest.raises(TicketRefused):
        ask(mine, forged)
    assert ask(mine, ticket).outcome == WAITING  # the real one still works


def test_a_lapsed_place_is_not_given_back_by_its_old_ticket(shop):
    crowd_state().set_capacity(1)
    walked_away, stayed = cart_of(shop.medium), cart_of(shop.medium)
    enter(cart_of(shop.medium))
    old = enter(walked_away).place.ticket
    now = utcnow()
    stays = enter(stayed, now=now + timedelta(seconds=10))  # both near the front from here
    assert ask(stayed, stays.place.ticket, now=now + timedelta(seconds=20)).place.position == 2
    later = now + timedelta(seconds=26)  # walked_away's page, near, has not asked for 16 s
    assert ask(stayed, stays.place.ticket, now=later).place.position == 1
    assert ask(walked_away, old, now=later).outcome == LOST
    again = enter(walked_away, now=later)
    assert again.place.position == 2  # back of the line
    assert ask(walked_away, old, now=later).outcome == LOST  # the old ticket: still nothing
    assert ask(walked_away, again.place.ticket, now=later).place.position == 2


def test_sold_out_while_waiting_and_for_newcomers_without_the_stock_row(shop):
    crowd_state().set_capacity(1)
    holder, waiting_cart, newcomer = (cart_of(shop.small) for _ in range(3))
    inside = enter(holder)  # holds the only unit
    waiting = enter(waiting_cart)
    assert waiting.outcome == WAITING
    dispatch_pending()  # the stock.changed consumer: availability reached zero
    told = ask(waiting_cart, waiting.place.ticket)
    assert told.outcome == SOLD_OUT and told.sold_out == (f"{shop.product.title} - S",)
    loaded(newcomer)
    with count_queries() as statements:
        assert enter(newcomer).outcome == SOLD_OUT
    assert statements == []
    assert line_stats().waiting == 0  # told sold out: no place kept
    # The shopper holding the unit is not told sold out: their checkout goes on.
    assert enter(holder).checkout.id == inside.checkout.id


def test_a_failed_reservation_marks_sold_out_and_a_receipt_clears_it(shop):
    crowd_state().set_capacity(0)  # no line: everyone tries
    first, second, later = (cart_of(shop.small) for _ in range(3))
    enter(first)  # the only unit
    with pytest.raises(OutOfStock):
        enter(second)
    assert enter(later).outcome == SOLD_OUT
    assert line_stats().inside == 1  # the failed start gave its slot back
    receive_stock(shop.small, quantity=1, by=None)
    assert enter(later).outcome == ADMITTED


@pytest.mark.parametrize("comeback", ["expired hold", "cancelled order", "found units"])
def test_every_way_stock_comes_back_clears_the_marker(shop, comeback):
    crowd_state().set_capacity(0)
    carts = [cart_of(shop.small) for _ in range(3)]
    first = enter(carts[0])
    order = pay(first.checkout) if comeback == "cancelled order" else None
    with pytest.raises(OutOfStock):
        enter(carts[1])
    later = carts[2]
    assert enter(later).outcome == SOLD_OUT
    if comeback == "expired hold":
        released = release_expired_reservations(now=utcnow() + timedelta(hours=1))
        assert released == 1
    elif comeback == "cancelled order":
        from commerce.orders.cancellation import cancel_order

        cancel_order(order, reason="customer asked", by=None)
    else:
        adjust_stock(
            shop.small, location_id=default_location().id, delta=1, reason="found", by=None
        )
    assert enter(later).outcome == ADMITTED


def test_a_restock_during_the_attempt_wins_over_the_sold_out_it_found(shop):
    crowd_state().set_capacity(0)
    first, later = cart_of(shop.small), cart_of(shop.small)
    enter(first)
    epochs = crowd_state().epochs([shop.small])  # read before the attempt
    receive_stock(shop.small, quantity=5, by=None)  # commits while the attempt runs
    marked = note_shortages([{"variant_id": shop.small, "available": 0}], epochs=epochs)
    assert marked == []
    assert enter(later).outcome == ADMITTED


def test_a_shortage_with_units_left_is_no_sold_out(shop):
    epochs = crowd_state().epochs([shop.small])
    assert note_shortages([{"variant_id": shop.small, "available": 1}], epochs=epochs) == []


def test_variants_sold_beyond_stock_are_never_sold_out(shop):
    from commerce.catalog.services import update_variant

    crowd_state().set_capacity(0)
    holder, later = cart_of(shop.small), cart_of(shop.small)
    enter(holder)  # the only unit
    assert refresh_sold_out([shop.small]) == [shop.small]  # deny: sold out
    assert enter(later).outcome == SOLD_OUT
    # The merchant sells it beyond stock now: the product's change clears the marker, and it
    # is never set again.
    update_variant(db.session.get(Variant, shop.small), by=None, inventory_policy=CONTINUE)
    dispatch_pending()
    assert refresh_sold_out([shop.small]) == []
    entry = enter(later)
    assert entry.outcome == ADMITTED  # a backorder checkout


def test_capacity_changes_are_validated_and_audited(shop, make_staff):
    admin = make_staff("admin")
    with pytest.raises(ValidationError) as refused:
        set_capacity("many", by=admin)
    assert refused.value.field == "capacity"
    with pytest.raises(ValidationError):
        set_capacity("-1", by=admin)
    assert set_capacity(" 7 ", by=admin) == 7
    assert crowd_state().capacity() == 7
    entry = db.session.scalar(
        select(AuditEntry).where(AuditEntry.action == "checkout_queue.capacity")
    )
    assert entry.before == {"capacity": 100} and entry.after == {"capacity": 7}
    assert entry.actor_id == admin.id

"""The checkout line's rules, the same for both stores: Redis (shared by every process, one Lua
script per decision) and process memory (the embedded mode and the outage fallback).

Times are passed in (milliseconds), so timeouts are tested by moving the clock, not by
sleeping; concurrency by threads that each hold their own Redis connection, as processes do.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from commerce.crowd import ADMITTED, INSIDE, LOST, SOLD_OUT, WAITING, Rules
from commerce.crowd.memory import MemoryLineStore
from tests.conftest import require_service

RULES = Rules(default_capacity=2, place_timeout_ms=30_000, slot_ms=600_000)
T0 = 1_700_000_000_000


class Redis:
    """Makes a RedisLineStore per caller (its own connection pool: a process of its own), all
    on one key prefix of the test's own."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.prefix = f"test-line-{uuid.uuid4().hex[:8]}:"
        self.made: list[Any] = []

    def __call__(self) -> Any:
        from commerce.crowd.redis_store import RedisLineStore

        store = RedisLineStore.from_url(self.url, prefix=self.prefix, timeout=5)
        self.made.append(store)
        return store

    def close(self) -> None:
        client = self.made[0].client if self.made else None
        if client is not None:
            keys = list(client.scan_iter(f"{self.prefix}*"))
            if keys:
                client.delete(*keys)
        for store in self.made:
            store.client.close()


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def new_store(request: pytest.FixtureRequest) -> Iterator[Any]:
    """new_store() -> a store; every call shares the same line (another process's view)."""
    if request.param == "memory":
        shared = MemoryLineStore()
        yield lambda: shared
        return
    maker = Redis(require_service("Redis", "TEST_REDIS_URL"))
    yield maker
    maker.close()


@pytest.fixture
def store(new_store: Any) -> Any:
    return new_store()


def join(store: Any, member: str, now: int = T0, variants: list[int] | None = None) -> Any:
    return store.take_turn(
        member, variants or [], now_ms=now, rules=RULES, polling=False, ticket_seq=0
    )


def ask(store: Any, member: str, seq: int, now: int = T0, variants: list[int] | None = None):
    return store.take_turn(
        member, variants or [], now_ms=now, rules=RULES, polling=True, ticket_seq=seq
    )


def test_first_come_first_served(store):
    assert join(store, "a").status == ADMITTED
    assert join(store, "b").status == ADMITTED
    c, d, e = (join(store, m, T0 + i) for i, m in enumerate("cde", start=1))
    assert [t.status for t in (c, d, e)] == [WAITING] * 3
    assert [t.position for t in (c, d, e)] == [1, 2, 3]
    assert c.seq < d.seq < e.seq
    assert (e.inside, e.waiting, e.capacity) == (2, 3, 2)

    store.leave("a")  # a's order is placed: one slot is free, and it is c's
    assert ask(store, "e", e.seq).position == 3  # asking first does not move e ahead
    assert ask(store, "d", d.seq).position == 2
    assert ask(store, "c", c.seq).status == ADMITTED
    assert ask(store, "d", d.seq).position == 1
    assert ask(store, "c", c.seq).status == INSIDE  # a second tab of c's: already in


def test_a_newcomer_queues_behind_the_line_even_when_a_slot_is_free(store):
    join(store, "a"), join(store, "b")
    waiting = join(store, "c")
    store.leave("a")  # free, but c was first
    late = join(store, "z")
    assert (late.status, late.position) == (WAITING, 2)
    assert ask(store, "c", waiting.seq).status == ADMITTED


def test_one_place_per_cart(store):
    join(store, "a"), join(store, "b")
    first = join(store, "c")
    again = join(store, "c", T0 + 5)  # a double click, or "Check out" again from the cart
    assert (again.seq, again.position, again.waiting) == (first.seq, 1, 1)


def test_a_place_not_asked_about_is_given_up_and_its_ticket_gets_no_new_one(store):
    join(store, "a"), join(store, "b")
    walked_away = join(store, "c")
    stays = join(store, "d", T0 + 20_000)  # d's page keeps asking; c's was closed
    later = T0 + RULES.place_timeout_ms + 1
    assert ask(store, "d", stays.seq, later).position == 1  # the line moved past c
    assert ask(store, "c", walked_away.seq, later).status == LOST  # no place back
    rejoined = join(store, "c", later)
    assert (rejoined.position, rejoined.seq > stays.seq) == (2, True)  # at the back
    assert ask(store, "c", walked_away.seq, later).status == LOST  # the old ticket: nothing
    assert ask(store, "c", rejoined.seq, later).position == 2


def test_a_closed_page_near_the_front_is_given_up_after_the_near_timeout(store):
    join(store, "a"), join(store, "b")  # the capacity of two is taken
    c, d, _, _, g = (join(store, m) for m in "cdefg")  # c to f near (two capacities' worth)
    quiet = T0 + RULES.near_timeout_ms - 1_000
    assert ask(store, "c", c.seq, quiet).position == 1  # c's page asks; d's was closed
    later = T0 + RULES.near_timeout_ms + 1
    # d, e and f are given up (near and silent); g, beyond the near places when they went
    # quiet, only starts its near timeout now (far back a page asks only every few minutes).
    assert ask(store, "c", c.seq, later).position == 1
    assert ask(store, "d", d.seq, later).status == LOST
    assert store.stats(now_ms=later, rules=RULES)[2] == 2  # c and g
    assert ask(store, "g", g.seq, later + 5_000).position == 2  # g's page asked in time
    store.leave("a")
    assert ask(store, "c", c.seq, later + 5_000).status == ADMITTED


def test_a_far_place_s_near_timeout_starts_when_it_comes_near(store):
    join(store, "a"), join(store, "b")
    near = [join(store, m) for m in "cdef"]
    far = join(store, "g")  # fifth in line: beyond the near places, and silent
    came_near = T0 + 10_000  # silent that long (within the place timeout), then called near
    for member, place in zip("cdef", near, strict=True):
        assert ask(store, member, place.seq, came_near - 5_000).status == WAITING
    store.leave("c")  # c walked away; the line moves: g is near now
    assert board(store, came_near)[1] == far.seq
    # g's page learns it from the board and asks within the near timeout (counted from now,
    # not from its last ask): its place is kept.
    assert ask(store, "g", far.seq, came_near + RULES.near_timeout_ms - 1).status == WAITING


def test_a_slot_ends_with_the_hold(store):
    join(store, "a"), join(store, "b")
    waiting = join(store, "c")
    after_hold = T0 + RULES.slot_ms + 1
    for now in range(T0 + 10_000, T0 + RULES.slot_ms, 10_000):  # c's page keeps asking meanwhile
        assert ask(store, "c", waiting.seq, now).status == WAITING
    # a and b walked away from checkout: their holds (and slots) ran out.
    assert ask(store, "c", waiting.seq, after_hold).status == ADMITTED
    assert join(store, "d", after_hold).status == ADMITTED
    assert join(store, "e", after_hold).status == WAITING


def test_capacity_changed_live(new_store):
    console, shop = new_store(), new_store()
    join(shop, "a"), join(shop, "b")
    places = [join(shop, m) for m in "cde"]
    console.set_capacity(4)  # another process changes it: the next asks use it
    assert [ask(shop, m, t.seq).status for m, t in zip("cde", places, strict=True)] == [
        ADMITTED,
        ADMITTED,
        WAITING,
    ]
    console.set_capacity(1)  # lowered below those inside: nobody new until enough leave
    for member in "abcd":
        assert ask(shop, "e", places[2].seq).status == WAITING
        shop.leave(member)
    assert ask(shop, "e", places[2].seq).status == ADMITTED
    assert shop.stats(now_ms=T0, rules=RULES)[:2] == (1, 1)


def test_capacity_zero_lets_everyone_in_and_still_counts(store):
    store.set_capacity(0)
    assert [join(store, m).status for m in "abcdef"] == [ADMITTED] * 6
    assert store.stats(now_ms=T0, rules=RULES) == (0, 6, 0, 6)


def test_stats_for_the_dashboard(store):
    for member in "abcd":
        join(store, member)
    capacity, inside, waiting, admitted = store.stats(now_ms=T0 + 1000, rules=RULES)
    assert (capacity, inside, waiting, admitted) == (2, 2, 2, 2)
    # admitted "per minute" forgets admissions older than a minute
    assert store.stats(now_ms=T0 + 61_000, rules=RULES)[3] == 0


def board(store: Any, now: int = T0, variants: list[int] | None = None) -> tuple[int, int, bool]:
    seen = store.board(variants or [], now_ms=now, rules=RULES)
    return seen.serving, seen.near, bool(seen.sold_out)


def test_the_board_says_who_is_let_in_and_who_is_near_the_front(store):
    assert board(store) == (0, 0, False)  # nobody yet
    join(store, "a"), join(store, "b")  # the capacity of two is taken
    c, _, e, f, g, h = (join(store, m) for m in "cdefgh")
    # Nobody in line is let in yet; the first two capacities' worth (four) are near.
    assert board(store) == (c.seq - 1, f.seq, False)
    store.leave("a")  # one slot free: c's
    assert board(store) == (c.seq, f.seq, False)
    assert ask(store, "c", c.seq).status == ADMITTED  # what the board said
    assert board(store) == (c.seq, g.seq, False)  # the slot taken again; d to g near
    store.leave("b"), store.leave("c")
    assert board(store) == (e.seq, g.seq, False)  # two free: d's and e's
    assert ask(store, "h", h.seq, T0 + 10_000).status == WAITING  # d to g come first
    later = T0 + RULES.near_timeout_ms + 1  # d to g, near, stopped asking: h is let in
    assert ask(store, "h", h.seq, later).status == ADMITTED
    assert board(store, later) == (h.seq, h.seq, False)  # an empty line: everyone given out


def test_the_board_says_sold_out_for_its_items_only(store):
    join(store, "a"), join(store, "b")
    waiting = join(store, "c", variants=[7, 8])
    store.mark_sold_out({7: waiting.epochs[7]}, {7: "Sneaker - 42"}, ttl_ms=60_000)
    assert board(store, variants=[7, 8])[2] is True
    named = store.board([7, 8], now_ms=T0, rules=RULES).sold_out
    assert named == {7: "Sneaker - 42"}  # what the waiting page tells the shopper
    assert board(store, variants=[8])[2] is False
    store.clear_sold_out([7])
    assert board(store, variants=[7, 8])[2] is False


def test_the_board_without_a_cap_lets_everyone_in(store):
    store.set_capacity(0)
    joined = [join(store, m) for m in "abc"]
    assert all(t.status == ADMITTED for t in joined)
    assert board(store) == (0, 0, False)  # no place numbers given out: none needed


def test_sold_out_markers_answer_at_once_and_a_restock_wins(store):
    join(store, "a"), join(store, "b")
    waiting = join(store, "c", variants=[7, 8])
    seen = waiting.epochs
    assert seen == {7: 0, 8: 0}
    assert store.mark_sold_out({7: seen[7]}, {7: "Sneaker - 42"}, ttl_ms=60_000) == [7]

    told = ask(store, "c", waiting.seq, variants=[7, 8])
    assert (told.status, told.sold_out) == (SOLD_OUT, {7: "Sneaker - 42"})
    assert join(store, "z", variants=[7]).status == SOLD_OUT  # a newcomer too, no place
    assert store.stats(now_ms=T0, rules=RULES)[2] == 0  # c gave up its place

    store.clear_sold_out([7])  # stock came back
    assert join(store, "c", variants=[7, 8]).status == WAITING
    # A marker decided from a reading taken before the restock loses.
    assert store.mark_sold_out({7: seen[7]}, {7: "x"}, ttl_ms=60_000) == []
    assert join(store, "y", variants=[7]).status == WAITING
    fresh = store.epochs([7])
    assert fresh == {7: 1}
    assert store.mark_sold_out(fresh, {7: "x"}, ttl_ms=60_000) == [7]


def test_a_shopper_in_checkout_is_never_told_sold_out_by_a_marker(store):
    inside = join(store, "a", variants=[7])  # holds the last unit
    store.mark_sold_out(inside.epochs, {7: ""}, ttl_ms=60_000)
    assert join(store, "a", variants=[7]).status == INSIDE
    assert join(store, "b", variants=[7]).status == SOLD_OUT


def test_markers_end_by_themselves(store):
    store.mark_sold_out({7: 0}, {7: ""}, ttl_ms=1)
    import time

    time.sleep(0.01)  # a marker's time to live is the store's own clock
    assert join(store, "a", variants=[7]).status == ADMITTED


def test_concurrent_joins_never_admit_past_the_capacity_and_get_distinct_places(new_store):
    """40 shoppers at once, each through its own connection: exactly the capacity gets in,
    the rest get places 1..n in the order of their numbers."""
    n = 40
    barrier = threading.Barrier(n)
    turns: list[Any] = [None] * n
    stores = [new_store() for _ in range(n)]

    def go(i: int) -> None:
        barrier.wait(timeout=30)
        turns[i] = join(stores[i], f"cart-{i}")

    threads = [threading.Thread(target=go, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    statuses = [t.status for t in turns]
    assert statuses.count(ADMITTED) == RULES.default_capacity
    waiting = sorted((t for t in turns if t.status == WAITING), key=lambda t: t.seq)
    assert [t.position for t in waiting] == list(range(1, n - 1))  # distinct, no gaps


def test_first_come_first_served_across_connections(new_store):
    """The capacity is full; 20 shoppers queue through their own connections. Each time a
    slot frees, all of them ask at once, and only the earliest place is let in."""
    n = 20
    stores = [new_store() for _ in range(n)]
    join(stores[0], "holder-1"), join(stores[0], "holder-2")
    places = {f"cart-{i}": join(stores[i], f"cart-{i}", T0 + i) for i in range(n)}
    order_joined = sorted(places, key=lambda m: places[m].seq)
    admitted_order = []
    inside = ["holder-1", "holder-2"]

    def poll(i: int, member: str, now: int, barrier: Any, results: dict[str, str]) -> None:
        barrier.wait(timeout=30)
        results[member] = ask(stores[i], member, places[member].seq, now).status

    for round_ in range(n):
        stores[0].leave(inside.pop(0))
        barrier = threading.Barrier(len(places))
        results: dict[str, str] = {}
        threads = [
            threading.Thread(
                target=poll, args=(int(m.split("-")[1]), m, T0 + 100 + round_, barrier, results)
            )
            for m in list(places)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        let_in = [m for m, status in results.items() if status == ADMITTED]
        assert len(let_in) == 1, results
        admitted_order += let_in
        inside.append(let_in[0])
        del places[let_in[0]]
    assert admitted_order == order_joined


JOINER = """
import json, sys, time
from commerce.crowd import Rules
from commerce.crowd.redis_store import RedisLineStore

url, prefix, name, start_at = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
store = RedisLineStore.from_url(url, prefix=prefix, timeout=5)
rules = Rules(default_capacity=1, place_timeout_ms=30_000, slot_ms=600_000)
while time.time() < start_at:
    time.sleep(0.001)
turns = []
for i in range(10):
    turn = store.take_turn(
        f"{name}-{i}", [], now_ms=int(time.time() * 1000), rules=rules, polling=False,
        ticket_seq=0,
    )
    turns.append([turn.status, turn.seq, turn.position])
print(json.dumps(turns))
"""


@pytest.mark.redis
def test_places_are_handed_out_in_order_across_processes():
    """Three processes queue ten shoppers each at the same moment: thirty distinct places
    numbered 1..30, each process's in the order it asked, each place's position its number."""
    import json
    import subprocess
    import sys
    import time
    from pathlib import Path

    maker = Redis(require_service("Redis", "TEST_REDIS_URL"))
    try:
        holder = maker()
        holder.set_capacity(1)
        assert join(holder, "holder", int(time.time() * 1000)).status == ADMITTED
        root = Path(__file__).resolve().parents[3]
        start_at = str(time.time() + 1.5)  # after every interpreter has started
        processes = [
            subprocess.Popen(
                [sys.executable, "-c", JOINER, maker.url, maker.prefix, name, start_at],
                cwd=root,
                env={"PYTHONPATH": str(root)},
                stdout=subprocess.PIPE,
                text=True,
            )
            for name in ("p1", "p2", "p3")
        ]
        results = [json.loads(p.communicate(timeout=60)[0]) for p in processes]
    finally:
        maker.close()
    seqs = []
    for turns in results:
        assert {status for status, _, _ in turns} == {WAITING}
        own = [seq for _, seq, _ in turns]
        assert own == sorted(own)  # first come, first served within each process
        assert [position for _, _, position in turns] == own  # nobody ahead but earlier places
        seqs += own
    assert sorted(seqs) == list(range(1, 31))  # distinct, no gaps, across processes

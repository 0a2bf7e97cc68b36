"""What a crowd of shoppers shares across every app process: the checkout line (who is in
checkout, who waits, in which order) and the sold-out markers of variants.

The state lives in Redis when REDIS_URL is set (one place for every process and host; every
decision is one Lua script, so two processes never admit past the capacity), and in this
process's memory in the embedded mode. Both stores answer the same calls (`LineStore`).

Redis down (README "When a service is down"): the shop keeps selling. `CrowdState` logs the
outage and answers from process memory for REST seconds before it asks Redis again; the line
is then per process (each admits up to the capacity) and sold-out markers there live only
FALLBACK_MARKER_SECONDS, since a restock seen by another process cannot clear them. Calls that
must reach Redis (the outbox consumer that corrects markers, a capacity change) are strict:
they raise instead, and are retried or refused.

Times are epoch milliseconds passed in by the caller (tests move the clock; hosts' clocks only
bound timeouts, never the order, which is a Redis counter).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol, TypeVar

from flask import Flask, current_app

from commerce.errors import CommerceError

log = logging.getLogger(__name__)

# Turn.status
ADMITTED = "admitted"  # just let in: go ahead and start checkout
INSIDE = "inside"  # already in checkout (a second tab, a double click, back to the cart)
WAITING = "waiting"  # a place in line: position 1 is next
SOLD_OUT = "sold_out"  # an item of the cart is marked sold out: no place, no checkout
LOST = "lost"  # a ticket whose place is gone (not polled for too long, or an older ticket)

WARN_EVERY = 60.0  # seconds between two warnings of one process about the same outage
REST = 5.0  # seconds a process answers from memory after a Redis error before trying again
FALLBACK_MARKER_SECONDS = 10  # sold-out markers kept in memory while Redis is unreachable
EPOCH_MS = 24 * 3600 * 1000  # how long a variant's restock counter outlives its last change
ADMITTED_WINDOW_MS = 60_000  # "admitted per minute"
# The board's "near": the first this many capacities' worth of places in line. Those pages ask
# for their turn themselves (the first capacity's worth often): the board, a second or two old
# at the edge, would tell them too late to keep the freed slots filled. A near place whose page
# stops asking lapses after Rules.near_timeout_ms.
NEAR_ROUNDS = 2


class LineStoreUnavailable(CommerceError):
    """A change that must reach every process could not be stored (Redis unreachable)."""

    status = 503
    code = "unavailable"


@dataclass(frozen=True)
class Turn:
    """The answer to a shopper asking for a turn at checkout."""

    status: str
    position: int = 0  # in line (1: next), when waiting
    seq: int = 0  # the place's number (first come, first served), when waiting
    capacity: int = 0  # the cap this answer used (0: no cap)
    inside: int = 0  # shoppers in checkout
    waiting: int = 0  # shoppers in line
    sold_out: dict[int, str] = field(default_factory=dict)  # variant id -> its label
    epochs: dict[int, int] = field(default_factory=dict)  # variant id -> restock counter seen

    @property
    def admitted(self) -> bool:
        return self.status in (ADMITTED, INSIDE)


@dataclass(frozen=True)
class Board:
    """The line as every waiting shopper may see it, the same for all of them (so an edge cache
    can answer it): which place numbers are let in at their next ask, which are near enough
    the front to ask often, and whether an item of theirs is sold out."""

    serving: int  # places numbered up to this are let in when they ask
    near: int  # places numbered up to this are among the first NEAR_ROUNDS x capacity in line
    sold_out: dict[int, str]  # the items marked sold out: variant id -> its label


@dataclass(frozen=True)
class LineStats:
    capacity: int
    inside: int
    waiting: int
    admitted_last_minute: int
    store: str  # "redis", "memory", or "memory (Redis unreachable)"


@dataclass(frozen=True)
class Rules:
    """The timings a turn is decided with (from settings)."""

    default_capacity: int
    place_timeout_ms: int  # a place not polled for this long is dropped
    slot_ms: int  # how long an admitted shopper counts as in checkout (the hold's length)
    # A place near the front (the first NEAR_ROUNDS x capacity) whose page has not asked for
    # this long since it came near is dropped: a closed page is found out where it would hold
    # up the line, so the pages far back need to ask only rarely (place_timeout_ms).
    near_timeout_ms: int = 15_000


class LineStore(Protocol):
    def take_turn(
        self,
        member: str,
        variant_ids: list[int],
        *,
        now_ms: int,
        rules: Rules,
        polling: bool,
        ticket_seq: int,
    ) -> Turn: ...

    def leave(self, member: str) -> None: ...

    def board(self, variant_ids: list[int], *, now_ms: int, rules: Rules) -> Board: ...

    def stats(self, *, now_ms: int, rules: Rules) -> tuple[int, int, int, int]: ...

    def capacity(self) -> int | None: ...

    def set_capacity(self, capacity: int) -> None: ...

    def epochs(self, variant_ids: list[int]) -> dict[int, int]: ...

    def mark_sold_out(
        self, epochs: dict[int, int], labels: dict[int, str], *, ttl_ms: int
    ) -> list[int]: ...

    def clear_sold_out(self, variant_ids: list[int]) -> None: ...


T = TypeVar("T")


def now_ms(now: datetime | None = None) -> int:
    """Epoch milliseconds of a naive UTC datetime (the codebase's utcnow()), or of now."""
    if now is None:
        return int(time.time() * 1000)
    return int(now.replace(tzinfo=UTC).timestamp() * 1000)


class CrowdState:
    """The store every call goes to: Redis when configured and reachable, else memory."""

    def __init__(self, *, redis_store: LineStore | None, memory: LineStore, rules: Rules) -> None:
        self.redis = redis_store
        self.memory = memory
        self.rules = rules
        self._resting_until = 0.0
        self._warned_at = 0.0
        self._in_outage = False

    @property
    def degraded(self) -> bool:
        return self.redis is not None and time.monotonic() < self._resting_until

    def _tolerant(self, operation: str, call: Callable[[LineStore], T]) -> T:
        if self.redis is not None and not self.degraded:
            try:
                answer = call(self.redis)
            except Exception as exc:
                if not _is_outage(exc):
                    raise
                self._fell_back(operation, exc)
            else:
                if self._in_outage:
                    self._in_outage = False
                    log.warning("checkout line: Redis answers again; the line is shared again")
                return answer
        return call(self.memory)

    def _strict(self, operation: str, call: Callable[[LineStore], T]) -> T:
        if self.redis is None:
            return call(self.memory)
        try:
            return call(self.redis)
        except Exception as exc:
            if not _is_outage(exc):
                raise
            self._fell_back(operation, exc)
            raise LineStoreUnavailable(
                "The checkout line's store (Redis) is unreachable; nothing was changed. "
                "Try again in a moment."
            ) from exc

    def _fell_back(self, operation: str, exc: BaseException) -> None:
        now = time.monotonic()
        self._resting_until = now + REST
        self._in_outage = True
        if now - self._warned_at >= WARN_EVERY:
            self._warned_at = now
            log.warning(
                "checkout line: Redis unreachable (%s: %s); admitting and answering sold-out "
                "from this process's memory (the capacity applies per process meanwhile)",
                operation,
                type(exc).__name__,
            )

    # -- the line --------------------------------------------------------------------------------

    def take_turn(
        self,
        member: str,
        variant_ids: Iterable[int],
        *,
        now_ms: int,
        polling: bool = False,
        ticket_seq: int = 0,
    ) -> Turn:
        ids = sorted({int(v) for v in variant_ids})
        return self._tolerant(
            "take_turn",
            lambda store: store.take_turn(
                member, ids, now_ms=now_ms, rules=self.rules, polling=polling, ticket_seq=ticket_seq
            ),
        )

    def leave(self, member: str) -> None:
        self._tolerant("leave", lambda store: store.leave(member))
        if self.redis is not None:
            self.memory.leave(member)  # a place or slot taken during an outage

    def board(self, variant_ids: Iterable[int], *, now_ms: int) -> Board:
        ids = sorted({int(v) for v in variant_ids})
        return self._tolerant(
            "board", lambda store: store.board(ids, now_ms=now_ms, rules=self.rules)
        )

    def stats(self, *, now_ms: int) -> LineStats:
        def read(store: LineStore) -> tuple[int, int, int, int]:
            return store.stats(now_ms=now_ms, rules=self.rules)

        capacity, inside, waiting, admitted = self._tolerant("stats", read)
        if self.redis is None:
            where = "memory"
        else:
            where = "memory (Redis unreachable)" if self.degraded else "redis"
        return LineStats(capacity, inside, waiting, admitted, where)

    def capacity(self) -> int:
        stored = self._tolerant("capacity", lambda store: store.capacity())
        return self.rules.default_capacity if stored is None else stored

    def set_capacity(self, capacity: int) -> None:
        self._strict("set_capacity", lambda store: store.set_capacity(capacity))
        if self.redis is not None:
            self.memory.set_capacity(capacity)  # what this process uses if Redis goes away

    # -- sold-out markers -----------------------------------------------------------------------

    def epochs(self, variant_ids: Iterable[int], *, strict: bool = False) -> dict[int, int]:
        ids = sorted({int(v) for v in variant_ids})
        run = self._strict if strict else self._tolerant
        return run("epochs", lambda store: store.epochs(ids))

    def mark_sold_out(
        self,
        epochs: dict[int, int],
        labels: dict[int, str],
        *,
        ttl_ms: int,
        strict: bool = False,
    ) -> list[int]:
        """Mark variants sold out, each only if no restock was noted since `epochs` was read
        (a restock that committed meanwhile wins). Returns the variants marked."""
        if not epochs:
            return []

        def mark(store: LineStore) -> list[int]:
            # memory standing in for Redis: another process's restock cannot clear it
            fallback = self.redis is not None and store is self.memory
            ttl = min(ttl_ms, FALLBACK_MARKER_SECONDS * 1000) if fallback else ttl_ms
            return store.mark_sold_out(epochs, labels, ttl_ms=ttl)

        run = self._strict if strict else self._tolerant
        return run("mark_sold_out", mark)

    def clear_sold_out(self, variant_ids: Iterable[int], *, strict: bool = False) -> None:
        """Stock came back (or may have): forget the markers, and make any marker decided
        from an older reading lose (the variants' restock counters move on)."""
        ids = sorted({int(v) for v in variant_ids})
        if not ids:
            return
        if self.redis is not None:
            self.memory.clear_sold_out(ids)  # markers this process kept during an outage
        run = self._strict if strict else self._tolerant
        run("clear_sold_out", lambda store: store.clear_sold_out(ids))


def _is_outage(exc: BaseException) -> bool:
    """A Redis connection problem (not a bug in a script)."""
    from redis.exceptions import ConnectionError, ResponseError, TimeoutError

    if isinstance(exc, ResponseError):
        return False
    return isinstance(exc, ConnectionError | TimeoutError | OSError)


def _rules(app: Flask) -> Rules:
    config = app.config
    poll_max = int(config["CHECKOUT_QUEUE_POLL_MAX_MS"])
    # a near page asks every POLL_MS; one that just came near learns it from the board
    near_poll = max(int(config["CHECKOUT_QUEUE_POLL_MS"]), int(config["CHECKOUT_QUEUE_BOARD_MS"]))
    return Rules(
        default_capacity=int(config["CHECKOUT_QUEUE_CAPACITY"]),
        # never shorter than a few polls of the slowest waiting page
        place_timeout_ms=max(int(config["CHECKOUT_QUEUE_PLACE_TIMEOUT"]) * 1000, 3 * poll_max),
        slot_ms=int(config["RESERVATION_TTL"].total_seconds() * 1000),
        near_timeout_ms=max(int(config["CHECKOUT_QUEUE_NEAR_TIMEOUT"]) * 1000, 3 * near_poll),
    )


def build_crowd_state(app: Flask) -> CrowdState:
    from commerce.crowd.memory import MemoryLineStore

    rules = _rules(app)
    redis_store = None
    url = app.config.get("REDIS_URL")
    if url:
        from commerce.crowd.redis_store import RedisLineStore

        redis_store = RedisLineStore.from_url(
            url,
            prefix=app.config["CROWD_KEY_PREFIX"],
            timeout=float(app.config.get("REDIS_TIMEOUT", 1.0)),
        )
    return CrowdState(redis_store=redis_store, memory=MemoryLineStore(), rules=rules)


def crowd_state(app: Flask | None = None) -> CrowdState:
    """This app's crowd state (built on first use, in the process that uses it)."""
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    state = app.extensions.get("crowd")
    if state is None:
        state = app.extensions.setdefault("crowd", build_crowd_state(app))
    return state


def checkout_left(cart_id: int | None) -> None:
    """A shopper is no longer in checkout (the order is placed): their slot goes to the next
    in line. Never fails the caller."""
    if cart_id is None:
        return
    try:
        crowd_state().leave(str(cart_id))
    except Exception:  # the slot expires with the hold anyway
        log.exception("could not free the checkout slot of cart %s", cart_id)

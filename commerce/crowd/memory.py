"""The line and the sold-out markers in this process's memory: the embedded mode's store, and
what a process falls back to while Redis is unreachable. The same rules as the Redis scripts
(commerce/crowd/redis_store.py), under one lock instead of one script."""

from __future__ import annotations

import heapq
import threading
import time
from collections import deque

from commerce.crowd import (
    ADMITTED,
    ADMITTED_WINDOW_MS,
    INSIDE,
    LOST,
    NEAR_ROUNDS,
    SOLD_OUT,
    WAITING,
    Board,
    Rules,
    Turn,
)


class MemoryLineStore:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._line: dict[str, int] = {}  # member -> place number
        self._seen: dict[str, int] = {}  # member -> last asked (ms)
        self._inside: dict[str, int] = {}  # member -> counted in checkout until (ms)
        self._near: dict[str, int] = {}  # member -> when its place came near the front (ms)
        self._seq = 0
        self._capacity: int | None = None
        self._admitted: deque[int] = deque()  # admission times (ms), the last minute's
        self._markers: dict[int, tuple[str, int]] = {}  # variant -> (label, until ms)
        self._epochs: dict[int, int] = {}

    # -- the line (callers hold the lock) --------------------------------------------------------

    def _forget(self, member: str) -> None:
        self._line.pop(member, None)
        self._seen.pop(member, None)
        self._near.pop(member, None)

    def _capacity_now(self, rules: Rules) -> int:
        return self._capacity if self._capacity is not None else rules.default_capacity

    def _forget_expired(self, now_ms: int, rules: Rules) -> None:
        """Slots whose time is up, places silent for the place timeout, and places near the
        front silent for the near timeout since they came near (as FORGET_LAPSED)."""
        for member in [m for m, until in self._inside.items() if until <= now_ms]:
            del self._inside[member]
        oldest = now_ms - rules.place_timeout_ms
        for member in [m for m, seen in self._seen.items() if seen <= oldest]:
            self._forget(member)
        capacity = self._capacity_now(rules)
        if capacity > 0:
            front = heapq.nsmallest(NEAR_ROUNDS * capacity, self._line, key=self._line.__getitem__)
            for member in front:
                came = self._near.setdefault(member, now_ms)
                if max(came, self._seen.get(member, 0)) < now_ms - rules.near_timeout_ms:
                    self._forget(member)
        while self._admitted and self._admitted[0] <= now_ms - ADMITTED_WINDOW_MS:
            self._admitted.popleft()

    def _sold_out(self, variant_ids: list[int]) -> dict[int, str]:
        """Markers expire by this process's clock, as Redis keys do by Redis's."""
        found = {}
        clock = _clock_ms()
        for variant_id in variant_ids:
            marker = self._markers.get(variant_id)
            if marker is not None and marker[1] > clock:
                found[variant_id] = marker[0]
            elif marker is not None:
                del self._markers[variant_id]
        return found

    def take_turn(
        self,
        member: str,
        variant_ids: list[int],
        *,
        now_ms: int,
        rules: Rules,
        polling: bool,
        ticket_seq: int,
    ) -> Turn:
        with self._lock:
            self._forget_expired(now_ms, rules)
            capacity = self._capacity_now(rules)
            epochs = {v: self._epochs.get(v, 0) for v in variant_ids}
            sold_out = self._sold_out(variant_ids)

            def answer(status: str, position: int = 0, seq: int = 0) -> Turn:
                return Turn(
                    status,
                    position=position,
                    seq=seq,
                    capacity=capacity,
                    inside=len(self._inside),
                    waiting=len(self._line),
                    sold_out=sold_out,
                    epochs=epochs,
                )

            def admit(status: str) -> Turn:
                self._forget(member)
                self._inside[member] = now_ms + rules.slot_ms
                if status == ADMITTED:
                    self._admitted.append(now_ms)
                return answer(status)

            if member in self._inside:
                return admit(INSIDE)
            if sold_out:
                self._forget(member)
                return answer(SOLD_OUT)
            mine = self._line.get(member)
            if mine is None:
                if polling:
                    return answer(LOST)
                if capacity <= 0 or (not self._line and len(self._inside) < capacity):
                    return admit(ADMITTED)
                self._seq += 1
                mine = self._line[member] = self._seq
            elif polling and mine != ticket_seq:
                return answer(LOST)
            self._seen[member] = now_ms
            rank = sum(1 for seq in self._line.values() if seq < mine)
            if capacity <= 0 or rank < capacity - len(self._inside):
                return admit(ADMITTED)
            return answer(WAITING, rank + 1, mine)

    def leave(self, member: str) -> None:
        with self._lock:
            self._inside.pop(member, None)
            self._forget(member)

    def board(self, variant_ids: list[int], *, now_ms: int, rules: Rules) -> Board:
        with self._lock:
            self._forget_expired(now_ms, rules)
            capacity = self._capacity_now(rules)
            sold_out = self._sold_out(variant_ids)
            places = sorted(self._line.values())

            def upto(count: int) -> int:
                """The place number of the `count`-th in line (the last given out if the line
                is shorter; one before the first if count is 0 or less)."""
                if count <= 0:
                    return places[0] - 1 if places else self._seq
                return places[count - 1] if count <= len(places) else self._seq

            if capacity <= 0:
                return Board(self._seq, self._seq, sold_out)
            free = capacity - len(self._inside)
            return Board(upto(free), upto(NEAR_ROUNDS * capacity), sold_out)

    def stats(self, *, now_ms: int, rules: Rules) -> tuple[int, int, int, int]:
        with self._lock:
            self._forget_expired(now_ms, rules)
            capacity = self._capacity_now(rules)
            return capacity, len(self._inside), len(self._line), len(self._admitted)

    def capacity(self) -> int | None:
        return self._capacity

    def set_capacity(self, capacity: int) -> None:
        self._capacity = capacity

    # -- sold-out markers --------------------------------------------------------------------------

    def epochs(self, variant_ids: list[int]) -> dict[int, int]:
        with self._lock:
            return {v: self._epochs.get(v, 0) for v in variant_ids}

    def mark_sold_out(
        self, epochs: dict[int, int], labels: dict[int, str], *, ttl_ms: int
    ) -> list[int]:
        until = _clock_ms() + ttl_ms
        marked = []
        with self._lock:
            for variant_id, seen in epochs.items():
                if self._epochs.get(variant_id, 0) == seen:
                    self._markers[variant_id] = (labels.get(variant_id) or "", until)
                    marked.append(variant_id)
        return marked

    def clear_sold_out(self, variant_ids: list[int]) -> None:
        with self._lock:
            for variant_id in variant_ids:
                self._markers.pop(variant_id, None)
                self._epochs[variant_id] = self._epochs.get(variant_id, 0) + 1


def _clock_ms() -> int:
    return int(time.time() * 1000)

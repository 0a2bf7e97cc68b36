"""Stock ledger invariants under random sequences of every stock verb (hypothesis, stateful).

After each step, for every level: the sum of its movements is on_hand (each unavailable state,
damaged, quality control, safety stock, the sum of its own bucket's), reserved is the sum of its
active holds, allocated the unshipped part of its live allocations, nothing is negative, and
reconcile() finds no drift. Domain errors are allowed outcomes of a step; anything else fails.

The test runs inside the suite's rolled-back transaction; each example makes its own products and
locations, so examples never see each other's levels (reconcile() still checks them all).
"""

from __future__ import annotations

import itertools
from datetime import timedelta

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import func, select, update

from commerce.catalog.services import create_product
from commerce.db import utcnow
from commerce.errors import Conflict, OutOfStock, ValidationError
from commerce.extensions import db
from commerce.inventory.models import (
    ACTIVE,
    ALLOCATED,
    CORRECTION,
    DAMAGED,
    FOUND,
    LOST,
    ON_HAND,
    UNAVAILABLE_STATES,
    Allocation,
    Location,
    Reservation,
    StockLevel,
    StockMovement,
)
from commerce.inventory.services import (
    adjust_stock,
    cancel_allocation,
    commit_reservation,
    receive_stock,
    reconcile,
    release_expired_reservations,
    release_reservation,
    reserve_stock,
    restock,
    set_counted_quantity,
    ship_allocation,
    transfer_stock,
    undo_movement,
)
from commerce.inventory.unavailable import (
    release_set_aside,
    set_aside,
    set_safety_stock,
    write_off_set_aside,
)
from tests.commerce.inventory.conftest import add_location

DOMAIN_ERRORS = (OutOfStock, Conflict, ValidationError)
_serial = itertools.count(1)
SEEN: dict[str, int] = {}  # outcomes over all examples: the run must not be vacuous

two = st.integers(0, 1)
# The unavailable states' steps, drawn by the adjust rule: "action:state".
UNAVAILABLE_STEPS = [
    f"{action}:{state}"
    for action in ("set_aside", "release_set_aside", "write_off")
    for state in UNAVAILABLE_STATES
    if not (action == "write_off" and state == "safety_stock")
] + ["safety:"]
units = st.integers(1, 8)
pick = st.integers(0, 1_000)


class StockLedger(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        n = next(_serial)
        self.variants = [
            create_product(title=f"Prop {n}-{i}", sku=f"PROP-{n}-{i}", price=100, by=None)
            .variants[0]
            .id
            for i in range(2)
        ]
        self.locations = [add_location(priority=p).id for p in (1, 2)]
        self.carts: list[str] = []
        self.allocations: list[int] = []
        self.movements: list[int] = []

    def teardown(self) -> None:
        """Its locations leave the active ones: the next example (and any later test) receives
        and reserves at its own locations only, so the same draws take the same paths whatever
        ran before in this process."""
        db.session.rollback()
        db.session.execute(
            update(Location).where(Location.id.in_(self.locations)).values(is_active=False)
        )
        db.session.commit()

    def attempt(self, verb: str, work):
        try:
            result = work()
        except DOMAIN_ERRORS as error:
            SEEN[type(error).__name__] = SEEN.get(type(error).__name__, 0) + 1
            return None
        SEEN[verb] = SEEN.get(verb, 0) + 1
        return result

    def remember(self, movement) -> None:
        if movement is not None:
            self.movements.append(movement.id)

    # -- steps -------------------------------------------------------------------------------

    @rule(v=two, loc=two, quantity=units, keyed=st.booleans())
    def receive(self, v, loc, quantity, keyed):
        key = f"rcv-{self.variants[v]}-{loc}-{quantity}" if keyed else None
        self.remember(
            self.attempt(
                "receive",
                lambda: receive_stock(
                    self.variants[v],
                    quantity=quantity,
                    location_id=self.locations[loc],
                    by=None,
                    idempotency_key=key,
                ),
            )
        )

    @rule(
        v=two,
        loc=two,
        delta=st.integers(-6, 6).filter(bool),
        reason=st.sampled_from([DAMAGED, LOST, FOUND, CORRECTION]),
    )
    def adjust(self, v, loc, delta, reason):
        self.remember(
            self.attempt(
                "adjust",
                lambda: adjust_stock(
                    self.variants[v],
                    location_id=self.locations[loc],
                    delta=delta,
                    reason=reason,
                    by=None,
                ),
            )
        )

    @rule(v=two, loc=two, step=st.sampled_from(UNAVAILABLE_STEPS), quantity=st.integers(1, 2))
    def unavailable_step(self, v, loc, step, quantity):
        action, _, state = step.partition(":")
        self.unavailable(v, loc, action, state or DAMAGED, quantity)

    def unavailable(self, v, loc, action, state, quantity):
        """Units set aside (damaged, quality control, safety stock), released or written off
        (some of what the state holds, when it holds any), or the safety stock set."""
        variant_id, location_id = self.variants[v], self.locations[loc]
        if action in ("release_set_aside", "write_off"):  # units some level holds, if any
            allowed = [state] + [
                other
                for other in UNAVAILABLE_STATES
                if other != state and not (action == "write_off" and other == "safety_stock")
            ]
            levels = db.session.scalars(
                select(StockLevel)
                .where(StockLevel.variant_id.in_(self.variants))
                .order_by(StockLevel.id)
            ).all()
            holding = [(lv, s) for s in allowed for lv in levels if getattr(lv, s) > 0]
            if holding:
                found, state = holding[0]
                variant_id, location_id = found.variant_id, found.location_id
                quantity = min(quantity, getattr(found, state))
        if action == "safety":

            def work():
                return set_safety_stock(
                    variant_id, location_id=location_id, units=quantity - 1, by=None
                )
        else:
            verb = {
                "set_aside": set_aside,
                "release_set_aside": release_set_aside,
                "write_off": write_off_set_aside,
            }[action]

            def work():
                return verb(
                    variant_id,
                    location_id=location_id,
                    state=state,
                    quantity=quantity,
                    reason="checked",
                    by=None,
                )

        self.attempt(action, work)

    @rule(v=two, loc=two, counted=st.integers(0, 12))
    def count(self, v, loc, counted):
        self.remember(
            self.attempt(
                "count",
                lambda: set_counted_quantity(
                    self.variants[v], location_id=self.locations[loc], counted=counted, by=None
                ),
            )
        )

    @rule(v=two, source=two, quantity=units)
    def transfer(self, v, source, quantity):
        self.attempt(
            "transfer",
            lambda: transfer_stock(
                self.variants[v],
                from_location_id=self.locations[source],
                to_location_id=self.locations[1 - source],
                quantity=quantity,
                by=None,
            ),
        )

    @rule(v=two, loc=two, quantity=units)
    def restock(self, v, loc, quantity):
        self.remember(
            self.attempt(
                "restock",
                lambda: restock(
                    self.variants[v], location_id=self.locations[loc], quantity=quantity, by=None
                ),
            )
        )

    @precondition(lambda self: self.movements)
    @rule(i=pick)
    def undo(self, i):
        movement_id = self.movements[i % len(self.movements)]
        self.remember(self.attempt("undo", lambda: undo_movement(movement_id, by=None)))

    @rule(lines=st.lists(st.tuples(two, st.integers(1, 3)), min_size=1, max_size=3))
    def reserve(self, lines):
        reference = f"cart-{next(_serial)}"
        held = self.attempt(
            "reserve",
            lambda: reserve_stock(
                [(self.variants[v], q) for v, q in lines],
                reference=reference,
            ),
        )
        if held is not None:
            self.carts.append(reference)

    @precondition(lambda self: self.carts)
    @rule(i=pick)
    def release(self, i):
        if self.carts:
            reference = self.carts.pop(i % len(self.carts))
            self.attempt("release", lambda: release_reservation(reference))

    @precondition(lambda self: self.carts)
    @rule()
    def expire_all(self):
        later = utcnow() + timedelta(days=1)
        self.attempt("expire", lambda: release_expired_reservations(now=later))

    @precondition(lambda self: self.carts)
    @rule(i=pick)
    def commit(self, i):
        if self.carts:
            reference = self.carts.pop(i % len(self.carts))
            allocations = self.attempt(
                "commit",
                lambda: commit_reservation(reference, order_reference=f"ORD-{reference}"),
            )
            self.allocations += [a.id for a in allocations or []]

    @precondition(lambda self: self.allocations)
    @rule(i=pick, quantity=st.one_of(st.none(), st.integers(1, 4)))
    def ship(self, i, quantity):
        if self.allocations:
            allocation_id = self.allocations[i % len(self.allocations)]
            self.attempt("ship", lambda: ship_allocation(allocation_id, by=None, quantity=quantity))

    @precondition(lambda self: self.allocations)
    @rule(i=pick)
    def cancel(self, i):
        if self.allocations:
            allocation_id = self.allocations[i % len(self.allocations)]
            self.attempt("cancel", lambda: cancel_allocation(allocation_id, by=None))

    # -- invariants --------------------------------------------------------------------------

    @invariant()
    def counters_match_the_ledger_and_the_holds(self):
        db.session.expire_all()
        levels = db.session.scalars(
            select(StockLevel).where(StockLevel.variant_id.in_(self.variants))
        ).all()
        for level in levels:
            buckets = dict(
                db.session.execute(
                    select(StockMovement.bucket, func.sum(StockMovement.delta))
                    .where(StockMovement.stock_level_id == level.id)
                    .group_by(StockMovement.bucket)
                ).all()
            )
            ledger = buckets.get(ON_HAND, 0)
            held = db.session.scalar(
                select(func.coalesce(func.sum(Reservation.quantity), 0)).where(
                    Reservation.stock_level_id == level.id, Reservation.status == ACTIVE
                )
            )
            promised = db.session.scalar(
                select(func.coalesce(func.sum(Allocation.quantity - Allocation.shipped), 0)).where(
                    Allocation.stock_level_id == level.id, Allocation.status == ALLOCATED
                )
            )
            assert level.on_hand == ledger, level.id
            assert level.reserved == held, level.id
            assert level.allocated == promised, level.id
            for state in UNAVAILABLE_STATES:
                assert getattr(level, state) == buckets.get(state, 0), (level.id, state)
            assert min(level.on_hand, level.reserved, level.allocated, level.available) >= 0
            assert min(level.damaged, level.quality_control, level.safety_stock) >= 0
        assert reconcile() == []


def test_ledger_invariants_hold_for_any_sequence(app):
    SEEN.clear()
    run_state_machine_as_test(
        StockLedger,
        settings=settings(
            max_examples=100,
            stateful_step_count=30,
            deadline=None,
            derandomize=True,  # the same sequences every run: a failure always reproduces
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        ),
    )
    print(sorted(SEEN.items()))
    # Not vacuous: the common verbs always ran, and all but two of the rarer ones. Which rare
    # paths a fixed seed reaches still depends on the rows earlier tests left in the database
    # (other locations, say); the invariants above are checked after every step regardless.
    core = {"receive", "adjust", "reserve", "commit", "release", "count", "set_aside"}
    rare = {"ship", "transfer", "cancel", "release_set_aside", "write_off", "safety"}
    assert core <= set(SEEN), SEEN
    assert len(rare & set(SEEN)) >= len(rare) - 2, SEEN
    assert {"OutOfStock", "ValidationError"} <= set(SEEN), SEEN

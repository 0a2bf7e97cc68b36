"""The stock ledger's invariants with transfer documents among the verbs (hypothesis,
stateful): every step of the stock ledger's machine, plus drafting, shipping, receiving,
finishing and cancelling transfers in any order.

Besides the ledger's own invariants (each level's movements sum to its on_hand, the holds and
allocations match their counters, reconcile finds no drift), units are conserved: a variant's
on_hand over all locations plus what its transfers shipped and did not receive or return
(in transit, or recorded missing) equals what every movement other than a transfer's booked.
"""

from __future__ import annotations

import itertools

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import invariant, precondition, rule, run_state_machine_as_test
from sqlalchemy import func, or_, select

from commerce.errors import InvalidTransition
from commerce.extensions import db
from commerce.inventory.models import ON_HAND, StockLevel, StockMovement
from commerce.inventory.services import receive_stock
from commerce.inventory.transfer_models import (
    DRAFT,
    ON_THE_ROAD,
    StockTransfer,
    StockTransferLine,
)
from commerce.inventory.transfers import (
    cancel_transfer,
    create_transfer,
    finish_receiving,
    receive_transfer,
    ship_transfer,
)
from tests.commerce.inventory import test_ledger_properties as ledger

_keys = itertools.count(1)
two = st.integers(0, 1)
pick = st.integers(0, 1_000)


class TransferLedger(ledger.StockLedger):
    def __init__(self) -> None:
        super().__init__()
        self.transfers: list[int] = []

    def attempt(self, verb, work):
        try:
            return super().attempt(verb, work)
        except InvalidTransition:
            ledger.SEEN["InvalidTransition"] = ledger.SEEN.get("InvalidTransition", 0) + 1
            return None

    @rule(source=two, lines=st.lists(st.tuples(two, st.integers(1, 4)), min_size=1, max_size=2))
    def draft(self, source, lines):
        transfer = self.attempt(
            "draft",
            lambda: create_transfer(
                origin_id=self.locations[source],
                destination_id=self.locations[1 - source],
                lines=[(self.variants[v], q) for v, q in lines],
                by=None,
            ),
        )
        if transfer is not None:
            self.transfers.append(transfer.id)

    @precondition(lambda self: self.in_status((DRAFT,)))
    @rule(i=pick, top_up=st.integers(0, 3))
    def ship_transfer(self, i, top_up):
        """Ship a draft; most of the time after receiving what it needs at its origin first
        (so shipments mostly succeed, and are sometimes refused)."""
        drafts = self.in_status((DRAFT,))
        if not drafts:
            return
        transfer = drafts[i % len(drafts)]
        if top_up:
            for line in transfer.lines:
                receive_stock(
                    line.variant_id, quantity=line.quantity, location_id=transfer.origin_id, by=None
                )
        self.attempt("ship_transfer", lambda: ship_transfer(transfer.id, by=None))

    def in_status(self, statuses) -> list[StockTransfer]:
        return list(
            db.session.scalars(
                select(StockTransfer)
                .where(StockTransfer.id.in_(self.transfers), StockTransfer.status.in_(statuses))
                .order_by(StockTransfer.id)
            )
        )

    @precondition(lambda self: self.in_status(ON_THE_ROAD))
    @rule(i=pick, j=pick, extra=st.integers(-2, 1), repeat=st.booleans())
    def receive_transfer(self, i, j, extra, repeat):
        """Receive a line of a transfer on the road: what is left of it, a little less, or
        one more than is left (refused)."""
        moving = self.in_status(ON_THE_ROAD)
        if not moving:
            return
        transfer = moving[i % len(moving)]
        line = transfer.lines[j % len(transfer.lines)]
        quantity = max(1, line.in_transit + extra)
        key = f"k{next(_keys)}"
        for _ in range(2 if repeat else 1):  # a retried receipt books once
            self.attempt(
                "receive_transfer",
                lambda: receive_transfer(
                    transfer.id,
                    lines=[(line.variant_id, quantity)],
                    by=None,
                    idempotency_key=key,
                ),
            )

    @precondition(lambda self: self.in_status(ON_THE_ROAD))
    @rule(i=pick)
    def finish_transfer(self, i):
        moving = self.in_status(ON_THE_ROAD)
        if moving:
            transfer_id = moving[i % len(moving)].id
            self.attempt("finish_transfer", lambda: finish_receiving(transfer_id, by=None))

    @precondition(lambda self: self.in_status(ON_THE_ROAD))
    @rule(i=pick)
    def cancel_transfer(self, i):
        """Cancel a transfer on the road (a draft's cancel moves nothing)."""
        moving = self.in_status(ON_THE_ROAD)
        if moving:
            transfer_id = moving[i % len(moving)].id
            self.attempt("cancel_transfer", lambda: cancel_transfer(transfer_id, by=None))

    @invariant()
    def units_are_conserved(self):
        db.session.expire_all()
        for variant_id in self.variants:
            on_hand = db.session.scalar(
                select(func.coalesce(func.sum(StockLevel.on_hand), 0)).where(
                    StockLevel.variant_id == variant_id
                )
            )
            away = db.session.scalar(
                select(
                    func.coalesce(
                        func.sum(
                            StockTransferLine.shipped
                            - StockTransferLine.received
                            - StockTransferLine.returned
                        ),
                        0,
                    )
                ).where(StockTransferLine.variant_id == variant_id)
            )
            booked = db.session.scalar(
                select(func.coalesce(func.sum(StockMovement.delta), 0))
                .join(StockLevel, StockLevel.id == StockMovement.stock_level_id)
                .where(
                    StockLevel.variant_id == variant_id,
                    StockMovement.bucket == ON_HAND,  # units set aside stay on hand
                    or_(
                        StockMovement.idempotency_key.is_(None),
                        ~StockMovement.idempotency_key.startswith("transfer:"),
                    ),
                )
            )
            assert on_hand + away == booked, variant_id
            assert away >= 0


def test_ledger_invariants_hold_with_transfers(app):
    ledger.SEEN.clear()
    run_state_machine_as_test(
        TransferLedger,
        settings=settings(
            max_examples=15,  # the ledger's own verbs are many: enough runs reach transfers
            stateful_step_count=40,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        ),
    )
    print(sorted(ledger.SEEN.items()))
    verbs = {"draft", "ship_transfer", "receive_transfer"}
    assert verbs <= set(ledger.SEEN), ledger.SEEN

"""The order state machine, table-driven: for each of the three statuses, every declared
transition is allowed (and leaves its timeline entry), every other pair is refused with
InvalidTransition (and changes nothing), and staying put is not a transition."""

from __future__ import annotations

import itertools

import pytest

from commerce.db import transaction
from commerce.errors import InvalidTransition
from commerce.extensions import db
from commerce.orders.models import (
    FULFILLMENT_STATUSES,
    ORDER_STATUSES,
    PAYMENT_STATUSES,
    OrderEvent,
)
from commerce.orders.services import TRANSITIONS, transition
from tests.commerce.orders.factories import place_paid_order

STATUSES = {
    "status": ORDER_STATUSES,
    "payment_status": PAYMENT_STATUSES,
    "fulfillment_status": FULFILLMENT_STATUSES,
}


def test_the_table_names_every_status_and_only_known_ones():
    for attribute, statuses in STATUSES.items():
        assert set(TRANSITIONS[attribute]) == set(statuses), attribute
        for targets in TRANSITIONS[attribute].values():
            assert set(targets) <= set(statuses), attribute


@pytest.mark.parametrize("attribute", sorted(STATUSES))
def test_declared_transitions_are_allowed_and_all_others_refused(checkout_shop, attribute):
    order = place_paid_order(checkout_shop, small=1)
    wrong: list[str] = []
    for old, new in itertools.product(STATUSES[attribute], repeat=2):
        with transaction():
            setattr(order, attribute, old)
        events = db.session.query(OrderEvent).filter_by(order_id=order.id).count()
        declared = new in TRANSITIONS[attribute][old]
        try:
            with transaction():
                moved = transition(order, attribute, new, "table test")
        except InvalidTransition as exc:
            if declared or old == new:
                wrong.append(f"{old} -> {new} refused: {exc.message}")
            if (exc.details["before"], exc.details["after"], exc.field) != (old, new, attribute):
                wrong.append(f"{old} -> {new}: error details {exc.as_dict()}")
            db.session.refresh(order)
            if getattr(order, attribute) != old:
                wrong.append(f"{old} -> {new} refused but changed the order")
            continue
        db.session.refresh(order)
        after = db.session.query(OrderEvent).filter_by(order_id=order.id).count()
        if old == new:
            if moved or after != events:
                wrong.append(f"{old} -> {old} counted as a transition")
        elif not declared:
            wrong.append(f"{old} -> {new} allowed but not declared")
        elif getattr(order, attribute) != new or after != events + 1:
            wrong.append(f"{old} -> {new} did not move with one timeline entry")
        else:
            event = db.session.query(OrderEvent).order_by(OrderEvent.id.desc()).first()
            if (event.kind, event.data) != (f"{attribute}.{new}", {"before": old, "after": new}):
                wrong.append(f"{old} -> {new}: timeline entry {event.kind} {event.data}")
    assert wrong == []
    pairs = len(STATUSES[attribute]) ** 2
    assert pairs > sum(len(t) for t in TRANSITIONS[attribute].values())  # some are refused

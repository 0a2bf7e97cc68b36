"""A draft order paid through its link and marked paid by staff at the same moment, on
PostgreSQL with real threads and commits: one order, its stock allocated once, and the losing
side told why (the card attempt finds the order or the checkout gone; mark-paid a 409)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from commerce.checkout.services import place_order
from commerce.drafts.models import COMPLETED, DraftOrder
from commerce.drafts.services import (
    add_draft_line,
    choose_draft_shipping,
    complete_paid_draft,
    create_draft,
    get_draft,
    mark_draft_paid,
    send_invoice,
    set_draft_customer,
)
from commerce.extensions import db
from commerce.inventory.models import StockLevel
from commerce.orders.models import Order
from tests.concurrency.conftest import run_together, unexpected
from tests.conftest import TEST_CARD, US_ADDRESS, build_checkout_shop

pytestmark = pytest.mark.postgres

ROUNDS = 5


def test_paying_and_marking_paid_at_once_make_one_order(race_app):
    shop = build_checkout_shop(stock=ROUNDS * 2)
    drafts = []
    for n in range(ROUNDS):
        draft = create_draft(email=f"race{n}@example.com", by=None)
        add_draft_line(draft, variant_id=shop.small, quantity=2, by=None)
        set_draft_customer(draft, email=f"race{n}@example.com", address=US_ADDRESS, by=None)
        choose_draft_shipping(draft, code="STD", by=None)
        send_invoice(draft, by=None)
        drafts.append((draft.id, draft.checkout_key))
    db.session.remove()

    for draft_id, key in drafts:

        def work(i: int, draft_id: int = draft_id, key: str = key) -> object:
            if i == 0:
                return place_order(key, card=TEST_CARD).order
            return mark_draft_paid(get_draft(draft_id), method="bank transfer", by=None)

        outcomes = run_together(race_app, 2, work)
        assert unexpected(outcomes) == []
        assert any(o.ok for o in outcomes)
        for outcome in outcomes:
            if outcome.domain_error is not None:
                assert outcome.domain_error.status in (409,), outcome.domain_error

    orders = db.session.scalars(select(Order)).all()
    assert len(orders) == ROUNDS
    for order in orders:  # the outbox's "order.placed" consumer for those paid by link
        complete_paid_draft(order.id)
    assert set(db.session.scalars(select(DraftOrder.status))) == {COMPLETED}
    assert {d.order_id for d in db.session.scalars(select(DraftOrder))} == {o.id for o in orders}
    allocated = db.session.scalar(
        select(func.sum(StockLevel.allocated)).where(StockLevel.variant_id == shop.small)
    )
    assert allocated == 2 * ROUNDS

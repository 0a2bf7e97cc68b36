"""Numbers under concurrency, on PostgreSQL with real threads and real commits: distinct,
consecutive and gapless, however the issuers interleave (and when some of them roll back)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from commerce.db import transaction
from commerce.documents.models import CREDIT_NOTE, INVOICE, Document, DocumentSequence
from commerce.documents.numbering import issue_credit_note, issue_invoice, shop_year
from commerce.extensions import db
from commerce.orders.models import Order, Refund
from tests.commerce.documents.helpers import checkout_order, refund
from tests.concurrency.conftest import race_app, run_together, unexpected  # noqa: F401
from tests.conftest import build_checkout_shop

pytestmark = pytest.mark.postgres

THREADS = 12


class Abort(Exception):
    pass


def orders(n: int) -> list[int]:
    shop = build_checkout_shop(stock=n + 2)
    return [checkout_order(shop, 1).id for _ in range(n)]


def sequences(kind: str) -> list[int]:
    db.session.expire_all()
    return list(
        db.session.scalars(
            select(Document.sequence).where(Document.kind == kind).order_by(Document.sequence)
        )
    )


def last(kind: str) -> int:
    return db.session.scalar(select(DocumentSequence.last).where(DocumentSequence.kind == kind))


def test_concurrent_invoices_get_distinct_consecutive_numbers(race_app):  # noqa: F811
    ids = orders(THREADS)

    def work(i: int) -> str:
        return issue_invoice(db.session.get(Order, ids[i])).number

    outcomes = run_together(race_app, THREADS, work)
    assert unexpected(outcomes) == []
    numbers = sorted(o.value for o in outcomes)
    year = shop_year(db.session.scalar(select(Document.issued_at).limit(1)))
    assert numbers == [f"INV-{year}-{n:06d}" for n in range(1, THREADS + 1)]
    assert sequences(INVOICE) == list(range(1, THREADS + 1))
    assert last(INVOICE) == THREADS  # the year's row was created once, by whoever came first


def test_one_order_asked_for_at_once_gets_one_invoice_and_uses_one_number(race_app):  # noqa: F811
    (order_id,) = orders(1)

    def work(_: int) -> str:
        return issue_invoice(db.session.get(Order, order_id)).number

    outcomes = run_together(race_app, 6, work)
    assert unexpected(outcomes) == []
    assert len({o.value for o in outcomes}) == 1
    assert sequences(INVOICE) == [1] and last(INVOICE) == 1


def test_issuers_that_roll_back_leave_no_gap(race_app):  # noqa: F811
    ids = orders(THREADS)

    def work(i: int) -> Any:
        order = db.session.get(Order, ids[i])
        if i % 3 == 0:
            with transaction():
                issue_invoice(order)
                raise Abort  # the caller's transaction fails after taking a number
        return issue_invoice(order).sequence

    outcomes = run_together(race_app, THREADS, work)
    aborted = [o for o in outcomes if isinstance(o.error, Abort)]
    assert len(aborted) == len(range(0, THREADS, 3))
    assert [o for o in outcomes if o.error is not None and not isinstance(o.error, Abort)] == []
    kept = THREADS - len(aborted)
    assert sorted(o.value for o in outcomes if o.ok) == list(range(1, kept + 1))
    assert sequences(INVOICE) == list(range(1, kept + 1)) and last(INVOICE) == kept


def test_concurrent_credit_notes_and_invoices_do_not_deadlock(race_app):  # noqa: F811
    ids = orders(4)
    refund_ids = []
    for order_id in ids:
        order = db.session.get(Order, order_id)
        refund_ids.append(refund(order, {order.lines[0].id: 1}).id)

    def work(i: int) -> str:
        if i % 2:  # half ask for the invoice, half for a credit note (which needs it first)
            return issue_invoice(db.session.get(Order, ids[i // 2])).number
        return issue_credit_note(db.session.get(Refund, refund_ids[i // 2])).number

    outcomes = run_together(race_app, 8, work)
    assert unexpected(outcomes) == []
    assert sequences(INVOICE) == [1, 2, 3, 4] and sequences(CREDIT_NOTE) == [1, 2, 3, 4]

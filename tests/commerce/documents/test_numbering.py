"""Invoice and credit note numbers: sequential per year, gapless across rollbacks, one per
order or refund, audited; credit notes issued by the refund.succeeded outbox event."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import select

from commerce import outbox
from commerce.audit import AuditEntry
from commerce.db import transaction
from commerce.documents import numbering
from commerce.documents.models import CREDIT_NOTE, INVOICE, Document, DocumentSequence
from commerce.documents.numbering import (
    CREDIT_NOTE_ISSUED,
    INVOICE_ISSUED,
    credit_note_for,
    issue_credit_note,
    issue_invoice,
    shop_year,
)
from commerce.documents.tasks import REFUND_SUCCEEDED
from commerce.errors import Conflict
from commerce.extensions import db
from commerce.orders.models import CANCELLED, REFUND_PROCESSING
from tests.commerce.documents.helpers import refund


class Abort(Exception):
    pass


def sequence_last(kind: str, year: int) -> int | None:
    return db.session.scalar(
        select(DocumentSequence.last).where(
            DocumentSequence.kind == kind, DocumentSequence.year == year
        )
    )


def this_year() -> int:
    return shop_year(numbering.utcnow())


def test_invoices_are_numbered_in_sequence_and_once_per_order(order_factory, make_staff):
    support = make_staff("support")
    orders = [order_factory(1) for _ in range(3)]
    year = this_year()
    numbers = [issue_invoice(order, by=support).number for order in orders]
    assert numbers == [f"INV-{year}-{n:06d}" for n in (1, 2, 3)]
    again = issue_invoice(orders[0], by=support)
    assert again.number == numbers[0]
    assert db.session.query(Document).filter_by(kind=INVOICE).count() == 3
    assert sequence_last(INVOICE, year) == 3
    entries = db.session.scalars(select(AuditEntry).where(AuditEntry.action == INVOICE_ISSUED))
    audited = [(e.actor_id, e.subject_id, e.after["number"]) for e in entries]
    assert audited == [(support.id, str(o.id), n) for o, n in zip(orders, numbers, strict=True)]
    kinds = [e.kind for e in orders[0].events]
    assert kinds.count(INVOICE_ISSUED) == 1


def test_a_rolled_back_issue_gives_its_number_back(order_factory):
    first, second, failing, later = (order_factory(1) for _ in range(4))
    year = this_year()
    assert issue_invoice(first).sequence == 1
    assert issue_invoice(second).sequence == 2
    with pytest.raises(Abort), transaction():
        taken = issue_invoice(failing)
        assert taken.sequence == 3
        raise Abort  # e.g. the caller's next step failed: nothing it wrote may stay
    assert db.session.query(Document).filter_by(order_id=failing.id).count() == 0
    assert sequence_last(INVOICE, year) == 2
    assert issue_invoice(later).number == f"INV-{year}-000003"  # the gap is filled
    assert issue_invoice(failing).number == f"INV-{year}-000004"
    sequences = db.session.scalars(
        select(Document.sequence).where(Document.kind == INVOICE).order_by(Document.sequence)
    )
    assert list(sequences) == [1, 2, 3, 4]


def test_the_year_is_the_shop_time_zones(order_factory, app, monkeypatch):
    new_years_eve = datetime(2026, 12, 31, 23, 30)  # naive UTC
    monkeypatch.setitem(app.config, "SHOP_TIMEZONE", "America/Los_Angeles")
    assert shop_year(new_years_eve) == 2026
    monkeypatch.setitem(app.config, "SHOP_TIMEZONE", "Asia/Tokyo")
    assert shop_year(new_years_eve) == 2027  # already 08:30 on January 1st in Tokyo
    monkeypatch.setattr(numbering, "utcnow", lambda: new_years_eve)
    tokyo = issue_invoice(order_factory(1))
    monkeypatch.setitem(app.config, "SHOP_TIMEZONE", "America/Los_Angeles")
    los_angeles = issue_invoice(order_factory(1))
    assert (tokyo.number, los_angeles.number) == ("INV-2027-000001", "INV-2026-000001")
    assert tokyo.issued_at == new_years_eve  # the row keeps the UTC moment


def test_each_year_starts_at_one(order_factory, monkeypatch):
    monkeypatch.setattr(numbering, "utcnow", lambda: datetime(2025, 6, 1, 12, 0))
    old = issue_invoice(order_factory(1))
    monkeypatch.setattr(numbering, "utcnow", lambda: datetime(2026, 6, 1, 12, 0))
    new = [issue_invoice(order_factory(1)) for _ in range(2)]
    assert [old.number, *(d.number for d in new)] == [
        "INV-2025-000001",
        "INV-2026-000001",
        "INV-2026-000002",
    ]


def test_an_order_cancelled_before_payment_gets_no_invoice(order_factory):
    order = order_factory(1)
    order.status, order.paid_total = CANCELLED, 0
    db.session.commit()
    with pytest.raises(Conflict, match="cancelled before payment"):
        issue_invoice(order)
    assert sequence_last(INVOICE, this_year()) in (None, 0)


def test_a_credit_note_corrects_the_invoice_which_is_issued_first(order_factory, make_staff):
    support = make_staff("support")
    order = order_factory(2)
    first = refund(order, {order.lines[0].id: 1})
    second = refund(order, shipping=500, reason="Late delivery")
    year = this_year()
    note = issue_credit_note(first, by=support)
    assert note.number == f"CN-{year}-000001"
    assert (note.kind, note.order_id, note.refund_id) == (CREDIT_NOTE, order.id, first.id)
    invoice = numbering.invoice_for(order)
    assert invoice is not None and invoice.number == f"INV-{year}-000001"
    assert issue_credit_note(first).id == note.id  # once per refund
    assert issue_credit_note(second).number == f"CN-{year}-000002"
    entry = db.session.scalar(
        select(AuditEntry).where(AuditEntry.action == CREDIT_NOTE_ISSUED).order_by(AuditEntry.id)
    )
    assert entry.actor_id == support.id
    assert entry.after == {
        "number": note.number,
        "document_id": note.id,
        "refund_id": first.id,
        "invoice": invoice.number,
    }


def test_only_a_refund_that_went_through_gets_a_credit_note(order_factory):
    order = order_factory(1)
    pending = refund(order, {order.lines[0].id: 1}, status=REFUND_PROCESSING)
    with pytest.raises(Conflict, match="went through"):
        issue_credit_note(pending)
    assert credit_note_for(pending) is None
    assert sequence_last(CREDIT_NOTE, this_year()) in (None, 0)


def test_the_refund_succeeded_event_issues_the_credit_note_once(order_factory):
    order = order_factory(2)
    done = refund(order, {order.lines[0].id: 1})
    with transaction():
        outbox.enqueue(REFUND_SUCCEEDED, {"refund_id": done.id})
        outbox.enqueue(REFUND_SUCCEEDED, {"refund_id": done.id})  # delivered twice
    assert outbox.dispatch_pending() >= 2
    notes = db.session.scalars(select(Document).where(Document.refund_id == done.id)).all()
    assert [n.number for n in notes] == [f"CN-{this_year()}-000001"]
    assert db.session.query(Document).filter_by(kind=INVOICE, order_id=order.id).count() == 1


def test_a_failing_delivery_gives_the_number_back_and_is_retried(order_factory):
    order = order_factory(1)
    pending = refund(order, {order.lines[0].id: 1}, status=REFUND_PROCESSING)
    issue_invoice(order)  # so only the credit note's own number is at stake
    with transaction():
        event = outbox.enqueue(REFUND_SUCCEEDED, {"refund_id": pending.id})
    outbox.dispatch_pending()
    db.session.refresh(event)
    assert event.dispatched_at is None and "Conflict" in (event.last_error or "")
    assert sequence_last(CREDIT_NOTE, this_year()) in (None, 0)
    pending.status = "succeeded"
    db.session.commit()
    outbox.dispatch_pending(retry_now=True)  # without waiting out the backoff
    db.session.refresh(event)
    assert event.dispatched_at is not None
    assert credit_note_for(pending).number == f"CN-{this_year()}-000001"


def test_a_real_refund_gets_its_credit_note_through_the_outbox(order_factory, make_staff):
    """End to end with the refunds service: its refund.succeeded event numbers the note."""
    refunds = pytest.importorskip("commerce.orders.refunds")
    support = make_staff("support")
    order = order_factory(2)
    outbox.dispatch_pending()  # the order's own events first
    done = refunds.issue_refund(
        order,
        lines={order.lines[0].id: 1},
        reason="Arrived torn",
        idempotency_key=f"documents-{order.id}",
        by=support,
    )
    assert done.status == "succeeded"
    outbox.dispatch_pending()
    note = credit_note_for(done)
    assert note is not None and note.number == f"CN-{this_year()}-000001"
    assert numbering.invoice_for(order).number == f"INV-{this_year()}-000001"
    outbox.dispatch_pending()  # nothing left, nothing issued twice
    assert db.session.query(Document).filter_by(refund_id=done.id).count() == 1

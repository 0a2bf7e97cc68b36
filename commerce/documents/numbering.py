"""Invoice and credit note numbers: gapless and sequential per year, issued once per subject.

Numbers are issued at the business event, never by reading a document: an order's invoice when
it is placed (the "order.placed" outbox event, see tasks.py), a refund's credit note when it
went through ("refund.succeeded"); staff may also issue a missing one by an explicit POST.

A number is taken by one conditional row UPDATE on `document_sequence` inside the transaction
that writes the Document, so the row lock makes concurrent issuers wait in turn, and a rollback
(the Document never written) gives the number back. Locks are always taken in one order: the
refund row, the order row (as the refunds service does when it records a success), then the
invoice sequence and the credit note sequence, so issuers never deadlock with each other or
with a refund being recorded.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from babel.dates import get_timezone
from flask import current_app
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from commerce import audit
from commerce.db import transaction, utcnow
from commerce.documents.models import CREDIT_NOTE, INVOICE, Document, DocumentSequence
from commerce.errors import Conflict, NotFound
from commerce.extensions import db
from commerce.orders.models import CANCELLED, REFUND_SUCCEEDED, Order, Refund
from commerce.orders.services import record_event

PREFIXES = {INVOICE: "INV", CREDIT_NOTE: "CN"}
NOT_NUMBERED_INVOICE = "This order's invoice has not been issued yet."
NOT_NUMBERED_CREDIT_NOTE = "This refund's credit note has not been issued yet."
INVOICE_ISSUED, CREDIT_NOTE_ISSUED = "invoice.issued", "credit_note.issued"  # audit + timeline


def shop_year(moment: datetime) -> int:
    """The calendar year of a naive-UTC moment in the shop's time zone (tax years are local)."""
    zone = get_timezone(current_app.config["SHOP_TIMEZONE"])
    return moment.replace(tzinfo=UTC).astimezone(zone).year


def format_number(kind: str, year: int, sequence: int) -> str:
    return f"{PREFIXES[kind]}-{year}-{sequence:06d}"


def get_refund(refund_id: int) -> Refund:
    refund = db.session.get(Refund, refund_id)
    if refund is None:
        raise NotFound("No such refund.")
    return refund


def invoice_for(order: Order) -> Document | None:
    return db.session.scalar(
        select(Document).where(Document.order_id == order.id, Document.kind == INVOICE)
    )


def credit_note_for(refund: Refund) -> Document | None:
    return db.session.scalar(
        select(Document).where(Document.refund_id == refund.id, Document.kind == CREDIT_NOTE)
    )


def issue_invoice(order: Order, *, by: Any = None) -> Document:
    """The order's invoice, numbered now if it has none yet (idempotent: one per order).

    Refused for an order cancelled before any money was taken: there is nothing to invoice.
    """
    existing = invoice_for(order)
    if existing is not None:
        return existing
    with transaction():
        _lock(Order, order.id)
        existing = invoice_for(order)  # issued by someone we waited for
        if existing is not None:
            return existing
        if order.status == CANCELLED and not order.paid_total:
            raise Conflict(
                f"Order {order.name} was cancelled before payment; it gets no invoice.",
                order_id=order.id,
            )
        document = _issue(INVOICE, order_id=order.id)
        record_event(
            order,
            INVOICE_ISSUED,
            f"Invoice {document.number} issued.",
            by=by,
            number=document.number,
        )
        audit.record(
            by,
            INVOICE_ISSUED,
            order,
            after={"number": document.number, "document_id": document.id},
        )
    return document


def issue_credit_note(refund: Refund, *, by: Any = None) -> Document:
    """The refund's credit note, numbered now if it has none (idempotent: one per refund).

    A credit note corrects an invoice, so the order's invoice is issued first when missing.
    Only a refund that succeeded gets one: money that never went back is not credited.
    """
    existing = credit_note_for(refund)
    if existing is not None:
        return existing
    with transaction():
        locked = _lock(Refund, refund.id)
        _lock(Order, refund.order_id)
        existing = credit_note_for(refund)
        if existing is not None:
            return existing
        if locked is None or locked.status != REFUND_SUCCEEDED:
            raise Conflict(
                "Only a refund that went through gets a credit note.", refund_id=refund.id
            )
        order = db.session.get(Order, refund.order_id)
        assert order is not None  # the foreign key
        invoice = issue_invoice(order, by=by)
        document = _issue(CREDIT_NOTE, order_id=order.id, refund_id=refund.id)
        record_event(
            order,
            CREDIT_NOTE_ISSUED,
            f"Credit note {document.number} issued for a refund (corrects {invoice.number}).",
            by=by,
            number=document.number,
            refund_id=refund.id,
        )
        audit.record(
            by,
            CREDIT_NOTE_ISSUED,
            order,
            after={
                "number": document.number,
                "document_id": document.id,
                "refund_id": refund.id,
                "invoice": invoice.number,
            },
        )
    return document


def _lock(model: type[Any], row_id: int) -> Any:
    """Re-read a row under FOR NO KEY UPDATE on PostgreSQL, which still lets others insert rows
    that reference it (timeline entries); SQLite has one writer at a time anyway."""
    return db.session.scalar(
        select(model)
        .where(model.id == row_id)
        .with_for_update(key_share=True)
        .execution_options(populate_existing=True)
    )


def _issue(kind: str, *, order_id: int, refund_id: int | None = None) -> Document:
    issued_at = utcnow()
    year = shop_year(issued_at)
    sequence = _next_sequence(kind, year)
    document = Document(
        order_id=order_id,
        refund_id=refund_id,
        kind=kind,
        year=year,
        sequence=sequence,
        number=format_number(kind, year, sequence),
        issued_at=issued_at,
    )
    db.session.add(document)
    db.session.flush()
    return document


def _next_sequence(kind: str, year: int) -> int:
    """Take the next number of (kind, year): the row UPDATE holds its lock until our commit."""
    _ensure_sequence_row(kind, year)
    table = DocumentSequence.__table__
    return db.session.execute(
        update(table)
        .where(table.c.kind == kind, table.c.year == year)
        .values(last=table.c.last + 1)
        .returning(table.c.last)
    ).scalar_one()


def _ensure_sequence_row(kind: str, year: int) -> None:
    """The first number of a year creates its row; two first issuers at once must both pass."""
    table = DocumentSequence.__table__
    dialect = db.session.get_bind().dialect.name
    if dialect in ("postgresql", "sqlite"):
        if dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        db.session.execute(
            insert(table).values(kind=kind, year=year, last=0).on_conflict_do_nothing()
        )
        return
    exists = db.session.scalar(
        select(table.c.last).where(table.c.kind == kind, table.c.year == year)
    )
    if exists is None:
        try:
            with db.session.begin_nested():
                db.session.execute(table.insert().values(kind=kind, year=year, last=0))
        except IntegrityError:
            pass  # another issuer created it first; its row is what we update

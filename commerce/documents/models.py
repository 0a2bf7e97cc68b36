"""Issued documents and their numbers.

Invoice and credit note numbers are gapless and sequential per year (tax authorities ask for
it): the next number comes from `DocumentSequence` by a row update inside the transaction that
writes the Document, so a rolled-back issue gives its number back and two issues at once wait
for each other instead of sharing or skipping a number. The PDF itself is rendered from the
order's snapshot whenever it is asked for; the row fixes the number and the date.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from commerce.db import utcnow
from commerce.extensions import db

INVOICE, CREDIT_NOTE = "invoice", "credit_note"


class DocumentSequence(db.Model):
    __tablename__ = "document_sequence"

    kind: Mapped[str] = mapped_column(String(20), primary_key=True)
    year: Mapped[int] = mapped_column(primary_key=True)
    last: Mapped[int] = mapped_column(default=0)


class Document(db.Model):
    __tablename__ = "document"
    __table_args__ = (
        UniqueConstraint("kind", "year", "sequence"),
        CheckConstraint("kind IN ('invoice', 'credit_note')", name="kind_known"),
        Index("ix_document_order", "order_id", "kind"),
        # One invoice per order, whoever asks first (a partial unique index).
        Index(
            "uq_document_invoice_per_order",
            "order_id",
            unique=True,
            postgresql_where=text("kind = 'invoice'"),
            sqlite_where=text("kind = 'invoice'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("shop_order.id", ondelete="RESTRICT"))
    # A credit note belongs to one refund; an order has at most one invoice.
    refund_id: Mapped[int | None] = mapped_column(
        ForeignKey("refund.id", ondelete="RESTRICT"), unique=True
    )
    kind: Mapped[str] = mapped_column(String(20))
    year: Mapped[int]
    sequence: Mapped[int]
    number: Mapped[str] = mapped_column(String(40), unique=True)
    issued_at: Mapped[datetime] = mapped_column(default=utcnow)

"""The console's reads: the gift card list (keyset pages, newest first, by status or the last
four characters of the code), a card's ledger, a customer's store credit and its ledger, and
the rows of the CSV export."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select

from commerce import audit, paging
from commerce.csv_safe import BOM, SafeCsv
from commerce.db import service
from commerce.extensions import db
from commerce.giftcards.codes import normalize
from commerce.giftcards.models import (
    CARD_STATUSES,
    GiftCard,
    GiftCardEntry,
    StoreCredit,
    StoreCreditEntry,
)
from commerce.money import format_amount_plain

LEDGER_LIMIT = 200  # entries shown on a page, newest first


def _filtered(status: str, q: str) -> Select[Any]:
    stmt = select(GiftCard)
    if status in CARD_STATUSES:
        stmt = stmt.where(GiftCard.status == status)
    code = normalize(q)[-4:]
    if code:
        stmt = stmt.where(GiftCard.last4 == code)
    return stmt


def list_gift_cards(
    *, status: str = "", q: str = "", after: str | None, before: str | None, limit: int
) -> paging.Page:
    stmt = _filtered(status, q)
    keyset = paging.keyset_page(
        stmt,
        GiftCard.created_at,
        GiftCard.id,
        descending=True,
        after=after,
        before=before,
        limit=limit,
        parse=datetime.fromisoformat,
        scalars=True,
    )
    total, exact = paging.bounded_count(stmt)
    page = keyset.page(keyset.rows, lambda c: (c.created_at, c.id), total=total)
    page.total_exact = exact
    return page


def card_ledger(card_id: int) -> list[GiftCardEntry]:
    return list(
        db.session.scalars(
            select(GiftCardEntry)
            .where(GiftCardEntry.gift_card_id == card_id)
            .order_by(GiftCardEntry.id.desc())
            .limit(LEDGER_LIMIT)
        )
    )


def store_credit_with_ledger(customer_id: int) -> tuple[StoreCredit | None, list[StoreCreditEntry]]:
    credit = db.session.scalar(select(StoreCredit).where(StoreCredit.customer_id == customer_id))
    if credit is None:
        return None, []
    entries = db.session.scalars(
        select(StoreCreditEntry)
        .where(StoreCreditEntry.store_credit_id == credit.id)
        .order_by(StoreCreditEntry.id.desc())
        .limit(LEDGER_LIMIT)
    ).all()
    return credit, list(entries)


EXPORT_HEADER = (
    "id",
    "code_last4",
    "status",
    "currency",
    "initial_amount",
    "balance",
    "expires_at",
    "created_at",
    "order_id",
    "note",
)


@service
def export_gift_cards(*, status: str = "", q: str = "", by: Any) -> Iterator[str]:
    """Audit the export (who, which filter), then the filtered cards as CSV chunks: never a
    code, only its last four characters."""
    audit.record(
        by,
        "gift_card.export",
        subject_type="gift_card",
        subject_label="Gift cards CSV",
        after={"filter": {k: v for k, v in (("status", status), ("q", q)) if v}},
    )
    return _chunks(status, q)


def _chunks(status: str, q: str) -> Iterator[str]:
    out = SafeCsv()
    out.row(EXPORT_HEADER)
    yield BOM + out.take()
    for row in _export_rows(status, q):
        out.row(row)
        yield out.take()


def _export_rows(status: str, q: str) -> Iterator[list[Any]]:
    stmt = _filtered(status, q).order_by(GiftCard.id)
    for card in db.session.scalars(stmt):
        yield [
            card.id,
            card.last4,
            card.status,
            card.currency,
            format_amount_plain(card.initial_amount, card.currency),
            format_amount_plain(card.balance, card.currency),
            card.expires_at.date().isoformat() if card.expires_at else "",
            card.created_at.isoformat(sep=" ", timespec="seconds"),
            card.order_id or "",
            card.note,
        ]

"""Gift cards: issuing (by staff, or for an order's gift card line), adjusting, deactivating,
expiring, and the one way any balance moves (`move_card`, `move_credit`): a conditional UPDATE
whose WHERE refuses to go below zero, RETURNING the new balance that its ledger row records."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import current_app
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from commerce import audit, outbox
from commerce.db import service, transaction, utcnow
from commerce.errors import InvalidTransition, NotFound, ValidationError
from commerce.extensions import db
from commerce.giftcards.codes import code_hash, new_code, normalize
from commerce.giftcards.models import (
    ACTIVE,
    ADJUST,
    DEACTIVATED,
    EXPIRE,
    EXPIRED,
    ISSUE,
    GiftCard,
    GiftCardEntry,
    StoreCredit,
    StoreCreditEntry,
)
from commerce.money import format_money

MAX_NOTE = 500
MAX_REASON = 500
GIFT_CARD_ISSUED = "gift_card.issued"  # outbox: the buyer's email with the code


def shop_currency() -> str:
    return str(current_app.config["SHOP_CURRENCY"])


# -- the ledgers ---------------------------------------------------------------------------------


def _move(
    balances: Any,
    entries: Any,
    owner: str,
    row_id: int,
    amount: int,
    kind: str,
    *,
    only_if: tuple[Any, ...] = (),
    by: Any = None,
    key: str | None = None,
    **entry: Any,
) -> int | None:
    """One balance and its ledger (gift cards and store credit alike): add `amount` (negative:
    take) by one conditional UPDATE that never goes below zero, then book the ledger row."""
    stmt = update(balances).where(balances.id == row_id, *only_if)
    if amount < 0:
        stmt = stmt.where(balances.balance >= -amount)
    balance = db.session.execute(
        stmt.values(balance=balances.balance + amount, updated_at=utcnow())
        .returning(balances.balance)
        .execution_options(synchronize_session=False)
    ).scalar()
    if balance is None:
        return None
    db.session.add(
        entries(
            **{owner: row_id},
            kind=kind,
            amount=amount,
            balance_after=balance,
            by_id=getattr(by, "id", None),
            idempotency_key=key,
            created_at=utcnow(),
            **entry,
        )
    )
    return int(balance)


def move_card(
    card_id: int,
    amount: int,
    kind: str,
    *,
    reference: str = "",
    order_id: int | None = None,
    reason: str = "",
    by: Any = None,
    key: str | None = None,
    spendable_at: datetime | None = None,
) -> int | None:
    """(In the caller's transaction.) Add `amount` (negative: take) to the card's balance by one
    conditional UPDATE and book it in the ledger; the new balance, or None when the card cannot
    give that much (or, with `spendable_at`, is not active and unexpired then)."""
    spendable = (
        ()
        if spendable_at is None
        else (
            GiftCard.status == ACTIVE,
            (GiftCard.expires_at.is_(None)) | (GiftCard.expires_at > spendable_at),
        )
    )
    return _move(
        GiftCard,
        GiftCardEntry,
        "gift_card_id",
        card_id,
        amount,
        kind,
        only_if=spendable,
        by=by,
        key=key,
        reference=reference,
        order_id=order_id,
        reason=reason,
    )


def move_credit(
    credit_id: int,
    amount: int,
    kind: str,
    *,
    reference: str = "",
    order_id: int | None = None,
    reason: str = "",
    by: Any = None,
    key: str | None = None,
) -> int | None:
    """move_card for a customer's store credit."""
    return _move(
        StoreCredit,
        StoreCreditEntry,
        "store_credit_id",
        credit_id,
        amount,
        kind,
        by=by,
        key=key,
        reference=reference,
        order_id=order_id,
        reason=reason,
    )


def booked(key: str) -> bool:
    """Whether a ledger row with this idempotency key exists (a refund's credit, say)."""
    return (
        db.session.scalar(select(GiftCardEntry.id).where(GiftCardEntry.idempotency_key == key))
        is not None
        or db.session.scalar(
            select(StoreCreditEntry.id).where(StoreCreditEntry.idempotency_key == key)
        )
        is not None
    )


# -- reading -------------------------------------------------------------------------------------


def get_gift_card(card_id: int) -> GiftCard:
    card = db.session.get(GiftCard, card_id)
    if card is None:
        raise NotFound("No such gift card.")
    return card


def card_for_code(code: Any) -> GiftCard | None:
    text = normalize(code)
    if not text or len(text) > 40:
        return None
    return db.session.scalar(select(GiftCard).where(GiftCard.code_hash == code_hash(text)))


def _money(amount: int, currency: str) -> str:
    return format_money(amount, currency)


# -- issuing -------------------------------------------------------------------------------------


def _clean_note(note: Any, limit: int, field: str) -> str:
    text = str(note or "").strip()
    if len(text) > limit:
        raise ValidationError(f"At most {limit} characters.", field=field)
    return text


def _insert_card(code: str, **values: Any) -> GiftCard:
    card = GiftCard(code_hash=code_hash(code), last4=normalize(code)[-4:], balance=0, **values)
    db.session.add(card)
    db.session.flush()
    return card


@service
def issue_gift_card(
    *,
    amount: int,
    note: Any = "",
    expires_at: datetime | None = None,
    recipient_email: str = "",
    by: Any,
    now: datetime | None = None,
) -> tuple[GiftCard, str]:
    """A staff member issues a card worth `amount` (shop currency); the card and its code,
    which is shown this once and never stored."""
    now = now or utcnow()
    errors: dict[Any, list[str]] = {}
    if not isinstance(amount, int) or amount <= 0:
        errors["amount"] = ["Enter an amount above zero."]
    if expires_at is not None and expires_at <= now:
        errors["expires_at"] = ["Choose a date in the future."]
    try:
        note = _clean_note(note, MAX_NOTE, "note")
    except ValidationError as exc:
        errors.update(exc.errors)
    if errors:
        raise ValidationError(errors=errors)
    currency = shop_currency()
    with transaction():
        code = new_code()
        card = _insert_card(
            code,
            currency=currency,
            initial_amount=amount,
            status=ACTIVE,
            expires_at=expires_at,
            note=note,
            recipient_email=recipient_email,
            issued_by_id=getattr(by, "id", None),
            created_at=now,
            updated_at=now,
        )
        move_card(card.id, amount, ISSUE, reason=note, by=by)
        db.session.refresh(card)
        audit.record(
            by,
            "gift_card.issue",
            card,
            after={
                "amount": _money(amount, currency),
                "expires_at": expires_at.date().isoformat() if expires_at else "never",
                "note": note,
            },
        )
    return card, code


def issue_for_order_line(
    *,
    order_id: int,
    order_line_id: int,
    quantity: int,
    unit_amount: int,
    currency: str,
    email: str,
) -> int:
    """(In the caller's transaction: the order became paid.) One card per unit of a gift card
    line, each worth the unit's price, once: a unit already issued is skipped (unique line and
    unit). The buyer's email with the codes goes through the outbox. The number issued now."""
    issued = 0
    for unit in range(1, quantity + 1):
        exists = db.session.scalar(
            select(GiftCard.id).where(
                GiftCard.order_line_id == order_line_id, GiftCard.unit == unit
            )
        )
        if exists is not None:
            continue
        try:
            with db.session.begin_nested():
                code = new_code()
                card = _insert_card(
                    code,
                    code_sealed=code,
                    currency=currency,
                    initial_amount=unit_amount,
                    status=ACTIVE,
                    recipient_email=email,
                    order_id=order_id,
                    order_line_id=order_line_id,
                    unit=unit,
                    created_at=utcnow(),
                    updated_at=utcnow(),
                )
                move_card(card.id, unit_amount, ISSUE, reference=f"order:{order_id}")
        except IntegrityError:  # issued meanwhile by another worker
            continue
        issued += 1
    if issued:
        outbox.enqueue(GIFT_CARD_ISSUED, {"order_id": order_id, "order_line_id": order_line_id})
    return issued


# -- changing ------------------------------------------------------------------------------------


def _checked_adjustment(amount: Any, reason: Any) -> str:
    """A staff adjustment's reason, cleaned; ValidationError at the fields when the amount is
    zero or not whole minor units, or no reason is given."""
    reason = _clean_note(reason, MAX_REASON, "reason")
    errors: dict[Any, list[str]] = {}
    if not reason:
        errors["reason"] = ["Say why the balance changes."]
    if not isinstance(amount, int) or amount == 0:
        errors["amount"] = ["Enter an amount other than zero."]
    if errors:
        raise ValidationError(errors=errors)
    return reason


@service
def adjust_gift_card(card: GiftCard, *, amount: Any, reason: Any, by: Any) -> GiftCard:
    """Add to (or, negative, take from) a card's balance, with a reason; never below zero."""
    reason = _checked_adjustment(amount, reason)
    if card.status != ACTIVE:
        raise InvalidTransition(f"This card is {card.status}: its balance stays.", field="amount")
    before = card.balance
    with transaction():
        balance = move_card(card.id, amount, ADJUST, reason=reason, by=by)
        if balance is None:
            raise ValidationError(
                f"The card holds {_money(card.balance, card.currency)}: it cannot give "
                f"{_money(-amount, card.currency)}.",
                field="amount",
            )
        db.session.refresh(card)
        audit.record(
            by,
            "gift_card.adjust",
            card,
            before={"balance": _money(before, card.currency)},
            after={"balance": _money(balance, card.currency), "reason": reason},
        )
    return card


@service
def deactivate_gift_card(card: GiftCard, *, by: Any) -> GiftCard:
    """The card can no longer be spent (lost, fraud); its balance stays on record."""
    with transaction():
        moved = db.session.execute(
            update(GiftCard)
            .where(GiftCard.id == card.id, GiftCard.status == ACTIVE)
            .values(status=DEACTIVATED, updated_at=utcnow())
            .execution_options(synchronize_session=False)
        ).rowcount
        if not moved:
            raise InvalidTransition("This card is not active.", field="status")
        db.session.refresh(card)
        audit.record(
            by,
            "gift_card.deactivate",
            card,
            before={"status": ACTIVE},
            after={"status": card.status},
        )
    return card


def deactivate_refunded_cards(order_line_id: int, quantity: int, *, by: Any) -> list[GiftCard]:
    """(In the refund's last transaction.) Units of a gift card line were refunded: as many of
    its cards stop working, unspent ones first, so a refunded card cannot be spent too. The
    cards deactivated (fewer when some were deactivated already)."""
    cards = db.session.scalars(
        select(GiftCard)
        .where(GiftCard.order_line_id == order_line_id, GiftCard.status == ACTIVE)
        .order_by((GiftCard.balance == GiftCard.initial_amount).desc(), GiftCard.unit.desc())
        .limit(quantity)
    ).all()
    for card in cards:
        card.status = DEACTIVATED
        card.updated_at = utcnow()
        audit.record(
            by,
            "gift_card.deactivate",
            card,
            before={"status": ACTIVE},
            after={"status": DEACTIVATED, "reason": "its order line was refunded"},
        )
    return list(cards)


def expire_gift_cards(*, now: datetime | None = None, limit: int = 500) -> int:
    """Cards past their date expire: the status changes and what is left leaves through the
    ledger (an `expire` row), each card in its own short transaction. The number expired."""
    now = now or utcnow()
    with transaction(read_only=True):
        due = db.session.scalars(
            select(GiftCard.id)
            .where(GiftCard.status == ACTIVE, GiftCard.expires_at <= now)
            .order_by(GiftCard.expires_at)
            .limit(limit)
        ).all()
    expired = 0
    for card_id in due:
        with transaction():
            balance = db.session.execute(
                update(GiftCard)
                .where(GiftCard.id == card_id, GiftCard.status == ACTIVE)
                .values(status=EXPIRED, updated_at=now)
                .returning(GiftCard.balance)
                .execution_options(synchronize_session=False)
            ).scalar()
            if balance is None:
                continue
            if balance:
                move_card(card_id, -int(balance), EXPIRE, reason="Expired")
            expired += 1
    return expired


# -- store credit --------------------------------------------------------------------------------


def credit_of(customer_id: int) -> StoreCredit | None:
    return db.session.scalar(select(StoreCredit).where(StoreCredit.customer_id == customer_id))


def credit_account(customer_id: int) -> StoreCredit:
    """(In the caller's transaction.) The customer's store credit, opened at zero if need be."""
    credit = credit_of(customer_id)
    if credit is not None:
        return credit
    try:
        with db.session.begin_nested():
            credit = StoreCredit(customer_id=customer_id, currency=shop_currency(), balance=0)
            db.session.add(credit)
            db.session.flush()
    except IntegrityError:  # opened meanwhile
        credit = credit_of(customer_id)
        assert credit is not None
    return credit


@service
def adjust_store_credit(customer: Any, *, amount: Any, reason: Any, by: Any) -> StoreCredit:
    """Support adds to (or takes from) a customer's store credit, with a reason; audited."""
    reason = _checked_adjustment(amount, reason)
    with transaction():
        credit = credit_account(customer.id)
        before = credit.balance
        balance = move_credit(credit.id, amount, ADJUST, reason=reason, by=by)
        if balance is None:
            raise ValidationError(
                f"The store credit is {_money(before, credit.currency)}: it cannot give "
                f"{_money(-amount, credit.currency)}.",
                field="amount",
            )
        db.session.refresh(credit)
        audit.record(
            by,
            "store_credit.adjust",
            customer,
            before={"store_credit": _money(before, credit.currency)},
            after={"store_credit": _money(balance, credit.currency), "reason": reason},
        )
    return credit

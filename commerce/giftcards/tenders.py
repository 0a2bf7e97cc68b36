"""Gift cards and store credit paying for an order: applied at checkout, held while the order is
placed, redeemed on the order, released if the placement fails, refunded back.

The hold is taken in place_order's first transaction, before any card is authorized: each
applied tender takes min(its balance, what is still due) by one conditional UPDATE
(`balance = balance - :amt WHERE balance >= :amt`). Two orders spending the same card at once
each read the balance, and the second one's UPDATE, waiting on the first one's row lock, finds
the balance changed and matches no row: that placement is refused (Conflict, nothing held, no
card charged) and the shopper reviews the new balance. The card can never go below zero (and
the CHECK would stop it if the code ever tried).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import current_app
from sqlalchemy import delete, select, update
from sqlalchemy.orm import selectinload

from commerce import throttle
from commerce.db import service, transaction, utcnow
from commerce.errors import Conflict, TooManyAttempts, ValidationError
from commerce.extensions import db
from commerce.giftcards.codes import normalize
from commerce.giftcards.models import (
    ACTIVE,
    APPLIED,
    GIFT_CARD,
    HELD,
    REDEEM,
    REDEEMED,
    REFUND,
    RELEASE,
    STORE_CREDIT,
    GiftCard,
    GiftCardEntry,
    StoreCredit,
    StoreCreditEntry,
    Tender,
)
from commerce.giftcards.services import (
    booked,
    card_for_code,
    credit_account,
    credit_of,
    move_card,
    move_credit,
)
from commerce.money import format_money

CODE_FIELD = "gift_card_code"
MAX_CARDS = 5  # gift cards on one checkout


# -- applying at checkout ------------------------------------------------------------------------


def tenders_for(reference: str) -> list[Tender]:
    """The checkout's tenders in the order they are spent: gift cards as applied, then credit."""
    tenders = db.session.scalars(
        select(Tender)
        .where(Tender.reference == reference)
        .options(selectinload(Tender.gift_card))
        .order_by(Tender.id)
    ).all()
    return sorted(tenders, key=lambda t: (t.kind == STORE_CREDIT, t.id))


def _spendable(card: GiftCard, now: datetime) -> str | None:
    """Why a card cannot be spent now, or None."""
    if card.status != ACTIVE:
        return f"This gift card is {card.status}."
    if card.expires_at is not None and card.expires_at <= now:
        return "This gift card has expired."
    if card.balance <= 0:
        return "This gift card has no balance left."
    return None


def _budgets(attempt_key: str | None, client: str | None) -> tuple[tuple[str, str, Any], ...]:
    config = current_app.config
    return (
        (config["GIFT_CARD_CHECKOUT_RATE_LIMIT"], "gift-card-checkout", attempt_key),
        (config["GIFT_CARD_ADDRESS_RATE_LIMIT"], "gift-card-address", client),
    )


@service
def apply_gift_card(
    reference: str,
    code: Any,
    *,
    currency: str,
    attempt_key: str | None,
    client: str | None,
    now: datetime | None = None,
) -> Tender:
    """Apply a gift card to a checkout by its code. Refused codes (unknown, spent, expired,
    deactivated) spend the checkout's and the client address's guessing budgets (like coupon
    codes); a spent budget refuses any code with TooManyAttempts (429) for a while."""
    now = now or utcnow()
    budgets = _budgets(attempt_key, client)
    waits = [w for s, scope, key in budgets if (w := throttle.retry_after(s, scope, key))]
    if waits:
        raise TooManyAttempts(
            "Too many gift card codes were tried. Please try again in "
            f"{throttle.in_words(max(waits))}.",
            field=CODE_FIELD,
            retry_after=max(waits),
        )
    text = normalize(code)
    if not text:
        raise ValidationError("Enter the gift card's code.", field=CODE_FIELD)
    card = card_for_code(text)
    problem = "That gift card code is not valid." if card is None else _spendable(card, now)
    if card is not None and problem is None and card.currency != currency:
        problem = f"This gift card is in {card.currency}; this order is in {currency}."
    if problem is not None:
        for setting, scope, key in budgets:
            throttle.spend(setting, scope, key)
        raise ValidationError(problem, field=CODE_FIELD)
    assert card is not None
    existing = db.session.scalar(
        select(Tender).where(Tender.reference == reference, Tender.gift_card_id == card.id)
    )
    if existing is not None:
        return existing
    applied = tenders_for(reference)
    if sum(t.kind == GIFT_CARD for t in applied) >= MAX_CARDS:
        raise ValidationError(
            f"At most {MAX_CARDS} gift cards pay for one order.", field=CODE_FIELD
        )
    release_tenders(reference)  # a change of plan: nothing stays held
    tender = Tender(reference=reference, kind=GIFT_CARD, gift_card_id=card.id, status=APPLIED)
    db.session.add(tender)
    db.session.flush()
    return tender


@service
def apply_store_credit(reference: str, *, customer_id: int | None) -> Tender:
    """Use the signed-in customer's store credit on the checkout."""
    credit = credit_of(customer_id) if customer_id is not None else None
    if credit is None or credit.balance <= 0:
        raise ValidationError("You have no store credit to use.", field="store_credit")
    existing = db.session.scalar(
        select(Tender).where(Tender.reference == reference, Tender.store_credit_id == credit.id)
    )
    if existing is not None:
        return existing
    release_tenders(reference)
    tender = Tender(reference=reference, kind=STORE_CREDIT, store_credit_id=credit.id)
    db.session.add(tender)
    db.session.flush()
    return tender


@service
def remove_tender(reference: str, tender_id: Any) -> None:
    """Take a gift card (or the store credit) off the checkout; anything held goes back."""
    try:
        tender_id = int(tender_id)
    except (TypeError, ValueError):
        return
    release_tenders(reference)
    db.session.execute(
        delete(Tender).where(
            Tender.id == tender_id, Tender.reference == reference, Tender.status == APPLIED
        )
    )


@dataclass(frozen=True)
class TenderLine:
    """A tender as the payment step shows it: what it would pay of the total now."""

    id: int
    label: str
    balance: int
    pays: int
    currency: str


def preview(reference: str, total: int, currency: str) -> list[TenderLine]:
    """What each applied tender would pay of `total`, in spending order (nothing is taken)."""
    lines, due = [], total
    for tender in tenders_for(reference):
        balance = _balance(tender) + (tender.amount if tender.status == HELD else 0)
        pays = min(balance, due)
        due -= pays
        lines.append(TenderLine(tender.id, tender.label, balance, pays, currency))
    return lines


def _balance(tender: Tender) -> int:
    if tender.kind == GIFT_CARD:
        return tender.gift_card.balance if tender.gift_card is not None else 0
    credit = db.session.get(StoreCredit, tender.store_credit_id)
    return credit.balance if credit is not None else 0


# -- placing the order ---------------------------------------------------------------------------


def hold_tenders(reference: str, *, total: int, now: datetime) -> int:
    """(In place_order's first transaction.) Take what the applied tenders pay of `total`, each
    by a conditional UPDATE; what they pay in all. Tenders already held (a retry, a payment the
    bank wanted confirmed) are kept as they are. Conflict when a balance changed meanwhile."""
    tenders = tenders_for(reference)
    if not tenders:
        return 0
    if any(t.status == HELD for t in tenders):
        return sum(t.amount for t in tenders if t.status == HELD)
    due = total
    for tender in tenders:
        if due <= 0:
            break
        if tender.kind == GIFT_CARD:
            card = db.session.get(GiftCard, tender.gift_card_id, populate_existing=True)
            want = min(card.balance, due) if card is not None else 0
            taken = (
                move_card(card.id, -want, REDEEM, reference=reference, spendable_at=now)
                if card is not None and want > 0
                else None
            )
        else:
            credit = db.session.get(StoreCredit, tender.store_credit_id, populate_existing=True)
            want = min(credit.balance, due) if credit is not None else 0
            taken = (
                move_credit(credit.id, -want, REDEEM, reference=reference)
                if credit is not None and want > 0
                else None
            )
        if taken is None:
            raise Conflict(
                f"The balance of {tender.label} changed (or it cannot be used any more). "
                "Review your payment and place the order again; you have not been charged.",
                field=CODE_FIELD if tender.kind == GIFT_CARD else "store_credit",
            )
        tender.status, tender.amount = HELD, want
        due -= want
    db.session.flush()
    return total - due


def held_total(reference: str) -> int:
    return sum(
        db.session.scalars(
            select(Tender.amount).where(Tender.reference == reference, Tender.status == HELD)
        )
    )


def release_tenders(reference: str) -> int:
    """(In the caller's transaction.) A placement failed (declined card, sold out, given up):
    what its tenders held goes back to the balances, through the ledger. What was released."""
    held = db.session.scalars(
        select(Tender).where(Tender.reference == reference, Tender.status == HELD)
    ).all()
    released = 0
    for tender in held:
        if tender.kind == GIFT_CARD:
            move_card(tender.gift_card_id, tender.amount, RELEASE, reference=reference)
        else:
            move_credit(tender.store_credit_id, tender.amount, RELEASE, reference=reference)
        released += tender.amount
        tender.status, tender.amount = APPLIED, 0
    if held:
        db.session.flush()
    return released


def redeem_tenders(reference: str, *, order_id: int) -> int:
    """(In the order's transaction.) The held tenders pay for the order; what they paid."""
    held = db.session.scalars(
        select(Tender).where(Tender.reference == reference, Tender.status == HELD)
    ).all()
    for tender in held:
        tender.status, tender.order_id = REDEEMED, order_id
    if held:
        for table in (GiftCardEntry, StoreCreditEntry):
            db.session.execute(
                update(table)
                .where(table.reference == reference, table.kind == REDEEM, table.order_id.is_(None))
                .values(order_id=order_id)
                .execution_options(synchronize_session=False)
            )
        db.session.flush()
    return sum(t.amount for t in held)


def order_tenders(order_id: int) -> list[Tender]:
    """The gift cards and store credit that paid for an order (invoices, refunds, the page)."""
    return list(
        db.session.scalars(
            select(Tender)
            .where(Tender.order_id == order_id, Tender.status == REDEEMED)
            .options(selectinload(Tender.gift_card))
            .order_by(Tender.id)
        )
    )


def payment_lines(order_id: int, currency: str) -> list[tuple[str, str]]:
    """(label, amount) per tender, as invoices print their payments."""
    return [(t.label, format_money(t.amount, currency)) for t in order_tenders(order_id)]


# -- refunds -------------------------------------------------------------------------------------


def reserve_tender_refund(order_id: int, amount: int) -> list[list[int]]:
    """(In the refund's first transaction.) Up to `amount` goes back to the order's tenders,
    gift cards first: each tender's `refunded` counter is raised by a conditional UPDATE (never
    past what it paid). The plan: [[tender_id, amount], ...]."""
    plan: list[list[int]] = []
    left = amount
    for tender in order_tenders(order_id):
        if left <= 0:
            break
        part = min(tender.amount - tender.refunded, left)
        if part <= 0:
            continue
        moved = db.session.execute(
            update(Tender)
            .where(Tender.id == tender.id, Tender.refunded + part <= Tender.amount)
            .values(refunded=Tender.refunded + part)
            .execution_options(synchronize_session=False)
        ).rowcount
        if moved:
            plan.append([tender.id, part])
            left -= part
    return plan


def give_back_tender_refund(plan: list[list[int]]) -> None:
    """Undo reserve_tender_refund (the refund failed)."""
    for tender_id, part in plan:
        db.session.execute(
            update(Tender)
            .where(Tender.id == tender_id, Tender.refunded >= part)
            .values(refunded=Tender.refunded - part)
            .execution_options(synchronize_session=False)
        )


def credit_tender_refund(plan: list[list[int]], *, refund_id: int, order_id: int, by: Any) -> None:
    """(In the refund's last transaction.) The planned parts go back onto the cards and credit,
    each booked once (its ledger row's key)."""
    for tender_id, part in plan:
        key = f"refund:{refund_id}:{tender_id}"
        tender = db.session.get(Tender, tender_id)
        if tender is None or booked(key):
            continue
        reference = f"refund:{refund_id}"
        if tender.kind == GIFT_CARD:
            move_card(
                tender.gift_card_id,
                part,
                REFUND,
                reference=reference,
                order_id=order_id,
                by=by,
                key=key,
            )
        else:
            move_credit(
                tender.store_credit_id,
                part,
                REFUND,
                reference=reference,
                order_id=order_id,
                by=by,
                key=key,
            )


def refund_to_store_credit(
    customer_id: int, amount: int, *, refund_id: int, order_id: int, reason: str, by: Any
) -> int:
    """(In the refund's last transaction.) A refund paid out as the customer's store credit,
    booked once; the new balance."""
    key = f"refund:{refund_id}:store-credit"
    credit = credit_account(customer_id)
    if booked(key):
        return credit.balance
    balance = move_credit(
        credit.id,
        amount,
        REFUND,
        reference=f"refund:{refund_id}",
        order_id=order_id,
        reason=reason,
        by=by,
        key=key,
    )
    assert balance is not None
    return balance


def tendered_on_order(order_id: int) -> int:
    with transaction(read_only=True):
        return sum(t.amount for t in order_tenders(order_id))

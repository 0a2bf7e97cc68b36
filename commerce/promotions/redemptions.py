"""Redemptions: the uses of promotions and codes, counted under their limits without races.

A use is taken by conditional UPDATEs, like stock (never read-then-write in Python):

    UPDATE promotion   SET times_used = times_used + 1 WHERE id = :p AND times_used < :limit
    UPDATE coupon_code SET times_used = times_used + 1 WHERE id = :c AND times_used < :per_code
    UPDATE promotion_usage SET times_used = times_used + 1
        WHERE promotion_id = :p AND identity = :who AND times_used < :per_customer

and the row count says whether it fitted; the CHECK constraints are the last guard. Rows are
touched in promotion id order (promotion, then its code, then its usage rows), so two checkouts
using the same promotions never deadlock.

Checkout takes the uses in two steps (see commerce.checkout.services.place_order): `hold_uses`
commits a HELD use before the card is authorized, so a shopper whose code ran out is told so
before any money moves; `redeem_uses`, in the transaction that creates the order, turns the
held uses into REDEEMED ones carrying the order (or takes a use then, if the hold lapsed). A
placement that fails gives its held uses back (`release_uses`); a held use left behind by a
crash lapses at `expires_at` and is given back by `release_expired_holds` (run when a limit is
reached, and periodically). Cancelling an order gives its redeemed uses back.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, true, update
from sqlalchemy.dialects import postgresql, sqlite

from commerce.db import service, transaction, utcnow
from commerce.errors import Conflict
from commerce.extensions import db
from commerce.promotions.models import (
    HELD,
    REDEEMED,
    RELEASED,
    CouponCode,
    Promotion,
    PromotionUsage,
    Redemption,
)

DEFAULT_HOLD = timedelta(minutes=10)


class PromotionUnavailable(Conflict):
    """A promotion or code the shopper counted on can no longer be used (its limit was
    reached meanwhile); nothing was charged and no order made."""

    code = "promotion_unavailable"


@dataclass(frozen=True)
class Use:
    """One promotion an order gets (with the code that unlocked it, if any) and what it took."""

    promotion_id: int
    amount: int = 0
    code: str = ""


# -- counters -----------------------------------------------------------------------------------


def _ensure_usage_rows(promotion_id: int, identities: Sequence[str]) -> None:
    if not identities:
        return
    dialect = db.session.get_bind().dialect.name
    module = postgresql if dialect == "postgresql" else sqlite
    stmt = module.insert(PromotionUsage).values(
        [{"promotion_id": promotion_id, "identity": who, "times_used": 0} for who in identities]
    )
    db.session.execute(stmt.on_conflict_do_nothing())


def _count_use(counter: Any, limit: int | None, *where: Any) -> bool:
    """One more use on the row(s) `where` picks, if `counter` is still below `limit`: the
    conditional UPDATE's row count is the guard, as for stock."""
    table = counter.class_
    return (
        db.session.execute(
            update(table)
            .where(*where, (counter < limit) if limit is not None else true())
            .values({counter: counter + 1})
            .execution_options(synchronize_session=False)
        ).rowcount
        == 1
    )


def _take_counters(
    promotion: Promotion, coupon: CouponCode | None, identities: Sequence[str]
) -> str | None:
    """Count one use; None when it fitted, else the reason (the caller rolls back)."""
    if not _count_use(Promotion.times_used, promotion.usage_limit, Promotion.id == promotion.id):
        return f"{promotion.name} has reached its usage limit"
    if coupon is not None and not _count_use(
        CouponCode.times_used, promotion.usage_limit_per_code, CouponCode.id == coupon.id
    ):
        return f"the code {coupon.code} has been used up"
    _ensure_usage_rows(promotion.id, identities)
    for who in sorted(identities):
        if not _count_use(
            PromotionUsage.times_used,
            promotion.usage_limit_per_customer,
            PromotionUsage.promotion_id == promotion.id,
            PromotionUsage.identity == who,
        ):
            return f"{promotion.name} has already been used by this customer"
    return None


def _try_counters(
    promotion: Promotion, coupon: CouponCode | None, identities: Sequence[str]
) -> str | None:
    """_take_counters in a savepoint: a use that does not fit leaves no partial count."""
    savepoint = db.session.begin_nested()
    why = _take_counters(promotion, coupon, identities)
    if why is None:
        savepoint.commit()
    else:
        savepoint.rollback()
    return why


def _give_back(redemption: Redemption, now: datetime) -> bool:
    """Release one held or redeemed use exactly once (its status in the WHERE decides)."""
    moved = db.session.execute(
        update(Redemption)
        .where(Redemption.id == redemption.id, Redemption.status == redemption.status)
        .where(Redemption.status.in_((HELD, REDEEMED)))
        .values(status=RELEASED, released_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    if moved != 1:
        return False
    db.session.execute(
        update(Promotion)
        .where(Promotion.id == redemption.promotion_id, Promotion.times_used > 0)
        .values(times_used=Promotion.times_used - 1)
        .execution_options(synchronize_session=False)
    )
    if redemption.coupon_code_id is not None:
        db.session.execute(
            update(CouponCode)
            .where(CouponCode.id == redemption.coupon_code_id, CouponCode.times_used > 0)
            .values(times_used=CouponCode.times_used - 1)
            .execution_options(synchronize_session=False)
        )
    for who in sorted(redemption.identities or []):
        db.session.execute(
            update(PromotionUsage)
            .where(
                PromotionUsage.promotion_id == redemption.promotion_id,
                PromotionUsage.identity == who,
                PromotionUsage.times_used > 0,
            )
            .values(times_used=PromotionUsage.times_used - 1)
            .execution_options(synchronize_session=False)
        )
    return True


def _release_all(redemptions: Iterable[Redemption], now: datetime) -> int:
    ordered = sorted(redemptions, key=lambda r: (r.promotion_id, r.id))
    return sum(1 for r in ordered if _give_back(r, now))


# -- taking uses --------------------------------------------------------------------------------


def _load(uses: Sequence[Use]) -> tuple[dict[int, Promotion], dict[str, CouponCode]]:
    ids = sorted({use.promotion_id for use in uses})
    promotions = {
        p.id: p for p in db.session.scalars(select(Promotion).where(Promotion.id.in_(ids)))
    }
    codes = sorted({use.code for use in uses if use.code})
    coupons = (
        {
            c.code: c
            for c in db.session.scalars(select(CouponCode).where(CouponCode.code.in_(codes)))
        }
        if codes
        else {}
    )
    return promotions, coupons


def _take(
    use: Use,
    promotion: Promotion | None,
    coupon: CouponCode | None,
    *,
    reference: str,
    identities: Sequence[str],
    currency: str,
    status: str,
    now: datetime,
    hold_for: timedelta,
) -> Redemption:
    if promotion is None:
        raise PromotionUnavailable("This promotion no longer exists.", field="coupon_code")
    if coupon is not None and coupon.promotion_id != promotion.id:
        coupon = None
    why = _try_counters(promotion, coupon, identities)
    # A crashed checkout's lapsed hold may be what fills the limit: give those back, retry.
    if why is not None and release_expired_holds(now=now, promotion_id=promotion.id):
        why = _try_counters(promotion, coupon, identities)
    if why is not None:
        label = f"The code {use.code}" if use.code else promotion.name
        raise PromotionUnavailable(
            f"{label} can no longer be used: {why}. Remove it to continue; you have not been"
            " charged.",
            field="coupon_code",
            promotion_id=promotion.id,
            coupon_code=use.code,
        )
    redemption = Redemption(
        promotion_id=promotion.id,
        coupon_code_id=coupon.id if coupon is not None else None,
        code=use.code,
        reference=reference,
        status=status,
        amount=use.amount,
        currency=currency,
        identities=sorted(identities),
        created_at=now,
        expires_at=now + hold_for if status == HELD else None,
        redeemed_at=now if status == REDEEMED else None,
    )
    db.session.add(redemption)
    return redemption


def _live(reference: str) -> list[Redemption]:
    return list(
        db.session.scalars(
            select(Redemption)
            .where(Redemption.reference == reference, Redemption.status.in_((HELD, REDEEMED)))
            .order_by(Redemption.promotion_id, Redemption.id)
            .execution_options(populate_existing=True)
        )
    )


def _settle_held(
    reference: str, uses: Sequence[Use], now: datetime
) -> tuple[dict[int, Redemption], dict[int, Use], dict[int, Promotion], dict[str, CouponCode]]:
    """The uses this reference holds and wants (by promotion id), with the uses it holds but no
    longer wants given back, and the wanted promotions and codes loaded."""
    live = {r.promotion_id: r for r in _live(reference) if r.status == HELD}
    wanted = {use.promotion_id: use for use in uses}
    _release_all([r for pid, r in live.items() if pid not in wanted], now)
    promotions, coupons = _load(uses)
    return live, wanted, promotions, coupons


@service
def hold_uses(
    reference: str,
    uses: Sequence[Use],
    *,
    identities: Sequence[str],
    currency: str,
    now: datetime | None = None,
    hold_for: timedelta = DEFAULT_HOLD,
) -> list[Redemption]:
    """Count the uses for a checkout about to pay, all or none (PromotionUnavailable names the
    first that no longer fits). Re-entrant: uses this reference already holds are kept (their
    hold extended), ones it no longer needs are given back."""
    now = now or utcnow()
    live, wanted, promotions, coupons = _settle_held(reference, uses, now)
    held = []
    for pid in sorted(wanted):
        use = wanted[pid]
        current = live.get(pid)
        if current is not None and current.code == use.code:
            current.expires_at = now + hold_for
            current.amount = use.amount
            held.append(current)
            continue
        if current is not None:
            _give_back(current, now)
        held.append(
            _take(
                use,
                promotions.get(pid),
                coupons.get(use.code),
                reference=reference,
                identities=identities,
                currency=currency,
                status=HELD,
                now=now,
                hold_for=hold_for,
            )
        )
    db.session.flush()
    return held


@service
def redeem_uses(
    reference: str,
    uses: Sequence[Use],
    *,
    order_id: int,
    identities: Sequence[str],
    currency: str,
    now: datetime | None = None,
) -> list[Redemption]:
    """The order exists (call inside its transaction): its uses become redeemed, each held one
    converted, a missing one taken now (PromotionUnavailable if it no longer fits, rolling the
    order back), and held ones it did not use given back."""
    now = now or utcnow()
    live, wanted, promotions, coupons = _settle_held(reference, uses, now)
    redeemed = []
    for pid in sorted(wanted):
        use = wanted[pid]
        current = live.get(pid)
        if current is not None and current.code == use.code:
            moved = db.session.execute(
                update(Redemption)
                .where(Redemption.id == current.id, Redemption.status == HELD)
                .values(
                    status=REDEEMED,
                    order_id=order_id,
                    amount=use.amount,
                    redeemed_at=now,
                    expires_at=None,
                )
                .execution_options(synchronize_session=False)
            ).rowcount
            if moved == 1:
                redeemed.append(current)
                continue
        elif current is not None:
            _give_back(current, now)
        redemption = _take(
            use,
            promotions.get(pid),
            coupons.get(use.code),
            reference=reference,
            identities=identities,
            currency=currency,
            status=REDEEMED,
            now=now,
            hold_for=DEFAULT_HOLD,
        )
        redemption.order_id = order_id
        redeemed.append(redemption)
    db.session.flush()
    return redeemed


def release_uses(
    reference: str | None = None,
    *,
    order_id: int | None = None,
    held_only: bool = False,
    now: datetime | None = None,
) -> int:
    """Give back a checkout's uses (by reference) or an order's (cancelled); returns how many."""
    now = now or utcnow()
    stmt = select(Redemption).where(
        Redemption.status.in_((HELD,) if held_only else (HELD, REDEEMED))
    )
    if order_id is not None:
        stmt = stmt.where(Redemption.order_id == order_id)
    elif reference:
        stmt = stmt.where(Redemption.reference == reference)
    else:
        return 0
    with transaction():
        return _release_all(db.session.scalars(stmt).all(), now)


@service
def release_expired_holds(
    *, now: datetime | None = None, promotion_id: int | None = None, limit: int = 1000
) -> int:
    """Held uses past their time (a checkout that never finished) go back; returns how many."""
    now = now or utcnow()
    stmt = (
        select(Redemption)
        .where(Redemption.status == HELD, Redemption.expires_at < now)
        .order_by(Redemption.promotion_id, Redemption.id)
        .limit(limit)
    )
    if promotion_id is not None:
        stmt = stmt.where(Redemption.promotion_id == promotion_id)
    return _release_all(db.session.scalars(stmt).all(), now)


def redemptions_for_order(order_id: int) -> list[Redemption]:
    return list(
        db.session.scalars(
            select(Redemption).where(Redemption.order_id == order_id).order_by(Redemption.id)
        )
    )

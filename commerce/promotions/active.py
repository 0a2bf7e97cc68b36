"""The live promotions for a cart: the compiled set (cached per process), codes, usage limits.

Caching: compiling promotions (validating rows, building selectors) costs far more than
evaluating them, so each process keeps the compiled set of enabled, not-ended promotions keyed
by the database and the token of the single `promotion_revision` row. Every promotion change
(commerce.promotions.services) writes a new random token in its transaction, so a price_cart
call costs one primary-key read while nothing changed and every process (gunicorn workers,
Celery) sees a change at its next call; a rolled-back change leaves the old token, whose set
is still right. Scheduled promotions are in the set and switch on by the clock (the engine
derives the status at evaluation), so no job flips them. Usage counters are read per call, and
only for promotions that could apply and have limits.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import current_app
from sqlalchemy import func, or_, select
from sqlalchemy.orm import selectinload

from commerce.db import forget, once_per_transaction, utcnow
from commerce.extensions import db
from commerce.money import format_money
from commerce.promotions.engine import (
    CompiledPromotion,
    Evaluation,
    Item,
    Shopper,
    compile_promotion,
    evaluate,
    in_order,
)
from commerce.promotions.models import (
    ACTIVE,
    ENABLED,
    HELD,
    REDEEMED,
    SCHEDULED,
    CouponCode,
    Promotion,
    PromotionRevision,
    PromotionUsage,
    Redemption,
)

log = logging.getLogger(__name__)
MAX_CODE = 64


def normalize_code(code: object) -> str:
    return " ".join(str(code or "").split()).upper()[:MAX_CODE]


def shopper_identities(email: str | None, customer_id: int | None) -> tuple[str, ...]:
    """Who a per-customer limit counts: the checkout's email (lower-case) and, when signed
    in, the customer account, so neither a guest checkout with the account's address nor a
    signed-in checkout with another address gets around it."""
    found = []
    if email and email.strip():
        found.append(f"email:{email.strip().lower()}"[:300])
    if customer_id is not None:
        found.append(f"customer:{customer_id}")
    return tuple(found)


# -- the compiled set ---------------------------------------------------------------------------


@dataclass(frozen=True)
class LiveSet:
    promotions: tuple[CompiledPromotion, ...] = ()
    collections: frozenset[int] = frozenset()


_cache: dict[tuple[str, str], tuple[str, LiveSet]] = {}
_lock = threading.Lock()


def _currency() -> str:
    return current_app.config["SHOP_CURRENCY"]


def _code_hints(ids: Sequence[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = db.session.execute(
        select(CouponCode.promotion_id, func.count(CouponCode.id), func.min(CouponCode.code))
        .where(CouponCode.promotion_id.in_(ids))
        .group_by(CouponCode.promotion_id)
    ).all()
    return {pid: code for pid, count, code in rows if count == 1}


def compile_rows(rows: Iterable[Promotion]) -> tuple[CompiledPromotion, ...]:
    rows = list(rows)
    hints = _code_hints([row.id for row in rows])
    compiled = []
    for row in rows:
        promo = compile_promotion(row, currency=_currency(), code_hint=hints.get(row.id, ""))
        if promo is None:
            log.warning("promotion %s has rows that no longer validate; it is skipped", row.id)
            continue
        compiled.append(promo)
    return in_order(compiled)


def _with_rows():
    return select(Promotion).options(
        selectinload(Promotion.conditions), selectinload(Promotion.actions)
    )


NO_REVISION = ""  # no promotion was ever changed: no row yet, and no promotions either
_REVISION = "memo.promotions.revision"


def revision_token() -> str:
    """The promotions' revision token, read once per database transaction (a request prices
    a cart more than once; every read of it would be the same row)."""

    def read() -> str:
        token = db.session.scalar(select(PromotionRevision.token).where(PromotionRevision.id == 1))
        return token or NO_REVISION

    return once_per_transaction(_REVISION, read)


def forget_revision() -> None:
    """This session changed the revision (or wants it read again)."""
    forget(_REVISION)


def revision_column() -> Any:
    """The revision token as a column of another query (a request's first one), so pricing
    later in the same transaction need not read it (see remember_revision)."""
    return (
        select(PromotionRevision.token)
        .where(PromotionRevision.id == 1)
        .scalar_subquery()
        .label("promotions_revision")
    )


def remember_revision(token: str | None) -> None:
    """The token read by a query of this transaction (revision_column)."""
    once_per_transaction(_REVISION, lambda: token or NO_REVISION)


def live_set() -> LiveSet:
    """The enabled promotions that have not ended (by the real clock, so a cached set never
    depends on a simulated `now`), compiled, in priority order. Every change of a promotion
    writes a new revision token (a shop where none was ever made has no token: NO_REVISION),
    so the cached set is right while the token it was compiled under is current."""
    now = utcnow()
    token = revision_token()
    where = (str(db.engine.url), _currency())
    cached = _cache.get(where)
    if cached is not None and cached[0] == token:
        return cached[1]
    rows = db.session.scalars(
        _with_rows().where(
            Promotion.state == ENABLED,
            or_(Promotion.ends_at.is_(None), Promotion.ends_at > now),
        )
    ).all()
    promotions = compile_rows(rows)
    found = LiveSet(promotions, frozenset().union(*(p.collections for p in promotions)))
    with _lock:
        _cache[where] = (token, found)
    return found


def every_promotion(ids: Iterable[int] | None = None) -> tuple[CompiledPromotion, ...]:
    """Drafts, paused and ended ones too (the simulator explains them all); not cached."""
    stmt = _with_rows()
    if ids is not None:
        stmt = stmt.where(Promotion.id.in_(list(ids)))
    return compile_rows(db.session.scalars(stmt).all())


def forget_cache() -> None:
    with _lock:
        _cache.clear()
    forget_revision()


# -- codes and limits ---------------------------------------------------------------------------


@dataclass(frozen=True)
class FoundCode:
    id: int
    code: str
    promotion_id: int
    times_used: int


def find_codes(codes: Iterable[str]) -> dict[str, FoundCode]:
    wanted = sorted({normalize_code(c) for c in codes if normalize_code(c)})
    if not wanted:
        return {}
    rows = db.session.execute(
        select(
            CouponCode.id, CouponCode.code, CouponCode.promotion_id, CouponCode.times_used
        ).where(CouponCode.code.in_(wanted))
    ).all()
    return {row.code: FoundCode(row.id, row.code, row.promotion_id, row.times_used) for row in rows}


def _own_uses(reference: str | None) -> tuple[set[int], set[int]]:
    """Promotions and codes this checkout already holds or redeemed (not to be blocked by
    its own use)."""
    if not reference:
        return set(), set()
    rows = db.session.execute(
        select(Redemption.promotion_id, Redemption.coupon_code_id).where(
            Redemption.reference == reference, Redemption.status.in_((HELD, REDEEMED))
        )
    ).all()
    return {p for p, _ in rows}, {c for _, c in rows if c is not None}


def limit_blocks(
    candidates: Sequence[CompiledPromotion],
    identities: Sequence[str],
    own_promotions: set[int],
) -> dict[int, str]:
    """Promotions whose total or per-customer limit is reached (not counting this checkout's
    own use)."""
    blocked: dict[int, str] = {}
    total = {
        p.id: p for p in candidates if p.usage_limit is not None and p.id not in own_promotions
    }
    if total:
        used = dict(
            db.session.execute(
                select(Promotion.id, Promotion.times_used).where(Promotion.id.in_(list(total)))
            ).all()
        )
        for pid, promo in total.items():
            assert promo.usage_limit is not None
            if used.get(pid, 0) >= promo.usage_limit:
                blocked[pid] = f"usage limit reached ({promo.usage_limit} uses)"
    per_customer = {
        p.id: p
        for p in candidates
        if p.usage_limit_per_customer is not None
        and p.id not in own_promotions
        and p.id not in blocked
    }
    if per_customer and identities:
        rows = db.session.execute(
            select(PromotionUsage.promotion_id, func.max(PromotionUsage.times_used))
            .where(
                PromotionUsage.promotion_id.in_(list(per_customer)),
                PromotionUsage.identity.in_(list(identities)),
            )
            .group_by(PromotionUsage.promotion_id)
        ).all()
        for pid, times in rows:
            limit = per_customer[pid].usage_limit_per_customer
            assert limit is not None
            if times >= limit:
                blocked[pid] = (
                    "already used by this customer"
                    if limit == 1
                    else f"already used {times} times by this customer (limit {limit})"
                )
    return blocked


# -- collections --------------------------------------------------------------------------------


def collection_memberships(
    product_ids: Iterable[int], collection_ids: Iterable[int]
) -> dict[int, frozenset[int]]:
    """For each product, which of `collection_ids` (manual or rule-based) it belongs to: one
    query for the collections and one for the memberships."""
    from commerce.catalog.models import Collection, Product
    from commerce.catalog.taxonomy import collection_condition

    products = sorted(set(product_ids))
    wanted = sorted(set(collection_ids))
    if not products or not wanted:
        return {}
    collections = list(db.session.scalars(select(Collection).where(Collection.id.in_(wanted))))
    if not collections:
        return {}
    columns = [collection_condition(c).label(f"c{c.id}") for c in collections]
    found: dict[int, set[int]] = {}
    rows = db.session.execute(select(Product.id, *columns).where(Product.id.in_(products))).all()
    for row in rows:
        found[row[0]] = {c.id for c, member in zip(collections, row[1:], strict=True) if member}
    return {pid: frozenset(ids) for pid, ids in found.items()}


# -- a cart's promotions ------------------------------------------------------------------------


@dataclass(frozen=True)
class CodeStatus:
    """An entered code: did it apply, and if not, why (for the message at the code field)."""

    code: str
    applied: bool
    message: str = ""
    promotion_id: int | None = None
    coupon_code_id: int | None = None


@dataclass(frozen=True)
class CartPromotions:
    evaluation: Evaluation
    codes: tuple[CodeStatus, ...] = ()
    code_ids: Mapping[str, int] | None = None  # entered code -> coupon_code.id


def promotions_for(
    items: Sequence[Item],
    *,
    now: datetime | None = None,
    country: str | None = None,
    shipping_method: str | None = None,
    customer_id: int | None = None,
    email: str | None = None,
    customer_tags: Iterable[str] = (),
    first_order: bool | None = None,
    coupon_codes: Iterable[str] = (),
    reference: str | None = None,
    explain: bool = False,
    promotions: Sequence[CompiledPromotion] | None = None,
) -> CartPromotions:
    """Evaluate the live promotions (or `promotions`) for a cart; `explain` gives an outcome
    for every promotion, otherwise outcomes are worked out only for entered codes."""
    now = now or utcnow()
    currency = _currency()
    entered = list(dict.fromkeys(normalize_code(c) for c in coupon_codes if normalize_code(c)))
    if promotions is None:
        live = live_set()
        promotions, collections = live.promotions, live.collections
    else:
        collections = frozenset().union(*(p.collections for p in promotions))
    if not promotions and not entered:
        return CartPromotions(Evaluation())
    found = find_codes(entered)
    own_promotions, own_codes = _own_uses(reference) if (found or promotions) else (set(), set())
    by_id = {p.id: p for p in promotions}

    codes: dict[str, int] = {}
    problems: dict[str, CodeStatus] = {}
    for code in entered:
        hit = found.get(code)
        promo = by_id.get(hit.promotion_id) if hit else None
        if hit is None:
            problems[code] = CodeStatus(code, False, f"{code} is not a valid code.")
        elif promo is None or promo.status_at(now) not in (ACTIVE, SCHEDULED):
            problems[code] = CodeStatus(
                code, False, f"{code} is not active.", hit.promotion_id, hit.id
            )
        elif (
            promo.usage_limit_per_code is not None
            and hit.times_used >= promo.usage_limit_per_code
            and hit.id not in own_codes
        ):
            problems[code] = CodeStatus(
                code, False, f"{code} has been used up.", hit.promotion_id, hit.id
            )
        else:
            codes[code] = hit.promotion_id

    unlocked = set(codes.values())
    candidates = [
        p
        for p in promotions
        if p.has_limits
        and p.status_at(now) == ACTIVE
        and (not p.requires_coupon or p.id in unlocked)
    ]
    identities = shopper_identities(email, customer_id)
    blocked = limit_blocks(candidates, identities, own_promotions) if candidates else {}

    if collections and items:
        members = collection_memberships([i.product_id for i in items], collections)
        items = [
            Item(
                i.variant_id,
                i.product_id,
                i.quantity,
                i.unit_price,
                i.amount,
                i.categories,
                i.tags,
                members.get(i.product_id, frozenset()),
            )
            for i in items
        ]
    shopper = Shopper(
        now=now,
        currency=currency,
        country=(country or "").strip().upper() or None,
        shipping_method=(shipping_method or "").strip().upper() or None,
        customer_id=customer_id,
        customer_tags=frozenset(str(t).lower() for t in customer_tags),
        first_order=first_order,
        codes=codes,
        blocked=blocked,
    )
    evaluation = evaluate(
        promotions,
        items,
        shopper,
        explain=True if explain else unlocked,
        fmt=lambda amount: format_money(amount, currency),
    )
    outcomes = {o.promotion_id: o for o in evaluation.outcomes}
    statuses = []
    for code in entered:
        if code in problems:
            statuses.append(problems[code])
            continue
        pid = codes[code]
        outcome = outcomes.get(pid)
        if outcome is not None and outcome.applied:
            statuses.append(CodeStatus(code, True, "", pid, found[code].id))
        else:
            why = outcome.reason if outcome is not None else "it does not apply"
            statuses.append(CodeStatus(code, False, f"{code}: {why}.", pid, found[code].id))
    return CartPromotions(
        evaluation, tuple(statuses), {code: hit.id for code, hit in found.items()}
    )

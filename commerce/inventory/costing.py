"""The weighted average unit cost of a variant, moved by each receipt that names a cost.

The rule, in exact integer arithmetic (costs are minor units of the variant's currency):

    n = units on hand at every location before the receipt, q = units received, c = their
    unit cost, a = the average before.
    If there is no average yet or n <= 0:  a' = c
    otherwise:                             a' = floor((a*n + c*q) / (n + q) + 1/2)
                                              = (2*(a*n + c*q) + (n + q)) // (2*(n + q))

that is, the exact weighted mean rounded half up to a whole minor unit, once per receipt (the
rounding does not accumulate beyond half a minor unit per receipt, and the average always lies
between the lowest and the highest cost received). Sales, damage and counts do not move the
average; they change n for the next receipt.

The average is computed by the database in one UPDATE, after locking the variant's row, so two
receipts of one variant at once are costed one after the other (each sees the other's units).
"""

from __future__ import annotations

from sqlalchemy import BigInteger, case, cast, func, select, update

from commerce.catalog.models import Variant
from commerce.extensions import db
from commerce.inventory.models import StockLevel


def weighted_average(average: int | None, on_hand: int, quantity: int, unit_cost: int) -> int:
    """The rule above in Python, for tests and previews (the booking runs it in SQL)."""
    if average is None or on_hand <= 0:
        return unit_cost
    total = on_hand + quantity
    return (2 * (average * on_hand + unit_cost * quantity) + total) // (2 * total)


def book_receipt_cost(variant_id: int, *, quantity: int, unit_cost: int) -> None:
    """Move the variant's average cost for `quantity` units arriving at `unit_cost`; call it
    inside the receipt's transaction, before the stock level's UPDATE (n is read before)."""
    db.session.execute(select(Variant.id).where(Variant.id == variant_id).with_for_update()).first()
    # SUM(bigint) is NUMERIC on PostgreSQL: cast back, so "/" below is integer division.
    on_hand = cast(
        select(func.coalesce(func.sum(StockLevel.on_hand), 0))
        .where(StockLevel.variant_id == variant_id)
        .scalar_subquery(),
        BigInteger,
    )
    average = cast(Variant.cost, BigInteger)
    total = on_hand + quantity
    db.session.execute(
        update(Variant)
        .where(Variant.id == variant_id)
        .values(
            cost=case(
                (Variant.cost.is_(None) | (on_hand <= 0), unit_cost),
                # "//": SQLAlchemy's "/" is true division (NUMERIC on PostgreSQL).
                else_=(2 * (average * on_hand + unit_cost * quantity) + total) // (2 * total),
            )
        )
        .execution_options(synchronize_session=False)
    )
    variant = db.session.identity_map.get((Variant, (variant_id,), None))
    if variant is not None:
        db.session.expire(variant, ["cost"])

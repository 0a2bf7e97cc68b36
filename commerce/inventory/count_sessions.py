"""Cycle counts by scanning: a session at one location collects counted units (each scan
adds one, or a typed quantity), shows them against the books, and is applied as ONE count
through `counts.book_cycle_count`, the same booking as a CSV count.

A scan carries the key of the form it came from: the line remembers the last key it counted,
so the same scan sent twice (a double Enter, a retried request) counts once. Counting never
touches a stock row; only applying does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload

from commerce import audit
from commerce.catalog.models import Variant
from commerce.db import service, utcnow
from commerce.errors import Conflict, InvalidTransition, NotFound, ValidationError
from commerce.extensions import db
from commerce.inventory.count_session_models import (
    COUNT_ABANDONED,
    COUNT_APPLIED,
    COUNT_OPEN,
    CountSession,
    CountSessionLine,
)
from commerce.inventory.counts import CountLine, book_cycle_count
from commerce.inventory.models import Location, StockLevel, StockMovement
from commerce.inventory.services import MAX_QUANTITY

MAX_COUNT_LINES = 5000


def get_count_session(session_id: int) -> CountSession:
    found = db.session.get(CountSession, session_id)
    if found is None:
        raise NotFound("No such count.")
    return found


def open_count_sessions() -> list[CountSession]:
    return list(
        db.session.scalars(
            select(CountSession)
            .where(CountSession.status == COUNT_OPEN)
            .order_by(CountSession.id.desc())
            .limit(50)
        )
    )


@service
def start_count_session(*, location_id: Any, by: Any, note: str = "") -> CountSession:
    location = db.session.get(Location, location_id) if location_id else None
    if location is None:
        raise ValidationError("Choose an existing location.", field="location_id")
    if len(note or "") > 500:
        raise ValidationError("Keep the note under 500 characters.", field="note")
    session = CountSession(
        location_id=location.id,
        status=COUNT_OPEN,
        note=note or "",
        created_by_id=getattr(by, "id", None),
        created_at=utcnow(),
    )
    db.session.add(session)
    db.session.flush()
    audit.record(by, "count.start", session, after={"location": location.name, "note": note})
    return session


def _open(session_id: int) -> CountSession:
    session = get_count_session(session_id)
    if session.status != COUNT_OPEN:
        raise InvalidTransition(f"Count {session.number} is {session.status}.", field="code")
    return session


@service
def count_scanned(
    session_id: int,
    *,
    variant_id: int,
    by: Any,
    quantity: int | None = None,
    add: bool = True,
    key: str | None = None,
) -> CountSessionLine:
    """Count units of a variant: a scan adds one (or `quantity`); with add=False the typed
    quantity replaces the count. The same `key` twice counts once."""
    session = _open(session_id)
    units = 1 if quantity is None else quantity
    if not isinstance(units, int) or isinstance(units, bool) or units < 0:
        raise ValidationError("Enter a whole number of units.", field="quantity")
    if units > MAX_QUANTITY or (add and units == 0):
        raise ValidationError("Enter a number of units above zero.", field="quantity")
    if key and len(key) > 64:
        raise ValidationError("The form's key is too long.", field="key")
    if db.session.get(Variant, variant_id) is None:
        raise ValidationError("No such variant.", field="code")
    value = CountSessionLine.counted + units if add else units
    stmt = (
        update(CountSessionLine)
        .where(
            CountSessionLine.session_id == session.id,
            CountSessionLine.variant_id == variant_id,
        )
        .values(counted=value, last_key=key, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if key:
        stmt = stmt.where(
            or_(CountSessionLine.last_key.is_(None), CountSessionLine.last_key != key)
        )
    # The line is created by the first scan of an item: two first scans at once (or a line
    # created between our UPDATE and our read) go round again and add to it.
    for _ in range(3):
        if db.session.execute(stmt).rowcount:
            line = _line(session.id, variant_id)
            break
        line = _line(session.id, variant_id)
        if line is not None:
            if key and line.last_key == key:
                break  # this very scan was counted already: a repeat
            continue
        lines = db.session.scalar(
            select(func.count()).where(CountSessionLine.session_id == session.id)
        )
        if lines >= MAX_COUNT_LINES:
            raise ValidationError(f"At most {MAX_COUNT_LINES:,} items per count.", field="code")
        line = CountSessionLine(
            session_id=session.id,
            variant_id=variant_id,
            counted=units,
            last_key=key,
            updated_at=utcnow(),
        )
        try:
            with db.session.begin_nested():
                db.session.add(line)
            break
        except IntegrityError:
            continue
    else:
        raise Conflict("Others are counting this item right now; scan it again.", field="code")
    # Scans are not audited one by one: the count's entry when applied lists what changed.
    return line


def _line(session_id: int, variant_id: int) -> CountSessionLine | None:
    return db.session.scalars(
        select(CountSessionLine)
        .where(CountSessionLine.session_id == session_id, CountSessionLine.variant_id == variant_id)
        .execution_options(populate_existing=True)
    ).one_or_none()


def _name(variant: Variant) -> str:
    title = variant.product.title
    if variant.title and variant.title != "Default Title":
        title = f"{title} · {variant.title}"
    return f"{variant.sku} ({title})" if variant.sku else title


@dataclass
class Variance:
    variant_id: int
    sku: str
    name: str
    counted: int | None  # None: on the books here, not scanned
    expected: int

    @property
    def difference(self) -> int:
        return (self.counted or 0) - self.expected


def count_variances(session: CountSession, *, whole_location: bool = False) -> list[Variance]:
    """Counted against the books (on hand at the count's location, read now), scanned items
    first; with `whole_location`, items on the books that were not scanned count as 0."""
    lines = list(
        db.session.scalars(
            select(CountSessionLine)
            .where(CountSessionLine.session_id == session.id)
            .options(joinedload(CountSessionLine.variant).joinedload(Variant.product))
            .order_by(CountSessionLine.updated_at.desc(), CountSessionLine.id.desc())
        )
    )
    on_hand = dict(
        db.session.execute(
            select(StockLevel.variant_id, StockLevel.on_hand).where(
                StockLevel.location_id == session.location_id
            )
        ).all()
        if whole_location
        else db.session.execute(
            select(StockLevel.variant_id, StockLevel.on_hand).where(
                StockLevel.location_id == session.location_id,
                StockLevel.variant_id.in_([line.variant_id for line in lines]),
            )
        ).all()
    )
    rows = [
        Variance(
            line.variant_id,
            line.variant.sku or "",
            _name(line.variant),
            line.counted,
            int(on_hand.get(line.variant_id) or 0),
        )
        for line in lines
    ]
    if whole_location:
        scanned = {line.variant_id for line in lines}
        missing = [v for v, units in on_hand.items() if v not in scanned and units]
        for variant in db.session.scalars(
            select(Variant)
            .where(Variant.id.in_(missing))
            .options(joinedload(Variant.product))
            .order_by(Variant.sku, Variant.id)
        ):
            rows.append(
                Variance(variant.id, variant.sku or "", _name(variant), None, on_hand[variant.id])
            )
    return rows


@service
def apply_count_session(
    session_id: int, *, by: Any, whole_location: bool = False
) -> list[StockMovement]:
    """Book the count: every difference to the books is one cycle-count movement, all in one
    transaction (counts.book_cycle_count); unscanned items count as 0 with `whole_location`.
    Applying twice books once (the session's status is claimed by a conditional UPDATE)."""
    session = get_count_session(session_id)
    claimed = db.session.execute(
        update(CountSession)
        .where(CountSession.id == session.id, CountSession.status == COUNT_OPEN)
        .values(status=COUNT_APPLIED, ended_at=utcnow())
        .execution_options(synchronize_session=False)
    ).rowcount
    if not claimed:
        db.session.refresh(session)
        if session.status == COUNT_APPLIED:
            return []
        raise InvalidTransition(f"Count {session.number} was abandoned.", field="session")
    rows = count_variances(session, whole_location=whole_location)
    if not rows:
        raise ValidationError("Scan at least one item before applying the count.", field="code")
    lines = [
        CountLine(
            row=number,
            sku=row.sku,
            location_code=session.location.code,
            counted=row.counted or 0,
            variant_id=row.variant_id,
            location_id=session.location_id,
            on_hand=row.expected,
        )
        for number, row in enumerate(rows, start=1)
    ]
    movements = book_cycle_count(lines, by=by, reference=f"count {session.number}")
    db.session.expire(session)
    changed = [row for row in rows if row.difference]
    audit.record(
        by,
        "count.apply",
        session,
        after={
            "items counted": len(rows),
            "corrections": [f"{row.name}: {row.expected} → {row.counted or 0}" for row in changed]
            or "none",
            "whole location": whole_location,
        },
    )
    return movements


@service
def abandon_count_session(session_id: int, *, by: Any) -> CountSession:
    session = get_count_session(session_id)
    ended = db.session.execute(
        update(CountSession)
        .where(CountSession.id == session.id, CountSession.status == COUNT_OPEN)
        .values(status=COUNT_ABANDONED, ended_at=utcnow())
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.expire(session)
    if ended:
        audit.record(by, "count.abandon", session, after={"status": "abandoned"})
    return session

"""Transfers of many variants between two locations: draft, in transit, received, cancelled.

- A draft is a list of lines (variant, quantity) that changes nothing in stock.
- Shipping takes every line's units out of the origin through the ledger (transfer-out
  movements, each one conditional UPDATE that fits only if the units are available), all or
  none. The units are then in transit: a figure of the lines, in no stock level.
- Receiving books units into the destination through the ledger, a movement per line
  received, each with a receipt row naming the line. A receipt carries an idempotency key: a
  retried receipt returns the first and never books twice. A line never takes more than was
  shipped (a conditional UPDATE, with a CHECK as the last guard).
- Finishing the receipt early records what did not arrive as missing (the discrepancy).
- Cancelling a draft ends it; cancelling a transfer on the road books the units still in
  transit back into the origin.

Every status change is a conditional UPDATE of the transfer row, so two people acting at once
(a receipt and a cancellation, two receipts of the same line) take turns on that row.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload, selectinload

from commerce import audit
from commerce.catalog.models import Product, Variant
from commerce.db import in_transaction, service, transaction, utcnow
from commerce.errors import Conflict, InvalidTransition, NotFound, OutOfStock, ValidationError
from commerce.extensions import db
from commerce.inventory.models import (
    TRANSFER_IN,
    TRANSFER_OUT,
    Location,
    StockLevel,
    StockMovement,
)
from commerce.inventory.services import (
    MAX_QUANTITY,
    _change_on_hand,
    _crossed,
    _note_low_stock,
    _note_stock_changed,
    _note_stock_crossed,
    stock_level_for,
)
from commerce.inventory.transfer_models import (
    CANCELLED,
    DRAFT,
    IN_TRANSIT,
    ON_THE_ROAD,
    PARTLY_RECEIVED,
    RECEIVED,
    TRANSFER_STATUSES,
    StockTransfer,
    StockTransferLine,
    StockTransferReceipt,
)
from commerce.paging import Page, bounded_count, keyset_page

MAX_LINES = 500
MAX_NOTE = 2000


# -- reading ------------------------------------------------------------------------------------


def get_transfer(transfer_id: int) -> StockTransfer:
    """A transfer with its lines, their variants and products (three queries, any length)."""
    transfer = db.session.scalars(
        select(StockTransfer)
        .where(StockTransfer.id == transfer_id)
        .options(
            selectinload(StockTransfer.lines)
            .joinedload(StockTransferLine.variant)
            .joinedload(Variant.product)
        )
        .execution_options(populate_existing=True)
    ).one_or_none()
    if transfer is None:
        raise NotFound("No such transfer.")
    return transfer


def transfer_key(movement: Any) -> int | None:
    """The transfer a ledger movement belongs to (its idempotency key names it), else None."""
    key = getattr(movement, "idempotency_key", None) or ""
    parts = key.split(":")
    if len(parts) >= 2 and parts[0] == "transfer" and parts[1].isdigit():
        return int(parts[1])
    return None


@dataclass(frozen=True)
class TransferFilter:
    status: str = ""
    location_id: int | None = None
    sort: str = "created"
    direction: str = "desc"

    def normalized(self) -> TransferFilter:
        return TransferFilter(
            status=self.status if self.status in TRANSFER_STATUSES or self.status == "open" else "",
            location_id=self.location_id,
            sort=self.sort if self.sort in TRANSFER_SORTS else "created",
            direction=self.direction if self.direction in ("asc", "desc") else "desc",
        )


@dataclass
class TransferRow:
    id: int
    number: str
    status: str
    status_label: str
    origin: str
    destination: str
    created_at: Any
    shipped_at: Any
    lines: int
    units: int
    in_transit: int


TRANSFER_SORTS = {
    "created": StockTransfer.created_at,
    "shipped": func.coalesce(StockTransfer.shipped_at, StockTransfer.created_at),
    "status": StockTransfer.status,
}


def list_transfers(
    flt: TransferFilter, *, after: str | None = None, before: str | None = None, limit: int = 50
) -> Page:
    """The transfers list: filtered by status ("open": not yet received nor cancelled) and
    location (either end), sorted, keyset-paged; each row with its line and unit totals."""
    flt = flt.normalized()
    stmt = select(StockTransfer.id, TRANSFER_SORTS[flt.sort])
    if flt.status == "open":
        stmt = stmt.where(StockTransfer.status.in_((DRAFT, *ON_THE_ROAD)))
    elif flt.status:
        stmt = stmt.where(StockTransfer.status == flt.status)
    if flt.location_id:
        stmt = stmt.where(
            or_(
                StockTransfer.origin_id == flt.location_id,
                StockTransfer.destination_id == flt.location_id,
            )
        )
    total, exact = bounded_count(stmt)
    key = TRANSFER_SORTS[flt.sort]
    keyset = keyset_page(
        stmt,
        key,
        StockTransfer.id,
        descending=flt.direction == "desc",
        after=after,
        before=before,
        limit=limit,
        parse=_parse_sort_value(flt.sort),
    )
    ids = [row[0] for row in keyset.rows]
    sort_values = {row[0]: row[1] for row in keyset.rows}
    transfers = {
        t.id: t for t in db.session.scalars(select(StockTransfer).where(StockTransfer.id.in_(ids)))
    }
    totals = {
        tid: (lines, int(units or 0), int(moving or 0))
        for tid, lines, units, moving in db.session.execute(
            select(
                StockTransferLine.transfer_id,
                func.count(),
                func.sum(StockTransferLine.quantity),
                func.sum(
                    StockTransferLine.shipped
                    - StockTransferLine.received
                    - StockTransferLine.returned
                    - StockTransferLine.missing
                ),
            )
            .where(StockTransferLine.transfer_id.in_(ids))
            .group_by(StockTransferLine.transfer_id)
        )
    }
    items = []
    for tid in ids:
        t = transfers[tid]
        lines, units, moving = totals.get(tid, (0, 0, 0))
        items.append(
            TransferRow(
                id=t.id,
                number=t.number,
                status=t.status,
                status_label=t.status_label,
                origin=t.origin.code,
                destination=t.destination.code,
                created_at=t.created_at,
                shipped_at=t.shipped_at,
                lines=lines,
                units=units,
                in_transit=moving,
            )
        )
    return keyset.page(items, lambda r: (sort_values[r.id], r.id), total=total, total_exact=exact)


def _parse_sort_value(sort: str) -> Any:
    if sort == "status":
        return str
    return lambda text: datetime.fromisoformat(str(text))


def in_transit_at(pairs: Iterable[tuple[int, int]]) -> dict[tuple[int, int], dict[str, int]]:
    """Units on the road for each (variant, location): "incoming" to it as a destination,
    "outgoing" from it as an origin (one query over the transfers still on the road)."""
    wanted = list(set(pairs))
    if not wanted:
        return {}
    variant_ids = sorted({variant_id for variant_id, _ in wanted})
    moving = (
        StockTransferLine.shipped
        - StockTransferLine.received
        - StockTransferLine.returned
        - StockTransferLine.missing
    )
    rows = db.session.execute(
        select(
            StockTransferLine.variant_id,
            StockTransfer.origin_id,
            StockTransfer.destination_id,
            func.sum(moving),
        )
        .join(StockTransfer, StockTransfer.id == StockTransferLine.transfer_id)
        .where(StockTransfer.status.in_(ON_THE_ROAD), StockTransferLine.variant_id.in_(variant_ids))
        .group_by(
            StockTransferLine.variant_id, StockTransfer.origin_id, StockTransfer.destination_id
        )
    ).all()
    keep = set(wanted)
    found: dict[tuple[int, int], dict[str, int]] = {}
    for variant_id, origin_id, destination_id, units in rows:
        units = int(units or 0)
        if units <= 0:
            continue
        for location_id, kind in ((destination_id, "incoming"), (origin_id, "outgoing")):
            if (variant_id, location_id) in keep:
                entry = found.setdefault((variant_id, location_id), {"incoming": 0, "outgoing": 0})
                entry[kind] += units
    return found


def open_transfers_for_variant(variant_id: int) -> list[tuple[StockTransfer, StockTransferLine]]:
    """The transfers still on the road carrying a variant (the variant's stock page)."""
    return list(
        db.session.execute(
            select(StockTransfer, StockTransferLine)
            .join(StockTransferLine, StockTransferLine.transfer_id == StockTransfer.id)
            .where(
                StockTransfer.status.in_(ON_THE_ROAD), StockTransferLine.variant_id == variant_id
            )
            .order_by(StockTransfer.id)
        ).tuples()
    )


def variant_by_id(variant_id: int) -> Variant | None:
    return db.session.get(Variant, variant_id)


def find_variants(text: str, *, limit: int = 10) -> list[Variant]:
    """Variants a picker offers for typed text: SKU or barcode prefix, or words of the title."""
    text = (text or "").strip()
    if not text:
        return []
    like = f"%{text.replace('%', '').replace('_', '')}%"
    return list(
        db.session.scalars(
            select(Variant)
            .join(Product, Product.id == Variant.product_id)
            .where(
                or_(
                    Variant.sku.ilike(f"{text}%"),
                    Variant.barcode == text,
                    Product.title.ilike(like),
                )
            )
            .order_by(Product.title, Variant.id)
            .limit(limit)
        )
    )


# -- helpers ------------------------------------------------------------------------------------


def _units(quantity: Any, *, field: str, allow_zero: bool = False) -> int:
    if not isinstance(quantity, int) or isinstance(quantity, bool):
        raise ValidationError("Enter a whole number of units.", field=field)
    if quantity < 0 or (quantity == 0 and not allow_zero):
        raise ValidationError("Enter a number of units above zero.", field=field)
    if quantity > MAX_QUANTITY:
        raise ValidationError("That is more units than we can book at once.", field=field)
    return quantity


def _label(variant: Variant) -> str:
    name = variant.product.title
    if variant.title and variant.title != "Default Title":
        name = f"{name} · {variant.title}"
    return f"{variant.sku} ({name})" if variant.sku else name


def _listing(pairs: Iterable[tuple[Variant, int]]) -> str:
    """Lines in words for the audit log: "TEE-BLK (Black Tee) x 3, MUG (Mug) x 1"."""
    return ", ".join(f"{_label(v)} x {n}" for v, n in pairs)


def _claim(transfer_id: int, statuses: Sequence[str], **values: Any) -> bool:
    """Move the transfer on by one conditional UPDATE from one of `statuses` (its row count
    decides; the row stays locked to the end of the transaction)."""
    return (
        db.session.execute(
            update(StockTransfer)
            .where(StockTransfer.id == transfer_id, StockTransfer.status.in_(statuses))
            .values(updated_at=utcnow(), **values)
            .execution_options(synchronize_session=False)
        ).rowcount
        == 1
    )


def _refuse(transfer: StockTransfer, doing: str) -> InvalidTransition:
    db.session.refresh(transfer)
    return InvalidTransition(
        f"{transfer.number} is {transfer.status_label.lower()}: it cannot be {doing}.",
        status=transfer.status,
    )


def _location(location_id: Any, field: str) -> Location:
    location = db.session.get(Location, location_id) if location_id else None
    if location is None:
        raise ValidationError("Choose an existing location.", field=field)
    return location


def _variant(variant_id: Any, field: str = "variant_id") -> Variant:
    variant = db.session.get(Variant, variant_id) if variant_id else None
    if variant is None:
        raise ValidationError("No such variant.", field=field)
    return variant


# -- drafts -------------------------------------------------------------------------------------


@service
def create_transfer(
    *,
    origin_id: Any,
    destination_id: Any,
    by: Any,
    note: str = "",
    lines: Sequence[tuple[int, int]] = (),
) -> StockTransfer:
    """A draft transfer between two locations, with lines if given (nothing moves yet)."""
    origin = _location(origin_id, "origin_id")
    destination = _location(destination_id, "destination_id")
    if origin.id == destination.id:
        raise ValidationError("Choose two different locations.", field="destination_id")
    if len(note or "") > MAX_NOTE:
        raise ValidationError("Keep the note under 2,000 characters.", field="note")
    transfer = StockTransfer(
        origin_id=origin.id,
        destination_id=destination.id,
        status=DRAFT,
        note=note or "",
        created_by_id=getattr(by, "id", None),
        created_at=utcnow(),
        updated_at=utcnow(),
    )
    db.session.add(transfer)
    merged: dict[int, int] = {}
    for variant_id, quantity in lines:
        merged[int(variant_id)] = merged.get(int(variant_id), 0) + _units(quantity, field="lines")
    if len(merged) > MAX_LINES:
        raise ValidationError(f"At most {MAX_LINES} lines per transfer.", field="lines")
    variants = [_variant(variant_id, "lines") for variant_id in merged]
    for variant in variants:
        transfer.lines.append(StockTransferLine(variant_id=variant.id, quantity=merged[variant.id]))
    db.session.flush()
    audit.record(
        by,
        "transfer.create",
        transfer,
        after={
            "from": origin.name,
            "to": destination.name,
            "lines": _listing((v, merged[v.id]) for v in variants) or "none yet",
            "note": note or "",
        },
    )
    return transfer


@service
def add_to_transfer(
    transfer_id: int, *, variant_id: int, quantity: int = 1, by: Any
) -> StockTransferLine:
    """Add units of a variant to a draft (a scan adds one): its line grows, or a new line."""
    quantity = _units(quantity, field="quantity")
    transfer = get_transfer(transfer_id)
    variant = _variant(variant_id, "code")
    if not _claim(transfer.id, (DRAFT,)):
        raise _refuse(transfer, "changed")
    grown = db.session.execute(
        update(StockTransferLine)
        .where(
            StockTransferLine.transfer_id == transfer.id,
            StockTransferLine.variant_id == variant.id,
            StockTransferLine.quantity + quantity <= MAX_QUANTITY,
        )
        .values(quantity=StockTransferLine.quantity + quantity)
        .execution_options(synchronize_session=False)
    ).rowcount
    if not grown:
        count = db.session.scalar(
            select(func.count()).where(StockTransferLine.transfer_id == transfer.id)
        )
        if count >= MAX_LINES:
            raise ValidationError(f"At most {MAX_LINES} lines per transfer.", field="code")
        db.session.add(
            StockTransferLine(transfer_id=transfer.id, variant_id=variant.id, quantity=quantity)
        )
        try:
            db.session.flush()
        except IntegrityError:  # the line's units would pass the limit
            raise ValidationError(
                "That is more units than we can book at once.", field="quantity"
            ) from None
    line = db.session.scalars(
        select(StockTransferLine)
        .where(
            StockTransferLine.transfer_id == transfer.id,
            StockTransferLine.variant_id == variant.id,
        )
        .execution_options(populate_existing=True)
    ).one()
    audit.record(
        by,
        "transfer.add_units",
        transfer,
        after={"added": _listing([(variant, quantity)]), "now": line.quantity},
    )
    return line


@service
def set_transfer_quantities(
    transfer_id: int, quantities: dict[int, int], *, by: Any
) -> StockTransfer:
    """Set a draft's planned quantities by line; 0 removes the line."""
    transfer = get_transfer(transfer_id)
    if not _claim(transfer.id, (DRAFT,)):
        raise _refuse(transfer, "changed")
    db.session.refresh(transfer)
    lines = {line.id: line for line in transfer.lines}
    changes = []
    for line_id, quantity in quantities.items():
        line = lines.get(line_id)
        if line is None:
            continue
        quantity = _units(quantity, field=f"qty-{line_id}", allow_zero=True)
        if quantity == line.quantity:
            continue
        changes.append(f"{_label(line.variant)}: {line.quantity} → {quantity}")
        if quantity == 0:
            transfer.lines.remove(line)
        else:
            line.quantity = quantity
    if changes:
        db.session.flush()
        audit.record(by, "transfer.change_lines", transfer, after={"changes": changes})
    return transfer


# -- shipping -----------------------------------------------------------------------------------


@service
def ship_transfer(transfer_id: int, *, by: Any) -> StockTransfer:
    """The units leave the origin: one transfer-out movement per line, all lines or none.

    Shipping again (a retried request) returns the transfer unchanged. Each line's units are
    taken by a conditional UPDATE that fits only if they are available there (not promised to
    orders nor held by checkouts), in level id order; a short line names itself and nothing
    is booked."""
    transfer = get_transfer(transfer_id)
    if not _claim(transfer.id, (DRAFT,), status=IN_TRANSIT, shipped_at=utcnow()):
        db.session.refresh(transfer)
        if transfer.status in (*ON_THE_ROAD, RECEIVED):
            return transfer  # shipped already: a repeat
        raise _refuse(transfer, "shipped")
    transfer = get_transfer(transfer.id)  # lines, variants, products: read before any lock
    lines = list(transfer.lines)
    if not lines:
        raise ValidationError("Add at least one line before shipping.", field="lines")
    db.session.execute(
        update(StockTransferLine)
        .where(StockTransferLine.transfer_id == transfer.id)
        .values(shipped=StockTransferLine.quantity)
        .execution_options(synchronize_session=False)
    )
    # The destination's levels exist from now on, so the overview shows what is coming.
    for line in lines:
        stock_level_for(line.variant_id, transfer.destination_id)
    levels = {line.id: stock_level_for(line.variant_id, transfer.origin_id) for line in lines}
    by_line = {line.id: line for line in lines}
    short: list[str] = []
    taken: list[tuple[StockTransferLine, StockLevel]] = []
    now = utcnow()
    for line_id, level in sorted(levels.items(), key=lambda item: item[1].id):
        line = by_line[line_id]
        fitted = db.session.execute(
            update(StockLevel)
            .where(
                StockLevel.id == level.id,
                StockLevel.available >= line.quantity,
            )
            .values(on_hand=StockLevel.on_hand - line.quantity, updated_at=now)
            .execution_options(synchronize_session=False)
        ).rowcount
        if fitted == 1:
            taken.append((line, level))
        else:
            db.session.refresh(level)
            short.append(f"{_label(line.variant)}: {max(level.available, 0)} of {line.quantity}")
    if short:
        raise OutOfStock(
            f"Not enough available at {transfer.origin.name} — " + "; ".join(short) + ".",
            field="lines",
        )
    db.session.add_all(
        StockMovement(
            stock_level_id=level.id,
            delta=-line.quantity,
            reason=TRANSFER_OUT,
            reference=f"transfer {transfer.number} to {transfer.destination.code}",
            note=transfer.note[:500],
            actor_id=getattr(by, "id", None),
            idempotency_key=f"transfer:{transfer.id}:ship:{line.id}",
            created_at=now,
        )
        for line, level in taken
    )
    db.session.flush()
    for _, level in taken:
        db.session.expire(level)
    drops = {line.variant_id: line.quantity for line in lines}
    _note_stock_changed(drops)
    _note_stock_crossed(_crossed({v: -n for v, n in drops.items()}))
    _note_low_stock(drops)
    audit.record(
        by,
        "transfer.ship",
        transfer,
        before={"status": "Draft"},
        after={
            "status": "In transit",
            "from": transfer.origin.name,
            "to": transfer.destination.name,
            "shipped": _listing((line.variant, line.quantity) for line in lines),
        },
    )
    return transfer


# -- receiving ----------------------------------------------------------------------------------


def _receipt_keys(key: str, variant_ids: Iterable[int]) -> list[str]:
    return [f"{key}:{variant_id}" for variant_id in variant_ids]


def _receipts(keys: list[str]) -> list[StockTransferReceipt]:
    if not keys:
        return []
    return list(
        db.session.scalars(
            select(StockTransferReceipt)
            .where(StockTransferReceipt.idempotency_key.in_(keys))
            .order_by(StockTransferReceipt.id)
        )
    )


def receive_transfer(
    transfer_id: int,
    *,
    lines: Sequence[tuple[int, int]],
    by: Any,
    idempotency_key: str | None = None,
) -> list[StockTransferReceipt]:
    """Book received units at the destination: (variant_id, units) per line received.

    A repeat of the same idempotency key returns the first receipts and books nothing, also
    when the two arrive at once (the unique key decides). A line never receives more than was
    shipped and is not yet received: the excess is refused with what is still expected."""
    wanted: dict[int, int] = {}
    for variant_id, quantity in lines:
        units = _units(quantity, field="quantity", allow_zero=True)
        if units:
            wanted[int(variant_id)] = wanted.get(int(variant_id), 0) + units
    if not wanted:
        raise ValidationError("Enter the units received.", field="quantity")
    if idempotency_key and len(idempotency_key) > 64:
        raise ValidationError("The form's key is too long.", field="key")
    keys = _receipt_keys(idempotency_key, sorted(wanted)) if idempotency_key else []
    first = _receipts(keys)
    if first:
        return _repeated(first)

    def work() -> list[StockTransferReceipt]:
        with transaction():
            return _receive(transfer_id, wanted, by=by, key=idempotency_key)

    if not idempotency_key:
        return work()
    try:
        if not in_transaction():
            return work()
        with db.session.begin_nested():
            return work()
    except IntegrityError:
        first = _receipts(keys)
        if not first:
            raise
        return _repeated(first)


def _repeated(receipts: list[StockTransferReceipt]) -> list[StockTransferReceipt]:
    """The first receipts, answering a repeat: marked so the screen can say so."""
    for receipt in receipts:
        receipt.repeated = True
    return receipts


def _receive(
    transfer_id: int, wanted: dict[int, int], *, by: Any, key: str | None
) -> list[StockTransferReceipt]:
    transfer = get_transfer(transfer_id)
    if not _claim(transfer.id, ON_THE_ROAD):
        raise _refuse(transfer, "received")
    found = {
        line.variant_id: line
        for line in db.session.scalars(
            select(StockTransferLine)
            .where(
                StockTransferLine.transfer_id == transfer.id,
                StockTransferLine.variant_id.in_(list(wanted)),
            )
            .options(joinedload(StockTransferLine.variant).joinedload(Variant.product))
            .execution_options(populate_existing=True)
        )
    }
    for variant_id in wanted:
        if variant_id not in found:
            variant = db.session.get(Variant, variant_id)
            name = _label(variant) if variant else "That variant"
            raise ValidationError(f"{name} is not on {transfer.number}.", field="code")
    for variant_id, units in sorted(wanted.items()):
        line = found[variant_id]
        fitted = db.session.execute(
            update(StockTransferLine)
            .where(
                StockTransferLine.id == line.id,
                StockTransferLine.received
                + StockTransferLine.returned
                + StockTransferLine.missing
                + units
                <= StockTransferLine.shipped,
            )
            .values(received=StockTransferLine.received + units)
            .execution_options(synchronize_session=False)
        ).rowcount
        if fitted != 1:
            db.session.refresh(line)
            raise Conflict(
                f"Only {line.in_transit} of {_label(line.variant)} still expected on "
                f"{transfer.number}; {units} is too many. Record extra units as found stock.",
                field="quantity",
                expected=line.in_transit,
            )
    receipts = []
    levels = {v: stock_level_for(v, transfer.destination_id) for v in wanted}
    for variant_id, level in sorted(levels.items(), key=lambda item: item[1].id):
        line = found[variant_id]
        movement = _change_on_hand(
            level,
            wanted[variant_id],
            reason=TRANSFER_IN,
            by=by,
            reference=f"transfer {transfer.number} from {transfer.origin.code}",
            key=f"transfer:{transfer.id}:in:{key}:{line.id}" if key else None,
        )
        receipts.append(
            StockTransferReceipt(
                transfer_id=transfer.id,
                line_id=line.id,
                movement_id=movement.id,
                quantity=wanted[variant_id],
                idempotency_key=f"{key}:{variant_id}"
                if key
                else f"auto:{movement.id}:{variant_id}",
                actor_id=getattr(by, "id", None),
                created_at=utcnow(),
            )
        )
    db.session.add_all(receipts)
    db.session.flush()
    complete = not db.session.scalar(
        select(func.count()).where(
            StockTransferLine.transfer_id == transfer.id,
            StockTransferLine.received + StockTransferLine.returned + StockTransferLine.missing
            < StockTransferLine.shipped,
        )
    )
    status = RECEIVED if complete else PARTLY_RECEIVED
    db.session.execute(
        update(StockTransfer)
        .where(StockTransfer.id == transfer.id)
        .values(status=status, received_at=utcnow() if complete else None)
        .execution_options(synchronize_session=False)
    )
    db.session.expire(transfer)
    audit.record(
        by,
        "transfer.receive",
        transfer,
        after={
            "received": _listing((found[v].variant, n) for v, n in sorted(wanted.items())),
            "at": transfer.destination.name,
            "status": TRANSFER_STATUSES[status],
        },
    )
    return receipts


@service
def finish_receiving(transfer_id: int, *, by: Any, note: str = "") -> StockTransfer:
    """Close the receipt of a transfer: units shipped but not received are recorded as
    missing (the discrepancy, with a note), and the transfer is received."""
    if len(note or "") > MAX_NOTE:
        raise ValidationError("Keep the note under 2,000 characters.", field="note")
    transfer = get_transfer(transfer_id)
    now = utcnow()
    if not _claim(
        transfer.id, ON_THE_ROAD, status=RECEIVED, received_at=now, discrepancy_note=note or ""
    ):
        db.session.refresh(transfer)
        if transfer.status == RECEIVED:
            return transfer
        raise _refuse(transfer, "closed")
    short = db.session.execute(
        update(StockTransferLine)
        .where(
            StockTransferLine.transfer_id == transfer.id,
            StockTransferLine.received + StockTransferLine.returned + StockTransferLine.missing
            < StockTransferLine.shipped,
        )
        .values(
            missing=StockTransferLine.shipped
            - StockTransferLine.received
            - StockTransferLine.returned
        )
        .returning(StockTransferLine.variant_id, StockTransferLine.missing)
        .execution_options(synchronize_session=False)
    ).all()
    db.session.expire(transfer)
    variants = {
        v.id: v
        for v in db.session.scalars(
            select(Variant)
            .where(Variant.id.in_([r[0] for r in short]))
            .options(joinedload(Variant.product))
        )
    }
    audit.record(
        by,
        "transfer.finish_receiving",
        transfer,
        after={
            "status": "Received",
            "missing": _listing((variants[v], n) for v, n in sorted(short)) or "none",
            "note": note or "",
        },
    )
    return transfer


# -- cancelling ---------------------------------------------------------------------------------


@service
def cancel_transfer(transfer_id: int, *, by: Any) -> StockTransfer:
    """Cancel a draft, or a transfer on the road: the units still in transit go back into the
    origin through the ledger (what was received stays received). A repeat is a no-op."""
    transfer = get_transfer(transfer_id)
    now = utcnow()
    if _claim(transfer.id, (DRAFT,), status=CANCELLED, cancelled_at=now):
        db.session.expire(transfer)
        audit.record(
            by,
            "transfer.cancel",
            transfer,
            before={"status": "Draft"},
            after={"status": "Cancelled"},
        )
        return transfer
    was = transfer.status
    if not _claim(transfer.id, ON_THE_ROAD, status=CANCELLED, cancelled_at=now):
        db.session.refresh(transfer)
        if transfer.status == CANCELLED:
            return transfer
        raise _refuse(transfer, "cancelled")
    back = db.session.execute(
        update(StockTransferLine)
        .where(
            StockTransferLine.transfer_id == transfer.id,
            StockTransferLine.received + StockTransferLine.returned + StockTransferLine.missing
            < StockTransferLine.shipped,
        )
        .values(
            returned=StockTransferLine.shipped
            - StockTransferLine.received
            - StockTransferLine.missing
        )
        .returning(StockTransferLine.id, StockTransferLine.variant_id, StockTransferLine.returned)
        .execution_options(synchronize_session=False)
    ).all()
    db.session.expire(transfer)
    levels = {line_id: stock_level_for(v, transfer.origin_id) for line_id, v, _ in back}
    units = {line_id: n for line_id, _, n in back}
    for line_id, level in sorted(levels.items(), key=lambda item: item[1].id):
        _change_on_hand(
            level,
            units[line_id],
            reason=TRANSFER_IN,
            by=by,
            reference=f"transfer {transfer.number} cancelled: back at {transfer.origin.code}",
            key=f"transfer:{transfer.id}:return:{line_id}",
        )
    variants = {
        v.id: v
        for v in db.session.scalars(
            select(Variant)
            .where(Variant.id.in_([r[1] for r in back]))
            .options(joinedload(Variant.product))
        )
    }
    audit.record(
        by,
        "transfer.cancel",
        transfer,
        before={"status": TRANSFER_STATUSES.get(was, was)},
        after={
            "status": "Cancelled",
            "returned": _listing((variants[v], n) for _, v, n in back) or "none",
            "to": transfer.origin.name,
        },
    )
    return transfer

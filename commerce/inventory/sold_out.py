"""Sold out, known at once: a marker per variant (in the crowd state: Redis, or process memory),
so shoppers starting checkout for an item that cannot be had, and those waiting in line for
it, hear "sold out" in milliseconds without touching its stock row.

- Set when a reservation fails with nothing of the variant left (note_shortages, by the
  checkout line), and when a variant's availability reaches zero (the `stock.changed` outbox
  consumer below reads it after the change).
- Cleared whenever stock may have come back: right after the commit of every stock change the
  inventory services report (`_note_stock_changed` calls recheck_after_commit: receipts,
  adjustments, counts, transfers, released and expired holds, cancelled allocations), and
  again by the outbox consumers of `stock.changed` (which reads availability) and
  `product.changed` (a variant switched to selling beyond stock), retried until the store
  takes them.
- Never stale: a marker is set only if the variant's restock counter has not moved since its
  stock was read (the reading is taken before the reservation tries), and every clear moves
  it; so a restock that commits meanwhile always wins. Variants sold beyond stock (inventory
  policy "continue") are never marked. A marker also ends after SOLD_OUT_MARKER_SECONDS, the
  last guard should every clear be lost.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from flask import current_app, has_app_context
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from commerce import outbox
from commerce.catalog.models import Product, Variant
from commerce.crowd import crowd_state
from commerce.extensions import db

log = logging.getLogger(__name__)

_RECHECK = "sold_out.recheck"  # session.info: variants to clear once the transaction commits


def _ttl_ms() -> int:
    return int(current_app.config["SOLD_OUT_MARKER_SECONDS"]) * 1000


def variant_labels(variant_ids: Iterable[int]) -> dict[int, str]:
    """What the shop calls each variant ("Field Tee - S"), as the sold-out answer names it."""
    ids = sorted({int(v) for v in variant_ids})
    if not ids:
        return {}
    rows = db.session.execute(
        select(Variant.id, Product.title, Variant.option1, Variant.option2, Variant.option3)
        .join(Product, Product.id == Variant.product_id)
        .where(Variant.id.in_(ids))
    ).all()
    labels = {}
    for variant_id, title, *options in rows:
        values = " / ".join(o for o in options if o)
        labels[variant_id] = f"{title} - {values}" if values else title
    return labels


def note_shortages(shortages: Iterable[dict[str, Any]], *, epochs: dict[int, int]) -> list[int]:
    """A reservation failed: mark the variants of which nothing at all is left (a shortage of
    2 wanted with 1 left is no sold-out), if their restock counter still reads `epochs` (taken
    before the attempt). Returns the variants marked. Only variants that do not sell beyond
    stock are ever short (reserve_stock holds what there is of the others)."""
    gone = [
        int(s["variant_id"])
        for s in shortages
        if int(s.get("available", 0)) <= 0 and int(s["variant_id"]) in epochs
    ]
    if not gone:
        return []
    return crowd_state().mark_sold_out(
        {v: epochs[v] for v in gone}, variant_labels(gone), ttl_ms=_ttl_ms()
    )


def refresh_sold_out(variant_ids: Iterable[int], *, strict: bool = True) -> list[int]:
    """Set or clear the variants' markers from their availability now (the outbox consumers).
    The counters are read before the stock, so a restock committed after this reading clears
    again and wins. Returns the variants marked sold out."""
    from commerce.inventory.services import availability  # services import this module

    ids = sorted({int(v) for v in variant_ids})
    if not ids:
        return []
    state = crowd_state()
    epochs = state.epochs(ids, strict=strict)
    found = availability(ids)
    gone = [v for v in ids if v in found and not found[v].can_buy]
    back = [v for v in ids if v not in gone]
    if back:
        state.clear_sold_out(back, strict=strict)
    if not gone:
        return []
    return state.mark_sold_out(
        {v: epochs[v] for v in gone}, variant_labels(gone), ttl_ms=_ttl_ms(), strict=strict
    )


def recheck_after_commit(variant_ids: Iterable[int]) -> None:
    """The stock of these variants changed in the current transaction: once it commits, their
    sold-out markers go (the outbox consumer sets them again if nothing is left)."""
    pending: set[int] = db.session.info.setdefault(_RECHECK, set())
    pending.update(int(v) for v in variant_ids)


@event.listens_for(Session, "after_commit")
def _clear_after_commit(session: Session) -> None:
    variant_ids = session.info.pop(_RECHECK, None)
    if not variant_ids or not has_app_context():
        return
    try:
        crowd_state().clear_sold_out(variant_ids)
    except Exception:  # the outbox consumer clears them; a commit never fails for this
        log.exception("could not clear sold-out markers of %s", sorted(variant_ids))


@event.listens_for(Session, "after_rollback")
def _forget_after_rollback(session: Session) -> None:
    session.info.pop(_RECHECK, None)


# -- outbox consumers ----------------------------------------------------------------------------
# Database consumers (run in the dispatcher's transaction, no commit of their own): their only
# effect is on the crowd state, small, idempotent and bounded by REDIS_TIMEOUT, so it is safe
# to repeat when the event is delivered again, and cheaper than an outside consumer's own
# transactions per event. A store that cannot be reached fails the consumer: retried later.


@outbox.handler("stock.changed")
def on_stock_changed(event_: outbox.OutboxEvent) -> None:
    """Set or clear the markers from what is available now."""
    refresh_sold_out(event_.payload.get("variant_ids") or [])


@outbox.handler("product.changed")
def on_product_changed(event_: outbox.OutboxEvent) -> None:
    """A variant may now sell beyond stock (or be gone): its marker goes; a reservation that
    still finds nothing marks it again."""
    product_id = event_.payload.get("product_id")
    if product_id is None:
        return
    ids = db.session.scalars(select(Variant.id).where(Variant.product_id == product_id)).all()
    crowd_state().clear_sold_out(ids, strict=True)

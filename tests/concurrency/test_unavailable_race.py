"""Setting units aside races checkouts for the same last units on PostgreSQL: what is held plus
what is set aside never exceeds what is on hand (the conditional UPDATEs and the CHECK), and
every counter agrees with its ledger bucket afterwards (reconcile)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from commerce.errors import OutOfStock
from commerce.extensions import db
from commerce.inventory.models import StockLevel
from commerce.inventory.services import reconcile, reserve_stock
from commerce.inventory.unavailable import set_aside, set_safety_stock
from tests.concurrency.conftest import run_together, unexpected
from tests.concurrency.test_stock_races import make_location, stocked

pytestmark = pytest.mark.postgres


def test_setting_aside_and_holding_the_last_units_never_oversell(race_app):
    location = make_location("QC")
    variant_id = stocked("QC-1", 10, location)
    set_safety_stock(variant_id, location_id=location, units=2, by=None)  # 8 for sale

    def work(i: int) -> int:
        if i % 2:
            return len(reserve_stock([(variant_id, 1)], reference=f"qc-{i}"))
        state = "damaged" if i % 4 == 0 else "quality_control"
        set_aside(variant_id, location_id=location, state=state, quantity=1, reason="race", by=None)
        return 1

    outcomes = run_together(race_app, 24, work)

    assert unexpected(outcomes) == []
    assert all(isinstance(o.domain_error, OutOfStock) for o in outcomes if not o.ok)
    assert sum(o.ok for o in outcomes) == 8
    db.session.expire_all()
    level = db.session.scalar(select(StockLevel).where(StockLevel.variant_id == variant_id))
    assert level.on_hand == 10 and level.available == 0
    assert level.reserved + level.damaged + level.quality_control == 8
    assert level.safety_stock == 2
    assert reconcile() == []

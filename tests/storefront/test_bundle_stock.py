"""A bundle in the shop: its badges (product page and grid) follow its components, and it
shows sold out as soon as one component runs out (while the other still sells)."""

from __future__ import annotations

import re

from commerce.catalog.models import Variant
from commerce.extensions import db
from commerce.inventory.services import reserve_stock
from tests.commerce.inventory.bundle_shop import build_bundle_shop


def text(response) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.get_data(as_text=True))).strip()


def test_the_bundle_badge_follows_its_components(app, client):
    shop = build_bundle_shop(mugs=5, coffee=4)  # two boxes' worth of coffee
    assert "Only 2 left" in text(client.get(f"/fragments/availability?variant={shop.box}"))
    reserve_stock([(shop.coffee, 3)], reference="someone-else")  # one bag left
    db.session.commit()
    assert "Sold out" in text(client.get(f"/fragments/availability?variant={shop.box}"))
    assert "Sold out" not in text(client.get(f"/fragments/availability?variant={shop.mug}"))
    # The grid's out-of-band badge for the bundle's product says the same.
    box = db.session.get(Variant, shop.box)
    grid = client.get(f"/fragments/availability?product={box.product_id}")
    assert f'id="avail-{box.product_id}"' in grid.get_data(as_text=True)
    assert "Sold out" in text(grid)

"""A shop with a bundle, for the bundle tests and the bundle race: a mug and coffee bags sold
loose, and a gift box made of 1 mug + 2 coffee bags (call inside an app context)."""

from __future__ import annotations

import itertools
from types import SimpleNamespace
from typing import Any

from commerce.extensions import db

_n = itertools.count(1)


def build_bundle_shop(*, mugs: int, coffee: int, location_id: int | None = None) -> Any:
    from bench._server import prepare_us_checkout
    from commerce.catalog.bundles import set_bundle_components
    from commerce.catalog.services import create_product
    from commerce.inventory.services import receive_stock

    n = next(_n)
    prepare_us_checkout()

    def variant(title: str, sku: str, price: int) -> Any:
        product = create_product(title=title, sku=sku, price=price, status="active", by=None)
        found = product.variants[0]
        found.weight_grams = 300
        return found

    mug = variant(f"Enamel Mug {n}", f"MUG-{n}", 1200)
    bag = variant(f"Coffee Bag {n}", f"COF-{n}", 900)
    box = variant(f"Gift Box {n}", f"BOX-{n}", 2500)
    db.session.commit()
    set_bundle_components(box, [(mug.id, 1), (bag.id, 2)], by=None)
    for found, units in ((mug, mugs), (bag, coffee)):
        if units:
            receive_stock(found.id, quantity=units, location_id=location_id, by=None)
    db.session.commit()
    return SimpleNamespace(mug=mug.id, coffee=bag.id, box=box.id, n=n)

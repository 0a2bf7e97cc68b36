"""The bundle builder in a real browser (CSRF and CSP on): search variants as you type, give
units per bundle, save, and read what the bundle can sell per component."""

from __future__ import annotations

import os
from itertools import count

import pytest
from playwright.sync_api import Locator, Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from tests.browser.conftest import LiveServer, snap, unique

pytestmark = pytest.mark.browser

_n = count(1)


def seed(live_server: LiveServer) -> dict[str, int | str]:
    from commerce.catalog.services import create_product
    from commerce.inventory.locations import create_location
    from commerce.inventory.services import receive_stock

    n = f"{os.getpid()}{next(_n)}"
    with live_server.app_context():
        location = create_location(name=unique("Shelf"), code=f"B{n}"[:20], by=None)
        mug = create_product(title=unique("Enamel Mug"), by=None, price=1200, sku=f"BMUG-{n}")
        bag = create_product(title=unique("Coffee Bag"), by=None, price=900, sku=f"BCOF-{n}")
        box = create_product(title=unique("Gift Box"), by=None, price=2500, sku=f"BBOX-{n}")
        receive_stock(mug.variants[0].id, quantity=5, location_id=location.id, by=None)
        receive_stock(bag.variants[0].id, quantity=6, location_id=location.id, by=None)
        return {
            "box": box.variants[0].id,
            "box_product": box.id,
            "mug_sku": f"BMUG-{n}",
            "bag_sku": f"BCOF-{n}",
        }


def find_component(page: Page, sku: str) -> Locator:
    """Type the SKU in the search box until its row offers units per bundle, as a person
    types again when nothing came up: a search typed while the page was still setting up its
    script (after a reload, on a busy machine) is never sent."""
    search = page.get_by_label("Add a component (search SKU or product)")
    units = page.get_by_label(f"Units of {sku} per bundle")
    for _ in range(3):
        search.fill("")
        search.fill(sku)
        try:
            units.wait_for(timeout=4000)
            return units
        except PlaywrightTimeout:
            continue
    units.wait_for(timeout=4000)
    return units


def test_build_a_gift_box_from_a_mug_and_two_bags(page: Page, live_server: LiveServer):
    seeded = seed(live_server)
    page.goto(f"/console/products/{seeded['box_product']}")
    page.get_by_role("link", name="Make bundle").click()
    expect(page.get_by_text("No components yet")).to_be_visible()

    find_component(page, str(seeded["mug_sku"])).fill("1")
    page.get_by_role("button", name="Save components").click()
    expect(page.get_by_text("Sellable now: 5 bundle(s)")).to_be_visible()
    # The save reloaded the page: its search box asks as you type once htmx has loaded.
    page.wait_for_load_state("load")

    find_component(page, str(seeded["bag_sku"])).fill("2")
    page.get_by_role("button", name="Save components").click()
    expect(page.get_by_text("Sellable now: 3 bundle(s)")).to_be_visible()
    stock = page.locator("#bundle-stock")
    expect(stock.get_by_role("row").filter(has_text=str(seeded["bag_sku"]))).to_contain_text("3")
    snap(page, "bundle-builder")

"""The bulk editor in a real browser: open it from the product list, edit cells with the
keyboard, paste a block from a spreadsheet, fill down, save, see the batch, undo it."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import LiveServer, snap, unique
from tests.browser.test_catalog_flows import seed_product

pytestmark = pytest.mark.browser


def stored_variants(live_server: LiveServer, ids: list[int]) -> dict[int, tuple]:
    from commerce.catalog.models import Variant
    from commerce.extensions import db

    with live_server.app_context():
        return {
            i: (v.price, v.sku, v.barcode, v.weight_grams)
            for i in ids
            for v in [db.session.get(Variant, i)]
        }


def test_edit_paste_fill_down_save_and_undo(page: Page, live_server: LiveServer) -> None:
    prefix = unique("Grid")
    shirt = seed_product(
        live_server, f"{prefix} Shirt", options=[("Size", ["S", "M", "L"])], price=1999
    )
    seed_product(live_server, f"{prefix} Mug", price=900)
    s, m, lg = (shirt["variants"][size] for size in ("S", "M", "L"))
    before = stored_variants(live_server, [s, m, lg])

    def cell(variant: int, column: str):
        return page.locator(f'[name="cell-v{variant}-{column}"]')

    # Picked on the product list and opened in the grid.
    page.goto(f"/console/products?q={prefix}")
    expect(page.locator("#list tbody tr")).to_have_count(2)
    page.get_by_label(f"Select {prefix} Shirt", exact=True).check()
    page.get_by_label(f"Select {prefix} Mug", exact=True).check()
    page.get_by_label("Bulk action").select_option("Edit in bulk editor")
    page.get_by_role("button", name="Apply").click()
    expect(page.get_by_role("heading", name="Bulk editor")).to_be_visible()
    expect(page.locator("form[data-grid-ready]")).to_have_count(1)  # the grid's keys are on
    expect(page.locator("table.bulk-grid tbody tr")).to_have_count(4)
    count = page.locator("[data-grid-count]")
    expect(count).to_have_text("No changes")

    # Typing replaces the cell, Enter commits and moves down; Escape puts a cell back.
    cell(s, "price").click()
    page.keyboard.type("21.50")
    page.keyboard.press("Enter")
    expect(cell(m, "price")).to_be_focused()
    page.keyboard.press("Enter")
    page.keyboard.type("99")
    page.keyboard.press("Escape")
    expect(cell(m, "price")).to_have_value("19.99")
    # Arrow keys move between cells.
    page.keyboard.press("ArrowRight")
    expect(cell(m, "compare_at_price")).to_be_focused()
    page.keyboard.press("ArrowRight")
    expect(cell(m, "sku")).to_be_focused()
    page.keyboard.press("ArrowUp")
    expect(cell(s, "sku")).to_be_focused()

    # A block copied from a spreadsheet: SKU and barcode of two rows.
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    page.evaluate("text => navigator.clipboard.writeText(text)", "GS-S\t4001\r\nGS-M\t4002\r\n")
    page.keyboard.press("Control+V")
    expect(cell(s, "sku")).to_have_value("GS-S")
    expect(cell(s, "barcode")).to_have_value("4001")
    expect(cell(m, "sku")).to_have_value("GS-M")
    expect(cell(m, "barcode")).to_have_value("4002")

    # Fill down: a weight, then the block below it selected and Ctrl+D.
    cell(s, "weight_grams").click()
    page.keyboard.type("250")
    page.keyboard.press("Enter")
    page.keyboard.press("ArrowUp")
    page.keyboard.press("Shift+ArrowDown")
    page.keyboard.press("Shift+ArrowDown")
    page.keyboard.press("Control+d")
    expect(cell(m, "weight_grams")).to_have_value("250")
    expect(cell(lg, "weight_grams")).to_have_value("250")
    expect(page.locator("td.changed")).to_have_count(8)
    expect(count).to_have_text("8 changes not saved")
    snap(page, "bulk-grid-edited")

    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_role("heading", name=re.compile(r"^Bulk edit #\d+"))).to_be_visible()
    expect(page.locator("[data-batch-status]")).to_have_text("Applied")
    expect(page.get_by_role("status").filter(has_text="Saved: 8 cells changed.")).to_be_visible()
    expect(page.get_by_role("cell", name="$21.50")).to_be_visible()
    after = stored_variants(live_server, [s, m, lg])
    assert after[s] == (2150, "GS-S", "4001", 250)
    assert after[m][1:] == ("GS-M", "4002", 250) and after[m][0] == before[m][0]
    assert after[lg][3] == 250
    snap(page, "bulk-edit-batch")

    # Undo, after a confirmation.
    page.get_by_role("button", name="Undo this batch").click()
    dialog = page.get_by_role("dialog", name=re.compile("Undo bulk edit"))
    expect(dialog).to_be_visible()
    dialog.get_by_role("button", name="Undo the batch").click()
    expect(page.get_by_text(re.compile(r"This batch undid"))).to_be_visible()
    assert stored_variants(live_server, [s, m, lg]) == before
    assert Decimal(before[s][0]) == 1999


def test_a_refused_cell_shows_its_message_in_the_grid(page: Page, live_server: LiveServer) -> None:
    prefix = unique("Grid refusal")
    mug = seed_product(live_server, f"{prefix} Mug", price=900)
    variant = mug["variants"]["Default Title"]
    page.goto(f"/console/products/grid?products={mug['id']}")
    expect(page.locator("form[data-grid-ready]")).to_have_count(1)
    price = page.locator(f'[name="cell-v{variant}-price"]')
    price.click()
    page.keyboard.type("9,50")
    page.keyboard.press("Enter")
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_role("alert").filter(has_text="Nothing was saved")).to_be_visible()
    expect(page.locator(f"#msg-v{variant}-price")).to_contain_text("ambiguous")
    expect(page.locator(f'[name="cell-v{variant}-price"]')).to_have_value("9,50")
    expect(page.locator("[data-grid-count]")).to_have_text("1 change not saved")


def test_price_change_says_what_it_will_do_before_it_runs(
    page: Page, live_server: LiveServer
) -> None:
    prefix = unique("Price change")
    lamp = seed_product(live_server, f"{prefix} Lamp", price=2000, compare_at_price=2500)
    variant = lamp["variants"]["Default Title"]
    page.goto(f"/console/products?q={prefix}")
    page.get_by_label(f"Select {prefix} Lamp", exact=True).check()
    page.get_by_label("Bulk action").select_option("Change price")
    page.get_by_label("Change value").fill("10")
    page.get_by_label("Rounding").select_option("End in .99")
    page.get_by_label("Also compare-at").check()
    page.get_by_role("button", name="Apply").click()

    confirm = page.locator("#price-confirm")
    expect(confirm).to_contain_text("1 variant changes price by $1.99")
    expect(confirm).to_contain_text("1 compare-at price changes too")
    snap(page, "price-change-confirm")
    assert stored_variants(live_server, [variant])[variant][0] == 2000  # nothing yet
    confirm.get_by_role("button", name="Apply to 2 prices").click()
    expect(page.get_by_role("heading", name=re.compile(r"Price change \+10%"))).to_be_visible()
    assert stored_variants(live_server, [variant])[variant][0] == 2199

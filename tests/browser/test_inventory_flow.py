"""The warehouse flow in a real browser: scan to receive, adjust as damaged, read the history."""

from __future__ import annotations

import os
import re
from itertools import count
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import PASSWORD, LiveServer, snap, unique

pytestmark = pytest.mark.browser

_n = count(1)


def seed(live_server: LiveServer) -> dict[str, Any]:
    """A warehouse user, a location and a product with a barcode (through the services)."""
    from commerce.catalog.services import create_product
    from commerce.inventory.locations import create_location
    from commerce.staff.services import create_staff

    n = f"{os.getpid()}{next(_n)}"
    with live_server.app_context():
        email = f"wh{n}@browser.example.com"
        create_staff(email, role="warehouse", name="Walt Warehouse", password=PASSWORD)
        location = create_location(name=unique("Dock"), code=f"D{n}"[:20], by=None, priority=0)
        product = create_product(
            title=unique("Scanned Tee"),
            by=None,
            price=1500,
            sku=f"SCAN-{n}",
            barcode=f"400{n}".ljust(13, "7"),
        )
        variant = product.variants[0]
        return {
            "email": email,
            "location_code": location.code,
            "location_id": location.id,
            "variant_id": variant.id,
            "sku": variant.sku,
            "barcode": variant.barcode,
        }


def stock_at(live_server: LiveServer, variant_id: int, location_id: int) -> int:
    from sqlalchemy import select

    from commerce.extensions import db
    from commerce.inventory.models import StockLevel

    with live_server.app_context():
        return db.session.scalar(
            select(StockLevel.on_hand).where(
                StockLevel.variant_id == variant_id, StockLevel.location_id == location_id
            )
        )


def test_receive_by_scanning_then_adjust_damaged(anon_page: Page, live_server: LiveServer) -> None:
    data = seed(live_server)
    page = anon_page
    page.goto("/console/login")
    page.get_by_label("Email").fill(data["email"])
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/console/")

    # Receive: the cursor waits in the code field; a scanner types the barcode and Enter.
    page.get_by_role("navigation", name="Console").get_by_role("link", name="Receive").click()
    expect(page.get_by_role("heading", name="Receive stock")).to_be_visible()
    code = page.get_by_label("SKU or barcode")
    expect(code).to_be_focused()
    page.get_by_label("Location").select_option(str(data["location_id"]))
    code.focus()
    page.keyboard.type(data["barcode"])
    page.keyboard.press("Enter")
    quantity = page.get_by_label("Quantity")
    expect(quantity).to_be_focused()
    page.keyboard.type("12")
    page.keyboard.press("Enter")
    bookings = page.locator("#bookings")
    expect(bookings.get_by_role("row").filter(has_text=data["sku"])).to_contain_text("+12")
    expect(page.get_by_label("SKU or barcode")).to_be_focused()
    expect(page.get_by_label("SKU or barcode")).to_have_value("")
    snap(page, "inventory-received")
    assert stock_at(live_server, data["variant_id"], data["location_id"]) == 12

    # Adjust: 2 damaged.
    page.get_by_role("navigation", name="Console").get_by_role("link", name="Adjust").click()
    expect(page.get_by_role("heading", name="Adjust stock")).to_be_visible()
    page.get_by_label("Location").select_option(str(data["location_id"]))
    page.get_by_label("Reason").select_option("damaged")
    page.get_by_label("SKU or barcode").fill(data["sku"])
    page.get_by_label("SKU or barcode").press("Enter")
    expect(page.get_by_label("Quantity")).to_be_focused()
    page.get_by_label("Note").fill("box crushed")
    page.get_by_label("Quantity").fill("2")
    page.get_by_label("Quantity").press("Enter")
    expect(page.locator("#bookings").get_by_role("row").filter(has_text="Damaged")).to_contain_text(
        "-2"
    )
    assert stock_at(live_server, data["variant_id"], data["location_id"]) == 10

    # History of the SKU shows both movements, newest first.
    page.locator("#bookings").get_by_role("link", name=data["sku"]).first.click()
    expect(page.get_by_role("heading", name=re.compile(re.escape(data["sku"])))).to_be_visible()
    ledger = page.locator("#ledger tbody tr")
    expect(ledger).to_have_count(2)
    expect(ledger.nth(0)).to_contain_text("Damaged")
    expect(ledger.nth(0)).to_contain_text("-2")
    expect(ledger.nth(0)).to_contain_text("box crushed")
    expect(ledger.nth(1)).to_contain_text("Received")
    expect(ledger.nth(1)).to_contain_text("+12")
    snap(page, "inventory-history")


def test_undo_a_booking_after_confirming(anon_page: Page, live_server: LiveServer) -> None:
    data = seed(live_server)
    page = anon_page
    page.goto("/console/login")
    page.get_by_label("Email").fill(data["email"])
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/console/")
    expect(page.locator("#low-stock")).to_be_visible()

    page.goto("/console/inventory/receive")
    page.get_by_label("Location").select_option(str(data["location_id"]))
    page.get_by_label("SKU or barcode").fill(data["sku"])
    page.get_by_label("SKU or barcode").press("Enter")
    page.get_by_label("Quantity").fill("3")
    page.get_by_label("Quantity").press("Enter")
    row = page.locator("#bookings tbody tr").filter(has_text=data["sku"])
    expect(row).to_contain_text("+3")
    page.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name="Undo").click()
    expect(page.locator("#bookings tbody tr").filter(has_text=data["sku"])).to_contain_text(
        "Undone"
    )
    assert stock_at(live_server, data["variant_id"], data["location_id"]) == 0

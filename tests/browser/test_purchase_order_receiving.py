"""Receiving a purchase order partly by scanning, in a real browser: choose the PO on the
receive screen, scan, see the outstanding units fall, meet the over-receipt warning, finish."""

from __future__ import annotations

import os
from itertools import count
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import PASSWORD, LiveServer, snap, unique
from tests.browser.test_console_csp import WATCH_VIOLATIONS, violations

pytestmark = pytest.mark.browser

_n = count(1)


def seed(live_server: LiveServer) -> dict[str, Any]:
    """A warehouse user, a location, a product with a barcode and an ordered PO of 10."""
    from commerce.catalog.services import create_product
    from commerce.inventory.locations import create_location
    from commerce.purchasing.services import (
        create_purchase_order,
        create_supplier,
        place_purchase_order,
    )
    from commerce.staff.services import create_staff

    n = f"{os.getpid()}{next(_n)}"
    with live_server.app_context():
        email = f"po{n}@browser.example.com"
        create_staff(email, role="warehouse", name="Rita Receiver", password=PASSWORD)
        location = create_location(name=unique("Inbound"), code=f"I{n}"[:20], by=None, priority=0)
        product = create_product(
            title=unique("Stoneware Mug"),
            by=None,
            price=1800,
            sku=f"MUG-{n}",
            barcode=f"401{n}".ljust(13, "3"),
        )
        supplier = create_supplier(by=None, name=unique("Potter"), currency="USD")
        po = create_purchase_order(
            by=None,
            supplier_id=supplier.id,
            location_id=location.id,
            lines=[(product.variants[0].id, 10, 450)],
        )
        place_purchase_order(po, by=None)
        return {
            "email": email,
            "po_id": po.id,
            "number": po.number,
            "variant_id": product.variants[0].id,
            "location_id": location.id,
            "barcode": product.variants[0].barcode,
        }


def stock_and_status(live_server: LiveServer, data: dict[str, Any]) -> tuple[int, str]:
    from sqlalchemy import select

    from commerce.extensions import db
    from commerce.inventory.models import StockLevel
    from commerce.purchasing.models import PurchaseOrder

    with live_server.app_context():
        on_hand = db.session.scalar(
            select(StockLevel.on_hand).where(
                StockLevel.variant_id == data["variant_id"],
                StockLevel.location_id == data["location_id"],
            )
        )
        return on_hand or 0, db.session.get(PurchaseOrder, data["po_id"]).status


def scan(page: Page, barcode: str, quantity: str) -> None:
    code = page.get_by_label("SKU or barcode")
    code.fill(barcode)
    page.get_by_label("Quantity").fill(quantity)
    code.press("Enter")


def test_receive_a_purchase_order_partly_by_scanning(
    anon_page: Page, live_server: LiveServer
) -> None:
    data = seed(live_server)
    page = anon_page
    page.context.add_init_script(WATCH_VIOLATIONS)
    page.goto("/console/login")
    page.get_by_label("Email").fill(data["email"])
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/console/")

    page.get_by_role("navigation", name="Console").get_by_role("link", name="Receive").click()
    page.get_by_label("Receive against a purchase order").select_option(str(data["po_id"]))
    page.get_by_role("button", name="Open").click()
    expect(page.get_by_role("heading", name=f"Receive {data['number']}")).to_be_visible()
    line = page.locator("table.po-lines tbody tr").first

    scan(page, data["barcode"], "4")
    expect(line.locator("td.outstanding")).to_have_text("6")
    expect(page.locator(".po-status")).to_have_text("Partly received")
    assert stock_and_status(live_server, data) == (4, "partly_received")
    snap(page, "po-receive-partial")

    scan(page, data["barcode"], "8")  # more than the 6 still expected
    warning = page.locator(".over-receipt")
    expect(warning).to_contain_text("expects 6 more")
    assert stock_and_status(live_server, data) == (4, "partly_received"), "nothing booked yet"
    snap(page, "po-receive-over")

    scan(page, data["barcode"], "6")
    expect(line.locator("td.outstanding")).to_have_text("0")
    expect(page.locator(".po-status")).to_have_text("Received")
    expect(page.locator(".over-receipt")).to_have_count(0)
    assert stock_and_status(live_server, data) == (10, "received")
    assert violations(page) == []

    # The PO's page lists the two receipts; the purchasing pages load without a CSP refusal.
    page.get_by_role("link", name="Open PO").click()
    expect(page.locator("section", has_text="Receipts").locator("tbody tr")).to_have_count(2)
    snap(page, "po-detail")
    for path in (
        "/console/purchasing/orders?status=all",
        "/console/purchasing/suppliers",
        "/console/purchasing/reorder",
        f"/console/inventory/variants/{data['variant_id']}",
    ):
        page.goto(path)
        expect(page.locator("nav.sidebar")).to_have_count(1)
        assert violations(page) == [], path
    snap(page, "po-variant-panel")

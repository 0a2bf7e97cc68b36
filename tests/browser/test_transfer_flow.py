"""Transfers and counts by scanning in a real browser: a two-SKU transfer picked by scanning,
shipped after confirming, received at the destination by scanning; a count scanned at a
location, reviewed and applied after confirming."""

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
    """A warehouse user, two locations and two stocked products with barcodes."""
    from commerce.catalog.services import create_product
    from commerce.inventory.locations import create_location
    from commerce.inventory.services import receive_stock
    from commerce.staff.services import create_staff

    n = f"{os.getpid()}{next(_n)}"
    with live_server.app_context():
        email = f"tr{n}@browser.example.com"
        create_staff(email, role="warehouse", name="Tara Transfer", password=PASSWORD)
        origin = create_location(name=unique("Depot"), code=f"O{n}"[:20], by=None, priority=0)
        destination = create_location(name=unique("Shop"), code=f"S{n}"[:20], by=None)
        items = []
        for i, word in enumerate(("Tee", "Mug")):
            product = create_product(
                title=unique(f"Transfer {word}"),
                by=None,
                price=900,
                sku=f"TR{word.upper()}-{n}",
                barcode=f"77{i}{n}".ljust(13, "3"),
            )
            variant = product.variants[0]
            receive_stock(variant.id, quantity=10, location_id=origin.id, by=None)
            items.append({"id": variant.id, "sku": variant.sku, "barcode": variant.barcode})
        return {
            "email": email,
            "origin": origin.id,
            "origin_code": origin.code,
            "destination": destination.id,
            "items": items,
        }


def stock_at(live_server: LiveServer, variant_id: int, location_id: int) -> int:
    from sqlalchemy import select

    from commerce.extensions import db
    from commerce.inventory.models import StockLevel

    with live_server.app_context():
        return (
            db.session.scalar(
                select(StockLevel.on_hand).where(
                    StockLevel.variant_id == variant_id, StockLevel.location_id == location_id
                )
            )
            or 0
        )


def sign_in(page: Page, email: str) -> None:
    page.goto("/console/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/console/")


def scan(page: Page, label: str, code: str, *, last: bool = False) -> None:
    """What a scanner does: type into the focused field and press Enter (the `last` scan of a
    receipt closes it: the screen then has no field to answer with)."""
    field = page.get_by_label(label, exact=True)
    expect(field).to_be_focused()
    page.keyboard.type(code)
    page.keyboard.press("Enter")
    # the screen answers with a fresh, empty field (focused again) once the scan is booked
    if not last:
        expect(page.get_by_label(label, exact=True)).to_have_value("")


def test_a_two_sku_transfer_shipped_and_received_by_scanning(
    anon_page: Page, live_server: LiveServer
) -> None:
    data = seed(live_server)
    tee, mug = data["items"]
    page = anon_page
    sign_in(page, data["email"])

    page.get_by_role("navigation", name="Console").get_by_role("link", name="Transfers").click()
    expect(page.get_by_role("heading", name="Transfers", exact=True)).to_be_visible()
    page.get_by_role("link", name="New transfer").first.click()
    page.get_by_label("From", exact=True).select_option(str(data["origin"]))
    page.get_by_label("To", exact=True).select_option(str(data["destination"]))
    page.get_by_role("button", name="Create draft").click()
    expect(page.get_by_role("heading", name=re.compile(r"Transfer T-\d+"))).to_be_visible()

    # Three scans of the tee, two of the mug: each adds a unit, the cursor stays in the field.
    code_label = "Scan or search SKU, barcode or product"
    for barcode in (tee["barcode"], tee["barcode"], tee["barcode"], mug["barcode"]):
        scan(page, code_label, barcode)
        expect(page.locator("#transfer")).to_contain_text(tee["sku"])
    scan(page, code_label, mug["barcode"])
    units = page.locator("#transfer").get_by_role("textbox", name=f"Units of {mug['sku']}")
    expect(units).to_have_value("2")
    expect(
        page.locator("#transfer").get_by_role("textbox", name=f"Units of {tee['sku']}")
    ).to_have_value("3")
    snap(page, "transfer-draft")

    # Ship, after the dialog says what leaves.
    page.get_by_role("button", name="Ship…").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("5 units of 2 SKUs leave")
    dialog.get_by_role("button", name="Ship now").click()
    expect(page.get_by_role("heading", name=re.compile("In transit"))).to_be_visible()
    assert stock_at(live_server, tee["id"], data["origin"]) == 7
    assert stock_at(live_server, mug["id"], data["origin"]) == 8

    # Receive at the destination: scan every unit out of the box.
    page.get_by_role("link", name="Receive items").click()
    expect(page.get_by_role("heading", name=re.compile("^Receive T-"))).to_be_visible()
    for barcode in (tee["barcode"], mug["barcode"], tee["barcode"]):
        scan(page, "SKU or barcode", barcode)
        expect(page.locator("#receive")).to_contain_text("Received")
    expect(
        page.locator("#receive").get_by_role("heading", name=re.compile("Expected"))
    ).to_contain_text("2 units still in transit")
    scan(page, "SKU or barcode", tee["barcode"])
    scan(page, "SKU or barcode", mug["barcode"], last=True)
    expect(page.get_by_role("heading", name=re.compile("Received"))).to_be_visible()
    expect(page.get_by_text(re.compile("Everything shipped has arrived"))).to_be_visible()
    snap(page, "transfer-received")
    assert stock_at(live_server, tee["id"], data["destination"]) == 3
    assert stock_at(live_server, mug["id"], data["destination"]) == 2

    # The list shows it received.
    page.goto("/console/inventory/transfers?status=received")
    expect(page.locator("#list")).to_contain_text(data["origin_code"])


def test_a_count_by_scanning_reviewed_and_applied(anon_page: Page, live_server: LiveServer) -> None:
    data = seed(live_server)
    tee, mug = data["items"]
    page = anon_page
    sign_in(page, data["email"])

    page.get_by_role("navigation", name="Console").get_by_role("link", name="Cycle count").click()
    page.get_by_label("Location").select_option(str(data["origin"]))
    page.get_by_role("button", name="Start counting").click()
    expect(page.get_by_role("heading", name=re.compile(r"Count C-\d+"))).to_be_visible()

    for _ in range(8):
        scan(page, "SKU or barcode", tee["barcode"])
    expect(
        page.locator("#count tr").filter(has_text=tee["sku"]).locator("[data-counted]")
    ).to_have_text("8")
    # twelve mugs typed at once (once the last scan's answer has settled: it resets the form)
    expect(page.locator(".htmx-request, .htmx-swapping, .htmx-settling")).to_have_count(0)
    page.get_by_label("Units", exact=True).fill("12")
    expect(page.get_by_label("Units", exact=True)).to_have_value("12")
    page.get_by_label("SKU or barcode", exact=True).fill(mug["sku"])
    page.get_by_label("SKU or barcode", exact=True).press("Enter")
    expect(
        page.locator("#count tr").filter(has_text=mug["sku"]).locator("[data-counted]")
    ).to_have_text("12")
    page.get_by_role("link", name="Review and apply").click()
    expect(page.locator("body")).to_contain_text("2 of 2 items differ")
    page.get_by_role("button", name="Apply count…").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("+2 and \N{MINUS SIGN}2 units")
    dialog.get_by_role("button", name="Apply count").click()
    expect(page.get_by_role("heading", name="Stock", exact=True)).to_be_visible()
    expect(
        page.get_by_text(re.compile(r"applied: 2 correction\(s\), \+2 and .2 units"))
    ).to_be_visible()
    snap(page, "count-applied")
    assert stock_at(live_server, tee["id"], data["origin"]) == 8
    assert stock_at(live_server, mug["id"], data["origin"]) == 12

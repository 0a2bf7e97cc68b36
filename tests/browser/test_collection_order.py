"""Collection merchandising in a real browser: a merchandiser drags a product to the top of a
manual collection (SortableJS, the list posts its new order with htmx), moves another with the
keyboard (the ↓ button, then Alt+↑), the order survives a reload, and the shop's collection
page shows the dragged product first."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import LiveServer, snap, unique

pytestmark = pytest.mark.browser


def seed(live_server: LiveServer) -> dict[str, Any]:
    """A manual collection of four active products, in the order they were added."""
    from commerce.catalog.services import create_product
    from commerce.catalog.taxonomy import add_to_collection, create_collection

    with live_server.app_context():
        products = [
            create_product(title=unique(f"Lamp {name}"), price=2000, status="active", by=None)
            for name in ("Alpha", "Bravo", "Charlie", "Delta")
        ]
        collection = create_collection(title=unique("Lamps"), by=None)
        add_to_collection(collection, [p.id for p in products], by=None)
        return {
            "id": collection.id,
            "handle": collection.handle,
            "titles": [p.title for p in products],
        }


def settled(locator: Any) -> None:
    expect(locator).not_to_have_class(re.compile(r"\bhtmx-(added|settling|swapping|request)\b"))


def member_titles(page: Page) -> Any:
    return page.locator("#members tbody tr td:nth-child(3) a")


def test_drag_to_the_top_persists_and_leads_the_shop(
    page: Page, anon_page: Page, live_server: LiveServer
) -> None:
    shop = seed(live_server)
    alpha, bravo, charlie, delta = shop["titles"]

    page.goto(f"/console/collections/{shop['id']}")
    expect(page.get_by_role("heading", name="Products in order (4)")).to_be_visible()
    expect(member_titles(page)).to_have_text([alpha, bravo, charlie, delta])
    settled(page.locator("#members"))

    # -- drag Delta by its handle onto the first row ---------------------------------------
    rows = page.locator("#members tbody tr")
    source = rows.nth(3).locator(".drag-handle")
    target = rows.nth(0).locator(".drag-handle")
    source.drag_to(target, target_position={"x": 5, "y": 2})
    expect(page.locator("#toasts")).to_contain_text("Saved the order.")
    expect(member_titles(page)).to_have_text([delta, alpha, bravo, charlie])
    expect(page.locator("#members tbody tr").first.locator(".rank")).to_have_text("1")
    snap(page, "collection-order-dragged")

    # -- the keyboard: Bravo's ↓ button, then Alt+↑ brings it back -------------------------
    settled(page.locator("#members"))
    down = page.get_by_role("button", name=f"Move {bravo} down")
    down.focus()
    page.keyboard.press("Enter")
    expect(member_titles(page)).to_have_text([delta, alpha, charlie, bravo])
    # Focus came back to the same button in the swapped-in list, so the keys keep working.
    expect(page.get_by_role("button", name=f"Move {bravo} down")).to_be_disabled()
    expect(page.get_by_role("button", name=f"Move {bravo} up")).to_be_focused()
    page.keyboard.press("Alt+ArrowUp")
    expect(member_titles(page)).to_have_text([delta, alpha, bravo, charlie])
    settled(page.locator("#members"))

    # -- it persists -----------------------------------------------------------------------
    page.reload()
    expect(member_titles(page)).to_have_text([delta, alpha, bravo, charlie])
    expect(page.locator("#shop-preview li").first).to_contain_text(delta)

    with live_server.app_context():
        from sqlalchemy import func, select

        from commerce.audit import AuditEntry
        from commerce.catalog.collection_order import member_ids
        from commerce.catalog.taxonomy import get_collection
        from commerce.extensions import db

        assert len(member_ids(get_collection(shop["id"]))) == 4
        reorders = db.session.scalar(
            select(func.count(AuditEntry.id)).where(
                AuditEntry.action == "collection.reorder",
                AuditEntry.subject_id == str(shop["id"]),
            )
        )
        assert reorders == 3

    # -- the shop shows it first -----------------------------------------------------------
    anon_page.goto(f"/collections/{shop['handle']}")
    cards = anon_page.locator(".grid-products .card-title")
    expect(cards).to_have_text([delta, alpha, bravo, charlie])
    snap(anon_page, "collection-order-shop")


def test_pin_from_the_picker_leads_the_preview(page: Page, live_server: LiveServer) -> None:
    shop = seed(live_server)
    charlie = shop["titles"][2]

    page.goto(f"/console/collections/{shop['id']}")
    settled(page.locator("#merchandising"))
    page.get_by_label("Pin a product of this collection").fill(charlie)
    results = page.locator("#pin-results")
    expect(results).to_contain_text(charlie)
    settled(results)
    page.keyboard.press("Enter")  # the picker's Enter pins the first match
    expect(page.locator("#pins li")).to_have_count(1)
    expect(page.locator("#pins")).to_contain_text(charlie)
    expect(page.locator("#shop-preview li").first).to_contain_text(charlie)
    expect(page.locator("#members")).to_contain_text("Pinned")
    expect(page.locator("#toasts")).to_contain_text("Pinned 1 product to the top.")
    snap(page, "collection-pins")


def test_pin_from_a_row_and_a_stale_list_comes_back_fresh(
    page: Page, live_server: LiveServer
) -> None:
    from commerce.catalog.services import create_product
    from commerce.catalog.taxonomy import add_to_collection, get_collection

    shop = seed(live_server)
    alpha, bravo, charlie, delta = shop["titles"]
    page.goto(f"/console/collections/{shop['id']}")
    settled(page.locator("#members"))

    # A row's Pin button belongs to a small form of its own (the `form` attribute).
    page.get_by_role("button", name=f"Pin {bravo} to the top").click()
    expect(page.locator("#pins li")).to_have_count(1)
    expect(page.locator("#pins")).to_contain_text(bravo)
    expect(page.locator("#shop-preview li").first).to_contain_text(bravo)
    settled(page.locator("#members"))

    # Another merchandiser adds a product meanwhile; this page still shows four.
    with live_server.app_context():
        late = create_product(title=unique("Lamp Echo"), price=2000, status="active", by=None)
        add_to_collection(get_collection(shop["id"]), [late.id], by=None)
        late_title = late.title
    rows = page.locator("#members tbody tr")
    rows.nth(3).locator(".drag-handle").drag_to(
        rows.nth(0).locator(".drag-handle"), target_position={"x": 5, "y": 2}
    )
    # Refused with 409: the fresh list (five products, the old order) replaces the stale one.
    expect(page.locator("#members [role=alert]")).to_contain_text(
        "This list changed since you opened it"
    )
    expect(member_titles(page)).to_have_text([alpha, bravo, charlie, delta, late_title])
    expect(page.get_by_role("heading", name="Products in order (5)")).to_be_visible()
    settled(page.locator("#members"))

    # The fresh list works: the retry is saved.
    rows = page.locator("#members tbody tr")
    rows.nth(4).locator(".drag-handle").drag_to(
        rows.nth(0).locator(".drag-handle"), target_position={"x": 5, "y": 2}
    )
    expect(member_titles(page)).to_have_text([late_title, alpha, bravo, charlie, delta])
    expect(page.locator("#members [role=alert]")).to_have_count(0)

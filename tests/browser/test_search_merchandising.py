"""Search merchandising in a real browser: a merchandiser signs in, opens Query rules, creates
a rule for "summer", pins a product that is not first for "summer" (the product picker
searches the catalog with htmx), previews the rule from the unsaved form and sees the product
first after the rule and not before it, then saves."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import MERCHANDISER, PASSWORD, LiveServer, snap, unique

pytestmark = pytest.mark.browser


def seed(live_server: LiveServer) -> dict[str, Any]:
    """Three active summer products (the demo shop has none), and which one a search for
    "summer" ranks last, so pinning it visibly changes the order."""
    from commerce.catalog.services import create_product
    from commerce.search import SearchQuery, search

    with live_server.app_context():
        made = [
            create_product(title=unique(title), status="active", price=price, by=None)
            for title, price in (
                ("Summer Linen Shirt", 4500),
                ("Summer Straw Hat", 2500),
                ("Summer Beach Towel", 1800),
            )
        ]
        ranked = search(SearchQuery(text="summer", per_page=50)).ids
        ours = [i for i in ranked if i in {p.id for p in made}]
        assert len(ours) == 3, "the seeded products are not searchable"
        titles = {p.id: p.title for p in made}
        return {"middle": titles[ours[1]], "last": titles[ours[-1]]}


def settled(locator: Any) -> None:
    expect(locator).not_to_have_class(re.compile(r"\bhtmx-(added|settling|swapping|request)\b"))


def test_pin_a_product_for_summer_and_see_it_first_in_the_preview(
    anon_page: Page, live_server: LiveServer
) -> None:
    shop = seed(live_server)
    pinned = shop["last"]
    page = anon_page

    # -- sign in and open Query rules ---------------------------------------------------------
    page.goto("/console/login")
    page.get_by_label("Email").fill(MERCHANDISER)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/console/")
    settled(page.locator("div.shell"))
    page.get_by_role("navigation", name="Console").get_by_role("link", name="Search").click()
    expect(page.get_by_role("navigation", name="Search")).to_be_visible()
    settled(page.locator("div.shell"))
    page.get_by_role("navigation", name="Search").get_by_role("link", name="Query rules").click()
    expect(page).to_have_url(re.compile(r"/console/search/rules$"))
    settled(page.locator("div.shell"))
    page.get_by_role("link", name="New rule").first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("New query rule")
    settled(page.locator("div.shell"))

    # -- the rule: "summer", one pinned product ----------------------------------------------
    page.get_by_label("Search words").fill("summer")
    picker = page.get_by_role("searchbox", name="Find a product to pin")
    picker.fill(pinned)
    results = page.locator("#pinned_ids-results")
    expect(results.get_by_role("button", name=f"Pin {pinned}")).to_be_visible()
    settled(results)
    results.get_by_role("button", name=f"Pin {pinned}").click()
    chosen = page.locator("#pinned_ids-chips li")
    expect(chosen).to_have_count(1)
    expect(chosen.first).to_contain_text(pinned)
    expect(picker).to_have_value("")  # ready for the next search
    # A second pin goes below the first; the keyboard puts it back under.
    picker.fill(shop["middle"])
    expect(results.get_by_role("button", name=f"Pin {shop['middle']}")).to_be_visible()
    settled(results)
    picker.press("Enter")  # pins the first match
    expect(chosen).to_have_count(2)
    expect(chosen.nth(1)).to_contain_text(shop["middle"])
    page.get_by_role("button", name=f"Move {shop['middle']} up").click()
    expect(chosen.first).to_contain_text(shop["middle"])
    expect(page.get_by_role("button", name=f"Move {shop['middle']} up")).to_be_focused()
    page.keyboard.press("Tab")  # to "Move ... down"
    page.keyboard.press("Enter")
    expect(chosen.first).to_contain_text(pinned)
    expect(chosen.nth(1)).to_contain_text(shop["middle"])
    chosen.nth(1).get_by_role("button", name=f"Remove {shop['middle']}").click()
    expect(chosen).to_have_count(1)

    # -- the preview, from the unsaved form --------------------------------------------------
    page.get_by_role("button", name="Preview").click()
    after = page.locator('[data-preview="after"] li')
    before = page.locator('[data-preview="before"] li')
    expect(after.first).to_contain_text(pinned)
    expect(after.first.locator(".badge-pinned")).to_have_text("Pinned")
    expect(before.first).not_to_contain_text(pinned)
    expect(before.filter(has_text=pinned)).to_have_count(1)  # it was there, further down
    snap(page, "search-rule-preview")

    # -- save it ------------------------------------------------------------------------------
    page.get_by_role("button", name="Create rule").click()
    expect(page).to_have_url(re.compile(r"/console/search/rules/\d+$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("Rule for “summer”")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Active")
    expect(page.get_by_role("status").filter(has_text="Created the rule")).to_be_visible()
    expect(page.locator("#pinned_ids-chips li")).to_have_count(1)
    expect(page.locator("#pinned_ids-chips li").first).to_contain_text(pinned)

    with live_server.app_context():
        from commerce.search import SearchQuery, search

        assert search(SearchQuery(text="summer")).hits[0].document["title"] == pinned

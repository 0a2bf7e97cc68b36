"""No Content-Security-Policy refusal on a walk through the console (issue 16): htmx's
indicator styles come from our stylesheet, and nothing sets an inline style while swapping."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import LiveServer, unique
from tests.browser.test_catalog_flows import open_cell, seed_product, settled

pytestmark = pytest.mark.browser

# Every refusal, whatever the console logs: the browser's own report of each violation.
WATCH_VIOLATIONS = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.__csp.push(e.violatedDirective + " " + (e.blockedURI || "") + " " + (e.sample || ""));
});
"""


def violations(page: Page) -> list[str]:
    return page.evaluate("() => window.__csp || []")


def test_a_walk_with_htmx_swaps_triggers_no_csp_violation(
    page: Page, live_server: LiveServer
) -> None:
    messages: list[str] = []
    page.on(
        "console",
        lambda msg: messages.append(msg.text) if "Content Security Policy" in msg.text else None,
    )
    page.context.add_init_script(WATCH_VIOLATIONS)
    seen: list[str] = []

    def visit(path: str) -> None:
        page.goto(path)
        expect(page.locator("nav.sidebar")).to_have_count(1)
        seen.extend(violations(page))

    prefix = unique("Walkvase").replace(" ", "").replace("-", "n")  # one word: only these two
    seeded = seed_product(live_server, f"{prefix} A", options=[("Size", ["S", "M"])])
    seed_product(live_server, f"{prefix} B")

    visit("/console/")
    visit("/console/products")
    search = page.get_by_role("searchbox", name="Search", exact=True)
    search.press_sequentially(prefix)
    expect(page.locator("#list tbody tr")).to_have_count(2)
    page.locator("#list thead a", has_text="Title").click()
    settled(page.locator("#list"))
    page.get_by_label("Status").select_option("draft")
    # The filtered list has as many rows as before: wait for its answer, not for the count.
    expect(page).to_have_url(re.compile(r"status=draft"))
    settled(page.locator("#list"))
    expect(page.locator("#list tbody tr")).to_have_count(2)
    seen.extend(violations(page))

    page.get_by_role("link", name=f"{prefix} A", exact=True).click()
    expect(page).to_have_url(f"{live_server.url}/console/products/{seeded['id']}")
    cell = page.locator("td.cell.editable").first
    open_cell(cell, page.locator("[data-cell-input]").first)
    page.keyboard.press("Escape")
    settled(page.locator("td.cell").first)
    seen.extend(violations(page))

    for path in (
        "/console/categories",
        "/console/collections",
        "/console/inventory",
        "/console/inventory/transfers",
        "/console/promotions",
        "/console/search/synonyms",
    ):
        visit(path)
    page.keyboard.press("Control+k")
    page.get_by_role("dialog", name="Jump to").get_by_role("combobox").press_sequentially("Walk")
    expect(page.locator("#jump-results [role=option]").first).to_be_visible()
    seen.extend(violations(page))

    assert seen == [] and messages == [], (seen, messages)

"""Ctrl+K in a real browser, by keyboard only: a support agent opens the palette, types an
order number, moves through the results with the arrow keys (the input keeps the focus and
names the active option), closes it with Esc (the focus comes back), then opens the order with
Enter."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import LiveServer, snap
from tests.browser.test_orders_console import seed, sign_in

pytestmark = pytest.mark.browser


def test_support_opens_an_order_from_the_palette_by_keyboard(
    anon_page: Page, live_server: LiveServer
) -> None:
    data = seed(live_server)
    page = anon_page
    sign_in(page, data["agent"])
    page.goto("/console/orders")
    opener = page.get_by_role("button", name=re.compile("Go to page"))
    opener.focus()

    page.keyboard.press("Control+k")
    dialog = page.get_by_role("dialog", name="Jump to")
    expect(dialog).to_be_visible()
    box = dialog.get_by_role("combobox")
    expect(box).to_be_focused()

    # Nothing the role cannot open: support has no promotions, so "promotion" finds nothing.
    box.press_sequentially("promotion")
    expect(dialog.get_by_text("Nothing matches")).to_be_visible()

    box.fill("")
    box.press_sequentially(data["order_name"])  # "#1001"
    options = dialog.get_by_role("option")
    expect(options.first).to_contain_text(data["order_name"])
    expect(box).to_have_attribute("aria-expanded", "true")
    expect(box).to_have_attribute("aria-activedescendant", "jump-option-1")
    snap(page, "palette-order")

    # Escape closes it and gives the focus back to where it was.
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(opener).to_be_focused()

    # By email: both orders' addresses end alike; arrows move the active option, Enter opens it.
    page.keyboard.press("Control+k")
    expect(box).to_be_focused()
    box.fill("")
    suffix = data["email"].removeprefix("wanted")  # "<n>@example.com", both orders' end
    box.press_sequentially(suffix)
    expect(options.filter(has_text="Otto Other")).to_be_visible()
    expect(options.filter(has_text="Wanda Wanted")).to_be_visible()
    page.keyboard.press("ArrowDown")
    expect(box).to_have_attribute("aria-activedescendant", "jump-option-2")
    expect(options.nth(1)).to_have_attribute("aria-selected", "true")
    page.keyboard.press("ArrowUp")
    expect(box).to_have_attribute("aria-activedescendant", "jump-option-1")
    target = options.first.get_by_role("link").get_attribute("href")
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{live_server.url}{target}")

    page.wait_for_load_state("load")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Order")

    # And by number, straight to the order.
    page.keyboard.press("Control+k")
    box = page.get_by_role("dialog", name="Jump to").get_by_role("combobox")
    box.press_sequentially(data["order_name"])
    expect(page.locator("#jump-option-1")).to_contain_text(data["order_name"])
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{live_server.url}/console/orders/{data['order_id']}")
    expect(page.get_by_role("heading", name=f"Order {data['order_name']}")).to_be_visible()

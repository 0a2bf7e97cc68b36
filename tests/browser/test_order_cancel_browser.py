"""Cancelling an order in a real browser: the button opens a confirm dialog with the focus in
its reason field, Esc backs out (the focus returns to the button), and the confirmed form
cancels the order."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import LiveServer
from tests.browser.test_orders_console import seed, sign_in

pytestmark = pytest.mark.browser


def test_cancel_behind_a_confirm_dialog(anon_page: Page, live_server: LiveServer) -> None:
    data = seed(live_server)
    page = anon_page
    sign_in(page, data["agent"])
    page.goto(f"/console/orders/{data['order_id']}")

    button = page.get_by_role("button", name="Cancel order…")
    button.click()
    dialog = page.get_by_role("dialog", name=f"Cancel order {data['order_name']}?")
    expect(dialog).to_be_visible()
    reason = dialog.get_by_label("Reason")
    expect(reason).to_be_focused()
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(button).to_be_focused()

    button.press("Enter")
    expect(reason).to_be_focused()
    reason.fill("Customer asked by phone")
    dialog.get_by_role("button", name="Cancel order").click()
    expect(page.get_by_text("Order cancelled").first).to_be_visible()
    expect(page.get_by_role("button", name="Cancel order…")).to_have_count(0)

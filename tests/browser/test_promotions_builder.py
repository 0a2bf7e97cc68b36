"""The promotions builder in a real browser: a merchandiser builds "buy 2 T-shirts get 1 free"
(changing the action's kind and picking the category re-render rows and the live summary with
htmx), publishes it, runs it in the simulator and sees it applied; a shopper then sees it in
the storefront cart, explained on the line."""

from __future__ import annotations

import os
import re
from itertools import count
from typing import Any
from urllib.parse import quote as urlquote

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import LiveServer, snap, unique

pytestmark = pytest.mark.browser

_n = count(1)


def seed(live_server: LiveServer) -> dict[str, Any]:
    """A T-shirts category (its own name: the browser tests share a database) holding one tee
    at $25.00 with stock, and US shipping."""
    from bench._server import prepare_us_checkout
    from commerce.catalog.services import create_product
    from commerce.catalog.taxonomy import create_category
    from commerce.inventory.services import receive_stock

    n = f"{os.getpid()}{next(_n)}"
    with live_server.app_context():
        prepare_us_checkout()
        category = create_category(name=f"T-shirts {n}", by=None)
        tee = create_product(
            title=unique("Promo Tee"),
            price=2500,
            sku=f"PROMO-{n}",
            status="active",
            category_id=category.id,
            by=None,
        )
        receive_stock(tee.variants[0].id, quantity=20, by=None)
        return {"category": category.name, "title": tee.title, "handle": tee.handle}


def settled(locator: Any) -> None:
    expect(locator).not_to_have_class(re.compile(r"\bhtmx-(added|settling|swapping|request)\b"))


def test_build_simulate_and_shop_buy_two_get_one_free(
    page: Page, anon_page: Page, live_server: LiveServer
) -> None:
    shop = seed(live_server)
    name = unique("Tee trio")

    # -- build it ---------------------------------------------------------------------------
    page.goto("/console/promotions")
    page.get_by_role("navigation", name="Console").get_by_role("link", name="Promotions").click()
    page.get_by_role("link", name="New promotion").first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("New promotion")
    settled(page.locator("div.shell"))
    page.get_by_label("Name", exact=True).fill(name)

    page.get_by_label("Kind of action 1").select_option(label="Buy X get Y")
    buy = page.get_by_label("Buy (units)")
    expect(buy).to_be_visible()  # the row came back with the inputs of its new kind
    buy.fill("2")
    page.get_by_label("Get (units)").fill("1")
    search = page.locator("#actions-0-buy_items-label + .chips + input[data-picker-search]")
    search.fill(shop["category"])
    expect(page.locator("#actions-0-buy_items-results")).to_contain_text(shop["category"])
    settled(page.locator("#actions-0-buy_items-results"))  # htmx has bound the buttons
    page.locator("#actions-0-buy_items-results").get_by_role(
        "button", name=f"Add {shop['category']}", exact=True
    ).click()
    expect(page.locator("#actions-0-buy_items-chips")).to_contain_text(shop["category"])
    summary = page.locator("[data-summary]")
    expect(summary).to_have_text(f"Buy 2 {shop['category']}, get 1 free")
    snap(page, "promotion-builder")

    page.get_by_role("button", name="Create draft").click()
    expect(page).to_have_url(re.compile(r"/console/promotions/\d+$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text(name)
    expect(page.get_by_role("heading", level=1)).to_contain_text("Draft")
    settled(page.locator("div.shell"))
    page.get_by_role("button", name="Publish").click()
    expect(page.get_by_role("status").filter(has_text="is published")).to_be_visible()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Active")

    # -- simulate it ------------------------------------------------------------------------
    settled(page.locator("div.shell"))
    page.get_by_role("link", name="Simulate").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Simulator")
    settled(page.locator("div.shell"))
    items = page.get_by_role("searchbox", name="Items")
    items.fill(shop["title"])
    expect(
        page.locator("#lines-results").get_by_role("button", name=f"Add {shop['title']}")
    ).to_be_visible()
    settled(page.locator("#lines-results"))
    items.press("Enter")  # adds the first match (and does not submit the form)
    expect(items).to_have_value("")
    line_quantity = page.get_by_label(f"Quantity of {shop['title']}")
    expect(line_quantity).to_have_value("1")
    result = page.locator("#simulation .sim-promotions tbody tr", has_text=name)
    expect(result).to_contain_text(
        "Not applied: buy 2 get 1 free: 1 eligible in the cart, 3 needed"
    )
    line_quantity.fill("3")
    line_quantity.press("Tab")
    expect(result).to_contain_text("Applied")
    expect(result).to_contain_text("\u2212$25.00")
    expect(page.locator("#simulation")).to_contain_text(f"{name}: \u2212$25.00")
    snap(page, "promotion-simulator")

    # -- the list finds it by keyboard: / search, j to the row, Enter opens it ---------------
    page.goto("/console/promotions")
    settled(page.locator("div.shell"))
    page.keyboard.press("/")
    expect(page.get_by_role("searchbox", name="Search")).to_be_focused()
    page.keyboard.type(name)
    rows = page.locator("table[data-keynav] tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Active")
    expect(rows.first).to_contain_text(f"Buy 2 {shop['category']}, get 1 free")
    # the last keystroke's answer is in (the URL follows the swapped list)
    expect(page).to_have_url(re.compile(re.escape("q=" + urlquote(name))))
    page.get_by_role("heading", name="Promotions", exact=True).click()  # keys go to the list
    page.keyboard.press("j")
    expect(rows.first).to_have_class(re.compile(r"\bcursor\b"))
    snap(page, "promotion-list")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/console/promotions/\d+$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text(name)

    # -- a shopper sees it in the cart ------------------------------------------------------
    shopper = anon_page
    shopper.goto(f"/products/{shop['handle']}")
    shopper.get_by_label("Quantity").fill("3")
    shopper.get_by_role("button", name="Add to cart").click()
    expect(shopper.get_by_role("status").filter(has_text="Added to your cart")).to_be_visible()
    shopper.get_by_role("link", name="View cart and check out").click()
    expect(shopper.get_by_role("heading", name="Your cart")).to_be_visible()
    expect(shopper.locator(".line-discount")).to_have_text(f"{name}: \u2212$25.00")
    expect(shopper.locator(".totals")).to_contain_text("\u2212$25.00")
    snap(shopper, "promotion-cart")

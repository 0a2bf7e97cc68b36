"""What a new user tripped over in the console (issue 16): links and keys inside a list load a
whole page, rows open on a click, bulk tags work and their messages show."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import LiveServer, unique
from tests.browser.test_catalog_flows import seed_product

pytestmark = pytest.mark.browser


def one_console(page: Page) -> None:
    """Exactly one sidebar and one top bar: no page landed inside another."""
    expect(page.locator("nav.sidebar")).to_have_count(1)
    expect(page.locator("header.topbar")).to_have_count(1)


def test_a_product_title_in_the_list_opens_the_whole_editor(
    page: Page, live_server: LiveServer
) -> None:
    title = unique("Linked lamp")
    product_id = seed_product(live_server, title)["id"]
    page.goto(f"/console/products?q={title}")
    page.get_by_role("link", name=title, exact=True).click()

    expect(page).to_have_url(f"{live_server.url}/console/products/{product_id}")
    expect(page.get_by_role("heading", level=1)).to_contain_text(title)
    one_console(page)
    expect(page.locator("#list")).to_have_count(0)


def test_clicking_a_row_outside_its_link_opens_the_product(
    page: Page, live_server: LiveServer
) -> None:
    title = unique("Row lamp")
    product_id = seed_product(live_server, title, vendor="Rowmakers")["id"]
    page.goto(f"/console/products?q={title}")
    page.locator("#list tbody tr").first.get_by_text("Rowmakers").click()

    expect(page).to_have_url(f"{live_server.url}/console/products/{product_id}")
    expect(page.get_by_role("heading", level=1)).to_contain_text(title)
    one_console(page)


def test_j_then_enter_on_the_stock_list_opens_the_variant_page_whole(
    page: Page, live_server: LiveServer
) -> None:
    title = unique("Keyed kettle")
    seeded = seed_product(live_server, title, sku=f"KEY-{unique('k').split()[1]}")
    variant_id = next(iter(seeded["variants"].values()))
    from commerce.inventory.locations import create_location
    from commerce.inventory.services import receive_stock

    with live_server.app_context():
        code = f"K{unique('k').split()[1]}"[:20]
        location = create_location(name=unique("Keyed shelf"), code=code, by=None)
        receive_stock(variant_id, quantity=5, by=None, location_id=location.id)
    page.goto(f"/console/inventory?q={title}")
    expect(page.locator("#main table[data-keynav] tbody tr")).to_have_count(1)
    page.locator("#main h1").click()  # focus the page, not the search box
    page.keyboard.press("j")
    page.keyboard.press("Enter")

    expect(page).to_have_url(re.compile(rf"/console/inventory/variants/{variant_id}$"))
    one_console(page)
    expect(page.get_by_role("heading", level=1)).to_contain_text(title)
    expect(page.get_by_role("heading", name="Levels", exact=True)).to_be_visible()

    page.go_back()
    expect(page).to_have_url(re.compile(r"/console/inventory\?q="))
    one_console(page)


def test_bulk_add_and_remove_tag_and_the_422_message_shows(
    page: Page, live_server: LiveServer
) -> None:
    prefix = unique("Tagged bowl")
    ids = [seed_product(live_server, f"{prefix} #{n}")["id"] for n in (1, 2)]
    page.goto(f"/console/products?q={prefix}")
    page.on("dialog", lambda dialog: dialog.accept())
    expect(page.locator("#list tbody tr")).to_have_count(2)

    # No tag typed: the service's 422 message shows at the field.
    page.get_by_label("Select all on this page").check()
    page.get_by_label("Bulk action").select_option("Add tag")
    page.get_by_role("button", name="Apply").click()
    expect(page.locator("#list .alert-error")).to_contain_text("Enter one tag.")
    expect(page.locator("#list tbody tr")).to_have_count(2)
    # The refused form keeps the choice and the ticked rows, and marks the field.
    expect(page.get_by_label("Bulk action")).to_have_value("add_tag")
    expect(page.get_by_text("2 selected")).to_be_visible()
    tag_box = page.get_by_role("textbox", name="Tag to add or remove")
    expect(tag_box).to_have_attribute("aria-invalid", "true")
    page.get_by_role("textbox", name="Tag to add or remove").fill("summer-sale")
    page.get_by_role("button", name="Apply").click()
    expect(
        page.get_by_role("status").filter(has_text="Add tag: 2 products changed.")
    ).to_be_visible()
    expect(page.locator("#list tbody tr")).to_have_count(2)
    expect(page.locator("#list tbody .tag", has_text="summer-sale")).to_have_count(2)
    assert _tags(live_server, ids) == [["summer-sale"], ["summer-sale"]]

    page.get_by_label(f"Select {prefix} #1", exact=True).check()
    page.get_by_label("Bulk action").select_option("Remove tag")
    page.get_by_role("textbox", name="Tag to add or remove").fill("summer-sale")
    page.get_by_role("button", name="Apply").click()
    expect(
        page.get_by_role("status").filter(has_text="Remove tag: 1 product changed.")
    ).to_be_visible()
    assert _tags(live_server, ids) == [[], ["summer-sale"]]


def _tags(live_server: LiveServer, ids: list[int]) -> list[list[str]]:
    from commerce.catalog.models import Product
    from commerce.extensions import db

    with live_server.app_context():
        return [list(db.session.get(Product, i).tags or []) for i in ids]


def test_clicking_an_order_row_outside_its_link_opens_the_whole_order(
    anon_page: Page, live_server: LiveServer
) -> None:
    from tests.browser.test_orders_console import seed, sign_in

    data = seed(live_server, role="warehouse")  # rows inside the packing-slip form
    page = anon_page
    sign_in(page, data["agent"])
    page.goto(f"/console/orders?q={data['email']}")
    rows = page.locator("#list tbody tr")
    expect(rows).to_have_count(1)
    rows.first.get_by_text("Wanda Wanted").click()

    expect(page).to_have_url(f"{live_server.url}/console/orders/{data['order_id']}")
    expect(page.get_by_role("heading", name=f"Order {data['order_name']}")).to_be_visible()
    one_console(page)

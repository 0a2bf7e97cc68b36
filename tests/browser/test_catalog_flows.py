"""The console's main catalog flows in a real browser: sign in, create, edit inline, bulk, keys."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from tests.browser.conftest import MERCHANDISER, PASSWORD, LiveServer, snap, unique

pytestmark = pytest.mark.browser


def seed_product(
    live_server: LiveServer,
    title: str,
    *,
    options: list[tuple[str, list[str]]] | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """Create a product through the domain services; returns its id and its variants' ids."""
    from commerce.catalog.services import create_product, generate_variants, set_options

    with live_server.app_context():
        fields.setdefault("price", 1999)
        product = create_product(title=title, by=None, **fields)
        if options:
            set_options(product, options, by=None)
            generate_variants(product, by=None)
        return {
            "id": product.id,
            "variants": {v.title: v.id for v in product.variants},
        }


def stored_product(live_server: LiveServer, product_id: int) -> dict[str, Any]:
    """What the database holds for a product (read in a fresh session)."""
    from commerce.catalog.models import Product
    from commerce.extensions import db

    with live_server.app_context():
        product = db.session.get(Product, product_id)
        return {
            "title": product.title,
            "status": product.status,
            "variants": {v.title: v.price for v in product.variants},
        }


def settled(locator: Any) -> None:
    """Wait until htmx has finished swapping `locator` in (it binds new content at settle)."""
    expect(locator).not_to_have_class(re.compile(r"\bhtmx-(added|settling|swapping|request)\b"))


def open_cell(cell: Any, editor: Any) -> None:
    """Click an inline cell and wait for its input: autofocus runs once htmx has bound the form."""
    settled(cell)
    cell.click()
    expect(editor).to_be_focused()


# -- 1. sign in ---------------------------------------------------------------------------------


def test_sign_in_lands_on_dashboard(anon_page: Page, live_server: LiveServer) -> None:
    page = anon_page
    page.goto("/console/login")
    page.get_by_label("Email").fill(MERCHANDISER)
    page.get_by_label("Password").fill(PASSWORD)
    snap(page, "login")
    page.get_by_role("button", name="Sign in").click()

    expect(page).to_have_url(f"{live_server.url}/console/")
    expect(page.get_by_role("heading", name="Good to see you, Mara Merch")).to_be_visible()
    nav = page.get_by_role("navigation", name="Console")
    expect(nav.get_by_role("link", name="Products")).to_be_visible()


# -- 2. create a product with options and variants ---------------------------------------------


def test_create_product_then_generate_four_variants(page: Page, live_server: LiveServer) -> None:
    title = unique("Linen shirt")
    page.goto("/console/products/new")
    page.get_by_label("Title", exact=True).fill(title)
    page.get_by_label("Price", exact=True).fill("39.00")
    snap(page, "new-product")
    page.get_by_role("button", name="Save product").click()

    expect(page).to_have_url(re.compile(r"/console/products/\d+$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text(title)
    expect(page.get_by_role("status").filter(has_text=f"Created “{title}”.")).to_be_visible()

    settled(page.locator("div.shell"))  # the boosted page swap is bound, so the forms use htmx
    variants = page.locator("#variants")
    page.get_by_label("Option 1", exact=True).fill("Size")
    page.get_by_label("Option 1 values (comma-separated)").fill("S, M")
    page.get_by_label("Option 2", exact=True).fill("Colour")
    page.get_by_label("Option 2 values (comma-separated)").fill("Blue, Sand")
    variants.get_by_role("button", name="Save and generate variants").click()

    table_rows = page.locator("#variants table.variants tbody tr")
    expect(table_rows).to_have_count(4)
    expect(page).to_have_url(re.compile(r"/console/products/\d+$"))  # swapped in place
    expect(table_rows.locator("td:first-child")).to_have_text(
        ["S / Blue", "S / Sand", "M / Blue", "M / Sand"]
    )
    expect(page.get_by_role("status").filter(has_text="Options saved.")).to_be_visible()
    # Each generated variant carries the first variant's price.
    expect(table_rows.locator("td[id$='-price']")).to_have_text(["39.00"] * 4)
    snap(page, "editor-variants")

    product_id = int(page.url.rsplit("/", 1)[1])
    assert stored_product(live_server, product_id)["variants"] == {
        "S / Blue": 3900,
        "S / Sand": 3900,
        "M / Blue": 3900,
        "M / Sand": 3900,
    }


# -- 3. inline price edit -----------------------------------------------------------------------


def test_inline_price_edit_saves_and_refuses_bad_input(page: Page, live_server: LiveServer) -> None:
    seeded = seed_product(
        live_server, unique("Canvas tote"), price=1500, options=[("Size", ["S", "M"])]
    )
    variant_id = seeded["variants"]["S"]
    page.goto(f"/console/products/{seeded['id']}")

    cell = page.locator(f"#cell-{variant_id}-price")
    editor = cell.get_by_role("textbox", name="Price of S")
    expect(cell).to_have_text("15.00")
    open_cell(cell, editor)
    editor.fill("24.50")
    editor.press("Enter")

    expect(editor).to_have_count(0)
    expect(cell).to_have_text("24.50")
    expect(page.get_by_role("status").filter(has_text="S: price saved.")).to_be_visible()
    snap(page, "inline-price-saved")

    # A negative price: 422, the message shows in the cell, which stays an input.
    open_cell(cell, editor)
    editor.fill("-5")
    editor.press("Enter")
    expect(cell.get_by_role("alert")).to_have_text("A price cannot be negative.")
    expect(page.get_by_role("alert").filter(has_text="Price not saved")).to_be_visible()
    expect(editor).to_have_attribute("aria-invalid", "true")
    expect(editor).to_have_value("-5")
    expect(editor).to_be_focused()  # the 422 swap has settled: the new form is live
    snap(page, "inline-price-error")

    # Text that is not an amount: the same, with the parser's message.
    editor.fill("abc")
    editor.press("Enter")
    expect(cell.get_by_role("alert")).to_have_text("“abc” is not an amount.")
    expect(editor).to_have_value("abc")

    page.reload()
    expect(cell).to_have_text("24.50")
    assert stored_product(live_server, seeded["id"])["variants"] == {"S": 2450, "M": 1500}


# -- 4. bulk archive ----------------------------------------------------------------------------


def test_bulk_archive_three_products(page: Page, live_server: LiveServer) -> None:
    prefix = unique("Bulk mug")
    titles = [f"{prefix} #{n}" for n in range(1, 6)]
    ids = {title: seed_product(live_server, title)["id"] for title in titles}
    chosen, untouched = titles[:3], titles[3:]

    page.goto(f"/console/products?q={prefix}")
    expect(page.locator("#list tbody tr")).to_have_count(5)
    for title in chosen:
        page.get_by_label(f"Select {title}", exact=True).check()
    expect(page.get_by_text("3 selected")).to_be_visible()
    page.get_by_label("Bulk action").select_option("Archive")
    page.on("dialog", lambda dialog: dialog.accept())  # the hx-confirm (see the test below)
    page.get_by_role("button", name="Apply").click()

    expect(
        page.get_by_role("status").filter(has_text="Archive: 3 products changed.")
    ).to_be_visible()
    for title in chosen:
        row = page.get_by_role("row").filter(has=page.get_by_role("link", name=title, exact=True))
        expect(row.locator(".badge")).to_have_text("Archived")
    for title in untouched:
        row = page.get_by_role("row").filter(has=page.get_by_role("link", name=title, exact=True))
        expect(row.locator(".badge")).to_have_text("Draft")
    snap(page, "bulk-archived")

    from commerce.catalog.models import Product
    from commerce.extensions import db

    with live_server.app_context():
        statuses = dict(
            db.session.execute(
                select(Product.title, Product.status).where(Product.id.in_(ids.values()))
            ).all()
        )
    assert statuses == {t: ("archived" if t in chosen else "draft") for t in titles}


def test_bulk_action_asks_for_confirmation_and_cancel_changes_nothing(
    page: Page, live_server: LiveServer
) -> None:
    title = unique("Confirm jug")
    product_id = seed_product(live_server, title)["id"]
    page.goto(f"/console/products?q={title}")
    page.get_by_label(f"Select {title}", exact=True).check()
    page.get_by_label("Bulk action").select_option("Archive")
    page.on("dialog", lambda dialog: dialog.dismiss())
    with page.expect_event("dialog", timeout=2_000) as confirm:
        page.get_by_role("button", name="Apply").click()
    assert confirm.value.message == "Archive 1 product?"
    page.evaluate("() => fetch('/console/jump?q=-').then((r) => r.status)")  # a round trip
    assert stored_product(live_server, product_id)["status"] == "draft"


def test_select_all_matching_is_offered_only_after_ticking_the_page(
    page: Page, live_server: LiveServer
) -> None:
    prefix = unique("Select-all cup")
    for n in (1, 2):
        seed_product(live_server, f"{prefix} #{n}")
    page.goto(f"/console/products?q={prefix}")
    offer = page.get_by_label("Select all 2 matching")
    expect(page.locator("#list tbody tr")).to_have_count(2)
    expect(offer).to_be_hidden(timeout=1_000)  # the page has loaded: no need to wait long
    page.get_by_label("Select all on this page").check()
    expect(offer).to_be_visible()
    expect(page.get_by_text("2 selected")).to_be_visible()


# -- 6. keyboard --------------------------------------------------------------------------------


def test_keyboard_search_and_jump_to_sku(page: Page, live_server: LiveServer) -> None:
    sku = f"JMP-{unique('x').split()[1]}"
    title = unique("Enamel pin")
    product_id = seed_product(live_server, title, sku=sku)["id"]

    page.goto("/console/products")
    search = page.get_by_role("searchbox", name="Search", exact=True)
    expect(search).not_to_be_focused()
    page.keyboard.press("/")
    expect(search).to_be_focused()
    expect(search).to_have_value("")

    page.keyboard.press("Control+k")
    jump = page.get_by_role("dialog", name="Jump to")
    expect(jump).to_be_visible()
    box = jump.get_by_role("combobox")
    expect(box).to_be_focused()
    box.press_sequentially(sku)
    expect(jump.get_by_role("option")).to_contain_text([sku])
    snap(page, "jump-dialog")
    box.press("Enter")

    expect(page).to_have_url(f"{live_server.url}/console/products/{product_id}")
    expect(page.get_by_role("heading", level=1)).to_contain_text(title)


# -- 7. unsaved changes -------------------------------------------------------------------------


def test_unsaved_changes_ask_before_leaving(page: Page, live_server: LiveServer) -> None:
    title = unique("Wool scarf")
    product_id = seed_product(live_server, title)["id"]
    editor_url = f"{live_server.url}/console/products/{product_id}"
    page.goto(editor_url)

    page.get_by_label("Title", exact=True).fill(f"{title} (renamed)")
    answers: list[bool] = [False]  # dismiss the first confirm, accept the next
    page.on("dialog", lambda d: d.accept() if answers.pop(0) else d.dismiss())
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    products = page.get_by_role("navigation", name="Console").get_by_role("link", name="Products")
    with page.expect_event("dialog") as dialog_info:
        products.click()
    dialog = dialog_info.value
    assert dialog.type == "confirm"
    assert "unsaved changes" in dialog.message

    # Staying: htmx would have sent its request during the click; a round trip after it
    # proves none went out.
    page.evaluate("() => fetch('/console/jump?q=-').then((r) => r.status)")
    assert f"{live_server.url}/console/products" not in requests
    expect(page).to_have_url(editor_url)
    expect(page.get_by_label("Title", exact=True)).to_have_value(f"{title} (renamed)")
    expect(page.get_by_role("heading", level=1)).to_contain_text(title)
    snap(page, "unsaved-stayed")
    assert stored_product(live_server, product_id)["title"] == title

    # Leaving: the same click, confirmed, goes to the list; the edit is not saved.
    answers.append(True)
    with page.expect_event("dialog"):
        products.click()
    expect(page).to_have_url(f"{live_server.url}/console/products")
    expect(page.get_by_role("heading", name="Products", level=1)).to_be_visible()
    assert stored_product(live_server, product_id)["title"] == title

"""Shop search in a real browser: a shopper types "tshrt" in the header box and sees
suggestions (a T-shirt with its thumbnail) in a keyboard-driven combobox, submits, filters the
results by size (a facet) and by a price range, sees the filtered hits and opens one; the
analytics beacon recorded the search and the clicks."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from tests.browser.conftest import LiveServer, snap, unique

pytestmark = pytest.mark.browser

THUMB = (
    "data:image/svg+xml,<svg xmlns='http://www.w3.org/2000/svg' width='40' height='40'>"
    "<rect width='40' height='40' fill='%23{}'/></svg>"
)


def seed(live_server: LiveServer) -> dict[str, Any]:
    """Four T-shirts (their own names: the browser tests share a database), each with a
    thumbnail: sizes and prices chosen so that size M and $20-$30 leave exactly one of them."""
    from commerce.catalog.models import Media
    from commerce.catalog.services import create_product, generate_variants, set_options
    from commerce.extensions import db

    tag = unique("Run").split(" ", 1)[1]
    specs = {
        "trail": ("Trail", ["S", "M", "L"], 1500, "2a6"),
        "ridge": ("Ridge", ["M", "L"], 2500, "a62"),
        "summit": ("Summit", ["S"], 2800, "62a"),
        "canyon": ("Canyon", ["M"], 4500, "aa2"),
    }
    made: dict[str, Any] = {}
    with live_server.app_context():
        for key, (name, sizes, price, colour) in specs.items():
            product = create_product(
                title=f"{name} T-Shirt {tag}", price=price, status="active", by=None
            )
            set_options(product, [("Size", sizes)], by=None)
            generate_variants(product, by=None)
            for variant in product.variants:
                variant.price = price
            db.session.add(
                Media(
                    product_id=product.id,
                    kind="external",
                    external_url=THUMB.format(colour),
                    alt=f"{name} tee",
                    position=1,
                )
            )
            db.session.commit()
            made[key] = {"id": product.id, "title": product.title, "handle": product.handle}
    return made


def recorded(live_server: LiveServer, **match: Any) -> Any:
    """The first search event with these values, waiting for the beacon to land."""
    from commerce.extensions import db
    from commerce.search.models import SearchEvent

    deadline = time.monotonic() + 5
    while True:
        with live_server.app_context():
            stmt = select(SearchEvent).filter_by(**match).order_by(SearchEvent.id.desc())
            found = db.session.scalars(stmt).first()
            if found is not None:
                db.session.expunge(found)
                return found
        if time.monotonic() > deadline:
            raise AssertionError(f"no search event {match} was recorded")
        time.sleep(0.1)


def settled(locator: Any) -> None:
    expect(locator).not_to_have_class(re.compile(r"\bhtmx-(added|settling|swapping|request)\b"))


def test_a_shopper_types_tshrt_sees_suggestions_and_filters_by_size_and_price(
    anon_page: Page, live_server: LiveServer
) -> None:
    tees = seed(live_server)
    page = anon_page
    page.goto("/")
    box = page.get_by_role("combobox", name="Search products")
    listbox = page.get_by_role("listbox", name="Search suggestions")
    expect(box).to_have_attribute("aria-expanded", "false")

    # -- suggestions as they type ------------------------------------------------------------
    box.press_sequentially("t", delay=30)
    page.wait_for_timeout(400)
    expect(listbox).to_be_hidden()  # one letter: no request, nothing shown
    box.press_sequentially("shrt", delay=60)
    expect(listbox).to_be_visible()
    expect(box).to_have_attribute("aria-expanded", "true")
    tee_options = listbox.get_by_role("option").filter(has_text="T-Shirt")
    expect(tee_options.first).to_be_visible()
    mine = listbox.get_by_role("option").filter(has_text=tees["trail"]["title"].split(" ", 1)[1])
    assert mine.count() >= 1 or tee_options.count() == 6, "no seeded T-shirt among suggestions"
    thumb = tee_options.filter(has=page.locator("img")).first.locator("img")
    expect(thumb).to_have_attribute("src", re.compile(r"^data:image/svg\+xml"))
    expect(
        listbox.get_by_role("option", name=re.compile("See all results for “tshrt”"))
    ).to_be_visible()
    snap(page, "shop-search-suggestions")

    # -- the keyboard: arrows move, Escape closes, Enter opens the active option -------------
    box.press("ArrowDown")
    first = listbox.get_by_role("option").first
    expect(first).to_have_attribute("aria-selected", "true")
    expect(box).to_have_attribute("aria-activedescendant", first.get_attribute("id") or "")
    box.press("ArrowUp")  # from the first option up to the last: "See all results"
    expect(listbox.get_by_role("option").last).to_have_attribute("aria-selected", "true")
    box.press("ArrowDown")
    expect(first).to_have_attribute("aria-selected", "true")
    box.press("Escape")
    expect(listbox).to_be_hidden()
    expect(box).to_have_attribute("aria-expanded", "false")
    expect(box).to_have_value("tshrt")  # closing the list keeps what was typed
    box.press("ArrowDown")  # opens it again on the first option
    expect(listbox).to_be_visible()
    expect(first).to_have_attribute("aria-selected", "true")
    product_href = first.get_attribute("href") or ""
    first_id = int(first.get_attribute("data-product-id") or 0)
    box.press("Enter")
    page.wait_for_url(f"**{product_href}")
    clicked = recorded(live_server, kind="click", query="tshrt", product_id=first_id)
    assert clicked.position == 1 and clicked.visitor  # a suggestion opened, first of the list

    # -- or with the mouse ----------------------------------------------------------------------
    page.goto("/")
    box = page.get_by_role("combobox", name="Search products")
    box.press_sequentially("tshrt", delay=40)
    option = listbox.get_by_role("option").filter(has_text="T-Shirt").nth(1)
    expect(option).to_be_visible()
    second_id = int(option.get_attribute("data-product-id") or 0)
    option.click()
    page.wait_for_url("**/products/**")
    assert recorded(live_server, kind="click", product_id=second_id).position == 2

    # -- submit: the results page ------------------------------------------------------------
    page.goto("/")
    box = page.get_by_role("combobox", name="Search products")
    box.fill("tshrt")
    box.press("Enter")
    page.wait_for_url(re.compile(r"/search\?q=tshrt$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Results for “tshrt”")
    results = page.locator("#search-results")
    for tee in tees.values():
        expect(results.get_by_role("link", name=tee["title"])).to_be_visible()
    search = recorded(live_server, kind="search", query="tshrt")
    assert search.results and search.results >= 4 and search.visitor == clicked.visitor

    # -- filter by size (a facet) ------------------------------------------------------------
    size = page.get_by_role("group", name="Size")
    size.get_by_label(re.compile(r"^M \(\d+\)$")).check()
    expect(page).to_have_url(re.compile(r"opt=Size%3AM"))
    settled(results)
    for key in ("trail", "ridge", "canyon"):
        expect(results.get_by_role("link", name=tees[key]["title"])).to_be_visible()
    expect(results.get_by_role("link", name=tees["summit"]["title"])).to_have_count(0)

    # -- and by a price range ----------------------------------------------------------------
    price = page.get_by_role("group", name=re.compile(r"^Price"))
    price.get_by_label("From").fill("20")
    price.get_by_label("to", exact=True).fill("30")
    page.get_by_role("button", name="Apply").click()
    expect(page).to_have_url(re.compile(r"min=20.*max=30"))
    settled(results)
    expect(results.get_by_role("link", name=tees["ridge"]["title"])).to_be_visible()
    for key in ("trail", "summit", "canyon"):
        expect(results.get_by_role("link", name=tees[key]["title"])).to_have_count(0)
    expect(page.get_by_label(re.compile(r"^M \(\d+\)$"))).to_be_checked()  # filters add up
    snap(page, "shop-search-filtered")

    # -- open a hit: the click is recorded with its position ----------------------------------
    ridge = results.get_by_role("link", name=tees["ridge"]["title"])
    position = int(ridge.get_attribute("data-position") or 0)
    ridge.click()
    page.wait_for_url(f"**/products/{tees['ridge']['handle']}")
    opened = recorded(live_server, kind="click", query="tshrt", product_id=tees["ridge"]["id"])
    assert opened.position == position >= 1
    # Filtering and paging are not new searches: one search was recorded for this page load.
    from commerce.extensions import db
    from commerce.search.models import SearchEvent

    with live_server.app_context():
        searches = db.session.scalars(
            select(SearchEvent).where(
                SearchEvent.kind == "search",
                SearchEvent.query == "tshrt",
                SearchEvent.visitor == clicked.visitor,
            )
        ).all()
    assert len(searches) == 1

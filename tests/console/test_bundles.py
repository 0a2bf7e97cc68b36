"""The bundle builder through HTTP: the picker's search, saving components with quantities,
errors at the row, availability per component on the bundle's and the variant stock pages."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from commerce.catalog.bundles import components_of
from commerce.extensions import db
from commerce.inventory.services import receive_stock
from tests.commerce.inventory.bundle_shop import build_bundle_shop
from tests.conftest import htmx_headers


@pytest.fixture
def shop(app):
    return build_bundle_shop(mugs=5, coffee=6)


def test_the_bundle_page_shows_each_component_and_what_it_allows(client, login, shop):
    login("warehouse")  # catalog.view only: the page, no builder
    html = client.get(f"/console/variants/{shop.box}/bundle").get_data(as_text=True)
    assert f"MUG-{shop.n}" in html and f"COF-{shop.n}" in html
    assert "Sellable now: <strong>3 bundle(s)" in html
    assert "Save components" not in html
    stock = client.get(f"/console/inventory/variants/{shop.box}").get_data(as_text=True)
    assert "its stock is its components" in stock and f"COF-{shop.n}" in stock


def test_build_a_bundle_with_the_picker(client, login, make_product, shop):
    login("merchandiser")
    kit = make_product("Starter Kit", sku="KIT-1").variants[0]
    page = client.get(f"/console/variants/{kit.id}/bundle")
    assert page.status_code == 200 and "No components yet" in page.get_data(as_text=True)
    found = client.get(
        f"/console/variants/{kit.id}/bundle?q=MUG-{shop.n}&start=0", headers=htmx_headers()
    ).get_data(as_text=True)
    assert 'name="components-0-variant_id"' in found and f"MUG-{shop.n}" in found
    assert "<html" not in found
    # without JavaScript the search form's GET answers the page with the results in it
    whole = client.get(f"/console/variants/{kit.id}/bundle?q=MUG-{shop.n}&start=0")
    assert "<html" in whole.get_data(as_text=True)
    assert 'name="components-0-variant_id"' in whole.get_data(as_text=True)
    # bundles are not offered as components
    boxes = client.get(
        f"/console/variants/{kit.id}/bundle?q=BOX-{shop.n}", headers=htmx_headers()
    ).get_data(as_text=True)
    assert "No variant matches" in boxes

    saved = client.post(
        f"/console/variants/{kit.id}/bundle",
        data={
            "components-0-variant_id": str(shop.mug),
            "components-0-quantity": "2",
            "components-1-variant_id": str(shop.coffee),
            "components-1-quantity": "",  # a picker row not chosen
        },
    )
    assert saved.status_code == 303
    assert components_of([kit.id]) == {kit.id: [(shop.mug, 2)]}
    page = client.get(f"/console/variants/{kit.id}/bundle").get_data(as_text=True)
    assert "Sellable now: <strong>2 bundle(s)" in page  # 5 mugs, 2 per kit


def test_errors_land_at_the_row(client, login, make_product, shop):
    login("merchandiser")
    kit = make_product("Starter Kit", sku="KIT-2").variants[0]
    response = client.post(
        f"/console/variants/{kit.id}/bundle",
        data={
            "components-0-variant_id": str(shop.mug),
            "components-0-quantity": "1",
            "components-1-variant_id": str(shop.box),  # a bundle
            "components-1-quantity": "1",
        },
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "is a bundle itself" in html
    assert components_of([kit.id]) == {}
    too_many = client.post(
        f"/console/variants/{kit.id}/bundle",
        data={"components-0-variant_id": str(shop.mug), "components-0-quantity": "5000"},
    )
    assert too_many.status_code == 422
    assert 'id="components-0-quantity"' in too_many.get_data(as_text=True)


def test_taking_every_component_out_makes_a_plain_variant(client, login, shop):
    login("merchandiser")
    response = client.post(
        f"/console/variants/{shop.box}/bundle",
        data={
            "components-0-variant_id": str(shop.mug),
            "components-0-quantity": "0",
            "components-1-variant_id": str(shop.coffee),
            "components-1-quantity": "0",
        },
    )
    assert response.status_code == 303
    assert components_of([shop.box]) == {}
    receive_stock(shop.box, quantity=1, by=None)  # now it keeps stock of its own
    db.session.commit()


def test_support_cannot_save_a_bundle(client, login, shop):
    login("support")
    response = client.post(
        f"/console/variants/{shop.box}/bundle",
        data={"components-0-variant_id": str(shop.mug), "components-0-quantity": "3"},
    )
    assert response.status_code == 403
    assert components_of([shop.box])[shop.box][0] == (shop.mug, 1)


def test_an_order_with_a_bundle_is_picked_shipped_and_slipped_by_components(
    app, client, login, shop, monkeypatch
):
    """The order page lists the components under the bundle, a parcel picks whole bundles,
    and the packing slip (a real WeasyPrint PDF, read back) lists the components."""
    import io
    import re

    from pypdf import PdfReader

    from commerce.checkout.cart import add_to_cart
    from commerce.checkout.services import (
        choose_shipping_method,
        place_order,
        save_information,
        start_checkout,
    )
    from commerce.orders.models import Fulfillment
    from tests.conftest import TEST_CARD, US_ADDRESS

    monkeypatch.setitem(app.config, "PRICES_INCLUDE_TAX", False)
    cart = add_to_cart(None, variant_id=shop.box, quantity=2)
    cart = add_to_cart(cart, variant_id=shop.mug, quantity=1)
    checkout = start_checkout(cart)
    save_information(checkout, email="ada@example.com", address=US_ADDRESS)
    choose_shipping_method(checkout, code="STD")
    order = place_order(checkout.key, card=TEST_CARD).order
    box_line = next(line for line in order.lines if line.variant_id == shop.box)
    login("warehouse")
    page = client.get(f"/console/orders/{order.id}").get_data(as_text=True)
    times = "\u00d7"
    assert f"↳ 4 {times} COF-{shop.n}" in page and f"↳ 2 {times} MUG-{shop.n}" in page
    location_id = re.search(r'name="location_id" value="(\d+)"', page).group(1)
    started = client.post(
        f"/console/orders/{order.id}/fulfillments",
        data={"location_id": location_id, f"qty-{box_line.id}": "1"},
    )
    assert started.status_code == 303
    parcel = db.session.scalars(select(Fulfillment).where(Fulfillment.order_id == order.id)).one()
    assert parcel.units_by_line() == {box_line.id: 1}
    pdf = client.get(f"/console/fulfillments/{parcel.id}/packing-slip.pdf")
    assert pdf.status_code == 200
    text = " ".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.data)).pages)
    text = re.sub(r"\s+", " ", text)
    assert f"BOX-{shop.n}" in text and f"MUG-{shop.n}" in text and f"COF-{shop.n}" in text
    assert "1 item" in text

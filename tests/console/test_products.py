"""The product console through HTTP, with and without htmx."""

from __future__ import annotations

import io
import json

import pytest
from PIL import Image
from sqlalchemy import func, select

from commerce.catalog.models import Product, Variant
from commerce.extensions import db
from tests.conftest import htmx_headers


def product_count():
    return db.session.scalar(select(func.count()).select_from(Product))


def toast_of(response):
    return json.loads(response.headers["HX-Trigger"])["toast"]


class TestList:
    def test_page_and_fragment_share_markup(self, client, login, make_product):
        login("merchandiser")
        make_product("Linen Shirt", vendor="Acme", status="active")
        page = client.get("/console/products")
        assert page.status_code == 200
        html = page.get_data(as_text=True)
        assert "Linen Shirt" in html and "<aside" not in html.split('id="list"')[1][:0] + ""
        assert 'class="sidebar"' in html
        fragment = client.get("/console/products?q=linen", headers=htmx_headers())
        body = fragment.get_data(as_text=True)
        assert body.lstrip().startswith('<div id="list">') and "Linen Shirt" in body
        assert 'class="sidebar"' not in body

    def test_filters_sort_and_paging_live_in_the_url(
        self, app, client, login, make_product, monkeypatch
    ):
        monkeypatch.setitem(app.config, "PAGE_SIZE", 2)
        login("merchandiser")
        for title in ["Alpha", "Bravo", "Charlie", "Delta", "Echo"]:
            make_product(title, vendor="Acme")
        first = client.get("/console/products?sort=title&dir=asc&vendor=Acme").get_data(
            as_text=True
        )
        assert first.index("Alpha") < first.index("Bravo") and "Charlie" not in first
        assert "5 products" in first
        next_link = first.split('rel="next" href="')[1].split('"')[0].replace("&amp;", "&")
        assert "vendor=Acme" in next_link and "sort=title" in next_link
        second = client.get(next_link).get_data(as_text=True)
        assert "Charlie" in second and "Delta" in second and "Alpha" not in second

    def test_bad_price_filter_is_reported_at_the_field(self, client, login):
        login("merchandiser")
        response = client.get("/console/products?price_min=abc")
        assert response.status_code == 422
        assert "is not an amount" in response.get_data(as_text=True)

    def test_empty_states(self, client, login):
        login("merchandiser")
        assert "No products yet" in client.get("/console/products").get_data(as_text=True)
        assert "No products match" in client.get("/console/products?q=zzz").get_data(as_text=True)

    def test_list_queries_do_not_grow_with_rows(
        self, client, login, make_product, make_category, query_counter
    ):
        login("merchandiser")
        category = make_category("Bags")
        make_product(tags="a, b", category_id=category.id)
        with query_counter() as few:
            client.get("/console/products")
        for _ in range(10):
            make_product(tags="a, b, c", category_id=category.id)
        with query_counter() as many:
            client.get("/console/products")
        assert len(many) == len(few)


class TestBulk:
    def test_bulk_archive_with_htmx(self, client, login, make_product):
        login("merchandiser")
        products = [make_product(status="active") for _ in range(4)]
        ids = [str(p.id) for p in products[:3]]
        response = client.post(
            "/console/products/bulk", data={"ids": ids, "action": "archive"}, headers=htmx_headers()
        )
        assert response.status_code == 200
        assert toast_of(response)["message"] == "Archive: 3 products changed."
        assert [p.status for p in products] == ["archived"] * 3 + ["active"]

    def test_bulk_without_htmx_redirects_with_a_message(self, client, login, make_product):
        login("merchandiser")
        product = make_product()
        response = client.post(
            "/console/products/bulk?status=draft",
            data={"ids": [product.id], "action": "add_tag", "tag": "sale"},
        )
        assert response.status_code == 303 and "status=draft" in response.headers["Location"]
        assert "Add tag: 1 product changed." in client.get(response.headers["Location"]).get_data(
            as_text=True
        )

    def test_filtered_total_is_counted_up_to_a_bound_and_says_so(
        self, client, login, make_product, monkeypatch
    ):
        """A broad filter's total stops at COUNT_LIMIT ("4+"); "select all" still takes every
        match, and the whole catalog is counted exactly."""
        import commerce.paging

        login("merchandiser")
        acme = [make_product(vendor="Acme") for _ in range(5)]
        make_product(vendor="Other")
        monkeypatch.setattr(commerce.paging, "COUNT_LIMIT", 4)
        html = client.get("/console/products?vendor=Acme").get_data(as_text=True)
        assert "4+ products" in html and "Select all 4+ matching" in html
        assert "6 products" in client.get("/console/products").get_data(as_text=True)
        assert "1 product<" in client.get("/console/products?vendor=Other").get_data(as_text=True)
        response = client.post(
            "/console/products/bulk?vendor=Acme",
            data={"select_all_matching": "1", "action": "publish"},
            headers=htmx_headers(),
        )
        assert toast_of(response)["message"] == "Publish: 5 products changed."
        assert {p.status for p in acme} == {"active"}

    def test_select_all_matching_uses_the_filter(self, client, login, make_product):
        login("merchandiser")
        acme = [make_product(vendor="Acme") for _ in range(3)]
        other = make_product(vendor="Other")
        response = client.post(
            "/console/products/bulk?vendor=Acme",
            data={"select_all_matching": "1", "action": "publish"},
            headers=htmx_headers(),
        )
        assert toast_of(response)["message"] == "Publish: 3 products changed."
        assert {p.status for p in acme} == {"active"} and other.status == "draft"

    @pytest.mark.parametrize(
        ("data", "message"),
        [
            (
                {"action": "change_price", "price_mode": "amount", "price_value": "-50.00"},
                "negative price",
            ),
            (
                {"action": "change_price", "price_mode": "percent", "price_value": "ten"},
                "percentage",
            ),
            ({"action": "set_category", "category_id": "987654"}, "existing category"),
            ({"action": ""}, "Choose a bulk action"),
            ({"action": "add_tag", "tag": ""}, "Enter one tag"),
        ],
    )
    def test_bad_bulk_input_changes_nothing(self, client, login, make_product, data, message):
        login("merchandiser")
        product = make_product(price=1000)
        response = client.post(
            "/console/products/bulk", data={"ids": [product.id], **data}, headers=htmx_headers()
        )
        assert response.status_code == 422
        assert message in toast_of(response)["message"]
        db.session.expire_all()
        assert db.session.get(Variant, product.variants[0].id).price == 1000
        assert product.category_id is None

    def test_warehouse_cannot_bulk_edit(self, client, login, make_product):
        login("warehouse")
        product = make_product()
        assert (
            client.post(
                "/console/products/bulk", data={"ids": [product.id], "action": "archive"}
            ).status_code
            == 403
        )
        assert product.status == "draft"


class TestCreateAndEdit:
    def test_create_product(self, client, login, make_category):
        login("merchandiser")
        category = make_category("Shirts")
        response = client.post(
            "/console/products/new",
            data={
                "title": "Oxford Shirt",
                "status": "active",
                "price": "49.90",
                "compare_at_price": "59.00",
                "sku": "OX-1",
                "category_id": str(category.id),
                "tags": "cotton, office",
                "description": "Soft *cotton*",
                "description_format": "markdown",
            },
        )
        assert response.status_code == 303
        product = db.session.scalar(select(Product).where(Product.handle == "oxford-shirt"))
        assert product.variants[0].price == 4990 and product.variants[0].compare_at_price == 5900
        assert product.category_id == category.id and sorted(product.tags) == ["cotton", "office"]
        assert response.headers["Location"] == f"/console/products/{product.id}"

    @pytest.mark.parametrize(
        ("data", "field_message"),
        [
            ({"price": "-1.00"}, "A price cannot be negative."),
            ({"price": "abc"}, "is not an amount"),
            ({"price": "1.999"}, "at most 2 decimal places"),
            ({"handle": "Bad Handle!"}, "Use lowercase letters"),
            ({"category_id": "99999"}, "Choose an existing category."),
            ({"sku": "DUP-1"}, "already used by another variant"),
            ({"title": ""}, "This field is required."),
        ],
    )
    def test_bad_input_gets_a_field_message_and_nothing_is_saved(
        self, client, login, make_product, data, field_message
    ):
        login("merchandiser")
        make_product("Existing", sku="DUP-1")
        before = product_count()
        form = {
            "title": "New thing",
            "price": "10.00",
            "status": "draft",
            "description_format": "markdown",
            **data,
        }
        response = client.post("/console/products/new", data=form)
        assert response.status_code == 422
        html = response.get_data(as_text=True)
        assert field_message in html and 'aria-invalid="true"' in html
        assert product_count() == before

    def test_edit_saves_and_shows_history(self, client, login, make_product):
        member = login("merchandiser")
        product = make_product("Old title")
        response = client.post(
            f"/console/products/{product.id}",
            data={
                "title": "New title",
                "handle": product.handle,
                "status": "active",
                "description_format": "markdown",
            },
        )
        assert response.status_code == 303
        page = client.get(f"/console/products/{product.id}").get_data(as_text=True)
        assert "product.update" in page and "Old title" in page and member.email in page

    def test_edit_with_duplicate_handle_is_refused(self, client, login, make_product):
        login("merchandiser")
        make_product("Taken", handle="taken")
        product = make_product("Mine")
        response = client.post(
            f"/console/products/{product.id}",
            data={
                "title": "Mine",
                "handle": "taken",
                "status": "draft",
                "description_format": "markdown",
            },
        )
        assert response.status_code == 422
        assert "Another product already uses this handle." in response.get_data(as_text=True)
        db.session.refresh(product)
        assert product.handle != "taken"

    def test_read_only_for_warehouse(self, client, login, make_product):
        login("warehouse")
        product = make_product()
        page = client.get(f"/console/products/{product.id}").get_data(as_text=True)
        assert "<fieldset disabled" in page and "Delete product" not in page
        assert (
            client.post(f"/console/products/{product.id}", data={"title": "x"}).status_code == 403
        )

    def test_delete_product(self, client, login, make_product):
        login("merchandiser")
        product_id = make_product().id
        response = client.post(f"/console/products/{product_id}/delete")
        assert response.status_code == 303
        assert db.session.get(Product, product_id) is None

    def test_a_product_with_stock_history_is_kept_and_the_answer_says_why(
        self, client, login, make_product
    ):
        from commerce.inventory.locations import create_location
        from commerce.inventory.services import receive_stock

        login("merchandiser")
        product = make_product(title="Kept Mug")
        shelf = create_location(name="Kept shelf", code="KEPT", by=None)
        receive_stock(product.variants[0].id, quantity=3, location_id=shelf.id, by=None)
        response = client.post(f"/console/products/{product.id}/delete", headers=htmx_headers())
        assert response.status_code == 409
        assert "cannot be deleted. Archive it instead" in response.headers["HX-Trigger"]
        response = client.post(f"/console/products/{product.id}/delete", follow_redirects=True)
        assert "Kept Mug has stock history" in response.get_data(as_text=True)
        db.session.expire_all()
        assert db.session.get(Product, product.id) is not None


class TestVariants:
    def test_generate_matrix_with_htmx(self, client, login, make_product):
        login("merchandiser")
        product = make_product(price=2000)
        response = client.post(
            f"/console/products/{product.id}/options",
            headers=htmx_headers(),
            data={
                "option1_name": "Size",
                "option1_values": "S, M",
                "option2_name": "Colour",
                "option2_values": "Blue, Sand",
                "generate": "1",
            },
        )
        assert response.status_code == 200
        assert toast_of(response)["message"] == "Options saved. 3 variants created."
        html = response.get_data(as_text=True)
        assert html.lstrip().startswith('<section id="variants"')
        for title in ["S / Blue", "S / Sand", "M / Blue", "M / Sand"]:
            assert title in html

    def test_options_without_values_are_refused(self, client, login, make_product):
        login("merchandiser")
        product = make_product()
        response = client.post(
            f"/console/products/{product.id}/options",
            headers=htmx_headers(),
            data={"option1_name": "Size"},
        )
        assert response.status_code == 422
        assert "Give the option at least one value." in response.get_data(as_text=True)

    def test_inline_cell_edit(self, client, login, make_product):
        login("merchandiser")
        product = make_product(price=1000)
        variant = product.variants[0]
        url = f"/console/variants/{variant.id}/cells/price"
        editor = client.get(url + "?edit=1", headers=htmx_headers()).get_data(as_text=True)
        assert 'name="value" value="10.00"' in editor
        saved = client.post(url, data={"value": "12.50"}, headers=htmx_headers())
        assert saved.status_code == 200 and ">12.50</td>" in saved.get_data(as_text=True)
        assert variant.price == 1250

    @pytest.mark.parametrize(
        ("field", "value", "message"),
        [
            ("price", "-3", "A price cannot be negative."),
            ("price", "", "Enter a price."),
            ("compare_at_price", "x", "is not an amount"),
            ("sku", "bad sku", "A SKU is up to 64"),
            ("sku", "TAKEN-1", "already used"),
            ("weight_grams", "-5", "Weight cannot be negative."),
        ],
    )
    def test_inline_cell_errors_stay_in_the_cell(
        self, client, login, make_product, field, value, message
    ):
        login("merchandiser")
        make_product(sku="TAKEN-1")
        product = make_product(price=1000, sku="MINE-1")
        variant = product.variants[0]
        response = client.post(
            f"/console/variants/{variant.id}/cells/{field}",
            data={"value": value},
            headers=htmx_headers(),
        )
        assert response.status_code == 422
        html = response.get_data(as_text=True)
        assert html.lstrip().startswith(f'<td id="cell-{variant.id}-{field}"') and message in html
        db.session.expire_all()
        fresh = db.session.get(Variant, variant.id)
        assert (fresh.price, fresh.sku) == (1000, "MINE-1")

    def test_unknown_cell_field_is_404(self, client, login, make_product):
        login("merchandiser")
        product = make_product()
        assert (
            client.get(
                f"/console/variants/{product.variants[0].id}/cells/currency?edit=1"
            ).status_code
            == 404
        )

    def test_support_may_view_cells_but_not_edit(self, client, login, make_product):
        login("support")
        variant = make_product().variants[0]
        url = f"/console/variants/{variant.id}/cells/price"
        assert client.get(url, headers=htmx_headers()).status_code == 200
        assert client.get(url + "?edit=1", headers=htmx_headers()).status_code == 403

    def test_add_and_delete_variant(self, client, login, make_product):
        login("merchandiser")
        product = make_product(options=[("Size", ["S", "M", "L"])])
        variants = {v.title: v for v in product.variants}
        client.post(f"/console/variants/{variants['L'].id}/delete", headers=htmx_headers())
        response = client.post(
            f"/console/products/{product.id}/variants",
            headers=htmx_headers(),
            data={"option1": "L", "price": "9.99", "sku": "NEW-L"},
        )
        assert response.status_code == 200, response.get_data(as_text=True)
        assert {v.title for v in product.variants} == {"S", "M", "L"}
        dup = client.post(
            f"/console/products/{product.id}/variants",
            headers=htmx_headers(),
            data={"option1": "S", "price": "9.99"},
        )
        assert dup.status_code == 422 and "already has these option values" in dup.get_data(
            as_text=True
        )


class TestMedia:
    @staticmethod
    def png():
        buffer = io.BytesIO()
        Image.new("RGB", (40, 40), (200, 30, 30)).save(buffer, format="PNG")
        return buffer.getvalue()

    def test_upload_alt_and_delete(self, client, login, make_product):
        login("merchandiser")
        product = make_product()
        response = client.post(
            f"/console/products/{product.id}/media",
            headers=htmx_headers(),
            data={"image": (io.BytesIO(self.png()), "red.png"), "alt": "Red"},
            content_type="multipart/form-data",
        )
        assert response.status_code == 200 and toast_of(response)["message"] == "1 image uploaded."
        media = product.media[0]
        thumb = client.get(f"/media/{media.thumb_path}")
        assert thumb.status_code == 200 and thumb.mimetype == "image/png"
        client.post(
            f"/console/media/{media.id}/alt", data={"alt": "Red front"}, headers=htmx_headers()
        )
        assert media.alt == "Red front"
        client.post(f"/console/media/{media.id}/delete", headers=htmx_headers())
        assert product.media == []

    @pytest.mark.parametrize(
        ("payload", "name", "message"),
        [
            (b"not an image at all", "notes.txt", "is not an image we can use"),
            (None, "huge.png", "images are at most"),
        ],
    )
    def test_bad_upload_gets_a_message_and_saves_nothing(
        self, app, client, login, make_product, monkeypatch, payload, name, message
    ):
        login("merchandiser")
        product = make_product()
        if payload is None:
            monkeypatch.setitem(app.config, "MEDIA_MAX_BYTES", 50)
            payload = self.png()
        response = client.post(
            f"/console/products/{product.id}/media",
            headers=htmx_headers(),
            data={"image": (io.BytesIO(payload), name)},
            content_type="multipart/form-data",
        )
        assert response.status_code == 422 and message in response.get_data(as_text=True)
        assert product.media == []


def test_cells_without_htmx_fall_back_to_the_editor(client, login, make_product):
    login("merchandiser")
    product = make_product(price=1000)
    variant = product.variants[0]
    response = client.get(f"/console/variants/{variant.id}/cells/price?edit=1")
    assert response.status_code == 302 and response.headers["Location"].endswith(
        f"/console/products/{product.id}#variants"
    )
    response = client.post(f"/console/variants/{variant.id}/cells/price", data={"value": "-5"})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert 'class="sidebar"' in html and "Price not saved: A price cannot be negative." in html

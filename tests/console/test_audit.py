from __future__ import annotations

from datetime import date, timedelta

from commerce.catalog.services import update_product


def test_audit_log_filters(client, login, make_staff, make_product):
    admin = login("admin")
    other = make_staff("merchandiser")
    mine = make_product("Mine")
    theirs = make_product("Theirs")
    update_product(mine, title="Mine v2", by=admin)
    update_product(theirs, title="Theirs v2", by=other)

    def rows(query):
        return client.get(f"/console/audit?{query}").get_data(as_text=True)

    by_actor = rows(f"actor={other.id}")
    assert "Theirs v2" in by_actor and "Mine v2" not in by_actor
    by_subject = rows(f"subject_type=product&subject_id={mine.id}")
    assert "Mine v2" in by_subject and "Theirs" not in by_subject
    today = date.today()
    assert "Mine v2" in rows(f"from={today.isoformat()}&to={today.isoformat()}")
    assert "No entries" in rows(f"to={(today - timedelta(days=3)).isoformat()}")
    fragment = client.get("/console/audit?q=Theirs", headers={"HX-Request": "true"}).get_data(
        as_text=True
    )
    assert fragment.lstrip().startswith('<div id="list">') and "Theirs v2" in fragment


def test_product_page_shows_its_own_history(client, login, make_product):
    admin = login("admin")
    product = make_product("History")
    other = make_product("Unrelated")
    update_product(product, vendor="Acme", by=admin)
    update_product(other, vendor="Other", by=admin)
    page = client.get(f"/console/products/{product.id}/history").get_data(as_text=True)
    assert "Acme" in page and "Other" not in page


def test_only_admins_read_the_audit_log(client, login):
    login("merchandiser")
    assert client.get("/console/audit").status_code == 403


def test_product_history_includes_its_variants_bulk_price_changes(client, login, make_product):
    """A bulk price change is logged on each variant: the product's History shows it."""
    from commerce.catalog.services import bulk_update_products

    merch = login("merchandiser")
    product = make_product("Priced Jug", price=1000)
    other = make_product("Other Jug", price=1000)
    bulk_update_products([product.id], action="change_price", by=merch, percent=10)
    bulk_update_products([other.id], action="change_price", by=merch, amount=500)
    for url in (f"/console/products/{product.id}/history", f"/console/products/{product.id}"):
        page = client.get(url).get_data(as_text=True)
        assert "No changes recorded yet" not in page
        assert "variant.bulk_change_price" in page and "$11.00" in page
        assert "$15.00" not in page

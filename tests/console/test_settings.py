"""Settings pages for checkout: shipping methods and tax rates, through the test client."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from commerce.extensions import db
from commerce.shipping.models import ShippingMethod
from commerce.shipping.services import create_shipping_method
from commerce.tax.models import TaxRate
from commerce.tax.services import create_tax_rate
from tests.conftest import htmx_headers

SHIPPING_FORM = {
    "name": "Standard",
    "code": "std",
    "kind": "flat",
    "countries": "de at",
    "price": "4.95",
    "free_over": "50.00",
    "position": "1",
    "is_active": "y",
    "brackets": "",
}


def method(code):
    return db.session.scalar(select(ShippingMethod).where(ShippingMethod.code == code))


class TestShipping:
    def test_create_flat_method(self, client, login):
        login("admin")
        assert "No shipping methods yet" in client.get("/console/settings/shipping").text
        assert client.get("/console/settings/shipping/new").status_code == 200
        response = client.post("/console/settings/shipping/new", data=SHIPPING_FORM)
        assert response.status_code == 303, response.text
        created = method("STD")
        assert (created.price, created.free_over, created.countries) == (495, 5000, ["DE", "AT"])
        html = client.get("/console/settings/shipping").text
        assert "Standard" in html and "$4.95" in html and "DE AT" in html

    def test_create_weight_method_from_lines(self, client, login):
        login("admin")
        data = {**SHIPPING_FORM, "code": "PARCEL", "kind": "weight", "price": ""}
        data["brackets"] = "500 4.95\n\n2000g 7.95\n* 19.00\n"
        response = client.post("/console/settings/shipping/new", data=data)
        assert response.status_code == 303, response.text
        assert method("PARCEL").brackets == [
            {"up_to_grams": 500, "price": 495},
            {"up_to_grams": 2000, "price": 795},
            {"up_to_grams": None, "price": 1900},
        ]
        html = client.get("/console/settings/shipping").text
        assert "≤ 2,000 g: $7.95" in html and "heavier: $19.00" in html

    def test_bad_input_answers_422_at_the_field_and_row(self, client, login):
        login("admin")
        data = {**SHIPPING_FORM, "kind": "weight", "countries": "DE ZZZ"}
        data["brackets"] = "1000 5.00\n500 4.00\nheavy 3"
        response = client.post("/console/settings/shipping/new", data=data)
        assert response.status_code == 422
        html = response.text
        assert "Row 3: “heavy” is not a whole number of grams." in html
        assert 'aria-invalid="true"' in html
        # parse problems first; once the rows parse, the service checks their order
        data["brackets"] = "1000 5.00\n500 4.00"
        html = client.post("/console/settings/shipping/new", data=data).text
        assert "Row 2: weights must go up (500 g after 1000 g)." in html
        assert "Unknown country code: ZZZ." in html
        assert (
            client.post(
                "/console/settings/shipping/new", data={**SHIPPING_FORM, "price": "4.999"}
            ).status_code
            == 422
        )
        assert method("STD") is None

    def test_edit_and_deactivate(self, client, login):
        login("admin")
        existing = create_shipping_method(
            name="Express",
            code="EXP",
            kind="weight",
            by=None,
            brackets=[{"up_to_grams": 1000, "price": 1500}, {"up_to_grams": None, "price": 2500}],
        )
        url = f"/console/settings/shipping/{existing.id}/edit"
        html = client.get(url).text
        assert (
            "1000 15.00\n* 25.00" in html and "Deactivate method" in html and "hx-confirm" in html
        )
        data = {**SHIPPING_FORM, "name": "Express", "code": "EXP", "kind": "weight", "price": ""}
        data["brackets"] = "1000 16.00\n* 26.00"
        assert client.post(url, data=data).status_code == 303
        assert existing.brackets[0] == {"up_to_grams": 1000, "price": 1600}
        data["code"] = ""
        assert client.post(url, data=data).status_code == 422
        response = client.post(
            f"/console/settings/shipping/{existing.id}/deactivate", headers=htmx_headers()
        )
        assert response.status_code == 204 and "HX-Location" in response.headers
        assert existing.is_active is False
        assert client.get("/console/settings/shipping/999999/edit").status_code == 404


class TestTaxes:
    def test_create_and_edit(self, client, login):
        login("admin")
        assert "No tax rates yet" in client.get("/console/settings/taxes").text
        data = {
            "country": "us",
            "region": "ca",
            "name": "CA sales tax",
            "rate_bps": "7.25",
            "is_active": "y",
        }
        assert client.post("/console/settings/taxes/new", data=data).status_code == 303
        rate = db.session.scalar(select(TaxRate).where(TaxRate.region == "CA"))
        assert (rate.country, rate.rate_bps) == ("US", 725)
        html = client.get("/console/settings/taxes").text
        assert "7.25%" in html and "United States" in html and "exclude" in html
        url = f"/console/settings/taxes/{rate.id}/edit"
        assert 'value="7.25"' in client.get(url).text
        assert client.post(url, data={**data, "rate_bps": "8%"}).status_code == 303
        assert rate.rate_bps == 800

    @pytest.mark.parametrize(
        ("changes", "message"),
        [
            ({"rate_bps": "8.125"}, "At most two decimal places"),
            ({"rate_bps": "abc"}, "is not a percentage"),
            ({"rate_bps": "101"}, "Enter a rate from 0% to 100%."),
            ({"country": "XX"}, "XX is not an ISO 3166 country code."),
            ({"name": ""}, "Enter a name"),
        ],
    )
    def test_bad_input_answers_422(self, client, login, changes, message):
        login("admin")
        data = {"country": "DE", "region": "", "name": "VAT", "rate_bps": "19", **changes}
        response = client.post("/console/settings/taxes/new", data=data)
        assert response.status_code == 422
        assert message in response.text

    def test_duplicate_and_deactivate(self, client, login):
        login("admin")
        vat = create_tax_rate(country="DE", name="VAT", rate_bps=1900, by=None)
        data = {"country": "DE", "name": "VAT again", "rate_bps": "19"}
        response = client.post("/console/settings/taxes/new", data=data)
        assert response.status_code == 422 and "DE already has a tax rate" in response.text
        assert "hx-confirm" in client.get(f"/console/settings/taxes/{vat.id}/edit").text
        response = client.post(f"/console/settings/taxes/{vat.id}/deactivate")
        assert response.status_code == 303
        assert vat.is_active is False


@pytest.mark.parametrize("role", ["merchandiser", "warehouse", "support"])
def test_only_admins_manage_settings(client, login, role):
    login(role)
    for url in ("/console/settings/shipping", "/console/settings/taxes"):
        assert client.get(url).status_code == 403
        assert client.post(url + "/new", data={"name": "x"}).status_code == 403
    html = client.get("/console/").text
    assert "/console/settings/shipping" not in html


def test_admin_sees_settings_in_the_navigation(client, login):
    login("admin")
    html = client.get("/console/settings/taxes").text
    assert 'href="/console/settings/shipping"' in html and 'href="/console/settings/taxes"' in html

"""Cart and checkout through HTTP: the guest and signed-in flows end to end, declines, 3-D
Secure, and every bad input answered with a clear message, a 4xx and nothing created."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from commerce.checkout.models import Cart, Checkout
from commerce.customers.services import add_address
from commerce.extensions import db
from commerce.inventory.models import Reservation, StockLevel
from commerce.orders.models import Order
from commerce.payments.models import Payment
from tests.conftest import TEST_PASSWORD, US_ADDRESS, base_config
from tests.storefront.test_account import shop_sign_in

CARD = {"card_number": "4242 4242 4242 4242", "exp_month": "12", "exp_year": "2031", "cvc": "123"}


def count(model, *where):
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def held(variant_id):
    return db.session.scalar(
        select(func.coalesce(func.sum(StockLevel.reserved), 0)).where(
            StockLevel.variant_id == variant_id
        )
    )


def add(client, variant_id, quantity=1, **headers):
    return client.post(
        "/cart/add", data={"variant_id": variant_id, "quantity": quantity}, headers=headers
    )


def enter_checkout(client):
    response = client.post("/checkout")
    assert response.status_code == 303, response.get_data(as_text=True)[:400]
    key = re.search(r"/checkout/([^/]+)/", response.location).group(1)
    return key, response


def information(client, key, **changes):
    data = {"email": "ada@example.com", **US_ADDRESS, **changes}
    return client.post(f"/checkout/{key}/information", data=data)


def ready_to_pay(client, variant_id, quantity=1):
    assert add(client, variant_id, quantity).status_code == 303
    key, _ = enter_checkout(client)
    assert information(client, key).status_code == 303
    assert (
        client.post(f"/checkout/{key}/shipping", data={"shipping_method": "STD"}).status_code == 303
    )
    return key


class TestCart:
    def test_add_change_remove_with_totals(self, client, checkout_shop):
        shop = checkout_shop
        assert client.get("/cart").status_code == 200
        response = add(client, shop.small, 2)
        assert response.status_code == 303 and response.location.endswith("/cart")
        assert "cart=" in response.headers["Set-Cookie"]
        add(client, shop.medium, 1)
        page = client.get("/cart?country=US").get_data(as_text=True)
        assert "$75.00" in page  # subtotal 3 x 25.00
        assert "Standard" in page  # cheapest shipping option in the estimate
        assert client.post(f"/cart/lines/{shop.small}", data={"quantity": 4}).status_code == 303
        assert "$125.00" in client.get("/cart").get_data(as_text=True)
        assert client.post(f"/cart/lines/{shop.medium}/remove").status_code == 303
        assert "$100.00" in client.get("/cart").get_data(as_text=True)
        count_html = client.get("/cart/count").get_data(as_text=True)
        assert "(4" in count_html
        assert client.get("/cart/count").headers["Cache-Control"] == "private, no-store"

    def test_htmx_add_answers_a_fragment_with_the_new_count(self, client, checkout_shop):
        response = add(client, checkout_shop.small, 2, **{"HX-Request": "true"})
        html = response.get_data(as_text=True)
        assert response.status_code == 200
        assert "Added to your cart" in html and 'hx-swap-oob="true"' in html and "(2" in html

    def test_the_add_form_comes_in_a_private_fragment(self, client, checkout_shop):
        response = client.get(f"/cart/form?variant={checkout_shop.small}")
        assert response.headers["Cache-Control"] == "private, no-store"
        assert 'name="variant_id"' in response.get_data(as_text=True)

    @pytest.mark.parametrize(
        ("quantity", "message"),
        [
            (0, "Enter 1 or more."),
            (-2, "The quantity cannot be negative."),
            (100, "You can buy at most 99 of one item."),
            (11, "Only 10 left in stock."),
            ("lots", "Enter the quantity as a whole number."),
        ],
    )
    def test_bad_quantities_are_refused(self, client, checkout_shop, quantity, message):
        response = add(client, checkout_shop.small, quantity)
        assert response.status_code == 422
        assert message in response.get_data(as_text=True)
        assert count(Cart) == 0

    def test_changing_beyond_stock_says_so_at_the_line(self, client, checkout_shop):
        add(client, checkout_shop.small, 2)
        response = client.post(f"/cart/lines/{checkout_shop.small}", data={"quantity": 50})
        assert response.status_code == 422
        html = response.get_data(as_text=True)
        assert "Only 10 left in stock." in html and f'id="line-{checkout_shop.small}"' in html

    def test_unknown_or_draft_variant_is_not_for_sale(self, client, checkout_shop, make_product):
        draft = make_product("Secret", status="draft")
        for variant_id in (999999, draft.variants[0].id, "abc"):
            response = add(client, variant_id)
            assert response.status_code == 404
            assert "not for sale" in response.get_data(as_text=True)

    def test_tampered_cart_cookie_is_refused_and_cleared(self, client, checkout_shop):
        add(client, checkout_shop.small, 1)
        client.set_cookie("cart", "forged.value")
        response = client.get("/cart")
        assert response.status_code == 400
        assert "could not read your cart" in response.get_data(as_text=True)
        assert "cart=;" in response.headers["Set-Cookie"]
        assert client.get("/cart").status_code == 200  # cleared: a fresh, empty cart
        client.set_cookie("cart", "forged.value")
        assert client.post("/checkout").status_code == 400
        assert count(Checkout) == 0

    def test_guest_cart_merges_into_the_saved_cart_at_sign_in(
        self, client, checkout_shop, make_customer
    ):
        customer = make_customer()
        assert shop_sign_in(client, customer).status_code == 303
        add(client, checkout_shop.small, 2)
        client.post("/account/logout")
        add(client, checkout_shop.small, 1)
        add(client, checkout_shop.medium, 3)
        assert shop_sign_in(client, customer).status_code == 303
        cart = db.session.scalar(select(Cart).where(Cart.customer_id == customer.id))
        assert dict(cart.line_pairs()) == {checkout_shop.small: 3, checkout_shop.medium: 3}
        assert count(Cart) == 1


class TestGuestCheckout:
    def test_end_to_end(self, client, checkout_shop):
        shop = checkout_shop
        add(client, shop.small, 2)
        key, response = enter_checkout(client)
        assert response.location.endswith(f"/checkout/{key}/information")
        assert held(shop.small) == 2
        page = client.get(f"/checkout/{key}/information")
        assert page.status_code == 200 and "held for you" in page.get_data(as_text=True)
        assert page.headers["Cache-Control"] == "private, no-store"
        assert information(client, key).location.endswith(f"/checkout/{key}/shipping")
        shipping = client.get(f"/checkout/{key}/shipping").get_data(as_text=True)
        assert "Standard" in shipping and "Heavy goods" in shipping
        response = client.post(f"/checkout/{key}/shipping", data={"shipping_method": "STD"})
        assert response.location.endswith(f"/checkout/{key}/payment")
        review = client.get(f"/checkout/{key}/payment").get_data(as_text=True)
        assert "$58.98" in review  # 50.00 + 5.00 shipping + 3.98 CA tax
        response = client.post(f"/checkout/{key}/place", data=CARD)
        assert response.status_code == 303 and "/orders/" in response.location
        confirmation = client.get(response.location)
        html = confirmation.get_data(as_text=True)
        assert confirmation.status_code == 200 and "Thank you! Order #" in html
        assert "$58.98" in html and "ada@example.com" in html
        order = db.session.scalar(select(Order))
        assert order.total == 5898 and order.email == "ada@example.com"
        assert held(shop.small) == 0
        assert count(Payment, Payment.status == "captured") == 1
        # A retried request (double click, back button) lands on the same order.
        again = client.post(f"/checkout/{key}/place", data=CARD)
        assert again.status_code == 303 and again.location == response.location
        assert count(Order) == 1 and count(Payment) == 1
        # The cart was emptied of what was bought.
        assert "Your cart is empty" in client.get("/cart").get_data(as_text=True)

    def test_another_browser_cannot_open_the_checkout(self, app, client, checkout_shop):
        key = ready_to_pay(client, checkout_shop.small)
        stranger = app.test_client()
        assert stranger.get(f"/checkout/{key}/payment").status_code == 404
        assert stranger.post(f"/checkout/{key}/place", data=CARD).status_code == 404
        assert count(Order) == 0

    def test_sold_out_when_entering_checkout(self, app, client, checkout_shop):
        shop = checkout_shop
        add(client, shop.small, 10)
        rival = app.test_client()
        add(rival, shop.small, 1)
        enter_checkout(client)  # holds all ten
        response = rival.post("/checkout")
        assert response.status_code == 409
        assert "Sold out" in response.get_data(as_text=True)
        assert count(Checkout) == 1

    def test_steps_in_order(self, client, checkout_shop):
        add(client, checkout_shop.small)
        key, _ = enter_checkout(client)
        assert client.get(f"/checkout/{key}/payment").location.endswith("/information")
        assert client.get(f"/checkout/{key}/shipping").location.endswith("/information")


class TestBadInput:
    def test_bad_email_and_missing_address_fields(self, client, checkout_shop):
        add(client, checkout_shop.small)
        key, _ = enter_checkout(client)
        response = information(
            client, key, email="not-an-email", line1="", city="", postal_code="1"
        )
        html = response.get_data(as_text=True)
        assert response.status_code == 422
        assert "Enter a valid email address" in html
        assert "Enter the street address." in html and "Enter a city." in html
        assert "Enter a ZIP code" in html
        checkout = db.session.scalar(select(Checkout))
        assert checkout.email == "" and checkout.shipping_address == {}

    def test_region_required_for_us(self, client, checkout_shop):
        add(client, checkout_shop.small)
        key, _ = enter_checkout(client)
        response = information(client, key, region="")
        assert response.status_code == 422 and "Enter a state." in response.get_data(as_text=True)

    def test_unknown_shipping_method(self, client, checkout_shop):
        add(client, checkout_shop.small)
        key, _ = enter_checkout(client)
        information(client, key)
        response = client.post(f"/checkout/{key}/shipping", data={"shipping_method": "TELEPORT"})
        assert response.status_code == 422
        assert "not available for this address" in response.get_data(as_text=True)
        assert db.session.scalar(select(Checkout)).shipping_method_code == ""

    def test_bad_card_fields(self, client, checkout_shop):
        key = ready_to_pay(client, checkout_shop.small)
        bad = {"card_number": "4242", "exp_month": "13", "exp_year": "2031", "cvc": "1"}
        response = client.post(f"/checkout/{key}/place", data=bad)
        html = response.get_data(as_text=True)
        assert response.status_code == 422
        assert "That card number is not valid." in html
        assert "Enter the expiry month (1 to 12)." in html
        assert "Enter the 3 or 4 digit security code." in html
        assert count(Order) == 0 and count(Payment) == 0

    def test_wrong_csrf_token(self, app, client, checkout_shop, monkeypatch):
        add(client, checkout_shop.small)
        monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)
        response = client.post("/checkout", data={"csrf_token": "wrong"})
        assert response.status_code == 400
        assert "Your form expired" in response.get_data(as_text=True)
        assert client.post("/cart/add", data={"variant_id": checkout_shop.small}).status_code == 400
        assert count(Checkout) == 0


class TestPayment:
    def test_declined_card_creates_no_order_and_keeps_the_hold(self, client, checkout_shop):
        key = ready_to_pay(client, checkout_shop.small, 2)
        declined = dict(CARD, card_number="4000000000000002")
        response = client.post(f"/checkout/{key}/place", data=declined)
        assert response.status_code == 402
        assert "Your card was declined" in response.get_data(as_text=True)
        assert count(Order) == 0
        assert held(checkout_shop.small) == 2
        assert count(Reservation, Reservation.status == "active") == 1
        # Another card works, with the same checkout key.
        response = client.post(f"/checkout/{key}/place", data=CARD)
        assert response.status_code == 303 and count(Order) == 1

    def test_insufficient_funds_message(self, client, checkout_shop):
        key = ready_to_pay(client, checkout_shop.small)
        response = client.post(
            f"/checkout/{key}/place", data=dict(CARD, card_number="4000000000009995")
        )
        assert response.status_code == 402 and "insufficient funds" in response.get_data(
            as_text=True
        )

    def test_bank_confirmation_page(self, client, checkout_shop):
        key = ready_to_pay(client, checkout_shop.small)
        response = client.post(
            f"/checkout/{key}/place", data=dict(CARD, card_number="4000000000003220")
        )
        assert response.location.endswith(f"/checkout/{key}/authenticate")
        page = client.get(response.location)
        assert "Confirm with your bank" in page.get_data(as_text=True)
        assert count(Order) == 0
        done = client.post(f"/checkout/{key}/authenticate", data={"decision": "approve"})
        assert done.status_code == 303 and "/orders/" in done.location
        assert count(Order) == 1

    def test_bank_confirmation_cancelled(self, client, checkout_shop):
        key = ready_to_pay(client, checkout_shop.small)
        client.post(f"/checkout/{key}/place", data=dict(CARD, card_number="4000000000003220"))
        response = client.post(f"/checkout/{key}/authenticate", data={"decision": "reject"})
        assert response.status_code == 402
        assert count(Order) == 0
        assert client.post(f"/checkout/{key}/place", data=CARD).status_code == 303


class TestSignedIn:
    def test_checkout_with_a_saved_address_and_order_history(
        self, client, checkout_shop, make_customer
    ):
        customer = make_customer(email="grace@example.com")
        add_address(customer, make_default=True, **US_ADDRESS)
        assert shop_sign_in(client, customer).status_code == 303
        add(client, checkout_shop.small, 1)
        key, response = enter_checkout(client)
        page = client.get(response.location).get_data(as_text=True)
        assert "grace@example.com" in page and "1 Market Street" in page
        saved = customer.addresses[0].id
        response = client.post(
            f"/checkout/{key}/information",
            data={"email": "grace@example.com", "saved_address": saved, "country": ""},
        )
        assert response.status_code == 303
        client.post(f"/checkout/{key}/shipping", data={"shipping_method": "STD"})
        response = client.post(f"/checkout/{key}/place", data=CARD)
        assert response.status_code == 303
        order = db.session.scalar(select(Order))
        assert order.customer_id == customer.id
        assert order.shipping_address["line1"] == "1 Market Street"
        overview = client.get("/account").get_data(as_text=True)
        assert order.name in overview


class TestOrderStatus:
    def test_tampered_link_is_not_found(self, client, checkout_shop):
        key = ready_to_pay(client, checkout_shop.small)
        location = client.post(f"/checkout/{key}/place", data=CARD).location
        assert client.get(location).status_code == 200
        assert client.get(location[:-3] + "xyz").status_code == 404
        assert client.get("/orders/nonsense").status_code == 404

    def test_the_link_works_in_another_browser(self, app, client, checkout_shop):
        key = ready_to_pay(client, checkout_shop.small)
        location = client.post(f"/checkout/{key}/place", data=CARD).location
        response = app.test_client().get(location)
        assert response.status_code == 200 and "Thank you" in response.get_data(as_text=True)
        assert response.headers["Cache-Control"] == "private, no-store"


def test_base_config_keeps_csrf_off_for_these_tests(tmp_path):
    assert base_config(tmp_path)["WTF_CSRF_ENABLED"] is False
    assert TEST_PASSWORD


def test_the_status_link_does_not_show_the_email(client, checkout_shop):
    import base64

    key = ready_to_pay(client, checkout_shop.small)
    location = client.post(f"/checkout/{key}/place", data=CARD).location
    token = location.rsplit("/", 1)[1]
    payload = token.split(".")[0]
    decoded = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    assert b"ada@example.com" not in decoded and b"example" not in decoded


def test_place_order_is_rate_limited_per_checkout(app, client, checkout_shop, monkeypatch):
    from commerce.extensions import limiter

    monkeypatch.setitem(app.config, "CHECKOUT_RATE_LIMIT", "3 per minute")
    monkeypatch.setattr(limiter, "enabled", True)
    limiter.reset()
    key = ready_to_pay(client, checkout_shop.small)
    declined = dict(CARD, card_number="4000000000000002")
    answers = [client.post(f"/checkout/{key}/place", data=declined).status_code for _ in range(4)]
    assert answers == [402, 402, 402, 429]
    # Another shopper's checkout from the same address is not affected.
    other = app.test_client()
    other_key = ready_to_pay(other, checkout_shop.medium)
    assert other.post(f"/checkout/{other_key}/place", data=CARD).status_code == 303


def test_customer_requests_a_return_from_the_status_page(app, client, checkout_shop, make_staff):
    from commerce.orders.fulfillment import create_fulfillment, pickable, ship_fulfillment

    key = ready_to_pay(client, checkout_shop.small, 2)
    location = client.post(f"/checkout/{key}/place", data=CARD).location
    order = db.session.scalar(select(Order))
    assert "Return items" not in client.get(location).get_data(as_text=True)  # nothing shipped
    warehouse = make_staff("warehouse")
    (location_id,) = pickable(order)
    parcel = create_fulfillment(order, location_id=location_id, by=warehouse)
    ship_fulfillment(parcel, carrier="UPS", tracking_number="1Z", by=warehouse)
    page = client.get(location).get_data(as_text=True)
    assert "Return items" in page and "UPS" in page
    line = db.session.scalar(select(Order)).lines[0]
    too_many = client.post(f"{location}/return", data={f"return-{line.id}": "5", "reason": "x"})
    assert too_many.status_code == 422
    response = client.post(
        f"{location}/return", data={f"return-{line.id}": "1", "reason": "Too big"}
    )
    assert response.status_code == 303
    page = client.get(location).get_data(as_text=True)
    assert "RMA-" in page and "waiting for the items" in page

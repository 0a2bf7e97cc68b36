"""A shopper enters a coupon in the cart (and at checkout), sees the discount and what it is,
pays, and the order snapshot, the order page, the invoice PDF and the console order page all
carry it; bad codes and codes that ran out are answered at the field with a 4xx and no order."""

from __future__ import annotations

import re

from sqlalchemy import func, select

from commerce.extensions import db
from commerce.orders.models import Order
from commerce.payments.models import Payment
from commerce.promotions.coupons import add_coupon_code
from commerce.promotions.models import Redemption
from commerce.promotions.services import create_promotion, enable_promotion
from tests.commerce.documents.helpers import pdf_text
from tests.conftest import US_ADDRESS, sign_in
from tests.storefront.test_cart_checkout import CARD, add, enter_checkout, information

LABEL = "Summer sale \u221220%"


def summer(**fields):
    fields.setdefault("usage_limit", 20)
    promotion = create_promotion(
        by=None,
        name="Summer sale",
        requires_coupon=True,
        actions=[{"kind": "percent_off_order", "params": {"percent": 20}}],
        **fields,
    )
    add_coupon_code(promotion, code="SUMMER", by=None)
    enable_promotion(promotion, by=None)
    return promotion


def text(response):
    return response.get_data(as_text=True)


def count(model):
    return db.session.scalar(select(func.count()).select_from(model))


def test_coupon_from_cart_to_invoice(client, checkout_shop, make_staff):
    shop = checkout_shop
    promotion = summer()
    assert add(client, shop.small, 2).status_code == 303
    response = client.post("/cart/coupon", data={"coupon_code": " summer "})
    assert response.status_code == 303 and response.location.endswith("/cart")
    page = text(client.get("/cart"))
    assert f"{LABEL}: \u2212$10.00" in page  # 20% of 2 x 25.00, on the line
    assert "SUMMER" in page and "applied" in page
    assert "$40.00" in page  # the line after its discount

    key, _ = enter_checkout(client)
    assert information(client, key).status_code == 303
    assert (
        client.post(f"/checkout/{key}/shipping", data={"shipping_method": "STD"}).status_code == 303
    )
    review = text(client.get(f"/checkout/{key}/payment"))
    assert f"{LABEL}: \u2212$10.00" in review and "\u2212$10.00" in review
    # 40.00 + 5.00 shipping + CA 7.25% on 40.00 (2.90) and on 5.00 (0.36)
    assert "$48.26" in review

    placed = client.post(f"/checkout/{key}/place", data=CARD)
    assert placed.status_code == 303 and placed.location.startswith("/orders/")
    confirmation = text(client.get(placed.location))
    assert f"{LABEL}: \u2212$10.00" in confirmation

    order = db.session.scalar(select(Order))
    assert (order.discount_total, order.total) == (1000, 4826)
    assert order.lines[0].adjustments[0]["label"] == LABEL
    assert order.lines[0].adjustments[0]["code"] == "SUMMER"
    redemption = db.session.scalar(select(Redemption))
    assert (redemption.order_id, redemption.promotion_id, redemption.status) == (
        order.id,
        promotion.id,
        "redeemed",
    )

    staff = make_staff("support")
    console = client.application.test_client()
    assert sign_in(console, staff).status_code == 303
    detail = text(console.get(f"/console/orders/{order.id}"))
    assert "Discounts" in detail and "\u2212$10.00" in detail
    pdf = console.get(f"/console/orders/{order.id}/invoice.pdf")
    assert pdf.status_code == 200
    invoice = pdf_text(pdf.data)
    assert LABEL in invoice and "$10.00" in invoice


def test_codes_are_checked_at_the_field(client, checkout_shop):
    summer()
    assert client.post("/cart/coupon", data={"coupon_code": "SUMMER"}).status_code == 422
    add(client, checkout_shop.small, 1)
    response = client.post("/cart/coupon", data={"coupon_code": "NOPE"})
    assert response.status_code == 422
    assert re.search(r'id="coupon-code"[^>]*aria-invalid="true"', text(response))
    assert "NOPE is not a valid code." in text(response)
    fragment = client.post(
        "/cart/coupon", data={"coupon_code": "nope"}, headers={"HX-Request": "true"}
    )
    assert fragment.status_code == 422 and "<html" not in text(fragment)
    assert client.post("/cart/coupon", data={"coupon_code": "summer"}).status_code == 303
    assert "SUMMER" in text(client.get("/cart"))
    assert client.post("/cart/coupon/remove").status_code == 303
    assert LABEL not in text(client.get("/cart"))


def test_coupon_posts_need_the_csrf_token(app, client, checkout_shop, monkeypatch):
    add(client, checkout_shop.small, 1)
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)
    assert client.post("/cart/coupon", data={"coupon_code": "SUMMER"}).status_code == 400


def test_a_code_entered_at_checkout(client, checkout_shop):
    summer()
    add(client, checkout_shop.small, 2)
    key, _ = enter_checkout(client)
    bad = client.post(
        f"/checkout/{key}/coupon", data={"coupon_code": "WINTER", "step": "information"}
    )
    assert bad.status_code == 422 and "WINTER is not a valid code." in text(bad)
    good = client.post(
        f"/checkout/{key}/coupon", data={"coupon_code": "summer", "step": "information"}
    )
    assert good.status_code == 303 and good.location.endswith(f"/checkout/{key}/information")
    assert f"{LABEL}: \u2212$10.00" in text(client.get(f"/checkout/{key}/information"))


def test_a_code_that_ran_out_before_paying_is_a_409_without_charge(client, checkout_shop, app):
    summer(usage_limit=1)
    other = app.test_client()
    for browser in (client, other):
        add(browser, checkout_shop.small, 1)
        assert browser.post("/cart/coupon", data={"coupon_code": "SUMMER"}).status_code == 303
    keys = []
    for browser in (client, other):
        key, _ = enter_checkout(browser)
        assert information(browser, key, email=f"{len(keys)}@example.com").status_code == 303
        browser.post(f"/checkout/{key}/shipping", data={"shipping_method": "STD"})
        keys.append(key)
    assert client.post(f"/checkout/{keys[0]}/place", data=CARD).status_code == 303
    payments = count(Payment)
    response = other.post(f"/checkout/{keys[1]}/place", data=CARD)
    assert response.status_code == 409
    assert "you have not been charged" in text(response)
    assert re.search(r'id="coupon-code"[^>]*aria-invalid="true"', text(response))
    assert count(Order) == 1 and count(Payment) == payments
    assert (
        other.post(f"/checkout/{keys[1]}/coupon/remove", data={"step": "payment"}).status_code
        == 303
    )
    assert other.post(f"/checkout/{keys[1]}/place", data=CARD).status_code == 303
    assert count(Order) == 2


def test_addresses_are_unchanged_by_coupons(client, checkout_shop):
    """The checkout steps still work with a code in the summary (the form posts its step)."""
    summer()
    add(client, checkout_shop.small, 1)
    client.post("/cart/coupon", data={"coupon_code": "SUMMER"})
    key, _ = enter_checkout(client)
    response = client.post(
        f"/checkout/{key}/information", data={"email": "ada@example.com", **US_ADDRESS}
    )
    assert response.status_code == 303


def test_a_free_gift_shows_in_the_cart_and_is_ordered(client, checkout_shop):
    shop = checkout_shop
    gift = create_promotion(
        by=None,
        name="Tee gift",
        actions=[{"kind": "free_gift", "params": {"variant_id": shop.medium}}],
        conditions=[{"kind": "subtotal_at_least", "params": {"amount": 5000}}],
    )
    enable_promotion(gift, by=None)
    add(client, shop.small, 1)
    assert "free gift" not in text(client.get("/cart"))
    client.post(f"/cart/lines/{shop.small}", data={"quantity": 2})
    page = text(client.get("/cart"))
    assert "1 free gift" in page and "Tee gift (free gift): \u2212$25.00" in page
    assert f'id="qty-{shop.medium}"' not in page  # not the shopper's to change
    key, _ = enter_checkout(client)
    assert information(client, key).status_code == 303
    client.post(f"/checkout/{key}/shipping", data={"shipping_method": "STD"})
    assert client.post(f"/checkout/{key}/place", data=CARD).status_code == 303
    order = db.session.scalar(select(Order))
    assert {line.variant_id: (line.quantity, line.discount) for line in order.lines} == {
        shop.small: (2, 0),
        shop.medium: (1, 2500),
    }


def test_free_shipping_is_named_on_the_order_and_invoice_not_counted_as_a_discount(
    client, checkout_shop, make_staff
):
    shop = checkout_shop
    promotion = create_promotion(
        by=None,
        name="Ships free",
        actions=[{"kind": "free_shipping", "params": {}}],
    )
    enable_promotion(promotion, by=None)
    assert add(client, shop.small, 1).status_code == 303
    key, _ = enter_checkout(client)
    assert information(client, key).status_code == 303
    assert (
        client.post(f"/checkout/{key}/shipping", data={"shipping_method": "STD"}).status_code == 303
    )
    placed = client.post(f"/checkout/{key}/place", data=CARD)
    assert placed.status_code == 303

    order = db.session.scalar(select(Order))
    assert (order.discount_total, order.shipping_total) == (0, 0)
    label = order.shipping_discounts()[0][0]
    assert "Ships free" in label
    assert order.shipping_discounts() == [(label, 500)]  # the $5.00 standard rate
    assert order.discounts() == []  # shipping discounts lower shipping, not the subtotal
    assert label in text(client.get(placed.location))

    console = client.application.test_client()
    assert sign_in(console, make_staff("support")).status_code == 303
    detail = text(console.get(f"/console/orders/{order.id}"))
    assert label in detail and "Discounts" not in detail
    invoice = pdf_text(console.get(f"/console/orders/{order.id}/invoice.pdf").data)
    assert label in invoice and "$5.00" in invoice and "Free" in invoice

"""Custom items (a draft order's lines that are no catalog variant) under real promotions:
promotions on products, categories or tags never match them; promotions on the whole order
count them in the subtotal and share their discount over them; a code unlocks the same."""

from __future__ import annotations

from commerce.pricing import CartLine, CustomItem, price_cart
from tests.commerce.promotions.conftest import context, row


def priced(shop, *, code=None):
    lines = [
        CartLine(shop.tee, 1),  # a T-shirt, 10.00
        CartLine(None, 2, 1500, CustomItem("a", "Hemming", taxable=True)),  # 30.00
        CartLine(None, 1, 2000, CustomItem("b", "Design fee", taxable=False)),  # 20.00
    ]
    codes = (code,) if code else ()
    return price_cart(lines, context(country="GB", shipping_method_code="STD", coupon_codes=codes))


def test_a_category_promotion_does_not_reach_custom_items(shop, promo):
    promo([row("percent_off_items", percent=50, items={"categories": [shop.tshirts.id]})])
    cart = priced(shop)
    assert [line.discount for line in cart.lines] == [500, 0, 0]
    # GB VAT 20% on the tee's 5.00 and the hemming's 30.00, not the design fee; shipping 5.00
    assert cart.totals.tax == 100 + 600 + 100


def test_an_order_promotion_counts_and_discounts_custom_items(shop, promo):
    promo(
        [row("percent_off_order", percent="10")],
        [row("subtotal_at_least", amount=5000)],  # only reached with the custom items
        requires_coupon=True,
        code="WELCOME",
    )
    assert priced(shop).totals.discounts == 0  # no code entered
    cart = priced(shop, code="WELCOME")
    assert cart.totals.subtotal == 6000
    assert [line.discount for line in cart.lines] == [100, 300, 200]
    assert cart.totals.tax == 180 + 540 + 100

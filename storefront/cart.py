"""The cart at /cart: add, change, remove, a shipping estimate, and the header's item count.

A discount code is entered at POST /cart/coupon (and removed at /cart/coupon/remove); the
cart shows what it takes, or why it does not apply, at the code field.

A guest's cart is found through the `cart` cookie: the cart's random token, signed with the
app's secret. A cookie that does not verify is answered 400 with a clear message (and
cleared), never silently trusted or dropped. A signed-in customer's cart is stored with the
account; at sign-in the guest's cart joins it (merge_carts).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from flask import after_this_request, current_app, flash, g, redirect, request, url_for
from itsdangerous import BadSignature, URLSafeSerializer
from markupsafe import Markup, escape
from werkzeug.exceptions import BadRequest
from werkzeug.wrappers import Response

from commerce.checkout.cart import (
    add_to_cart,
    apply_cart_coupon,
    cart_context,
    customer_cart,
    find_cart,
    merge_carts,
    remove_cart_coupon,
    remove_from_cart,
    sellable_variant,
    set_line_quantity,
)
from commerce.checkout.models import Cart
from commerce.countries import country_names
from commerce.customers.models import Customer
from commerce.errors import CommerceError, NotFound
from commerce.inventory.services import availability
from commerce.pricing import CartLine, PricedCart, PricingContext, price_cart
from storefront import bp
from storefront.account import current_customer
from storefront.forms import ConfirmForm as CartLineForm
from storefront.web import private
from web.forms import PAGE_EXPIRED, failed_status
from web.pages import is_htmx, render

CART_COOKIE = "cart"
CART_COOKIE_MAX_AGE = 30 * 24 * 3600


class TamperedCart(BadRequest):
    description = (
        "We could not read your cart: its cookie was changed or damaged. It has been reset; "
        "please add your items again."
    )


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="cart")


def _token_from_cookie() -> str | None:
    raw = request.cookies.get(CART_COOKIE)
    if not raw:
        return None
    try:
        token = _serializer().loads(raw)
    except BadSignature:

        @after_this_request
        def clear(response: Response) -> Response:
            response.delete_cookie(CART_COOKIE)
            return response

        raise TamperedCart() from None
    return token if isinstance(token, str) else None


def cart_token() -> str | None:
    """The guest cart's token from its signed cookie (TamperedCart for a forged one); no
    query."""
    return _token_from_cookie()


def current_cart() -> Cart | None:
    """The shopper's cart, or None before the first item is added."""
    customer = current_customer()
    token = _token_from_cookie()  # verified even when signed in: a forged cookie is reported
    if customer is not None:
        return customer_cart(customer.id)
    return find_cart(token)


def _remember(cart: Cart) -> None:
    """Point the guest's cookie at this cart (signed, HttpOnly, SameSite=Lax)."""
    if cart.customer_id is not None:
        return
    value = _serializer().dumps(cart.token)

    @after_this_request
    def set_cookie(response: Response) -> Response:
        response.set_cookie(
            CART_COOKIE,
            value,
            max_age=CART_COOKIE_MAX_AGE,
            httponly=True,
            samesite="Lax",
            secure=current_app.config.get("SESSION_COOKIE_SECURE", False),
        )
        return response


def adopt_guest_cart(customer: Customer) -> tuple[str, ...]:
    """At sign-in: the guest's cart joins the customer's; returns notes about capped lines."""
    try:
        token = _token_from_cookie()
    except TamperedCart:
        return ()
    result = merge_carts(find_cart(token), customer_id=customer.id)

    @after_this_request
    def forget(response: Response) -> Response:
        response.delete_cookie(CART_COOKIE)
        return response

    return result.notes


# -- pages --------------------------------------------------------------------------------------


def _estimate_country(customer: Customer | None) -> str:
    wanted = (request.values.get("country") or "").strip().upper()
    if wanted in country_names():
        return wanted
    if customer is not None and customer.addresses:
        return customer.addresses[0].country
    return ""


def priced_cart(cart: Cart | None, country: str = "") -> PricedCart:
    return priced_with_context(cart, country)[1]


_PRICED = "shop.priced_cart"


def priced_with_context(cart: Cart | None, country: str = "") -> tuple[PricingContext, PricedCart]:
    """The cart priced for this shopper (and how): once per request for the same cart and
    country, so a page refusing a checkout does not price the cart again (the cart is not
    changed by a refused checkout)."""
    lines = [CartLine(v, q) for v, q in cart.line_pairs()] if cart else []
    key = (cart.id if cart else None, tuple(lines), country)
    memo = g.get(_PRICED)
    if memo is not None and memo[0] == key:
        return memo[1]
    context = cart_context(cart, customer=current_customer(), country=country or None)
    found = (context, price_cart(lines, context))
    setattr(g, _PRICED, (key, found))
    return found


def cart_page(
    cart: Cart | None,
    *,
    status: int = 200,
    errors: dict[str, list[str]] | None = None,
    message: str = "",
) -> Response:
    customer = current_customer()
    country = _estimate_country(customer)
    context, priced = priced_with_context(cart, country)
    codes = context.coupon_codes
    stock = availability([line.variant_id for line in priced.lines]) if priced.lines else {}
    cheapest = min(priced.shipping_options or (), key=lambda o: o.amount, default=None)
    response = render(
        "storefront/cart/page.html",
        "storefront/cart/_cart.html",
        cart=cart,
        priced=priced,
        stock=stock,
        cheapest=cheapest,
        codes=codes,
        country=country,
        countries=country_names(),
        country_options=country_options(country),
        errors=errors or {},
        message=message,
        form=CartLineForm(),
        private_page=True,
    )
    response.status_code = status
    return private(response)


@lru_cache(maxsize=1)
def _country_options() -> str:
    return "".join(
        f'<option value="{escape(code)}">{escape(name)}</option>'
        for code, name in country_names().items()
    )


def country_options(chosen: str) -> Markup:
    """The shipping estimate's country <option>s (built once per process), `chosen` selected."""
    options = _country_options()
    if chosen:
        mark = f'<option value="{escape(chosen)}">'
        options = options.replace(mark, f'<option value="{escape(chosen)}" selected>', 1)
    return Markup(options)


@bp.route("/cart")
def cart() -> Response:
    return cart_page(current_cart())


@bp.route("/cart/count")
def cart_count() -> Response:
    """The header's link with the item count (the header itself is publicly cached)."""
    found = current_cart()
    return private(render("storefront/cart/_count.html", count=found.item_count if found else 0))


@bp.route("/cart/form")
def add_to_cart_form() -> Response:
    """The product page's add-to-cart form with this shopper's CSRF token (the product page
    is shared-cacheable, so the token cannot be in it)."""
    try:
        variant = sellable_variant(request.args.get("variant"))
    except NotFound:
        return private(render("storefront/cart/_add_form.html", variant=None, can_buy=False))
    stock = availability([variant.id]).get(variant.id)
    return private(
        render(
            "storefront/cart/_add_form.html",
            variant=variant,
            can_buy=bool(stock and stock.can_buy),
            form=CartLineForm(),
        )
    )


def _line_key(variant_id: Any) -> str:
    return f"line-{variant_id}"


@bp.route("/cart/add", methods=["POST"])
def cart_add() -> Response:
    form = CartLineForm()
    if not form.validate_on_submit():  # the CSRF token (fields are checked by the service)
        raise BadRequest(PAGE_EXPIRED)
    customer = current_customer()
    existing = current_cart()
    try:
        updated = add_to_cart(
            existing,
            variant_id=request.form.get("variant_id"),
            quantity=request.form.get("quantity", "1"),
            customer_id=customer.id if customer else None,
        )
    except CommerceError as exc:
        if is_htmx():
            response = render("storefront/cart/_add_result.html", error=exc.message)
            response.status_code = 422 if exc.status < 500 else exc.status
            return private(response)
        return cart_page(
            existing, status=422 if exc.status == 422 else exc.status, message=exc.message
        )
    _remember(updated)
    if is_htmx():
        return private(
            render("storefront/cart/_add_result.html", error="", count=updated.item_count)
        )
    flash("Added to your cart.", "success")
    return private(redirect(url_for("storefront.cart"), code=303))


def _cart_or_404() -> Cart:
    found = current_cart()
    if found is None:
        raise NotFound("Your cart is empty.")
    return found


@bp.route("/cart/lines/<int:variant_id>", methods=["POST"])
def cart_update(variant_id: int) -> Response:
    form = CartLineForm()
    if not form.validate_on_submit():
        raise BadRequest(PAGE_EXPIRED)
    found = _cart_or_404()
    try:
        set_line_quantity(found, variant_id=variant_id, quantity=request.form.get("quantity"))
    except CommerceError as exc:
        status = failed_status(exc)
        return cart_page(found, status=status, errors={_line_key(variant_id): [exc.message]})
    if is_htmx():
        return cart_page(found)
    return private(redirect(url_for("storefront.cart"), code=303))


@bp.route("/cart/lines/<int:variant_id>/remove", methods=["POST"])
def cart_remove(variant_id: int) -> Response:
    form = CartLineForm()
    if not form.validate_on_submit():
        raise BadRequest(PAGE_EXPIRED)
    found = _cart_or_404()
    remove_from_cart(found, variant_id=variant_id)
    if is_htmx():
        return cart_page(found)
    flash("Removed from your cart.", "success")
    return private(redirect(url_for("storefront.cart"), code=303))


@bp.route("/cart/coupon", methods=["POST"])
def cart_coupon() -> Response:
    """Enter a discount code: refused at the field (422) when unknown, inactive or used up."""
    form = CartLineForm()
    if not form.validate_on_submit():
        raise BadRequest(PAGE_EXPIRED)
    found = current_cart()
    if found is None or not found.lines:
        return cart_page(found, status=422, errors={"coupon_code": ["Your cart is empty."]})
    try:
        apply_cart_coupon(
            found, code=request.form.get("coupon_code", ""), client=request.remote_addr
        )
    except CommerceError as exc:
        status = failed_status(exc)
        errors = getattr(exc, "errors", None) or {"coupon_code": [exc.message]}
        refused = cart_page(found, status=status, errors=errors)
        if "retry_after" in exc.details:
            refused.headers["Retry-After"] = str(exc.details["retry_after"])
        return refused
    if is_htmx():
        return cart_page(found)
    return private(redirect(url_for("storefront.cart"), code=303))


@bp.route("/cart/coupon/remove", methods=["POST"])
def cart_coupon_remove() -> Response:
    form = CartLineForm()
    if not form.validate_on_submit():
        raise BadRequest(PAGE_EXPIRED)
    found = current_cart()
    if found is not None:
        remove_cart_coupon(found)
    if is_htmx():
        return cart_page(found)
    return private(redirect(url_for("storefront.cart"), code=303))

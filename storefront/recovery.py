"""Links from the abandoned checkout recovery emails (commerce.abandoned): /recover/<token>
brings the shopper's items back into a cart (this browser's) and opens it, a click from
checkout; /recover/unsubscribe/<token> stops the reminders (a page with one button, so a
mail scanner's prefetch unsubscribes no one)."""

from __future__ import annotations

from flask import flash, redirect, request, url_for
from werkzeug.wrappers import Response

from commerce.abandoned.services import email_from_unsubscribe_token, restore_cart, unsubscribe
from commerce.errors import ValidationError
from storefront import bp
from storefront.cart import _remember, cart_page
from storefront.web import private
from web.forms import require_csrf
from web.pages import render


@bp.route("/recover/<token>")
def recover_cart(token: str) -> Response:
    try:
        cart = restore_cart(token)  # NotFound (404) for a forged or expired link
    except ValidationError as exc:
        return cart_page(None, status=410, message=exc.message)
    _remember(cart)
    flash("Your cart is back. Continue to checkout when you are ready.", "success")
    return private(redirect(url_for("storefront.cart"), code=303))


@bp.route("/recover/unsubscribe/<token>", methods=["GET", "POST"])
def recover_unsubscribe(token: str) -> Response:
    email = email_from_unsubscribe_token(token)  # NotFound for a forged link
    done = False
    if request.method == "POST":
        require_csrf()
        unsubscribe(token)
        done = True
    response = render("storefront/recover_unsubscribe.html", email=email, done=done)
    return private(response)

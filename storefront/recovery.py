"""Links from the abandoned checkout recovery emails (commerce.abandoned): /recover/<token>
brings the shopper's items back into a cart (this browser's) and returns them into checkout,
at the furthest step still valid (a place in the checkout line first when it is full, whose
turn leads into the same checkout); /recover/unsubscribe/<token> stops the reminders (a page
with one button, so a mail scanner's prefetch unsubscribes no one).

Answers: 303 into checkout (or to the waiting page; htmx: HX-Redirect, JSON: as POST
/checkout answers), 200 with a page when the shopper has ordered since (nothing restored),
the cart page with the reason when checkout cannot start (409 sold out, 422 a cart to fix),
410 when nothing is for sale any more, 404 for a forged or expired link.
"""

from __future__ import annotations

from flask import flash, request, session
from werkzeug.wrappers import Response

from commerce.abandoned.services import (
    ORDERED,
    REFUSED,
    email_from_unsubscribe_token,
    return_to_checkout,
    unsubscribe,
)
from commerce.checkout.models import Cart
from commerce.errors import OutOfStock, ValidationError
from storefront import bp
from storefront.account import SESSION_KEY, current_customer
from storefront.cart import _remember, cart_page, current_cart, priced_with_context
from storefront.checkout_line import admitted_answer, line_answer
from storefront.web import private
from web.forms import named, require_csrf
from web.pages import render


def _binding(cart: Cart) -> str:
    """What ties a place in the checkout line to this browser once it holds `cart` (as
    storefront.checkout_line.shopper_binding reads it on the next request)."""
    customer = session.get(SESSION_KEY)
    if isinstance(customer, str) and customer:
        return f"customer:{customer}"
    return f"cart:{cart.token}"


@bp.route("/recover/<token>")
def recover_cart(token: str) -> Response:
    customer = current_customer()
    try:  # NotFound (404) for a forged or expired link
        returned = return_to_checkout(
            token,
            binding=_binding,
            customer=customer,
            current=current_cart() if customer is None else None,
            pricing=priced_with_context,
        )
    except ValidationError as exc:  # none of the items is for sale any more
        return cart_page(None, status=410, message=exc.message)
    if returned.outcome == ORDERED:
        return private(render("storefront/recover_ordered.html", private_page=True))
    cart = returned.cart
    assert cart is not None
    _remember(cart)
    if returned.outcome == REFUSED:
        problem = returned.problem
        assert problem is not None
        if isinstance(problem, OutOfStock):
            return cart_page(cart, status=409, message=f"Sold out: {problem.message}")
        if isinstance(problem, ValidationError):
            return cart_page(
                cart, status=422, errors=named(problem.errors), message=problem.message
            )
        return cart_page(cart, status=409, message=problem.message)
    entry = returned.entry
    assert entry is not None
    if not entry.admitted:  # the checkout line is full: its turn leads into checkout
        return line_answer(entry, joined=True)
    flash("Welcome back: your cart is here, and checkout starts where you left it.", "success")
    return admitted_answer(entry)


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

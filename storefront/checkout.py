"""Checkout at /checkout/<key>: information -> shipping -> review and pay -> order status.
A checkout with nothing to ship (gift cards alone) asks for the email only and skips the
shipping step: its URL, visited directly, sends the shopper on (303).

Entering checkout (POST /checkout) reserves the cart's stock for RESERVATION_TTL, when the
checkout line lets the shopper in (otherwise: the waiting page, or "sold out" at once, see
storefront/checkout_line.py); every step
shows the time left and re-takes a lapsed hold (or says what sold out). The order summary
beside every step takes a discount code (POST /checkout/<key>/coupon, errors at the field).
The key in the URL is unguessable, and a checkout is shown only to the browser whose cart it
came from or to its customer. Answers: 303 to the next step, 422 with messages at the fields,
409 for sold out, "already being placed" or a code that ran out, 402 for a declined card.
"""

from __future__ import annotations

from typing import Any

from flask import abort, current_app, flash, redirect, request, url_for
from werkzeug.wrappers import Response

from commerce.abandoned.services import consent_required
from commerce.checkout.models import COMPLETED, Checkout
from commerce.checkout.queue import enter_checkout
from commerce.checkout.services import (
    NothingToShip,
    apply_checkout_coupon,
    apply_checkout_gift_card,
    checkout_codes,
    checkout_needs_shipping,
    checkout_tenders,
    choose_shipping_method,
    complete_payment_action,
    hold_stock,
    next_step,
    place_order,
    price_checkout,
    remove_checkout_coupon,
    remove_checkout_tender,
    save_information,
    shopper_checkout,
    use_checkout_store_credit,
)
from commerce.customers.services import ADDRESS_FIELDS, list_addresses
from commerce.db import utcnow
from commerce.errors import (
    CommerceError,
    Conflict,
    InvalidTransition,
    NotFound,
    OutOfStock,
    PaymentFailed,
    TooManyAttempts,
    ValidationError,
)
from commerce.extensions import db, limiter
from commerce.giftcards.services import credit_of
from commerce.orders.models import Order
from commerce.orders.returns import open_return, returnable_quantities
from commerce.orders.services import order_from_status_token, order_status_token
from commerce.payments.models import Payment
from commerce.pricing import PricedCart
from storefront import bp
from storefront.account import current_customer
from storefront.cart import cart_page, cart_token, current_cart, priced_with_context
from storefront.checkout_line import admitted_answer, line_answer, shopper_binding
from storefront.draft_pay import PAY_LINK_ENDPOINTS, is_draft_checkout, paid_by_link
from storefront.forms import ConfirmForm, InformationForm, PaymentForm, ShippingForm
from storefront.web import private
from web.forms import apply_errors, error_messages, failed_status, named, require_csrf
from web.pages import render

# The payment service names card fields card_*; the form's names are shorter.
CARD_FIELDS = {"card_exp_month": "exp_month", "card_exp_year": "exp_year", "card_cvc": "cvc"}
STEPS = (("information", "Information"), ("shipping", "Shipping"), ("payment", "Review & pay"))
# A checkout with nothing to ship (gift cards alone) skips the shipping step.
STEPS_WITHOUT_SHIPPING = tuple(step for step in STEPS if step[0] != "shipping")


def _checkout_limit() -> str:
    return current_app.config["CHECKOUT_RATE_LIMIT"]


def _own_checkout(key: str) -> Checkout:
    """The checkout, if this browser may see it (its cart, or its signed-in customer): one
    query, with the code entered on it."""
    customer = current_customer()
    token = cart_token()  # verified even when signed in: a forged cookie is reported
    checkout = shopper_checkout(
        key, customer_id=customer.id if customer is not None else None, cart_token=token
    )
    if checkout is None:
        checkout = paid_by_link(key)  # a draft order's checkout, opened through its pay link
    if checkout is None:
        abort(404)
    if is_draft_checkout(checkout) and request.endpoint not in PAY_LINK_ENDPOINTS:
        abort(404)  # a draft's lines, address and shipping are the shop's to change
    return checkout


def _status_url(order: Order) -> str:
    return url_for("storefront.order_status", token=order_status_token(order))


def _done(checkout: Checkout) -> Response | None:
    """A placed checkout sends every step to its order's page."""
    if checkout.status == COMPLETED and checkout.order_id:
        order = db.session.get(Order, checkout.order_id)
        if order is not None:
            return private(redirect(_status_url(order), code=303))
    return None


def _page(
    template: str,
    checkout: Checkout,
    step: str,
    status: int = 200,
    *,
    priced: PricedCart | None = None,
    **context: Any,
) -> Response:
    priced = priced or price_checkout(checkout)
    ships = checkout_needs_shipping(checkout, priced)
    if step == "payment":  # the gift cards and store credit paying, on the payment step only
        context.setdefault("tenders", checkout_tenders(checkout, priced))
        context.setdefault("store_credit", _store_credit(checkout))
    response = render(
        template,
        checkout=checkout,
        priced=priced,
        step=step,
        steps=STEPS if ships else STEPS_WITHOUT_SHIPPING,
        ships=ships,
        reached=next_step(checkout, priced),
        seconds_left=_seconds_left(checkout),
        codes=checkout_codes(checkout),
        locked=is_draft_checkout(checkout),
        coupon_errors=context.pop("coupon_errors", []),
        private_page=True,
        **context,
    )
    response.status_code = status
    return private(response)


def _store_credit(checkout: Checkout) -> int:
    """The signed-in customer's store credit balance (0 for a guest)."""
    if checkout.customer_id is None:
        return 0
    credit = credit_of(checkout.customer_id)
    return credit.balance if credit is not None else 0


def _seconds_left(checkout: Checkout) -> int:
    if checkout.reserved_until is None:
        return 0
    return max(int((checkout.reserved_until - utcnow()).total_seconds()), 0)


def _step_page(
    template: str,
    checkout: Checkout,
    step: str,
    *,
    priced: PricedCart | None = None,
    **context: Any,
) -> Response:
    """A step's page (priced once), after re-taking a lapsed hold; sold out is a 409 on the
    same page."""
    priced = priced or price_checkout(checkout)
    try:
        hold_stock(checkout, priced=priced)
    except OutOfStock as exc:
        return _page(template, checkout, step, 409, priced=priced, problem=exc.message, **context)
    except InvalidTransition:
        return _done(checkout) or abort(404)
    return _page(template, checkout, step, priced=priced, **context)


# -- entering -----------------------------------------------------------------------------------


@bp.route("/checkout", methods=["POST"])
def checkout_start() -> Response:
    require_csrf()
    cart = current_cart()
    if cart is None or not cart.lines:
        return cart_page(cart, status=422, message="Your cart is empty.")
    try:  # in at once, a place in the checkout line, or sold out (commerce/checkout/queue.py)
        entry = enter_checkout(
            cart,
            customer=current_customer(),
            binding=shopper_binding(),
            # priced only when let in, and once: a refusal shows the cart page priced the same
            pricing=lambda: priced_with_context(cart),
        )
    except ValidationError as exc:
        return cart_page(cart, status=422, errors=named(exc.errors), message=exc.message)
    except OutOfStock as exc:
        return cart_page(cart, status=409, message=f"Sold out: {exc.message}")
    except Conflict as exc:  # an earlier checkout of this cart is being placed
        return cart_page(cart, status=409, message=exc.message)
    if not entry.admitted:  # the waiting page itself: no second request to fetch it
        return line_answer(entry)
    return admitted_answer(entry)


def checkout_entered(checkout: Checkout) -> Response:
    """Into the checkout's first step still to do, or to the order when an earlier placement
    of this cart became one."""
    if (placed := _done(checkout)) is not None:
        return placed
    step = next_step(checkout)
    return private(redirect(url_for(f"storefront.checkout_{step}", key=checkout.key), code=303))


# -- step 1: contact and address ----------------------------------------------------------------


def _information_form(checkout: Checkout) -> InformationForm:
    form = InformationForm(formdata=request.form if request.method == "POST" else None)
    if request.method == "GET":
        form.email.data = checkout.email
        form.recovery_consent.data = checkout.recovery_consent
        for name in ADDRESS_FIELDS:
            getattr(form, name).data = (checkout.shipping_address or {}).get(name, "")
    return form


@bp.route("/checkout/<key>/information", methods=["GET", "POST"])
def checkout_information(key: str) -> Response:
    checkout = _own_checkout(key)
    if (finished := _done(checkout)) is not None:
        return finished
    form = _information_form(checkout)
    customer = current_customer()
    saved = list_addresses(customer) if customer is not None else []
    template = "storefront/checkout/information.html"
    ask_consent = consent_required()  # the shop asks before sending cart reminders
    if request.method == "POST":
        require_csrf()
        values = form.values()
        chosen = next((a for a in saved if str(a.id) == request.form.get("saved_address")), None)
        if chosen is not None:  # a saved address replaces the typed one
            values = {name: getattr(chosen, name) or "" for name in ADDRESS_FIELDS}
        try:  # a checkout with nothing to ship keeps the email only
            save_information(
                checkout,
                email=form.email.data,
                address=values,
                recovery_consent=bool(form.recovery_consent.data) if ask_consent else None,
            )
        except ValidationError as exc:
            apply_errors(form, exc)
            return _page(
                template,
                checkout,
                "information",
                422,
                form=form,
                saved=saved,
                ask_consent=ask_consent,
            )
        except InvalidTransition:
            return _done(checkout) or abort(409)
        onward = "shipping" if checkout_needs_shipping(checkout) else "payment"
        return private(redirect(url_for(f"storefront.checkout_{onward}", key=key), code=303))
    return _step_page(
        template, checkout, "information", form=form, saved=saved, ask_consent=ask_consent
    )


# -- step 2: shipping method --------------------------------------------------------------------


@bp.route("/checkout/<key>/shipping", methods=["GET", "POST"])
def checkout_shipping(key: str) -> Response:
    checkout = _own_checkout(key)
    if (finished := _done(checkout)) is not None:
        return finished
    if not checkout.email or not checkout.shipping_address:
        # no address yet (information), or nothing to ship: this step is skipped (payment)
        step = next_step(checkout)
        return private(redirect(url_for(f"storefront.checkout_{step}", key=key), code=303))
    priced = price_checkout(checkout) if request.method == "GET" else None
    if priced is not None and not checkout_needs_shipping(checkout, priced):
        return private(redirect(url_for("storefront.checkout_payment", key=key), code=303))
    form = ShippingForm(formdata=request.form if request.method == "POST" else None)
    template = "storefront/checkout/shipping.html"
    if request.method == "POST":
        require_csrf()
        try:
            choose_shipping_method(checkout, code=form.shipping_method.data)
        except NothingToShip:
            return private(redirect(url_for("storefront.checkout_payment", key=key), code=303))
        except ValidationError as exc:
            apply_errors(form, exc)
            return _page(template, checkout, "shipping", 422, form=form)
        return private(redirect(url_for("storefront.checkout_payment", key=key), code=303))
    form.shipping_method.data = checkout.shipping_method_code
    return _step_page(template, checkout, "shipping", priced=priced, form=form)


# -- step 3: review and pay ---------------------------------------------------------------------


@bp.route("/checkout/<key>/payment")
def checkout_payment(key: str) -> Response:
    checkout = _own_checkout(key)
    if (finished := _done(checkout)) is not None:
        return finished
    priced = price_checkout(checkout)
    step = next_step(checkout, priced)
    if step != "payment":
        return private(redirect(url_for(f"storefront.checkout_{step}", key=key), code=303))
    template = "storefront/checkout/payment.html"
    form = PaymentForm(formdata=None)
    return _step_page(template, checkout, "payment", priced=priced, form=form)


@bp.route("/checkout/<key>/place", methods=["POST"])
@limiter.limit(_checkout_limit, key_func=lambda: f"place:{request.view_args['key']}")
def checkout_place(key: str) -> Response:
    checkout = _own_checkout(key)
    form = PaymentForm()
    require_csrf()
    card = {
        "number": form.card_number.data or "",
        "exp_month": form.exp_month.data or "",
        "exp_year": form.exp_year.data or "",
        "cvc": form.cvc.data or "",
    }
    template = "storefront/checkout/payment.html"
    try:
        placement = place_order(checkout.key, card=card, client=request.remote_addr)
    except TooManyAttempts as exc:  # card testing from this address
        form.card_number.errors = [exc.message]
        refused = _page(template, checkout, "payment", 429, form=form)
        refused.headers["Retry-After"] = str(exc.details["retry_after"])
        return refused
    except ValidationError as exc:
        step = next_step(checkout)
        if step != "payment":
            return private(redirect(url_for(f"storefront.checkout_{step}", key=key), code=303))
        exc.errors = {CARD_FIELDS.get(k, k): v for k, v in exc.errors.items()}
        apply_errors(form, exc)
        return _page(template, checkout, "payment", 422, form=form)
    except PaymentFailed as exc:
        form.card_number.errors = [_decline_message(exc)]
        return _page(template, checkout, "payment", 402, form=form)
    except (OutOfStock, Conflict) as exc:
        if (finished := _done(checkout)) is not None:
            return finished
        if exc.field == "coupon_code":  # a code that ran out or no longer applies
            return _page(
                template, checkout, "payment", exc.status, form=form, coupon_errors=[exc.message]
            )
        if exc.field in ("gift_card_code", "store_credit"):  # a balance spent meanwhile
            return _page(
                template, checkout, "payment", 409, form=form, gift_card_errors=[exc.message]
            )
        problem = f"Sold out: {exc.message}" if isinstance(exc, OutOfStock) else exc.message
        return _page(template, checkout, "payment", 409, form=form, problem=problem)
    except InvalidTransition:
        return _done(checkout) or abort(409)
    if placement.requires_action:
        return private(redirect(url_for("storefront.checkout_authenticate", key=key), code=303))
    return private(redirect(_status_url(placement.order), code=303))


def _decline_message(exc: PaymentFailed) -> str:
    code = exc.details.get("decline_code")
    if code == "insufficient_funds":
        return "Your card has insufficient funds. Try another card."
    if code == "card_declined":
        return "Your card was declined. Try another card."
    if code == "authentication_failed":
        return "The payment was not confirmed with your bank. Try again or use another card."
    return f"{exc.message} You have not been charged; please try again."


@bp.route("/checkout/<key>/authenticate", methods=["GET", "POST"])
def checkout_authenticate(key: str) -> Response:
    """The test gateway's stand-in for the bank's 3-D Secure page."""
    checkout = _own_checkout(key)
    if (finished := _done(checkout)) is not None:
        return finished
    payment = db.session.get(Payment, checkout.payment_id) if checkout.payment_id else None
    if payment is None or payment.status != "requires_action":
        return private(redirect(url_for("storefront.checkout_payment", key=key), code=303))
    template = "storefront/checkout/authenticate.html"
    if request.method == "POST":
        require_csrf()
        token = payment.action_token if request.form.get("decision") == "approve" else "declined"
        try:
            placement = complete_payment_action(key, token=token or "", client=request.remote_addr)
        except PaymentFailed as exc:
            form = PaymentForm(formdata=None)
            form.card_number.errors = [_decline_message(exc)]
            return _page("storefront/checkout/payment.html", checkout, "payment", 402, form=form)
        except CommerceError as exc:
            return _done(checkout) or _page(
                template, checkout, "payment", exc.status, payment=payment, problem=exc.message
            )
        return private(redirect(_status_url(placement.order), code=303))
    return _page(template, checkout, "payment", payment=payment, form=ConfirmForm())


# -- discount codes -----------------------------------------------------------------------------

_STEP_TEMPLATES = {
    "information": "storefront/checkout/information.html",
    "shipping": "storefront/checkout/shipping.html",
    "payment": "storefront/checkout/payment.html",
}


def _step_form(step: str, checkout: Checkout) -> Any:
    if step == "information":
        form = InformationForm(formdata=None)
        form.email.data = checkout.email
        for name in ADDRESS_FIELDS:
            getattr(form, name).data = (checkout.shipping_address or {}).get(name, "")
        return form
    if step == "shipping":
        form = ShippingForm(formdata=None)
        form.shipping_method.data = checkout.shipping_method_code
        return form
    return PaymentForm(formdata=None)


@bp.route("/checkout/<key>/coupon", methods=["POST"])
def checkout_coupon(key: str) -> Response:
    """Enter a discount code at any step; back to that step, or the step again with the
    message at the code field (422)."""
    checkout = _own_checkout(key)
    if (finished := _done(checkout)) is not None:
        return finished
    require_csrf()
    step = request.form.get("step") if request.form.get("step") in _STEP_TEMPLATES else None
    step = step or next_step(checkout)
    try:
        apply_checkout_coupon(
            checkout, code=request.form.get("coupon_code", ""), client=request.remote_addr
        )
    except CommerceError as exc:
        errors = getattr(exc, "errors", None) or {"coupon_code": [exc.message]}
        extra: dict[str, Any] = {"form": _step_form(step, checkout)}
        if step == "information":
            customer = current_customer()
            extra["saved"] = list_addresses(customer) if customer is not None else []
        status = failed_status(exc)
        refused = _page(
            _STEP_TEMPLATES[step],
            checkout,
            step,
            status,
            coupon_errors=errors.get("coupon_code", [exc.message]),
            **extra,
        )
        if "retry_after" in exc.details:
            refused.headers["Retry-After"] = str(exc.details["retry_after"])
        return refused
    return private(redirect(url_for(f"storefront.checkout_{step}", key=key), code=303))


@bp.route("/checkout/<key>/coupon/remove", methods=["POST"])
def checkout_coupon_remove(key: str) -> Response:
    checkout = _own_checkout(key)
    if (finished := _done(checkout)) is not None:
        return finished
    require_csrf()
    step = request.form.get("step") if request.form.get("step") in _STEP_TEMPLATES else None
    try:
        remove_checkout_coupon(checkout)
    except InvalidTransition:
        return _done(checkout) or abort(409)
    return private(
        redirect(url_for(f"storefront.checkout_{step or next_step(checkout)}", key=key), code=303)
    )


# -- gift cards and store credit (payment step) -------------------------------------------------


@bp.route("/checkout/<key>/gift-card", methods=["POST"])
def checkout_gift_card(key: str) -> Response:
    """Apply a gift card by its code; back to the payment step, or the step again with the
    message at the code field (422, 429 when too many codes were tried)."""
    checkout = _own_checkout(key)
    if (finished := _done(checkout)) is not None:
        return finished
    require_csrf()
    try:
        apply_checkout_gift_card(
            checkout, code=request.form.get("gift_card_code", ""), client=request.remote_addr
        )
    except CommerceError as exc:
        refused = _page(
            _STEP_TEMPLATES["payment"],
            checkout,
            "payment",
            failed_status(exc),
            form=PaymentForm(formdata=None),
            gift_card_errors=[exc.message],
        )
        if "retry_after" in exc.details:
            refused.headers["Retry-After"] = str(exc.details["retry_after"])
        return refused
    return private(redirect(url_for("storefront.checkout_payment", key=key), code=303))


@bp.route("/checkout/<key>/store-credit", methods=["POST"])
def checkout_store_credit(key: str) -> Response:
    checkout = _own_checkout(key)
    if (finished := _done(checkout)) is not None:
        return finished
    require_csrf()
    try:
        use_checkout_store_credit(checkout)
    except CommerceError as exc:
        return _page(
            _STEP_TEMPLATES["payment"],
            checkout,
            "payment",
            failed_status(exc),
            form=PaymentForm(formdata=None),
            gift_card_errors=[exc.message],
        )
    return private(redirect(url_for("storefront.checkout_payment", key=key), code=303))


@bp.route("/checkout/<key>/tender/remove", methods=["POST"])
def checkout_tender_remove(key: str) -> Response:
    checkout = _own_checkout(key)
    if (finished := _done(checkout)) is not None:
        return finished
    require_csrf()
    try:
        remove_checkout_tender(checkout, tender_id=request.form.get("tender_id"))
    except InvalidTransition:
        return _done(checkout) or abort(409)
    return private(redirect(url_for("storefront.checkout_payment", key=key), code=303))


# -- the order's page ---------------------------------------------------------------------------


@bp.route("/orders/<token>")
def order_status(token: str) -> Response:
    """Confirmation right after placing, and the status page the email links to (signed)."""
    return _order_status_page(_order_by_token(token), token)


def _order_by_token(token: str) -> Order:
    try:
        return order_from_status_token(token)
    except NotFound:
        abort(404)


def _order_status_page(
    order: Order, token: str, *, status: int = 200, errors: dict[str, list[str]] | None = None
) -> Response:
    response = render(
        "storefront/checkout/order.html",
        order=order,
        token=token,
        returnable=returnable_quantities(order) if order.status != "cancelled" else {},
        errors=errors or {},
        form=ConfirmForm(),
        private_page=True,
    )
    response.status_code = status
    response.headers["Referrer-Policy"] = "no-referrer"  # the URL is the key
    return private(response)


@bp.route("/orders/<token>/return", methods=["POST"])
def order_return_request(token: str) -> Response:
    """The customer asks to send shipped items back; support receives them and refunds."""
    order = _order_by_token(token)
    require_csrf()
    lines: dict[int, int] = {}
    errors: dict[str, list[str]] = {}
    for name, raw in request.form.items():
        if name.startswith("return-") and name[7:].isdigit():
            text = raw.strip() or "0"
            if not text.isdigit():
                errors[f"line-{name[7:]}"] = ["Enter a whole number."]
            elif int(text):
                lines[int(name[7:])] = int(text)
    try:
        if errors:
            raise ValidationError("Please correct the highlighted fields.", errors=errors)
        order_return = open_return(
            order, lines=lines, reason=request.form.get("reason", ""), by_customer=True
        )
    except CommerceError as exc:
        errors = error_messages(exc)
        errors.setdefault("form", [exc.message])
        status = failed_status(exc)
        return _order_status_page(_order_by_token(token), token, status=status, errors=errors)
    flash(
        f"Return {order_return.name} requested. Send the items back quoting {order_return.name};"
        " we refund them when they arrive.",
        "success",
    )
    return private(redirect(url_for("storefront.order_status", token=token), code=303))

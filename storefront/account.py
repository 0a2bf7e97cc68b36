"""Customer accounts at /account: register, sign in and out, overview, address book.

Customers have their own session key (session["customer"] = "<id>:<version>"), apart from
Flask-Login's staff session, so a staff member trying the shop stays signed in to the console.
Every response here is per customer: `private, no-store`. The shop header stays the same for
everyone (it is publicly cached), so it only links to /account.
"""

from __future__ import annotations

from functools import wraps
from typing import Any
from urllib.parse import urlparse

from flask import abort, current_app, flash, g, redirect, request, session, url_for
from werkzeug.wrappers import Response

from commerce.countries import country_names
from commerce.customers.models import Address, Customer
from commerce.customers.services import (
    add_address,
    authenticate_customer,
    delete_address,
    get_address,
    list_addresses,
    load_customer,
    request_registration,
    set_default_address,
    update_address,
)
from commerce.errors import CommerceError, NotFound, ValidationError
from commerce.extensions import limiter
from commerce.orders.services import (
    count_orders_for_customer,
    order_status_token,
    orders_for_customer,
)
from storefront import bp
from storefront.forms import AddressForm, ConfirmForm, RegisterForm, SignInForm
from storefront.web import private, render

SESSION_KEY = "customer"
ORDERS_SHOWN = 20
GENERIC_FAILURE = "That email and password do not match an account."


@bp.app_template_global("order_status_url")
def order_status_url(order: Any) -> str:
    return url_for("storefront.order_status", token=order_status_token(order))


@bp.app_template_global("country_name")
def country_name(code: str) -> str:
    return country_names().get(code, code)


def current_customer() -> Customer | None:
    """The signed-in customer (loaded once per request), or None."""
    if "customer" not in g:
        g.customer = load_customer(session.get(SESSION_KEY))
        if g.customer is None and SESSION_KEY in session:
            session.pop(SESSION_KEY)  # an old version or a closed account: signed out
    return g.customer


def _sign_in(customer: Customer) -> None:
    session[SESSION_KEY] = customer.session_value
    # Flask-Login's "strong" protection treats a non-empty session without its client
    # identifier as stolen: it would clear the staff remember-me cookie and touch the session
    # on every page. Record the identifier the way Flask-Login itself does.
    manager = getattr(current_app, "login_manager", None)
    if manager is not None and "_id" not in session:
        session["_id"] = manager._session_identifier_generator()
    g.customer = customer
    from storefront.cart import adopt_guest_cart  # cart needs current_customer from here

    for note in adopt_guest_cart(customer):
        flash(note, "info")


def safe_next(target: str | None) -> str:
    """`next` only if it is a local path; the account overview otherwise."""
    if (
        target
        and target.startswith("/")
        and not target.startswith("//")
        and "\\" not in target
        and not urlparse(target).netloc
        and not urlparse(target).scheme
    ):
        return target
    return url_for("storefront.account")


def customer_required(view: Any) -> Any:
    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if current_customer() is None:
            target = request.full_path if request.query_string else request.path
            if request.method != "GET":
                target = url_for("storefront.account")
            return private(redirect(url_for("storefront.login", next=target), code=303))
        return view(*args, **kwargs)

    return wrapper


def _page(template: str, status: int = 200, **context: Any) -> Response:
    response = render(template, **context)
    response.status_code = status
    return private(response)


def _apply_errors(form: Any, exc: CommerceError) -> None:
    errors = getattr(exc, "errors", None) or {exc.field or "": [exc.message]}
    for name, messages in errors.items():
        field = getattr(form, name, None) if name else None
        if field is not None and hasattr(field, "errors"):
            field.errors = list(field.errors or []) + list(messages)
        else:
            form.form_errors.extend(messages)
    if not errors:
        form.form_errors.append(exc.message)


REGISTERED_MESSAGE = "Thank you for registering. We have sent you an email about your account."


def _sign_in_limit() -> str:
    return current_app.config["SIGN_IN_RATE_LIMIT"]


# -- register, sign in, sign out ----------------------------------------------------------------


@bp.route("/account/register", methods=["GET", "POST"])
@limiter.limit(_sign_in_limit, methods=["POST"])
def register() -> Response:
    if current_customer() is not None:
        return private(redirect(safe_next(request.args.get("next")), code=303))
    form = RegisterForm(next=request.args.get("next", ""))
    status = 200
    if request.method == "POST":
        if form.validate_on_submit():
            try:
                customer = request_registration(
                    email=form.email.data, password=form.password.data or "", name=form.name.data
                )
            except ValidationError as exc:
                _apply_errors(form, exc)
            else:
                # The same answer whether or not the address had an account (no enumeration);
                # only a new account is signed in, and the owner of an existing one is emailed.
                if customer is not None:
                    _sign_in(customer)
                flash(REGISTERED_MESSAGE, "success")
                return private(redirect(safe_next(form.next.data), code=303))
        status = 422
    return _page("storefront/account/register.html", status, form=form)


@bp.route("/account/login", methods=["GET", "POST"])
@limiter.limit(_sign_in_limit, methods=["POST"])
def login() -> Response:
    if current_customer() is not None:
        return private(redirect(safe_next(request.args.get("next")), code=303))
    form = SignInForm(next=request.args.get("next", ""))
    status = 200
    if request.method == "POST":
        if form.validate_on_submit():
            customer = authenticate_customer(form.email.data, form.password.data)
            if customer is not None:
                _sign_in(customer)
                return private(redirect(safe_next(form.next.data), code=303))
        form.form_errors.append(GENERIC_FAILURE)
        status = 422
    return _page("storefront/account/login.html", status, form=form)


@bp.route("/account/logout", methods=["POST"])
def logout() -> Response:
    form = ConfirmForm()
    if not form.validate_on_submit():
        abort(400)
    session.pop(SESSION_KEY, None)  # the staff console's session keys are left alone
    g.customer = None
    flash("You are signed out.", "success")
    return private(redirect(url_for("storefront.login"), code=303))


# -- overview and address book ------------------------------------------------------------------


@bp.route("/account")
@customer_required
def account() -> Response:
    customer = current_customer()
    return _page(
        "storefront/account/overview.html",
        customer=customer,
        addresses=list_addresses(customer),
        orders=orders_for_customer(customer.id, per_page=ORDERS_SHOWN),
        order_count=count_orders_for_customer(customer.id),
        confirm=ConfirmForm(),
    )


def _own_address(address_id: int) -> Address:
    try:
        return get_address(current_customer(), address_id)
    except NotFound:
        abort(404)


@bp.route("/account/addresses/new", methods=["GET", "POST"])
@customer_required
def address_new() -> Response:
    customer = current_customer()
    form = AddressForm()
    status = 200
    if request.method == "POST":
        if form.validate_on_submit():
            try:
                add_address(customer, make_default=form.make_default.data, **form.values())
            except ValidationError as exc:
                _apply_errors(form, exc)
            else:
                flash("Address added.", "success")
                return private(redirect(url_for("storefront.account"), code=303))
        status = 422
    return _page("storefront/account/address_form.html", status, form=form, address=None)


@bp.route("/account/addresses/<int:address_id>", methods=["GET", "POST"])
@customer_required
def address_edit(address_id: int) -> Response:
    customer = current_customer()
    address = _own_address(address_id)
    form = AddressForm(obj=address if request.method == "GET" else None)
    status = 200
    if request.method == "POST":
        if form.validate_on_submit():
            try:
                update_address(
                    customer, address, make_default=form.make_default.data, **form.values()
                )
            except ValidationError as exc:
                _apply_errors(form, exc)
            else:
                flash("Address saved.", "success")
                return private(redirect(url_for("storefront.account"), code=303))
        status = 422
    else:
        form.make_default.data = address.is_default
    return _page("storefront/account/address_form.html", status, form=form, address=address)


@bp.route("/account/addresses/<int:address_id>/delete", methods=["GET", "POST"])
@customer_required
def address_delete(address_id: int) -> Response:
    """GET asks for confirmation; POST deletes."""
    customer = current_customer()
    address = _own_address(address_id)
    form = ConfirmForm()
    if request.method == "POST":
        if not form.validate_on_submit():
            abort(400)
        delete_address(customer, address)
        flash("Address deleted.", "success")
        return private(redirect(url_for("storefront.account"), code=303))
    return _page("storefront/account/address_delete.html", address=address, form=form)


@bp.route("/account/addresses/<int:address_id>/default", methods=["POST"])
@customer_required
def address_default(address_id: int) -> Response:
    customer = current_customer()
    address = _own_address(address_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    set_default_address(customer, address)
    flash("Default address updated.", "success")
    return private(redirect(url_for("storefront.account"), code=303))

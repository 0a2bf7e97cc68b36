"""Customer accounts at /account: register, sign in and out, overview, address book.

Customers have their own session keys (session["customer"] = "<id>:<version>" and the token
of their server-side session, commerce/accounts), apart from Flask-Login's staff session, so a
staff member trying the shop stays signed in to the console. Signing out ends the session on
the server: a copy of the cookie is worth nothing after it.
Every response here is per customer: `private, no-store`. The shop header stays the same for
everyone (it is publicly cached), so it only links to /account.
"""

from __future__ import annotations

from functools import wraps
from typing import Any
from urllib.parse import urlparse

from flask import abort, current_app, flash, g, redirect, request, session, url_for
from werkzeug.wrappers import Response

from commerce.accounts.passwords import (
    account_for_reset,
    change_password,
    request_password_reset,
    reset_password,
)
from commerce.accounts.sessions import CUSTOMER, Client, end_sessions_audited, load_account
from commerce.accounts.signin import GENERIC_FAILURE as FAILURES
from commerce.accounts.signin import (
    SignedIn,
    TooManyAttempts,
    actor_for,
    complete_sign_in,
    device_token,
    sign_in,
    sign_out,
    trusted_device,
)
from commerce.countries import country_names
from commerce.customers.models import Address, Customer
from commerce.customers.services import (
    add_address,
    delete_address,
    get_address,
    list_addresses,
    request_registration,
    set_default_address,
    update_address,
)
from commerce.errors import NotFound, ValidationError
from commerce.extensions import limiter
from commerce.giftcards.services import credit_of
from commerce.orders.services import (
    count_orders_for_customer,
    order_status_token,
    orders_for_customer,
)
from storefront import bp
from storefront.forms import (
    AddressForm,
    ChangePasswordForm,
    ConfirmForm,
    EmailOnlyForm,
    NewPasswordForm,
    RegisterForm,
    SignInForm,
)
from storefront.web import private
from web.forms import form_status, submit
from web.pages import render

SESSION_KEY = "customer"
SESSION_TOKEN = "customer_session"
DEVICE_COOKIE = "shop_device"
ORDERS_SHOWN = 20
GENERIC_FAILURE = FAILURES[CUSTOMER]


@bp.app_template_global("order_status_url")
def order_status_url(order: Any) -> str:
    return url_for("storefront.order_status", token=order_status_token(order))


@bp.app_template_global("country_name")
def country_name(code: str) -> str:
    return country_names().get(code, code)


def current_customer() -> Customer | None:
    """The signed-in customer (loaded once per request), or None."""
    if "customer" not in g:
        g.customer = _load_customer(session.get(SESSION_KEY), session.get(SESSION_TOKEN))
        if g.customer is None and SESSION_KEY in session:
            # an ended session, an old version or a closed account: signed out
            session.pop(SESSION_KEY)
            session.pop(SESSION_TOKEN, None)
    return g.customer


def _load_customer(value: Any, token: Any) -> Customer | None:
    """The customer of a live server-side session (one lookup, as before the sessions)."""
    if not isinstance(value, str):
        return None
    try:
        raw_id, version = value.split(":", 1)
        found = load_account(CUSTOMER, int(raw_id), token)
    except (ValueError, TypeError):
        return None
    if found is None or str(found[0].session_version) != version:
        return None
    return found[0]


def client() -> Client:
    return Client(ip_address=request.remote_addr or "", user_agent=request.user_agent.string or "")


def _sign_in(customer: Customer, signed: SignedIn | None = None) -> None:
    """Start the customer's session in this browser: a new session token and a new CSRF token
    (a token planted before sign-in is worth nothing after it)."""
    if signed is None:
        signed = complete_sign_in(CUSTOMER, customer, client=client(), method="register")
    _forget_csrf_token()
    session[SESSION_KEY] = customer.session_value
    session[SESSION_TOKEN] = signed.session.token
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


def _forget_csrf_token() -> None:
    """A new CSRF token from here on (Flask-WTF: raw in the session, signed in `g`)."""
    session.pop("csrf_token", None)
    g.pop("csrf_token", None)


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


REGISTERED_MESSAGE = (
    "Thank you for registering. We have sent you an email about your account: sign in with "
    "your email and password."
)


def _sign_in_limit() -> str:
    return current_app.config["SIGN_IN_RATE_LIMIT"]


# -- register, sign in, sign out ----------------------------------------------------------------


@bp.route("/account/register", methods=["GET", "POST"])
@limiter.limit(_sign_in_limit, methods=["POST"])
def register() -> Response:
    if current_customer() is not None:
        return private(redirect(safe_next(request.args.get("next")), code=303))
    form = RegisterForm(next=request.args.get("next", ""))
    if request.method == "POST":
        sent = submit(
            form,
            lambda: request_registration(
                email=form.email.data, password=form.password.data or "", name=form.name.data
            ),
            refusals=(ValidationError,),
        )
        if sent.ok:
            # The same answer whether or not the address had an account (no enumeration):
            # nobody is signed in here, or the next page would tell the two apart. A new
            # account signs in with the password just chosen; the owner of an existing one
            # is emailed.
            flash(REGISTERED_MESSAGE, "success")
            target = url_for("storefront.login", next=safe_next(form.next.data))
            return private(redirect(target, code=303))
    return _page("storefront/account/register.html", form_status(), form=form)


@bp.route("/account/login", methods=["GET", "POST"])
@limiter.limit(_sign_in_limit, methods=["POST"])
def login() -> Response:
    if current_customer() is not None:
        return private(redirect(safe_next(request.args.get("next")), code=303))
    form = SignInForm(next=request.args.get("next", ""))
    status = 200
    if request.method == "POST":
        status = 422
        if form.validate_on_submit():
            email = form.email.data or ""
            try:
                signed = sign_in(
                    CUSTOMER,
                    email,
                    form.password.data or "",
                    client=client(),
                    trusted=trusted_device(CUSTOMER, email, request.cookies.get(DEVICE_COOKIE)),
                )
            except TooManyAttempts as exc:
                form.form_errors.append(exc.message)
                status = 429
            except ValidationError:
                form.form_errors.append(GENERIC_FAILURE)
            else:
                _sign_in(signed.account, signed)
                response = private(redirect(safe_next(form.next.data), code=303))
                response.set_cookie(
                    DEVICE_COOKIE,
                    device_token(CUSTOMER, email),
                    max_age=current_app.config["DEVICE_COOKIE_DAYS"] * 86400,
                    path="/account/login",
                    secure=current_app.config["SESSION_COOKIE_SECURE"],
                    httponly=True,
                    samesite="Strict",
                )
                return response
        else:
            form.form_errors.append(GENERIC_FAILURE)
    return _page("storefront/account/login.html", status, form=form)


@bp.route("/account/logout", methods=["POST"])
def logout() -> Response:
    form = ConfirmForm()
    if not form.validate_on_submit():
        abort(400)
    sign_out(CUSTOMER, current_customer(), session.pop(SESSION_TOKEN, None), client=client())
    session.pop(SESSION_KEY, None)  # the staff console's session keys are left alone
    _forget_csrf_token()
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
        store_credit=credit_of(customer.id),
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
    if request.method == "POST":
        sent = submit(
            form,
            lambda: add_address(customer, make_default=form.make_default.data, **form.values()),
            refusals=(ValidationError,),
        )
        if sent.ok:
            flash("Address added.", "success")
            return private(redirect(url_for("storefront.account"), code=303))
    return _page("storefront/account/address_form.html", form_status(), form=form, address=None)


@bp.route("/account/addresses/<int:address_id>", methods=["GET", "POST"])
@customer_required
def address_edit(address_id: int) -> Response:
    customer = current_customer()
    address = _own_address(address_id)
    form = AddressForm(obj=address if request.method == "GET" else None)
    if request.method == "POST":
        sent = submit(
            form,
            lambda: update_address(
                customer, address, make_default=form.make_default.data, **form.values()
            ),
            refusals=(ValidationError,),
        )
        if sent.ok:
            flash("Address saved.", "success")
            return private(redirect(url_for("storefront.account"), code=303))
    else:
        form.make_default.data = address.is_default
    return _page("storefront/account/address_form.html", form_status(), form=form, address=address)


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


# -- passwords ----------------------------------------------------------------------------------


@bp.route("/account/password/forgot", methods=["GET", "POST"])
@limiter.limit(_sign_in_limit, methods=["POST"])
def password_forgot() -> Response:
    """The same answer whether or not the email has an account."""
    form = EmailOnlyForm()
    sent = submit(
        form,
        lambda: request_password_reset(
            CUSTOMER, form.email.data or "", ip_address=client().ip_address
        ),
    )
    if sent.ok:
        return _page("storefront/account/forgot.html", form=form, sent=True)
    return _page("storefront/account/forgot.html", form_status(), form=form, sent=False)


@bp.route("/account/password/reset/<token>", methods=["GET", "POST"])
@limiter.limit(_sign_in_limit, methods=["POST"])
def password_reset(token: str) -> Response:
    form = NewPasswordForm()
    try:
        account_for_reset(CUSTOMER, token)
    except ValidationError as exc:
        return _page("storefront/account/reset.html", 422, form=None, error=exc.message)
    sent = submit(
        form,
        lambda: reset_password(CUSTOMER, token, form.password.data or ""),
        refusals=(ValidationError,),
    )
    if sent.ok:
        session.pop(SESSION_KEY, None)
        session.pop(SESSION_TOKEN, None)
        _forget_csrf_token()
        g.customer = None
        flash("Your password is set. Sign in with it.", "success")
        return private(redirect(url_for("storefront.login"), code=303))
    return _page("storefront/account/reset.html", form_status(), form=form, token=token, error=None)


@bp.route("/account/password", methods=["GET", "POST"])
@customer_required
def password_change() -> Response:
    """Change the password; the customer's other sessions end, this one goes on."""
    customer = current_customer()
    form = ChangePasswordForm()

    def change() -> Any:
        found = load_account(CUSTOMER, customer.id, session.get(SESSION_TOKEN))
        return change_password(
            CUSTOMER,
            customer,
            current=form.current.data or "",
            password=form.password.data or "",
            keep_session=found[1].id if found else None,
        )

    if submit(form, change, refusals=(ValidationError,)).ok:
        session[SESSION_KEY] = customer.session_value  # the new version
        flash("Your password is changed; your other sessions are signed out.", "success")
        return private(redirect(url_for("storefront.account"), code=303))
    return _page("storefront/account/password.html", form_status(), form=form)


@bp.route("/account/sessions/end-others", methods=["POST"])
@customer_required
def sessions_end_others() -> Response:
    """Sign out every other browser of this account (a shared or lost computer)."""
    customer = current_customer()
    if not ConfirmForm().validate_on_submit():
        abort(400)
    found = load_account(CUSTOMER, customer.id, session.get(SESSION_TOKEN))
    ended = end_sessions_audited(
        CUSTOMER,
        customer,
        by=actor_for(CUSTOMER, customer),
        reason="ended_by_owner",
        keep_id=found[1].id if found else None,
    )
    flash(f"Signed out of {ended} other browser(s).", "success")
    return private(redirect(url_for("storefront.account"), code=303))

"""Sign-in, sign-out and accepting an invitation.

The staff session lives on the server (commerce/accounts): the Flask session cookie carries
Flask-Login's "<id>:<version>" and a random session token; each request loads the account
through that token, so a session ended by sign-out, a timeout or an admin stops working even
from a copied cookie. "Keep me signed in" is a second random token in its own cookie
(`console_remember`, path /console), replaced at each use and void after sign-out.
"""

from __future__ import annotations

import secrets
import time
from typing import Any
from urllib.parse import urlparse

from flask import current_app, flash, g, redirect, request, session, url_for
from flask_login import LoginManager, current_user, login_user, logout_user
from werkzeug.wrappers import Response

from commerce.accounts.sessions import STAFF, Client, load_account
from commerce.accounts.signin import (
    GENERIC_FAILURE,
    HeldBack,
    SignedIn,
    TooManyAttempts,
    check_password,
    complete_sign_in,
    device_token,
    resume,
    sign_out,
    trusted_device,
)
from commerce.accounts.two_factor import needs_second_factor
from commerce.errors import ValidationError
from commerce.extensions import db, limiter
from commerce.staff.models import StaffMember
from commerce.staff.services import accept_invitation
from console import bp
from console.forms import SetPasswordForm, SignInForm
from console.permissions import login_redirect
from web.forms import form_status, submit
from web.pages import render

SESSION_TOKEN = "staff_session"
REMEMBER_COOKIE = "console_remember"
DEVICE_COOKIE = "console_device"
PENDING = "staff_second_step"
PENDING_SECONDS = 300


def configure_login(manager: LoginManager) -> None:
    manager.login_view = "console.login"
    manager.login_message = "Please sign in to continue."
    manager.unauthorized_handler(login_redirect)
    manager.user_loader(_load_user)
    manager.request_loader(_load_remembered)


def client() -> Client:
    """The address and browser of this request, as recorded on the session."""
    return Client(ip_address=request.remote_addr or "", user_agent=request.user_agent.string or "")


def _load_user(user_id: str) -> Any:
    """Flask-Login's loader: the account of a live server-side session, else nobody."""
    try:
        raw_id, version = user_id.split(":", 1)
        found = load_account(STAFF, int(raw_id), session.get(SESSION_TOKEN))
    except (ValueError, TypeError):
        return None
    if found is None or str(found[0].session_version) != version:
        return None
    g.staff_session = found[1]
    return found[0]


def _load_remembered(_request: Any) -> Any:
    """No live session: a "keep me signed in" cookie starts a new one (and is replaced)."""
    token = request.cookies.get(REMEMBER_COOKIE)
    if not token or not request.path.startswith("/console"):
        return None
    signed = resume(STAFF, token, client=client())
    if signed is None:
        g.remember_cookie = ""  # unknown, used or ended: delete it
        return None
    begin_session(signed, fresh=False)
    return signed.account


def forget_csrf_token() -> None:
    """A new CSRF token from here on: Flask-WTF keeps the raw token in the session and the
    signed one for this request in `g`."""
    session.pop("csrf_token", None)
    g.pop("csrf_token", None)


def begin_session(signed: SignedIn, *, fresh: bool = True) -> None:
    """Put a new session in the cookie: a new session token and a new CSRF token (a token
    or session planted before sign-in is worth nothing after it)."""
    forget_csrf_token()
    session.pop(SESSION_TOKEN, None)
    session.pop(PENDING, None)
    login_user(signed.account, fresh=fresh)
    session[SESSION_TOKEN] = signed.session.token
    g.staff_session = signed.session.row
    if signed.session.remember_token:
        g.remember_cookie = signed.session.remember_token


@bp.after_request
def _remember_cookie(response: Response) -> Response:
    """Set (or delete) the remember cookie that this request replaced."""
    token = getattr(g, "remember_cookie", None)
    if token is None:
        return response
    config = current_app.config
    if token:
        row = getattr(g, "staff_session", None)
        until = getattr(row, "remember_until", None)
        max_age = config["STAFF_REMEMBER_DAYS"] * 86400
        if until is not None and row is not None:
            max_age = max(0, int((until - row.created_at).total_seconds()))
        response.set_cookie(
            REMEMBER_COOKIE,
            token,
            max_age=max_age,
            path="/console",
            secure=config["REMEMBER_COOKIE_SECURE"],
            httponly=True,
            samesite="Lax",
        )
    else:
        response.delete_cookie(REMEMBER_COOKIE, path="/console")
    return response


def _safe_next(target: str | None) -> str:
    if (
        target
        and target.startswith("/")
        and not target.startswith("//")
        and not urlparse(target).netloc
    ):
        return target
    return url_for("console.dashboard")


def _sign_in_limit() -> str:
    return current_app.config["SIGN_IN_RATE_LIMIT"]


@limiter.limit(_sign_in_limit, methods=["POST"])
def login() -> Any:
    if current_user.is_authenticated:
        return redirect(_safe_next(request.args.get("next")))
    form = SignInForm(next=request.args.get("next", ""))
    if not current_app.config["STAFF_REMEMBER_DAYS"]:
        del form.remember
    status = 200
    if request.method == "POST":
        if form.validate_on_submit():
            email = form.email.data or ""
            remember = bool(getattr(form, "remember", None) and form.remember.data)
            nonce = secrets.token_hex(16)
            try:
                member = check_password(
                    STAFF,
                    email,
                    form.password.data or "",
                    client=client(),
                    trusted=trusted_device(STAFF, email, request.cookies.get(DEVICE_COOKIE)),
                    nonce=nonce,
                )
            except TooManyAttempts as exc:
                form.form_errors.append(exc.message)
                status = 429
            except ValidationError:
                form.form_errors.append(GENERIC_FAILURE[STAFF])
                status = 422
            else:
                if isinstance(member, HeldBack):  # the password's outcome waits for the code
                    _await_code(
                        member.account,
                        remember=remember,
                        target=form.next.data,
                        proof=(nonce, member.proof),
                    )
                    return redirect(url_for("console.login_code"), code=303)
                if needs_second_factor(member):
                    _await_code(member, remember=remember, target=form.next.data)
                    return redirect(url_for("console.login_code"), code=303)
                signed = complete_sign_in(STAFF, member, client=client(), remember=remember)
                return finish_sign_in(signed, form.next.data)
        else:
            form.form_errors.append(GENERIC_FAILURE[STAFF])
            status = 422
    return render("console/auth/login.html", form=form, status=status)


def finish_sign_in(signed: SignedIn, target: str | None) -> Response:
    """The session is on: into the console, and this browser is known to the account."""
    begin_session(signed)
    response = redirect(_safe_next(target), code=303)
    set_device_cookie(response, signed.account.email)
    return response


def _await_code(
    member: Any, *, remember: bool, target: str | None, proof: tuple[str, str] | None = None
) -> None:
    """The password was right (or, while the account is held back, its outcome is sealed in
    `proof`); the second step (a code, or enrolment) is next. Kept in the signed session for
    PENDING_SECONDS."""
    session[PENDING] = {
        "id": member.id,
        "v": member.session_version,
        "at": int(time.time()),
        "remember": remember,
        "next": target or "",
    }
    if proof is not None:
        session[PENDING]["nonce"], session[PENDING]["proof"] = proof


def pending_member() -> tuple[Any, dict[str, Any]] | None:
    """The staff member between password and code, if the first step is recent enough."""
    pending = session.get(PENDING)
    if not isinstance(pending, dict) or time.time() - pending.get("at", 0) > PENDING_SECONDS:
        session.pop(PENDING, None)
        return None
    member = db.session.get(StaffMember, pending.get("id"))
    if member is None or not member.is_active or member.session_version != pending.get("v"):
        session.pop(PENDING, None)
        return None
    return member, pending


def set_device_cookie(response: Response, email: str) -> None:
    response.set_cookie(
        DEVICE_COOKIE,
        device_token(STAFF, email),
        max_age=current_app.config["DEVICE_COOKIE_DAYS"] * 86400,
        path="/console/login",
        secure=current_app.config["SESSION_COOKIE_SECURE"],
        httponly=True,
        samesite="Strict",
    )


def end_browser_session() -> None:
    """Sign this browser out: the server-side session ends, the cookie forgets it."""
    account = current_user if current_user.is_authenticated else None
    sign_out(STAFF, account, session.pop(SESSION_TOKEN, None), client=client())
    logout_user()
    forget_csrf_token()
    g.remember_cookie = ""


def logout() -> Any:
    end_browser_session()
    flash("You are signed out.", "success")
    return redirect(url_for("console.login"), code=303)


def accept_invite(token: str) -> Any:
    form = SetPasswordForm()
    if request.method == "POST":
        sent = submit(
            form,
            lambda: accept_invitation(
                token,
                password=form.password.data,
                secret_key=current_app.config["SECRET_KEY"],
                max_age=current_app.config["STAFF_INVITE_MAX_AGE"],
            ),
            refusals=(ValidationError,),
        )
        if sent.ok:
            end_browser_session()
            flash("Your password is set. Sign in to continue.", "success")
            return redirect(url_for("console.login"), code=303)
    return render("console/auth/invitation.html", form=form, token=token, status=form_status())

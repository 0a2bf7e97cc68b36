"""Sign-in, sign-out and accepting an invitation."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

from flask import current_app, flash, redirect, request, url_for
from flask_login import LoginManager, current_user, login_user, logout_user

from commerce.errors import ValidationError
from commerce.extensions import limiter
from commerce.staff.services import accept_invitation, authenticate
from console.forms import SetPasswordForm, SignInForm
from console.permissions import login_redirect
from web.forms import form_status, submit
from web.pages import render

GENERIC_FAILURE = "That email and password do not match an active account."


def configure_login(manager: LoginManager) -> None:
    manager.login_view = "console.login"
    manager.login_message = "Please sign in to continue."
    manager.unauthorized_handler(login_redirect)


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
    if request.method == "POST":
        if form.validate_on_submit():
            member = authenticate(form.email.data, form.password.data)
            if member is not None:
                login_user(member, remember=form.remember.data)
                return redirect(_safe_next(form.next.data), code=303)
        form.form_errors.append(GENERIC_FAILURE)
    return render("console/auth/login.html", form=form, status=form_status())


def logout() -> Any:
    logout_user()
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
            logout_user()
            flash("Your password is set. Sign in to continue.", "success")
            return redirect(url_for("console.login"), code=303)
    return render("console/auth/invitation.html", form=form, token=token, status=form_status())

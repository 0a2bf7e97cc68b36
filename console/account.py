"""A staff member's own account: change password, forgotten password, sessions; and the
admin's "end this person's sessions"."""

from __future__ import annotations

from typing import Any

from flask import current_app, flash, g, redirect, url_for
from flask_login import current_user, login_user

from commerce.accounts.passwords import (
    account_for_reset,
    change_password,
    request_password_reset,
    reset_password,
)
from commerce.accounts.sessions import (
    STAFF,
    describe_device,
    end_one_session_audited,
    end_sessions_audited,
    live_sessions,
)
from commerce.errors import ValidationError
from commerce.extensions import limiter
from commerce.staff.services import get_staff
from console.auth import client, end_browser_session
from console.forms import ChangePasswordForm, ConfirmForm, EmailOnlyForm, SetPasswordForm
from console.web import done
from web.forms import form_status, submit
from web.pages import render

OWN = "dashboard.view"  # every staff member may manage their own account


def _limit() -> str:
    return current_app.config["SIGN_IN_RATE_LIMIT"]


def _current_session_id() -> int | None:
    row = getattr(g, "staff_session", None)
    return getattr(row, "id", None)


@limiter.limit(_limit, methods=["POST"])
def password_forgot() -> Any:
    form = EmailOnlyForm()
    sent = submit(
        form,
        lambda: request_password_reset(
            STAFF, form.email.data or "", ip_address=client().ip_address
        ),
    )
    if sent.ok:
        return render("console/auth/forgot.html", form=form, sent=True)
    return render("console/auth/forgot.html", form=form, sent=False, status=form_status())


@limiter.limit(_limit, methods=["POST"])
def password_reset(token: str) -> Any:
    form = SetPasswordForm()
    try:
        account_for_reset(STAFF, token)
    except ValidationError as exc:
        return render("console/auth/reset.html", form=None, error=exc.message, status=422)
    sent = submit(
        form,
        lambda: reset_password(STAFF, token, form.password.data or ""),
        refusals=(ValidationError,),
    )
    if sent.ok:
        end_browser_session()
        flash("Your password is set. Sign in with it.", "success")
        return redirect(url_for("console.login"), code=303)
    return render(
        "console/auth/reset.html", form=form, token=token, error=None, status=form_status()
    )


def account_password() -> Any:
    form = ChangePasswordForm()
    member = current_user._get_current_object()
    sent = submit(
        form,
        lambda: change_password(
            STAFF,
            member,
            current=form.current.data or "",
            password=form.password.data or "",
            keep_session=_current_session_id(),
        ),
        refusals=(ValidationError,),
    )
    if sent.ok:
        login_user(member)  # the new session version
        return done(
            "Your password is changed; your other sessions are signed out.",
            url_for("console.account_sessions"),
        )
    return render("console/account/password.html", form=form, status=form_status())


def account_sessions() -> Any:
    return render(
        "console/account/sessions.html",
        sessions=live_sessions(STAFF, current_user._get_current_object()),
        current_id=_current_session_id(),
        describe=describe_device,
        confirm=ConfirmForm(),
    )


def account_session_end(session_id: int) -> Any:
    ConfirmForm().validate_on_submit()
    me = current_user._get_current_object()
    end_one_session_audited(STAFF, me, session_id, by=me, reason="ended_by_owner")
    if session_id == _current_session_id():
        end_browser_session()
        return done("This session is ended.", url_for("console.login"))
    return done("The session is ended.", url_for("console.account_sessions"))


def account_sessions_end_others() -> Any:
    ConfirmForm().validate_on_submit()
    me = current_user._get_current_object()
    ended = end_sessions_audited(
        STAFF, me, by=me, reason="ended_by_owner", keep_id=_current_session_id()
    )
    return done(f"{ended} other session(s) ended.", url_for("console.account_sessions"))


def staff_sessions_end(staff_id: int) -> Any:
    member = get_staff(staff_id)
    ConfirmForm().validate_on_submit()
    keep = _current_session_id() if member.id == current_user.id else None
    ended = end_sessions_audited(
        STAFF, member, by=current_user, reason="ended_by_admin", keep_id=keep
    )
    return done(
        f"{ended} session(s) of {member.email} ended.",
        url_for("console.staff_detail", staff_id=member.id),
    )

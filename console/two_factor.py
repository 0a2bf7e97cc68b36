"""Two-factor sign-in for staff: the code step after the password, enrolment (at sign-in
where the role needs it, or from the account page), recovery codes, and the admin's reset."""

from __future__ import annotations

from typing import Any

from flask import current_app, flash, redirect, request, session, url_for
from flask_login import current_user

from commerce.accounts.sessions import STAFF
from commerce.accounts.signin import complete_sign_in, trusted_device
from commerce.accounts.two_factor import (
    check_code,
    confirm_enrolment,
    enrolled,
    new_recovery_codes,
    provisioning_uri,
    qr_data_uri,
    recovery_codes_left,
    required_for,
    reset_second_factor,
    start_enrolment,
    turn_off,
)
from commerce.errors import CommerceError, TooManyAttempts, ValidationError
from commerce.extensions import limiter
from commerce.staff.services import get_staff
from console.auth import (
    DEVICE_COOKIE,
    PENDING,
    begin_session,
    client,
    finish_sign_in,
    pending_member,
    set_device_cookie,
)
from console.forms import CodeForm, CurrentPasswordForm
from console.web import done
from web.forms import failed_status, form_status, require_csrf, submit
from web.pages import render

OWN = "dashboard.view"


def _limit() -> str:
    return current_app.config["SIGN_IN_RATE_LIMIT"]


def _enrolment_context(member: Any) -> dict[str, Any]:
    factor = start_enrolment(member)
    uri = provisioning_uri(member, factor)
    return {"qr": qr_data_uri(uri), "secret": factor.secret, "uri": uri}


@limiter.limit(_limit, methods=["POST"])
def login_code() -> Any:
    found = pending_member()
    if found is None:
        flash("Sign in again, please.", "info")
        return redirect(url_for("console.login"), code=303)
    member, pending = found
    if not enrolled(member.id):
        return redirect(url_for("console.login_enrol"), code=303)
    form = CodeForm()
    trusted = trusted_device(STAFF, member.email, request.cookies.get(DEVICE_COOKIE))
    proof = (pending["nonce"], pending["proof"]) if "proof" in pending else None
    sent = submit(
        form,
        lambda: check_code(
            member, form.code.data or "", client=client(), trusted=trusted, proof=proof
        ),
        refusals=(ValidationError, TooManyAttempts),
    )
    if sent.ok:
        method = sent.value
        signed = complete_sign_in(
            STAFF,
            member,
            client=client(),
            remember=bool(pending.get("remember")),
            method=f"password+{method}",
        )
        if method == "recovery":
            left = recovery_codes_left(member)
            flash(f"You used a recovery code: {left} left.", "warning")
        return finish_sign_in(signed, pending.get("next"))
    if isinstance(sent.error, ValidationError) and proof is not None:
        session.pop(PENDING, None)  # the password may be wrong: start again
    status = failed_status(sent.error) if sent.error else form_status()
    return render("console/auth/code.html", form=form, status=status)


@limiter.limit(_limit, methods=["POST"])
def login_enrol() -> Any:
    """The role needs a second factor and this person has none yet: set it up, then in."""
    found = pending_member()
    if found is None:
        return redirect(url_for("console.login"), code=303)
    member, pending = found
    if enrolled(member.id):
        return redirect(url_for("console.login_code"), code=303)
    form = CodeForm()
    sent = submit(
        form,
        lambda: confirm_enrolment(member, form.code.data or ""),
        refusals=(ValidationError,),
    )
    if sent.ok:
        signed = complete_sign_in(
            STAFF,
            member,
            client=client(),
            remember=bool(pending.get("remember")),
            method="password+totp",
        )
        begin_session(signed)
        response = render(
            "console/account/recovery_codes.html",
            codes=sent.value,
            next_url=pending.get("next") or url_for("console.dashboard"),
        )
        set_device_cookie(response, member.email)
        return response
    return render(
        "console/auth/enrol.html", form=form, status=form_status(), **_enrolment_context(member)
    )


def account_two_factor() -> Any:
    me = current_user._get_current_object()
    context: dict[str, Any] = {"enrolled": enrolled(me.id), "required": required_for(me)}
    if context["enrolled"]:
        context["left"] = recovery_codes_left(me)
    else:
        context.update(_enrolment_context(me))
    return render(
        "console/account/two_factor.html",
        form=CodeForm(),
        password_form=CurrentPasswordForm(),
        **context,
    )


def account_two_factor_confirm() -> Any:
    me = current_user._get_current_object()
    form = CodeForm()
    sent = submit(
        form, lambda: confirm_enrolment(me, form.code.data or ""), refusals=(ValidationError,)
    )
    if sent.ok:
        return render(
            "console/account/recovery_codes.html",
            codes=sent.value,
            next_url=url_for("console.account_two_factor"),
        )
    return render(
        "console/account/two_factor.html",
        form=form,
        password_form=CurrentPasswordForm(),
        enrolled=False,
        required=required_for(me),
        status=422,
        **_enrolment_context(me),
    )


def account_recovery_codes() -> Any:
    me = current_user._get_current_object()
    form = CurrentPasswordForm()
    if form.validate_on_submit():
        try:
            codes = new_recovery_codes(me, password=form.password.data or "")
        except CommerceError as exc:
            return done(exc.message, url_for("console.account_two_factor"), level="error")
        return render(
            "console/account/recovery_codes.html",
            codes=codes,
            next_url=url_for("console.account_two_factor"),
        )
    return done("Enter your password.", url_for("console.account_two_factor"), level="error")


def account_two_factor_disable() -> Any:
    me = current_user._get_current_object()
    form = CurrentPasswordForm()
    if not form.validate_on_submit():
        return done("Enter your password.", url_for("console.account_two_factor"), level="error")
    try:
        turn_off(me, password=form.password.data or "")
    except CommerceError as exc:
        return done(exc.message, url_for("console.account_two_factor"), level="error")
    return done("Two-factor sign-in is off.", url_for("console.account_two_factor"))


def staff_two_factor_reset(staff_id: int) -> Any:
    member = get_staff(staff_id)
    require_csrf()
    reset_second_factor(member, by=current_user)
    return done(
        f"The second factor of {member.email} is reset; they are signed out.",
        url_for("console.staff_detail", staff_id=member.id),
    )

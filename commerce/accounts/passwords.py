"""Changing and resetting passwords, for staff and shoppers.

A reset link is signed (itsdangerous, with SECRET_KEY), expires after
PASSWORD_RESET_MAX_AGE seconds and carries a digest of the current password hash: setting a
password changes the hash, so the link works once, and an older link dies with it. Asking for
a link answers the same whether or not the email has an account; the email goes through the
outbox like every other (delivered after commit, retried until the mail server takes it).
Both a change and a reset end every other session of the account.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import select

from commerce import audit, mail, outbox
from commerce.accounts.sessions import CUSTOMER, STAFF, end_sessions
from commerce.accounts.sessions import keep_session as keep_session_row
from commerce.accounts.signin import actor_for
from commerce.audit import AuditEntry
from commerce.customers.models import Customer
from commerce.customers.services import find_customer_by_email
from commerce.db import transaction, utcnow
from commerce.errors import ValidationError
from commerce.extensions import db
from commerce.passwords import check_password
from commerce.staff.models import StaffMember
from commerce.staff.services import find_staff_by_email

RESET_REQUESTED = "account.password_reset_requested"
SECURITY_NOTICE = "account.security_notice"
NOTICES = {
    "password_changed": "Your password was changed",
    "password_reset": "Your password was reset",
    "two_factor_enabled": "Two-factor sign-in was turned on",
    "two_factor_disabled": "Two-factor sign-in was turned off",
    "two_factor_reset": "Your second factor was reset by an admin",
    "recovery_codes_replaced": "Your recovery codes were replaced",
}
RESET_ENDPOINTS = {STAFF: "console.password_reset", CUSTOMER: "storefront.password_reset"}
RESET_PATHS = {STAFF: "/console/password/reset/", CUSTOMER: "/account/password/reset/"}
_MODELS: dict[str, Any] = {STAFF: StaffMember, CUSTOMER: Customer}


def _serializer(kind: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=f"password-reset-{kind}")


def _hash_digest(account: Any) -> str:
    return hashlib.sha256((account.password_hash or "").encode()).hexdigest()[:24]


def reset_token(kind: str, account: Any) -> str:
    return _serializer(kind).dumps({"id": account.id, "p": _hash_digest(account)})


def _find(kind: str, email: str) -> Any:
    return find_staff_by_email(email) if kind == STAFF else find_customer_by_email(email)


def request_password_reset(kind: str, email: str, *, ip_address: str = "") -> None:
    """Email a reset link if an active account has this email; says nothing either way. One
    email per account per PASSWORD_RESET_EVERY_SECONDS, so nobody floods an inbox."""
    with transaction():
        account = _find(kind, email)
        if account is None or not account.is_active or _asked_lately(kind, account):
            return
        outbox.enqueue(RESET_REQUESTED, {"kind": kind, "id": account.id})
        audit.record(
            actor_for(kind, account),
            f"{kind}.password_reset_requested",
            account,
            after={"ip": ip_address},
        )


def _asked_lately(kind: str, account: Any) -> bool:
    since = utcnow() - timedelta(seconds=current_app.config["PASSWORD_RESET_EVERY_SECONDS"])
    return (
        db.session.scalar(
            select(AuditEntry.id)
            .where(
                AuditEntry.subject_type == kind,
                AuditEntry.subject_id == str(account.id),
                AuditEntry.action == f"{kind}.password_reset_requested",
                AuditEntry.at > since,
            )
            .limit(1)
        )
        is not None
    )


def account_for_reset(kind: str, token: str) -> Any:
    """The account a reset link names, or ValidationError (expired, used, not valid)."""
    try:
        data = _serializer(kind).loads(token, max_age=current_app.config["PASSWORD_RESET_MAX_AGE"])
    except SignatureExpired as exc:
        raise ValidationError("This link has expired. Ask for a new one.") from exc
    except BadSignature as exc:
        raise ValidationError("This link is not valid. Ask for a new one.") from exc
    account = db.session.get(_MODELS[kind], data.get("id") if isinstance(data, dict) else None)
    if account is None or not account.is_active or data.get("p") != _hash_digest(account):
        raise ValidationError("This link was used already or is no longer valid.")
    return account


def notify(kind: str, account: Any, what: str) -> None:
    """Tell the person by email that a sign-in detail of theirs changed (ASVS: a change they
    did not make is noticed). Joins the caller's transaction; sent after commit."""
    outbox.enqueue(SECURITY_NOTICE, {"kind": kind, "id": account.id, "what": what})


def _set(kind: str, account: Any, password: str, *, action: str, keep_session: int | None) -> None:
    check_password(password, email=account.email, name=account.name)
    with transaction():
        account.set_password(password)
        account.session_version += 1
        if kind == STAFF:
            account.invited_at = None
        ended = end_sessions(kind, account.id, reason="password_changed", keep_id=keep_session)
        if keep_session is not None:
            keep_session_row(keep_session, account)
        audit.record(
            actor_for(kind, account), f"{kind}.{action}", account, after={"sessions_ended": ended}
        )
        notify(
            kind, account, "password_reset" if action == "password_reset" else "password_changed"
        )


def reset_password(kind: str, token: str, password: str) -> Any:
    """Set a new password from a reset link; every session of the account ends."""
    account = account_for_reset(kind, token)
    _set(kind, account, password, action="password_reset", keep_session=None)
    return account


def change_password(
    kind: str, account: Any, *, current: str, password: str, keep_session: int | None
) -> Any:
    """The person changes their own password (knowing the current one); their other sessions
    end, this one (`keep_session`) goes on."""
    if not account.check_password(current or ""):
        raise ValidationError("That is not your current password.", field="current")
    if current == password:
        raise ValidationError("Choose a password different from the current one.", field="password")
    _set(kind, account, password, action="password_change", keep_session=keep_session)
    return account


# -- the email -----------------------------------------------------------------------------------


def reset_url(kind: str, token: str) -> str:
    """An absolute link for an email sent outside any request (commerce.mail.shop_base)."""
    base = urlsplit(mail.shop_base())
    endpoint = RESET_ENDPOINTS[kind]
    if endpoint in current_app.view_functions:
        adapter = current_app.url_map.bind(
            base.netloc, script_name=base.path or "/", url_scheme=base.scheme or "http"
        )
        return adapter.build(endpoint, {"token": token}, force_external=True)
    return f"{base.geturl()}{RESET_PATHS[kind]}{token}"


@outbox.handler(RESET_REQUESTED, atomic=False)
def email_reset_link(event: outbox.OutboxEvent) -> None:
    """The link is made when the email goes out (no usable token waits in the outbox)."""
    kind = event.payload["kind"]
    account = db.session.get(_MODELS[kind], int(event.payload["id"]))
    if account is None or not account.is_active:
        return
    shop_name = current_app.config["SHOP_NAME"]
    minutes = current_app.config["PASSWORD_RESET_MAX_AGE"] // 60
    context = {
        "url": reset_url(kind, reset_token(kind, account)),
        "shop_name": shop_name,
        "minutes": minutes,
        "console": kind == STAFF,
    }
    env = current_app.jinja_env
    key = f"password-reset-{kind}-{account.id}-{event.id}"
    message = mail.build_message(
        key=key,
        to=account.email,
        subject=f"Reset your password — {shop_name}",
        text=env.get_template("emails/password_reset.txt").render(context),
        html=env.get_template("emails/password_reset.html").render(context),
    )
    try:
        mail.send_email(message, key=key)
    except mail.RecipientRefused:
        return  # refused for good: nothing to retry


@outbox.handler(SECURITY_NOTICE, atomic=False)
def email_security_notice(event: outbox.OutboxEvent) -> None:
    kind, what = event.payload["kind"], event.payload["what"]
    account = db.session.get(_MODELS[kind], int(event.payload["id"]))
    if account is None or what not in NOTICES:
        return
    shop_name = current_app.config["SHOP_NAME"]
    context = {
        "what": NOTICES[what],
        "shop_name": shop_name,
        "console": kind == STAFF,
        "forgot_url": _forgot_url(kind),
    }
    env = current_app.jinja_env
    key = f"security-notice-{kind}-{account.id}-{event.id}"
    message = mail.build_message(
        key=key,
        to=account.email,
        subject=f"{NOTICES[what]} — {shop_name}",
        text=env.get_template("emails/security_notice.txt").render(context),
        html=env.get_template("emails/security_notice.html").render(context),
    )
    try:
        mail.send_email(message, key=key)
    except mail.RecipientRefused:
        return


def _forgot_url(kind: str) -> str:
    base = mail.shop_base()
    return f"{base}{'/console/password/forgot' if kind == STAFF else '/account/password/forgot'}"

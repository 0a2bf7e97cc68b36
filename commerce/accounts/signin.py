"""Signing in and out, for staff and shoppers: the password check, the per-account backoff,
the session it starts and the audit entries (sign-in, failed sign-in, sign-out).

Per-IP limits (Flask-Limiter) stop one address from guessing fast; the backoff here stops a
guesser who spreads over many addresses. It is kept per email, known or not (the answer never
tells which), and it never locks the owner out: a browser that has signed in to the account
before carries a device cookie (OWASP's "device cookies") and is not held back.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

from flask import current_app
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from commerce import audit
from commerce.accounts.models import SignInThrottle
from commerce.accounts.sessions import (
    CUSTOMER,
    STAFF,
    Client,
    Started,
    end_session,
    resume_remembered,
    start_session,
    token_hash,
)
from commerce.customers.services import authenticate_customer
from commerce.db import transaction, utcnow
from commerce.errors import TooManyAttempts, ValidationError
from commerce.extensions import db
from commerce.staff.services import authenticate

GENERIC_FAILURE = {
    STAFF: "That email and password do not match an active account.",
    CUSTOMER: "That email and password do not match an account.",
}


@dataclass
class SignedIn:
    account: Any
    session: Started


def _normalize(email: str | None) -> str:
    return (email or "").strip().lower()[:255]


def actor_for(kind: str, account: Any) -> Any:
    """Who the audit log names: a staff member, or a shopper by label (no staff id)."""
    if kind == STAFF:
        return account
    return SimpleNamespace(id=None, email=f"customer:{account.email}")


def _record(kind: str, action: str, account: Any, email: str, **after: Any) -> None:
    if account is not None:
        audit.record(actor_for(kind, account), f"{kind}.{action}", account, after=after)
    else:
        audit.record(
            None,
            f"{kind}.{action}",
            subject_type=kind,
            subject_id=None,
            subject_label=email,
            after=after,
        )


# -- device cookies ------------------------------------------------------------------------------


def _device_serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="sign-in-device")


def device_token(kind: str, email: str) -> str:
    """Proof that this browser signed in to this account (lifts the per-account backoff)."""
    return _device_serializer().dumps({"k": kind, "e": token_hash(_normalize(email))})


def trusted_device(kind: str, email: str, token: str | None) -> bool:
    if not token:
        return False
    max_age = current_app.config["DEVICE_COOKIE_DAYS"] * 86400
    try:
        data = _device_serializer().loads(token, max_age=max_age)
    except BadSignature:
        return False
    return (
        isinstance(data, dict)
        and data.get("k") == kind
        and data.get("e") == token_hash(_normalize(email))
    )


# -- the backoff ---------------------------------------------------------------------------------


def _throttle_row(kind: str, email: str) -> SignInThrottle | None:
    return db.session.scalar(
        select(SignInThrottle).where(SignInThrottle.kind == kind, SignInThrottle.email == email)
    )


def _wait(row: SignInThrottle | None) -> int:
    if row is None or row.blocked_until is None:
        return 0
    left = (row.blocked_until - utcnow()).total_seconds()
    return max(0, int(left + 0.999))


def blocked_for(kind: str, email: str) -> int:
    """Seconds this email must still wait before its next try (0: go ahead)."""
    with transaction(read_only=True):
        return _wait(_throttle_row(kind, email))


def refuse(kind: str, account: Any, email: str, wait: int, *, client: Client) -> None:
    """Audit a try made while the email waits, and answer TooManyAttempts (429)."""
    with transaction():
        _record(kind, "sign_in_refused", account, email, ip=client.ip_address, wait=wait)
    raise TooManyAttempts(
        f"Too many failed sign-ins for this account. Try again in {wait} seconds.",
        retry_after=wait,
    )


def _bump(kind: str, email: str, now: datetime) -> int | None:
    return db.session.execute(
        update(SignInThrottle)
        .where(SignInThrottle.kind == kind, SignInThrottle.email == email)
        .values(failures=SignInThrottle.failures + 1, updated_at=now)
        .returning(SignInThrottle.failures)
    ).scalar()


def count_failure(kind: str, email: str) -> None:
    """One more failure for this email, counted by one conditional UPDATE (parallel guesses
    all count), and the wait that follows. Joins the caller's transaction."""
    config = current_app.config
    now = utcnow()
    failures = _bump(kind, email, now)
    if failures is None:
        try:
            with db.session.begin_nested():
                db.session.add(SignInThrottle(kind=kind, email=email, failures=1, updated_at=now))
            failures = 1
        except IntegrityError:  # a parallel failure made the row first
            failures = _bump(kind, email, now) or 1
    over = failures - config["SIGN_IN_FREE_FAILURES"]
    if over >= 0:
        wait = min(
            config["SIGN_IN_BACKOFF_SECONDS"] * 2 ** min(over, 20),
            config["SIGN_IN_BACKOFF_MAX_SECONDS"],
        )
        db.session.execute(
            update(SignInThrottle)
            .where(SignInThrottle.kind == kind, SignInThrottle.email == email)
            .values(blocked_until=now + timedelta(seconds=wait))
        )


def clear_failures(kind: str, email: str) -> None:
    row = _throttle_row(kind, email)
    if row is not None:
        db.session.delete(row)


# -- sign in and out -----------------------------------------------------------------------------


@dataclass
class HeldBack:
    """A staff account with a second factor, tried while its email waits: the password's
    outcome is not told here (no guessing oracle) but sealed in `proof` for the code step,
    which tells both together. So the owner with the password and a code still gets in while
    a stranger fails on purpose, and the stranger learns nothing from a wrong password."""

    account: Any
    proof: str


def password_proof(account: Any, nonce: str) -> str:
    """What the code step compares: only a right password (its current hash) makes it."""
    key = current_app.config["SECRET_KEY"].encode()
    message = f"{account.id}:{account.password_hash}:{nonce}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def check_password(
    kind: str,
    email: str,
    password: str,
    *,
    client: Client,
    trusted: bool,
    nonce: str | None = None,
) -> Any:
    """The account for these credentials, counting a failure against the email (unless the
    browser is trusted) and auditing it; raises TooManyAttempts while the email waits, and
    ValidationError (one message for every failure) otherwise. With a `nonce` (the console's
    two-step sign-in), a waiting staff account with a second factor gives a HeldBack."""
    email = _normalize(email)
    wait = 0 if trusted else blocked_for(kind, email)
    held = None
    if wait:
        held = _known_account(STAFF, email) if kind == STAFF and nonce else None
        if held is None or not _has_second_factor(held):
            refuse(kind, None, email, wait, client=client)
    check = authenticate if kind == STAFF else authenticate_customer
    account = check(email, password or "")
    if account is None:
        with transaction():
            if not trusted:
                count_failure(kind, email)
            known = _known_account(kind, email)
            _record(kind, "sign_in_failed", known, email, ip=client.ip_address)
        if held is not None and nonce:
            return HeldBack(held, secrets.token_hex(32))
        raise ValidationError(GENERIC_FAILURE[kind])
    if held is not None and nonce:
        return HeldBack(account, password_proof(account, nonce))
    return account


def _has_second_factor(member: Any) -> bool:
    from commerce.accounts.two_factor import enrolled

    return member.is_active and enrolled(member.id)


def _known_account(kind: str, email: str) -> Any:
    if kind == STAFF:
        from commerce.staff.services import find_staff_by_email

        return find_staff_by_email(email)
    from commerce.customers.services import find_customer_by_email

    return find_customer_by_email(email)


def complete_sign_in(
    kind: str, account: Any, *, client: Client, remember: bool = False, method: str = "password"
) -> SignedIn:
    """Start the session of an account whose credentials were checked, clear its failures and
    audit the sign-in."""
    with transaction():
        clear_failures(kind, _normalize(account.email))
        started = start_session(kind, account, client=client, remember=remember)
        _record(
            kind,
            "sign_in",
            account,
            account.email,
            ip=client.ip_address,
            session=started.row.id,
            method=method,
            remember=bool(started.remember_token),
        )
    return SignedIn(account=account, session=started)


def sign_in(
    kind: str,
    email: str,
    password: str,
    *,
    client: Client,
    remember: bool = False,
    trusted: bool = False,
) -> SignedIn:
    """Check the password and start a session (for accounts without a second factor; staff
    sign-in asks `needs_second_factor` between the two steps)."""
    account = check_password(kind, email, password, client=client, trusted=trusted)
    return complete_sign_in(kind, account, client=client, remember=remember)


def resume(kind: str, remember_token: str | None, *, client: Client) -> SignedIn | None:
    """Sign in from a "keep me signed in" cookie (audited), or None if it is no good."""
    resumed = resume_remembered(kind, remember_token, client=client)
    if resumed is None:
        return None
    account, started = resumed
    with transaction():
        _record(
            kind,
            "sign_in",
            account,
            account.email,
            ip=client.ip_address,
            session=started.row.id,
            method="remembered",
        )
    return SignedIn(account=account, session=started)


def sign_out(kind: str, account: Any, token: str | None, *, client: Client) -> None:
    """End this browser's session on the server (copies of its cookies stop working too)."""
    with transaction():
        row = end_session(kind, token)
        if account is not None:
            _record(
                kind,
                "sign_out",
                account,
                account.email,
                ip=client.ip_address,
                session=getattr(row, "id", None),
            )

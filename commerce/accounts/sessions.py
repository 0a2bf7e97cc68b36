"""Server-side sessions: created at sign-in, checked on every signed-in request, ended at
sign-out, by an idle or absolute timeout, by the person or an admin, or by a password change.

The browser holds only a random token (in the signed Flask session cookie, and for "keep me
signed in" a second one in its own cookie); the table keeps their SHA-256. Checking a session
is one indexed lookup that also loads the account (the same one statement the account alone
took before); a staff session's last-seen time is written at most once per
`SESSION_TOUCH_SECONDS`, so a busy console does not write on every click, and a shopper's
never (shop pages stay write-free).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import select, update

from commerce import audit
from commerce.accounts.models import AuthSession
from commerce.customers.models import Customer
from commerce.db import transaction, utcnow
from commerce.errors import NotFound
from commerce.extensions import db
from commerce.staff.models import StaffMember

STAFF = "staff"
CUSTOMER = "customer"
_MODELS: dict[str, Any] = {STAFF: StaffMember, CUSTOMER: Customer}


@dataclass(frozen=True)
class Client:
    """Where a sign-in comes from, as shown in the list of sessions."""

    ip_address: str = ""
    user_agent: str = ""


@dataclass
class Started:
    """A new session: the row, the token for the session cookie and, with "keep me signed
    in", the token for the remember cookie."""

    row: AuthSession
    token: str
    remember_token: str | None = None


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _new_token() -> str:
    return secrets.token_urlsafe(32)


def _setting(name: str) -> Any:
    return current_app.config[name]


def lifetime(kind: str) -> timedelta:
    """The absolute lifetime of a session of this kind, from sign-in."""
    if kind == STAFF:
        return timedelta(minutes=_setting("STAFF_SESSION_MAX_MINUTES"))
    return timedelta(days=_setting("CUSTOMER_SESSION_DAYS"))


def idle_limit(kind: str) -> timedelta | None:
    """How long a session may go unused (staff only; a shopper's lasts to its lifetime)."""
    if kind == STAFF:
        return timedelta(minutes=_setting("STAFF_SESSION_IDLE_MINUTES"))
    return None


def start_session(
    kind: str,
    account: Any,
    *,
    client: Client,
    remember: bool = False,
    remember_until: datetime | None = None,
) -> Started:
    """A fresh session (a new id at every sign-in: a token planted before it is worthless).
    Joins the caller's transaction."""
    now = utcnow()
    token = _new_token()
    row = AuthSession(
        kind=kind,
        user_id=account.id,
        account_version=account.session_version,
        token_hash=token_hash(token),
        created_at=now,
        last_seen_at=now,
        expires_at=now + lifetime(kind),
        ip_address=(client.ip_address or "")[:64],
        user_agent=(client.user_agent or "")[:255],
    )
    remember_token = None
    if remember or remember_until is not None:
        remember_token = _new_token()
        row.remember_hash = token_hash(remember_token)
        row.remember_until = remember_until or now + timedelta(days=_setting("STAFF_REMEMBER_DAYS"))
    with transaction():
        db.session.add(row)
        db.session.flush()
    return Started(row=row, token=token, remember_token=remember_token)


def _alive(row: AuthSession, now: datetime) -> bool:
    if row.ended_at is not None or row.expires_at <= now:
        return False
    idle = idle_limit(row.kind)
    return idle is None or row.last_seen_at > now - idle


def _touch(row: AuthSession, now: datetime) -> None:
    """Note the session as seen (staff: the idle limit and the sessions list). A shopper's
    session is never written after sign-in, so the shop's pages stay write-free."""
    if idle_limit(row.kind) is None:
        return
    if now - row.last_seen_at >= timedelta(seconds=_setting("SESSION_TOUCH_SECONDS")):
        with transaction():
            db.session.execute(
                update(AuthSession).where(AuthSession.id == row.id).values(last_seen_at=now)
            )
        row.last_seen_at = now


def load_account(kind: str, user_id: int, token: str | None) -> tuple[Any, AuthSession] | None:
    """The account and its session for a session token, if the session is still alive and
    belongs to `user_id` (one indexed lookup; a throttled last-seen write)."""
    if not token or not isinstance(token, str):
        return None
    model = _MODELS[kind]
    found = db.session.execute(
        select(model, AuthSession)
        .join(AuthSession, AuthSession.user_id == model.id)
        .where(AuthSession.token_hash == token_hash(token), AuthSession.kind == kind)
    ).first()
    if found is None:
        return None
    account, row = found
    now = utcnow()
    if (
        account.id != user_id
        or not account.is_active
        or row.account_version != account.session_version
        or not _alive(row, now)
    ):
        return None
    _touch(row, now)
    return account, row


def resume_remembered(kind: str, remember_token: str | None, *, client: Client) -> Any:
    """Sign in again from a "keep me signed in" token: the old session ends and a new one
    starts with a new remember token (same end date: remembering never extends itself).
    None when the token is unknown, used already, ended or past its date."""
    if not remember_token or not isinstance(remember_token, str):
        return None
    model = _MODELS[kind]
    now = utcnow()
    with transaction():
        found = db.session.execute(
            select(model, AuthSession)
            .join(AuthSession, AuthSession.user_id == model.id)
            .where(
                AuthSession.remember_hash == token_hash(remember_token), AuthSession.kind == kind
            )
        ).first()
        if found is None:
            return None
        account, old = found
        if (
            not account.is_active
            or old.account_version != account.session_version
            or old.ended_at is not None
            or old.remember_until is None
            or old.remember_until <= now
        ):
            return None
        until = old.remember_until
        old.ended_at, old.ended_reason, old.remember_hash = now, "renewed", None
        db.session.flush()
        started = start_session(kind, account, client=client, remember_until=until)
    return account, started


def end_session(kind: str, token: str | None, *, reason: str = "signed_out") -> AuthSession | None:
    """End the session this token names (sign-out); a token already ended is left alone."""
    if not token or not isinstance(token, str):
        return None
    with transaction():
        row = db.session.scalar(
            select(AuthSession).where(
                AuthSession.token_hash == token_hash(token), AuthSession.kind == kind
            )
        )
        if row is not None and row.ended_at is None:
            row.ended_at, row.ended_reason, row.remember_hash = utcnow(), reason, None
    return row


def end_sessions(kind: str, user_id: int, *, reason: str, keep_id: int | None = None) -> int:
    """End every live session of an account (but `keep_id`): after a password change, a
    deactivation, or "sign out everywhere". Joins the caller's transaction."""
    stmt = (
        update(AuthSession)
        .where(
            AuthSession.kind == kind,
            AuthSession.user_id == user_id,
            AuthSession.ended_at.is_(None),
        )
        .values(ended_at=utcnow(), ended_reason=reason, remember_hash=None)
    )
    if keep_id is not None:
        stmt = stmt.where(AuthSession.id != keep_id)
    with transaction():
        return db.session.execute(stmt).rowcount or 0


def keep_session(session_id: int, account: Any) -> None:
    """The session goes on across a bump of the account's version (its own password change).
    Joins the caller's transaction."""
    with transaction():
        db.session.execute(
            update(AuthSession)
            .where(AuthSession.id == session_id, AuthSession.user_id == account.id)
            .values(account_version=account.session_version)
        )


def end_session_by_id(kind: str, user_id: int, session_id: int, *, reason: str) -> AuthSession:
    """End one of an account's sessions, named by its row id (the sessions list)."""
    with transaction():
        row = db.session.scalar(
            select(AuthSession).where(
                AuthSession.id == session_id,
                AuthSession.kind == kind,
                AuthSession.user_id == user_id,
            )
        )
        if row is None:
            raise NotFound("No such session.")
        if row.ended_at is None:
            row.ended_at, row.ended_reason, row.remember_hash = utcnow(), reason, None
    return row


def live_sessions(kind: str, account: Any) -> list[AuthSession]:
    """An account's sessions that are still alive, most recently used first."""
    if not account.is_active:
        return []
    now = utcnow()
    rows = db.session.scalars(
        select(AuthSession)
        .where(
            AuthSession.kind == kind,
            AuthSession.user_id == account.id,
            AuthSession.account_version == account.session_version,
            AuthSession.ended_at.is_(None),
            AuthSession.expires_at > now,
        )
        .order_by(AuthSession.last_seen_at.desc(), AuthSession.id.desc())
    )
    return [row for row in rows if _alive(row, now)]


def purge_ended(*, older_than: timedelta = timedelta(days=30)) -> int:
    """Housekeeping: forget sessions that ended or expired long ago."""
    cutoff = utcnow() - older_than
    with transaction():
        result = db.session.execute(
            AuthSession.__table__.delete().where(
                (AuthSession.expires_at < cutoff)
                | (AuthSession.ended_at.is_not(None) & (AuthSession.ended_at < cutoff))
            )
        )
    return result.rowcount or 0


def end_sessions_audited(
    kind: str, account: Any, *, by: Any, reason: str, keep_id: int | None = None
) -> int:
    """End an account's sessions (all, or all but `keep_id`) and audit who did it."""
    with transaction():
        ended = end_sessions(kind, account.id, reason=reason, keep_id=keep_id)
        audit.record(by, f"{kind}.sessions_ended", account, after={"ended": ended, "why": reason})
    return ended


def end_one_session_audited(
    kind: str, account: Any, session_id: int, *, by: Any, reason: str
) -> AuthSession:
    """End one of an account's sessions (the sessions list) and audit it."""
    with transaction():
        row = end_session_by_id(kind, account.id, session_id, reason=reason)
        audit.record(by, f"{kind}.session_ended", account, after={"session": row.id, "why": reason})
    return row


_BROWSERS = (("Edg/", "Edge"), ("OPR/", "Opera"), ("Firefox/", "Firefox"), ("Chrome/", "Chrome"))
_SYSTEMS = (
    ("iPhone", "iPhone"),
    ("iPad", "iPad"),
    ("Android", "Android"),
    ("Windows", "Windows"),
    ("Mac OS X", "macOS"),
    ("CrOS", "ChromeOS"),
    ("Linux", "Linux"),
)


def describe_device(user_agent: str) -> str:
    """ "Firefox on Windows" from a user agent, for people to recognise their sessions."""
    ua = user_agent or ""
    browser = next((name for key, name in _BROWSERS if key in ua), None)
    if browser is None and "Safari/" in ua:
        browser = "Safari"
    system = next((name for key, name in _SYSTEMS if key in ua), None)
    if browser and system:
        return f"{browser} on {system}"
    return browser or system or (ua[:60] if ua else "Unknown device")

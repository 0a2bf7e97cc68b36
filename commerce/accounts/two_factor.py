"""Two-factor sign-in for staff: an authenticator app (TOTP, RFC 6238, through pyotp) and
single-use recovery codes.

Enrolment shows a QR code (segno draws it as SVG, here; no outside service sees the secret)
and takes effect once the person types a first code. A code is accepted within one 30-second
step either side, and never twice. Wrong codes count against the email like wrong passwords
(their own backoff, lifted for a browser that signed in before). Which roles must use it:
STAFF_TWO_FACTOR_ROLES. An admin can reset someone's second factor (a lost phone); that ends
the person's sessions and is audited like every change here.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from typing import Any

import pyotp
import segno
from flask import current_app
from sqlalchemy import delete, select

from commerce import audit
from commerce.accounts.models import StaffRecoveryCode, StaffSecondFactor
from commerce.accounts.passwords import notify
from commerce.accounts.sessions import STAFF, Client, end_sessions
from commerce.accounts.signin import (
    blocked_for,
    clear_failures,
    count_failure,
    password_proof,
    refuse,
)
from commerce.db import transaction, utcnow
from commerce.errors import Conflict, ValidationError
from commerce.extensions import db
from commerce.staff.models import StaffMember

CODE_KIND = "totp"  # the backoff's kind for wrong codes (commerce.accounts.signin)
RECOVERY_CODES = 10
STEP = 30


def _now() -> float:
    """The clock codes are checked against (a seam for tests)."""
    return time.time()


def required_for(member: StaffMember) -> bool:
    """Whether this member's role must sign in with a second factor."""
    roles = current_app.config["STAFF_TWO_FACTOR_ROLES"] or ()
    if isinstance(roles, str):
        roles = {part.strip() for part in roles.split(",")}
    return member.role in roles


def factor_of(member_id: int) -> StaffSecondFactor | None:
    return db.session.get(StaffSecondFactor, member_id)


def enrolled(member_id: int) -> bool:
    factor = factor_of(member_id)
    return factor is not None and factor.confirmed_at is not None


def needs_second_factor(member: StaffMember) -> bool:
    """After the password: ask for a code (enrolled) or for enrolment (required by role)."""
    return enrolled(member.id) or required_for(member)


def start_enrolment(member: StaffMember) -> StaffSecondFactor:
    """A new secret waiting for its first code (the same one while it waits)."""
    with transaction():
        factor = factor_of(member.id)
        if factor is not None and factor.confirmed_at is not None:
            raise Conflict("Two-factor sign-in is already on for this account.")
        if factor is None:
            factor = StaffSecondFactor(
                staff_id=member.id, secret=pyotp.random_base32(), last_step=0
            )
            db.session.add(factor)
    return factor


def provisioning_uri(member: StaffMember, factor: StaffSecondFactor) -> str:
    issuer = current_app.config["SHOP_NAME"]
    return pyotp.TOTP(factor.secret).provisioning_uri(name=member.email, issuer_name=issuer)


def qr_data_uri(uri: str) -> str:
    """The otpauth URI as an SVG QR code in a data: URI (allowed by the CSP's img-src)."""
    return segno.make(uri, error="m").svg_data_uri(scale=5, border=2)


def _matching_step(factor: StaffSecondFactor, code: str) -> int | None:
    code = "".join(ch for ch in (code or "") if ch.isdigit())
    if len(code) != 6:
        return None
    totp = pyotp.TOTP(factor.secret)
    now_step = int(_now()) // STEP
    for step in (now_step - 1, now_step, now_step + 1):
        if step > (factor.last_step or 0) and hmac.compare_digest(totp.at(step * STEP), code):
            return step
    return None


def _code_hash(code: str) -> str:
    normalized = "".join(ch for ch in (code or "").lower() if ch.isalnum())
    return hashlib.sha256(normalized.encode()).hexdigest()


def _new_recovery_codes(member: StaffMember) -> list[str]:
    db.session.execute(delete(StaffRecoveryCode).where(StaffRecoveryCode.staff_id == member.id))
    alphabet = "abcdefghjkmnpqrstuvwxyz23456789"
    codes = []
    for _ in range(RECOVERY_CODES):
        raw = "".join(secrets.choice(alphabet) for _ in range(10))
        codes.append(f"{raw[:5]}-{raw[5:]}")
        db.session.add(StaffRecoveryCode(staff_id=member.id, code_hash=_code_hash(raw)))
    return codes


def confirm_enrolment(member: StaffMember, code: str) -> list[str]:
    """Turn two-factor sign-in on with a first code; returns the recovery codes (shown once)."""
    with transaction():
        factor = factor_of(member.id)
        if factor is None or factor.confirmed_at is not None:
            raise ValidationError("Start again: scan the new QR code.", field="code")
        step = _matching_step(factor, code)
        if step is None:
            raise ValidationError(
                "That code does not match. Check the time on your phone and try the next code.",
                field="code",
            )
        factor.last_step = step
        factor.confirmed_at = utcnow()
        codes = _new_recovery_codes(member)
        audit.record(member, "staff.two_factor_enabled", member)
        notify(STAFF, member, "two_factor_enabled")
    return codes


def verify_code(member: StaffMember, code: str) -> str | None:
    """ "totp" or "recovery" when the code is good (a recovery code is used up), else None.
    Joins the caller's transaction."""
    factor = factor_of(member.id)
    if factor is None or factor.confirmed_at is None:
        return None
    step = _matching_step(factor, code)
    if step is not None:
        factor.last_step = step
        return "totp"
    row = db.session.scalar(
        select(StaffRecoveryCode).where(
            StaffRecoveryCode.staff_id == member.id,
            StaffRecoveryCode.code_hash == _code_hash(code),
            StaffRecoveryCode.used_at.is_(None),
        )
    )
    if row is None:
        return None
    row.used_at = utcnow()
    audit.record(member, "staff.recovery_code_used", member, after={"left": _left(member) - 1})
    return "recovery"


def _left(member: StaffMember) -> int:
    return len(
        list(
            db.session.scalars(
                select(StaffRecoveryCode.id).where(
                    StaffRecoveryCode.staff_id == member.id, StaffRecoveryCode.used_at.is_(None)
                )
            )
        )
    )


def recovery_codes_left(member: StaffMember) -> int:
    return _left(member)


def check_code(
    member: StaffMember,
    code: str,
    *,
    client: Client,
    trusted: bool,
    proof: tuple[str, str] | None = None,
) -> str:
    """The second step of sign-in: the method used ("totp", "recovery"), or TooManyAttempts
    while wrong codes hold the account back, or ValidationError (counted and audited).

    `proof` (nonce, proof) comes from a password tried while the account was held back: the
    password's outcome is told here, together with the code's, in one message."""
    email = member.email.lower()
    wait = 0 if trusted else blocked_for(CODE_KIND, email)
    if wait:
        refuse(STAFF, member, email, wait, client=client)
    password_ok = proof is None or hmac.compare_digest(proof[1], password_proof(member, proof[0]))
    with transaction():
        method = verify_code(member, code) if password_ok else None
        if method is not None:
            clear_failures(CODE_KIND, email)
    if method is None:
        with transaction():
            if not trusted:
                count_failure(CODE_KIND, email)
            audit.record(
                member, "staff.second_factor_failed", member, after={"ip": client.ip_address}
            )
        message = "That code does not match."
        if proof is not None:
            message = "The password or the code does not match. Sign in again."
        raise ValidationError(message, field="code")
    return method


def new_recovery_codes(member: StaffMember, *, password: str) -> list[str]:
    """Replace the recovery codes (the old ones stop working); asks for the password."""
    if not member.check_password(password or ""):
        raise ValidationError("That is not your current password.", field="password")
    if not enrolled(member.id):
        raise Conflict("Turn two-factor sign-in on first.")
    with transaction():
        codes = _new_recovery_codes(member)
        audit.record(member, "staff.recovery_codes_replaced", member)
        notify(STAFF, member, "recovery_codes_replaced")
    return codes


def _remove(member: StaffMember) -> None:
    db.session.execute(delete(StaffRecoveryCode).where(StaffRecoveryCode.staff_id == member.id))
    db.session.execute(delete(StaffSecondFactor).where(StaffSecondFactor.staff_id == member.id))


def turn_off(member: StaffMember, *, password: str) -> None:
    """The person turns their own second factor off (not allowed where the role needs it)."""
    if not member.check_password(password or ""):
        raise ValidationError("That is not your current password.", field="password")
    if required_for(member):
        raise ValidationError(
            "Your role must sign in with two factors; it cannot be turned off.", field="password"
        )
    with transaction():
        _remove(member)
        audit.record(member, "staff.two_factor_disabled", member)
        notify(STAFF, member, "two_factor_disabled")


def reset_second_factor(member: StaffMember, *, by: Any) -> None:
    """An admin removes a member's second factor (lost phone): the member sets it up again at
    the next sign-in where the role needs it; every session of theirs ends."""
    with transaction():
        had = factor_of(member.id) is not None
        _remove(member)
        ended = end_sessions(STAFF, member.id, reason="two_factor_reset")
        audit.record(
            by, "staff.two_factor_reset", member, after={"had_factor": had, "sessions_ended": ended}
        )
        notify(STAFF, member, "two_factor_reset")

"""Staff accounts: sign-in checks, invitations, role changes, deactivation."""

from __future__ import annotations

import re
from typing import Any

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import func, select
from werkzeug.security import check_password_hash, generate_password_hash

from commerce import audit
from commerce.db import service, transaction, utcnow
from commerce.errors import DuplicateValue, NotFound, PermissionDenied, ValidationError
from commerce.extensions import db
from commerce.passwords import check_password
from commerce.staff.models import StaffMember
from commerce.staff.permissions import ADMIN, ROLES

_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# A real hash to compare against when the email is unknown, so both failures take equal time.
_DUMMY_HASH = generate_password_hash("not-a-real-password")


def normalize_email(email: str) -> str:
    return (email or "").strip().lower()


def _check_email(email: str) -> str:
    email = normalize_email(email)
    if not _EMAIL_RE.match(email):
        raise ValidationError("Enter a valid email address.", field="email")
    return email


def _check_role(role: str) -> str:
    if role not in ROLES:
        raise ValidationError(f"Role must be one of: {', '.join(ROLES)}.", field="role")
    return role


def check_password_strength(
    password: str, *, email: str = "", name: str = "", field: str = "password"
) -> None:
    """The shared policy (commerce/passwords.py): length, not guessable, not the email."""
    check_password(password, email=email, name=name, field=field)


def find_staff_by_email(email: str) -> StaffMember | None:
    return db.session.scalar(
        select(StaffMember).where(func.lower(StaffMember.email) == normalize_email(email))
    )


def get_staff(staff_id: int) -> StaffMember:
    member = db.session.get(StaffMember, staff_id)
    if member is None:
        raise NotFound("No such staff member.")
    return member


def authenticate(email: str, password: str) -> StaffMember | None:
    """The account for these credentials, or None; never says which part was wrong."""
    member = find_staff_by_email(email)
    if member is None or not member.password_hash:
        check_password_hash(_DUMMY_HASH, password or "")
        return None
    if not member.check_password(password) or not member.is_active:
        return None
    with transaction():
        member.last_sign_in_at = utcnow()
    return member


def load_session_user(user_id: str) -> StaffMember | None:
    """Flask-Login's loader: a deactivated account or an old session version signs out."""
    try:
        raw_id, version = user_id.split(":", 1)
        member = db.session.get(StaffMember, int(raw_id))
    except (ValueError, TypeError):
        return None
    if member is None or not member.is_active or str(member.session_version) != version:
        return None
    return member


@service
def create_staff(
    email: str, *, role: str, name: str = "", password: str | None = None, by: Any = None
) -> StaffMember:
    """Create an account; without a password it waits for its invitation to be accepted."""
    email = _check_email(email)
    _check_role(role)
    if password is not None:
        check_password_strength(password, email=email, name=name)
    if find_staff_by_email(email) is not None:
        raise DuplicateValue("A staff member with this email already exists.", field="email")
    member = StaffMember(email=email, name=(name or "").strip()[:120], role=role)
    if password is not None:
        member.set_password(password)
    else:
        member.invited_at = utcnow()
    db.session.add(member)
    db.session.flush()
    audit.record(by, "staff.create", member, after=member.snapshot())
    return member


@service
def change_role(member: StaffMember, *, role: str, by: Any) -> StaffMember:
    _check_role(role)
    if member.role == ADMIN and role != ADMIN:
        _ensure_another_admin(member)
    before = member.snapshot()
    member.role = role
    member.session_version += 1
    audit.record(by, "staff.change_role", member, before=before, after=member.snapshot())
    return member


@service
def deactivate_staff(member: StaffMember, *, by: Any) -> StaffMember:
    """Signs the person out everywhere at their next request."""
    if by is not None and getattr(by, "id", None) == member.id:
        raise PermissionDenied("You cannot deactivate your own account.")
    if member.role == ADMIN:
        _ensure_another_admin(member)
    before = member.snapshot()
    member.is_active = False
    member.session_version += 1
    audit.record(by, "staff.deactivate", member, before=before, after=member.snapshot())
    return member


@service
def reactivate_staff(member: StaffMember, *, by: Any) -> StaffMember:
    before = member.snapshot()
    member.is_active = True
    audit.record(by, "staff.reactivate", member, before=before, after=member.snapshot())
    return member


@service
def set_password(member: StaffMember, *, password: str, by: Any) -> StaffMember:
    check_password_strength(password, email=member.email, name=member.name)
    member.set_password(password)
    member.session_version += 1
    member.invited_at = None
    audit.record(by, "staff.set_password", member)
    return member


def _ensure_another_admin(member: StaffMember) -> None:
    others = db.session.scalar(
        select(func.count())
        .select_from(StaffMember)
        .where(
            StaffMember.role == ADMIN, StaffMember.is_active.is_(True), StaffMember.id != member.id
        )
    )
    if not others:
        raise ValidationError("The shop needs at least one active admin.", field="role")


def _serializer(secret_key: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret_key, salt="staff-invite")


def invitation_token(member: StaffMember, *, secret_key: str) -> str:
    return _serializer(secret_key).dumps({"id": member.id, "v": member.session_version})


@service
def accept_invitation(token: str, *, password: str, secret_key: str, max_age: int) -> StaffMember:
    """Set the first password from an invitation link; the link works once."""
    try:
        data = _serializer(secret_key).loads(token, max_age=max_age)
    except SignatureExpired as exc:
        raise ValidationError("This invitation has expired; ask an admin for a new one.") from exc
    except BadSignature as exc:
        raise ValidationError("This invitation link is not valid.") from exc
    member = db.session.get(StaffMember, data.get("id"))
    if member is None or member.session_version != data.get("v") or not member.is_active:
        raise ValidationError("This invitation link is no longer valid.")
    return set_password(member, password=password, by=member)

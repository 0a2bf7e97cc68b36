"""Admin API tokens: created by admins in the console, sent by integrations as bearer secrets.

A token is stored as the sha256 of its secret (a high-entropy random string, so a slow hash
would add nothing); the secret itself is shown once, at creation. Every request checks expiry
and revocation, so a revoked token stops at its next request. A change made with a token is
done by the same services the console calls, with a `TokenActor` as `by=`: the audit log names
the token (`AuditEntry.actor_token_id`), and columns that point at a staff member stay empty,
as for the system.

The idempotency store keeps the first answer to a POST per token and `Idempotency-Key`.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from commerce import audit
from commerce.db import discard, in_transaction, service, transaction, utcnow
from commerce.errors import CommerceError, NotFound, ValidationError
from commerce.extensions import db
from commerce.staff.models import ApiIdempotencyKey, ApiToken
from commerce.staff.permissions import SCOPES, scopes_allowed

# A recognizable prefix: secret scanners and people can tell a leaked token at a glance.
SECRET_PREFIX = "cmk_"
PREFIX_LENGTH = len(SECRET_PREFIX) + 8
# last_used_at is written at most this often per token (not on every request).
LAST_USED_EVERY = timedelta(minutes=1)
# The API's first answers are replayed for this long (then the key may be used again).
IDEMPOTENCY_RETENTION = timedelta(hours=24)
# A claimed key with no answer after this long belongs to a request that died (its process
# was killed): a repeat of the same request takes it over instead of getting 409 forever.
IDEMPOTENCY_LEASE = timedelta(minutes=10)


class TokenRejected(CommerceError):
    """The bearer secret is missing, unknown, expired or revoked (`reason` says which)."""

    status = 401
    code = "unauthorized"


@dataclass(frozen=True)
class TokenActor:
    """Who acts when a request carries a token, passed to services as `by=`.

    `id` is None: columns that name a staff member (a movement's actor, a fulfilment's
    creator) are for people; the audit entry carries the token through `api_token_id`."""

    api_token_id: int
    name: str
    prefix: str
    scopes: frozenset[str]
    id: None = None
    role: None = None

    @property
    def email(self) -> str:
        """The audit log's actor label."""
        return f"api token {self.name} ({self.prefix}…)"

    def can(self, permission: str) -> bool:
        return any(permission in SCOPES[s][1] for s in self.scopes if s in SCOPES)

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def actor_for(token: ApiToken) -> TokenActor:
    return TokenActor(
        api_token_id=token.id,
        name=token.name,
        prefix=token.prefix,
        scopes=frozenset(token.scopes or ()),
    )


def _check_scopes(scopes: Any, *, by: Any) -> list[str]:
    chosen = sorted({str(s) for s in scopes or ()})
    if not chosen:
        raise ValidationError("Choose at least one scope.", field="scopes")
    unknown = [s for s in chosen if s not in SCOPES]
    if unknown:
        raise ValidationError(f"Unknown scope: {', '.join(unknown)}.", field="scopes")
    allowed = set(scopes_allowed(getattr(by, "role", "") or ""))
    beyond = [s for s in chosen if s not in allowed]
    if by is not None and beyond:
        raise ValidationError(f"Your role cannot grant: {', '.join(beyond)}.", field="scopes")
    return chosen


@service
def create_token(
    name: str, *, scopes: Any, by: Any, expires_at: datetime | None = None
) -> tuple[ApiToken, str]:
    """A new token and its secret (shown once: only its hash is kept)."""
    name = (name or "").strip()
    if not name:
        raise ValidationError("Give the token a name.", field="name")
    if len(name) > 120:
        raise ValidationError("Use at most 120 characters.", field="name")
    chosen = _check_scopes(scopes, by=by)
    if expires_at is not None and expires_at <= utcnow():
        raise ValidationError("Choose an expiry in the future.", field="expires_at")
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        name=name,
        prefix=secret[:PREFIX_LENGTH],
        secret_hash=hash_secret(secret),
        scopes=chosen,
        created_by_id=getattr(by, "id", None),
        created_at=utcnow(),
        expires_at=expires_at,
    )
    db.session.add(token)
    db.session.flush()
    audit.record(by, "api_token.create", token, after=token.snapshot())
    return token, secret


@service
def revoke_token(token: ApiToken, *, by: Any) -> ApiToken:
    """Stops the token at its next request; revoking twice changes nothing."""
    if token.revoked_at is not None:
        return token
    before = token.snapshot()
    token.revoked_at = utcnow()
    audit.record(by, "api_token.revoke", token, before=before, after=token.snapshot())
    return token


def get_token(token_id: int) -> ApiToken:
    token = db.session.get(ApiToken, token_id)
    if token is None:
        raise NotFound("No such API token.")
    return token


def list_tokens() -> list[ApiToken]:
    return list(db.session.scalars(select(ApiToken).order_by(ApiToken.id.desc())))


def authenticate_token(secret: str | None, *, now: datetime | None = None) -> ApiToken:
    """The live token for a bearer secret; TokenRejected when missing, unknown, expired or
    revoked. Checked on every request, so revocation and expiry take effect at once."""
    if not secret:
        raise TokenRejected("Send an API token: Authorization: Bearer <token>.", reason="missing")
    token = db.session.scalar(select(ApiToken).where(ApiToken.secret_hash == hash_secret(secret)))
    if token is None:
        raise TokenRejected("The API token is not valid.", reason="unknown")
    now = now or utcnow()
    if token.revoked_at is not None:
        raise TokenRejected("The API token was revoked.", reason="revoked")
    if token.expires_at is not None and token.expires_at <= now:
        raise TokenRejected("The API token has expired.", reason="expired")
    if token.last_used_at is None or token.last_used_at <= now - LAST_USED_EVERY:
        _note_used(token.id, now)
    return token


def _note_used(token_id: int, now: datetime) -> None:
    """One conditional UPDATE, at most once a minute per token (outside any open work)."""
    if in_transaction():
        return
    with transaction():
        db.session.execute(
            update(ApiToken)
            .where(ApiToken.id == token_id)
            .values(last_used_at=now)
            .execution_options(synchronize_session=False)
        )


# -- idempotency keys -----------------------------------------------------------------------


@dataclass(frozen=True)
class StoredAnswer:
    """What a repeat of a keyed POST gets: the first answer, or None while it is running."""

    record_id: int
    fingerprint: str
    status: int | None
    body: str | None
    headers: dict[str, Any]


def _stored(record: ApiIdempotencyKey) -> StoredAnswer:
    return StoredAnswer(
        record.id, record.fingerprint, record.status, record.body, dict(record.headers or {})
    )


def claim_idempotency_key(token_id: int, key: str, fingerprint: str) -> StoredAnswer | None:
    """Claim `key` for this token (None: the caller does the work and stores its answer), or
    the answer already stored under it (status None: a first request still running). The
    claim is committed at once, so a concurrent request with the same key sees it; the
    unique (token, key) decides between two that arrive together."""
    if not key or len(key) > 255:
        raise ValidationError("Send an Idempotency-Key of 1 to 255 characters.", field="key")
    found = db.session.scalar(
        select(ApiIdempotencyKey).where(
            ApiIdempotencyKey.token_id == token_id, ApiIdempotencyKey.key == key
        )
    )
    if found is not None:
        if found.status is None and found.fingerprint == fingerprint and _take_over(found):
            return None
        return _stored(found)
    try:
        with transaction():
            db.session.add(
                ApiIdempotencyKey(
                    token_id=token_id, key=key, fingerprint=fingerprint, created_at=utcnow()
                )
            )
    except IntegrityError:
        found = db.session.scalar(
            select(ApiIdempotencyKey).where(
                ApiIdempotencyKey.token_id == token_id, ApiIdempotencyKey.key == key
            )
        )
        if found is None:
            raise
        return _stored(found)
    return None


def _take_over(found: ApiIdempotencyKey) -> bool:
    """Claim an abandoned key (older than the lease, no answer): one conditional UPDATE, so
    of two repeats racing for it one wins."""
    now = utcnow()
    if found.created_at > now - IDEMPOTENCY_LEASE:
        return False
    with transaction():
        moved = db.session.execute(
            update(ApiIdempotencyKey)
            .where(
                ApiIdempotencyKey.id == found.id,
                ApiIdempotencyKey.status.is_(None),
                ApiIdempotencyKey.created_at == found.created_at,
            )
            .values(created_at=now)
            .execution_options(synchronize_session=False)
        ).rowcount
    return moved == 1


def store_answer(
    token_id: int, key: str, *, status: int, body: str, headers: dict[str, str]
) -> None:
    """Keep the first answer for repeats of the key."""
    with transaction():
        db.session.execute(
            update(ApiIdempotencyKey)
            .where(ApiIdempotencyKey.token_id == token_id, ApiIdempotencyKey.key == key)
            .values(status=status, body=body, headers=headers)
            .execution_options(synchronize_session=False)
        )


def release_key(token_id: int, key: str) -> None:
    """The first request failed on our side (5xx): drop whatever it left open, and free the
    key so a retry does the work."""
    discard()
    with transaction():
        db.session.execute(
            delete(ApiIdempotencyKey)
            .where(
                ApiIdempotencyKey.token_id == token_id,
                ApiIdempotencyKey.key == key,
                ApiIdempotencyKey.status.is_(None),
            )
            .execution_options(synchronize_session=False)
        )


def purge_idempotency_keys(*, now: datetime | None = None) -> int:
    """Forget first answers older than IDEMPOTENCY_RETENTION (run hourly by beat); returns how
    many were deleted."""
    cutoff = (now or utcnow()) - IDEMPOTENCY_RETENTION
    with transaction():
        return db.session.execute(
            delete(ApiIdempotencyKey)
            .where(ApiIdempotencyKey.created_at < cutoff)
            .execution_options(synchronize_session=False)
        ).rowcount

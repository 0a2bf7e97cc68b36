"""API tokens in the domain: scopes within the creator's role, the secret kept as a hash,
expiry and revocation checked per call, the idempotency store."""

from __future__ import annotations

from datetime import timedelta

import pytest

from commerce.db import utcnow
from commerce.errors import ValidationError
from commerce.staff.permissions import SCOPES, scopes_allowed
from commerce.staff.tokens import (
    SECRET_PREFIX,
    TokenRejected,
    actor_for,
    authenticate_token,
    claim_idempotency_key,
    create_token,
    hash_secret,
    release_key,
    revoke_token,
    store_answer,
)


def test_scopes_stand_for_known_permissions():
    from commerce.staff.permissions import PERMISSIONS

    for _label, permissions in SCOPES.values():
        assert set(permissions) <= set(PERMISSIONS)
    assert scopes_allowed("admin") == list(SCOPES)
    assert "inventory:write" not in scopes_allowed("merchandiser")


def test_create_keeps_only_the_hash(make_staff):
    token, secret = create_token("ERP", scopes=["orders:read"], by=make_staff("admin"))
    assert secret.startswith(SECRET_PREFIX) and token.prefix == secret[: len(token.prefix)]
    assert token.secret_hash == hash_secret(secret)
    assert authenticate_token(secret).id == token.id


@pytest.mark.parametrize(
    ("scopes", "message"),
    [([], "Choose at least one scope."), (["orders:delete"], "Unknown scope")],
)
def test_bad_scopes(make_staff, scopes, message):
    with pytest.raises(ValidationError, match=message):
        create_token("x", scopes=scopes, by=make_staff("admin"))


def test_nobody_grants_more_than_their_role(make_staff):
    with pytest.raises(ValidationError, match="cannot grant"):
        create_token("x", scopes=["inventory:write"], by=make_staff("merchandiser"))


@pytest.mark.parametrize(
    ("secret", "reason"), [(None, "missing"), ("", "missing"), ("cmk_nope", "unknown")]
)
def test_rejected(secret, reason):
    with pytest.raises(TokenRejected) as caught:
        authenticate_token(secret)
    assert caught.value.details["reason"] == reason and caught.value.status == 401


def test_expiry_and_revocation(make_staff):
    admin = make_staff("admin")
    token, secret = create_token(
        "x", scopes=["orders:read"], by=admin, expires_at=utcnow() + timedelta(hours=1)
    )
    later = utcnow() + timedelta(hours=2)
    with pytest.raises(TokenRejected, match="expired"):
        authenticate_token(secret, now=later)
    revoke_token(token, by=admin)
    revoke_token(token, by=admin)  # twice changes nothing
    with pytest.raises(TokenRejected, match="revoked"):
        authenticate_token(secret)


def test_actor_speaks_for_the_token(make_staff):
    token, _ = create_token("ERP", scopes=["orders:write"], by=make_staff("admin"))
    actor = actor_for(token)
    assert actor.id is None and actor.api_token_id == token.id
    assert actor.can("orders.fulfill") and not actor.can("catalog.edit")
    assert token.prefix in actor.email


def test_idempotency_store(make_staff):
    token, _ = create_token("ERP", scopes=["orders:write"], by=make_staff("admin"))
    assert claim_idempotency_key(token.id, "k", "f" * 64) is None
    running = claim_idempotency_key(token.id, "k", "f" * 64)
    assert running is not None and running.status is None
    store_answer(token.id, "k", status=201, body="{}", headers={"Location": "/x"})
    done = claim_idempotency_key(token.id, "k", "f" * 64)
    assert (done.status, done.body, done.headers) == (201, "{}", {"Location": "/x"})
    assert claim_idempotency_key(token.id, "other", "f" * 64) is None
    release_key(token.id, "other")  # a failed first request frees its key
    assert claim_idempotency_key(token.id, "other", "f" * 64) is None


def test_an_abandoned_key_is_taken_over_by_the_same_request(make_staff):
    from commerce.extensions import db
    from commerce.staff.models import ApiIdempotencyKey
    from commerce.staff.tokens import IDEMPOTENCY_LEASE

    token, _ = create_token("ERP", scopes=["orders:write"], by=make_staff("admin"))
    assert claim_idempotency_key(token.id, "k", "f" * 64) is None
    row = db.session.query(ApiIdempotencyKey).filter_by(key="k").one()
    row.created_at = utcnow() - IDEMPOTENCY_LEASE - timedelta(seconds=1)
    db.session.commit()
    assert claim_idempotency_key(token.id, "k", "e" * 64).fingerprint == "f" * 64  # other body
    assert claim_idempotency_key(token.id, "k", "f" * 64) is None  # the same: taken over
    assert claim_idempotency_key(token.id, "k", "f" * 64).status is None  # now running again


def test_old_answers_are_purged(make_staff):
    from commerce.staff.tokens import IDEMPOTENCY_RETENTION, purge_idempotency_keys

    token, _ = create_token("ERP", scopes=["orders:write"], by=make_staff("admin"))
    claim_idempotency_key(token.id, "old", "f" * 64)
    assert purge_idempotency_keys() == 0
    later = utcnow() + IDEMPOTENCY_RETENTION + timedelta(minutes=1)
    assert purge_idempotency_keys(now=later) == 1
    assert claim_idempotency_key(token.id, "old", "e" * 64) is None  # the key is free again

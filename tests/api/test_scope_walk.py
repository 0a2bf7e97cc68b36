"""A walk over every operation of the OpenAPI document (new ones are covered as they are
added): no token is 401, a token with every scope but the operation's own is 403, a revoked
or expired token that holds the scope is 401. All are problems, and none changes anything."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from api.docs import document
from commerce.audit import AuditEntry
from commerce.db import utcnow
from commerce.extensions import db
from commerce.staff.permissions import SCOPES
from commerce.staff.tokens import revoke_token
from tests.api.conftest import Api


def _operations(app) -> list[tuple[str, str, str]]:
    with app.test_request_context():
        paths = document()["paths"]
    found = []
    for path, methods in paths.items():
        for method, operation in methods.items():
            (requirement,) = operation["security"]
            (scope,) = requirement["token"]
            found.append((method, re.sub(r"\{[^}]+\}", "1", path), scope))
    return found


def _call(client: Api, method: str, url: str):
    headers = client.headers({"Idempotency-Key": "walk", "If-Match": "*"})
    return client.client.open(url, method=method.upper(), json={}, headers=headers)


def _problem(response, status: int, what: str) -> None:
    assert response.status_code == status, f"{what}: {response.status_code}"
    assert response.mimetype == "application/problem+json", what
    assert response.headers["WWW-Authenticate"].startswith("Bearer"), what


def test_the_walk_covers_every_scope(app):
    used = {scope for _m, _u, scope in _operations(app)}
    assert used == set(SCOPES), "a scope no operation needs, or an operation with no scope"


def test_every_operation_refuses_no_token_and_other_scopes(app, api_as):
    operations = _operations(app)
    assert len(operations) >= 40
    anonymous = Api(app.test_client(), None)
    others = {scope: api_as(*(set(SCOPES) - {scope})) for scope in SCOPES}
    for method, url, scope in operations:
        what = f"{method.upper()} {url}"
        _problem(_call(anonymous, method, url), 401, what)
        refused = _call(others[scope], method, url)
        _problem(refused, 403, what)
        assert scope in refused.get_json(force=True)["detail"], what
    assert (
        db.session.scalar(
            select(func.count(AuditEntry.id)).where(AuditEntry.actor_token_id.is_not(None))
        )
        == 0
    )


@pytest.mark.parametrize("how", ["revoked", "expired"])
def test_every_operation_refuses_a_dead_token(app, api_as, make_staff, how):
    operations = _operations(app)
    holders = {scope: api_as(scope, expires_in=timedelta(hours=1)) for scope in SCOPES}
    admin = make_staff("admin")
    for client in holders.values():
        if how == "revoked":
            revoke_token(client.token, by=admin)
        else:
            client.token.expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    for method, url, scope in operations:
        response = _call(holders[scope], method, url)
        _problem(response, 401, f"{how} {method.upper()} {url}")
        assert how[:6] in response.get_json(force=True)["detail"]

"""Console → Staff → API tokens: admins create (the secret shown once, kept hashed), list and
revoke tokens; both are audited."""

from __future__ import annotations

import re

from sqlalchemy import select

from commerce.audit import AuditEntry
from commerce.extensions import db
from commerce.staff.models import ApiToken
from commerce.staff.tokens import hash_secret

PAGE = "/console/staff/api-tokens"


def _secret(html):
    return re.search(r'value="(cmk_[^"]+)"', html).group(1)


def test_create_shows_the_secret_once_and_keeps_its_hash(client, login):
    admin = login("admin")
    created = client.post(
        PAGE,
        data={"name": "ERP sync", "scopes": ["products:read", "inventory:write"]},
    )
    assert created.status_code == 200
    secret = _secret(created.get_data(as_text=True))
    assert secret.startswith("cmk_") and len(secret) > 40
    token = db.session.scalar(select(ApiToken).where(ApiToken.name == "ERP sync"))
    assert token.secret_hash == hash_secret(secret) and secret not in token.secret_hash
    assert token.scopes == ["inventory:write", "products:read"]
    listing = client.get(PAGE).get_data(as_text=True)
    assert token.prefix in listing and secret not in listing
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "api_token.create"))
    assert entry.actor_id == admin.id and entry.subject_id == str(token.id)
    # The token works at once.
    response = client.get("/api/v1/products", headers={"Authorization": f"Bearer {secret}"})
    assert response.status_code == 200


def test_validation(client, login):
    login("admin")
    response = client.post(PAGE, data={"name": "No scopes"})
    assert response.status_code == 422
    assert "Choose at least one scope." in response.get_data(as_text=True)
    past = client.post(
        PAGE, data={"name": "Old", "scopes": ["orders:read"], "expires_on": "2001-01-01"}
    )
    assert past.status_code == 422


def test_revoke(client, login):
    login("admin")
    created = client.post(PAGE, data={"name": "Temp", "scopes": ["orders:read"]})
    secret = _secret(created.get_data(as_text=True))
    token = db.session.scalar(select(ApiToken).where(ApiToken.name == "Temp"))
    revoked = client.post(f"{PAGE}/{token.id}/revoke")
    assert revoked.status_code == 303
    db.session.refresh(token)
    assert token.revoked_at is not None
    assert "Revoked" in client.get(PAGE).get_data(as_text=True)
    response = client.get("/api/v1/orders", headers={"Authorization": f"Bearer {secret}"})
    assert response.status_code == 401
    assert db.session.scalar(select(AuditEntry).where(AuditEntry.action == "api_token.revoke"))


def test_only_admins(client, login):
    login("merchandiser")
    assert client.get(PAGE).status_code == 403
    assert client.post(PAGE, data={"name": "x", "scopes": ["orders:read"]}).status_code == 403


def test_audit_log_filters_by_token(client, login, make_product):
    from commerce.staff.permissions import SCOPES
    from commerce.staff.tokens import create_token

    admin = login("admin")
    token, secret = create_token("PIM", scopes=list(SCOPES), by=admin)
    product = make_product()
    etag = client.get(
        f"/api/v1/products/{product.id}", headers={"Authorization": f"Bearer {secret}"}
    ).headers["ETag"]
    client.patch(
        f"/api/v1/products/{product.id}",
        json={"vendor": "Through the API"},
        headers={"Authorization": f"Bearer {secret}", "If-Match": etag},
    )
    page = client.get(f"/console/audit?token={token.id}").get_data(as_text=True)
    assert "product.update" in page and f"api token PIM ({token.prefix}" in page
    assert "api_token.create" not in page  # made by the admin, not by the token

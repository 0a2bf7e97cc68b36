"""Secrets the app reads back (authenticator secrets, webhook signing secrets) are encrypted at
rest: the database holds no usable secret, the app reads them as before, keys rotate, and the
migration seals rows written before it."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from flask_migrate import downgrade, upgrade
from sqlalchemy import text

from commerce.accounts.two_factor import start_enrolment
from commerce.extensions import db
from commerce.sealed import UnsealError, seal, unseal
from commerce.staff.services import create_staff
from commerce.webhooks.services import create_endpoint
from tests.conftest import base_config


def raw(sql: str) -> str:
    return str(db.session.execute(text(sql)).scalar())


def test_the_database_holds_sealed_secrets_and_the_app_reads_them(app):
    member = create_staff("sealed@example.com", role="admin", name="Sue Sealed", password=None)
    factor = start_enrolment(member)
    plain = factor.secret
    endpoint = create_endpoint(
        url="https://hooks.example.com/in", topics=["order.created"], by=None
    )
    signing = endpoint.secret
    db.session.expire_all()

    stored = raw(f"SELECT secret FROM staff_second_factor WHERE staff_id = {member.id}")
    assert stored.startswith("gAAAAA") and plain not in stored
    assert db.session.get(type(factor), member.id).secret == plain
    stored = raw(f"SELECT secret FROM webhook_endpoint WHERE id = {endpoint.id}")
    assert stored.startswith("gAAAAA") and signing not in stored
    assert db.session.get(type(endpoint), endpoint.id).secret.startswith("whsec_")


def test_keys_rotate_and_a_dropped_key_is_said_plainly():
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    sealed_by_old = seal("JBSWY3DPEHPK3PXP", config={"DATA_KEYS": old})
    rotated = {"DATA_KEYS": f"{new}, {old}"}
    assert unseal(sealed_by_old, config=rotated) == "JBSWY3DPEHPK3PXP"
    assert unseal(seal("x", config=rotated), config={"DATA_KEYS": new}) == "x"
    with pytest.raises(UnsealError, match="DATA_KEYS"):
        unseal(sealed_by_old, config={"DATA_KEYS": new})
    # Without DATA_KEYS the key comes from SECRET_KEY; a plain (legacy) value reads as it is.
    derived = {"SECRET_KEY": "a" * 40}
    assert unseal(seal("y", config=derived), config=derived) == "y"
    assert unseal("JBSWY3DPEHPK3PXP", config=derived) == "JBSWY3DPEHPK3PXP"


def test_the_migration_seals_rows_written_before_it(tmp_path):
    from wsgi import create_app

    app = create_app(base_config(tmp_path, SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path}/s.db"))
    with app.app_context():
        upgrade(revision="0020_webhooks")
        db.session.execute(
            text(
                "INSERT INTO webhook_endpoint (id, url, description, topics, enabled, secret,"
                " consecutive_failures, disabled_reason, created_at) VALUES (1,"
                " 'https://h.example.com', '', '[]', 1, 'whsec_cGxhaW4=', 0, '', '2026-01-01')"
            )
        )
        db.session.commit()
        upgrade(revision="0021_sealed_secrets")
        assert raw("SELECT secret FROM webhook_endpoint").startswith("gAAAAA")
        db.session.remove()
        downgrade(revision="0020_webhooks")
        assert raw("SELECT secret FROM webhook_endpoint") == "whsec_cGxhaW4="
        db.session.remove()
        db.engine.dispose()

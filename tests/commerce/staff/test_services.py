from __future__ import annotations

import pytest

from commerce.errors import PermissionDenied, ValidationError
from commerce.staff.permissions import ROLE_PERMISSIONS, role_allows
from commerce.staff.services import (
    accept_invitation,
    authenticate,
    change_role,
    create_staff,
    deactivate_staff,
    invitation_token,
    load_session_user,
)
from tests.conftest import TEST_PASSWORD


def test_create_and_authenticate():
    member = create_staff(
        " Ada@Example.COM ", role="merchandiser", password="long enough pw", by=None
    )
    assert member.email == "ada@example.com"
    assert member.password_hash != "long enough pw"
    assert authenticate("ADA@example.com", "long enough pw") is member
    assert authenticate("ada@example.com", "wrong password") is None
    assert authenticate("nobody@example.com", "long enough pw") is None


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"email": "not-an-email", "role": "admin"}, "email"),
        ({"email": "a@b.co", "role": "owner"}, "role"),
        ({"email": "a@b.co", "role": "admin", "password": "short"}, "password"),
    ],
)
def test_create_refuses_bad_input(kwargs, field):
    email = kwargs.pop("email")
    with pytest.raises(ValidationError) as caught:
        create_staff(email, by=None, **kwargs)
    assert field in caught.value.errors


def test_session_version_signs_out_old_sessions(make_staff):
    admin = make_staff("admin")
    member = make_staff("support")
    session_id = member.get_id()
    assert load_session_user(session_id) is member
    change_role(member, role="warehouse", by=admin)
    assert load_session_user(session_id) is None
    assert load_session_user(member.get_id()) is member
    deactivate_staff(member, by=admin)
    assert load_session_user(member.get_id()) is None
    assert authenticate(member.email, TEST_PASSWORD) is None
    assert load_session_user("garbage") is None


def test_admin_cannot_deactivate_self(make_staff):
    admin = make_staff("admin")
    with pytest.raises(PermissionDenied):
        deactivate_staff(admin, by=admin)


def test_invitation_works_once(app):
    member = create_staff("new@example.com", role="warehouse", by=None)
    assert member.password_hash is None
    token = invitation_token(member, secret_key=app.config["SECRET_KEY"])
    with pytest.raises(ValidationError):
        accept_invitation(
            token + "x", password="a good password", secret_key=app.config["SECRET_KEY"], max_age=60
        )
    accept_invitation(
        token, password="a good password", secret_key=app.config["SECRET_KEY"], max_age=60
    )
    assert authenticate("new@example.com", "a good password") is member
    with pytest.raises(ValidationError):
        accept_invitation(
            token, password="another password", secret_key=app.config["SECRET_KEY"], max_age=60
        )


def test_roles():
    assert role_allows("admin", "staff.manage")
    assert not role_allows("merchandiser", "staff.manage")
    assert role_allows("warehouse", "catalog.view") and not role_allows("warehouse", "catalog.edit")
    assert set(ROLE_PERMISSIONS) == {"admin", "merchandiser", "warehouse", "support"}
    with pytest.raises(KeyError):
        role_allows("admin", "launch.rockets")

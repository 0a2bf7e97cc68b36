"""Admins manage staff in the console; every change lands in the audit log."""

from __future__ import annotations

import re

from sqlalchemy import select

from commerce.audit import AuditEntry
from commerce.extensions import db
from commerce.staff.models import StaffMember
from commerce.staff.services import find_staff_by_email
from tests.conftest import sign_in


def test_invite_then_accept(client, app, login):
    admin = login("admin")
    response = client.post(
        "/console/staff/new",
        data={"email": "New.Person@Example.com", "name": "New", "role": "warehouse"},
    )
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    link = re.search(r'value="(http[^"]+/console/invitation/[^"]+)"', html).group(1)
    member = find_staff_by_email("new.person@example.com")
    assert member.role == "warehouse" and member.password_hash is None and member.invited_at
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "staff.create"))
    assert entry.actor_id == admin.id and entry.after["role"] == "warehouse"

    invitee = app.test_client()
    path = link.split("localhost", 1)[1]
    assert invitee.get(path).status_code == 200
    short = invitee.post(path, data={"password": "short", "confirm": "short"})
    assert short.status_code == 422 and "at least 12" in short.get_data(as_text=True)
    done = invitee.post(path, data={"password": "a-long-password", "confirm": "a-long-password"})
    assert done.status_code == 303
    assert sign_in(invitee, member, password="a-long-password").status_code == 303
    again = app.test_client().post(
        path, data={"password": "another-password", "confirm": "another-password"}
    )
    assert again.status_code == 422 and "no longer valid" in again.get_data(as_text=True)


def test_duplicate_and_invalid_email(client, login):
    admin = login("admin")
    response = client.post(
        "/console/staff/new", data={"email": admin.email.upper(), "role": "support"}
    )
    assert response.status_code == 422 and "already exists" in response.get_data(as_text=True)
    response = client.post("/console/staff/new", data={"email": "not-an-email", "role": "support"})
    assert response.status_code == 422 and "Invalid email address" in response.get_data(
        as_text=True
    )


def test_change_role_and_deactivate(client, app, login, make_staff):
    login("admin")
    member = make_staff("merchandiser")
    other = app.test_client()
    sign_in(other, member)
    assert other.get("/console/products").status_code == 200

    response = client.post(f"/console/staff/{member.id}/role", data={"role": "support"})
    assert response.status_code == 303 and member.role == "support"
    response = client.post(f"/console/staff/{member.id}/deactivate")
    assert response.status_code == 303 and member.is_active is False
    assert other.get("/console/products").status_code == 302  # signed out at the next request
    assert sign_in(other, member).status_code == 422
    actions = set(
        db.session.scalars(select(AuditEntry.action).where(AuditEntry.subject_id == str(member.id)))
    )
    assert {"staff.change_role", "staff.deactivate"} <= actions
    client.post(f"/console/staff/{member.id}/reactivate")
    assert member.is_active


def test_last_admin_and_self_are_protected(client, login):
    admin = login("admin")
    response = client.post(f"/console/staff/{admin.id}/deactivate")
    assert response.status_code == 303
    assert db.session.get(StaffMember, admin.id).is_active
    response = client.post(f"/console/staff/{admin.id}/role", data={"role": "support"})
    assert response.status_code == 422 and "at least one active admin" in response.get_data(
        as_text=True
    )


def test_staff_list_filters(client, login, make_staff):
    login("admin")
    make_staff("support", email="gone@example.com", active=False)
    assert "gone@example.com" not in client.get("/console/staff").get_data(as_text=True)
    assert "gone@example.com" in client.get("/console/staff?show=inactive").get_data(as_text=True)

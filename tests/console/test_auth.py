"""Signing in and out: generic failures, remember-me, rate limits, deactivation."""

from __future__ import annotations

import pytest

from commerce.staff.services import change_role, deactivate_staff
from tests.conftest import TEST_PASSWORD, base_config, sign_in


def test_sign_in_and_out(client, make_staff):
    member = make_staff("merchandiser")
    assert client.get("/console/").status_code == 302
    response = sign_in(client, member)
    assert response.status_code == 303 and response.headers["Location"] == "/console/"
    assert client.get("/console/").status_code == 200
    assert client.post("/console/logout").status_code == 303
    assert client.get("/console/").status_code == 302


@pytest.mark.parametrize("which", ["email", "password", "inactive"])
def test_failure_does_not_say_which_part_was_wrong(client, make_staff, which):
    member = make_staff("support", active=which != "inactive")
    email = "nobody@example.com" if which == "email" else member.email
    password = "wrong password!" if which == "password" else TEST_PASSWORD
    response = client.post("/console/login", data={"email": email, "password": password})
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert "That email and password do not match an active account." in body
    assert "unknown" not in body.lower() and "deactivated" not in body.lower()


def test_next_parameter_is_kept_but_never_offsite(client, make_staff):
    member = make_staff()
    response = client.post(
        "/console/login",
        data={"email": member.email, "password": TEST_PASSWORD, "next": "/console/products"},
    )
    assert response.headers["Location"] == "/console/products"
    client.post("/console/logout")
    response = client.post(
        "/console/login",
        data={"email": member.email, "password": TEST_PASSWORD, "next": "//evil.example/x"},
    )
    assert response.headers["Location"] == "/console/"


def test_remember_me_sets_a_long_lived_cookie(client, make_staff):
    member = make_staff()
    sign_in(client, member, remember="y")
    cookie = client.get_cookie("console_remember", path="/console")
    assert cookie is not None and cookie.http_only
    assert cookie.max_age == 14 * 86400


def test_deactivated_account_is_signed_out_at_next_request(client, make_staff):
    admin = make_staff("admin")
    member = make_staff("merchandiser")
    sign_in(client, member, remember="y")
    assert client.get("/console/products").status_code == 200
    deactivate_staff(member, by=admin)
    response = client.get("/console/products")
    assert response.status_code == 302 and "/console/login" in response.headers["Location"]


def test_role_change_takes_effect_at_next_request(client, make_staff):
    admin = make_staff("admin")
    member = make_staff("merchandiser")
    sign_in(client, member)
    assert client.get("/console/products/new").status_code == 200
    change_role(member, role="support", by=admin)
    # The old session version is void: sign in again, now as support.
    assert client.get("/console/products/new").status_code == 302
    sign_in(client, member)
    assert client.get("/console/products/new").status_code == 403


def test_htmx_request_without_session_gets_a_redirect_header(client):
    response = client.get("/console/products", headers={"HX-Request": "true"})
    assert response.status_code == 401
    assert response.headers["HX-Redirect"].startswith("/console/login")


def test_sign_in_is_rate_limited(tmp_path):
    from commerce.extensions import db
    from wsgi import create_app

    app = create_app(
        base_config(tmp_path, RATELIMIT_ENABLED=True, SIGN_IN_RATE_LIMIT="3 per minute")
    )
    with app.app_context():
        db.create_all()
        client = app.test_client()
        codes = [
            client.post(
                "/console/login", data={"email": "a@b.co", "password": "x" * 12}
            ).status_code
            for _ in range(5)
        ]
        assert codes[:3] == [422, 422, 422]
        assert codes[3:] == [429, 429]
        assert "Too many attempts" in client.post("/console/login", data={}).get_data(as_text=True)
        # Viewing the form is not limited.
        assert client.get("/console/login").status_code == 200
        db.session.remove()
        db.drop_all()

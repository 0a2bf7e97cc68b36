"""Password reset by email and change of password, for staff and shoppers (ASVS 5.0 V6.4):
the same answer for any email, a link read from the outbox's email that works once and
expires, and other sessions signed out."""

from __future__ import annotations

import re
from email import message_from_bytes, policy

import pytest
from sqlalchemy import select

from commerce.audit import AuditEntry
from commerce.extensions import db
from tests.conftest import TEST_PASSWORD, sign_in

NEW = "violet lantern harbour"
FACES = {
    "staff": ("/console/password/forgot", "/console/login", "/console/"),
    "customer": ("/account/password/forgot", "/account/login", "/account"),
}


def _link(mail_dir) -> str:
    (sent,) = mail_dir.glob("*.eml")
    message = message_from_bytes(sent.read_bytes(), policy=policy.default)
    text = message.get_body(preferencelist=("plain",)).get_content()
    return re.search(r"https://shop\.example(/\S+/password/reset/\S+)", text).group(1)


def _same(html, email):
    """The page without the email typed and the CSRF token (different in every browser)."""
    return re.sub(r"[\w-]{20,}\.[\w-]+\.[\w-]+", "TOKEN", html.replace(email, ""))


def _sign_in(client, kind, email, password):
    path = FACES[kind][1]
    return client.post(path, data={"email": email, "password": password})


@pytest.mark.parametrize("kind", ["staff", "customer"])
def test_reset_end_to_end(app, kind, make_staff, make_customer, mail_dir):
    account = make_staff("admin") if kind == "staff" else make_customer()
    forgot, _login, home = FACES[kind]
    other = app.test_client()
    assert _sign_in(other, kind, account.email, TEST_PASSWORD).status_code == 303

    browser = app.test_client()
    known = browser.post(forgot, data={"email": account.email.upper()})
    again = app.test_client().post(forgot, data={"email": account.email})  # no second email
    assert again.status_code == 200
    unknown = app.test_client().post(forgot, data={"email": "nobody@example.com"})
    assert known.status_code == unknown.status_code == 200
    assert _same(known.text, account.email.upper()) == _same(unknown.text, "nobody@example.com")
    path = _link(mail_dir)  # one email only: none for the unknown address

    assert browser.get(path).status_code == 200
    weak = browser.post(path, data={"password": "password1234", "confirm": "password1234"})
    assert weak.status_code == 422
    done = browser.post(path, data={"password": NEW, "confirm": NEW})
    assert done.status_code == 303
    # The owner hears of it (a reset they did not ask for is noticed).
    subjects = sorted(
        message_from_bytes(p.read_bytes(), policy=policy.default)["Subject"]
        for p in mail_dir.glob("*.eml")
    )
    assert subjects[1].startswith("Your password was reset")
    # The link worked once; the session signed in before the reset is over.
    assert browser.post(path, data={"password": NEW, "confirm": NEW}).status_code == 422
    assert other.get(home).status_code in (302, 303)
    assert _sign_in(app.test_client(), kind, account.email, TEST_PASSWORD).status_code == 422
    assert _sign_in(app.test_client(), kind, account.email, NEW).status_code == 303
    actions = set(db.session.scalars(select(AuditEntry.action)))
    assert {f"{kind}.password_reset_requested", f"{kind}.password_reset"} <= actions


def test_a_reset_link_expires(app, make_staff, mail_dir, monkeypatch):
    member = make_staff()
    app.test_client().post("/console/password/forgot", data={"email": member.email})
    path = _link(mail_dir)
    monkeypatch.setitem(app.config, "PASSWORD_RESET_MAX_AGE", -1)
    response = app.test_client().get(path)
    assert response.status_code == 422 and "expired" in response.text


def test_staff_change_password_signs_out_other_sessions(app, client, make_staff):
    member = make_staff()
    other = app.test_client()
    sign_in(other, member)
    sign_in(client, member)
    wrong = client.post(
        "/console/account/password",
        data={"current": "not it at all", "password": NEW, "confirm": NEW},
    )
    assert wrong.status_code == 422 and "not your current password" in wrong.text
    response = client.post(
        "/console/account/password",
        data={"current": TEST_PASSWORD, "password": NEW, "confirm": NEW},
    )
    assert response.status_code == 303
    assert client.get("/console/").status_code == 200  # this session goes on
    assert other.get("/console/").status_code == 302  # the other one is over
    assert sign_in(app.test_client(), member, password=NEW).status_code == 303


def test_shopper_change_password_signs_out_other_sessions(app, client, make_customer):
    customer = make_customer()
    other = app.test_client()
    for browser in (other, client):
        _sign_in(browser, "customer", customer.email, TEST_PASSWORD)
    response = client.post("/account/password", data={"current": TEST_PASSWORD, "password": NEW})
    assert response.status_code == 303
    assert client.get("/account").status_code == 200
    assert other.get("/account").status_code == 303

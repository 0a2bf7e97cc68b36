"""Two-factor sign-in for staff (ASVS 5.0 V6.5/V6.6): enrolment with a QR code, the code step
after the password, codes used once, recovery codes, roles that must use it, the admin's
reset, and the per-account backoff that a stranger cannot turn into a lockout."""

from __future__ import annotations

import re

import pyotp
import pytest
from sqlalchemy import select

from commerce.accounts import two_factor
from commerce.accounts.models import StaffSecondFactor
from commerce.audit import AuditEntry
from commerce.extensions import db
from tests.conftest import TEST_PASSWORD, sign_in

NOW = 1_900_000_000.0  # a fixed clock: step 63333333


@pytest.fixture(autouse=True)
def clock(monkeypatch):
    now = {"t": NOW}
    monkeypatch.setattr(two_factor, "_now", lambda: now["t"])
    return now


def _code(secret, clock, offset=0):
    return pyotp.TOTP(secret).at(clock["t"] + offset)


def _enrol(client, clock):
    page = client.get("/console/account/two-factor").text
    assert 'src="data:image/svg+xml' in page  # the QR code, drawn here
    secret = re.search(r'data-testid="totp-secret">([A-Z2-7]+)<', page).group(1)
    done = client.post(
        "/console/account/two-factor/confirm", data={"code": _code(secret, clock, -30)}
    )
    assert done.status_code == 200
    codes = re.findall(r"<code>([a-z0-9]{5}-[a-z0-9]{5})</code>", done.text)
    assert len(codes) == 10
    return secret, codes


def _signed_in(client):
    return client.get("/console/").status_code == 200


def test_enrol_then_sign_in_with_a_code(app, client, make_staff, clock):
    member = make_staff("merchandiser")
    sign_in(client, member)
    secret, _codes = _enrol(client, clock)
    assert db.session.get(StaffSecondFactor, member.id).confirmed_at is not None

    browser = app.test_client()
    first = sign_in(browser, member)
    assert first.status_code == 303 and first.headers["Location"] == "/console/login/code"
    assert not _signed_in(browser)  # the password alone does not sign in
    wrong = browser.post("/console/login/code", data={"code": "000000"})
    assert wrong.status_code == 422 and "does not match" in wrong.text
    good = browser.post("/console/login/code", data={"code": _code(secret, clock)})
    assert good.status_code == 303 and good.headers["Location"] == "/console/"
    assert _signed_in(browser)

    # The same code does not work twice (someone who saw it over a shoulder).
    other = app.test_client()
    sign_in(other, member)
    assert other.post("/console/login/code", data={"code": _code(secret, clock)}).status_code == 422
    actions = list(db.session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))
    assert "staff.two_factor_enabled" in actions and "staff.second_factor_failed" in actions


def test_a_recovery_code_works_once(app, client, make_staff, clock):
    member = make_staff()
    sign_in(client, member)
    _secret, codes = _enrol(client, clock)
    browser = app.test_client()
    sign_in(browser, member)
    assert browser.post("/console/login/code", data={"code": codes[0]}).status_code == 303
    again = app.test_client()
    sign_in(again, member)
    assert again.post("/console/login/code", data={"code": codes[0]}).status_code == 422


def test_a_role_that_needs_it_enrols_at_sign_in(app, client, make_staff, clock, monkeypatch):
    monkeypatch.setitem(app.config, "STAFF_TWO_FACTOR_ROLES", frozenset({"admin"}))
    admin = make_staff("admin")
    assert sign_in(client, admin).headers["Location"] == "/console/login/code"
    page = client.get("/console/login/code")
    assert page.status_code == 303 and page.headers["Location"] == "/console/login/enrol"
    enrol = client.get("/console/login/enrol").text
    assert not _signed_in(app.test_client())
    secret = re.search(r'data-testid="totp-secret">([A-Z2-7]+)<', enrol).group(1)
    done = client.post("/console/login/enrol", data={"code": _code(secret, clock)})
    assert done.status_code == 200 and "recovery codes" in done.text.lower()
    assert _signed_in(client)
    # Roles that do not need it sign in with the password alone.
    support = app.test_client()
    assert sign_in(support, make_staff("support")).headers["Location"] == "/console/"


def test_an_admin_resets_a_lost_second_factor(app, client, make_staff, clock):
    member = make_staff("support")
    theirs = app.test_client()
    sign_in(theirs, member)
    _enrol(theirs, clock)
    admin = make_staff("admin")
    sign_in(client, admin)
    assert client.post(f"/console/staff/{member.id}/two-factor/reset").status_code == 303
    assert db.session.get(StaffSecondFactor, member.id) is None
    assert not _signed_in(theirs)
    entry = db.session.scalars(
        select(AuditEntry).where(AuditEntry.action == "staff.two_factor_reset")
    ).one()
    assert entry.actor_id == admin.id
    assert sign_in(app.test_client(), member).headers["Location"] == "/console/"


def test_right_password_and_code_get_in_while_a_stranger_fails(app, client, make_staff, clock):
    member = make_staff("admin")
    sign_in(client, member)
    secret, _codes = _enrol(client, clock)
    for n in range(8):
        app.test_client().post(
            "/console/login",
            data={"email": member.email, "password": f"guess {n}"},
            environ_base={"REMOTE_ADDR": f"10.9.0.{n}"},
        )
    # While the account is held back, a wrong password is not told apart from a right one
    # (no oracle for the stranger's guesses); with a valid code it still fails.
    stranger = app.test_client()
    guess = sign_in(stranger, member, password="another guess")
    assert guess.status_code == 303 and guess.headers["Location"] == "/console/login/code"
    refused = stranger.post("/console/login/code", data={"code": _code(secret, clock, -30)})
    assert refused.status_code == 422 and "password or the code" in refused.text
    assert not _signed_in(stranger)

    owner = app.test_client()  # a new browser: no device cookie
    assert sign_in(owner, member).headers["Location"] == "/console/login/code"
    assert owner.post("/console/login/code", data={"code": _code(secret, clock)}).status_code == 303
    assert _signed_in(owner)


def test_wrong_codes_are_held_back(app, client, make_staff, clock):
    member = make_staff()
    sign_in(client, member)
    _enrol(client, clock)
    browser = app.test_client()
    sign_in(browser, member)
    statuses = [
        browser.post("/console/login/code", data={"code": f"{n:06d}"}).status_code for n in range(6)
    ]
    assert statuses == [422] * 5 + [429]


def test_the_code_step_expires(app, make_staff, clock, monkeypatch):
    member = make_staff()
    browser = app.test_client()
    monkeypatch.setitem(app.config, "STAFF_TWO_FACTOR_ROLES", frozenset({member.role}))
    sign_in(browser, member, password=TEST_PASSWORD)
    import console.auth

    monkeypatch.setattr(console.auth, "PENDING_SECONDS", -1)
    response = browser.get("/console/login/code")
    assert response.status_code == 303 and response.headers["Location"] == "/console/login"


def test_enrolment_at_sign_in_with_csrf_on(app, client, make_staff, clock, monkeypatch):
    """The page shown right after sign-in carries the new CSRF token, not the old one."""
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)
    monkeypatch.setitem(app.config, "STAFF_TWO_FACTOR_ROLES", frozenset({"admin"}))
    admin = make_staff("admin")

    def token(html):
        return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)

    before = token(client.get("/console/login").text)
    client.post(
        "/console/login",
        data={"email": admin.email, "password": TEST_PASSWORD, "csrf_token": before},
    )
    enrol = client.get("/console/login/enrol").text
    secret = re.search(r'data-testid="totp-secret">([A-Z2-7]+)<', enrol).group(1)
    codes_page = client.post(
        "/console/login/enrol", data={"code": _code(secret, clock), "csrf_token": token(enrol)}
    )
    assert codes_page.status_code == 200
    after = token(codes_page.text)  # the sign-out form on the recovery codes page
    assert client.post("/console/logout", data={"csrf_token": before}).status_code == 400
    assert client.post("/console/logout", data={"csrf_token": after}).status_code == 303

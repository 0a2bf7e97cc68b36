"""Sessions that a security review passes (ASVS 5.0 V7): each test replays an attack that
worked before sessions lived on the server. Staff and shoppers."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import select

from commerce.accounts.models import AuthSession
from commerce.audit import AuditEntry
from commerce.db import utcnow
from commerce.extensions import db
from tests.conftest import TEST_PASSWORD, sign_in

REMEMBER = "console_remember"


def _session_cookie(client):
    return client.get_cookie("session").value


def _remember(client):
    cookie = client.get_cookie(REMEMBER, path="/console")
    return cookie.value if cookie is not None else None


def _browser(app, session=None, remember=None):
    """Another browser holding copies of the given cookies."""
    other = app.test_client()
    if session:
        other.set_cookie("session", session)
    if remember:
        other.set_cookie(REMEMBER, remember, path="/console")
    return other


def _signed_in(client):
    return client.get("/console/").status_code == 200


def _rows(member):
    return list(
        db.session.scalars(
            select(AuthSession)
            .where(AuthSession.kind == "staff", AuthSession.user_id == member.id)
            .order_by(AuthSession.id)
        )
    )


# -- 2: sign-out ends the session on the server --------------------------------------------


def test_copied_staff_session_cookie_is_dead_after_sign_out(app, client, make_staff):
    member = make_staff("admin")
    sign_in(client, member)
    stolen = _session_cookie(client)
    assert _signed_in(_browser(app, session=stolen))
    client.post("/console/logout")
    assert not _signed_in(_browser(app, session=stolen))
    [row] = _rows(member)
    assert row.ended_at is not None and row.ended_reason == "signed_out"


def test_copied_shopper_session_cookie_is_dead_after_sign_out(app, client, make_customer):
    customer = make_customer()
    response = client.post(
        "/account/login", data={"email": customer.email, "password": TEST_PASSWORD}
    )
    assert response.status_code == 303
    stolen = _session_cookie(client)
    assert _browser(app, session=stolen).get("/account").status_code == 200
    client.post("/account/logout")
    assert _browser(app, session=stolen).get("/account").status_code == 303


# -- 1: "keep me signed in" -----------------------------------------------------------------


def test_remember_token_is_random_rotates_and_dies_at_sign_out(app, client, make_staff):
    member = make_staff("admin")
    sign_in(client, member, remember="y")
    first = _remember(client)
    sign_in(_browser(app), member, remember="y")
    other = app.test_client()
    sign_in(other, member, remember="y")
    assert _remember(other) != first  # a new random token at each sign-in

    # The browser was closed: the remember cookie signs in again, and is replaced.
    browser = _browser(app, remember=first)
    assert _signed_in(browser)
    second = _remember(browser)
    assert second and second != first
    assert not _signed_in(_browser(app, remember=first))  # the used one is void
    assert _signed_in(browser)

    # Sign-out revokes it: a copy taken before is worth nothing.
    browser.post("/console/logout")
    assert _remember(browser) is None
    assert not _signed_in(_browser(app, remember=second))


def test_remember_token_expires(app, client, make_staff):
    member = make_staff()
    sign_in(client, member, remember="y")
    token = _remember(client)
    [row] = _rows(member)
    row.remember_until = utcnow() - timedelta(seconds=1)
    db.session.commit()
    assert not _signed_in(_browser(app, remember=token))


def test_remember_token_only_its_hash_is_stored(client, make_staff):
    member = make_staff()
    sign_in(client, member, remember="y")
    [row] = _rows(member)
    assert _remember(client) not in (row.remember_hash, row.token_hash)
    assert len(row.remember_hash) == 64


# -- 3: idle and absolute timeouts ----------------------------------------------------------


def test_staff_session_ends_when_idle(client, make_staff):
    member = make_staff()
    sign_in(client, member)
    [row] = _rows(member)
    row.last_seen_at = utcnow() - timedelta(minutes=119)
    db.session.commit()
    assert _signed_in(client)  # still in time, and now seen again
    row.last_seen_at = utcnow() - timedelta(minutes=121)
    db.session.commit()
    response = client.get("/console/")
    assert response.status_code == 302 and "/console/login" in response.headers["Location"]


def test_staff_session_ends_at_its_absolute_limit(client, make_staff):
    member = make_staff()
    sign_in(client, member)
    [row] = _rows(member)
    assert row.expires_at - row.created_at == timedelta(hours=12)
    row.expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    assert not _signed_in(client)


def test_last_seen_is_written_at_most_once_a_minute(client, make_staff, query_counter):
    member = make_staff()
    sign_in(client, member)
    with query_counter() as counted:
        client.get("/console/")
    assert not [s for s in counted if s.lstrip().upper().startswith("UPDATE AUTH_SESSION")]
    [row] = _rows(member)
    row.last_seen_at = utcnow() - timedelta(minutes=2)
    db.session.commit()
    client.get("/console/")
    assert utcnow() - _rows(member)[0].last_seen_at < timedelta(minutes=1)


# -- 4: the CSRF token and the session id change at sign-in ----------------------------------


def _token(html):
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)


def test_csrf_token_from_before_sign_in_is_refused_after(app, client, make_staff, monkeypatch):
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)
    member = make_staff("admin")
    before = _token(client.get("/console/login").text)
    response = client.post(
        "/console/login",
        data={"email": member.email, "password": TEST_PASSWORD, "csrf_token": before},
    )
    assert response.status_code == 303
    # A token an attacker read (or planted) before sign-in does not work after it.
    assert client.post("/console/logout", data={"csrf_token": before}).status_code == 400
    after = _token(client.get("/console/staff").text)
    assert after != before
    assert client.post("/console/logout", data={"csrf_token": after}).status_code == 303


def test_each_sign_in_gets_a_new_session_id(app, client, make_staff):
    member = make_staff()
    attacker = app.test_client()
    attacker.get("/console/login")
    planted = _session_cookie(attacker)  # given to the victim before they sign in
    victim = _browser(app, session=planted)
    sign_in(victim, member)
    assert _signed_in(victim)
    assert not _signed_in(_browser(app, session=planted))
    sign_in(client, member)
    assert len({row.token_hash for row in _rows(member)}) == 2


# -- 10: the audit log ---------------------------------------------------------------------


def test_sign_in_failure_and_sign_out_are_audited(client, make_staff):
    member = make_staff()
    client.post("/console/login", data={"email": member.email, "password": "wrong password!"})
    client.post("/console/login", data={"email": "nobody@example.com", "password": "x" * 12})
    sign_in(client, member)
    client.post("/console/logout")
    actions = [
        (e.action, e.subject_label)
        for e in db.session.scalars(select(AuditEntry).order_by(AuditEntry.id))
    ]
    assert actions[-4:] == [
        ("staff.sign_in_failed", member.email),
        ("staff.sign_in_failed", "nobody@example.com"),
        ("staff.sign_in", member.email),
        ("staff.sign_out", member.email),
    ]


# -- 9: sessions a person can see and end --------------------------------------------------

FIREFOX = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0"


def test_staff_see_their_sessions_and_end_one_or_all(app, client, make_staff):
    member = make_staff()
    laptop = app.test_client()
    laptop.post(
        "/console/login",
        data={"email": member.email, "password": TEST_PASSWORD},
        headers={"User-Agent": FIREFOX},
        environ_base={"REMOTE_ADDR": "203.0.113.7"},
    )
    phone = app.test_client()
    sign_in(phone, member)
    sign_in(client, member)
    page = client.get("/console/account/sessions").text
    assert "Firefox on Windows" in page and "203.0.113.7" in page and "this browser" in page
    laptop_row = next(r for r in _rows(member) if r.ip_address == "203.0.113.7")
    assert client.post(f"/console/account/sessions/{laptop_row.id}/end").status_code == 303
    assert not _signed_in(laptop) and _signed_in(phone) and _signed_in(client)
    assert client.post("/console/account/sessions/end-others").status_code == 303
    assert not _signed_in(phone) and _signed_in(client)


def test_nobody_ends_another_persons_session_by_its_id(app, client, make_staff):
    victim = make_staff()
    other = app.test_client()
    sign_in(other, victim)
    [row] = _rows(victim)
    sign_in(client, make_staff())
    assert client.post(f"/console/account/sessions/{row.id}/end").status_code == 404
    assert _signed_in(other)


def test_an_admin_ends_a_staff_members_sessions(app, client, make_staff):
    member = make_staff("support")
    theirs = app.test_client()
    sign_in(theirs, member, remember="y")
    remembered = _remember(theirs)
    admin = make_staff("admin")
    sign_in(client, admin)
    assert "Not signed in anywhere" not in client.get(f"/console/staff/{member.id}").text
    assert client.post(f"/console/staff/{member.id}/sessions/end").status_code == 303
    assert not _signed_in(theirs)
    assert not _signed_in(_browser(app, remember=remembered))
    entry = db.session.scalars(
        select(AuditEntry).where(AuditEntry.action == "staff.sessions_ended")
    ).one()
    assert entry.actor_id == admin.id and entry.subject_id == str(member.id)


def test_deactivation_ends_remembered_sessions_for_good(app, client, make_staff):
    from commerce.staff.services import deactivate_staff, reactivate_staff

    admin = make_staff("admin")
    member = make_staff()
    sign_in(client, member, remember="y")
    token = _remember(client)
    deactivate_staff(member, by=admin)
    reactivate_staff(member, by=admin)
    assert not _signed_in(_browser(app, remember=token))
    assert not _signed_in(client)
    sign_in(client, admin)
    assert "Not signed in anywhere" in client.get(f"/console/staff/{member.id}").text


def test_housekeeping_forgets_old_sessions_and_failure_counts(app, client, make_staff):
    from commerce.accounts.models import SignInThrottle
    from commerce.accounts.tasks import purge_sign_in_data

    member = make_staff()
    sign_in(client, member)
    app.test_client().post("/console/login", data={"email": "x@ex.com", "password": "wrong guess"})
    [row] = _rows(member)
    row.expires_at = utcnow() - timedelta(days=31)
    throttle = db.session.scalars(select(SignInThrottle)).one()
    throttle.updated_at = utcnow() - timedelta(days=2)
    db.session.commit()
    assert purge_sign_in_data() == 2
    assert _rows(member) == [] and db.session.scalars(select(SignInThrottle)).all() == []


def test_a_shoppers_pages_read_the_session_in_one_statement(app, client, make_customer):
    from tests.conftest import count_queries

    customer = make_customer()
    client.post("/account/login", data={"email": customer.email, "password": TEST_PASSWORD})
    row = db.session.scalars(select(AuthSession).where(AuthSession.kind == "customer")).one()
    row.last_seen_at = utcnow() - timedelta(hours=5)
    db.session.commit()
    with count_queries() as counted:
        assert client.get("/account").status_code == 200
    session_reads = [s for s in counted if "auth_session" in s.lower()]
    assert len(session_reads) == 1 and session_reads[0].lstrip().upper().startswith("SELECT")


def test_a_shopper_signs_out_every_other_browser(app, client, make_customer):
    customer = make_customer()
    other = app.test_client()
    for browser in (other, client):
        browser.post("/account/login", data={"email": customer.email, "password": TEST_PASSWORD})
    assert client.post("/account/sessions/end-others").status_code == 303
    assert client.get("/account").status_code == 200
    assert other.get("/account").status_code == 303


def test_shopper_csrf_token_from_before_sign_in_is_refused_after(
    app, client, make_customer, monkeypatch
):
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)
    customer = make_customer()
    before = _token(client.get("/account/login").text)
    response = client.post(
        "/account/login",
        data={"email": customer.email, "password": TEST_PASSWORD, "csrf_token": before},
    )
    assert response.status_code == 303
    assert client.post("/account/logout", data={"csrf_token": before}).status_code == 400
    after = _token(client.get("/account").text)
    assert after != before
    assert client.post("/account/logout", data={"csrf_token": after}).status_code == 303

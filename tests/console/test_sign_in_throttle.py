"""Per-account backoff of failed sign-ins (ASVS 5.0 V6.3): a guesser who spreads over many
addresses is slowed down per account, and a stranger cannot lock the owner out."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from commerce.accounts.models import SignInThrottle
from commerce.db import utcnow
from commerce.extensions import db
from tests.conftest import TEST_PASSWORD


def _attempt(app, email, password, ip, browser=None):
    browser = browser or app.test_client()
    return browser.post(
        "/console/login",
        data={"email": email, "password": password},
        environ_base={"REMOTE_ADDR": ip},
    )


def _row(email):
    return db.session.scalar(select(SignInThrottle).where(SignInThrottle.email == email))


def test_guesses_spread_over_addresses_are_held_back_per_account(app, make_staff):
    member = make_staff("admin")
    codes = [_attempt(app, member.email, f"guess-{n}", f"10.0.0.{n}").status_code for n in range(5)]
    assert codes == [422] * 5
    # From a sixth address, even the right password waits: the account is held back.
    refused = _attempt(app, member.email, TEST_PASSWORD, "10.0.0.99")
    assert refused.status_code == 429
    assert "Too many failed sign-ins for this account" in refused.text
    first_wait = _row(member.email).blocked_until - utcnow()
    assert timedelta(seconds=20) < first_wait <= timedelta(seconds=30)
    # Once the wait is over, another wrong guess doubles it.
    _row(member.email).blocked_until = utcnow() - timedelta(seconds=1)
    db.session.commit()
    assert _attempt(app, member.email, "guess-again", "10.0.1.1").status_code == 422
    assert _row(member.email).blocked_until - utcnow() > timedelta(seconds=50)
    # The right password after the wait gets in and clears the count.
    _row(member.email).blocked_until = utcnow() - timedelta(seconds=1)
    db.session.commit()
    assert _attempt(app, member.email, TEST_PASSWORD, "10.0.1.2").status_code == 303
    assert _row(member.email) is None


def test_a_stranger_cannot_lock_the_owner_out(app, make_staff):
    member = make_staff("admin")
    owner = app.test_client()
    assert _attempt(app, member.email, TEST_PASSWORD, "192.0.2.1", owner).status_code == 303
    owner.post("/console/logout")
    for n in range(8):  # a stranger (or a shared office address) fails again and again
        _attempt(app, member.email, f"guess-{n}", "192.0.2.1")
    assert _attempt(app, member.email, TEST_PASSWORD, "192.0.2.1").status_code == 429
    # The owner's browser signed in before (its device cookie): it is not held back.
    assert _attempt(app, member.email, TEST_PASSWORD, "192.0.2.1", owner).status_code == 303


@pytest.mark.parametrize("known", [True, False])
def test_the_backoff_does_not_tell_whether_an_email_exists(app, make_staff, known):
    email = make_staff().email if known else "nobody@example.com"
    for n in range(5):
        _attempt(app, email, f"guess-{n}", f"10.1.0.{n}")
    refused = _attempt(app, email, "guess", "10.1.0.99")
    assert refused.status_code == 429
    assert "Too many failed sign-ins for this account" in refused.text


def test_shoppers_are_held_back_too(app, make_customer):
    customer = make_customer()
    for n in range(5):
        app.test_client().post(
            "/account/login",
            data={"email": customer.email, "password": f"guess-{n}"},
            environ_base={"REMOTE_ADDR": f"10.2.0.{n}"},
        )
    refused = app.test_client().post(
        "/account/login", data={"email": customer.email, "password": TEST_PASSWORD}
    )
    assert refused.status_code == 429

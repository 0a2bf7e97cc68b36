"""Two-factor sign-in in a real browser: set it up from the account page (the QR code is drawn
by the app and allowed by the Content-Security-Policy), keep the recovery codes, sign out,
and sign in again with a code."""

from __future__ import annotations

import os
import time
from itertools import count

import pyotp
import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import PASSWORD, LiveServer, snap

pytestmark = pytest.mark.browser

_n = count(1)


def test_enrol_and_sign_in_with_a_code(anon_page: Page, live_server: LiveServer):
    from commerce.staff.services import create_staff

    email = f"totp{os.getpid()}{next(_n)}@browser.example.com"
    with live_server.app_context():
        create_staff(email, role="support", name="Tia Totp", password=PASSWORD)
    page = anon_page

    page.goto("/console/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/console/")

    page.get_by_role("link", name="Your account").click()
    page.get_by_role("link", name="Two-factor sign-in").click()
    qr = page.get_by_role("img", name="QR code for your authenticator app")
    expect(qr).to_be_visible()
    assert qr.evaluate("img => img.complete && img.naturalWidth > 0")
    snap(page, "two-factor-setup")
    secret = page.get_by_test_id("totp-secret").inner_text().strip()
    totp = pyotp.TOTP(secret)
    page.get_by_label("Code from your authenticator app").fill(totp.now())
    page.get_by_role("button", name="Turn on").click()
    expect(page.get_by_test_id("recovery-codes").locator("li")).to_have_count(10)
    snap(page, "two-factor-recovery-codes")
    page.get_by_role("link", name="I have saved them: continue").click()
    expect(page.get_by_text("Recovery codes left: 10")).to_be_visible()

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/console/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/console/login/code")
    snap(page, "two-factor-code-step")
    # The next time step's code (the one used to turn it on cannot be used again).
    page.get_by_label("Code from your authenticator app").fill(totp.at(time.time() + 30))
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/console/")
    expect(page.get_by_role("heading", name="Good to see you, Tia Totp")).to_be_visible()

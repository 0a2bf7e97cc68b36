"""The password policy (ASVS 5.0 V6.2): long enough, no composition rules, not a common or
guessable password, never the email."""

from __future__ import annotations

import pytest

from commerce.passwords import password_problem


@pytest.mark.parametrize(
    "password",
    [
        "correct horse battery",  # lower case words only: no composition rules
        "demo-admin-2026",
        "ünïcode wörds ok",
        "x7#kQ9!mZp2@",
    ],
)
def test_good_passwords_pass(password):
    assert password_problem(password, email="ada@example.com") is None


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("elevenchars", "at least 12"),
        ("qwertyuiop123", "common"),
        ("passwordpassword", "Repeats"),
        ("123456789012", "less common"),
        ("x" * 129, "at most 128"),
    ],
)
def test_short_common_and_guessable_passwords_are_refused(password, message):
    assert message.lower() in (password_problem(password) or "").lower()


def test_the_email_is_never_the_password():
    assert "email" in password_problem("ada.lovelace@example.com", email="Ada.Lovelace@example.com")
    assert password_problem("ada.lovelace2026", email="ada.lovelace@example.com") is not None


def test_registration_refuses_a_common_password(client):
    response = client.post(
        "/account/register", data={"email": "new@example.com", "password": "qwertyuiop123"}
    )
    assert response.status_code == 422
    assert "very common password" in response.text

"""commerce.mail: one .eml per key in embedded mode, and an SMTP client that guards secrets."""

from __future__ import annotations

from email import policy
from email.parser import BytesParser

import pytest

from commerce import mail


@pytest.fixture
def mail_dir(app, tmp_path, monkeypatch):
    monkeypatch.setitem(app.config, "MAIL_DIR", str(tmp_path / "mail"))
    monkeypatch.setitem(app.config, "MAIL_SMTP_URL", None)
    return tmp_path / "mail"


def message(key: str = "welcome-7", to: str = "ada@example.com"):
    return mail.build_message(
        key=key, to=to, subject="Hello — welcome", text="Plain body", html="<p>HTML body</p>"
    )


def test_the_same_key_keeps_one_file_and_one_message_id(app, mail_dir):
    first = mail.send_email(message(), key="welcome-7")
    again = mail.send_email(message(), key="welcome-7")
    other = mail.send_email(message("x-welcome-7"), key="x-welcome-7")
    assert first == again and first != other
    assert sorted(p.name for p in mail_dir.iterdir()) == sorted([first.name, other.name])
    parsed = BytesParser(policy=policy.default).parsebytes(first.read_bytes())
    assert parsed["Message-ID"] == "<welcome-7@northwind.example>" == message()["Message-ID"]
    assert parsed["Subject"] == "Hello — welcome"
    assert parsed.get_body(("html",)).get_content().strip() == "<p>HTML body</p>"


def test_keys_are_made_safe_for_file_names(app, mail_dir):
    path = mail.send_email(message("../../etc/passwd"), key="../../etc/passwd")
    assert path.parent == mail_dir and path.name.endswith("-etc-passwd.eml")
    with pytest.raises(ValueError):
        mail.safe_key("../")


def test_credentials_are_never_sent_without_tls(app, mail_dir, smtp_server, monkeypatch):
    sink, port = smtp_server("plain")
    monkeypatch.setitem(app.config, "MAIL_SMTP_URL", f"smtp://shop:secret@127.0.0.1:{port}")
    with pytest.raises(mail.MailConfigError, match="STARTTLS"):
        mail.send_email(message(), key="welcome-7")
    assert sink.received == [] and sink.logins == []


def test_an_unknown_scheme_is_a_configuration_error(app, mail_dir, monkeypatch):
    monkeypatch.setitem(app.config, "MAIL_SMTP_URL", "http://mail.example:25")
    with pytest.raises(mail.MailConfigError):
        mail.send_email(message(), key="welcome-7")

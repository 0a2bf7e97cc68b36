"""Outgoing email: stdlib messages, written to MAIL_DIR in embedded mode or sent over SMTP.

Every message carries a caller-chosen `key` (one per thing that is emailed, such as one
order's confirmation). The key names the .eml file and derives the Message-ID, so an outbox
event delivered twice leaves one file, and a message that did go out twice over SMTP is
recognisably the same message to the recipient's mail client.
"""

from __future__ import annotations

import os
import re
import smtplib
import ssl
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import formatdate, parseaddr
from pathlib import Path
from urllib.parse import unquote, urlsplit

from flask import current_app

SMTP_TIMEOUT = 30  # seconds; a hung server must not hold a worker forever
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_STAMP = "%Y%m%dT%H%M%SZ"
_STAMP_GLOB = "????????T??????Z"  # the same shape, to find an earlier file for a key


class MailConfigError(RuntimeError):
    """MAIL_SMTP_URL cannot be used as written (a deployment mistake, not a transient one)."""


class RecipientRefused(Exception):
    """The SMTP server refused every recipient: sending again will not help."""


def safe_key(key: str) -> str:
    """The key as it appears in file names and Message-IDs (letters, digits, `.`, `_`, `-`)."""
    cleaned = _UNSAFE.sub("-", key).strip("-.")
    if not cleaned:
        raise ValueError("a mail key needs at least one letter or digit")
    return cleaned


def shop_base(reached_at: str | None = None) -> str:
    """The shop's address for links in emails: SHOP_URL when set, else the address the shopper
    or staff reached the shop at (kept with the email's event), else this process's own port
    (SHOP_URL_DEFAULT)."""
    config = current_app.config
    return (config.get("SHOP_URL") or reached_at or config["SHOP_URL_DEFAULT"]).rstrip("/")


def message_id(key: str) -> str:
    """A Message-ID that is the same every time the same key is sent."""
    domain = parseaddr(current_app.config["MAIL_FROM"])[1].rpartition("@")[2]
    domain = domain or urlsplit(shop_base()).hostname
    return f"<{safe_key(key)}@{domain or 'localhost'}>"


def build_message(*, key: str, to: str, subject: str, text: str, html: str) -> EmailMessage:
    """A multipart/alternative message (plain text first, HTML preferred by clients)."""
    message = EmailMessage()
    message["From"] = current_app.config["MAIL_FROM"]
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = message_id(key)
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    return message


def send_email(message: EmailMessage, *, key: str) -> Path | None:
    """Deliver `message`: the .eml path in embedded mode (no MAIL_SMTP_URL), None over SMTP.

    Raises RecipientRefused when the server rejects every recipient, MailConfigError for an
    unusable MAIL_SMTP_URL, and OSError (smtplib's errors included) for anything worth
    retrying.
    """
    url = current_app.config.get("MAIL_SMTP_URL")
    if not url:
        return _write_eml(message, key=key)
    _send_smtp(message, url)
    return None


def _write_eml(message: EmailMessage, *, key: str) -> Path:
    """One file per key: a key already written keeps its first file (a redelivery)."""
    folder = Path(current_app.config["MAIL_DIR"])
    folder.mkdir(parents=True, exist_ok=True)
    name = safe_key(key)
    earlier = sorted(folder.glob(f"{_STAMP_GLOB}-{name}.eml"))
    if earlier:
        return earlier[0]
    path = folder / f"{datetime.now(UTC).strftime(_STAMP)}-{name}.eml"
    partial = folder / f".{path.name}.partial"
    partial.write_bytes(message.as_bytes())
    os.replace(partial, path)  # a mail viewer never sees half a message
    return path


def _send_smtp(message: EmailMessage, url: str) -> None:
    """smtp:// upgrades with STARTTLS whenever the server offers it; smtps:// is implicit TLS.
    Credentials are never sent over a connection that is not encrypted."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("smtp", "smtps") or not parts.hostname:
        raise MailConfigError("MAIL_SMTP_URL must look like smtp://user:pass@host:587")
    port = parts.port or (465 if scheme == "smtps" else 587)
    context = ssl.create_default_context()
    client: smtplib.SMTP
    if scheme == "smtps":
        client = smtplib.SMTP_SSL(parts.hostname, port, timeout=SMTP_TIMEOUT, context=context)
    else:
        client = smtplib.SMTP(parts.hostname, port, timeout=SMTP_TIMEOUT)
    with client:
        client.ehlo()
        encrypted = scheme == "smtps"
        if not encrypted and client.has_extn("starttls"):
            client.starttls(context=context)
            client.ehlo()
            encrypted = True
        if parts.username:
            if not encrypted:
                raise MailConfigError(
                    "The SMTP server does not offer STARTTLS; refusing to send the password "
                    "in clear text (use smtps:// or a server with TLS)."
                )
            client.login(unquote(parts.username), unquote(parts.password or ""))
        try:
            client.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            # 4xx (greylisting, a full mailbox) may pass later: only all-5xx is final.
            if all(code >= 500 for code, _ in exc.recipients.values()):
                raise RecipientRefused(_describe(exc.recipients)) from exc
            raise


def _describe(recipients: dict[str, tuple[int, bytes]]) -> str:
    return "; ".join(
        f"{rcpt}: {code} {reply.decode(errors='replace')}"
        for rcpt, (code, reply) in recipients.items()
    )

"""A real SMTP server on loopback (aiosmtpd) for the mail tests: plain, STARTTLS with AUTH, or
implicit TLS, with a throwaway self-signed certificate that the test trusts via SSL_CERT_FILE."""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

SMTP_USER, SMTP_PASSWORD = "shop", "s3cret:with@symbols"


@dataclass
class Received:
    sender: str
    recipients: list[str]
    message: EmailMessage


@dataclass
class SmtpSink:
    """What the server accepted, and how: `logins` and `tls` record each session's state."""

    refuse: set[str] = field(default_factory=set)
    received: list[Received] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)
    tls: list[bool] = field(default_factory=list)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return "550 5.1.1 No such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        message = BytesParser(policy=policy.default).parsebytes(envelope.content)
        self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), message))
        self.tls.append(server.transport.get_extra_info("ssl_object") is not None)
        return "250 Message accepted"

    def authenticate(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        ok = isinstance(auth_data, LoginPassword) and (
            auth_data.login.decode(),
            auth_data.password.decode(),
        ) == (SMTP_USER, SMTP_PASSWORD)
        if ok:
            self.logins.append(auth_data.login.decode())
        return AuthResult(success=ok)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def tls_certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, made with Debian's openssl at test time."""
    openssl = shutil.which("openssl")
    assert openssl, "the SMTP TLS tests need the openssl command (Debian package openssl)"
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            *(openssl, "req", "-x509", "-nodes", "-days", "2"),
            *("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"),
            *("-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost"),
            *("-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@pytest.fixture
def smtp_server(
    tls_certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[..., tuple[SmtpSink, int]]]:
    """smtp_server(mode="plain" | "starttls" | "smtps") -> (sink, port); stopped after the test.

    In the TLS modes the client trusts the test certificate through SSL_CERT_FILE, which
    ssl.create_default_context() reads, so the code under test verifies it as in production.
    """
    controllers: list[Controller] = []

    def start(mode: str = "plain", **kw: Any) -> tuple[SmtpSink, int]:
        sink = SmtpSink(**kw)
        port = free_port()
        params: dict[str, Any] = {}
        if mode != "plain":
            cert, key = tls_certificate
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(cert, key)
            monkeypatch.setenv("SSL_CERT_FILE", str(cert))
            if mode == "smtps":
                params["ssl_context"] = context
                # aiosmtpd only counts STARTTLS as TLS; this whole connection is encrypted.
                params["auth_require_tls"] = False
            else:
                params["tls_context"] = context
            params["authenticator"] = sink.authenticate
        controller = Controller(sink, hostname="127.0.0.1", port=port, **params)
        controller.start()
        controllers.append(controller)
        return sink, port

    yield start
    for controller in controllers:
        controller.stop()

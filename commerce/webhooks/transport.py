"""POST to a receiver without reaching inside our network (SSRF).

The host is resolved once, every address it resolves to is checked, and the connection goes
to the checked address (the Host header and TLS name stay the receiver's), so a DNS answer
that changes between check and connect cannot slip through. No redirects; short timeouts.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import urllib3

CONNECT_TIMEOUT = 3.0
TOTAL_TIMEOUT = 10.0
EXCERPT = 1000  # characters of the receiver's answer kept for the delivery log


class Refused(Exception):
    """The URL may not be delivered to (a private address, a bad scheme): not worth a retry
    until someone changes the endpoint."""


@dataclass(frozen=True)
class Answer:
    status: int
    elapsed_ms: int
    excerpt: str


def forbidden(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_unspecified
        or ip.is_multicast
        or ip.is_reserved
    )


def resolve(url: str, *, allow_private: bool) -> tuple[str, str, int, str]:
    """(scheme, host, port, address to connect to) after checking every address of the host."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Refused("Only http and https URLs with a host can receive webhooks.")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise OSError(f"cannot resolve {parts.hostname}: {exc}") from exc
    addresses = [str(info[4][0]) for info in infos]
    if not allow_private:
        bad = [a for a in addresses if forbidden(a)]
        if bad:
            raise Refused(f"{parts.hostname} resolves to a private address ({bad[0]}).")
    return parts.scheme, parts.hostname, port, addresses[0]


def post(url: str, body: str, headers: dict[str, str], *, allow_private: bool) -> Answer:
    """POST `body`; raises Refused, or OSError/urllib3 errors on a network failure."""
    scheme, host, port, address = resolve(url, allow_private=allow_private)
    parts = urlsplit(url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    timeout = urllib3.Timeout(connect=CONNECT_TIMEOUT, total=TOTAL_TIMEOUT)
    pool: urllib3.HTTPConnectionPool
    if scheme == "https":
        pool = urllib3.HTTPSConnectionPool(
            address,
            port,
            timeout=timeout,
            retries=False,
            server_hostname=host,
            assert_hostname=host,
            cert_reqs="CERT_REQUIRED",
        )
    else:
        pool = urllib3.HTTPConnectionPool(address, port, timeout=timeout, retries=False)
    default_port = 443 if scheme == "https" else 80
    name = f"[{host}]" if ":" in host else host  # an IPv6 literal keeps its brackets
    host_header = name if port == default_port else f"{name}:{port}"
    started = time.monotonic()
    try:
        response = pool.urlopen(
            "POST",
            target,
            body=body.encode(),
            headers={**headers, "Host": host_header, "User-Agent": "commerce-webhooks/1"},
            redirect=False,
            retries=False,
            preload_content=False,
        )
        data = response.read(EXCERPT * 4, decode_content=True)
        response.release_conn()
    finally:
        pool.close()
    elapsed = int((time.monotonic() - started) * 1000)
    return Answer(response.status, elapsed, data.decode("utf-8", "replace")[:EXCERPT])

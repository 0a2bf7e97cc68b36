"""Secrets kept encrypted at rest: the columns the app must read back (a staff member's
authenticator secret, a webhook endpoint's signing secret), unlike passwords and API tokens,
which are only ever compared and so are kept as hashes.

A copy of the database (a backup, a replica, a dump handed to support) then holds no usable
secret. Values are sealed with Fernet (AES-128-CBC with HMAC-SHA256, from the maintained
`cryptography` package) under the keys of `DATA_KEYS` (space or comma separated Fernet keys, the
newest first: it seals, and every key listed still opens, so keys rotate without downtime). With
`DATA_KEYS` unset, one key is derived from SECRET_KEY (HKDF-SHA256), so the embedded mode needs
no setup; a host that sets DATA_KEYS can then change SECRET_KEY freely.

A value written before sealing existed (plain text, which is never a Fernet token) is read as
it is and sealed on its next write; the migration that introduced sealing sealed them all.
"""

from __future__ import annotations

import base64
from functools import lru_cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app
from sqlalchemy import Text
from sqlalchemy.types import TypeDecorator

TOKEN_PREFIX = "gAAAAA"  # every Fernet token (version byte 0x80, then a timestamp) starts so


class UnsealError(RuntimeError):
    """A sealed value none of the configured keys opens (a key was dropped from DATA_KEYS)."""


def derived_key(secret_key: str) -> bytes:
    """The Fernet key derived from SECRET_KEY, used when DATA_KEYS is not set."""
    raw = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"commerce: data at rest"
    ).derive(secret_key.encode())
    return base64.urlsafe_b64encode(raw)


@lru_cache(maxsize=8)
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(key.encode()) for key in keys])


def keys_from(config: Any) -> tuple[str, ...]:
    """The keys in use, newest first, from a Flask config mapping."""
    listed = str(config.get("DATA_KEYS") or "").replace(",", " ").split()
    if listed:
        return tuple(listed)
    return (derived_key(str(config["SECRET_KEY"])).decode(),)


def seal(value: str, *, config: Any = None) -> str:
    """`value` encrypted under the newest key."""
    keys = keys_from(config if config is not None else current_app.config)
    return _fernet(keys).encrypt(value.encode()).decode()


def unseal(value: str, *, config: Any = None) -> str:
    """The plain text of a sealed value (a legacy plain value is returned as it is)."""
    if not value.startswith(TOKEN_PREFIX):
        return value
    keys = keys_from(config if config is not None else current_app.config)
    try:
        return _fernet(keys).decrypt(value.encode()).decode()
    except InvalidToken:
        raise UnsealError(
            "A sealed secret cannot be opened with the keys in DATA_KEYS (or the key derived "
            "from SECRET_KEY): add back the key it was sealed with."
        ) from None


class Sealed(TypeDecorator[str]):
    """A text column whose values are sealed on the way in and opened on the way out."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Any) -> str | None:
        return None if value is None else seal(value)

    def process_result_value(self, value: str | None, dialect: Any) -> str | None:
        return None if value is None else unseal(value)

"""Tokens and a client that sends them."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask

from commerce.db import utcnow
from commerce.staff.permissions import SCOPES
from commerce.staff.tokens import create_token

_keys = itertools.count(1)


@pytest.fixture
def make_token(app: Flask, make_staff: Callable[..., Any]) -> Callable[..., tuple[Any, str]]:
    """make_token(scopes=[...], expires_in=timedelta|None) -> (ApiToken, secret)."""
    admin = make_staff("admin")

    def make(scopes: Any = None, *, name: str = "Integration", expires_in: timedelta | None = None):
        expires_at = utcnow() + expires_in if expires_in is not None else None
        return create_token(name, scopes=list(scopes or SCOPES), by=admin, expires_at=expires_at)

    return make


class Api:
    """Requests with a bearer token; POSTs get a fresh Idempotency-Key unless given one."""

    def __init__(self, client: Any, secret: str | None) -> None:
        self.client = client
        self.secret = secret

    def headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.secret}"} if self.secret else {}
        return {**headers, **(extra or {})}

    def get(self, url: str, **kw: Any) -> Any:
        return self.client.get(url, headers=self.headers(kw.pop("headers", None)), **kw)

    def post(self, url: str, json: Any = None, *, key: str | None = None, **kw: Any) -> Any:
        headers = {"Idempotency-Key": key or f"test-{next(_keys)}", **kw.pop("headers", {})}
        return self.client.post(url, json=json, headers=self.headers(headers), **kw)

    def patch(self, url: str, json: Any = None, **kw: Any) -> Any:
        return self.client.patch(url, json=json, headers=self.headers(kw.pop("headers", None)))


@pytest.fixture
def api(app: Flask, make_token: Callable[..., tuple[Any, str]]) -> Api:
    """A client with an all-scopes token (`api.token` is the ApiToken)."""
    token, secret = make_token()
    client = Api(app.test_client(), secret)
    client.token = token  # type: ignore[attr-defined]
    return client


@pytest.fixture
def api_as(app: Flask, make_token: Callable[..., tuple[Any, str]]) -> Callable[..., Api]:
    def make(*scopes: str, **kw: Any) -> Api:
        token, secret = make_token(scopes, **kw)
        client = Api(app.test_client(), secret)
        client.token = token  # type: ignore[attr-defined]
        return client

    return make

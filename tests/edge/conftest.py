"""The edge cache for real: Debian's varnishd running deploy/varnish/default.vcl, on free ports
with its own working directory (bench/_server.py EdgeCache). Under CI it must run (`make
varnish` installs it); elsewhere a machine without it skips these tests."""

from __future__ import annotations

import os

import pytest

from bench._server import varnish_available


@pytest.fixture(scope="session")
def varnish() -> None:
    missing = varnish_available()
    if missing is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"Varnish is required under CI: {missing}")
    pytest.skip(missing)

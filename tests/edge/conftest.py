"""The edge cache for real: Debian's varnishd running deploy/varnish/default.vcl, on free ports
with its own working directory (bench/_server.py EdgeCache), and wrk for the bench. Under CI
they must run (`make varnish` installs both); elsewhere a machine without them skips these
tests."""

from __future__ import annotations

import os
import shutil

import pytest

from bench._server import varnish_available


def _require(missing: str | None) -> None:
    if missing is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"required under CI: {missing}")
    pytest.skip(missing)


@pytest.fixture(scope="session")
def varnish() -> None:
    _require(varnish_available())


@pytest.fixture(scope="session")
def wrk() -> None:
    _require(None if shutil.which("wrk") else "wrk is not installed (make varnish)")

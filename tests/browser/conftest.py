"""A live app on a file SQLite database, one headless Chromium per session, a page per test.

The live server runs the real app (real commits, no rollback fixture) in a background thread;
tests seed data with the domain services inside `live_server.app_context()` and drive the UI
with Playwright's sync API. Chromium is Debian's (`shutil.which("chromium")`): a missing
browser skips these tests locally and fails them under CI. Never download a browser.
"""

from __future__ import annotations

import itertools
import os
import shutil
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from tests.conftest import base_config

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PASSWORD = "browser tests password"
MERCHANDISER = "merch@browser.example.com"
# expect() and locator actions wait at most this long; the app answers in milliseconds.
TIMEOUT_MS = 5_000

_unique = itertools.count(1)


def unique(prefix: str) -> str:
    """A name no other browser test uses (they share one database)."""
    return f"{prefix} {os.getpid()}-{next(_unique)}"


def snap(page: Any, name: str) -> None:
    """With BROWSER_SCREENSHOTS=<dir> set, save a full-page screenshot for a human to look at."""
    folder = os.environ.get("BROWSER_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True, caret="initial")


def chromium_path() -> str:
    path = shutil.which("chromium")
    if path:
        return path
    if os.environ.get("CI"):
        pytest.fail("Chromium is required under CI: install Debian's `chromium` package")
    pytest.skip("Chromium not available: install Debian's `chromium` package")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class LiveServer:
    app: Flask
    url: str
    staff: dict[str, int] = field(default_factory=dict)

    @contextmanager
    def app_context(self) -> Iterator[Flask]:
        """A fresh app context (and so a fresh session) for seeding and checking the database."""
        with self.app.app_context():
            yield self.app

    def claim_shared_extensions(self) -> None:
        """Celery and the limiter keep per-app settings on module-level objects: make sure they
        are this app's (another test may have built an app with a broker or rate limits)."""
        from commerce.extensions import celery, init_celery, limiter

        limiter.enabled = self.app.config["RATELIMIT_ENABLED"]
        if getattr(celery, "flask_app", None) is not self.app:
            init_celery(self.app)


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    from flask_migrate import upgrade
    from werkzeug.serving import make_server

    from commerce.staff.services import create_staff
    from wsgi import create_app

    instance: Path = tmp_path_factory.mktemp("browser-instance")
    # Real requests as a browser sends them: CSRF on (the tokens ride in forms and hx-headers).
    config = base_config(
        instance, TESTING=False, WTF_CSRF_ENABLED=True, SECRET_KEY="browser-test-secret"
    )
    app = create_app(config)
    with app.app_context():
        upgrade()
        staff = {
            "merchandiser": create_staff(
                MERCHANDISER, role="merchandiser", name="Mara Merch", password=PASSWORD
            ).id,
        }
    server = make_server("127.0.0.1", _free_port(), app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield LiveServer(app=app, url=f"http://127.0.0.1:{server.server_port}", staff=staff)
    finally:
        server.shutdown()
        thread.join(timeout=5)
        server.server_close()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    executable = chromium_path()
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=TIMEOUT_MS)
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(
            executable_path=executable, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield instance
        finally:
            instance.close()


@pytest.fixture(scope="session")
def merchandiser_state(browser: Any, live_server: LiveServer) -> dict[str, Any]:
    """Cookies of a signed-in merchandiser, so most tests skip the sign-in form."""
    live_server.claim_shared_extensions()
    context = browser.new_context(base_url=live_server.url)
    try:
        page = context.new_page()
        page.goto("/console/login")
        page.get_by_label("Email").fill(MERCHANDISER)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url("**/console/")
        return context.storage_state()
    finally:
        context.close()


def _new_page(
    browser: Any, live_server: LiveServer, request: pytest.FixtureRequest, **options: Any
) -> Iterator[Any]:
    live_server.claim_shared_extensions()
    context = browser.new_context(base_url=live_server.url, **options)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    # Uncaught script errors and Content-Security-Policy refusals fail the test (a 4xx answer
    # that htmx swaps, like a 422 form, is logged by Chromium too and is fine).
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on(
        "console",
        lambda msg: (
            errors.append(msg.text)
            if msg.type == "error" and "Content Security Policy" in msg.text
            else None
        ),
    )
    try:
        yield page
        report = getattr(request.node, "rep_call", None)
        if report is not None and report.failed:
            folder = Path(os.environ.get("BROWSER_SCREENSHOTS") or "/tmp")
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"browser-failed-{request.node.name}.png"
            page.screenshot(path=str(path), full_page=True, caret="initial")
            print(f"screenshot: {path}")
        assert not errors, f"errors in the browser console: {errors}"
    finally:
        context.close()


@pytest.fixture
def anon_page(browser: Any, live_server: LiveServer, request: pytest.FixtureRequest) -> Any:
    """A fresh page in a fresh context, signed in as nobody."""
    yield from _new_page(browser, live_server, request)


@pytest.fixture
def page(
    browser: Any,
    live_server: LiveServer,
    merchandiser_state: dict[str, Any],
    request: pytest.FixtureRequest,
) -> Any:
    """A fresh page in a fresh context, signed in as the merchandiser."""
    yield from _new_page(browser, live_server, request, storage_state=merchandiser_state)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report

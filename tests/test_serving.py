"""Serving in production, the parts that need no processes: the health endpoint the load
balancer checks, the database pool's settings, gunicorn.conf.py and the shipped HAProxy file
(tests/scaleout/ runs them for real)."""

from __future__ import annotations

import logging
import os
import runpy
import shutil
import subprocess
from types import SimpleNamespace

import pytest

from commerce.config import ROOT, load_config
from tests.conftest import base_config

UNREACHABLE = "postgresql+psycopg://commerce:commerce@127.0.0.1:1/nowhere"


def test_healthz_says_the_database_answers_and_sets_no_cookie(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "database": "ok"}
    assert response.headers["Cache-Control"] == "no-store"
    assert "Set-Cookie" not in response.headers


def test_healthz_answers_503_when_the_database_does_not(tmp_path):
    from wsgi import create_app

    app = create_app(base_config(tmp_path, SQLALCHEMY_DATABASE_URI=UNREACHABLE))
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json() == {"status": "unavailable", "database": "unreachable"}
    assert "Set-Cookie" not in response.headers
    with app.app_context():
        from commerce.extensions import db

        db.engine.dispose()


def test_a_host_without_secret_key_is_warned(tmp_path, monkeypatch, caplog):
    from wsgi import create_app

    monkeypatch.delenv("SECRET_KEY", raising=False)
    config = base_config(tmp_path, SQLALCHEMY_DATABASE_URI=UNREACHABLE)
    del config["SECRET_KEY"]
    with caplog.at_level(logging.WARNING):
        create_app(config)
    assert "set the same SECRET_KEY on every host" in caplog.text


def test_pool_size_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", UNREACHABLE)
    monkeypatch.setenv("DATABASE_POOL_SIZE", "12")
    monkeypatch.setenv("DATABASE_MAX_OVERFLOW", "3")
    monkeypatch.setenv("DATABASE_POOL_TIMEOUT", "7")
    options = load_config({"INSTANCE_PATH": "/tmp/commerce-pool-test"})["SQLALCHEMY_ENGINE_OPTIONS"]
    assert (options["pool_size"], options["max_overflow"], options["pool_timeout"]) == (12, 3, 7)
    assert options["pool_pre_ping"] is True
    given = load_config(
        {"INSTANCE_PATH": "/tmp/commerce-pool-test", "SQLALCHEMY_ENGINE_OPTIONS": {"pool_size": 60}}
    )["SQLALCHEMY_ENGINE_OPTIONS"]
    assert given["pool_size"] == 60  # explicit engine options win


def test_gunicorn_workers_keep_a_connection_per_thread(monkeypatch):
    settings = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    assert settings["worker_class"] == "gthread"
    assert settings["preload_app"] is False  # HUP loads new code
    assert settings["graceful_timeout"] >= 60 and settings["keepalive"] > 60
    worker = SimpleNamespace(cfg=SimpleNamespace(threads=6))
    monkeypatch.setenv("DATABASE_POOL_SIZE", "")  # restored (unset) after the test
    del os.environ["DATABASE_POOL_SIZE"]
    settings["post_fork"](worker, None)
    assert os.environ["DATABASE_POOL_SIZE"] == "6"
    monkeypatch.setenv("DATABASE_POOL_SIZE", "20")
    settings["post_fork"](worker, None)
    assert os.environ["DATABASE_POOL_SIZE"] == "20"  # an explicit size wins


def test_the_shipped_haproxy_file_is_valid(tmp_path):
    haproxy = shutil.which("haproxy") or shutil.which("/usr/sbin/haproxy")
    if haproxy is None:
        if os.environ.get("CI"):
            pytest.fail("haproxy is required under CI (make haproxy)")
        pytest.skip("haproxy is not installed (make haproxy)")
    checked = subprocess.run(
        [haproxy, "-c", "-f", str(ROOT / "deploy" / "haproxy.cfg")],
        env={
            "SHOP_BIND": "127.0.0.1:8000",
            "APP_SERVER_1": "127.0.0.1:8001",
            "APP_SERVER_2": "127.0.0.1:8002",
            "HAPROXY_SOCKET": str(tmp_path / "admin.sock"),
        },
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_hsts_is_sent_when_cookies_are_secure(app, client, monkeypatch):
    assert "Strict-Transport-Security" not in client.get("/healthz").headers
    monkeypatch.setitem(app.config, "SESSION_COOKIE_SECURE", True)
    for url in ("/healthz", "/", "/console/login"):
        assert client.get(url).headers["Strict-Transport-Security"] == "max-age=31536000"
    monkeypatch.setitem(app.config, "HSTS_INCLUDE_SUBDOMAINS", True)
    hsts = client.get("/").headers["Strict-Transport-Security"]
    assert hsts == "max-age=31536000; includeSubDomains"
    monkeypatch.setitem(app.config, "HSTS_MAX_AGE", 0)
    assert "Strict-Transport-Security" not in client.get("/").headers


def test_secure_cookies_from_the_environment_turn_hsts_on(tmp_path, monkeypatch):
    from wsgi import create_app

    monkeypatch.setenv("SECURE_COOKIES", "1")
    monkeypatch.setenv("PAYMENTS_WEBHOOK_SECRET", "whsec_" + "p" * 40)
    app = create_app(base_config(tmp_path, SECRET_KEY="k" * 48))
    response = app.test_client().get("/healthz")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")
    with app.app_context():
        from commerce.extensions import db

        db.engine.dispose()


def test_gunicorn_sends_no_server_header(tmp_path):
    """The probe read `Server: gunicorn` (the software, and with older releases its version):
    gunicorn.conf.py filters it out. A real gunicorn on a free port, serving a hello app."""
    import socket
    import sys
    import time
    import urllib.request
    from pathlib import Path

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    gunicorn = str(Path(sys.executable).with_name("gunicorn"))
    env = {**os.environ, "GUNICORN_BIND": f"127.0.0.1:{port}", "GUNICORN_WORKERS": "1"}
    process = subprocess.Popen(
        [gunicorn, "-c", str(ROOT / "gunicorn.conf.py"), "bench._hello:app"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "gunicorn.log").open("w"),
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as answer:
                    headers = answer.headers
                    break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise AssertionError((tmp_path / "gunicorn.log").read_text()) from None
                time.sleep(0.2)
        assert "Server" not in headers, headers["Server"]
        assert headers["Date"]  # the other default headers stay
    finally:
        process.terminate()
        process.wait(timeout=30)

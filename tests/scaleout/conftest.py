"""The shop scaled out: two gunicorn app servers behind HAProxy (deploy/haproxy.cfg), sharing
PostgreSQL and Redis, started once per test module (bench/_balancer.py says what each server
shares and what it keeps to itself).

Fixtures:
- `shop_app`: the app on the same PostgreSQL database, in an app context, for building what a
  test needs (products, staff, customers) and reading what the servers wrote;
- `scaled_out`: the running ScaledOut: `.url` is the shop through the balancer, `.servers` the
  two AppServers (`.url`, `.name`, `.reload()`, `.stop_gracefully()`, `.worker_pids()`),
  `.balancer` the LoadBalancer (`.states()`, `.admin(...)`).

A test module may set SCALED_OUT_ENV (a dict) for settings both servers get, e.g. a checkout
queue's capacity or an edge cache's purge address.
"""

from __future__ import annotations

import itertools
import os
import re
import shutil
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask

from bench._balancer import ScaledOut
from bench._server import flush_redis
from commerce.extensions import db
from tests.conftest import FAST_HASH, base_config, require_service, reset_postgres

CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|"X-CSRFToken": "([^"]+)"')
_numbers = itertools.count(1)


@pytest.fixture(scope="module")
def shop_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    from flask_migrate import upgrade

    from wsgi import create_app

    url = require_service("PostgreSQL", "TEST_DATABASE_URL")
    reset_postgres(url)
    app = create_app(base_config(tmp_path_factory.mktemp("shop_app"), SQLALCHEMY_DATABASE_URI=url))
    with app.app_context():
        upgrade()
        db.session.remove()
        yield app
        db.session.remove()
        db.engine.dispose()


@pytest.fixture(scope="module")
def scaled_out(
    shop_app: Flask, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[ScaledOut]:
    redis_url = require_service("Redis", "TEST_REDIS_URL")
    if not (shutil.which("haproxy") or shutil.which("/usr/sbin/haproxy")):
        if os.environ.get("CI"):
            pytest.fail("haproxy is required under CI (make haproxy)")
        pytest.skip("haproxy is not installed (make haproxy)")
    flush_redis(redis_url)
    cluster = ScaledOut(
        database_url=shop_app.config["SQLALCHEMY_DATABASE_URI"],
        redis_url=redis_url,
        root=tmp_path_factory.mktemp("scaled_out"),
        workers=1,  # two hosts' worth of processes on a shared 2-core machine
        threads=8,
        env=getattr(request.module, "SCALED_OUT_ENV", None),
    )
    with cluster:
        yield cluster


@pytest.fixture(autouse=True)
def _fresh_session(request: pytest.FixtureRequest) -> Iterator[None]:
    """Each test reads what the servers committed, not what an earlier test loaded."""
    yield
    if "shop_app" in request.fixturenames:
        db.session.remove()


@pytest.fixture(autouse=True)
def _both_servers_up(request: pytest.FixtureRequest) -> None:
    """A test that stopped a server leaves it to be started again before the next one."""
    if "scaled_out" not in request.fixturenames:
        return
    cluster: ScaledOut = request.getfixturevalue("scaled_out")
    stopped = [server for server in cluster.servers if server.process is None]
    for server in stopped:
        server.start()
    if stopped:
        cluster.balancer.wait_for({server.name: "UP" for server in cluster.servers})


def csrf_token(html: str) -> str:
    found = CSRF.search(html)
    assert found, "no CSRF token on the page"
    return found.group(1) or found.group(2)


def make_staff(role: str = "admin") -> Any:
    from commerce.staff.models import StaffMember

    member = StaffMember(
        email=f"{role}{next(_numbers)}@scale.example",
        name=role.title(),
        role=role,
        password_hash=FAST_HASH,
        is_active=True,
    )
    db.session.add(member)
    db.session.commit()
    return member


def make_customer() -> Any:
    from commerce.customers.models import Customer

    customer = Customer(
        email=f"shopper{next(_numbers)}@scale.example",
        name="Scale Shopper",
        password_hash=FAST_HASH,
        is_active=True,
    )
    db.session.add(customer)
    db.session.commit()
    return customer


def unique_sku(prefix: str) -> str:
    return f"{prefix}-{next(_numbers)}"

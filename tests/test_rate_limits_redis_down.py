"""Rate limits while their Redis is down: counted in the process's memory, so sign-in keeps
working and still stops a guesser, and the switch is logged."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest

from bench._server import free_port
from commerce.extensions import db, limiter
from tests.conftest import base_config


@pytest.fixture
def healthy_limiter_after() -> Iterator[None]:
    """The limiter is one object for every app of the process: the next app starts healthy."""
    yield
    limiter._storage_dead = False


def test_sign_in_is_limited_in_memory_while_redis_is_down(
    tmp_path: Any, caplog: Any, healthy_limiter_after: None
) -> None:
    from wsgi import create_app

    closed = f"redis://127.0.0.1:{free_port()}/0"
    app = create_app(
        base_config(
            tmp_path,
            RATELIMIT_ENABLED=True,
            RATELIMIT_STORAGE_URI=closed,
            SIGN_IN_RATE_LIMIT="2 per minute",
        )
    )
    logging.getLogger("flask-limiter").disabled = False  # Alembic's fileConfig may disable it
    with app.app_context(), caplog.at_level(logging.WARNING, logger="flask-limiter"):
        db.create_all()
        client = app.test_client()
        codes = [
            client.post(
                "/console/login", data={"email": "x@y.zz", "password": "p" * 12}
            ).status_code
            for _ in range(3)
        ]
        db.session.remove()

    assert codes == [422, 422, 429]
    assert any("falling back to in-memory storage" in r.getMessage() for r in caplog.records)

"""Race fixtures: the app on PostgreSQL with a pool big enough for every worker thread, and a
runner that starts real threads together (each with its own app context, so its own session and
connection) and collects what each got."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask

from commerce.errors import CommerceError
from commerce.extensions import db
from tests.conftest import base_config, reset_postgres

WORKER_TIMEOUT = 60


@pytest.fixture
def race_app(pg_url: str, tmp_path: Any) -> Iterator[Flask]:
    """Like pg_app (real commits, migrated schema), with a pool for 60 concurrent sessions."""
    from flask_migrate import upgrade

    from wsgi import create_app

    reset_postgres(pg_url)
    application = create_app(
        base_config(
            tmp_path,
            SQLALCHEMY_DATABASE_URI=pg_url,
            SQLALCHEMY_ENGINE_OPTIONS={"pool_size": 60, "max_overflow": 10, "pool_timeout": 30},
        )
    )
    with application.app_context():
        upgrade()
        yield application
        db.session.remove()
        db.engine.dispose()


@dataclass
class Outcome:
    value: Any = None
    domain_error: CommerceError | None = None
    error: BaseException | None = None

    @property
    def ok(self) -> bool:
        return self.domain_error is None and self.error is None


def run_together(app: Flask, n: int, work: Callable[[int], Any]) -> list[Outcome]:
    """Run work(i) for i in range(n) on n threads released at once by a barrier. Domain errors
    are outcomes; any other exception is kept as `error` for the test to fail on."""
    barrier = threading.Barrier(n)
    outcomes = [Outcome() for _ in range(n)]

    def target(i: int) -> None:
        with app.app_context():
            try:
                barrier.wait(timeout=WORKER_TIMEOUT)
                outcomes[i].value = work(i)
            except CommerceError as exc:
                outcomes[i].domain_error = exc
            except BaseException as exc:
                outcomes[i].error = exc
            finally:
                db.session.remove()

    threads = [threading.Thread(target=target, args=(i,), daemon=True) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WORKER_TIMEOUT)
    assert not any(t.is_alive() for t in threads), "a worker hung (lock wait?)"
    return outcomes


def unexpected(outcomes: list[Outcome]) -> list[str]:
    return [f"{type(o.error).__name__}: {o.error}" for o in outcomes if o.error is not None]


@pytest.fixture
def live_shop(pg_app: Flask, pg_url: str, redis_url: str, tmp_path: Any) -> Iterator[Any]:
    """live_shop(units, workers, threads) -> (server, shop): the flash-sale shop in the test
    database and gunicorn serving it (stopped at the end of the test)."""
    from contextlib import ExitStack

    from bench._server import LiveServer, build_flash_shop

    with ExitStack() as stack:

        def start(*, units: int, workers: int, threads: int) -> tuple[Any, Any]:
            shop = build_flash_shop(units=units)
            live = LiveServer(
                database_url=pg_url,
                redis_url=redis_url,
                instance=tmp_path / "server",
                workers=workers,
                threads=threads,
            )
            return stack.enter_context(live), shop

        yield start


@pytest.fixture
def started(live_shop: Any, request: pytest.FixtureRequest) -> tuple[Any, Any]:
    """The module's LIVE_SHOP settings (units, workers, threads) started by live_shop."""
    return live_shop(**request.module.LIVE_SHOP)


@pytest.fixture
def server(started: tuple[Any, Any]) -> Any:
    return started[0]


@pytest.fixture
def shop(started: tuple[Any, Any]) -> Any:
    return started[1]

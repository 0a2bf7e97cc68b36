"""Real background processes for tests: a private Redis server, and `make worker` / `make beat`
run as the README says (the Makefile's own targets), configured by environment variables only.

`MakeTarget.kill()` is a SIGKILL of the whole process group (make, the Celery main process and
its pool children): what a crashed host or an OOM kill leaves behind.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from bench._server import ROOT, free_port

WORKER_APP = "commerce-worker"  # application_name of the worker's database connections
# The Makefile's own targets; `-o` tells make the virtualenv is up to date.
MAKE = ("make", "-C", str(ROOT), "--no-print-directory", "-o", ".venv/bin/.installed")


@contextmanager
def private_redis() -> Iterator[str]:
    """A Redis server of our own on a free port (no persistence), stopped afterwards."""
    server = shutil.which("redis-server")
    assert server, "these tests need redis-server (Debian package redis-server)"
    port = free_port()
    proc = subprocess.Popen(
        [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    try:
        import redis

        client = redis.Redis.from_url(url)
        wait_for(lambda: _pings(client), timeout=10, what="redis-server to answer")
        client.close()
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _pings(client: Any) -> bool:
    try:
        return bool(client.ping())
    except Exception:
        return False


def with_application_name(url: str, name: str = WORKER_APP) -> str:
    """The database URL with libpq's application_name, so a test can find the worker's
    connections in pg_stat_activity."""
    return f"{url}{'&' if '?' in url else '?'}application_name={name}"


WORKER_SECRET_KEY = "worker-test-secret"  # every process of one shop shares its keys


def worker_env(
    *, database_url: str, broker_url: str, instance: Path, **settings: Any
) -> dict[str, str]:
    """The environment of a production worker: only variables, as an operator sets them."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("CELERY_", "MAIL_", "OUTBOX_", "JOB_", "REDIS_URL", "MEILI"))
    }
    env.update(
        {
            "PYTHONPATH": str(ROOT),
            "DATABASE_URL": with_application_name(database_url),
            "CELERY_BROKER_URL": broker_url,
            "INSTANCE_PATH": str(instance),
            "SECRET_KEY": WORKER_SECRET_KEY,
            "SEARCH_BACKEND": "db",
            "CELERY_CONCURRENCY": "2",
            # Options of the `celery worker` command, read from the environment: a lone worker
            # need not spend a second looking for others at start.
            "CELERY_WORKER_WITHOUT_MINGLE": "true",
            "CELERY_WORKER_WITHOUT_GOSSIP": "true",
        }
    )
    env.update({key: str(value) for key, value in settings.items()})
    return env


class MakeTarget:
    """`make -C <root> worker|beat` as a process group, its output in a log file.

    make runs only the target's own command: `make test` installed the virtualenv already, and
    a test must never reinstall it."""

    def __init__(self, target: str, env: dict[str, str], log: Path) -> None:
        self.target, self.env, self.log = target, env, log
        self.proc: subprocess.Popen[bytes] | None = None
        self.offset = 0

    def start(self) -> MakeTarget:
        self.offset = self.log.stat().st_size if self.log.exists() else 0
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [*MAKE, self.target],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    def output(self) -> str:
        """What this run printed (not earlier runs into the same log)."""
        with self.log.open("rb") as fh:
            fh.seek(self.offset)
            return fh.read().decode(errors="replace")

    def wait_for_output(self, text: str, *, timeout: float = 60) -> None:
        wait_for(
            lambda: text in self.output() or not self.alive,
            timeout=timeout,
            what=f"{self.target} to print {text!r}",
        )
        assert text in self.output(), f"make {self.target} exited:\n{self.output()[-3000:]}"

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL to make, Celery and every pool process at once: no cleanup runs."""
        self._signal(signal.SIGKILL)

    def stop(self) -> None:
        self._signal(signal.SIGKILL)

    def _signal(self, sig: int) -> None:
        if self.proc is None:
            return
        with suppress(ProcessLookupError):
            os.killpg(self.proc.pid, sig)
        # Every process of the group is dead once the signal is delivered (their sockets, and
        # so their database sessions, close with them); only make is ours to reap.
        self.proc.wait(timeout=30)


def start_worker(env: dict[str, str], log: Path) -> MakeTarget:
    worker = MakeTarget("worker", env, log).start()
    worker.wait_for_output(" ready.")
    return worker


def wait_for(
    condition: Callable[[], Any], *, timeout: float = 30, what: str = "it", every: float = 0.05
) -> Any:
    """Poll until `condition()` is truthy; return its value. Fails (never asserts a time)
    when the deadline passes."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(every)


@contextmanager
def production_app(
    database_url: str, broker_url: str, instance: Path, monkeypatch: Any, **config: Any
) -> Iterator[Any]:
    """The app in the test's own process configured like the workers (the same database,
    broker and instance folder; Celery not eager), on a migrated empty schema. The shared
    Celery object goes back to the suite's app afterwards."""
    from flask_migrate import upgrade

    from commerce.extensions import celery, db, init_celery
    from tests.conftest import base_config, reset_postgres
    from wsgi import create_app

    previous = getattr(celery, "flask_app", None)
    monkeypatch.setenv("CELERY_BROKER_URL", broker_url)
    reset_postgres(database_url)
    # The workers' key too: what one process seals (webhook secrets), the other opens.
    config.setdefault("SECRET_KEY", WORKER_SECRET_KEY)
    app = create_app(base_config(instance, SQLALCHEMY_DATABASE_URI=database_url, **config))
    monkeypatch.delenv("CELERY_BROKER_URL")
    try:
        with app.app_context():
            upgrade()
            yield app
            db.session.remove()
            db.engine.dispose()
    finally:
        if previous is not None:
            init_celery(previous)

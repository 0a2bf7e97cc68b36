"""Queueing a task while the broker is down: the request neither fails nor waits, the work
stays in the database (a job stays queued for the sweeper), and the process stops trying for
a while after the first failure."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask

from bench._server import free_port
from commerce import broker
from commerce.extensions import db
from tests.conftest import base_config


@pytest.fixture
def broker_down(app: Flask, tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Flask]:
    """An app whose Celery broker is a Redis where nothing listens (`app` is asked for so the
    suite's Celery settings are restored afterwards)."""
    from wsgi import create_app

    monkeypatch.setattr(broker, "_down_until", 0.0)
    closed = f"redis://127.0.0.1:{free_port()}/0"
    own = create_app(
        base_config(tmp_path, SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'broker.db'}")
    )
    own.config["CELERY"].update(broker_url=closed, task_always_eager=False)
    from commerce.extensions import init_celery

    init_celery(own)
    with own.app_context():
        db.create_all()
        yield own
        db.session.remove()
        db.engine.dispose()


def test_a_task_is_not_queued_and_the_process_rests(broker_down, caplog):
    from commerce.outbox import dispatch_outbox

    logging.getLogger("commerce.broker").disabled = False  # Alembic's fileConfig disables it
    with caplog.at_level(logging.INFO, logger="commerce.broker"):
        assert broker.queue_task(dispatch_outbox) is False
        assert broker.broker_resting()
        assert broker.queue_task(dispatch_outbox) is False  # not even tried

    messages = [r.getMessage() for r in caplog.records if r.name == "commerce.broker"]
    assert len(messages) == 2
    assert "broker unreachable" in messages[0] and "left for the periodic tasks" in messages[1]


def test_a_job_started_while_the_broker_is_down_stays_queued(broker_down):
    from commerce.jobs import get_job
    from commerce.search.indexing import start_reindex_job

    job_id = start_reindex_job(by=None)

    db.session.expire_all()
    assert get_job(job_id).status == "queued"  # for the job sweeper to queue again

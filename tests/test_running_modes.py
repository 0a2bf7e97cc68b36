"""The production parts, each switched on by one setting: Redis-backed rate limits and cache,
and a real Celery worker on a Redis broker (the embedded mode runs tasks inline)."""

from __future__ import annotations

import pytest
from celery.contrib.testing.worker import start_worker
from sqlalchemy import select

from commerce.extensions import cache, db, init_celery
from commerce.outbox import OutboxEvent, dispatch_outbox, enqueue
from tests.conftest import base_config, require_service

pytestmark = pytest.mark.redis


@pytest.fixture
def redis_url():
    url = require_service("Redis", "TEST_REDIS_URL")
    import redis

    redis.Redis.from_url(url).flushdb()
    return url


def test_rate_limits_and_cache_use_redis(redis_url, tmp_path):
    from wsgi import create_app

    app = create_app(
        base_config(
            tmp_path,
            REDIS_URL=redis_url,
            RATELIMIT_ENABLED=True,
            RATELIMIT_STORAGE_URI=redis_url,
            CACHE_TYPE="RedisCache",
            CACHE_REDIS_URL=redis_url,
            SIGN_IN_RATE_LIMIT="2 per minute",
        )
    )
    with app.app_context():
        db.create_all()
        client = app.test_client()
        codes = [
            client.post(
                "/console/login", data={"email": "x@y.zz", "password": "p" * 12}
            ).status_code
            for _ in range(3)
        ]
        assert codes == [422, 422, 429]
        import redis

        keys = redis.Redis.from_url(redis_url).keys("LIMITS*")
        assert keys, "the limiter should count in Redis"
        cache.set("probe", "value")
        assert cache.get("probe") == "value"
        assert redis.Redis.from_url(redis_url).keys("*probe*")
        db.session.remove()


def test_celery_worker_on_redis_runs_tasks(redis_url, tmp_path):
    from wsgi import create_app

    app = create_app(
        base_config(tmp_path, SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'worker.db'}")
    )
    app.config["CELERY"].update(
        broker_url=redis_url,
        result_backend=redis_url,
        task_always_eager=False,
        task_ignore_result=False,
    )
    celery = init_celery(app)
    with app.app_context():
        db.create_all()
        enqueue("demo.ping", {"n": 1})
        db.session.commit()
        with start_worker(celery, perform_ping_check=False, pool="solo", loglevel="WARNING"):
            result = dispatch_outbox.delay()
            assert result.get(timeout=30) == 1
        db.session.expire_all()
        event = db.session.scalar(select(OutboxEvent))
        assert event.dispatched_at is not None and event.attempts == 1
        db.session.remove()

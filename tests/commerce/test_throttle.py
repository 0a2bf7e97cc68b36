"""Attempt budgets count in the rate limiter's storage: process memory embedded, Redis in
production (shared by every server), and let attempts through when it fails."""

from __future__ import annotations

import pytest

from commerce import throttle
from commerce.extensions import limiter
from tests.conftest import base_config


@pytest.fixture
def on(monkeypatch):
    monkeypatch.setattr(limiter, "enabled", True)
    limiter.reset()
    yield
    limiter.reset()


def test_a_budget_fills_then_says_how_long_to_wait(app, on):
    assert throttle.retry_after("2 per minute", "probe", "1.2.3.4") is None
    throttle.spend("2 per minute", "probe", "1.2.3.4")
    assert throttle.retry_after("2 per minute", "probe", "1.2.3.4") is None
    throttle.spend("2 per minute", "probe", "1.2.3.4")
    wait = throttle.retry_after("2 per minute", "probe", "1.2.3.4")
    assert wait is not None and 1 <= wait <= 60
    assert throttle.retry_after("2 per minute", "probe", "5.6.7.8") is None
    assert throttle.retry_after("2 per minute", "other", "1.2.3.4") is None
    assert throttle.retry_after("2 per minute", "probe", None) is None


def test_off_when_the_limiter_is_off(app, monkeypatch):
    monkeypatch.setattr(limiter, "enabled", False)
    for _ in range(3):
        throttle.spend("1 per minute", "probe", "k")
    assert throttle.retry_after("1 per minute", "probe", "k") is None


def test_words():
    assert throttle.in_words(30) == "a minute"
    assert throttle.in_words(600) == "about 10 minutes"
    assert throttle.in_words(7200) == "about 2 hours"


@pytest.mark.redis
def test_budgets_count_in_redis(redis_url, tmp_path):
    import redis

    from wsgi import create_app

    app = create_app(
        base_config(
            tmp_path, REDIS_URL=redis_url, RATELIMIT_ENABLED=True, RATELIMIT_STORAGE_URI=redis_url
        )
    )
    with app.app_context():
        throttle.spend("1 per minute", "declines-address", "203.0.113.5")
        assert throttle.retry_after("1 per minute", "declines-address", "203.0.113.5")
        assert redis.Redis.from_url(redis_url).keys("*declines-address*203.0.113.5*")

"""The Redis cache while Redis is down: reads are misses and writes do nothing, logged once
in a while, Redis left alone for a few seconds after an error; never an error for the
request."""

from __future__ import annotations

import logging
from typing import Any

from bench._server import free_port
from commerce.cache import TolerantRedisCache
from tests.conftest import base_config


def test_redis_down_is_a_miss(tmp_path: Any, caplog: Any) -> None:
    from wsgi import create_app

    closed = f"redis://127.0.0.1:{free_port()}/0"
    app = create_app(base_config(tmp_path, CACHE_TYPE="RedisCache", CACHE_REDIS_URL=closed))
    from commerce.extensions import cache

    logging.getLogger("commerce.cache").disabled = False  # Alembic's fileConfig disables it
    with app.app_context(), caplog.at_level(logging.WARNING, logger="commerce.cache"):
        assert isinstance(cache.cache, TolerantRedisCache)
        assert cache.set("greeting", "hello") is False
        assert cache.get("greeting") is None
        assert cache.get_many("a", "b") == [None, None]
        assert cache.delete("greeting") is False
        assert cache.has("greeting") is False
    warnings = [r.getMessage() for r in caplog.records if r.name == "commerce.cache"]
    assert len(warnings) == 1 and "counting cache reads as misses" in warnings[0]

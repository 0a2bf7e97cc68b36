"""The Redis cache, tolerant of Redis being down: a cache is an optimisation, so an error is a
miss (reads) or a no-op (writes), logged, never a failed request.

Selected by config (CACHE_TYPE "commerce.cache.TolerantRedisCache" whenever REDIS_URL is
set); the connection timeouts in CACHE_OPTIONS keep an unreachable Redis from holding a
request for more than REDIS_TIMEOUT seconds.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from flask_caching.backends.rediscache import RedisCache
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

WARN_EVERY = 60.0  # seconds between two warnings of one process about the same outage
REST = 5.0  # seconds a process leaves Redis alone after an error (a timeout costs each call)


class TolerantRedisCache(RedisCache):
    """Flask-Caching's RedisCache whose every call survives a Redis error; after one, the
    process answers misses without asking Redis for REST seconds."""

    _warned_at = 0.0
    _resting_until = 0.0

    def _tolerate(self, operation: str, fallback: Any, call: Callable[[], Any]) -> Any:
        if time.monotonic() < self._resting_until:
            return fallback
        try:
            return call()
        except (RedisError, OSError) as exc:
            now = time.monotonic()
            self._resting_until = now + REST
            if now - self._warned_at >= WARN_EVERY:
                self._warned_at = now
                log.warning(
                    "Redis cache unreachable (%s: %s); counting cache reads as misses",
                    operation,
                    type(exc).__name__,
                )
            return fallback

    def get(self, key: str) -> Any:
        return self._tolerate("get", None, lambda: super(TolerantRedisCache, self).get(key))

    def get_many(self, *keys: str) -> list[Any]:
        return self._tolerate(
            "get_many", [None] * len(keys), lambda: super(TolerantRedisCache, self).get_many(*keys)
        )

    def has(self, key: str) -> bool:
        return self._tolerate("has", False, lambda: super(TolerantRedisCache, self).has(key))

    def set(self, key: str, value: Any, timeout: int | None = None) -> Any:
        return self._tolerate(
            "set", False, lambda: super(TolerantRedisCache, self).set(key, value, timeout)
        )

    def add(self, key: str, value: Any, timeout: int | None = None) -> Any:
        return self._tolerate(
            "add", False, lambda: super(TolerantRedisCache, self).add(key, value, timeout)
        )

    def set_many(self, mapping: dict[str, Any], timeout: int | None = None) -> list[Any]:
        return self._tolerate(
            "set_many", [], lambda: super(TolerantRedisCache, self).set_many(mapping, timeout)
        )

    def delete(self, key: str) -> bool:
        return self._tolerate("delete", False, lambda: super(TolerantRedisCache, self).delete(key))

    def delete_many(self, *keys: str) -> list[Any]:
        return self._tolerate(
            "delete_many", [], lambda: super(TolerantRedisCache, self).delete_many(*keys)
        )

    def inc(self, key: str, delta: int = 1) -> Any:
        return self._tolerate("inc", None, lambda: super(TolerantRedisCache, self).inc(key, delta))

    def dec(self, key: str, delta: int = 1) -> Any:
        return self._tolerate("dec", None, lambda: super(TolerantRedisCache, self).dec(key, delta))

    def clear(self) -> bool:
        return self._tolerate("clear", False, lambda: super(TolerantRedisCache, self).clear())

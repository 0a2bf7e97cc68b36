"""gunicorn settings for production: `gunicorn wsgi:app` (run from the project folder) reads
this file. Every value can be changed by an environment variable, and options given on the
command line win over both.

Threads (gthread) rather than more processes: a request mostly waits on PostgreSQL, Redis or
the payment provider. A worker that crashes or is killed is replaced by the master; what it was
doing is settled by the recovery tasks (see README, "Payments: states and recovery").
"""

from __future__ import annotations

import multiprocessing
import os


def _int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


bind = os.environ.get("GUNICORN_BIND") or f"127.0.0.1:{_int('PORT', 8000)}"
workers = _int("GUNICORN_WORKERS", min(2 * multiprocessing.cpu_count(), 8))
worker_class = "gthread"
threads = _int("GUNICORN_THREADS", 8)
# A request that has not answered in this long is stuck: the worker is replaced.
timeout = _int("GUNICORN_TIMEOUT", 60)
graceful_timeout = _int("GUNICORN_GRACEFUL_TIMEOUT", 30)
keepalive = _int("GUNICORN_KEEPALIVE", 5)
# Workers are recycled now and then, so slow leaks never grow without bound.
max_requests = _int("GUNICORN_MAX_REQUESTS", 20000)
max_requests_jitter = _int("GUNICORN_MAX_REQUESTS_JITTER", 2000)
# Behind a proxy on another host, list its address in FORWARDED_ALLOW_IPS (gunicorn's own
# variable); the app reads X-Forwarded-For only for TRUSTED_PROXIES hops.
accesslog = os.environ.get("GUNICORN_ACCESS_LOG") or None
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")

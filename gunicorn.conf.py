"""gunicorn settings for production: `gunicorn wsgi:app` (run from the project folder) reads
this file. Every value can be changed by an environment variable, and options given on the
command line win over both. README "Serving in production" says how to size them.

Threads (gthread) rather than more processes: a request mostly waits on PostgreSQL, Redis or
the payment provider. Processes give CPU parallelism (one interpreter lock each), threads cover
the waits; one host works on GUNICORN_WORKERS x GUNICORN_THREADS requests at once, and the load
balancer queues the rest (its per-server maxconn, deploy/haproxy.cfg). A worker that crashes or
is killed is replaced by the master; what it was doing is settled by the recovery tasks (see
README, "Payments: states and recovery").

Signals to the master (its pid is in GUNICORN_PID_FILE when set):
- HUP: graceful reload. New workers start with the code and this file as they are now, and the
  old ones stop taking connections and finish what they are answering (up to graceful_timeout).
  Deploy new code this way. The environment is the master's: a changed variable needs USR2
  (a new master beside the old one; then TERM the old) or a restart.
- TERM: graceful stop; INT or QUIT: quick stop.
"""

from __future__ import annotations

import multiprocessing
import os
from pathlib import Path
from typing import Any


def _int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


# Behind a load balancer on another host, listen on every interface: GUNICORN_BIND=0.0.0.0:8000.
bind = os.environ.get("GUNICORN_BIND") or f"127.0.0.1:{_int('PORT', 8000)}"
workers = _int("GUNICORN_WORKERS", min(2 * multiprocessing.cpu_count(), 8))
worker_class = "gthread"
threads = _int("GUNICORN_THREADS", 8)
# New workers import the app themselves (no preload), so HUP loads new code.
preload_app = False
proc_name = os.environ.get("GUNICORN_PROC_NAME", "commerce")
pidfile = os.environ.get("GUNICORN_PID_FILE") or None
# gunicorn 25.1+ opens a control socket for `gunicornc`, by default at one path per user
# (~/.gunicorn/gunicorn.ctl), which two instances on one host would both claim: only where
# GUNICORN_CONTROL_SOCKET names a path of its own. Signals and the pid file do the rest.
_control_socket = os.environ.get("GUNICORN_CONTROL_SOCKET", "").strip()
control_socket_disable = not _control_socket
if _control_socket:
    control_socket = _control_socket

# A gthread worker's main loop tells the master it is alive about once a second, whatever its
# threads are doing: past `timeout` the worker itself is stuck (or still booting) and is
# replaced. It does not cut a slow request short; the load balancer's `timeout server` does.
timeout = _int("GUNICORN_TIMEOUT", 60)
# On HUP, TERM or a recycle, requests in flight get this long to finish before the worker is
# killed: above our slowest request (place order waiting on the payment provider, a large
# streamed CSV export), so a deploy cuts nothing off.
graceful_timeout = _int("GUNICORN_GRACEFUL_TIMEOUT", 60)
# Idle keep-alive connections are kept this long. Behind a load balancer it must exceed the
# balancer's own idle time for connections to us (HAProxy keeps idle server connections a few
# seconds; cloud balancers 60 s), or the balancer may send a request on a connection we are
# closing. Idle connections cost a gthread worker no thread.
keepalive = _int("GUNICORN_KEEPALIVE", 75)
# Workers are recycled now and then (gracefully, one at a time thanks to the jitter), so slow
# leaks never grow without bound.
max_requests = _int("GUNICORN_MAX_REQUESTS", 20000)
max_requests_jitter = _int("GUNICORN_MAX_REQUESTS_JITTER", 2000)
# The workers' heartbeat files on a memory file system where there is one (a container's /tmp
# may be a slow overlay, and a blocked heartbeat write looks like a stuck worker).
worker_tmp_dir = "/dev/shm" if Path("/dev/shm").is_dir() else None

# Which proxies may tell gunicorn the request's scheme (X-Forwarded-Proto): gunicorn reads
# FORWARDED_ALLOW_IPS itself (default 127.0.0.1,::1); list the load balancer's address when it
# runs on another host. The app reads X-Forwarded-For for TRUSTED_PROXIES hops (rate limits,
# the staff session check), so set that too, to the number of proxies in front.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")

# Logs: errors (and the app's own log lines) on standard error; the access log where
# GUNICORN_ACCESS_LOG says ("-": standard output), with the client's address as the balancer
# saw it and the time taken in milliseconds.
accesslog = os.environ.get("GUNICORN_ACCESS_LOG") or None
access_log_format = (
    '%({x-forwarded-for}i)s %(h)s "%(r)s" %(s)s %(b)s %(M)sms "%(f)s" "%(a)s" pid=%(p)s'
)
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")


def _send_no_server_header() -> None:
    """Responses carry no `Server` header (it named the software, a hint for an attacker
    choosing exploits; the probe read it). gunicorn has no setting for it, so its response's
    default headers are filtered here, in the master before any worker forks."""
    from gunicorn.http import wsgi

    original = wsgi.Response.default_headers
    if getattr(original, "without_server", False):
        return  # this file is read again on HUP

    def default_headers(self: Any) -> list[str]:
        return [h for h in original(self) if not h.lower().startswith("server:")]

    default_headers.without_server = True  # type: ignore[attr-defined]
    wsgi.Response.default_headers = default_headers  # type: ignore[method-assign]


_send_no_server_header()


def post_fork(server: Any, worker: Any) -> None:
    """Before a new worker loads the app: its database pool keeps one connection per thread
    (each request uses one), so a busy worker neither waits for a connection nor opens and
    closes one per request. DATABASE_POOL_SIZE, when set, wins."""
    os.environ.setdefault("DATABASE_POOL_SIZE", str(server.cfg.threads))

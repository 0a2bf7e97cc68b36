"""The shop scaled out for real: two app servers behind Debian's HAProxy, for the scale-out
tests (tests/scaleout/) and benches.

- `AppServer`: a LiveServer started the production way, `gunicorn wsgi:app` configured by
  gunicorn.conf.py and environment variables only (GUNICORN_BIND, GUNICORN_WORKERS, ...), with
  its access log on; it stands for one app host: an instance folder of its own, the shared
  SECRET_KEY, DATABASE_URL and REDIS_URL, and the files every host must share (media, CSV
  uploads, exports, and the test payment gateway, which stands for an outside service) in one
  shared folder, as a network file system would be mounted on each host.
- `LoadBalancer`: haproxy running the shipped deploy/haproxy.cfg in the foreground, health
  checks on /healthz, round robin; `states()` reads its admin socket.
- `ScaledOut`: both servers and the balancer, started and stopped together; `url` is the shop
  as shoppers reach it.
- `track_servers(session)`: the X-Served-By header of every answer a requests.Session gets.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import requests

from bench._server import ROOT, LiveServer, free_port

HAPROXY_CONFIG = ROOT / "deploy" / "haproxy.cfg"
SERVED_BY = "X-Served-By"
# An HTTP log line: "... shop app/app1 0/0/0/2/2 200 570 ..." (frontend, backend/server,
# timers, status); "<NOSRV>" when no server could take the request.
HTTP_LOG = re.compile(r"\] \S+ (\S+)/(\S+) [-\d/+]+ (-?\d+) ")


class AppServer(LiveServer):
    """One app host: `gunicorn wsgi:app` with settings from the environment only."""

    ready_path = "/healthz"

    def __init__(
        self,
        name: str,
        *,
        database_url: str,
        redis_url: str,
        instance: str | Path,
        shared: str | Path,
        workers: int = 2,
        threads: int = 4,
        env: dict[str, str] | None = None,
    ) -> None:
        shared = Path(shared)
        super().__init__(
            database_url=database_url,
            redis_url=redis_url,
            instance=instance,
            workers=workers,
            threads=threads,
            env={
                "MEDIA_ROOT": str(shared / "media"),
                "IMPORT_ROOT": str(shared / "imports"),
                "EXPORT_ROOT": str(shared / "exports"),
                "PAYMENTS_TEST_GATEWAY_DB": str(shared / "payments-test-gateway.sqlite3"),
                "TRUSTED_PROXIES": "1",  # HAProxy appends the client's address
                "RATELIMIT_ENABLED": "true",  # counted in the shared Redis
                "SIGN_IN_RATE_LIMIT": "200 per minute",  # every test client is 127.0.0.1
                **(env or {}),
            },
        )
        self.name = name
        self.pid_file = self.instance / "gunicorn.pid"
        self.env.update(
            {
                "GUNICORN_BIND": f"127.0.0.1:{self.port}",
                "GUNICORN_WORKERS": str(workers),
                "GUNICORN_THREADS": str(threads),
                "GUNICORN_ACCESS_LOG": "-",
                "PYTHONUNBUFFERED": "1",  # access log lines reach the file as they happen
                "GUNICORN_PID_FILE": str(self.pid_file),
            }
        )
        # gunicorn.conf.py's defaults, not the bench's command line.
        for name_ in ("GUNICORN_TIMEOUT", "GUNICORN_KEEPALIVE", "GUNICORN_GRACEFUL_TIMEOUT"):
            self.env.pop(name_, None)

    def command(self) -> list[str]:
        return [str(Path(sys.executable).with_name("gunicorn")), "wsgi:app"]

    @property
    def master_pid(self) -> int:
        assert self.process is not None, f"{self.name} is not running"
        return self.process.pid

    def reload(self) -> None:
        """HUP: the graceful reload a deploy does (new workers, old ones finish)."""
        os.kill(self.master_pid, signal.SIGHUP)

    def stop(self) -> None:
        """Quick stop (INT), and no worker left behind: gunicorn's master kills a worker that
        does not exit only after graceful_timeout, and the base class kills the master sooner."""
        workers = self.worker_pids() if self.process is not None else set()
        super().stop()
        _kill_leftovers(workers)

    def stop_gracefully(self, timeout: float = 90) -> None:
        """TERM: stop taking connections, finish the requests in flight, exit."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        self.process = process
        workers = self.worker_pids()
        self.process = None
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        _kill_leftovers(workers)

    def worker_pids(self) -> set[int]:
        """The master's live worker processes (from /proc)."""
        master = self.master_pid
        found = set()
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            # pid (comm) state ppid ...: comm may hold spaces, so split after its ")".
            fields = stat.rsplit(")", 1)[1].split()
            if fields[0] != "Z" and int(fields[1]) == master:
                found.add(int(entry.name))
        return found

    def access_log_lines(self) -> list[str]:
        """The requests this server logged (GUNICORN_ACCESS_LOG=-: into its log file)."""
        log = self.log_tail(10_000_000).splitlines()
        return [line for line in log if '"GET ' in line or '"POST ' in line]


def _kill_leftovers(pids: set[int]) -> None:
    """SIGKILL the gunicorn processes among `pids` still alive (a worker orphaned when its
    master was killed before it could kill the worker)."""
    for pid in pids:
        try:
            alive = "gunicorn" in Path(f"/proc/{pid}/cmdline").read_text(errors="replace")
        except OSError:
            continue
        if alive:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


class LoadBalancer:
    """haproxy -db -f deploy/haproxy.cfg for two app servers, on a free loopback port."""

    def __init__(self, servers: list[AppServer], *, root: str | Path, maxconn: int) -> None:
        if len(servers) != 2:
            raise ValueError("deploy/haproxy.cfg names two app servers (APP_SERVER_1, _2)")
        self.servers = servers
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = Path(root) / "haproxy.log"
        # A Unix socket path must be short (108 bytes): not under pytest's deep tmp folders.
        self._socket_dir = Path(tempfile.mkdtemp(prefix="ha-"))
        self.socket_path = self._socket_dir / "admin.sock"
        self.env = {
            **os.environ,
            "SHOP_BIND": f"127.0.0.1:{self.port}",
            "APP_SERVER_1": f"127.0.0.1:{servers[0].port}",
            "APP_SERVER_2": f"127.0.0.1:{servers[1].port}",
            "APP_MAXCONN": str(maxconn),
            "HAPROXY_SOCKET": str(self.socket_path),
        }
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30) -> LoadBalancer:
        haproxy = shutil.which("haproxy") or "/usr/sbin/haproxy"
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [haproxy, "-db", "-f", str(HAPROXY_CONFIG)],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.wait_for({"app1": "UP", "app2": "UP"}, timeout=timeout)
        return self

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        shutil.rmtree(self._socket_dir, ignore_errors=True)

    def admin(self, command: str) -> str:
        """One command on the admin socket (HAProxy's management guide, "show stat", ...)."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(5)
            sock.connect(str(self.socket_path))
            sock.sendall(command.encode() + b"\n")
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks).decode()

    def states(self) -> dict[str, str]:
        """Each app server's state as the health checks see it: UP, DOWN, MAINT, DRAIN..."""
        text = self.admin("show stat").lstrip("# ")
        rows = csv.DictReader(io.StringIO(text))
        return {
            row["svname"]: row["status"].split()[0]
            for row in rows
            if row.get("pxname") == "app" and row.get("svname") not in ("FRONTEND", "BACKEND")
        }

    def wait_for(self, wanted: dict[str, str], *, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        seen: dict[str, str] = {}
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"haproxy exited:\n{self.log_tail()}")
            try:
                seen = self.states()
            except OSError:
                seen = {}
            if all(seen.get(name) == state for name, state in wanted.items()):
                return
            time.sleep(0.2)
        raise RuntimeError(f"haproxy states {seen}, wanted {wanted}:\n{self.log_tail()}")

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def answers(self) -> Counter[tuple[str, int]]:
        """(server, status) of every request the balancer logged ("<NOSRV>": none took it)."""
        found: Counter[tuple[str, int]] = Counter()
        for match in HTTP_LOG.finditer(self.log_tail(50_000_000)):
            found[(match.group(2), int(match.group(3)))] += 1
        return found


class ScaledOut:
    """Two app servers (separate instance folders; one database, one Redis, one secret key,
    shared file storage) behind HAProxy. Extra `env` reaches both servers."""

    def __init__(
        self,
        *,
        database_url: str,
        redis_url: str,
        root: str | Path,
        workers: int = 2,
        threads: int = 4,
        env: dict[str, str] | None = None,
    ) -> None:
        self.root = Path(root)
        self.shared = self.root / "shared"
        self.servers = [
            AppServer(
                f"app{n}",
                database_url=database_url,
                redis_url=redis_url,
                instance=self.root / f"app{n}",
                shared=self.shared,
                workers=workers,
                threads=threads,
                env=env,
            )
            for n in (1, 2)
        ]
        self.balancer = LoadBalancer(self.servers, root=self.root, maxconn=workers * threads)

    @property
    def url(self) -> str:
        return self.balancer.url

    def server(self, name: str) -> AppServer:
        return next(s for s in self.servers if s.name == name)

    def start(self) -> ScaledOut:
        failures: list[BaseException] = []

        def boot(server: AppServer) -> None:
            try:
                server.start()
            except BaseException as exc:
                failures.append(exc)

        booting = [threading.Thread(target=boot, args=(s,)) for s in self.servers]
        for thread in booting:
            thread.start()
        for thread in booting:
            thread.join()
        if failures:
            self.stop()
            raise failures[0]
        try:
            self.balancer.start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        self.balancer.stop()
        stopping = [threading.Thread(target=server.stop) for server in self.servers]
        for thread in stopping:
            thread.start()
        for thread in stopping:
            thread.join()

    def tracebacks(self) -> dict[str, list[str]]:
        return {s.name: s.tracebacks() for s in self.servers if s.tracebacks()}

    def __enter__(self) -> ScaledOut:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def track_servers(http: requests.Session) -> list[str]:
    """Record which app server answered each request of `http` (HAProxy's X-Served-By)."""
    served: list[str] = []

    def note(response: requests.Response, *args: Any, **kwargs: Any) -> None:
        served.append(response.headers.get(SERVED_BY, ""))

    http.hooks["response"].append(note)
    return served

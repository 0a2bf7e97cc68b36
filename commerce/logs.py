"""Where log lines go when the deployment did not say: standard error, with a time, a level
and the source, so the warnings the app gives about outages (rate limits counted in memory,
the broker or the search engine unreachable) reach gunicorn's error log.

Libraries that attach a NullHandler to their logger (Flask-Limiter) are silent without a
handler on the root logger; a deployment that configures logging itself (gunicorn
--log-config, the Celery worker) keeps its own.
"""

from __future__ import annotations

import logging

from flask import Flask

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging(app: Flask) -> None:
    root = logging.getLogger()
    if root.handlers:
        return
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter(FORMAT))
    root.addHandler(handler)
    root.setLevel(app.config.get("LOG_LEVEL") or logging.WARNING)

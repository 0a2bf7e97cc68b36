"""The reference for the benchmarks' figures: a Flask hello-world, served by gunicorn with the
same settings as the shop and measured by the same client in the same run, so a figure can
be read as a share of what this machine, server and client can do at all.

    gunicorn bench._hello:app
"""

from __future__ import annotations

from flask import Flask

app = Flask(__name__)


@app.get("/")
def hello() -> str:
    return "Hello, world!"

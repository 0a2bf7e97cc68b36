"""The Admin REST API at /api/v1: a third web face over the same domain services as the
console, for integrations. Tokens only (Authorization: Bearer), never the console's cookie.

`web` holds what every endpoint shares; a module per resource holds its endpoints, each
parsing its input, calling one domain service and rendering the answer."""

from __future__ import annotations

from flask import Flask

from api import (  # noqa: F401  (register their routes)
    catalog,
    docs,
    inventory,
    orders,
    products,
    promotions,
    purchasing,
    returns,
)
from api.web import bp, finish, http_problem, is_api_request, problem_response

__all__ = ["bp", "http_problem", "init_app", "is_api_request", "problem_response"]


def init_app(app: Flask) -> None:
    """Register the blueprint, the request id on every /api answer, and `flask api spec`."""
    app.register_blueprint(bp)
    app.after_request(finish)
    docs.register_cli(app)

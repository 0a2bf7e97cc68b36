"""A page or its fragment: one URL serves both, htmx asks for the fragment."""

from __future__ import annotations

from typing import Any

from flask import make_response, render_template, request
from werkzeug.wrappers import Response


def is_htmx() -> bool:
    """An htmx request wanting a fragment (a boosted link or a history restore wants the page)."""
    if request.headers.get("HX-History-Restore-Request"):
        return False
    return bool(getattr(request, "htmx", False)) and not request.htmx.boosted


def render(
    page: str, fragment: str | None = None, /, *, status: int = 200, **context: Any
) -> Response:
    """The full page for a normal request, only the fragment for an htmx request."""
    template = fragment if fragment and is_htmx() else page
    return make_response(render_template(template, **context), status)

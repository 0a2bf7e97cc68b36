"""Helpers every console view shares: toasts, the answer after a successful POST, query
arguments. Pages and fragments, and forms, are handled as in the shop (web.pages, web.forms)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from flask import flash, make_response, redirect, request
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Response

from commerce.bounds import INT_MAX
from commerce.errors import CommerceError
from web.pages import is_htmx


def whole_page_in_body(response: Response) -> Response:
    """A boosted link or form answers with a whole page: land it in <body>, never in the
    hx-target a link inherits from its list (a console inside the list)."""
    htmx = getattr(request, "htmx", None)
    if (
        htmx
        and htmx.boosted
        and response.mimetype == "text/html"
        and "HX-Retarget" not in response.headers
    ):
        response.headers["HX-Retarget"] = "body"
        response.headers["HX-Reswap"] = "innerHTML show:top"
    return response


def toast(response: Response, message: str, *, level: str = "success") -> Response:
    """Show a toast after an htmx swap (HX-Trigger), merging with triggers already set."""
    existing = response.headers.get("HX-Trigger")
    triggers: dict[str, Any] = {}
    if existing:
        try:
            triggers = json.loads(existing)
        except ValueError:
            triggers = {existing: True}
    triggers["toast"] = {"message": message, "level": level}
    response.headers["HX-Trigger"] = json.dumps(triggers)
    return response


def done(message: str, target: str, *, level: str = "success") -> Response:
    """After a successful POST: htmx gets a redirect header and a toast; a browser a 303 + flash."""
    if is_htmx():
        response = make_response("", 204)
        response.headers["HX-Location"] = target
        return toast(response, message, level=level)
    flash(message, level)
    return redirect(target, code=303)


def form_error_summary(exc: CommerceError) -> str:
    errors = getattr(exc, "errors", None) or {}
    if not errors:
        return exc.message
    first = next(iter(errors.values()))
    return first[0] if len(errors) == 1 and len(first) == 1 else exc.message


def int_arg(name: str) -> int | None:
    """A whole number from the query string (an id, a row's index), or None: a number too
    large for a column finds nothing."""
    value = request.args.get(name, "").strip()
    return int(value) if value.isdigit() and int(value) <= INT_MAX else None


def kept_filter_args(
    args: MultiDict[str, str], keys: Iterable[str], multi: Iterable[str] = ()
) -> dict[str, str | list[str]]:
    """A list's own non-empty query parameters (no paging), for sort links, pages and presets;
    the `multi` keys keep every value."""
    many = set(multi)
    kept: dict[str, str | list[str]] = {}
    for key in keys:
        values = [v for v in args.getlist(key) if v.strip()]
        if values:
            kept[key] = values if key in many else values[0]
    return kept

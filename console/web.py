"""Helpers every console view shares: page-or-fragment rendering, 422 forms, toasts."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from flask import flash, make_response, redirect, render_template, request
from flask_wtf import FlaskForm
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Response

from commerce.errors import CommerceError, ValidationError


def is_htmx() -> bool:
    """An htmx request that wants a fragment: not a boosted navigation and not htmx restoring a
    page from history (both need the whole page)."""
    htmx = getattr(request, "htmx", None)
    return bool(htmx) and not htmx.boosted and not htmx.history_restore_request


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


def render(
    page: str, fragment: str | None = None, /, *, status: int = 200, **context: Any
) -> Response:
    """The full page for a normal request, only the fragment for an htmx request."""
    template = fragment if fragment and is_htmx() else page
    return make_response(render_template(template, **context), status)


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


def apply_errors(form: FlaskForm | None, exc: CommerceError) -> dict[str, list[str]]:
    """Copy a domain error's messages onto the form's fields; the rest become form-level errors.

    Returns the messages that did not fit a field (also appended to `form.form_errors`).
    """
    errors: Mapping[str, list[str]] = getattr(exc, "errors", None) or {
        exc.field or "": [exc.message]
    }
    leftover: dict[str, list[str]] = {}
    for name, messages in errors.items():
        field = getattr(form, name, None) if form is not None and name else None
        if field is not None and hasattr(field, "errors"):
            field.errors = list(field.errors or []) + list(messages)
        else:
            leftover.setdefault(name or "form", []).extend(messages)
    if not errors and isinstance(exc, ValidationError):
        leftover["form"] = [exc.message]
    if form is not None:
        for key, messages in leftover.items():
            if not key.startswith("rules"):
                form.form_errors.extend(messages)
    return leftover


def form_error_summary(exc: CommerceError) -> str:
    errors = getattr(exc, "errors", None) or {}
    if not errors:
        return exc.message
    first = next(iter(errors.values()))
    return first[0] if len(errors) == 1 and len(first) == 1 else exc.message


def int_arg(name: str) -> int | None:
    value = request.args.get(name, "").strip()
    return int(value) if value.isdigit() else None


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

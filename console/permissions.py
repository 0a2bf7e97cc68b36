"""Every console route declares the permission it needs; the server checks it on each request.

`ROUTE_PERMISSIONS` maps endpoint -> permission (or PUBLIC), so a test can walk every route
and prove each one is guarded.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, NamedTuple, TypeVar

from flask import Blueprint, abort, redirect, request, url_for
from flask_login import current_user

from commerce.staff.permissions import PERMISSIONS

PUBLIC = "public"
ROUTE_PERMISSIONS: dict[str, str] = {}
F = TypeVar("F", bound=Callable[..., Any])


def login_redirect() -> Any:
    target = url_for("console.login", next=request.full_path.rstrip("?"))
    if request.headers.get("HX-Request"):
        response = redirect(target)
        response.status_code = 401
        response.headers["HX-Redirect"] = target
        return response
    return redirect(target)


def requires(permission: str) -> Callable[[F], F]:
    """Guard a view: anonymous visitors go to sign-in, others need `permission` (403 otherwise)."""
    if permission != PUBLIC and permission not in PERMISSIONS:
        raise KeyError(f"unknown permission {permission!r}")

    def decorate(view: F) -> F:
        @wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            if permission != PUBLIC:
                if not current_user.is_authenticated:
                    return login_redirect()
                if not current_user.can(permission):
                    abort(403)
            return view(*args, **kwargs)

        guarded.required_permission = permission  # type: ignore[attr-defined]
        return guarded  # type: ignore[return-value]

    return decorate


class Route(NamedTuple):
    """One line of an area's route table: a URL below /console, the view answering it, the
    permission it needs, and the options of Flask's `add_url_rule` (methods, endpoint)."""

    rule: str
    view: Callable[..., Any]
    permission: str
    methods: list[str] | None = None
    endpoint: str | None = None


def register(bp: Blueprint, routes: list[Route]) -> None:
    """Add each route to the blueprint behind its permission check, and declare it in
    ROUTE_PERMISSIONS (the route walk test reads it)."""
    for route in routes:
        endpoint = route.endpoint or route.view.__name__
        ROUTE_PERMISSIONS[f"{bp.name}.{endpoint}"] = route.permission
        bp.add_url_rule(
            route.rule, endpoint, requires(route.permission)(route.view), methods=route.methods
        )

"""What every Admin API endpoint shares: the blueprint, the OpenAPI generator, token
authentication with scopes, per-token rate limits, idempotency keys, problem+json errors and
the request id.

A request goes through, in order: the rate limit (flask-limiter, keyed by the token's hash),
`_before` (request id, bearer token, scope, Idempotency-Key of a POST), the view (spectree
validates the query or body against its pydantic model; the view calls one domain service and
renders), and `_after` (stores the first answer of a keyed POST, adds the request id).
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from flask import Blueprint, Response, current_app, g, request
from pydantic import BaseModel, ConfigDict, Field, field_validator
from spectree import SecurityScheme, SecuritySchemeData, SpecTree
from werkzeug.exceptions import HTTPException, NotFound

from commerce.bounds import INT_MAX
from commerce.errors import CommerceError, ValidationError
from commerce.extensions import csrf, limiter
from commerce.staff.permissions import SCOPES
from commerce.staff.tokens import (
    TokenActor,
    TokenRejected,
    actor_for,
    authenticate_token,
    claim_idempotency_key,
    release_key,
    store_answer,
)

PREFIX = "/api/v1"
PROBLEM_JSON = "application/problem+json"
REQUEST_ID = "X-Request-Id"
SECURITY = "token"
F = TypeVar("F", bound=Callable[..., Any])

bp = Blueprint("api", __name__, url_prefix=PREFIX)
csrf.exempt(bp)  # no cookies are read: a request proves itself with its bearer token alone


class ProblemError(BaseModel):
    """One input at fault: a JSON pointer into the body (or the parameter's name)."""

    pointer: str
    detail: str


class Problem(BaseModel):
    """RFC 9457 problem details, the body of every 4xx and 5xx answer."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str = ""
    instance: str | None = None
    request_id: str | None = None
    errors: list[ProblemError] = Field(default_factory=list)


# The problems every operation may answer with, for the OpenAPI document: a list (400 a bad
# query, 401, 403), one record (and 404), a write (and 409).
ERRORS = {"HTTP_400": Problem, "HTTP_401": Problem, "HTTP_403": Problem}
ONE_ERRORS = {**ERRORS, "HTTP_404": Problem}
WRITE_ERRORS = {**ONE_ERRORS, "HTTP_409": Problem}


spec = SpecTree(
    "flask",
    title="Commerce Admin API",
    version="1.0.0",
    description=(
        "The back office's REST API: products, inventory, orders, customers and locations, "
        "over the same domain services as the console. Authenticate with "
        "`Authorization: Bearer <token>` (tokens are made in Console → Staff → API tokens); "
        "each operation names the scope it needs. Every POST takes an `Idempotency-Key`. "
        "Errors are `application/problem+json` (RFC 9457). Money is an integer in minor "
        "units with a currency code; timestamps are ISO 8601 in UTC."
    ),
    mode="strict",
    annotations=False,
    validation_error_status=422,
    validation_error_model=Problem,
    security_schemes=[
        SecurityScheme(
            name=SECURITY,
            data=SecuritySchemeData(
                type="http",
                scheme="bearer",
                bearer_format="cmk_…",
                description="An API token from Console → Staff → API tokens.",
            ),
        )
    ],
    naming_strategy=lambda model: model.__name__,
    nested_naming_strategy=lambda _parent, child: child,
)


# -- problems -----------------------------------------------------------------------------------

TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    402: "Payment failed",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    412: "Precondition failed",
    415: "Unsupported media type",
    422: "Unprocessable content",
    428: "Precondition required",
    429: "Too many requests",
    500: "Internal server error",
    503: "Service unavailable",
}


class ApiProblem(Exception):
    """Raised by the API layer for an answer that is not a domain error (auth, preconditions,
    idempotency); rendered as problem+json."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        code: str | None = None,
        errors: list[tuple[str, str]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.code = code
        self.errors = errors or []
        self.headers = headers or {}


def problem_response(
    status: int,
    detail: str = "",
    *,
    code: str | None = None,
    errors: list[tuple[str, str]] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    body = Problem(
        type=f"{PREFIX}/docs#problem-{code}" if code else "about:blank",
        title=TITLES.get(status, "Error"),
        status=status,
        detail=detail,
        instance=request.path,
        request_id=request_id(),
        errors=[ProblemError(pointer=p, detail=d) for p, d in errors or []],
    )
    response = Response(body.model_dump_json(), status, mimetype=PROBLEM_JSON)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


# The keys by which a body's `lines` name the record a service's ("line", id) path means.
LINE_KEYS = ("order_line_id", "return_line_id")


def _pointer(field: Any) -> str:
    """A service's field name (`quantity`, `lines.0.quantity`) or structured path
    (`("line", 7)`, commerce.errors.ErrorPath) as a JSON pointer into the body: a line the
    service names by its id points at the body's `lines` item that sent it."""
    parts = field if isinstance(field, tuple) else str(field).split(".")  # a path, or a name
    if len(parts) == 2 and parts[0] == "line":
        index = _line_index(parts[1])
        if index is not None:
            return f"/lines/{index}"
    return "/" + "/".join(str(part) for part in parts)


def _line_index(line_id: Any) -> int | None:
    body = request.get_json(silent=True) if request.is_json else None
    lines = body.get("lines") if isinstance(body, dict) else None
    for index, line in enumerate(lines if isinstance(lines, list) else []):
        if isinstance(line, dict) and any(line.get(k) == line_id for k in LINE_KEYS):
            return index
    return None


def domain_problem(exc: CommerceError) -> Response:
    errors: list[tuple[str, str]] = []
    if isinstance(exc, ValidationError):
        for field, messages in exc.errors.items():
            errors += [(_pointer(field), message) for message in messages]
    elif exc.field:
        errors.append((_pointer(exc.field), exc.message))
    headers = {}
    if isinstance(exc, TokenRejected):
        headers["WWW-Authenticate"] = 'Bearer realm="api", error="invalid_token"'
    return problem_response(exc.status, exc.message, code=exc.code, errors=errors, headers=headers)


def http_problem(exc: HTTPException) -> Response:
    """Werkzeug's errors (404 of an unknown URL, 405, 429 of the rate limit) as problems."""
    status = exc.code or 500
    detail = exc.description or ""
    if status == 429:
        detail = f"Rate limit exceeded ({detail}). Retry after the time in Retry-After."
    headers = {}
    allowed = getattr(exc, "valid_methods", None)
    if status == 405 and allowed and not _routed_to_api(sorted(allowed)[0]):
        # Another face's route (the shop's pages) took the path for its methods: under
        # /api/v1 no such resource exists, whatever the method.
        status, detail, allowed = 404, NotFound.description or "", None
    if status == 405 and allowed:
        headers["Allow"] = ", ".join(sorted(allowed))
    if status == 429:
        headers = {k: v for k, v in (exc.get_headers() or []) if k.lower() == "retry-after"}
    return problem_response(status, detail, headers=headers)


def _routed_to_api(method: str) -> bool:
    """Whether this path is one of the API's routes for `method`."""
    try:
        endpoint, _args = current_app.url_map.bind("api").match(request.path, method=method)
    except HTTPException:
        return False
    return str(endpoint).startswith(f"{bp.name}.")


@bp.errorhandler(ApiProblem)
def _api_problem(exc: ApiProblem) -> Response:
    return problem_response(
        exc.status, exc.detail, code=exc.code, errors=exc.errors, headers=exc.headers
    )


@bp.errorhandler(CommerceError)
def _domain_problem(exc: CommerceError) -> Response:
    return domain_problem(exc)


@bp.errorhandler(HTTPException)
def _http_problem(exc: HTTPException) -> Response:
    return http_problem(exc)


def validation_hook(
    req: Any, resp: Any, req_validation_error: Any, instance: Any, model_adapter: Any = None
) -> None:
    """spectree's before-hook: an invalid query answers 400, an invalid body 422, as problems
    whose `errors` point at each field."""
    if req_validation_error is None:
        return
    errors = []
    for err in req_validation_error.errors():
        location = [str(part) for part in err.get("loc", ())]
        errors.append(("/" + "/".join(location), err.get("msg", "invalid")))
    in_body = req.method in ("POST", "PUT", "PATCH") and req.is_json
    raise ApiProblem(
        422 if in_body else 400,
        "The request body has invalid fields." if in_body else "Invalid query parameters.",
        code="invalid",
        errors=errors,
    )


spec.before = validation_hook


# -- the request id ----------------------------------------------------------------------------

_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def request_id() -> str:
    """The caller's X-Request-Id when it is sane, else one we make; echoed on every answer."""
    if "api_request_id" not in g:
        given = request.headers.get(REQUEST_ID, "")
        g.api_request_id = given if _REQUEST_ID_RE.match(given) else uuid.uuid4().hex
    return g.api_request_id


# -- scopes, tokens, rate limits -----------------------------------------------------------------

PUBLIC_ENDPOINTS = {"api.openapi_json", "api.docs"}


def scope(name: str) -> Callable[[F], F]:
    """Declare the scope a view needs (checked before the view, listed in the OpenAPI doc)."""
    if name not in SCOPES:
        raise KeyError(f"unknown scope {name!r}")

    def decorate(view: F) -> F:
        view.api_scope = name  # type: ignore[attr-defined]
        return view

    return decorate


def security(name: str) -> list[dict[str, list[str]]]:
    """The OpenAPI security requirement of an operation that needs scope `name`."""
    return [{SECURITY: [name]}]


def bearer_secret() -> str | None:
    header = request.headers.get("Authorization", "")
    kind, _, secret = header.partition(" ")
    return secret.strip() or None if kind.lower() == "bearer" else None


def _rate_limit_key() -> str:
    """Per token (its secret's hash: no database read before the limit is checked)."""
    secret = bearer_secret()
    if secret:
        return "api:" + hashlib.sha256(secret.encode()).hexdigest()[:32]
    return "api-anonymous:" + (request.remote_addr or "")


limiter.limit(
    lambda: current_app.config["API_RATE_LIMIT"],
    key_func=_rate_limit_key,
    exempt_when=lambda: request.endpoint in PUBLIC_ENDPOINTS,
)(bp)


def actor() -> TokenActor:
    """The token acting in this request (the `by=` of the services it calls)."""
    return g.api_actor


@bp.before_request
def _before() -> Response | None:
    request_id()
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    token = authenticate_token(bearer_secret())
    g.api_actor = actor_for(token)
    view = current_app.view_functions.get(request.endpoint or "")
    needed = getattr(view, "api_scope", None)
    if needed and not g.api_actor.has_scope(needed):
        raise _insufficient(needed)
    if request.method in ("POST", "PUT", "PATCH") and request.get_data():
        try:
            json.loads(request.get_data())
        except ValueError:
            raise ApiProblem(400, "The request body is not valid JSON.", code="malformed") from None
    if request.method == "POST":
        return _idempotent_start()
    return None


def _insufficient(needed: str) -> ApiProblem:
    return ApiProblem(
        403,
        f"This token lacks the scope {needed!r}.",
        code="insufficient_scope",
        headers={
            "WWW-Authenticate": f'Bearer realm="api", error="insufficient_scope", scope="{needed}"'
        },
    )


# -- idempotency keys ---------------------------------------------------------------------------

IDEMPOTENCY_KEY = "Idempotency-Key"
_REPLAYED = "Idempotent-Replayed"
_KEPT_HEADERS = ("Content-Type", "Location", "ETag")


def fingerprint(method: str, path: str, body: bytes) -> str:
    """What a repeat must match to get the stored answer: the same operation and body."""
    digest = hashlib.sha256()
    digest.update(method.encode() + b" " + path.encode() + b"\n")
    digest.update(body)
    return digest.hexdigest()


def _idempotent_start() -> Response | None:
    """Claim the key, or answer a repeat: the stored first answer; 422 when the same key came
    with another request; 409 while the first is still running."""
    key = request.headers.get(IDEMPOTENCY_KEY, "").strip()
    if not key:
        raise ApiProblem(
            400,
            f"Send an {IDEMPOTENCY_KEY} header with every POST (a unique value per operation).",
            code="idempotency_key_missing",
            errors=[(f"header:{IDEMPOTENCY_KEY}", "required")],
        )
    mine = fingerprint(request.method, request.path, request.get_data())
    try:
        stored = claim_idempotency_key(g.api_actor.api_token_id, key, mine)
    except ValidationError as exc:
        raise ApiProblem(
            400, exc.message, code="invalid", errors=[(f"header:{IDEMPOTENCY_KEY}", exc.message)]
        ) from None
    if stored is None:
        g.api_idempotency_key = key
        return None
    if stored.fingerprint != mine:
        raise ApiProblem(
            422,
            f"This {IDEMPOTENCY_KEY} was used with a different request.",
            code="idempotency_key_reused",
            errors=[(f"header:{IDEMPOTENCY_KEY}", "used with a different request")],
        )
    if stored.status is None:
        raise ApiProblem(
            409,
            f"A request with this {IDEMPOTENCY_KEY} is still being processed.",
            code="idempotency_key_in_use",
            headers={"Retry-After": "1"},
        )
    response = Response(stored.body or "", stored.status)
    for name, value in stored.headers.items():
        response.headers[name] = value
    response.headers[_REPLAYED] = "true"
    return response


def derived_key() -> str:
    """This request's Idempotency-Key as a domain service's own key (per token, bounded
    length): a stock movement or a refund made under it happens once even past the API's
    store (a lease taken over, a purge)."""
    raw = request.headers.get(IDEMPOTENCY_KEY, "")
    return f"api:{g.api_actor.api_token_id}:" + hashlib.sha256(raw.encode()).hexdigest()[:40]


@bp.after_request
def _after(response: Response) -> Response:
    key = g.pop("api_idempotency_key", None)
    if key is not None:
        token_id = g.api_actor.api_token_id
        if response.status_code >= 500:
            release_key(token_id, key)
        else:
            kept = {h: response.headers[h] for h in _KEPT_HEADERS if h in response.headers}
            store_answer(
                token_id,
                key,
                status=response.status_code,
                body=response.get_data(as_text=True),
                headers=kept,
            )
    return response


def finish(response: Response) -> Response:
    """App-level after-request for every /api answer (the blueprint's and the unrouted 404s):
    the request id, and no caching of private data."""
    if request.path.startswith(PREFIX):
        response.headers[REQUEST_ID] = request_id()
        response.headers.setdefault("Cache-Control", "no-store")
    return response


# -- rendering helpers -------------------------------------------------------------------------


class ApiModel(BaseModel):
    """An input: unknown fields are refused, and no integer or text is what a database column
    cannot hold (it would fail in the query, a 500, instead of at its field)."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*")
    @classmethod
    def _fits_a_column(cls, value: Any) -> Any:
        items = value if isinstance(value, list) else [value]
        if any(isinstance(n, int) and not -INT_MAX <= n <= INT_MAX for n in items):
            raise ValueError(f"Use a number from {-INT_MAX:,} to {INT_MAX:,}.")
        if any(isinstance(t, str) and not _storable(t) for t in items):
            raise ValueError("Remove the control character (NUL) or the unpaired surrogate.")
        return value


def _storable(text: str) -> bool:
    """Text a database column keeps: no NUL (PostgreSQL refuses it) and valid UTF-8."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def timestamp(value: datetime | None) -> str | None:
    """ISO 8601 in UTC (the database keeps naive UTC)."""
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.replace(microsecond=0).isoformat() + "Z"


def is_api_request() -> bool:
    return request.path.startswith(PREFIX + "/") or request.path == PREFIX

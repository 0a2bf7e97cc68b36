"""Shapes shared by the API's resources: money, pages, and ETags of representations."""

from __future__ import annotations

import hashlib
from typing import Annotated, Any

from flask import current_app, request, url_for
from pydantic import BaseModel, Field

from api.web import ApiModel, ApiProblem
from commerce.bounds import INT_MAX

MAX_PAGE = 200
# A row id in a body or query: larger numbers cannot be ids (and would overflow the column).
Id = Annotated[int, Field(ge=1, le=INT_MAX)]


class Money(BaseModel):
    """An amount in minor units (cents) with its ISO 4217 currency code."""

    amount: int
    currency: str = Field(min_length=3, max_length=3)


class MoneyIn(ApiModel):
    amount: int = Field(ge=0)
    currency: str = Field(min_length=3, max_length=3)


class Links(BaseModel):
    next: str | None = Field(None, description="The next page, absent on the last one.")


class PageQuery(ApiModel):
    limit: int | None = Field(None, ge=1, le=MAX_PAGE, description="Items per page.")
    cursor: str | None = Field(None, description="From a previous page's `links.next`.")


def money(amount: int | None, currency: str) -> Money | None:
    return None if amount is None else Money(amount=amount, currency=currency)


def page_limit(value: int | None) -> int:
    return value or current_app.config["API_PAGE_SIZE"]


def next_link(endpoint: str, cursor: str | None, **args: Any) -> str | None:
    """The absolute URL of the next page: the same filters, the next cursor."""
    if cursor is None:
        return None
    kept = {k: v for k, v in args.items() if v is not None}
    return url_for(endpoint, cursor=cursor, _external=True, **kept)


def paged(body: BaseModel, next_url: str | None) -> tuple[BaseModel, int, dict[str, str]]:
    """A list's answer: the page, with its next page also in a `Link` header."""
    return body, 200, ({"Link": f'<{next_url}>; rel="next"'} if next_url else {})


def etag_of(model: BaseModel) -> str:
    """A strong ETag: a digest of the representation (any visible change changes it)."""
    return '"' + hashlib.sha256(model.model_dump_json().encode()).hexdigest()[:32] + '"'


def require_match(current: str) -> None:
    """Optimistic concurrency: a write must name the version it read (If-Match)."""
    given = request.headers.get("If-Match")
    if not given:
        raise ApiProblem(
            428,
            "Send If-Match with the ETag of the version you changed.",
            code="precondition_required",
        )
    tags = [t.strip() for t in given.split(",")]
    if "*" not in tags and current not in tags and f"W/{current}" not in tags:
        raise ApiProblem(
            412,
            "The resource changed since you read it: read it again and retry.",
            code="precondition_failed",
        )


def check_currency(value: MoneyIn | None, shop_currency: str, field: str) -> int | None:
    if value is None:
        return None
    if value.currency.upper() != shop_currency:
        raise ApiProblem(
            422,
            f"Prices are in the shop's currency, {shop_currency}.",
            code="invalid",
            errors=[(f"/{field}/currency", f"must be {shop_currency}")],
        )
    return value.amount

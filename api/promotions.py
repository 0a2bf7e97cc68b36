"""Promotions (read) and their coupon codes (read; add one; generate a batch as a background
job), over the promotions' services and queries the console's builder uses."""

from __future__ import annotations

from typing import Any, Literal

from flask import current_app, request, url_for
from pydantic import BaseModel, Field
from spectree import Response as Responses

from api.schemas import Links, Money, PageQuery, next_link, page_limit, paged
from api.web import (
    ERRORS,
    ONE_ERRORS,
    ApiModel,
    Problem,
    actor,
    bp,
    scope,
    security,
    spec,
)
from api.web import timestamp as ts
from commerce.db import utcnow
from commerce.extensions import db
from commerce.jobs import Job
from commerce.paging import ids_after
from commerce.promotions.code_jobs import codes_job
from commerce.promotions.coupons import MAX_GENERATE, add_coupon_code
from commerce.promotions.models import CouponCode, Promotion
from commerce.promotions.queries import (
    PROMOTION_SORTS,
    PromotionFilter,
    coupon_codes,
    list_promotions,
    reference_names,
)
from commerce.promotions.services import Usage, get_promotion, usage
from commerce.promotions.summary import Names, summarize_promotion
from commerce.promotions.tasks import start_code_generation

TAG = "promotions"
Status = Literal["draft", "scheduled", "active", "expired", "paused"]
Sort = Literal["updated", "name", "starts", "ends", "priority", "used"]
assert set(Sort.__args__) == set(PROMOTION_SORTS)  # type: ignore[attr-defined]
CREATE_ERRORS = {**ONE_ERRORS, "HTTP_409": Problem, "HTTP_422": Problem}


class Rule(BaseModel):
    """A condition or an action as the promotion stores it (see the console's builder)."""

    kind: str
    params: dict[str, Any]


class PromotionUsage(BaseModel):
    orders: int = Field(description="Orders that carry it (cancelled ones gave their use back).")
    discount: Money = Field(description="What it took off those orders.")
    revenue: Money = Field(description="Those orders' totals.")


class PromotionOut(BaseModel):
    id: int
    name: str
    summary: str = Field(description="The promotion in one sentence, as the console says it.")
    description: str
    state: str = Field(description="draft, enabled or paused: what was chosen")
    status: str = Field(description="draft, scheduled, active, expired or paused: by the clock")
    starts_at: str | None
    ends_at: str | None
    timezone: str
    priority: int
    stacking: str
    match: str
    requires_coupon: bool
    usage_limit: int | None
    usage_limit_per_customer: int | None
    usage_limit_per_code: int | None
    times_used: int
    code_count: int
    usage: PromotionUsage
    conditions: list[Rule]
    actions: list[Rule]
    created_at: str | None
    updated_at: str | None


class PromotionPage(BaseModel):
    data: list[PromotionOut]
    links: Links


class PromotionQuery(PageQuery):
    q: str | None = Field(None, max_length=200, description="Part of the name, or a code's start.")
    status: Status | None = None
    has_code: bool | None = Field(None, description="true: only promotions with coupon codes.")
    sort: Sort = "updated"
    direction: Literal["asc", "desc"] = "desc"


class CodeOut(BaseModel):
    id: int
    promotion_id: int
    code: str
    batch: str = Field(description="The generated batch's label; empty for a single code.")
    times_used: int
    created_at: str | None


class CodePage(BaseModel):
    data: list[CodeOut]
    links: Links


class CodeQuery(PageQuery):
    batch: str | None = Field(None, max_length=40, description="Only this batch's codes.")


class CodeIn(ApiModel):
    code: str = Field(
        min_length=3,
        max_length=64,
        description="Letters, digits, dashes or underscores; stored upper-case.",
    )


class BatchIn(ApiModel):
    count: int = Field(ge=1, le=MAX_GENERATE)
    prefix: str = Field("", max_length=20, description="Up to 20 letters, digits, - or _.")
    length: int = Field(8, ge=6, le=20, description="Random characters after the prefix.")


class CodeJobOut(BaseModel):
    id: str
    promotion_id: int
    status: str = Field(description="queued, running, succeeded or failed")
    batch: str = Field(description="List the codes with `GET .../codes?batch=`.")
    done: int
    total: int
    message: str
    created_at: str | None
    finished_at: str | None


def _usage(figures: Usage, currency: str) -> PromotionUsage:
    return PromotionUsage(
        orders=figures.orders,
        discount=Money(amount=figures.discount, currency=currency),
        revenue=Money(amount=figures.revenue, currency=currency),
    )


def render_promotion(
    promotion: Promotion, *, status: str, code_count: int, figures: Usage, names: Names
) -> PromotionOut:
    currency = current_app.config["SHOP_CURRENCY"]
    codes = coupon_codes(promotion.id) if code_count == 1 else []
    return PromotionOut(
        id=promotion.id,
        name=promotion.name,
        summary=summarize_promotion(promotion, currency=currency, names=names, codes=codes),
        description=promotion.description,
        state=promotion.state,
        status=status,
        starts_at=ts(promotion.starts_at),
        ends_at=ts(promotion.ends_at),
        timezone=promotion.timezone,
        priority=promotion.priority,
        stacking=promotion.stacking,
        match=promotion.match,
        requires_coupon=promotion.requires_coupon,
        usage_limit=promotion.usage_limit,
        usage_limit_per_customer=promotion.usage_limit_per_customer,
        usage_limit_per_code=promotion.usage_limit_per_code,
        times_used=promotion.times_used,
        code_count=code_count,
        usage=_usage(figures, currency),
        conditions=[Rule(kind=c.kind, params=dict(c.params or {})) for c in promotion.conditions],
        actions=[Rule(kind=a.kind, params=dict(a.params or {})) for a in promotion.actions],
        created_at=ts(promotion.created_at),
        updated_at=ts(promotion.updated_at),
    )


@bp.get("/promotions", endpoint="list_promotions")
@scope("promotions:read")
@spec.validate(
    query=PromotionQuery,
    resp=Responses(HTTP_200=PromotionPage, **ERRORS),
    tags=[TAG],
    security=security("promotions:read"),
)
def list_promotions_view() -> tuple:
    """List promotions, filtered and sorted as in the console

    `status` is derived from the schedule now; `q` matches the name or a code's beginning.
    `sort`: `updated` (default), `name`, `starts`, `ends`, `priority`, `used`, with
    `direction`. Keyset pages: follow `links.next`; a cursor belongs to its sort."""
    query: PromotionQuery = request.context.query  # type: ignore[attr-defined]
    flt = PromotionFilter(
        q=query.q or "",
        statuses=(query.status,) if query.status else (),
        has_code=query.has_code,
        sort=query.sort,
        direction=query.direction,
    )
    page = list_promotions(flt, after=query.cursor, limit=page_limit(query.limit))
    args = query.model_dump(exclude={"cursor"}, exclude_none=True, exclude_defaults=True)
    nxt = next_link("api.list_promotions", page.next_cursor, **args)
    data = [
        render_promotion(
            row.promotion,
            status=row.status,
            code_count=row.code_count,
            figures=row.usage,
            names=page.names,
        )
        for row in page.items
    ]
    return paged(PromotionPage(data=data, links=Links(next=nxt)), nxt)


@bp.get("/promotions/<int:promotion_id>", endpoint="get_promotion")
@scope("promotions:read")
@spec.validate(
    resp=Responses(HTTP_200=PromotionOut, **ONE_ERRORS),
    tags=[TAG],
    security=security("promotions:read"),
)
def get_promotion_view(promotion_id: int) -> PromotionOut:
    """Read a promotion: its rules, schedule, limits and usage"""
    promotion = get_promotion(promotion_id)
    count = db.session.scalar(
        db.select(db.func.count(CouponCode.id)).where(CouponCode.promotion_id == promotion.id)
    )
    return render_promotion(
        promotion,
        status=promotion.status_at(utcnow()),
        code_count=int(count or 0),
        figures=usage([promotion.id]).get(promotion.id, Usage()),
        names=reference_names([promotion]),
    )


def render_code(coupon: CouponCode) -> CodeOut:
    return CodeOut(
        id=coupon.id,
        promotion_id=coupon.promotion_id,
        code=coupon.code,
        batch=coupon.batch,
        times_used=coupon.times_used,
        created_at=ts(coupon.created_at),
    )


@bp.get("/promotions/<int:promotion_id>/codes", endpoint="list_codes")
@scope("promotions:read")
@spec.validate(
    query=CodeQuery,
    resp=Responses(HTTP_200=CodePage, **ONE_ERRORS),
    tags=[TAG],
    security=security("promotions:read"),
)
def list_codes_view(promotion_id: int) -> tuple:
    """List a promotion's coupon codes in the order they were made

    `batch` lists one generated batch. Keyset pages: follow `links.next`."""
    query: CodeQuery = request.context.query  # type: ignore[attr-defined]
    promotion = get_promotion(promotion_id)
    stmt = db.select(CouponCode).where(CouponCode.promotion_id == promotion.id)
    if query.batch is not None:
        stmt = stmt.where(CouponCode.batch == query.batch)
    rows, cursor = ids_after(
        stmt, CouponCode.id, after=query.cursor, limit=page_limit(query.limit), scalars=True
    )
    args = query.model_dump(exclude={"cursor"}, exclude_none=True)
    nxt = next_link("api.list_codes", cursor, promotion_id=promotion.id, **args)
    return paged(CodePage(data=[render_code(c) for c in rows], links=Links(next=nxt)), nxt)


@bp.post("/promotions/<int:promotion_id>/codes", endpoint="create_code")
@scope("promotions:write")
@spec.validate(
    json=CodeIn,
    resp=Responses(HTTP_201=CodeOut, **CREATE_ERRORS),
    tags=[TAG],
    security=security("promotions:write"),
)
def create_code_view(promotion_id: int) -> tuple:
    """Add one coupon code (e.g. SUMMER) to a promotion

    Codes are unique across promotions (422 at `/code` when taken) and matched
    case-insensitively."""
    body: CodeIn = request.context.json  # type: ignore[attr-defined]
    coupon = add_coupon_code(get_promotion(promotion_id), code=body.code, by=actor())
    location = url_for("api.list_codes", promotion_id=promotion_id, _external=True)
    return render_code(coupon), 201, {"Location": location}


def render_job(job: Job) -> CodeJobOut:
    return CodeJobOut(
        id=job.id,
        promotion_id=int(job.params["promotion_id"]),
        status=job.status,
        batch=str(job.params.get("batch", "")),
        done=job.done,
        total=job.total,
        message=job.message,
        created_at=ts(job.created_at),
        finished_at=ts(job.finished_at),
    )


@bp.post("/promotions/<int:promotion_id>/codes/batch", endpoint="generate_codes")
@scope("promotions:write")
@spec.validate(
    json=BatchIn,
    resp=Responses(HTTP_202=CodeJobOut, **CREATE_ERRORS),
    tags=[TAG],
    security=security("promotions:write"),
)
def generate_codes_view(promotion_id: int) -> tuple:
    """Generate a batch of unique random codes as a background job

    `count` codes `<prefix><length random characters>` (no look-alike characters). The
    answer is the job (202): follow `Location` until `status` is `succeeded`, then list the
    codes with `?batch=`."""
    body: BatchIn = request.context.json  # type: ignore[attr-defined]
    promotion = get_promotion(promotion_id)
    job = start_code_generation(
        promotion, count=body.count, prefix=body.prefix, length=body.length, by=actor()
    )
    location = url_for("api.get_code_job", promotion_id=promotion.id, job_id=job.id, _external=True)
    return render_job(job), 202, {"Location": location}


@bp.get("/promotions/<int:promotion_id>/codes/jobs/<job_id>", endpoint="get_code_job")
@scope("promotions:read")
@spec.validate(
    resp=Responses(HTTP_200=CodeJobOut, **ONE_ERRORS),
    tags=[TAG],
    security=security("promotions:read"),
)
def get_code_job_view(promotion_id: int, job_id: str) -> CodeJobOut:
    """Follow a code generation job's progress"""
    return render_job(codes_job(job_id[:36], promotion_id))

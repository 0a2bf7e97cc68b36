"""Search analytics: top queries, queries that found nothing and click-through, over a period.

Read only. The period is the last 7, 30 or 90 days or two dates, as days in the shop's time
zone; each table sorts and pages on its own, all in the URL. A no-result query can become a
synonym or a query rule in one step (the search console's forms, prefilled).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import current_app, request, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from commerce.errors import ValidationError
from commerce.orders.queries import to_shop_time
from commerce.search import analytics
from console.web import kept_filter_args
from web.pages import render

DEFAULT_DAYS = 30
KEPT = ("period", "from", "to", "sort", "dir", "page", "nsort", "ndir", "npage")
ASCENDING_FIRST = {"query"}  # sorts that start A to Z; the figures start with the largest


def _date(name: str, errors: dict[str, list[str]]) -> date | None:
    raw = request.args.get(name, "").strip()
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        errors[name] = [f"“{raw[:20]}” is not a date (YYYY-MM-DD)."]
        return None


def _page(name: str) -> int:
    raw = request.args.get(name, "")
    return min(int(raw), 10_000) if raw.isdigit() and int(raw) > 0 else 1


def _period(errors: dict[str, list[str]]) -> analytics.Period | None:
    """The period the URL asks for; field messages in `errors` when it cannot be read."""
    choice = request.args.get("period", "").strip() or str(DEFAULT_DAYS)
    try:
        if choice == "dates":
            first, last = _date("from", errors), _date("to", errors)
            if errors:
                return None
            period = analytics.between(first, last)
        else:
            period = analytics.last_days(int(choice) if choice.isdigit() else 0)
    except ValidationError as exc:
        # The service names the dates start/end; the form calls them from/to.
        names = {"start": "from", "end": "to"}
        for key, messages in exc.errors.items():
            errors.setdefault(names.get(key, key), []).extend(messages)
        return None
    return period


def search_analytics() -> Response:
    errors: dict[str, list[str]] = {}
    period = _period(errors)
    args = request.args
    report = None
    if period is not None:
        report = analytics.report(
            period.start,
            period.end,
            sort=args.get("sort", "searches"),
            direction=args.get("dir", "desc"),
            page=_page("page"),
            no_results_sort=args.get("nsort", "searches"),
            no_results_direction=args.get("ndir", "desc"),
            no_results_page=_page("npage"),
        )
    kept = kept_filter_args(args, KEPT)

    def link(**changes: Any) -> str:
        params = {**kept, **changes}
        return url_for(
            "console.search_analytics",
            **{k: v for k, v in params.items() if v not in (None, "")},
        )

    def sort_link(table: str, key: str) -> str:
        """Sort a table by `key` (again: the other way), from its first page."""
        sort_arg, dir_arg, page_arg = (
            ("sort", "dir", "page") if table == "top" else ("nsort", "ndir", "npage")
        )
        rows = report.top if table == "top" else report.no_results  # type: ignore[union-attr]
        if rows.sort == key:
            direction = "asc" if rows.direction == "desc" else "desc"
        else:
            direction = "asc" if key in ASCENDING_FIRST else "desc"
        return link(**{sort_arg: key, dir_arg: direction, page_arg: None})

    return render(
        "console/search/analytics.html",
        "console/search/_analytics_report.html",
        status=422 if errors else 200,
        report=report,
        period=period,
        choice=(args.get("period", "").strip() or str(DEFAULT_DAYS)),
        periods=analytics.PERIODS,
        errors=errors,
        args=args,
        link=link,
        sort_link=sort_link,
        shop_time=to_shop_time,
        timezone=current_app.config["SHOP_TIMEZONE"],
        can_edit=current_user.can("search.edit"),  # the one-step synonym and rule links
    )

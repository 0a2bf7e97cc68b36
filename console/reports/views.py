"""Reports: sales over time, products and collections, promotions and codes, refunds by
reason, stock value; each a page with a chart and a table, and the same figures as CSV.

The range is in the URL (a preset or two dates, and the grouping), so a report can be
bookmarked and shared; a range that cannot be read answers 422 with the message at its field.
One URL serves the page and its htmx fragment (#report), which the range form swaps.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from flask import Response, request, url_for

from commerce.errors import ValidationError
from commerce.reports import csv_export, periods
from commerce.reports.periods import Period
from commerce.reports.rankings import (
    code_performance,
    products_and_collections,
    promotion_performance,
    promotions_and_codes,
    top_collections,
    top_products,
)
from commerce.reports.sales import (
    FIGURE_LABELS,
    FIGURES,
    SalesReport,
    refunds_by_reason,
    sales_over_time,
)
from commerce.reports.stock import stock_value
from console.charts import (
    LineChart,
    bar_chart,
    count_tick,
    line_chart,
    money_point,
    money_tick,
)
from web.pages import render

# Report -> (title, endpoint); the tabs, in order.
REPORTS: dict[str, tuple[str, str]] = {
    "sales": ("Sales over time", "console.report_sales"),
    "products": ("Products and collections", "console.report_products"),
    "promotions": ("Promotions and codes", "console.report_promotions"),
    "refunds": ("Refunds by reason", "console.report_refunds"),
    "stock": ("Stock value", "console.report_stock"),
}
KEPT = ("range", "from", "to", "bucket", "metric")  # not "shown": a link is not a form
DEFAULT_METRIC = "net"
BAR_ROWS = 10


def _chosen_range() -> str:
    """The range asked for. The form carries the dates it showed (`shown`) beside the dates
    in its fields: dates the merchant changed mean a custom range, whatever the preset says;
    otherwise the preset chosen wins."""
    args = request.args
    choice = args.get("range", "").strip() or periods.LAST_30
    typed = f"{args.get('from', '').strip()}/{args.get('to', '').strip()}"
    if choice != periods.CUSTOM and "shown" in args and typed != args.get("shown", "").strip():
        return periods.CUSTOM
    return choice


def _range(*, with_bucket: bool) -> tuple[Period | None, str, dict[str, list[str]]]:
    """The period and grouping the URL asks for, or the messages for its fields."""
    args = request.args
    try:
        period, bucket = periods.choose_period(
            _chosen_range(),
            first=args.get("from", ""),
            last=args.get("to", ""),
            bucket=(args.get("bucket", "").strip() or None) if with_bucket else periods.DAY,
        )
    except ValidationError as exc:
        return None, "", {str(k): v for k, v in exc.errors.items()}
    return period, bucket, {}


def _link(endpoint: str) -> Callable[..., str]:
    kept = {k: request.args.get(k, "") for k in KEPT}

    def link(**changes: Any) -> str:
        params = {**kept, **changes}
        return url_for(endpoint, **{k: v for k, v in params.items() if v not in (None, "")})

    return link


def _page(name: str, *, status: int = 200, **context: Any) -> Response:
    defaults: dict[str, Any] = {
        "period": None,
        "bucket": "",
        "figures": FIGURE_LABELS,
        "metric": _metric(),
        "errors": {},
    }
    return render(
        "console/reports/page.html",
        "console/reports/_report.html",
        status=status,
        report_name=name,
        reports=REPORTS,
        presets=periods.PRESET_LABELS,
        buckets=periods.BUCKET_LABELS,
        args=request.args,
        tab_args={k: v for k in ("range", "from", "to") if (v := request.args.get(k))},
        choice=_chosen_range(),
        link=_link(REPORTS[name][1]),
        csv_link=_link(f"{REPORTS[name][1]}_csv"),
        **{**defaults, **context},
    )


def _csv(text: str, name: str) -> Response:
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M")
    response = Response(text, mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{name}-{stamp}.csv"'
    return response


# -- sales over time ----------------------------------------------------------------------------


def _metric() -> str:
    metric = request.args.get("metric", "").strip()
    return metric if metric in FIGURES else DEFAULT_METRIC


def sales_chart(report: SalesReport, metric: str = DEFAULT_METRIC) -> LineChart:
    """`metric` per bucket over the report's period, the previous period dashed beside it (the
    report page and the dashboard)."""
    current, previous = report.series(metric)
    is_count = metric == "orders"
    label, bucket = FIGURE_LABELS[metric], report.bucket
    return line_chart(
        f"{label} by {bucket}",
        [r.label for r in report.rows],
        [
            (report.period.describe(), "current", current),
            (f"{report.previous.describe()} (previous period)", "previous", previous),
        ],
        tick=count_tick if is_count else money_tick(report.currency),
        point=count_tick if is_count else money_point(report.currency),
        description=(
            f"{label} per {bucket} from {report.period.describe()}, against the previous "
            "period of the same length; a table lists the same figures."
        ),
    )


def report_sales() -> Response:
    period, bucket, errors = _range(with_bucket=True)
    if errors or period is None:
        return _page("sales", status=422, errors=errors, bucket="")
    report = sales_over_time(period, bucket)
    metric = _metric()
    chart = sales_chart(report, metric)
    return _page(
        "sales",
        errors={},
        report=report,
        period=period,
        bucket=bucket,
        chart=chart,
    )


def report_sales_csv() -> Response:
    period, bucket, errors = _range(with_bucket=True)
    if errors or period is None:
        return _page("sales", status=422, errors=errors, bucket="")
    return _csv(csv_export.sales_csv(sales_over_time(period, bucket)), "sales")


# -- products and collections -------------------------------------------------------------------


def _ranking_chart(title: str, ranking: Any, figure: str, description: str) -> Any:
    rows = [
        (r.name, getattr(r, figure), getattr(r, f"previous_{figure}"))
        for r in ranking.rows[:BAR_ROWS]
    ]
    return bar_chart(title, rows, point=money_point(ranking.currency), description=description)


def report_products() -> Response:
    period, _bucket, errors = _range(with_bucket=False)
    if errors or period is None:
        return _page("products", status=422, errors=errors)
    products, collections = products_and_collections(period)
    return _page(
        "products",
        errors={},
        period=period,
        products=products,
        collections=collections,
        products_chart=_ranking_chart(
            "Top products by net sales",
            products,
            "net",
            f"The {BAR_ROWS} products with the most net sales from {period.describe()}, "
            "each above its figure for the previous period.",
        ),
        collections_chart=_ranking_chart(
            "Top collections by net sales",
            collections,
            "net",
            f"The {BAR_ROWS} collections with the most net sales from {period.describe()}.",
        ),
    )


def report_products_csv() -> Response:
    period, _bucket, errors = _range(with_bucket=False)
    if errors or period is None:
        return _page("products", status=422, errors=errors)
    if request.args.get("table") == "collections":
        return _csv(
            csv_export.ranking_csv(top_collections(period), kind="collections"), "collections"
        )
    return _csv(csv_export.ranking_csv(top_products(period), kind="products"), "products")


# -- promotions and codes -----------------------------------------------------------------------


def report_promotions() -> Response:
    period, _bucket, errors = _range(with_bucket=False)
    if errors or period is None:
        return _page("promotions", status=422, errors=errors)
    promotions, codes = promotions_and_codes(period)
    return _page(
        "promotions",
        errors={},
        period=period,
        promotions=promotions,
        codes=codes,
        promotions_chart=_ranking_chart(
            "Discount given by promotion",
            promotions,
            "discounts",
            f"Discount given by each promotion on orders placed from {period.describe()}.",
        ),
    )


def report_promotions_csv() -> Response:
    period, _bucket, errors = _range(with_bucket=False)
    if errors or period is None:
        return _page("promotions", status=422, errors=errors)
    if request.args.get("table") == "codes":
        return _csv(csv_export.ranking_csv(code_performance(period), kind="codes"), "codes")
    return _csv(
        csv_export.ranking_csv(promotion_performance(period), kind="promotions"), "promotions"
    )


# -- refunds by reason --------------------------------------------------------------------------


def report_refunds() -> Response:
    period, _bucket, errors = _range(with_bucket=False)
    if errors or period is None:
        return _page("refunds", status=422, errors=errors)
    report = refunds_by_reason(period)
    chart = bar_chart(
        "Refunds by reason",
        [(r.reason, r.amount, r.previous_amount) for r in report.rows[:BAR_ROWS]],
        point=money_point(report.currency),
        description=f"Money refunded from {period.describe()}, by the reason given.",
    )
    return _page("refunds", errors={}, period=period, report=report, chart=chart)


def report_refunds_csv() -> Response:
    period, _bucket, errors = _range(with_bucket=False)
    if errors or period is None:
        return _page("refunds", status=422, errors=errors)
    return _csv(csv_export.refunds_csv(refunds_by_reason(period)), "refunds")


# -- stock value --------------------------------------------------------------------------------


def report_stock() -> Response:
    report = stock_value()
    first = next(iter(report.valuations))
    chart = bar_chart(
        "Stock value by location",
        [(r.name, r.values.get(first, 0), 0) for r in report.locations[:BAR_ROWS]],
        point=money_point(report.currency),
        description="The value of the units on hand at each active location, at retail price.",
    )
    return _page("stock", errors={}, report=report, chart=chart, period=None)


def report_stock_csv() -> Response:
    return _csv(csv_export.stock_csv(stock_value()), "stock-value")

"""Each report as CSV: the rows the page shows, this period's and the previous one's figures
side by side, amounts in major units ("19.99") with the currency named in the header, every
cell through `csv_safe` (a product title never runs as a formula)."""

from __future__ import annotations

from commerce.csv_safe import BOM, SafeCsv
from commerce.money import format_amount_plain
from commerce.reports.periods import Change
from commerce.reports.rankings import Ranked, Ranking
from commerce.reports.sales import RefundReport, SalesReport
from commerce.reports.stock import StockReport


def _pct(change: Change) -> str:
    return "" if change.percent is None else f"{change.percent:.1f}"


def sales_csv(report: SalesReport) -> str:
    cur = report.currency
    out = SafeCsv()
    out.row(
        [
            "Period",
            "Starts",
            "Orders",
            f"Gross sales ({cur})",
            f"Discounts ({cur})",
            f"Refunds ({cur})",
            f"Net sales ({cur})",
            f"Average order value ({cur})",
            "Previous period starts",
            "Previous orders",
            f"Previous net sales ({cur})",
        ]
    )
    previous = report.previous_rows
    for i, row in enumerate(report.rows):
        before = previous[i] if i < len(previous) else None
        out.row(
            [
                row.label,
                row.first,
                row.orders,
                *(
                    format_amount_plain(v, cur)
                    for v in (row.gross, row.discounts, row.refunds, row.net, row.average_order)
                ),
                before.first if before else "",
                before.orders if before else "",
                format_amount_plain(before.net, cur) if before else "",
            ]
        )
    t, p = report.total, report.previous_total
    out.row(
        [
            f"Total {report.period.describe()}",
            report.period.first.isoformat(),
            t.orders,
            *(
                format_amount_plain(v, cur)
                for v in (t.gross, t.discounts, t.refunds, t.net, t.average_order)
            ),
            report.previous.first.isoformat(),
            p.orders,
            format_amount_plain(p.net, cur),
        ]
    )
    return BOM + out.take()


def ranking_csv(ranking: Ranking, *, kind: str) -> str:
    """`kind`: "products" and "collections" (units, orders, gross, discounts, net) or
    "promotions" and "codes" (uses, discount given, sales)."""
    cur = ranking.currency
    out = SafeCsv()
    if kind in ("products", "collections"):
        costed = [f"Cost of units sold ({cur})", f"Margin ({cur})"]
        out.row(
            [
                "Product" if kind == "products" else "Collection",
                "Units",
                "Orders",
                f"Gross sales ({cur})",
                f"Discounts ({cur})",
                f"Net sales ({cur})",
                f"Previous net sales ({cur})",
                "Change %",
                *(costed if kind == "products" else []),
            ]
        )
        for r in ranking.rows:
            out.row(
                [
                    r.name,
                    r.units,
                    "" if r.orders is None else r.orders,
                    format_amount_plain(r.gross, cur),
                    format_amount_plain(r.discounts, cur),
                    format_amount_plain(r.net, cur),
                    format_amount_plain(r.previous_net, cur),
                    _pct(r.change("net")),
                    *(_cost_and_margin(r, cur) if kind == "products" else []),
                ]
            )
    else:
        out.row(
            [
                "Promotion" if kind == "promotions" else "Code",
                "Uses",
                f"Discount given ({cur})",
                f"Sales ({cur})",
                "Previous uses",
                f"Previous discount given ({cur})",
                "Change %",
            ]
        )
        for r in ranking.rows:
            out.row(
                [
                    r.name,
                    r.units,
                    format_amount_plain(r.discounts, cur),
                    format_amount_plain(r.sales, cur),
                    r.previous_units,
                    format_amount_plain(r.previous_discounts, cur),
                    _pct(r.change("discounts")),
                ]
            )
    return BOM + out.take()


def _cost_and_margin(r: Ranked, cur: str) -> list[str]:
    """Blank where some units sold have no cost: a margin over part of them would mislead."""
    if r.margin is None:
        return ["", ""]
    return [format_amount_plain(r.cost or 0, cur), format_amount_plain(r.margin, cur)]


def refunds_csv(report: RefundReport) -> str:
    cur = report.currency
    out = SafeCsv()
    out.row(
        [
            "Reason",
            "Refunds",
            f"Amount ({cur})",
            "Previous refunds",
            f"Previous amount ({cur})",
            "Change %",
        ]
    )
    for r in report.rows:
        out.row(
            [
                r.reason,
                r.refunds,
                format_amount_plain(r.amount, cur),
                r.previous_refunds,
                format_amount_plain(r.previous_amount, cur),
                _pct(r.change),
            ]
        )
    return BOM + out.take()


def stock_csv(report: StockReport) -> str:
    cur = report.currency
    out = SafeCsv()
    labels = [f"Value {label.lower()} ({cur})" for label in report.valuations.values()]
    out.row(["Location", "SKU", "Product", "Units on hand", *labels])
    for row in report.locations:
        out.row([row.name, "", "", row.units, *_values(row.values, report, cur)])
    total = report.total
    out.row(["All active locations", "", "", total.units, *_values(total.values, report, cur)])
    for row in report.variants:
        out.row(["", row.detail, row.name, row.units, *_values(row.values, report, cur)])
    return BOM + out.take()


def _values(values: dict[str, int], report: StockReport, cur: str) -> list[str]:
    return [format_amount_plain(values.get(key, 0), cur) for key in report.valuations]

"""Charts as server-rendered SVG: the geometry here, the markup in templates/console/_charts.html.

No script and no style attribute (the CSP allows neither): the SVG carries presentation
attributes and classes that static/css/console.css colours; each point has a <title> (the
browser's own tooltip), the SVG a title and description for screen readers, and every chart is
shown beside a table of the same figures. Charting libraries were weighed: pygal writes a
<style> element and tooltips in script, which the CSP refuses; a few lines of geometry are
the whole need.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from babel.numbers import format_currency

from commerce.money import format_money, minor_digits

WIDTH, HEIGHT = 720, 260
LEFT, RIGHT, TOP, BOTTOM = 72, 16, 16, 34
MAX_X_LABELS = 8
MAX_DOTS = 120  # past this many points a line has no dots (they would merge)


def nice_step(span: float, ticks: int = 4) -> float:
    """A round step (1, 2, 2.5 or 5 times a power of ten) cutting `span` in about `ticks`."""
    if span <= 0:
        return 1.0
    raw = span / ticks
    power = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 2.5, 5, 10):
        if raw <= m * power:
            return m * power
    return 10 * power


def money_tick(currency: str) -> Callable[[float], str]:
    """An axis label in the currency without minor units ("$1,500"), from minor units."""

    def label(value: float) -> str:
        major = Decimal(int(value)).scaleb(-minor_digits(currency))
        return format_currency(
            major, currency, format="¤#,##0", locale="en_US", currency_digits=False
        )

    return label


def money_point(currency: str) -> Callable[[float], str]:
    return lambda value: format_money(int(value), currency)


def count_tick(value: float) -> str:
    return f"{value:,.0f}"


@dataclass
class Line:
    name: str
    css: str  # "current" or "previous": the stroke and dash come from the stylesheet
    points: str  # "x,y x,y ..." for <polyline>
    dots: list[tuple[float, float, str]] = field(default_factory=list)  # x, y, title


@dataclass
class LineChart:
    title: str
    description: str
    lines: list[Line]
    y_ticks: list[tuple[float, str]]  # y, label
    x_labels: list[tuple[float, str]]  # x, label
    zero_y: float
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    right: int = WIDTH - RIGHT
    top: int = TOP
    bottom: int = HEIGHT - BOTTOM
    empty: bool = False


def line_chart(
    title: str,
    labels: Sequence[str],
    series: Sequence[tuple[str, str, Sequence[int]]],
    *,
    tick: Callable[[float], str],
    point: Callable[[float], str],
    description: str = "",
) -> LineChart:
    """`series`: (name, css, values) each; values line up with `labels` (a shorter series, the
    previous period's, is drawn as far as it goes)."""
    values = [v for _n, _c, vs in series for v in vs]
    low, high = min([0, *values]), max([0, *values])
    step = nice_step(high - low)
    low = math.floor(low / step) * step
    high = max(math.ceil(high / step) * step, low + step)
    plot_w, plot_h = WIDTH - RIGHT - LEFT, HEIGHT - BOTTOM - TOP
    count = max(len(labels), 1)

    def x(i: int) -> float:
        return round(LEFT + (plot_w / 2 if count == 1 else i * plot_w / (count - 1)), 1)

    def y(v: float) -> float:
        return round(TOP + plot_h - (v - low) / (high - low) * plot_h, 1)

    lines = []
    for name, css, vs in series:
        shown = list(vs)[:count]
        dots = (
            [(x(i), y(v), f"{name}, {labels[i]}: {point(v)}") for i, v in enumerate(shown)]
            if count <= MAX_DOTS
            else []
        )
        lines.append(Line(name, css, " ".join(f"{x(i)},{y(v)}" for i, v in enumerate(shown)), dots))
    ticks = []
    value = low
    while value <= high + step / 1000:
        ticks.append((y(value), tick(value)))
        value += step
    every = max(1, math.ceil(count / MAX_X_LABELS))
    x_labels = [(x(i), label) for i, label in enumerate(labels) if i % every == 0]
    return LineChart(
        title=title,
        description=description,
        lines=lines,
        y_ticks=ticks,
        x_labels=x_labels,
        zero_y=y(0),
        empty=not any(values),
    )


@dataclass
class Bar:
    label: str
    y: float
    width: float
    previous_width: float
    value: str
    previous_value: str


@dataclass
class BarChart:
    title: str
    description: str
    bars: list[Bar]
    width: int
    height: int
    left: int
    bar_height: int
    empty: bool


def bar_chart(
    title: str,
    rows: Sequence[tuple[str, int, int]],
    *,
    point: Callable[[float], str],
    description: str = "",
    label_width: int = 220,
) -> BarChart:
    """Horizontal bars, this period's over a thinner one for the previous period; `rows` are
    (label, value, previous value), largest first. Negative values draw as empty bars."""
    bar_height, gap = 16, 14
    plot_w = WIDTH - RIGHT - label_width - 90  # room for the value after the bar
    top = max([1, *(max(v, p) for _l, v, p in rows)])
    bars = []
    for i, (label, value, previous) in enumerate(rows):
        y = TOP + i * (2 * bar_height + gap)
        short = label if len(label) <= 34 else label[:33] + "…"
        bars.append(
            Bar(
                short,
                y,
                round(max(value, 0) / top * plot_w, 1),
                round(max(previous, 0) / top * plot_w, 1),
                point(value),
                point(previous),
            )
        )
    height = TOP + len(rows) * (2 * bar_height + gap) + 8
    return BarChart(
        title,
        description,
        bars,
        WIDTH,
        height,
        label_width,
        bar_height,
        not any(v for _l, v, _p in rows),
    )

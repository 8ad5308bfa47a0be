"""Charts as inline SVG, drawn on the server: no chart library, no script needed to see numbers.

Drawing on the server means the page arrives with its chart in place (no layout shift, nothing
to load from anywhere) and the strict Content-Security-Policy holds: geometry is carried by SVG
attributes, colours by the stylesheet's classes, never by inline styles. Bars sit in a nested
SVG stretched with ``preserveAspectRatio="none"`` so the chart fills any width, while the axis
labels live outside that stretch and keep their shape on a phone.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from markupsafe import Markup, escape

PLOT_HEIGHT = 200  # CSS pixels; fixed, so the page never jumps when the chart appears
LABEL_BAND = 24
TICKS = 4


def nice_ceiling(value: float) -> int:
    """The smallest 1/2/5×10ⁿ (times TICKS) at or above ``value``, so grid lines fall on round numbers."""
    if value <= 0:
        return TICKS
    step = value / TICKS
    magnitude = 10 ** math.floor(math.log10(step))
    for factor in (1, 2, 2.5, 5, 10):
        if step <= factor * magnitude:
            return max(TICKS, int(math.ceil(factor * magnitude * TICKS)))
    return int(10 * magnitude * TICKS)


def compact(n: float) -> str:
    """12 → 12, 1234 → 1.2k, 2500000 → 2.5M: axis labels must stay narrow."""
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= limit:
            text = f"{n / limit:.1f}".rstrip("0").rstrip(".")
            return f"{text}{suffix}"
    return f"{n:g}"


@dataclass(frozen=True)
class Slot:
    label: str       # shown under the axis (sometimes)
    title: str       # full name of the slot, for the hover text and the data table
    visitors: int
    pageviews: int


def slots(series: dict[str, Any]) -> list[Slot]:
    """Turn ``stats.timeseries`` output into labelled slots."""
    result = []
    for point in series["points"]:
        if series["granularity"] == "hour":
            moment = datetime.fromisoformat(point["time"])
            label, title = moment.strftime("%H:00"), moment.strftime("%a %-d %b, %H:00")
        else:
            day = date.fromisoformat(point["time"])
            label, title = day.strftime("%-d %b"), day.strftime("%a %-d %b %Y")
        result.append(Slot(label, title, point["visitors"], point["pageviews"]))
    return result


def _label_step(count: int) -> int:
    for step in (1, 2, 3, 6, 7, 14, 30, 61, 91, 183, 365):
        if count / step <= 8:
            return step
    return max(1, count // 8)


def y_ticks(top: int) -> list[str]:
    """Axis labels from the top grid line down to zero."""
    return [compact(top * (TICKS - i) / TICKS) for i in range(TICKS + 1)]


def timeseries_svg(points: Sequence[Slot], top: int, unit: str) -> Markup:
    """Pageviews (pale) and visitors (solid) per slot; each slot's <title> gives its exact values."""
    n = max(1, len(points))
    parts = [
        f'<svg class="plot" width="100%" height="{PLOT_HEIGHT + LABEL_BAND}" role="img" '
        f'aria-label="Visitors and pageviews per {escape(unit)}; the table below lists the values">',
        f'<svg width="100%" height="{PLOT_HEIGHT}" viewBox="0 0 {n} 100" preserveAspectRatio="none">',
    ]
    for i in range(TICKS + 1):
        y = 100 * i / TICKS
        parts.append(f'<line class="grid" x1="0" x2="{n}" y1="{y:g}" y2="{y:g}" vector-effect="non-scaling-stroke"/>')
    for i, slot in enumerate(points):
        pv = 100 * slot.pageviews / top
        vi = 100 * slot.visitors / top
        title = escape(f"{slot.title}: {slot.visitors:,} visitors, {slot.pageviews:,} pageviews")
        parts.append(
            f'<g class="slot"><title>{title}</title>'
            f'<rect class="hit" x="{i}" y="0" width="1" height="100"/>'
            f'<rect class="pv" x="{i + 0.08:g}" y="{100 - pv:.2f}" width="0.84" height="{pv:.2f}"/>'
            f'<rect class="vi" x="{i + 0.22:g}" y="{100 - vi:.2f}" width="0.56" height="{vi:.2f}"/></g>'
        )
    parts.append("</svg>")
    step = _label_step(n)
    for i in range(0, n, step):
        x = 100 * (i + 0.5) / n
        anchor = "start" if i == 0 and n > 1 else "middle"
        x_text = "0" if anchor == "start" else f"{x:.2f}%"
        minor = " minor" if (i // step) % 2 else ""  # every other label gives way on a phone
        parts.append(
            f'<text class="xlabel{minor}" x="{x_text}" y="{PLOT_HEIGHT + 17}" text-anchor="{anchor}">'
            f"{escape(points[i].label)}</text>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def sparkline_svg(values: Sequence[int]) -> Markup:
    """A 30-day trend line for the sites list; decorative, the number beside it carries the meaning."""
    n = len(values)
    top = max(values) or 1
    step = 100 / max(1, n - 1)
    points = " ".join(f"{i * step:.2f},{30 - 28 * v / top:.2f}" for i, v in enumerate(values))
    area = f"0,31 {points} 100,31"
    return Markup(
        '<svg class="spark" viewBox="0 0 100 32" width="120" height="32" preserveAspectRatio="none" aria-hidden="true">'
        f'<polygon class="spark-area" points="{area}"/>'
        f'<polyline class="spark-line" points="{points}" vector-effect="non-scaling-stroke"/></svg>'
    )


def share_bar(share: float) -> Markup:
    """The bar behind a top-list row; its width is an SVG attribute, so no inline style is needed."""
    width = max(0.0, min(100.0, share))
    return Markup(
        '<svg class="bar" aria-hidden="true" preserveAspectRatio="none">'
        f'<rect width="{width:.1f}%" height="100%"/></svg>'
    )


def realtime_svg(per_minute: Sequence[int]) -> Markup:
    """Pageviews per minute for the last half hour; the polling script moves the same rects."""
    n = len(per_minute)
    top = max(per_minute) or 1
    rects = "".join(
        f'<rect x="{i + 0.1:g}" y="{100 - 100 * v / top:.2f}" width="0.8" height="{100 * v / top:.2f}">'
        f"<title>{v}</title></rect>"
        for i, v in enumerate(per_minute)
    )
    return Markup(
        f'<svg class="minutes" id="rt-minutes" viewBox="0 0 {n} 100" preserveAspectRatio="none" '
        f'width="100%" height="48" role="img" aria-label="Pageviews per minute, last {n} minutes">{rects}</svg>'
    )

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

from dashboard import formats
from dashboard.i18n import gettext, ngettext

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
            label, title = formats.hour_label(moment), formats.hour_long(moment)
        else:
            day = date.fromisoformat(point["time"])
            label, title = formats.day(day), formats.day_long(day)
        result.append(Slot(label, title, point["visitors"], point.get("pageviews", 0)))  # a goal's have none
    return result


def _plot_label(unit: str) -> str:
    if unit == "hour":
        return gettext("Visitors and pageviews per hour; the table below lists the values")
    return gettext("Visitors and pageviews per day; the table below lists the values")


def _slot_text(slot: Slot) -> str:
    """A slot's hover text: "Mon, Jan 5, 2026: 1,204 visitors, 3,010 pageviews"."""
    visitors = ngettext("{n} visitor", "{n} visitors", slot.visitors).format(n=formats.number(slot.visitors))
    pageviews = ngettext("{n} pageview", "{n} pageviews", slot.pageviews).format(n=formats.number(slot.pageviews))
    return gettext("{slot}: {visitors}, {pageviews}").format(slot=slot.title, visitors=visitors, pageviews=pageviews)


def _minutes_label(minutes: int) -> str:
    return ngettext("Pageviews per minute, last minute", "Pageviews per minute, last {n} minutes", minutes).format(
        n=formats.number(minutes)
    )


def _label_step(count: int) -> int:
    for step in (1, 2, 3, 6, 7, 14, 30, 61, 91, 183, 365):
        if count / step <= 8:
            return step
    return max(1, count // 8)


def _axis_labels(n: int) -> list[tuple[int, bool]]:
    """Which slots get a label under the axis, and whether it is minor (one that gives way on a phone).

    Every ``step``-th slot from the first, and always the last one, so the axis reaches today's
    bar rather than stopping short of it; a regular label closer to the last one than ``step`` gives
    way to it, so two labels never touch.
    """
    step = _label_step(n)
    labels = [(i, bool((i // step) % 2)) for i in range(0, n, step)]
    last = n - 1
    previous = labels.pop()
    if previous[0] != last:
        gap = last - previous[0]
        if gap >= step:
            labels.append(previous)
    labels.append((last, False))
    return labels


def y_ticks(top: int) -> list[str]:
    """Axis labels from the top grid line down to zero."""
    return [formats.compact(top * (TICKS - i) / TICKS) for i in range(TICKS + 1)]


def timeseries_svg(points: Sequence[Slot], top: int, unit: str, marks: Markup | None = None) -> Markup:
    """Pageviews (pale) and visitors (solid) per slot; each slot's <title> gives its exact values."""
    n = max(1, len(points))
    parts = [
        f'<svg class="plot" width="100%" height="{PLOT_HEIGHT + LABEL_BAND}" role="img" '
        f'aria-label="{escape(_plot_label(unit))}">',
        f'<svg width="100%" height="{PLOT_HEIGHT}" viewBox="0 0 {n} 100" preserveAspectRatio="none">',
    ]
    for i in range(TICKS + 1):
        y = 100 * i / TICKS
        parts.append(f'<line class="grid" x1="0" x2="{n}" y1="{y:g}" y2="{y:g}" vector-effect="non-scaling-stroke"/>')
    for i, slot in enumerate(points):
        pv = 100 * slot.pageviews / top
        vi = 100 * slot.visitors / top
        title = escape(_slot_text(slot))
        parts.append(
            f'<g class="slot"><title>{title}</title>'
            f'<rect class="hit" x="{i}" y="0" width="1" height="100"/>'
            f'<rect class="pv" x="{i + 0.08:g}" y="{100 - pv:.2f}" width="0.84" height="{pv:.2f}"/>'
            f'<rect class="vi" x="{i + 0.22:g}" y="{100 - vi:.2f}" width="0.56" height="{vi:.2f}"/></g>'
        )
    parts.append("</svg>")
    for i, minor in _axis_labels(n):
        if i == 0 and n > 1:
            anchor, x_text = "start", "0"
        elif i == n - 1 and n > 1:
            anchor, x_text = "end", "100%"
        else:
            anchor, x_text = "middle", f"{100 * (i + 0.5) / n:.2f}%"
        kind = "xlabel minor" if minor else "xlabel"
        parts.append(
            f'<text class="{kind}" x="{x_text}" y="{PLOT_HEIGHT + 17}" text-anchor="{anchor}">'
            f"{escape(points[i].label)}</text>"
        )
    parts.append(marks or "")  # annotations (dashboard/chart_notes.py), over the bars
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
        f'width="100%" height="48" role="img" aria-label="{escape(_minutes_label(n))}">{rects}</svg>'
    )

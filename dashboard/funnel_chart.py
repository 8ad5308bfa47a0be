"""A funnel as inline SVG, drawn on the server like the time chart (``dashboard.charts``).

One bar per step, its width the step's visitors against the first step's, and between two bars
the visitors the later step lost. Widths are percentages of the chart's own width and every text
is placed in pixels, so the chart fills a phone's card as well as a wide one without stretching
a letter, and the strict Content-Security-Policy holds (colours come from the stylesheet's
classes). The SVG is an image with a name; the figures are read from the table beside it.
"""

from __future__ import annotations

from typing import Any

from markupsafe import Markup, escape

from dashboard import formats
from dashboard.i18n import gettext, ngettext

LABEL = 16  # a step's name and visitors, above its bar
BAR = 14
DROP = 22  # the line between two bars naming what the later step lost
GAP = 6
NAME_CHARS = 28  # a longer name is cut with "…" in the chart (the table has it whole)


def _short(name: str) -> str:
    return name if len(name) <= NAME_CHARS else name[: NAME_CHARS - 1].rstrip() + "…"


def _visitors(n: int) -> str:
    return ngettext("{n} visitor", "{n} visitors", n).format(n=formats.number(n))


def dropoff_text(step: dict[str, Any]) -> str:
    """What a step lost against the one before it, as "−40 (33.3%) dropped off"."""
    lost = int(step["dropoff"])
    sign = "−" if lost > 0 else "+" if lost < 0 else "±"
    return gettext("{n} ({share}) dropped off").format(
        n=sign + formats.number(abs(lost)), share=formats.percent(step["dropoff_rate"])
    )


def height(steps: int) -> int:
    return steps * (LABEL + BAR + GAP) + max(0, steps - 1) * DROP


def funnel_svg(funnel: dict[str, Any]) -> Markup:
    """``funnel`` as ``conversions.funnel_row`` gives it."""
    steps = funnel["steps"]
    first = max(int(funnel["visitors"]), 1)
    label = gettext("Funnel {name}: visitors who reached each step; the table lists the values").format(
        name=funnel["name"]
    )
    parts = [
        f'<svg class="funnel-chart" width="100%" height="{height(len(steps))}" role="img" aria-label="{escape(label)}">'
    ]
    y = 0
    for step in steps:
        if step["dropoff"] is not None:
            parts.append(f'<text class="funnel-drop" x="0" y="{y + 15}">↓ {escape(dropoff_text(step))}</text>')
            y += DROP
        width = max(0.0, min(100.0, 100 * int(step["visitors"]) / first))
        name = f"{step['step']}. {step['name']}"
        figure = f"{formats.number(int(step['visitors']))} · {formats.percent(step['conversion_rate'])}"
        parts.append(
            f"<g><title>{escape(name)}: {escape(_visitors(int(step['visitors'])))}</title>"
            f'<text class="funnel-step" x="0" y="{y + 12}">{escape(_short(name))}</text>'
            f'<text class="funnel-figure" x="100%" y="{y + 12}" text-anchor="end">'
            f"{escape(figure)}</text>"
            f'<rect class="funnel-track" x="0" y="{y + LABEL}" width="100%" height="{BAR}"/>'
            f'<rect class="funnel-bar" x="0" y="{y + LABEL}" width="{width:.1f}%" height="{BAR}"/></g>'
        )
        y += LABEL + BAR + GAP
    parts.append("</svg>")
    return Markup("".join(parts))

"""The overview chart's mark for imported history: a thin band under the slots of imported days.

Imported days hold another tool's numbers (``collector.transfer``), added to whatever Crumbless
counted live on them; the band says so where the reader looks, without a legend. Share links
show it too: it is about where the numbers came from, not the admins' own notes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from markupsafe import Markup, escape

from collector.localtime import date_of
from collector.sites import Site
from collector.store import Store
from dashboard.i18n import gettext
from dashboard.stats import Range

BAND = 4
"""Pixels of the band, drawn at the foot of the plot."""


async def per_slot(db: Store, site: Site, period: Range, series: dict[str, Any]) -> list[bool]:
    """For each of ``stats.timeseries``'s points, whether its day lies in an imported range."""
    first, last = period.days
    ranges = [
        (r.first_day, r.last_day) for r in await db.imports(site.id) if r.first_day <= last and r.last_day >= first
    ]
    if not ranges:
        return []
    spans = [(date_of(a).isoformat(), date_of(b).isoformat()) for a, b in ranges]
    return [any(a <= point["time"][:10] <= b for a, b in spans) for point in series["points"]]


def band_svg(imported: Sequence[bool], height: int) -> Markup:
    """One rectangle per run of imported slots, in the chart's outer SVG (x in % of the width)."""
    n = max(1, len(imported))
    title = escape(gettext("Imported history"))
    parts, start = [], None
    for i, flag in enumerate([*imported, False]):
        if flag and start is None:
            start = i
        elif not flag and start is not None:
            x, width = 100 * start / n, 100 * (i - start) / n
            parts.append(
                f'<rect class="imported" x="{x:.2f}%" y="{height - BAND}" width="{width:.2f}%" height="{BAND}">'
                f"<title>{title}</title></rect>"
            )
            start = None
    return Markup("".join(parts))

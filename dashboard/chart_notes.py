"""Annotations on the overview chart: which slot each note of the range belongs to.

A note is about a site-local day. On a chart of days it marks that day's slot; on a chart of
hours it marks the day's first hour, where the day begins. Share links show none: a note is
the site's admins' own words, which a public reader of the numbers was not given.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from markupsafe import Markup, escape

from collector.localtime import date_of
from collector.sites import Site
from collector.store import Annotation, Store
from dashboard import formats
from dashboard.stats import Range

MARK_LABEL = 24
"""Characters of a note written beside its marker; the whole text is its hover text and in the table."""


async def per_slot(db: Store, site: Site, period: Range, series: dict[str, Any]) -> list[list[Annotation]]:
    """The range's notes for each slot of ``stats.timeseries``'s points, in their order."""
    first, last = period.days
    notes = await db.annotations(site.id, first, last)
    slots: list[list[Annotation]] = [[] for _ in series["points"]]
    first_slot: dict[str, int] = {}
    for i, point in enumerate(series["points"]):
        first_slot.setdefault(point["time"][:10], i)  # "2026-03-29" of a day's or an hour's "2026-03-29T01:00"
    for note in notes:
        slot = first_slot.get(date_of(note.day).isoformat())
        if slot is not None:
            slots[slot].append(note)
    return slots


def _label(text: str) -> str:
    return text if len(text) <= MARK_LABEL else text[: MARK_LABEL - 1].rstrip() + "…"


LANES = 3
LANE_HEIGHT = 16


def marks_svg(notes: Sequence[Sequence[Annotation]], height: int) -> Markup:
    """A dashed line over each annotated slot, with a flag and the note's first words at its top.

    Drawn in the chart's outer, unstretched SVG (x in % of the width), so the flag stays round
    and the label keeps its shape at any width; the whole text is the mark's hover text. Marks
    close to the one before take the next of three lanes, so their labels do not overprint.
    """
    n = max(1, len(notes))
    parts = []
    lane, previous = 0, -n
    for i, slot in enumerate(notes):
        if not slot:
            continue
        lane = (lane + 1) % LANES if i - previous < n / 3 else 0
        previous = i
        x, y = f"{100 * (i + 0.5) / n:.2f}%", 6 + LANE_HEIGHT * lane
        anchor = "end" if i > n / 2 else "start"
        dx = -6 if anchor == "end" else 6
        whole = escape(" · ".join(f"{formats.date_medium(date_of(note.day))}: {note.text}" for note in slot))
        shown = escape(_label(slot[0].text) + (f" +{len(slot) - 1}" if len(slot) > 1 else ""))
        parts.append(
            f'<g class="annotation"><title>{whole}</title>'
            f'<line x1="{x}" x2="{x}" y1="{y}" y2="{height}"/>'
            f'<circle cx="{x}" cy="{y}" r="4"/>'
            f'<text x="{x}" dx="{dx}" y="{y + 4}" text-anchor="{anchor}">{shown}</text></g>'
        )
    return Markup("".join(parts))

"""The privacy budget's checks: no row combines more than two dimensions, no small segment cell stays.

A row of counters carries one value: one dimension's, or one segment's pair of them
(``model.SEGMENTS``). So the first check is on the schema: a table with counter columns may have
at most one column holding a value (named like ``value``, or after a dimension), and a future
table pairing two value ids, which could combine up to four dimensions, is reported.

The second is on the rows: once a site's day is closed, no segment cell with fewer than
``CRUMBLESS_SEGMENT_MIN_VISITORS`` visitors remains (``collector.budget`` folds them into their
pivot's ``(other)``, which is an aggregate of many cells and may stay smaller). The check looks
at days before the site's local yesterday, leaving the server a day to fold. A finding names
the site, the segment and the day, never the value: the value is the private part.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol
from zoneinfo import ZoneInfoNotFoundError

from collector.audit.database import Schema, Sites
from collector.audit.findings import SCHEMA, SEGMENT, Finding, Report
from collector.localtime import date_of, today
from collector.model import BY_CODE, COUNTERS, DIMENSIONS
from collector.store.segments import other_cell
from collector.zones import zone as named_zone

_DIMENSION_NAMES = frozenset(d.key for d in DIMENSIONS if d.key.isidentifier() and d.key != "total")
SmallCells = Iterable[tuple[int, int, str]]
"""(dim code, day, text) of a site's segment cells under k on the days asked."""


class SegmentCells(Protocol):
    def small_segment_cells(self, site: int, before_day: int, min_visitors: int) -> SmallCells:
        """The site's segment cells of days before ``before_day`` with 0 < visitors < ``min_visitors``,
        but for those that are plainly a pivot's ``(other)``: a superset of what is reported."""
        ...


def value_columns(columns: Iterable[str]) -> list[str]:
    """The columns that hold a dimension's value: ``value`` and its kin, or a dimension's name."""
    return [c for c in columns if "value" in c.lower() or c.lower() in _DIMENSION_NAMES]


def check_value_columns(live: Schema, report: Report) -> None:
    for name, table in sorted(live.tables.items()):
        if not set(COUNTERS) & set(table.columns):
            continue
        values = value_columns(table.columns)
        if len(values) > 1:
            report.add(Finding(SCHEMA, f"table {name}", (
                f"a row of counters with {len(values)} value columns ({', '.join(values)}) could combine more "
                "than two dimensions; Crumbless's rows carry one value (one dimension's, or a segment's pair)"
            )))  # fmt: skip


def audited_before(zone: str, now: float) -> int | None:
    """The first day not audited for a site in ``zone``: its local yesterday (None: unknown zone)."""
    try:
        return today(named_zone(zone), now) - 1
    except (ZoneInfoNotFoundError, ValueError):
        return None


def check_small_cells(db: SegmentCells, sites: Sites, min_visitors: int, now: float, report: Report) -> None:
    """Every known site's closed days (before its local yesterday); a site whose zone is unknown
    is checked up to the day before the earliest any zone can be in."""
    if min_visitors <= 1:
        return
    for site, (_, zone) in sorted(sites.items()):
        before = audited_before(zone, now)
        if before is None:
            before = today(named_zone("Etc/GMT+12"), now) - 1
        _report_cells(site, sites, db.small_segment_cells(site, before, min_visitors), min_visitors, report)


def _report_cells(site: int, sites: Sites, cells: SmallCells, min_visitors: int, report: Report) -> None:
    """Report each (segment, day) of the site that still has a cell under ``min_visitors``."""
    found: dict[tuple[int, int], int] = {}
    for code, day, text in cells:
        if text != other_cell(text):  # a pivot's (other) is an aggregate, not a combination
            found[(code, day)] = found.get((code, day), 0) + 1
    domain = sites[site][0] if site in sites else f"site {site}"
    for (code, day), n in sorted(found.items()):
        report.add(Finding(SEGMENT, f"daily (site={site}, dim={BY_CODE[code].key}, day={day})", (
            f"{n} {'cell' if n == 1 else 'cells'} of {domain} for {_iso(day)} with fewer than {min_visitors} "
            "visitors (CRUMBLESS_SEGMENT_MIN_VISITORS) still stored; a closed day's small cells fold into their "
            "pivot's (other) (is `crumbless serve` running? it folds them when a day ends)"
        )))  # fmt: skip


def _iso(day: int) -> str:
    try:
        return date_of(day).isoformat()
    except (ValueError, OverflowError):
        return f"day {day}"

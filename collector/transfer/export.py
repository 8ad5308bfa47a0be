"""Write a site's daily rows as a Plausible CSV export zip, which Plausible and other tools import.

Every dimension the format has a table for travels with all of its counters; what the format
has no place for (devices by User-Agent, languages, event properties, dropped beacons, hours)
is counted in the summary, never silently left out.

Plausible's sources table is one row per visit's whole (source, UTM source, medium, campaign),
while Crumbless keeps each of the four on its own. ``joint_rows`` writes rows whose sums by any
one column are exactly Crumbless's figures for that dimension (an empty value is Plausible's
"Direct / None" and takes the rest of the day's total), so each of Plausible's four lists, and
an import back into Crumbless, reads the very numbers Crumbless shows.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import IO, Any

from collector.localtime import date_of, day_number
from collector.model import SEGMENT_BY_KEY
from collector.sites import Site
from collector.store import Row, Store
from collector.transfer.plausible_format import MS_PER_SECOND, TABLES, to_plausible
from collector.transfer.progress import Meter

SOURCE_DIMENSIONS = ("source", "utm_source", "utm_medium", "utm_campaign")
_VISIT = ("visitors", "visits", "duration_s", "bounces", "pageviews")
_SINGLE = {
    "imported_locations": "country",
    "imported_devices": "screen",
    "imported_browsers": "browser",
    "imported_operating_systems": "os",
}
_EXPORTED = {"total", "page", "event", *SOURCE_DIMENSIONS, *_SINGLE.values()}

Day = dict[str, list[tuple[str, Row]]]


@dataclass
class Exported:
    first: date
    last: date
    days: int = 0
    rows: Counter[str] = field(default_factory=Counter)  # per table
    left_out: Counter[str] = field(default_factory=Counter)  # rows per dimension the format has no place for
    pageviews: int = 0
    visitors: int = 0


def file_names(first: date, last: date) -> dict[str, str]:
    suffix = f"_{first:%Y%m%d}_{last:%Y%m%d}.csv"
    return {t.name: t.name + suffix for t in TABLES}


async def export_zip(
    store: Store, site: Site, first: date, last: date, out: Path | IO[bytes], quiet: bool = False
) -> Exported:
    """The site's days from ``first`` to ``last`` as a zip written to ``out``; the files are named
    after the days of that range that hold data."""
    rows = await store.daily_rows(site.id, day_number(first), day_number(last))
    by_day: dict[int, Day] = defaultdict(lambda: defaultdict(list))
    for day, dim, value, counters in rows:
        by_day[day][dim].append((value, counters))
    if by_day:  # named after the days it holds, within those asked for
        first, last = max(first, date_of(min(by_day))), min(last, date_of(max(by_day)))
    else:
        first = last
    summary = Exported(first, last, days=len(by_day))
    tables: dict[str, list[list[Any]]] = {t.name: [] for t in TABLES}
    meter = Meter(f"exporting {site.domain}", len(by_day), "days", quiet=quiet)
    for day in sorted(by_day):
        _day_rows(date_of(day).isoformat(), by_day[day], site, tables, summary)
        meter.advance()
    meter.close()
    names = file_names(first, last)
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for table in TABLES:
            archive.writestr(names[table.name], _csv(table.columns, tables[table.name]))
            summary.rows[table.name] = len(tables[table.name])
    return summary


def _csv(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """As Plausible writes it (ClickHouse's CSVWithNames): texts quoted, numbers bare."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, quoting=csv.QUOTE_NONNUMERIC, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


SEGMENTS_LEFT_OUT = "segment cells"


def _day_rows(when: str, day: Day, site: Site, tables: dict[str, list[list[Any]]], summary: Exported) -> None:
    for dim, values in day.items():
        if dim not in _EXPORTED:
            # Segment cells have no table in the format: counted together, not as 21 dimensions.
            summary.left_out[SEGMENTS_LEFT_OUT if dim in SEGMENT_BY_KEY else dim] += len(values)
    for _, total in day.get("total", []):
        tables["imported_visitors"].append(
            [when, total["visitors"], total["pageviews"], total["bounces"], total["visits"], total["duration_s"]]
        )
        summary.pageviews += total["pageviews"]
        summary.visitors += total["visitors"]
    totals = day.get("total", [("", dict.fromkeys(_VISIT, 0))])[0][1]
    for key, row in joint_rows([day.get(d, []) for d in SOURCE_DIMENSIONS], totals):
        source, utm_source, utm_medium, utm_campaign = key
        tables["imported_sources"].append(
            [when, source, "", utm_source, utm_medium, utm_campaign, "", "", *(row[c] for c in _SOURCE_ORDER)]
        )
    for page, row in day.get("page", []):
        _page_rows(when, page, row, site, tables)
    for name, row in day.get("event", []):
        tables["imported_custom_events"].append([when, name, "", "", row["visitors"], row["events"]])
    for table, dim in _SINGLE.items():
        between = _BETWEEN.get(table, [""])
        for value, row in day.get(dim, []):
            tables[table].append([when, to_plausible(dim, value), *between, *(row[c] for c in _VISIT)])


_SOURCE_ORDER = ("pageviews", "visitors", "visits", "duration_s", "bounces")
_BETWEEN: dict[str, list[Any]] = {"imported_locations": ["", 0], "imported_devices": []}
"""What stands between a table's value and its figures: the region and city (no such thing in
Crumbless), a browser's or system's version (not kept), nothing for devices."""


def _page_rows(when: str, page: str, row: Row, site: Site, tables: dict[str, list[list[Any]]]) -> None:
    if row["visitors"] or row["pageviews"] or row["scroll_n"] or row["engaged_ms"]:
        tables["imported_pages"].append(
            [
                when,
                site.domain,
                page,
                row["visitors"],  # Plausible's visits of a page; Crumbless counts visitors only
                row["visitors"],
                row["pageviews"],
                row["scroll_sum"],
                row["scroll_n"],
                round(row["engaged_ms"] / MS_PER_SECOND),
                row["pageviews"],  # so that Plausible's time on page is Crumbless's: engaged time per pageview
            ]
        )
    if row["entries"] or row["entry_visitors"] or row["entry_pageviews"] or row["entry_duration_s"]:
        tables["imported_entry_pages"].append(
            [
                when,
                page,
                row["entry_visitors"],
                row["entries"],
                row["entry_duration_s"],
                row["entry_bounces"],
                row["entry_pageviews"],
            ]
        )
    if row["exits"]:
        # Crumbless keeps only a page's exits: its exit visitors are at most that, and the other
        # figures of an exit visit are not known (0), which Plausible reads as no visit time.
        tables["imported_exit_pages"].append([when, page, row["exits"], 0, row["exits"], 0, row["pageviews"]])


def joint_rows(dimensions: Sequence[Sequence[tuple[str, Row]]], totals: Row) -> list[tuple[tuple[str, ...], Row]]:
    """Rows keyed by one value of each dimension whose sums by any one dimension are its figures.

    For each counter, each dimension's values (and "" for the rest of the day's total, or of the
    largest dimension's sum where values overlap, as one visitor can have two sources in a day)
    are laid end to end as runs of the same length, and cut wherever any dimension's run changes
    value (the north-west corner rule): each piece is a row. Rows of one key add up.
    """
    joint: dict[tuple[str, ...], Row] = {}
    for counter in _VISIT:
        runs = [[(value, row[counter]) for value, row in values if row[counter] > 0] for values in dimensions]
        length = max([totals.get(counter, 0), *(sum(n for _, n in run) for run in runs)])
        for run in runs:
            rest = length - sum(n for _, n in run)
            if rest:
                run.append(("", rest))
        at = [0] * len(runs)
        left = [run[0][1] if run else 0 for run in runs]
        while runs and all(i < len(run) for i, run in zip(at, runs, strict=True)):
            step = min(left)
            key = tuple(run[i][0] for i, run in zip(at, runs, strict=True))
            row = joint.setdefault(key, dict.fromkeys(_VISIT, 0))
            row[counter] += step
            for d, run in enumerate(runs):
                left[d] -= step
                if left[d] == 0:
                    at[d] += 1
                    left[d] = run[at[d]][1] if at[d] < len(run) else 0
    return sorted(joint.items())

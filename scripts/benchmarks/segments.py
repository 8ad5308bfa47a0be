"""What segment rows cost on disk: the cells the privacy budget finds and folds, and the file without them.

Issue 12's storage budget is relative: all segment rows together may add at most 60 % to the
bytes per pageview of the month. The month without them is the same file with them taken out
(every ``daily`` and ``monthly`` row of a ``model.SEGMENTS`` dimension, and the value texts only
those rows refer to), so both files hold the very same other rows. Both copies are VACUUMed before
they are weighed: deleting rows leaves free pages and half-empty ones behind, which would make the
file without segments look as big as the one with them; a VACUUMed copy of each weighs only what
its rows need.

Which share of the cells the fold removes is counted where it happens: ``Census`` stands between
the budget and the store and, before each fold, counts the cells of the days it is about to fold
(each day once: a day folded again because late rows reached it is not counted twice, so late
rows' cells are in the cells folded but not in the census).
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from collector.model import BY_CODE, BY_KEY, SEGMENTS
from collector.store import SegmentStore
from collector.store.segments import other_cell
from scripts.benchmarks.results import Figure, at_most

TARGET_RATIO = 1.6
"""Bytes per pageview with segment rows over those without: at most 60 % more (issue 12)."""
QUOTED = ("country>page", "page>source")
"""The segments whose single-visitor share issue 12 quotes (89–93 % before any fold); page × country
is stored as country × page (``model.Segment.read_from``), the same pairs."""
SEGMENT_CODES: tuple[int, ...] = tuple(BY_KEY[segment.key].code for segment in SEGMENTS)
_AMONG = f"dim IN ({', '.join('?' * len(SEGMENT_CODES))})"


@dataclass
class Cells:
    """Cells of one segment: all of them, and of those the fold takes (under k visitors, not a
    pivot's ``(other)``) all, and those of a single visitor."""

    cells: int = 0
    under_k: int = 0
    single: int = 0

    def add(self, cells: int, under_k: int, single: int) -> None:
        self.cells += cells
        self.under_k += under_k
        self.single += single


@dataclass
class Census:
    """The store the budget folds through, counting each day's segment cells before its first fold.

    Reads with a connection of its own: the store's are its business, and with WAL a reader sees
    the last committed state, which is what the fold is about to read.
    """

    store: SegmentStore
    database: Path
    by_segment: dict[str, Cells] = field(default_factory=dict)
    folded: int = 0
    folds: int = 0
    days: set[tuple[int, int]] = field(default_factory=set)

    async def fold_segments(self, site: int, first_day: int, last_day: int, min_visitors: int) -> int:
        if min_visitors > 1:
            self.count(site, first_day, last_day, min_visitors)
        folded = await self.store.fold_segments(site, first_day, last_day, min_visitors)
        self.folded += folded
        self.folds += 1
        return folded

    async def last_counted_day(self, site: int, before_day: int) -> int | None:
        return await self.store.last_counted_day(site, before_day)

    def count(self, site: int, first_day: int, last_day: int, min_visitors: int) -> None:
        """The range's cells per segment and day, and those the fold will take: under k visitors
        and not a pivot's ``(other)`` cell (which stays whatever its size, as the fold leaves it)."""
        where = f"d.site = ? AND d.{_AMONG} AND d.day BETWEEN ? AND ?"
        params = (site, *SEGMENT_CODES, first_day, last_day)
        with read_only(self.database) as db:
            every = db.execute(
                f"SELECT d.dim, d.day, count(*) FROM daily AS d WHERE {where} GROUP BY d.dim, d.day", params
            )
            counted = {(int(code), int(day)): [int(n), 0, 0] for code, day, n in every}
            small = db.execute(
                f"SELECT d.dim, d.day, d.visitors, v.value FROM daily AS d JOIN dim_values AS v ON v.id = d.value "
                f"WHERE {where} AND d.visitors < ?",
                (*params, min_visitors),
            )
            for code, day, visitors, text in small:
                if str(text) != other_cell(str(text)):
                    cell = counted[(int(code), int(day))]
                    cell[1] += 1
                    cell[2] += int(visitors) == 1
        new = {(site, day) for _, day in counted} - self.days
        for (code, day), (cells, under_k, single) in counted.items():
            if (site, day) in new:
                self.by_segment.setdefault(BY_CODE[code].key, Cells()).add(cells, under_k, single)
        self.days |= new

    def total(self) -> Cells:
        summed = Cells()
        for cells in self.by_segment.values():
            summed.add(cells.cells, cells.under_k, cells.single)
        return summed

    def as_json(self) -> dict[str, Any]:
        return {
            "days": len(self.days),
            "folds": self.folds,
            "folded": self.folded,
            "before_fold": {key: asdict(cells) for key, cells in sorted(self.by_segment.items())},
        }


@contextlib.contextmanager
def read_only(database: Path) -> Iterator[sqlite3.Connection]:
    with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as db:
        yield db


def bytes_by_table(db: sqlite3.Connection) -> dict[str, int]:
    """Bytes per table and index, biggest first; empty where SQLite was built without ``dbstat``."""
    try:
        return dict(
            db.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name ORDER BY sum(pgsize) DESC").fetchall()
        )
    except sqlite3.Error:
        return {}


def vacuumed_copy(database: Path, into: Path, strip: bool) -> tuple[int, dict[str, int]]:
    """The bytes of a VACUUMed copy of ``database``, without its segment rows if ``strip``, and
    those of its tables."""
    with contextlib.closing(sqlite3.connect(database)) as source, contextlib.closing(sqlite3.connect(into)) as copy:
        source.backup(copy)
        if strip:
            with copy:
                for table in ("daily", "monthly", "dim_values"):  # segment values are only segment rows'
                    copy.execute(f"DELETE FROM {table} WHERE {_AMONG}", SEGMENT_CODES)
        copy.execute("VACUUM")
        copy.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        tables = bytes_by_table(copy)
    wal = into.with_name(into.name + "-wal")
    return into.stat().st_size + (wal.stat().st_size if wal.exists() else 0), tables


def left(database: Path, days: set[int]) -> dict[str, Any]:
    """Segment cells on disk per segment, and per day of ``days`` (the closed days folded)."""
    with read_only(database) as db:
        rows = db.execute(f"SELECT dim, day, count(*) FROM daily WHERE {_AMONG} GROUP BY dim, day", SEGMENT_CODES)
        by_segment: dict[str, int] = {}
        on_days = 0
        for code, day, n in rows:
            by_segment[BY_CODE[code].key] = by_segment.get(BY_CODE[code].key, 0) + n
            on_days += n if day in days else 0
    return {"by_segment": by_segment, "on_closed_days": on_days, "closed_days": len(days)}


def share(part: int, whole: int) -> float:
    return 100 * part / whole if whole else 0.0


def storage_figures(database: Path, pageviews: int, census: Census) -> tuple[list[Figure], dict[str, Any]]:
    """The month's segment figures: the file with and without segment rows, and what the fold did."""
    with_rows, with_tables = vacuumed_copy(database, database.with_name("with-segments.sqlite"), strip=False)
    without, without_tables = vacuumed_copy(database, database.with_name("without-segments.sqlite"), strip=True)
    per_with, per_without = with_rows / max(pageviews, 1), without / max(pageviews, 1)
    ratio = per_with / per_without if per_without else 0.0
    target, passed = at_most(ratio, TARGET_RATIO)
    cells, before = left(database, {day for _, day in census.days}), census.total()
    figures = [
        Figure(
            "bytes per pageview VACUUMed, with segment rows / without",
            per_with,
            "B",
            target,
            passed and pageviews > 0,
            baseline=per_without,
            ratio=ratio,
        ),
        Figure("segment cells left per closed day", cells["on_closed_days"] / max(cells["closed_days"], 1), ""),
        Figure("segment cells folded", census.folded, ""),
        Figure("segment cells under k before the fold", share(before.under_k, before.cells), "%"),
    ]
    for key in QUOTED:
        quoted = census.by_segment.get(key, Cells())
        figures.append(Figure(f"{key} cells of one visitor before the fold", share(quoted.single, quoted.cells), "%"))
    details = {
        "vacuumed_bytes": {"with_segments": with_rows, "without_segments": without},
        "vacuumed_table_bytes": {"with_segments": with_tables, "without_segments": without_tables},
        "cells_left": cells,
        "census": census.as_json(),
    }
    return figures, details

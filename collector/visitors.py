"""Visitor state: what the counting rules must remember about each visitor of the open day.

It lives in memory only, never on disk. It is keyed by the visitor hash alone: the hash is keyed
with a per-site, per-day salt, so it already separates sites and days. The interface is async and
small because a second implementation (Redis, for several collectors sharing one state) follows;
the counting rules stay outside both.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass, field
from typing import Protocol

VisitValues = tuple[tuple[str, str], ...]


@dataclass(slots=True)
class VisitorRecord:
    site: int
    day: int
    last_seen: int = 0          # whole seconds
    # Hours of the day (0–23), not hour numbers: small ints are shared objects in CPython, and
    # the record's day gives the rest.
    last_hour: int = -1         # last local hour this visitor was counted active in
    visit_hour: int = -1        # hour the current visit's visit/bounce/duration are booked in
    pageviews: int = 0          # in the current visit
    bounced: bool = False       # the current visit is currently counted as a bounce
    values: VisitValues = ()    # the current visit's dimension values, incl. total and entry page
    last_path: str = ""         # current exit page of the visit ("" before its first pageview)
    page_scroll: int = -1       # max scroll counted for the current pageview
    previous_path: str = ""     # the pageview before it, whose last engagement ping may arrive late
    previous_scroll: int = -1
    counted: array = field(default_factory=lambda: array("I"))  # fingerprints of (dim, value) counted today


class VisitorState(Protocol):
    evicted: int                # records forgotten to stay within the memory cap

    async def get(self, visitor: int) -> VisitorRecord | None: ...

    async def put(self, visitor: int, record: VisitorRecord) -> None: ...

    async def drop_days(self, site: int, before_day: int) -> int:
        """Forget every record of ``site`` for days before ``before_day``; returns how many."""
        ...

    def active_since(self, site: int, since: int) -> int:
        """Visitors of ``site`` seen at or after ``since`` (realtime view)."""
        ...


class MemoryVisitorState:
    """A dict in insertion order doubling as an LRU: touching a record moves it to the end."""

    def __init__(self, max_visitors: int) -> None:
        self.max_visitors = max_visitors
        self.evicted = 0
        self._records: dict[int, VisitorRecord] = {}

    def __len__(self) -> int:
        return len(self._records)

    async def get(self, visitor: int) -> VisitorRecord | None:
        return self._records.get(visitor)

    async def put(self, visitor: int, record: VisitorRecord) -> None:
        records = self._records
        records.pop(visitor, None)
        records[visitor] = record
        if len(records) > self.max_visitors:
            del records[next(iter(records))]
            self.evicted += 1

    async def drop_days(self, site: int, before_day: int) -> int:
        stale = [k for k, r in self._records.items() if r.site == site and r.day < before_day]
        for key in stale:
            del self._records[key]
        return len(stale)

    def active_since(self, site: int, since: int) -> int:
        # Records are kept in order of last touch, so the walk stops at the first older one.
        count = 0
        for record in reversed(self._records.values()):
            if record.last_seen < since:
                break
            count += record.site == site
        return count

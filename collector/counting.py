"""The counting rules of DESIGN §4: one hit and the visitor's record in, counter additions out.

Uniqueness is decided here, at ingest, so every stored number is a plain sum: a visitor is
counted once per (dimension, value) per day by remembering a small fingerprint of what was
already counted; a bounce is booked when a visit starts and taken back when it stops being one;
an exit moves with each pageview; duration accrues hit by hit.

``count`` is pure: it changes nothing it is given and returns the new record with the hit's
additions. The caller commits the record to the visitor state, and only a committed record's
additions reach the aggregator: when two beacons of one visitor race (an engagement ping sent
on navigation and the next pageview, perhaps on two collectors), the state refuses the second
commit and that beacon is counted again from the record the first one left. Nothing here knows
how counters or visitor records are stored, so the SQLite/PostgreSQL stores and the memory/Redis
visitor states all share these rules.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from operator import attrgetter
from typing import NamedTuple
from zlib import crc32

from collector.channels import channel
from collector.guard import Admitted, prop_value
from collector.hits import Hit, Kind
from collector.model import (
    ENGAGED_MS,
    EVENTS,
    EXITS,
    PAGEVIEWS,
    PROP_SEPARATOR,
    SCROLL_N,
    SCROLL_SUM,
    SEGMENTS,
    SLOTS,
    VISIT_DIMENSIONS,
    VISITOR_CONSTANT,
    VISITORS,
    VisitColumns,
    funnel_value,
    segment_value,
)
from collector.visitors import FUNNEL_ENTRY, VisitorRecord, VisitValues

VISIT_TIMEOUT_S = 30 * 60
FLOOD_LIMIT = 60
"""Hits of one visitor counted per clock minute; the rest are dropped as ``flood``. A person's
browser sends a pageview, a ping or two and maybe an event per page: 60 a minute is a script."""


@dataclass(slots=True)
class Deltas:
    """One hit's counter additions, all under the hit's site and day.

    A visit counter moves under every value of the visit (a dozen), so it is kept once, by
    column, and spread over ``visit_values`` only by ``Aggregator.apply``: a pageview's visit
    pageviews and duration become one addition per row of the visit, not two dozen tuples.
    """

    site: int
    day: int
    values: Admitted = field(default_factory=dict)
    daily: list[tuple[str, str, int, int]] = field(default_factory=list)  # dim, value, column, n
    hourly: list[tuple[int, int, int]] = field(default_factory=list)  # hour, column, n
    visit_values: VisitValues = ()
    visit: dict[str, int] = field(default_factory=dict)  # VisitColumns field → n

    def add(self, dim: str, value: str, column: int, n: int) -> None:
        self.daily.append((dim, value, column, n))

    def add_hourly(self, hour: int, column: int, n: int) -> None:
        self.hourly.append((hour, column, n))

    def add_visit(self, values: VisitValues, column: str, n: int) -> None:
        """Add ``n`` to one visit counter (a ``VisitColumns`` field) of every value the visit has."""
        self.visit_values = values
        self.visit[column] = self.visit.get(column, 0) + n

    def visit_rows(self) -> list[tuple[str, str, list[tuple[int, int]]]]:
        """The visit counters as (dimension, value, [(column, n), ...]), one per value of the visit."""
        if not self.visit:
            return []
        moved = list(self.visit.items())
        rows = [
            (SLOTS[key].dimension, value, [(_COLUMN[key][column], n) for column, n in moved])
            for key, value in self.visit_values
        ]
        own = [(_OWN[column], n) for column, n in moved]
        rows += [(cell.key, cell.value, own) for cell in visit_cells(self.visit_values)]
        return rows

    def value(self, dim: str, value: str) -> str:
        """The value to count under, as the cardinality guard admitted it (``guard.wanted``)."""
        return self.values[(dim, value)]


_COLUMN: dict[str, dict[str, int]] = {
    key: {name: getattr(slot.columns, name) for name in VisitColumns.__dataclass_fields__}
    for key, slot in SLOTS.items()
}
"""Per visit slot, each ``VisitColumns`` field's counter index."""
_OWN = _COLUMN["total"]

# The declared segments by when they count (model.SEGMENTS), as (key, pivot, listed) triples.
_VISIT_SEGMENTS = tuple((s.key, s.pivot, s.listed) for s in SEGMENTS if s.kind == "visit")
_BY_PAGE = tuple((s.key, s.pivot, s.listed, s.coarse) for s in SEGMENTS if s.kind == "pageview" and not s.read_from)
_BY_GOAL: dict[str, list[tuple[str, bool]]] = {}
"""Per visit value a goal is paired with: the segment keys of the pair, and whether the goal is their pivot."""
for _segment in SEGMENTS:
    if _segment.kind == "conversion":
        _goal_first = _segment.pivot == "goal"
        _other = _segment.listed if _goal_first else _segment.pivot
        _BY_GOAL.setdefault(_other, []).append((_segment.key, _goal_first))


class VisitCell(NamedTuple):
    key: str  # the segment
    value: str  # its stored value: the pivot's value and the listed one
    pivot: str
    listed: str


@lru_cache(maxsize=1024)
def visit_cells(values: VisitValues) -> tuple[VisitCell, ...]:
    """The visit's segment cells: a pair of its values per declared visit segment.

    Worked out when the visit starts (its visitors are counted there) and asked again at every
    later hit of the visit (its pageviews and duration move in every cell), so kept for the visits
    in progress: those hits find their visit's cells here."""
    by_slot = dict(values)
    return tuple(
        VisitCell(key, segment_value(by_slot[pivot], by_slot[listed]), pivot, listed)
        for key, pivot, listed in _VISIT_SEGMENTS
        if pivot in by_slot and listed in by_slot
    )


_RECORD_FIELDS = attrgetter(*VisitorRecord.__dataclass_fields__)


def _copy(record: VisitorRecord) -> VisitorRecord:
    """``dataclasses.replace(record)``, a tenth of its cost: it is made for every counted hit."""
    return VisitorRecord(*_RECORD_FIELDS(record))


@dataclass(frozen=True, slots=True)
class Step:
    record: VisitorRecord
    deltas: Deltas


def count(hit: Hit, record: VisitorRecord | None, values: Admitted) -> Step | None:
    """Apply ``hit`` to a copy of ``record``; None when the hit counts nothing.

    ``values`` holds the guard's answer for every value of ``guard.wanted(hit)``.
    """
    if record is not None and (record.site != hit.site or record.day != hit.day):
        record = None
    live = record is not None and hit.ts - record.last_seen < VISIT_TIMEOUT_S
    if hit.kind is Kind.ENGAGEMENT and not live:
        return None  # an engagement ping never starts a visit
    record = VisitorRecord(site=hit.site, day=hit.day) if record is None else _copy(record)
    record.burst = record.burst + 1 if hit.ts // 60 == record.last_seen // 60 else 1
    counts = Deltas(hit.site, hit.day, values)
    if hit.hour % 24 != record.last_hour:
        counts.add_hourly(hit.hour, VISITORS, 1)
        record.last_hour = hit.hour % 24
    if live:
        _accrue_duration(hit, record, counts)
    else:
        _start_visit(hit, record, counts)
    record.last_seen = hit.ts
    if hit.kind is Kind.PAGEVIEW:
        _pageview(hit, record, counts)
    elif hit.kind is Kind.EVENT:
        _event(hit, record, counts)
    else:
        _engagement(hit, record, counts)
    if hit.goals:
        _convert(hit, record, counts)
    return Step(record, counts)


def floods(hit: Hit, record: VisitorRecord | None) -> bool:
    """Whether ``hit`` is over the visitor's ``FLOOD_LIMIT`` for this minute (and so not counted)."""
    return (
        record is not None
        and record.site == hit.site
        and record.day == hit.day
        and hit.ts // 60 == record.last_seen // 60
        and record.burst >= FLOOD_LIMIT
    )


def _start_visit(hit: Hit, record: VisitorRecord, counts: Deltas) -> None:
    """A new visit: book it (and, provisionally, its bounce) under every visit-level value."""
    record.values = _visit_values(hit, counts)
    record.visit_hour = hit.hour % 24
    record.pageviews = 0
    record.last_path = record.previous_path = ""
    record.page_scroll = record.previous_scroll = -1
    record.bounced = not (hit.kind is Kind.EVENT and hit.interactive)
    record.funnels = _day_long(record.funnels)
    new: dict[str, bool] = {}
    for slot_key, value in record.values:
        slot = SLOTS[slot_key]
        new[slot_key] = _count_visitor(hit, record, counts, slot_key, value, slot.dimension, slot.columns.visitors)
    for cell in visit_cells(record.values):
        _count_cell_visitor(hit, record, counts, cell.key, cell.value, _known(new, cell.pivot, cell.listed))
    counts.add_visit(record.values, "visits", 1)
    counts.add_hourly(hit.hour, _HOURLY.visits, 1)
    if record.bounced:
        counts.add_visit(record.values, "bounces", 1)
        counts.add_hourly(hit.hour, _HOURLY.bounces, 1)


_HOURLY: VisitColumns = SLOTS["total"].columns  # the hourly table's columns are the site totals'
_ENTRY_PAGE = SLOTS["entry_page"]


def _visit_values(hit: Hit, counts: Deltas) -> VisitValues:
    """The visit's (slot, value) pairs, each value as the cardinality guard admitted it."""
    fold = counts.value
    values: list[tuple[str, str]] = [("total", "")]
    for dim in VISIT_DIMENSIONS:
        value = getattr(hit, dim)
        if value:
            values.append((dim, fold(dim, value)))
    values.append(("entry_page", fold(_ENTRY_PAGE.dimension, hit.path)))
    return tuple(values)


def _accrue_duration(hit: Hit, record: VisitorRecord, counts: Deltas) -> None:
    seconds = hit.ts - record.last_seen
    if seconds <= 0:
        return
    counts.add_visit(record.values, "duration", seconds)
    counts.add_hourly(_visit_hour(record), _HOURLY.duration, seconds)


def _visit_hour(record: VisitorRecord) -> int:
    return record.day * 24 + record.visit_hour


def _unbounce(hit: Hit, record: VisitorRecord, counts: Deltas) -> None:
    if not record.bounced:
        return
    record.bounced = False
    counts.add_visit(record.values, "bounces", -1)
    counts.add_hourly(_visit_hour(record), _HOURLY.bounces, -1)


def _pageview(hit: Hit, record: VisitorRecord, counts: Deltas) -> None:
    path = counts.value("page", hit.path)
    counts.add_visit(record.values, "pageviews", 1)
    counts.add_hourly(hit.hour, _HOURLY.pageviews, 1)
    page_new = _count_visitor(hit, record, counts, "page", path)
    counts.add("page", path, PAGEVIEWS, 1)
    _page_cells(hit, record, counts, path, page_new)
    _move_exit(hit, record, counts, path)
    record.previous_path, record.previous_scroll = record.last_path, record.page_scroll
    record.last_path = path
    record.pageviews += 1
    record.page_scroll = -1
    if record.pageviews >= 2:
        _unbounce(hit, record, counts)


def _move_exit(hit: Hit, record: VisitorRecord, counts: Deltas, path: str) -> None:
    """The visit's exit page is its latest pageview: move the one exit from the old page."""
    old = record.last_path
    if old == path:
        return
    if old:
        counts.add("page", old, EXITS, -1)
    counts.add("page", path, EXITS, 1)


def _event(hit: Hit, record: VisitorRecord, counts: Deltas) -> None:
    name = counts.value("event", hit.event)
    counts.add("total", "", EVENTS, 1)
    _count_visitor(hit, record, counts, "event", name)
    counts.add("event", name, EVENTS, 1)
    for key, value in hit.props:
        prop = counts.value("event_prop", prop_value(hit.event, key, value))
        _count_visitor(hit, record, counts, "event_prop", prop)
        counts.add("event_prop", prop, EVENTS, 1)
    if hit.interactive:
        _unbounce(hit, record, counts)


def _engagement(hit: Hit, record: VisitorRecord, counts: Deltas) -> None:
    path = counts.value("page", hit.path)
    if hit.engaged_ms > 0:
        counts.add("page", path, ENGAGED_MS, hit.engaged_ms)
    if hit.scroll < 0:
        return
    # A ping normally belongs to the current pageview, but keepalive requests can overtake each
    # other, so the previous pageview's last ping may arrive after the next pageview.
    if path == record.last_path:
        record.page_scroll = _raise_scroll(hit, counts, path, record.page_scroll)
    elif path == record.previous_path:
        record.previous_scroll = _raise_scroll(hit, counts, path, record.previous_scroll)
    else:
        _raise_scroll(hit, counts, path, -1)


def _raise_scroll(hit: Hit, counts: Deltas, path: str, counted: int) -> int:
    """Scroll depth is one sample per pageview, its maximum: add it once, then raise it in place."""
    if counted < 0:
        counts.add("page", path, SCROLL_SUM, hit.scroll)
        counts.add("page", path, SCROLL_N, 1)
    elif hit.scroll > counted:
        counts.add("page", path, SCROLL_SUM, hit.scroll - counted)
    return max(counted, hit.scroll)


def _count_visitor(
    hit: Hit, record: VisitorRecord, counts: Deltas, key: str, value: str, dim: str = "", column: int = VISITORS
) -> bool:
    """+1 visitor under (key, value) the first time this visitor has that value today.

    ``key`` names what is counted (a dimension, or a visit slot such as the entry page), ``dim``
    and ``column`` where: the entry page's visitors are a column of the page's row.
    """
    if not _first_time(record, key, value):
        return False
    counts.add(dim or key, value, column, 1)
    return True


def _first_time(record: VisitorRecord, key: str, value: str) -> bool:
    """Whether this visitor has (key, value) for the first time today (and remember that it has)."""
    return record.first_time(crc32(f"{key}{PROP_SEPARATOR}{value}".encode()))


def _known(new: dict[str, bool], pivot: str, listed: str) -> bool | None:
    """Whether a cell pairing two of the visitor's values is new to this visitor today, when that
    follows from the values alone (one of them never changes for a visitor: ``VISITOR_CONSTANT``);
    None when the cell needs a fingerprint of its own."""
    if listed in VISITOR_CONSTANT and pivot in new:
        return new[pivot]
    if pivot in VISITOR_CONSTANT and listed in new:
        return new[listed]
    return None


def _count_cell_visitor(hit: Hit, record: VisitorRecord, counts: Deltas, key: str, cell: str, new: bool | None) -> bool:
    """+1 visitor in a segment cell the first time this visitor is in it today."""
    if new is None:
        new = _first_time(record, key, cell)
    if new:
        counts.add(key, cell, VISITORS, 1)
    return new


def _page_cells(hit: Hit, record: VisitorRecord, counts: Deltas, path: str, page_new: bool) -> None:
    """A pageview in the segments that pair the page with one of its visit's values, both ways
    round: the visit's source's pages (``source>page``) and the page's channels (``page>source``)."""
    by_slot = dict(record.values)
    for key, pivot, listed, coarse in _BY_PAGE:
        other = listed if pivot == "page" else pivot
        if other == "source" and coarse:
            value = channel(by_slot.get("source", ""), by_slot.get("utm_medium", ""))
        elif other in by_slot:
            value = by_slot[other]
        else:
            continue
        cell = segment_value(path, value) if pivot == "page" else segment_value(value, path)
        known = page_new if other in VISITOR_CONSTANT else None
        _count_cell_visitor(hit, record, counts, key, cell, known)
        counts.add(key, cell, PAGEVIEWS, 1)


def _convert(hit: Hit, record: VisitorRecord, counts: Deltas) -> None:
    """The hit converts ``hit.goals``: a conversion of each, a converting visitor the first time
    today, the same under the visit's source, campaign and entry page (both ways round: the
    goal's sources, ``goal>source``, and the source's goals, ``source>goal``: one pair, one
    fingerprint), and a step on in each funnel the goals are steps of."""
    by_slot = dict(record.values)
    for goal_id in hit.goals:
        goal = str(goal_id)
        counts.add("goal", goal, EVENTS, 1)
        _count_visitor(hit, record, counts, "goal", goal)
        for other, cells in _BY_GOAL.items():
            if other not in by_slot:
                continue
            value = by_slot[other]
            new = _first_time(record, f"goal>{other}", segment_value(goal, value))
            for key, goal_first in cells:
                cell = segment_value(goal, value) if goal_first else segment_value(value, goal)
                if new:
                    counts.add(key, cell, VISITORS, 1)
                counts.add(key, cell, EVENTS, 1)
    _advance_funnels(hit, record, counts)


def _advance_funnels(hit: Hit, record: VisitorRecord, counts: Deltas) -> None:
    """A funnel step counts when it is the next one of the visitor's progress (within the visit,
    or within the day for a day-long funnel); one step per funnel per hit."""
    moved: set[int] = set()
    for step in hit.funnel_steps:
        if step.funnel in moved:
            continue
        reached = _progress(record.funnels, step.funnel)
        if step.position != reached:
            continue
        moved.add(step.funnel)
        record.funnels = _with_progress(record.funnels, step.funnel, reached + 1, step.day_window)
        _count_visitor(hit, record, counts, "funnel", funnel_value(step.funnel, reached + 1))


_DAY_LONG = 0x80
_STEPS = 0x7F


def _progress(funnels: bytes, funnel: int) -> int:
    for offset in range(0, len(funnels), FUNNEL_ENTRY):
        if int.from_bytes(funnels[offset : offset + 4], "little") == funnel:
            return funnels[offset + 4] & _STEPS
    return 0


def _with_progress(funnels: bytes, funnel: int, reached: int, day_long: bool) -> bytes:
    entry = funnel.to_bytes(4, "little") + bytes([reached | (_DAY_LONG if day_long else 0)])
    kept = [
        funnels[offset : offset + FUNNEL_ENTRY]
        for offset in range(0, len(funnels), FUNNEL_ENTRY)
        if int.from_bytes(funnels[offset : offset + 4], "little") != funnel
    ]
    return b"".join([*kept, entry])


def _day_long(funnels: bytes) -> bytes:
    """A new visit keeps only the progress of funnels that last the visitor's day."""
    if not funnels:
        return funnels
    return b"".join(
        funnels[offset : offset + FUNNEL_ENTRY]
        for offset in range(0, len(funnels), FUNNEL_ENTRY)
        if funnels[offset + 4] & _DAY_LONG
    )

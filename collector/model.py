"""What Crumbless counts, declared once: counters, stored dimensions, visit slots and top lists.

Everything that needs to know what a dimension is reads it here: the counting rules (which
counters a hit adds, under which dimension), the store (its columns and dimension codes), the
stats functions and the dashboard (which lists exist, what they show and how they rank), the
CSV header, the OpenAPI enumeration and the audit. Adding a dimension is one entry in
``DIMENSIONS`` and ``LISTS`` plus its counting rule in ``counting.py``.

Three words keep the layout honest:

- a **dimension** is what a stored row is keyed by (``page``, ``source``…, and ``total`` for the
  site totals); its code is what the database stores and must never change;
- a **visit slot** is a dimension value a visit takes from its first hit; its visit, bounce,
  pageview and duration counters go to the slot's columns. The entry page is a slot of the
  ``page`` dimension with columns of its own, so a page's row carries its page, entry and exit
  counters at once;
- a **list** is what the dashboard shows: a dimension read through some of its counters under
  the names people see (the exit pages list is the ``page`` rows' ``exits``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from types import MappingProxyType
from typing import Literal

_VISIT = ("visitors", "visits", "pageviews", "bounces", "duration_s")
_ENGAGEMENT = ("engaged_ms", "scroll_sum", "scroll_n")
_ENTRY = ("entry_visitors", "entries", "entry_pageviews", "entry_bounces", "entry_duration_s")

COUNTERS: tuple[str, ...] = (*_VISIT, "events", *_ENGAGEMENT, *_ENTRY, "exits", "drops")
"""Every counter column of a stored row, in storage order. All are additive: a range's figure is
the sum of its rows' (DESIGN §4), which is what lets roll-ups and imports simply add up."""

(
    VISITORS,
    VISITS,
    PAGEVIEWS,
    BOUNCES,
    DURATION,
    EVENTS,
    ENGAGED_MS,
    SCROLL_SUM,
    SCROLL_N,
    ENTRY_VISITORS,
    ENTRIES,
    ENTRY_PAGEVIEWS,
    ENTRY_BOUNCES,
    ENTRY_DURATION,
    EXITS,
    DROPS,
) = range(len(COUNTERS))

HOURLY_COUNTERS: tuple[str, ...] = COUNTERS[:5]
"""The site totals kept per local hour, for the hourly chart."""

Level = Literal["site", "visit", "page", "event", "drop"]


@dataclass(frozen=True)
class Dimension:
    key: str
    code: int  # stored in every row; frozen once released
    level: Level  # where its values come from: the visit's first hit, a pageview, an event…
    counters: tuple[str, ...]  # the counters its rows can carry (the others stay 0)


DIMENSIONS: tuple[Dimension, ...] = (
    Dimension("total", 0, "site", (*_VISIT, "events")),
    Dimension(
        "page",
        1,
        "page",
        ("visitors", "pageviews", *_ENGAGEMENT, *_ENTRY, "exits"),
    ),
    Dimension("source", 2, "visit", _VISIT),
    Dimension("utm_source", 3, "visit", _VISIT),
    Dimension("utm_medium", 4, "visit", _VISIT),
    Dimension("utm_campaign", 5, "visit", _VISIT),
    Dimension("country", 6, "visit", _VISIT),
    Dimension("browser", 7, "visit", _VISIT),
    Dimension("os", 8, "visit", _VISIT),
    Dimension("device", 9, "visit", _VISIT),
    Dimension("screen", 10, "visit", _VISIT),
    Dimension("language", 11, "visit", _VISIT),
    Dimension("event", 12, "event", ("visitors", "events")),
    Dimension("event_prop", 13, "event", ("visitors", "events")),
    Dimension("dropped", 14, "drop", ("drops",)),
)
BY_KEY: Mapping[str, Dimension] = MappingProxyType({d.key: d for d in DIMENSIONS})
BY_CODE: Mapping[int, Dimension] = MappingProxyType({d.code: d for d in DIMENSIONS})
TOTAL, DROPPED = BY_KEY["total"], BY_KEY["dropped"]

RANKED: tuple[str, ...] = ("visitors", "entry_visitors", "exits", "events")
"""Counters a list ranks by that ``monthly`` has an index for (migration 5): a top list over a
long range reads each month's values best first and stops once no unread value can reach it."""

HOST_DIMENSIONS: tuple[str, ...] = ("source",)
"""Dimensions whose values are named after a host, which the audit judges as hosts."""

PROP_SEPARATOR = "\x1f"
"""Between an event prop's name, key and value in the ``event_prop`` dimension's values."""


@dataclass(frozen=True)
class VisitColumns:
    """Where a visit slot's counters go (indexes into ``COUNTERS``)."""

    visitors: int
    visits: int
    pageviews: int
    bounces: int
    duration: int


@dataclass(frozen=True)
class Slot:
    """A value a visit takes from its first hit, counted under ``dimension`` in ``columns``."""

    dimension: str
    columns: VisitColumns


_OWN = VisitColumns(VISITORS, VISITS, PAGEVIEWS, BOUNCES, DURATION)
_ENTRY_COLUMNS = VisitColumns(ENTRY_VISITORS, ENTRIES, ENTRY_PAGEVIEWS, ENTRY_BOUNCES, ENTRY_DURATION)

SLOTS: Mapping[str, Slot] = MappingProxyType(
    {
        "total": Slot("total", _OWN),
        **{d.key: Slot(d.key, _OWN) for d in DIMENSIONS if d.level == "visit"},
        "entry_page": Slot("page", _ENTRY_COLUMNS),
    }
)
VISIT_DIMENSIONS: tuple[str, ...] = tuple(d.key for d in DIMENSIONS if d.level == "visit")
"""Visit-level dimensions, whose value a hit carries in the attribute of the same name."""


@dataclass(frozen=True)
class TopList:
    """One of the dashboard's lists: a dimension's rows read through some of its counters.

    What is derived from the declaration (``stored``, ``order``, ``counters``…) is worked out once
    per list, not per row shown.

    ``figures`` are (name shown, counter stored) in the order they are shown; ``rank`` is the shown
    figure the list is ordered by (then pageviews, then the value) and shared by; ``share_of`` is
    the site total that figure is a share of. ``bounces`` names the stored counter a bounce rate
    is derived from (over the shown visits); ``engagement`` adds the page's time on page and
    scroll depth.
    """

    key: str
    dimension: str
    title: str
    label: str
    figures: tuple[tuple[str, str], ...]
    rank: str
    share_of: str
    bounces: str | None = None
    engagement: bool = False

    @cached_property
    def stored(self) -> Mapping[str, str]:
        return dict(self.figures)

    @cached_property
    def rank_counter(self) -> str:
        return self.stored[self.rank]

    @cached_property
    def order(self) -> tuple[str, ...]:
        """Stored counters the list is sorted by, descending (the value breaks the last tie)."""
        shown_pageviews = self.stored.get("pageviews")
        return (
            (self.rank_counter, shown_pageviews)
            if shown_pageviews and shown_pageviews != self.rank_counter
            else (self.rank_counter,)
        )

    @cached_property
    def counters(self) -> tuple[str, ...]:
        """The stored counters this list reads: a store sums only these."""
        needed = [c for _, c in self.figures]
        if self.bounces:
            needed.append(self.bounces)
        if self.engagement:
            needed += ["engaged_ms", "scroll_sum", "scroll_n"]
        return tuple(dict.fromkeys(needed))


_VISIT_FIGURES = (("visitors", "visitors"), ("visits", "visits"), ("pageviews", "pageviews"))
_EVENT_FIGURES = (("visitors", "visitors"), ("events", "events"))


def _visit_list(key: str, title: str, label: str) -> TopList:
    return TopList(key, key, title, label, _VISIT_FIGURES, "visitors", "visitors", bounces="bounces")


LISTS: tuple[TopList, ...] = (
    TopList(
        "page",
        "page",
        "Pages",
        "Page",
        (("visitors", "visitors"), ("pageviews", "pageviews")),
        "visitors",
        "visitors",
        engagement=True,
    ),
    TopList(
        "entry_page",
        "page",
        "Entry pages",
        "Page",
        (("visitors", "entry_visitors"), ("visits", "entries"), ("pageviews", "entry_pageviews")),
        "visitors",
        "visitors",
        bounces="entry_bounces",
    ),
    TopList("exit_page", "page", "Exit pages", "Page", (("exits", "exits"),), "exits", "visits"),
    _visit_list("source", "Sources", "Source"),
    _visit_list("utm_source", "UTM sources", "utm_source"),
    _visit_list("utm_medium", "UTM media", "utm_medium"),
    _visit_list("utm_campaign", "UTM campaigns", "utm_campaign"),
    _visit_list("country", "Countries", "Country"),
    _visit_list("browser", "Browsers", "Browser"),
    _visit_list("os", "Operating systems", "Operating system"),
    _visit_list("device", "Devices", "Device"),
    _visit_list("screen", "Screen sizes", "Screen"),
    _visit_list("language", "Languages", "Language"),
    TopList("event", "event", "Custom events", "Event", _EVENT_FIGURES, "events", "events"),
    TopList("event_prop", "event_prop", "Event properties", "Property", _EVENT_FIGURES, "events", "events"),
)
LIST_BY_KEY: Mapping[str, TopList] = MappingProxyType({t.key: t for t in LISTS})
DROP_REASONS = TopList("dropped", "dropped", "Filtered", "Reason", (("drops", "drops"),), "drops", "drops")
"""Beacons dropped before counting, by reason (bots, prefetches, foreign hosts)."""


def _check() -> None:
    """The declarations agree with each other; a mistake here fails at import, not in a query."""
    assert len({d.code for d in DIMENSIONS}) == len(DIMENSIONS), "dimension codes must be unique"
    for dimension in DIMENSIONS:
        assert set(dimension.counters) <= set(COUNTERS), dimension.key
    for top in (*LISTS, DROP_REASONS):
        dimension = BY_KEY[top.dimension]
        assert set(top.counters) <= set(dimension.counters), f"list {top.key} reads counters its rows do not carry"
        assert top.rank in top.stored, top.key


_check()

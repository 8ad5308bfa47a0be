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

Level = Literal["site", "visit", "page", "event", "drop", "goal", "funnel", "segment"]


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
    Dimension("goal", 15, "goal", ("visitors", "events")),  # value: the goal's id; events: conversions
    Dimension("funnel", 16, "funnel", ("visitors",)),  # value: funnel id and 1-based step (``funnel_value``)
)

SegmentKind = Literal["visit", "pageview", "conversion"]


@dataclass(frozen=True)
class Segment:
    """A declared two-dimensional row: a value of ``pivot`` (what the dashboard is filtered by)
    paired with a value of ``listed`` (the list shown under that filter), stored as a dimension
    of its own whose values are ``segment_value(pivot value, listed value)``.

    No row combines more than two dimensions, and once a site's day is closed no cell with fewer
    than ``CRUMBLESS_SEGMENT_MIN_VISITORS`` visitors stays on disk: it folds into the pivot's
    ``(other)`` cell (``segment_value(pivot value, OTHER)``), so the pivot's sums stay exact.
    ``read_from`` names the segment whose cells are this one's pairs the other way round, with the
    same counters (page × country is country × page): only that one is counted and stored, and
    this one is read from it, by its listed value.

    ``kind`` says when the cell counts: ``visit`` cells move with the visit's counters (both values
    are the visit's), ``pageview`` cells with pageviews (one of the values is the page viewed),
    ``conversion`` cells with a goal's conversions. ``coarse`` names a coarser value used instead
    of the listed one where it serves as well: ``channel`` is a source's kind (``collector.channels``),
    since page × source cells are nearly all single-visitor otherwise.
    """

    pivot: str
    listed: str
    code: int
    kind: SegmentKind
    coarse: str = ""
    read_from: str = ""

    @property
    def key(self) -> str:
        return f"{self.pivot}>{self.listed}"


_SEGMENT_COUNTERS: Mapping[str, tuple[str, ...]] = {
    "visit": _VISIT,
    "pageview": ("visitors", "pageviews"),
    "conversion": ("visitors", "events"),
}

SEGMENTS: tuple[Segment, ...] = (
    Segment("source", "page", 32, "pageview"),
    Segment("source", "entry_page", 33, "visit"),
    Segment("source", "country", 34, "visit"),
    Segment("source", "device", 35, "visit"),
    Segment("source", "goal", 36, "conversion"),
    Segment("utm_campaign", "page", 37, "pageview"),
    Segment("utm_campaign", "entry_page", 38, "visit"),
    Segment("utm_campaign", "country", 39, "visit"),
    Segment("utm_campaign", "device", 40, "visit"),
    Segment("utm_campaign", "goal", 41, "conversion"),
    Segment("country", "page", 42, "pageview"),
    Segment("country", "source", 43, "visit"),
    Segment("device", "page", 44, "pageview"),
    Segment("device", "source", 45, "visit"),
    Segment("page", "source", 46, "pageview", coarse="channel"),
    Segment("page", "country", 47, "pageview", read_from="country>page"),
    Segment("page", "device", 48, "pageview", read_from="device>page"),
    Segment("page", "entry_page", 49, "pageview"),
    Segment("goal", "source", 50, "conversion"),
    Segment("goal", "utm_campaign", 51, "conversion"),
    Segment("goal", "entry_page", 52, "conversion"),
)
"""Every filter × list combination Crumbless keeps, in one place: counting writes exactly these
rows, the stats functions read them, and the dashboard, the API and ``crumbless stats`` offer only
these (``FILTERED``). A list not declared under a filter is shown as not available under it."""
SEGMENT_BY_KEY: Mapping[str, Segment] = MappingProxyType({s.key: s for s in SEGMENTS})
FILTERS: tuple[str, ...] = tuple(dict.fromkeys(s.pivot for s in SEGMENTS))
"""What the overview can be filtered by (``filter=DIM:VALUE``)."""
VISITOR_CONSTANT: frozenset[str] = frozenset({"country", "device"})
"""Dimensions whose value follows from what the visitor hash is made of (the address gives the
country, the User-Agent the device class), so one visitor has one value of each all day: a cell
pairing one of them with another value is new for a visitor exactly when that other value is, and
needs no fingerprint of its own in the visitor's record."""

DIMENSIONS = DIMENSIONS + tuple(Dimension(s.key, s.code, "segment", _SEGMENT_COUNTERS[s.kind]) for s in SEGMENTS)


def segment_value(pivot_value: str, listed_value: str) -> str:
    """A segment cell's stored value: both values, the pivot's first, so a filter reads one
    pivot value's cells as one range of the value index."""
    return f"{pivot_value}{PROP_SEPARATOR}{listed_value}"


def funnel_value(funnel: int, step: int) -> str:
    """A funnel row's stored value: the funnel's id and the 1-based step reached."""
    return f"{funnel}{PROP_SEPARATOR}{step}"


BY_KEY: Mapping[str, Dimension] = MappingProxyType({d.key: d for d in DIMENSIONS})
BY_CODE: Mapping[int, Dimension] = MappingProxyType({d.code: d for d in DIMENSIONS})
TOTAL, DROPPED = BY_KEY["total"], BY_KEY["dropped"]

RANKED: tuple[str, ...] = ("visitors", "entry_visitors", "exits", "events")
"""Counters a list ranks by that ``monthly`` has an index for (migration 5): a top list over a
long range reads each month's values best first and stops once no unread value can reach it."""
RANKED_BELOW = 32
"""The ranking indexes hold the rows of dimension codes below this (migration 9): the segments'
codes start here, and their cells are never ranked."""
assert all((d.code >= RANKED_BELOW) == (d.level == "segment") for d in DIMENSIONS)

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


GOALS = TopList(
    "goal", "goal", "Goals", "Goal", (("visitors", "visitors"), ("conversions", "events")), "visitors", "visitors"
)
"""Converting visitors and conversions per goal (values are goal ids; ``collector.goals`` names them)."""
FUNNEL_STEPS = TopList("funnel", "funnel", "Funnels", "Step", (("visitors", "visitors"),), "visitors", "visitors")
"""Visitors who reached each step of a funnel in order (values are ``funnel_value``)."""


def _filtered(segment: Segment) -> TopList:
    """The list ``segment.listed`` as read under a filter by ``segment.pivot``: the same list, its
    figures those the segment's rows carry."""
    base = GOALS if segment.listed == "goal" else LIST_BY_KEY[segment.listed]
    title, label = ("Channels", "Channel") if segment.coarse == "channel" else (base.title, base.label)
    if segment.kind == "visit":
        return TopList(base.key, segment.key, title, label, _VISIT_FIGURES, "visitors", "visitors", bounces="bounces")
    figures = (
        ("visitors", "visitors"),
        (
            "pageviews" if segment.kind == "pageview" else "conversions",
            "pageviews" if segment.kind == "pageview" else "events",
        ),
    )
    return TopList(base.key, segment.key, title, label, figures, "visitors", "visitors")


FILTERED: Mapping[tuple[str, str], TopList] = MappingProxyType({(s.pivot, s.listed): _filtered(s) for s in SEGMENTS})
"""(filter dimension, list key) → the list as it reads under that filter; a pair absent here is a
list the filter does not support, which the dashboard and the API say instead of showing it."""


def _check() -> None:
    """The declarations agree with each other; a mistake here fails at import, not in a query."""
    assert len({d.code for d in DIMENSIONS}) == len(DIMENSIONS), "dimension codes must be unique"
    for dimension in DIMENSIONS:
        assert set(dimension.counters) <= set(COUNTERS), dimension.key
    for segment in SEGMENTS:
        assert segment.pivot in (*VISIT_DIMENSIONS, "page", "goal"), segment.key
        assert segment.listed in (*VISIT_DIMENSIONS, "page", "entry_page", "goal"), segment.key
        assert segment.kind == "pageview" or "page" not in (segment.pivot, segment.listed), segment.key
        assert (segment.kind == "conversion") == ("goal" in (segment.pivot, segment.listed)), segment.key
        if segment.read_from:  # read by listed value, then its (other) worked out (store.segments.DERIVED)
            stored = SEGMENT_BY_KEY[segment.read_from]
            assert (stored.pivot, stored.listed, stored.kind) == (segment.listed, segment.pivot, segment.kind)
            assert segment.listed in VISITOR_CONSTANT and not stored.read_from, segment.key
    for top in (*LISTS, DROP_REASONS, GOALS, FUNNEL_STEPS, *FILTERED.values()):
        dimension = BY_KEY[top.dimension]
        assert set(top.counters) <= set(dimension.counters), f"list {top.key} reads counters its rows do not carry"
        assert top.rank in top.stored, top.key


_check()

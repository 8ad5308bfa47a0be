"""Plausible's CSV export zip, declared once: its ten tables, their columns, and how each maps to Crumbless.

Plausible CE exports a site as a zip of ``imported_<table>_<YYYYMMDD>_<YYYYMMDD>.csv`` files (its
``docs/csv-import.md`` names the columns), the format its own importer and newer tools read.
Both directions read this one declaration, so an export imports back into the rows it came from
and nothing is mapped one way and forgotten the other. What a table carries that Crumbless
keeps no counter for is listed in ``unmapped`` and named in every import's summary.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[str, ...]  # in the exporter's order; "date" first
    keys: tuple[tuple[str, str], ...]  # (text column, Crumbless dimension it is a value of)
    counters: tuple[tuple[str, str], ...]  # (number column, Crumbless counter it adds to)
    unmapped: tuple[str, ...] = ()  # columns read and checked but kept nowhere
    optional: tuple[str, ...] = ()  # columns older exports lack

    @property
    def texts(self) -> frozenset[str]:
        numbers = {c for c, _ in self.counters} | set(self.numeric_unmapped)
        return frozenset(c for c in self.columns if c != "date" and c not in numbers)

    @property
    def numeric_unmapped(self) -> tuple[str, ...]:
        return tuple(c for c in self.unmapped if c in _NUMERIC_UNMAPPED)


_VISIT = (
    ("visitors", "visitors"),
    ("visits", "visits"),
    ("visit_duration", "duration_s"),
    ("bounces", "bounces"),
    ("pageviews", "pageviews"),
)
_VISIT_COLUMNS = tuple(c for c, _ in _VISIT)
_NUMERIC_UNMAPPED = frozenset({"visits", "visitors", "visit_duration", "bounces", "pageviews", "city"})
_NUMERIC_UNMAPPED |= {"total_time_on_page_visits"}

TABLES: tuple[Table, ...] = (
    Table(
        "imported_visitors",
        ("date", "visitors", "pageviews", "bounces", "visits", "visit_duration"),
        (),
        _VISIT,
    ),
    Table(
        "imported_sources",
        (
            "date",
            "source",
            "referrer",
            "utm_source",
            "utm_medium",
            "utm_campaign",
            "utm_content",
            "utm_term",
            "pageviews",
            "visitors",
            "visits",
            "visit_duration",
            "bounces",
        ),
        (
            ("source", "source"),
            ("utm_source", "utm_source"),
            ("utm_medium", "utm_medium"),
            ("utm_campaign", "utm_campaign"),
        ),
        _VISIT,
        unmapped=("referrer", "utm_content", "utm_term"),
    ),
    Table(
        "imported_pages",
        (
            "date",
            "hostname",
            "page",
            "visits",
            "visitors",
            "pageviews",
            "total_scroll_depth",
            "total_scroll_depth_visits",
            "total_time_on_page",
            "total_time_on_page_visits",
        ),
        (("page", "page"),),
        (
            ("visitors", "visitors"),
            ("pageviews", "pageviews"),
            ("total_scroll_depth", "scroll_sum"),
            ("total_scroll_depth_visits", "scroll_n"),
            ("total_time_on_page", "engaged_ms"),
        ),
        unmapped=("hostname", "visits", "total_time_on_page_visits"),
        optional=("total_scroll_depth", "total_scroll_depth_visits", "total_time_on_page", "total_time_on_page_visits"),
    ),
    Table(
        "imported_entry_pages",
        ("date", "entry_page", "visitors", "entrances", "visit_duration", "bounces", "pageviews"),
        (("entry_page", "page"),),
        (
            ("visitors", "entry_visitors"),
            ("entrances", "entries"),
            ("visit_duration", "entry_duration_s"),
            ("bounces", "entry_bounces"),
            ("pageviews", "entry_pageviews"),
        ),
    ),
    Table(
        "imported_exit_pages",
        ("date", "exit_page", "visitors", "visit_duration", "exits", "bounces", "pageviews"),
        (("exit_page", "page"),),
        (("exits", "exits"),),
        unmapped=("visitors", "visit_duration", "bounces", "pageviews"),
    ),
    Table(
        "imported_custom_events",
        ("date", "name", "link_url", "path", "visitors", "events"),
        (("name", "event"),),
        (("visitors", "visitors"), ("events", "events")),
    ),
    Table(
        "imported_locations",
        ("date", "country", "region", "city", *_VISIT_COLUMNS),
        (("country", "country"),),
        _VISIT,
        unmapped=("region", "city"),
    ),
    Table("imported_devices", ("date", "device", *_VISIT_COLUMNS), (("device", "screen"),), _VISIT),
    Table(
        "imported_browsers",
        ("date", "browser", "browser_version", *_VISIT_COLUMNS),
        (("browser", "browser"),),
        _VISIT,
        unmapped=("browser_version",),
    ),
    Table(
        "imported_operating_systems",
        ("date", "operating_system", "operating_system_version", *_VISIT_COLUMNS),
        (("operating_system", "os"),),
        _VISIT,
        unmapped=("operating_system_version",),
    ),
)
BY_NAME: Mapping[str, Table] = MappingProxyType({t.name: t for t in TABLES})

MS_PER_SECOND = 1000
"""``total_time_on_page`` is whole seconds; Crumbless keeps engaged milliseconds."""

EVENT_PROP_COLUMNS = (("link_url", "url"), ("path", "path"))
"""imported_custom_events' two property columns: Plausible's ``url`` property of its link and
download goals, and ``path`` of its 404 goal, become event properties of those names."""

# Names that differ between the two tools (Plausible's → Crumbless's), one to one so that an
# export reads back as it was; every other value is the same in both and passes through.
SCREENS: Mapping[str, str] = MappingProxyType(
    {"Mobile": "mobile", "Tablet": "tablet", "Laptop": "laptop", "Desktop": "desktop"}
)
BROWSERS: Mapping[str, str] = MappingProxyType(
    {
        "Microsoft Edge": "Edge",
        "Samsung Browser": "Samsung Internet",
        "DuckDuckGo Privacy Browser": "DuckDuckGo",
    }
)
SYSTEMS: Mapping[str, str] = MappingProxyType({"Mac": "macOS", "GNU/Linux": "Linux", "Chrome OS": "ChromeOS"})
TRANSLATED: Mapping[str, Mapping[str, str]] = MappingProxyType({"screen": SCREENS, "browser": BROWSERS, "os": SYSTEMS})


def to_crumbless(dimension: str, value: str) -> str:
    return TRANSLATED.get(dimension, {}).get(value, value)


_BACK = {dim: {ours: theirs for theirs, ours in table.items()} for dim, table in TRANSLATED.items()}


def to_plausible(dimension: str, value: str) -> str:
    return _BACK.get(dimension, {}).get(value, value)

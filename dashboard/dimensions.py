"""How each dimension is presented: its title, what its rows are counted by, and its columns.

Shared by the HTML lists, the CSV export and the API's enumeration of dimensions, so a column
is named the same everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass

from collector.aggregator import COLUMNS
from collector.counting import PROP_SEPARATOR
from dashboard.stats import DIMENSIONS, entry


@dataclass(frozen=True)
class Dimension:
    key: str
    title: str
    label: str        # header of the value column
    primary: str      # the figure a top list is ordered and shared by
    total: str        # the site total that figure is a share of

    @property
    def columns(self) -> list[str]:
        """Every field ``stats.entry`` gives for this dimension, in a stable order (CSV header)."""
        probe = entry(self.key, PROP_SEPARATOR.join("abc"), dict.fromkeys(COLUMNS, 1))
        return list(probe)

    @property
    def figures(self) -> list[str]:
        """The numeric columns a full list shows (a page's ``visits`` is always 0: visits belong to entry pages)."""
        return [c for c in self.columns if c not in ("value", "event", "key", "prop_value") and (self.key, c) != ("page", "visits")]


_SPECS = {
    "page": ("Pages", "Page", "visitors"),
    "entry_page": ("Entry pages", "Page", "visitors"),
    "exit_page": ("Exit pages", "Page", "exits"),
    "source": ("Sources", "Source", "visitors"),
    "utm_source": ("UTM sources", "utm_source", "visitors"),
    "utm_medium": ("UTM media", "utm_medium", "visitors"),
    "utm_campaign": ("UTM campaigns", "utm_campaign", "visitors"),
    "country": ("Countries", "Country", "visitors"),
    "browser": ("Browsers", "Browser", "visitors"),
    "os": ("Operating systems", "Operating system", "visitors"),
    "device": ("Devices", "Device", "visitors"),
    "screen": ("Screen sizes", "Screen", "visitors"),
    "language": ("Languages", "Language", "visitors"),
    "event": ("Custom events", "Event", "events"),
    "event_prop": ("Event properties", "Property", "events"),
}
_TOTAL_OF = {"visitors": "visitors", "exits": "visits", "events": "events"}

DIMS: dict[str, Dimension] = {
    key: Dimension(key, title, label, primary, _TOTAL_OF[primary]) for key, (title, label, primary) in _SPECS.items()
}
assert tuple(DIMS) == DIMENSIONS, "every dimension the stats know must have a presentation"

HEADERS = {
    "value": "Value",
    "visitors": "Visitors",
    "visits": "Visits",
    "pageviews": "Pageviews",
    "bounce_rate": "Bounce rate",
    "exits": "Exits",
    "events": "Events",
    "time_on_page_s": "Time on page",
    "scroll_depth": "Scroll depth",
    "event": "Event",
    "key": "Property",
    "prop_value": "Property value",
}

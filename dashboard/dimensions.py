"""How each list is presented: its title, what its rows are counted by, and its columns.

The lists themselves are declared in ``collector.model`` (``LISTS``); this adds what the HTML
lists, the CSV export and the API's enumeration of dimensions need, so a column is named the
same everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass

from collector.model import COUNTERS, LISTS, PROP_SEPARATOR, TopList
from dashboard.stats import entry


@dataclass(frozen=True)
class Dimension:
    """A list as the pages, the CSV export and the API present it, worked out once per list."""

    listing: TopList
    key: str
    title: str
    label: str  # header of the value column
    primary: str  # the figure a top list is ordered and shared by
    total: str  # the site total that figure is a share of
    columns: list[str]  # every field ``stats.entry`` gives for this list, in a stable order (CSV header)

    @property
    def figures(self) -> list[str]:
        """The numeric columns a full list shows."""
        return [c for c in self.columns if c not in ("value", "event", "key", "prop_value")]


def _presented(listing: TopList) -> Dimension:
    probe = entry(listing, PROP_SEPARATOR.join("abc"), dict.fromkeys(COUNTERS, 1))
    return Dimension(listing, listing.key, listing.title, listing.label, listing.rank, listing.share_of, list(probe))


DIMS: dict[str, Dimension] = {listing.key: _presented(listing) for listing in LISTS}

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

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
    listing: TopList

    @property
    def key(self) -> str:
        return self.listing.key

    @property
    def title(self) -> str:
        return self.listing.title

    @property
    def label(self) -> str:
        """Header of the value column."""
        return self.listing.label

    @property
    def primary(self) -> str:
        """The figure a top list is ordered and shared by."""
        return self.listing.rank

    @property
    def total(self) -> str:
        """The site total that figure is a share of."""
        return self.listing.share_of

    @property
    def columns(self) -> list[str]:
        """Every field ``stats.entry`` gives for this list, in a stable order (CSV header)."""
        probe = entry(self.listing, PROP_SEPARATOR.join("abc"), dict.fromkeys(COUNTERS, 1))
        return list(probe)

    @property
    def figures(self) -> list[str]:
        """The numeric columns a full list shows."""
        return [c for c in self.columns if c not in ("value", "event", "key", "prop_value")]


DIMS: dict[str, Dimension] = {listing.key: Dimension(listing) for listing in LISTS}

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

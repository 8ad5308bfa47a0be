"""How each list is presented: its title, what its rows are counted by, and its columns.

The lists themselves are declared in ``collector.model`` (``LISTS``); this adds what the HTML
lists, the CSV export and the API's enumeration of dimensions need, so a column is named the
same everywhere. What a person reads (titles, column headers, the values Crumbless itself writes
such as ``(other)``) is kept here as catalog messages and translated where it is shown.
"""

from __future__ import annotations

from dataclasses import dataclass

from collector.model import COUNTERS, LISTS, PROP_SEPARATOR, TopList
from dashboard.i18n import N_, gettext
from dashboard.stats import entry

# Each list's title and the header of its value column. The model names its lists in English for
# the CLI and the API; the dashboard's words are here, where the catalogs' extraction finds them.
WORDS: dict[str, tuple[str, str]] = {
    "page": (N_("Pages"), N_("Page")),
    "entry_page": (N_("Entry pages"), N_("Page")),
    "exit_page": (N_("Exit pages"), N_("Page")),
    "source": (N_("Sources"), N_("Source")),
    "utm_source": (N_("UTM sources"), N_("UTM source")),
    "utm_medium": (N_("UTM media"), N_("UTM medium")),
    "utm_campaign": (N_("UTM campaigns"), N_("UTM campaign")),
    "country": (N_("Countries"), N_("Country")),
    "browser": (N_("Browsers"), N_("Browser")),
    "os": (N_("Operating systems"), N_("Operating system")),
    "device": (N_("Devices"), N_("Device")),
    "screen": (N_("Screen sizes"), N_("Screen")),
    "language": (N_("Languages"), N_("Language")),
    "event": (N_("Custom events"), N_("Event")),
    "event_prop": (N_("Event properties"), N_("Property")),
}


@dataclass(frozen=True)
class Dimension:
    """A list as the pages, the CSV export and the API present it, worked out once per list."""

    listing: TopList
    key: str
    words: tuple[str, str]  # title and value-column header, as catalog messages
    primary: str  # the figure a top list is ordered and shared by
    total: str  # the site total that figure is a share of
    columns: list[str]  # every field ``stats.entry`` gives for this list, in a stable order (CSV header)

    @property
    def title(self) -> str:
        return gettext(self.words[0])

    @property
    def label(self) -> str:
        """Header of the value column."""
        return gettext(self.words[1])

    @property
    def figures(self) -> list[str]:
        """The numeric columns a full list shows."""
        return [c for c in self.columns if c not in ("value", "event", "key", "prop_value")]


def presented(listing: TopList, words: tuple[str, str] | None = None) -> Dimension:
    """A list as shown, under its own words or others (a filtered list that reads channels, not sources)."""
    probe = entry(listing, PROP_SEPARATOR.join("abc"), dict.fromkeys(COUNTERS, 1))
    shown = words or WORDS[listing.key]
    return Dimension(listing, listing.key, shown, listing.rank, listing.share_of, list(probe))


DIMS: dict[str, Dimension] = {listing.key: presented(listing) for listing in LISTS}

HEADERS = {
    "value": N_("Value"),
    "visitors": N_("Visitors"),
    "visits": N_("Visits"),
    "pageviews": N_("Pageviews"),
    "bounce_rate": N_("Bounce rate"),
    "exits": N_("Exits"),
    "events": N_("Events"),
    "time_on_page_s": N_("Time on page"),
    "scroll_depth": N_("Scroll depth"),
    "event": N_("Event"),
    "key": N_("Property"),
    "prop_value": N_("Property value"),
}


def column_name(key: str) -> str:
    """A figure's column header in the reader's language ("visitors": Visitors, Visitantes)."""
    return gettext(HEADERS.get(key, key))


# Values Crumbless itself writes into a list (the rest are the sites' own: paths, names, tags).
_ANY = ""
VALUE_NAMES: dict[tuple[str, str], str] = {
    (_ANY, "(other)"): N_("(other)"),
    (_ANY, "Unknown"): N_("Unknown"),
    (_ANY, "Other"): N_("Other"),
    ("device", "desktop"): N_("Desktop"),
    ("device", "mobile"): N_("Mobile"),
    ("device", "tablet"): N_("Tablet"),
    ("screen", "desktop"): N_("Desktop"),
    ("screen", "laptop"): N_("Laptop"),
    ("screen", "tablet"): N_("Tablet"),
    ("screen", "mobile"): N_("Mobile"),
}
NAMED_VALUES = frozenset(value for _, value in VALUE_NAMES)


def shown_value(value: str, dimension: str) -> str:
    """A list's value as the reader sees it: Crumbless's own words translated, anything else as stored."""
    named = VALUE_NAMES.get((dimension, value)) or VALUE_NAMES.get((_ANY, value))
    return gettext(named) if named else value

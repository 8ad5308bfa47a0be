"""How a filter shows on the pages: the links that set one, the chip that names it, the lists under it.

What a filter is and which lists it supports is ``dashboard.filters`` and ``model.FILTERED``; this
adds only the words and the presentation: which filter a list's values set when clicked, a
filtered list's title and columns (``dimensions.presented``), and why a card shows no figure.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from collector import channels
from collector.model import FILTERED, FILTERS, SEGMENT_BY_KEY, TopList
from dashboard.dimensions import DIMS, WORDS, Dimension, presented
from dashboard.filters import Filter
from dashboard.i18n import N_, pgettext
from dashboard.sources import source_display

LABELS: Mapping[str, str] = MappingProxyType(
    {
        "source": N_("Source"),
        "utm_campaign": N_("UTM campaign"),
        "country": N_("Country"),
        "device": N_("Device"),
        "page": N_("Page"),
        "goal": N_("Goal"),
    }
)
"""A filter's dimension as the chip and the links name it ("Source: Google")."""

SETS: Mapping[str, str] = MappingProxyType({**{key: key for key in FILTERS}, "entry_page": "page", "exit_page": "page"})
"""List key → the filter its values set when clicked: an entry or exit page is a page."""

NOT_A_VALUE = frozenset({"(other)"})
"""What a list shows that no row of any other dimension names (the cells folded together): no link."""

_GOALS_WORDS = (N_("Goals"), N_("Goal"))
_CHANNEL_WORDS = (N_("Channels"), N_("Channel"))


def _words(listing: TopList) -> tuple[str, str]:
    if SEGMENT_BY_KEY[listing.dimension].coarse == "channel":
        return _CHANNEL_WORDS
    return WORDS.get(listing.key, _GOALS_WORDS)


FILTERED_DIMS: Mapping[tuple[str, str], Dimension] = MappingProxyType(
    {pair: presented(listing, _words(listing)) for pair, listing in FILTERED.items()}
)
"""(filter dimension, list key) → the list as shown under the filter."""


def shown(dim: Dimension, filter: Filter | None) -> Dimension | None:
    """The list ``dim`` as the page shows it under ``filter``; None where it is not available."""
    return dim if filter is None else FILTERED_DIMS.get((filter.dimension, dim.key))


def sets(dim: Dimension) -> str | None:
    """The filter a value of this list sets, or None: a list of channels holds no source's name."""
    coarse = dim.listing.dimension in SEGMENT_BY_KEY and SEGMENT_BY_KEY[dim.listing.dimension].coarse
    return None if coarse else SETS.get(dim.key)


def channel_name(channel: str) -> str:
    """A channel (``collector.channels``) in the reader's language; "Search" as a kind of traffic,
    not the button, hence the context."""
    names = {
        channels.DIRECT: pgettext("channel", "Direct"),
        channels.SEARCH: pgettext("channel", "Search"),
        channels.SOCIAL: pgettext("channel", "Social"),
        channels.EMAIL: pgettext("channel", "Email"),
        channels.AI: pgettext("channel", "AI assistants"),
        channels.PAID: pgettext("channel", "Paid"),
        channels.REFERRAL: pgettext("channel", "Referral"),
    }
    return names.get(channel, channel)


def displayed(dim: Dimension, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows with the name they are shown by where it is not the stored value: a source's display
    name, a channel's in the reader's language."""
    if dim.key != "source":
        return rows
    if sets(dim) is None:
        return [{**row, "display": channel_name(row["value"])} for row in rows]
    return [{**row, "display": source_display(row["value"])} for row in rows]


def chip_row(filter: Filter) -> dict[str, Any]:
    """The filter's value as a list row, so the chip shows it as its list does (a country's name…)."""
    row: dict[str, Any] = {"value": filter.value}
    if filter.dimension == "source":
        row["display"] = source_display(filter.value)
    return row


def chip_dim(filter: Filter) -> Dimension | None:
    """The list whose way of showing a value the chip borrows (a goal's name is shown as it is)."""
    return DIMS.get(filter.dimension)


CARD_NOTES: Mapping[str, str] = MappingProxyType(
    {
        "page": N_(
            "A page has visitors and pageviews of its own: visits, bounces and durations belong to the page "
            "where a visit began (Entry pages)."
        ),
        "goal": N_(
            "A goal counts the visitors who converted and their conversions; the conversion rate is their share "
            "of all the site's visitors. Visits and pageviews are not counted per goal."
        ),
    }
)
"""Why a card shows "–" under a filter whose rows lack that figure."""

"""A filter by one value (``filter=source:Google``), read and checked in one place.

The overview, its full lists, the CSV export, the share view, the JSON API and ``crumbless stats``
all narrow their figures by the same ``Filter``, so what a filter means and which filters exist
cannot drift apart between them. The dimensions a filter may name are ``model.FILTERS``; the
lists it supports are ``model.FILTERED``, read from there and never repeated.

A goal is named by its name where people write a filter (a goal's id means nothing to them), and
stored by its id in the rows: ``Filter.stored`` is the value the rows hold.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from collector.model import FILTERED, FILTERS, TopList
from collector.sites import Site
from dashboard.i18n import N_, TranslatedError

QUERY_SEPARATOR = ":"  # filter=DIM:VALUE (the value may contain it: split at the first)
MAX_VALUE = 2400
"""Characters of a filter's value: no stored value is longer (``queries.MAX_VALUE_BYTES``)."""


class FilterError(TranslatedError):
    """A filter the client must fix (as ``ranges.RangeError``)."""


class Unavailable(FilterError):
    """A list the filter does not support: no segment rows pair the two (``model.FILTERED``)."""


@dataclass(frozen=True)
class Filter:
    dimension: str  # one of ``model.FILTERS``
    value: str  # as people write it: a goal's name
    stored: str  # as the rows hold it: a goal's id

    def listing(self, key: str) -> TopList | None:
        """The list ``key`` as it reads under this filter, or None where it is not available."""
        return FILTERED.get((self.dimension, key))

    def required(self, key: str) -> TopList:
        listing = self.listing(key)
        if listing is None:
            raise Unavailable(
                N_("the list {list} is not available with a filter by {dimension}"), list=key, dimension=self.dimension
            )
        return listing

    @property
    def query(self) -> str:
        """The filter as the URL's ``filter`` parameter spells it."""
        return f"{self.dimension}{QUERY_SEPARATOR}{self.value}"

    def as_json(self) -> dict[str, str]:
        return {"dimension": self.dimension, "value": self.value}


def _is_text(value: str) -> bool:
    """No stored value holds a control character (``urls.clean_text`` removes them), and the unit
    separator is what parts a segment's two values, so a value with one can only be a mistake."""
    return not any(ord(c) < 0x20 or ord(c) == 0x7F or 0xD800 <= ord(c) <= 0xDFFF for c in value)


def parse(text: str, site: Site, separator: str = QUERY_SEPARATOR) -> Filter:
    """``DIM:VALUE`` (``DIM=VALUE`` for the CLI) as a filter of ``site``'s figures.

    An empty value is one: the source of direct visits is the empty one.
    """
    dimension, found, value = text.partition(separator)
    if not found:
        raise FilterError(
            N_("filter must be DIMENSION{separator}VALUE, for example source{separator}Google"), separator=separator
        )
    if dimension not in FILTERS:
        shown = dimension if len(dimension) <= 40 else dimension[:37] + "..."
        raise FilterError(
            N_("a filter's dimension must be one of {dimensions}, got {value!r}"),
            dimensions=", ".join(FILTERS),
            value=shown,
        )
    if len(value) > MAX_VALUE or not _is_text(value):
        raise FilterError(N_("a filter's value must be text of at most {length} characters"), length=MAX_VALUE)
    if dimension != "goal":
        return Filter(dimension, value, value)
    goal = next((g for g in site.conversions.goals if g.name == value), None)
    if goal is None:
        shown = value if len(value) <= 40 else value[:37] + "..."
        raise FilterError(N_("{site} has no goal named {value!r} to filter by"), site=site.domain, value=shown)
    return Filter(dimension, value, str(goal.id))


def requested(given: Sequence[str], site: Site) -> Filter | None:
    """The filter of a request's ``filter`` parameters: none, or exactly one."""
    if not given:
        return None
    if len(given) > 1:
        raise FilterError(N_("give at most one filter"))
    return parse(given[0], site)

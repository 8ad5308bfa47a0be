"""The cardinality guard: at most ``max_values`` distinct values per site, day and dimension.

Bounding distinct values keeps the database small and the dashboard fast no matter what a
hostile or buggy page sends as paths or event props; values beyond the bound fold into
``(other)``. The guard must be shared by every collector that counts a site (N collectors
each admitting their own N × the bound would break the bound), so it sits behind ``admit``,
which takes all the values one hit may need at once: a networked guard answers them in one
round trip, sent together with the visitor record's read.

``wanted`` lists those values; admitting a value the hit then does not count (an engagement
ping's page when no visit is live) only takes one place under the bound, the same on every
implementation, so one collector and several count alike.
"""

from __future__ import annotations

from collections.abc import Sequence

from collector.hits import Hit, Kind
from collector.model import PROP_SEPARATOR, VISIT_DIMENSIONS

OTHER = "(other)"

Wanted = tuple[str, str]  # (dimension key, value)
Admitted = dict[Wanted, str]  # → the value to count under: itself or OTHER


def wanted(hit: Hit) -> list[Wanted]:
    """Every (dimension, value) the counting rules may look up for ``hit``."""
    values = [(dim, value) for dim in VISIT_DIMENSIONS if (value := getattr(hit, dim))]
    values.append(("page", hit.path))
    if hit.kind is Kind.EVENT:
        values.append(("event", hit.event))
        values += [("event_prop", prop_value(hit.event, key, value)) for key, value in hit.props]
    return values


def prop_value(event: str, key: str, value: str) -> str:
    """An event property's value as stored: one value per event name, key and value.

    The event's own name, not its folded one: the property rows have a bound of their own, so a
    site whose event names overflow still keeps the properties it has room for under their names.
    """
    return PROP_SEPARATOR.join((event, key, value))


class MemoryGuard:
    """The guard of one process: a set of admitted values per site, day and dimension."""

    def __init__(self, max_values: int) -> None:
        self.max_values = max_values
        # value → the same value: the stored instance is handed back, so every visitor record and
        # counter key that names a page or a source shares one string instead of holding a copy.
        self._values: dict[tuple[int, int, str], dict[str, str]] = {}

    def fold(self, site: int, day: int, dim: str, value: str) -> str:
        known = self._values.get((site, day, dim))
        if known is None:
            known = self._values[(site, day, dim)] = {}
        stored = known.get(value)
        if stored is not None:
            return stored
        if len(known) >= self.max_values:
            return OTHER
        known[value] = value
        return value

    async def admit(self, site: int, day: int, values: Sequence[Wanted]) -> Admitted:
        fold = self.fold
        return {(dim, value): fold(site, day, dim, value) for dim, value in values}

    def remember(self, site: int, day: int, dim: str, value: str) -> None:
        """Seed the guard with a value already stored, so a restart does not reopen a full dimension."""
        self._values.setdefault((site, day, dim), {})[value] = value

    def forget_days(self, site: int, before_day: int) -> None:
        for key in [k for k in self._values if k[0] == site and k[1] < before_day]:
            del self._values[key]

"""In-memory counters between flushes, and the per-day cardinality guard.

Every hit turns into a few additions here; the flusher drains them into one transaction of
upserts, so database work grows with the number of distinct keys, not with traffic. A failed
flush puts its batch back (``restore``), which is how a locked or full database loses no hit.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from collector.model import COUNTERS, HOURLY_COUNTERS

OTHER = "(other)"

DailyKey = tuple[int, int, str, str]     # site, day, dimension key, value
HourlyKey = tuple[int, int]              # site, hour


@dataclass
class Batch:
    daily: dict[DailyKey, list[int]] = field(default_factory=dict)
    hourly: dict[HourlyKey, list[int]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.daily) + len(self.hourly)


class Aggregator:
    def __init__(self, max_values: int) -> None:
        self.max_values = max_values
        self._batch = Batch()
        # value → the same value: the stored instance is handed back, so every visitor record and
        # counter key that names a page or a source shares one string instead of holding a copy.
        self._values: dict[tuple[int, int, str], dict[str, str]] = {}

    def value(self, site: int, day: int, dim: str, value: str) -> str:
        """The value to count under: itself, or ``(other)`` once the dimension is full that day.

        Bounding distinct values per site, day and dimension keeps the database small and the
        dashboard fast no matter what a hostile or buggy page sends as paths or event props.
        """
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

    def remember(self, site: int, day: int, dim: str, value: str) -> None:
        """Seed the guard with a value already stored, so a restart does not reopen a full dimension."""
        self._values.setdefault((site, day, dim), {})[value] = value

    def add(self, site: int, day: int, dim: str, value: str, column: int, n: int) -> None:
        row = self._batch.daily.get((site, day, dim, value))
        if row is None:
            row = self._batch.daily[(site, day, dim, value)] = [0] * len(COUNTERS)
        row[column] += n

    def add_hourly(self, site: int, hour: int, column: int, n: int) -> None:
        row = self._batch.hourly.get((site, hour))
        if row is None:
            row = self._batch.hourly[(site, hour)] = [0] * len(HOURLY_COUNTERS)
        row[column] += n

    def drain(self) -> Batch:
        batch, self._batch = self._batch, Batch()
        return batch

    def restore(self, batch: Batch) -> None:
        """Merge a batch that could not be written back in, ahead of anything counted since."""
        for key, row in batch.daily.items():
            for column, n in enumerate(row):
                if n:
                    self.add(*key, column, n)
        for hkey, hrow in batch.hourly.items():
            for column, n in enumerate(hrow):
                if n:
                    self.add_hourly(*hkey, column, n)

    def pending(self) -> int:
        return len(self._batch)

    def forget_day(self, site: int, day: int) -> None:
        for key in [k for k in self._values if k[0] == site and k[1] <= day]:
            del self._values[key]

"""In-memory counters between flushes.

Every hit turns into a few additions here; the flusher drains them into one transaction of
upserts, so database work grows with the number of distinct keys, not with traffic. A failed
flush keeps its batch and retries it, which is how a locked or full database loses no hit.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from collector.model import COUNTERS, HOURLY_COUNTERS

if TYPE_CHECKING:
    from collector.counting import Deltas

DailyKey = tuple[int, int, str, str]     # site, day, dimension key, value
HourlyKey = tuple[int, int]              # site, hour
_WIDTH = len(COUNTERS)
_HOURLY_WIDTH = len(HOURLY_COUNTERS)


def _batch_id() -> str:
    return uuid.uuid4().hex


@dataclass
class Batch:
    """Counter additions to write in one transaction.

    ``id`` names this exact set of additions: a networked store records it in the transaction
    that adds them, so a retry after a commit whose answer was lost (the database restarted
    mid-flush) is recognised and not added twice. A batch is therefore never changed once it has
    been offered to a store; a failed one is retried as it is.
    """

    daily: dict[DailyKey, list[int]] = field(default_factory=dict)
    hourly: dict[HourlyKey, list[int]] = field(default_factory=dict)
    id: str = field(default_factory=_batch_id, compare=False)

    def __len__(self) -> int:
        return len(self.daily) + len(self.hourly)


class Aggregator:
    def __init__(self) -> None:
        self._batch = Batch()

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

    def apply(self, deltas: Deltas) -> None:
        """A committed hit's additions (``counting.count``), in one pass over the rows they touch."""
        daily, hourly, site, day = self._batch.daily, self._batch.hourly, deltas.site, deltas.day
        for dim, value, column, n in deltas.daily:
            row = daily.get((site, day, dim, value))
            if row is None:
                row = daily[(site, day, dim, value)] = [0] * _WIDTH
            row[column] += n
        for dim, value, moved in deltas.visit_rows():
            row = daily.get((site, day, dim, value))
            if row is None:
                row = daily[(site, day, dim, value)] = [0] * _WIDTH
            for column, n in moved:
                row[column] += n
        for hour, column, n in deltas.hourly:
            hrow = hourly.get((site, hour))
            if hrow is None:
                hrow = hourly[(site, hour)] = [0] * _HOURLY_WIDTH
            hrow[column] += n

    def drain(self) -> Batch:
        batch, self._batch = self._batch, Batch()
        return batch

    def restore(self, batch: Batch) -> None:
        """Merge a batch's additions back in (the flusher keeps a failed batch whole instead, see
        ``Batch``; this is for tests and tools that replay one)."""
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

"""The segment privacy budget: once a site's day is closed, no segment cell under k visitors stays.

A segment cell pairs two dimensions' values (``model.SEGMENTS``), and a pair with one or two
visitors can come close to naming a person. During the day such cells are needed (they grow), so
they fold only once the day is over: into their pivot's ``(other)`` cell
(``SegmentStore.fold_segments``), k being ``CRUMBLESS_SEGMENT_MIN_VISITORS``.

"Over" has to wait for the day's last additions: the aggregator holds them for up to one flush
interval after midnight, so a day folds on the first housekeeping tick after it has been over
for ``GRACE_FLUSHES`` flush intervals. Rows can still reach a folded day later (a flush that
failed and was retried, a stop's spill file written at the next start, a worker whose clock
lagged): the flusher reports every closed day it wrote (``written``), and the next tick folds it
again. At start the last closed days with data are folded too, in case the server stopped before
it could. Each fold reads only the days it is given, by the primary key's prefix, so a server
with many sites and years of history pays for the days that closed, not for its history.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from collector.aggregator import Batch
from collector.localtime import today
from collector.model import SEGMENT_BY_KEY
from collector.sites import Site, SiteRegistry
from collector.store import SegmentStore

log = logging.getLogger("crumbless.budget")

GRACE_FLUSHES = 2
"""Flush intervals a day must have been over for before it folds: its last additions are written by then."""
START_DAYS = 2
"""At start, the site's last day with data and the days before it this many back are folded
again: the day a stop interrupted, and the day before it if the stop came just after midnight."""


class SegmentBudget:
    def __init__(
        self,
        store: SegmentStore,
        sites: SiteRegistry,
        min_visitors: int,
        flush_interval: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.sites = sites
        self.min_visitors = min_visitors
        self.grace = GRACE_FLUSHES * flush_interval
        self.clock = clock
        self._folded: dict[int, int] = {}  # site → every closed day up to this one is folded
        self._late: set[tuple[int, int]] = set()  # (site, day) written after the day closed

    @property
    def active(self) -> bool:
        return self.min_visitors > 1

    def written(self, batch: Batch) -> None:
        """The flusher wrote ``batch``: note its segment rows' days that were closed already."""
        if not self.active:
            return
        days = {(site, day) for site, day, dim, _ in batch.daily if dim in SEGMENT_BY_KEY}
        if not days:
            return
        now = self.clock()
        wanted = {site for site, _ in days}
        current = {site.id: today(site.tz, now) for site in self.sites.all() if site.id in wanted}
        self._late |= {(site, day) for site, day in days if day < current.get(site, day)}

    def _closed(self, site: Site, now: float) -> int:
        """The site's last day that has been over for the grace."""
        return today(site.tz, now - self.grace) - 1

    async def fold_due(self) -> int:
        """Fold the days that closed since the last tick, and those written since they were folded;
        returns the cells folded. What a failure leaves undone is done at the next tick."""
        if not self.active:
            return 0
        now, folded = self.clock(), 0
        late, self._late = self._late, set()
        try:
            this_tick: dict[int, int] = {}  # site → the first day folded in order now (through its closed day)
            for site in self.sites.all():
                closed = self._closed(site, now)
                done = self._folded.get(site.id)
                if done is None:  # the first look since start
                    last = await self.store.last_counted_day(site.id, closed + 1)
                    first = closed + 1 if last is None else last - START_DAYS
                else:
                    first = done + 1
                if first <= closed:
                    folded += await self.store.fold_segments(site.id, first, closed, self.min_visitors)
                    this_tick[site.id] = first
                self._folded[site.id] = closed if done is None else max(closed, done)
            for site_id, day in sorted(late):
                through = self._folded.get(site_id)
                if through is None:
                    continue  # a site not looked at yet: kept for the tick after its first look
                if day <= through and day < this_tick.get(site_id, day + 1):
                    folded += await self.store.fold_segments(site_id, day, day, self.min_visitors)
                late.discard((site_id, day))  # else not closed for the grace yet: its own tick folds it
        finally:
            self._late |= late
        if folded:
            log.info(
                "folded %d segment cells under %d visitors (CRUMBLESS_SEGMENT_MIN_VISITORS)", folded, self.min_visitors
            )
        return folded

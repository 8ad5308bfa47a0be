"""The background chores that follow the clock: closing site-days, reloading sites and countries,
and deleting aggregate rows that retention no longer keeps.

When a site's local day is over, its salt is erased (so that day's hashes can never be
recomputed) and its visitor records and cardinality sets are dropped from the day's state. This
runs at start too, so a server that was down over midnight erases the old salt before counting.
Once the day's last counters are written, its small segment cells fold away (``collector.budget``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from collector.budget import SegmentBudget
from collector.identity import Salts
from collector.localtime import today
from collector.retention import Retention
from collector.sites import SiteRegistry
from collector.state import DayState
from collector.store import StoreError
from geo.lookup import CountryLookup

log = logging.getLogger("crumbless.housekeeping")

INTERVAL_S = 15.0


class Housekeeping:
    def __init__(
        self,
        sites: SiteRegistry,
        salts: Salts,
        state: DayState,
        geo: CountryLookup,
        clock: Callable[[], float] = time.time,
        retention: Retention | None = None,
        budget: SegmentBudget | None = None,
    ) -> None:
        self.sites = sites
        self.salts = salts
        self.state = state
        self.geo = geo
        self.clock = clock
        self.retention = retention
        self.budget = budget
        self._open_day: dict[int, int] = {}
        self._evicted_seen = 0

    async def close_days(self) -> int:
        """Close every site-day that is over; returns how many sites moved to a new day."""
        now = self.clock()
        moved = 0
        for site in self.sites.all():
            day = today(site.tz, now)
            if self._open_day.get(site.id) == day:
                continue
            await self.salts.erase_before(site.id, day)
            await self.state.close_days(site.id, day)
            self._open_day[site.id] = day
            moved += 1
        return moved

    async def tick(self) -> None:
        chores: list[Callable[[], Awaitable[object]]] = [
            self.sites.refresh,
            self.salts.persist_pending,
            self.close_days,
        ]
        if self.budget is not None:
            chores.append(self.budget.fold_due)
        if self.retention is not None:
            chores.append(self.retention.delete_expired)  # does its work at most once a day
        for chore in chores:
            await self.attempt(chore)
        self.geo.reload_if_changed()
        self.report_evictions()

    async def attempt(self, chore: Callable[[], Awaitable[object]]) -> None:
        """Run a chore; a database that is locked or away only postpones it to the next tick."""
        try:
            await chore()
        except (StoreError, OSError) as exc:
            log.warning("%s failed, will retry: %s", chore.__name__, exc)

    def report_evictions(self) -> None:
        """Evicted visitors may be counted again today; the operator should know to raise the cap."""
        evicted = self.state.evicted
        if evicted > self._evicted_seen:
            log.warning(
                "%d visitors forgotten since the last check because CRUMBLESS_MAX_VISITORS was reached (%d in all)",
                evicted - self._evicted_seen,
                evicted,
            )
            self._evicted_seen = evicted

    async def run(self) -> None:
        while True:
            await asyncio.sleep(INTERVAL_S)
            await self.tick()

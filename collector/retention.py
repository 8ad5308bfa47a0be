"""Retention: aggregate rows older than ``CRUMBLESS_RETENTION_DAYS`` are deleted, once a day.

Aggregate rows hold no visitor identifier, so keeping them forever is the default. Retention
exists because operators write a period into their privacy policies ("analytics data is kept
for 25 months"), and such a promise should be kept by the software, not by someone's calendar.

The window is counted in each site's local days, like everything else stored: with N days, the
rows of today and the N - 1 days before it are kept. It runs from housekeeping at most once per
UTC day, so a day's rows go within a day of leaving the window; a failed run is retried at the
next housekeeping tick.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from collector.localtime import today
from collector.sites import Site, SiteRegistry
from collector.store import RetentionStore

log = logging.getLogger("crumbless.retention")

DAY_S = 86400


def first_kept_day(site: Site, days: int, now: float) -> int:
    return today(site.tz, now) - days + 1


class Retention:
    def __init__(
        self, store: RetentionStore, sites: SiteRegistry, days: int, clock: Callable[[], float] = time.time
    ) -> None:
        self.store = store
        self.sites = sites
        self.days = days
        self.clock = clock
        self._done_on: int | None = None  # UTC day number of the last complete run

    async def delete_expired(self) -> int:
        """Delete rows older than the window, unless that was done today already; returns rows deleted."""
        now = self.clock()
        utc_day = int(now // DAY_S)
        if self.days <= 0 or self._done_on == utc_day:
            return 0
        deleted = 0
        for site in self.sites.all():
            deleted += await self.store.delete_before(site.id, first_kept_day(site, self.days, now))
        self._done_on = utc_day
        if deleted:
            log.info("deleted %d aggregate rows older than %d days (CRUMBLESS_RETENTION_DAYS)", deleted, self.days)
        return deleted

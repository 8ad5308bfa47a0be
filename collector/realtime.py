"""Pageviews per minute for the last half hour, per site, in memory only.

The realtime view needs finer grain than the hourly table and must not touch the database on
every hit, so each site gets a small ring of per-minute counters. Nothing here is written down.
"""

from __future__ import annotations

WINDOW_MINUTES = 30


class Realtime:
    def __init__(self) -> None:
        # site → {minute number: pageviews}; at most WINDOW_MINUTES + 1 minutes kept per site
        self._minutes: dict[int, dict[int, int]] = {}

    def pageview(self, site: int, ts: float) -> None:
        minute = int(ts // 60)
        counts = self._minutes.get(site)
        if counts is None:
            counts = self._minutes[site] = {}
        counts[minute] = counts.get(minute, 0) + 1
        if len(counts) > WINDOW_MINUTES + 1:
            for old in [m for m in counts if m <= minute - WINDOW_MINUTES]:
                del counts[old]

    def pageviews_per_minute(self, site: int, now: float, minutes: int = WINDOW_MINUTES) -> list[int]:
        """Oldest first, ending with the current minute."""
        current = int(now // 60)
        counts = self._minutes.get(site, {})
        return [counts.get(m, 0) for m in range(current - minutes + 1, current + 1)]

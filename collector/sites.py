"""The sites Crumbless counts for, and the in-memory registry the ingest path resolves them from.

The registry is a pair of dicts refreshed from the store, so resolving a beacon's site is a
dictionary lookup; a miss triggers a refresh at most every few seconds, so a site added with
``crumbless site add`` while the server runs starts counting promptly without letting hostile
traffic with random ids turn into a database query per request.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from functools import cached_property
from zoneinfo import ZoneInfo, available_timezones

from collector.goals import NO_CONVERSIONS, Conversions
from collector.localtime import day_end
from collector.urls import allowed_hosts, host_matches, normalize_hostname
from collector.zones import zone

REFRESH_AFTER_MISS_S = 2.0

log = logging.getLogger("crumbless.sites")


@dataclass(frozen=True)
class Site:
    id: int                  # internal key used in every aggregate row
    website_id: str          # public id (a UUID), what Umami-style beacons carry
    domain: str
    name: str
    timezone: str
    extra_domains: tuple[str, ...] = ()
    conversions: Conversions = NO_CONVERSIONS  # its goals and funnels, matched at ingest

    @property
    def tz(self) -> ZoneInfo:
        return zone(self.timezone)

    @cached_property
    def hosts(self) -> tuple[str, ...]:
        return allowed_hosts(self.domain, self.extra_domains)

    def owns_host(self, hostname: str) -> bool:
        """For a host already passed through ``normalize_hostname``."""
        return host_matches(hostname, self.hosts)


# "localtime" is whatever zone the server happens to be set to, and "Factory" is the
# placeholder of an unconfigured system ("-00"): neither names a site's own day, and a site's
# day (its salt, its counters) must not move when the server is reconfigured.
TIMEZONES: tuple[str, ...] = tuple(sorted(available_timezones() - {"localtime", "Factory", "posixrules"}))
_VALID_ZONES = frozenset(TIMEZONES)


def valid_timezone(name: str) -> bool:
    return name in _VALID_ZONES


class SiteRegistry:
    def __init__(self, load: Callable[[], Awaitable[Iterable[Site]]]) -> None:
        self._load = load
        self._by_website_id: dict[str, Site] = {}
        self._by_domain: dict[str, Site] = {}
        self._by_id: dict[int, Site] = {}
        self._refreshed_at = 0.0

    async def refresh(self) -> None:
        sites = list(await self._load())
        self._by_website_id = {s.website_id: s for s in sites}
        self._by_domain = {normalize_hostname(s.domain): s for s in sites}
        self._by_id = {s.id: s for s in sites}
        self._refreshed_at = time.monotonic()

    def all(self) -> list[Site]:
        return list(self._by_website_id.values())

    def day_end(self, site: int, day: int) -> int:
        """When ``site``'s local ``day`` is over (Unix seconds): when the day's state may go.

        For a site this registry does not know (yet), the latest any zone's day can end.
        """
        known = self._by_id.get(site)
        if known is None:
            return day_end(day, zone("Etc/GMT+12"))
        return day_end(day, known.tz)

    async def by_website_id(self, website_id: str) -> Site | None:
        return await self._find(self._by_website_id_now, website_id.lower())

    async def by_domain(self, domain: str) -> Site | None:
        return await self._find(self._by_domain_now, normalize_hostname(domain))

    def _by_website_id_now(self, key: str) -> Site | None:
        return self._by_website_id.get(key)

    def _by_domain_now(self, key: str) -> Site | None:
        site = self._by_domain.get(key)
        if site is None and key.startswith("www."):
            site = self._by_domain.get(key[4:])
        return site

    async def _find(self, lookup: Callable[[str], Site | None], key: str) -> Site | None:
        site = lookup(key)
        if site is None and time.monotonic() - self._refreshed_at > REFRESH_AFTER_MISS_S:
            try:
                await self.refresh()
            except Exception as exc:  # the store's fault, not the beacon's: answer from what we know
                self._refreshed_at = time.monotonic()
                log.warning("could not reload sites: %s", type(exc).__name__)
            site = lookup(key)
        return site

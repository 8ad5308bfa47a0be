"""The ingest pipeline, top to bottom, as in docs/architecture.md:

    parse → resolve site → client IP → filters → enrich → count

Each step is one function taking and returning plain data. The IP address and the User-Agent
string exist only inside ``ingest()``'s frame and are handed to ``enrich`` alone (the address
goes on to its ``visit_facts``, for the country); what leaves ``enrich`` is a ``Hit``, which has
no field that could hold either.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import NamedTuple

from collector.aggregator import Aggregator
from collector.beacons import PARSERS, BadBeacon, language_tag
from collector.clientip import client_ip
from collector.config import Settings
from collector.counting import count, floods
from collector.guard import OTHER, wanted
from collector.hits import Beacon, Hit, Kind
from collector.identity import Salts, visitor_hash
from collector.localtime import local_day_hour
from collector.metrics import Metrics
from collector.model import DROPPED, DROPS
from collector.referrers import campaign_tag, source_name
from collector.sites import Site, SiteRegistry
from collector.state import CountingState, StateUnavailable
from collector.urls import PageUrl, beacon_host, parse_page_url
from collector.useragents import Agent, describe, request_bot_signal
from geo.headers import country_from_headers
from geo.lookup import CountryLookup


@dataclass(frozen=True, slots=True)
class Request:
    """What the HTTP layer hands the pipeline: nothing of Starlette's, so tests can call it directly."""

    format: str                     # "umami" or "plausible"
    body: bytes
    headers: Mapping[str, str]      # case-insensitive (Starlette ``Headers``) or lower-case keys
    peer: str                       # socket peer address


@dataclass(frozen=True, slots=True)
class Outcome:
    counted: bool
    dropped: str = ""               # why a valid beacon was not counted


class VisitFacts(NamedTuple):
    """The visit-level values of a hit that are not read from its User-Agent (``enrich``)."""

    source: str
    utm_source: str
    utm_medium: str
    utm_campaign: str
    country: str
    screen: str
    language: str


NO_VISIT = VisitFacts("", "", "", "", "", "", "")
IGNORED = Outcome(False, "ignored")
COMMIT_TRIES = 16
"""Real beacons of one visitor race a few at a time at most (a ping and the next pageview); a
replayed or flooding visitor may send dozens at once, and each lost race costs a round trip, so
after this many a beacon is refused (503) rather than held."""


class Collector:
    """The services the pipeline's steps need, held together for one process."""

    def __init__(
        self,
        settings: Settings,
        sites: SiteRegistry,
        geo: CountryLookup,
        salts: Salts,
        state: CountingState,
        aggregator: Aggregator,
        clock: Callable[[], float] = time.time,
        metrics: Metrics | None = None,
    ) -> None:
        self.settings = settings
        self.sites = sites
        self.geo = geo
        self.salts = salts
        self.state = state
        self.aggregator = aggregator
        self.clock = clock
        self.metrics = Metrics() if metrics is None else metrics

    async def ingest(self, request: Request) -> Outcome:
        now = self.clock()
        beacon = parse(request)
        if beacon is None:
            return IGNORED
        site = await resolve_site(beacon, self.sites)
        page = page_of(beacon, site)
        if page is None:
            return self.drop(site, now, "hostname")
        ip, via_proxy = client_ip(request.peer, request.headers, self.settings.trusted_proxies)
        user_agent = request.headers.get("user-agent", "")
        agent = describe(user_agent)
        bot = filter_bots(agent, request.headers)
        if bot:
            return self.drop(site, now, f"bot:{bot}")
        hit = await self.enrich(beacon, site, page, now, ip, via_proxy, user_agent, agent, request.headers)
        del ip, user_agent  # ── the IP address and the User-Agent string end here ──
        return await self.count(hit)

    async def enrich(
        self,
        beacon: Beacon,
        site: Site,
        page: PageUrl,
        now: float,
        ip: str,
        via_proxy: bool,
        user_agent: str,
        agent: Agent,
        headers: Mapping[str, str],
    ) -> Hit:
        day, hour = local_day_hour(now, site.tz)
        try:
            salt = await self.salts.salt(site.id, day)
        except LookupError:  # deleted by another collector, which this one's registry does not know yet
            raise unknown_site("website") from None
        ping = beacon.kind is Kind.ENGAGEMENT
        visit = NO_VISIT if ping else self.visit_facts(beacon, site, page, ip, via_proxy, headers)
        goals = site.conversions.reached(beacon.kind, page.path, beacon.event_name, beacon.props)
        return Hit(
            site=site.id,
            day=day,
            hour=hour,
            ts=int(now),
            kind=beacon.kind,
            visitor=visitor_hash(salt, site.id, ip, user_agent),
            path=page.path,
            source=visit.source,
            utm_source=visit.utm_source,
            utm_medium=visit.utm_medium,
            utm_campaign=visit.utm_campaign,
            country=visit.country,
            browser=agent.browser,
            os=agent.os,
            device=agent.device,
            screen=visit.screen,
            language=visit.language,
            event=beacon.event_name,
            props=beacon.props,
            interactive=beacon.interactive,
            engaged_ms=beacon.engaged_ms,
            scroll=beacon.scroll,
            goals=goals,
            funnel_steps=site.conversions.steps(goals),
        )

    def visit_facts(
        self, beacon: Beacon, site: Site, page: PageUrl, ip: str, via_proxy: bool, headers: Mapping[str, str]
    ) -> VisitFacts:
        """What a visit takes from its first hit. An engagement ping never starts a visit (and
        there are nearly as many pings as pageviews), so it is spared the referrer, the country
        lookup and the rest (``NO_VISIT``)."""
        return VisitFacts(
            source=source_name(page.utm_source, page.ref, beacon.referrer, site.owns_host),
            utm_source=campaign_tag(page.utm_source),  # a tag may be an address, which is never stored
            utm_medium=campaign_tag(page.utm_medium),
            utm_campaign=campaign_tag(page.utm_campaign),
            country=(via_proxy and country_from_headers(headers)) or self.geo.country(ip),
            screen=screen_class(beacon.screen_width),
            language=beacon.language or accept_language(headers),
        )

    async def count(self, hit: Hit) -> Outcome:
        """Count against the visitor's record as read; a commit refused because another beacon of
        the same visitor changed the record meanwhile is counted again from the new record."""
        values = wanted(hit)
        for _ in range(COMMIT_TRIES):
            snapshot = await self.state.read(hit, values)
            if floods(hit, snapshot.record):
                return self.dropped(hit.site, hit.day, "flood")
            step = count(hit, snapshot.record, snapshot.values)
            if step is None:
                return Outcome(False, "no-visit")
            try:
                committed = await self.state.commit(hit, snapshot, step.record)
            except LookupError:
                raise unknown_site("website") from None
            if committed:
                self.aggregator.apply(step.deltas)
                if OTHER in snapshot.values.values():  # one scan in C: folds are rare
                    self.metrics.folded(snapshot.values)
                return Outcome(True)
            self.metrics.commit_retries.inc()
        raise StateUnavailable(f"a visitor's record changed under {COMMIT_TRIES} commits in a row")

    def drop(self, site: Site, now: float, reason: str) -> Outcome:
        day, _ = local_day_hour(now, site.tz)
        return self.dropped(site.id, day, reason)

    def dropped(self, site: int, day: int, reason: str) -> Outcome:
        """Dropped beacons are counted per site, day and reason, and nothing else about them is kept."""
        self.aggregator.add(site, day, DROPPED.key, reason, DROPS, 1)
        return Outcome(False, reason)


def parse(request: Request) -> Beacon | None:
    parser = PARSERS.get(request.format)
    if parser is None:
        raise BadBeacon("format", "is not a known beacon format")
    return parser(request.body)


async def resolve_site(beacon: Beacon, sites: SiteRegistry) -> Site:
    if beacon.website_id:
        site = await sites.by_website_id(beacon.website_id)
        if site is None:
            raise unknown_site("website")
        return site
    for domain in beacon.domain.split(",")[:10]:
        site = await sites.by_domain(domain.strip())
        if site is not None:
            return site
    raise unknown_site("domain")


def unknown_site(field: str) -> BadBeacon:
    return BadBeacon(field, "is not a site known to this Crumbless")


def page_of(beacon: Beacon, site: Site) -> PageUrl | None:
    """The page's URL, or None when it was sent from a host that is not the site's, or from a body
    whose ``hostname`` names another host than its URL (see ``urls.beacon_host``)."""
    page = parse_page_url(beacon.url, hash_mode=beacon.hash_mode)
    if page is None:
        raise BadBeacon("url", "is not an http(s) URL or a path")
    hostname = beacon_host(page.hostname, beacon.hostname)
    if not hostname or not site.owns_host(hostname):
        return None
    return page


def filter_bots(agent: Agent, headers: Mapping[str, str]) -> str | None:
    return agent.bot or request_bot_signal(headers)


SCREEN_CLASSES = ((576, "mobile"), (992, "tablet"), (1440, "laptop"))


def screen_class(width: int | None) -> str:
    if width is None:
        return ""
    for limit, name in SCREEN_CLASSES:
        if width < limit:
            return name
    return "desktop"


def accept_language(headers: Mapping[str, str]) -> str:
    """The browser's first preferred language, for beacon formats that do not send one."""
    first = headers.get("accept-language", "")[:200].split(",", 1)[0]
    return language_tag(first.split(";", 1)[0])

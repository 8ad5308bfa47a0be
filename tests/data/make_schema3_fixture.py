"""Make ``schema3.sql`` and ``schema3-stats.json``: counters as the schema-3 counter layout wrote them.

This was run once, at the commit named in the header of ``schema3.sql`` (and under ``"commit"``
in ``schema3-stats.json``), against the schema-3 counter layout: the ``daily`` table keyed by
(site, dim, day, value text) with nine counters, and ``hourly``. It is kept to document how the
fixture was made; the tests never run it. Re-running it after the counter layout changed would
record the new code's numbers as the truth, which is exactly what the fixture must not do, so it
refuses to run unless the database it writes has that layout.

What it does, all in this process except the ``stats`` commands:

1. A fresh data directory and database; a throwaway site added and deleted first, so the two
   real sites have ids 1 and 3 (ids must survive a migration, gaps included); fixed website ids
   and creation times, so that a second run writes the same files.
2. A seeded beacon stream for the two sites (UTC, and America/Los_Angeles across its DST change
   on 2026-03-08) from 2026-01-29 to 2026-03-10, sent through the real pipeline
   (``Collector.ingest``, the function both beacon endpoints call) of the real app
   (``create_app`` with its lifespan) on a simulated clock. The flusher runs every
   ``FLUSH_EVERY_S`` simulated seconds (so a visit's exit often moves across flushes and leaves
   an all-zero exit row behind) and housekeeping every ``HOUSEKEEPING_EVERY_S`` (closing days);
   the real-time loops are set to intervals too long to fire.
3. ``sites``, ``daily`` and ``hourly`` dumped as INSERT statements in a fixed order (no users,
   salts or sessions: they are not counters), and ``crumbless stats SITE --json --limit 1000``
   run as a separate process for each site over ``RANGES``.

The recorded fixture was made at b78f475 with one fix applied first: the top lists' ``HAVING
{order} > 0`` became ``HAVING sum({order}) > 0``. SQLite reads a bare column name in HAVING as
that column of some row of the group, not as the result's alias, so a value whose chosen row
had a 0 there (an exit page whose exit had moved on that day) was left out of its list: the
exit list missed pages with several exits. The data itself is byte for byte what b78f475 wrote.

Usage (from a checkout of the commit to record, e.g. an unpacked ``git archive``)::

    python tests/data/make_schema3_fixture.py --commit "$(git rev-parse --short HEAD)" --out tests/data
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import contextlib
import itertools
import json
import os
import random
import re
import sqlite3
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Iterable, Sequence
from zoneinfo import ZoneInfo

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from collector.app import create_app
from collector.ingest import Request
from collector.store.sqlite import SQLiteStore
from tests.support import GOOGLEBOT, Clock, build_geo_db, make_settings

# ── what is recorded ─────────────────────────────────────────────────────────────────────────────

# The schema-3 counter layout, column by column: the script refuses to dump anything else.
SCHEMA3_COLUMNS: dict[str, tuple[str, ...]] = {
    "sites": ("id", "website_id", "domain", "name", "timezone", "extra_domains", "created_at"),
    "daily": ("site", "dim", "day", "value", "visitors", "visits", "pageviews", "bounces", "duration_s",
              "events", "engaged_ms", "scroll_sum", "scroll_n"),
    "hourly": ("site", "hour", "visitors", "visits", "pageviews", "bounces", "duration_s"),
}
ORDER = {"sites": "id", "daily": "site, dim, day, value", "hourly": "site, hour"}
ROWS_PER_INSERT = 200

# Small, so that ordinary days of a small site already reach the cardinality guard's "(other)".
MAX_VALUES = 30
FLUSH_EVERY_S = 40.0
HOUSEKEEPING_EVERY_S = 600.0
SEED = 20260301

# (label, first day, last day): each site is asked about every range, in its own days.
RANGES: tuple[tuple[str, str, str], ...] = (
    ("one day, a spike with (other) values", "2026-02-10", "2026-02-10"),
    ("one day, the Los Angeles DST change", "2026-03-08", "2026-03-08"),
    ("one day without data inside the period", "2026-02-14", "2026-02-14"),
    ("a week", "2026-02-02", "2026-02-08"),
    ("a week across the February/March boundary", "2026-02-25", "2026-03-03"),
    ("across the January/February boundary", "2026-01-29", "2026-02-04"),
    ("the whole of February, a closed month", "2026-02-01", "2026-02-28"),
    ("March, the month the data ends in", "2026-03-01", "2026-03-31"),
    ("the whole period", "2026-01-29", "2026-03-10"),
    ("the whole year", "2026-01-01", "2026-12-31"),
    ("before any data", "2025-12-01", "2025-12-31"),
)

# ── the audience ─────────────────────────────────────────────────────────────────────────────────

# (User-Agent, weight, screen widths its devices report)
BROWSERS: tuple[tuple[str, float, tuple[int, ...]], ...] = (
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36", 30, (1366, 1536, 1920)),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1", 20, (375, 390, 430)),
    ("Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Mobile Safari/537.36", 15, (360, 412)),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Safari/605.1.15", 10, (1440, 1680, 2560)),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:131.0) Gecko/20100101 Firefox/131.0", 6, (1920,)),
    ("Mozilla/5.0 (X11; Linux x86_64; rv:131.0) Gecko/20100101 Firefox/131.0", 4, (1280, 1920)),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36 Edg/130.0.0.0", 6, (1536, 1920)),
    ("Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1", 4, (810, 1024)),
    ("Mozilla/5.0 (Linux; Android 14; SAMSUNG SM-S921B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/26.0 Chrome/122.0.0.0 Mobile Safari/537.36", 3, (360, 384)),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/130.0.6723.90 Mobile/15E148 Safari/604.1", 2, (390,)),
)
BOTS: tuple[str, ...] = (
    GOOGLEBOT,
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "Mozilla/5.0+(compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)",
    "python-requests/2.31.0",
    "",
)
LANGUAGES: tuple[tuple[str, float], ...] = (
    ("en-US,en;q=0.9", 40), ("de-DE,de;q=0.9,en;q=0.8", 15), ("fr-FR,fr;q=0.9", 10), ("en-GB,en;q=0.9", 8),
    ("ja-JP,ja;q=0.9", 8), ("nl-NL,nl;q=0.9,en;q=0.6", 6), ("es-ES,es;q=0.9", 5), ("pt-BR,pt;q=0.9", 3), ("", 2),
)
# Documentation ranges the test country database maps (tests/support.py), and one it does not.
COUNTRIES: tuple[tuple[str, float], ...] = (("DE", 25), ("FR", 15), ("JP", 10), ("NL", 10), ("", 8))
HOUR_WEIGHTS = (2, 1.5, 1, 1, 1, 1.5, 3, 5, 7, 8, 8.5, 8.5, 8, 8, 8, 8, 7.5, 7, 7, 7, 6.5, 6, 4, 3)


class Weighted:
    """Draws from a fixed list by weight, from the caller's seeded generator."""

    def __init__(self, items: Sequence[Any], weights: Sequence[float]) -> None:
        self.items = list(items)
        self.cumulative = list(itertools.accumulate(weights))

    def draw(self, rng: random.Random) -> Any:
        return self.items[bisect.bisect(self.cumulative, rng.random() * self.cumulative[-1])]


def zipf(n: int) -> list[float]:
    return [1 / (rank + 1) for rank in range(n)]


@dataclass(frozen=True)
class SiteSpec:
    """One site of the fixture and what its audience does there."""

    domain: str
    timezone: str
    website_id: str
    extra_domains: tuple[str, ...]
    first: date
    last: date
    pages: tuple[str, ...]                          # by popularity
    referrers: tuple[tuple[str, float], ...]        # "" is direct
    campaigns: tuple[tuple[str, float], ...]        # query strings with UTM tags or ref
    campaign_share: float
    weekday_visitors: int
    weekend_visitors: int
    spikes: dict[date, tuple[int, str]]             # day → (extra visitors, their landing query or referrer)
    closed: tuple[date, ...] = ()                   # days nobody could reach the site


BLOG_PAGES = (
    "/", "/blog/", "/docs/", "/pricing", "/about", "/docs/install", "/docs/configuration",
    "/blog/cookieless-analytics-explained", "/blog/café-crème-release", "/blog/it's-out", "/changelog",
    *(f"/blog/{word}-{n}" for n, word in enumerate(("sqlite", "privacy", "python", "deploy", "docker", "goals",
                                                     "events", "migrate", "retention", "dashboard") * 5)),
    *(f"/docs/{topic}" for topic in ("api", "tracker", "events", "goals", "import", "export", "proxy", "nginx",
                                     "caddy", "systemd", "backups", "upgrade", "faq", "troubleshooting")),
)
SHOP_PAGES = (
    "/", "/collections/all", "/cart", "/checkout", "/checkout/thanks", "/search", "/collections/mugs",
    "/collections/shirts", "/collections/posters", "/account/login",
    *(f"/products/{kind}-{n:03d}" for n, kind in enumerate(("mug", "shirt", "poster", "sticker") * 20)),
)

SITES: tuple[SiteSpec, ...] = (
    SiteSpec(
        domain="example.com",
        timezone="UTC",
        website_id="5a0d8c34-6f1e-4c5b-9a27-3e8f01b2c4d6",
        extra_domains=(),
        first=date(2026, 1, 29),
        last=date(2026, 3, 4),
        pages=BLOG_PAGES,
        referrers=(("", 40), ("https://www.google.com/", 22), ("https://duckduckgo.com/", 5), ("https://www.bing.com/", 4),
                   ("https://news.ycombinator.com/", 3), ("https://www.reddit.com/r/selfhosted/", 3), ("https://github.com/", 3),
                   ("https://t.co/x1y2z3", 2), *((f"https://blog{n}.example.net/links", 6 / (n + 1)) for n in range(12))),
        campaigns=(("?utm_source=newsletter&utm_medium=email&utm_campaign=issue-{week}", 6),
                   ("?utm_source=mastodon&utm_medium=social", 2), ("?ref=producthunt", 1)),
        campaign_share=0.06,
        weekday_visitors=20,
        weekend_visitors=11,
        spikes={date(2026, 2, 10): (150, "https://news.ycombinator.com/item?id=424242"),
                date(2026, 2, 26): (40, "?utm_source=newsletter&utm_medium=email&utm_campaign=launch")},
        closed=(date(2026, 2, 14),),
    ),
    SiteSpec(
        domain="shop.example.org",
        timezone="America/Los_Angeles",
        website_id="c3e1f7a2-0b94-4d6e-8f15-7a2d9c6b0e48",
        extra_domains=("shop.example.net",),
        first=date(2026, 2, 20),
        last=date(2026, 3, 10),
        pages=SHOP_PAGES,
        referrers=(("", 35), ("https://www.google.com/", 25), ("https://www.instagram.com/", 8), ("https://www.pinterest.com/", 6),
                   ("https://www.facebook.com/", 5), ("https://duckduckgo.com/", 2), ("https://gift-guides.example.net/2026", 2)),
        campaigns=(("?utm_source=google&utm_medium=cpc&utm_campaign=spring-sale", 5),
                   ("?utm_source=facebook&utm_medium=paid-social&utm_campaign=spring-sale", 3),
                   ("?utm_source=newsletter&utm_medium=email&utm_campaign=week-{week}", 3)),
        campaign_share=0.15,
        weekday_visitors=12,
        weekend_visitors=18,
        spikes={date(2026, 3, 2): (90, "?utm_source=newsletter&utm_medium=email&utm_campaign=march-drop")},
    ),
)
THROWAWAY_SITE = "old.example.net"  # added and deleted between the two real sites: their ids are 1 and 3
CREATED_AT = "2026-01-28T09:00:00+00:00"


@dataclass(frozen=True)
class Beacon:
    ts: float
    format: str                  # "plausible" or "umami"
    body: bytes
    headers: dict[str, str]
    peer: str


@dataclass
class Person:
    user_agent: str
    width: int
    language: str
    peer: str
    umami: bool                  # sends Umami's format (no engagement pings)
    by_id: bool                  # Plausible format with the site's id (tracker.js) rather than its domain


@dataclass
class Audience:
    """Draws the beacons of one site, day by day, from one seeded generator."""

    spec: SiteSpec
    rng: random.Random
    serials: dict[tuple[date, str], int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.tz = ZoneInfo(self.spec.timezone)
        self.pages = Weighted(self.spec.pages, zipf(len(self.spec.pages)))
        self.referrers = Weighted([r for r, _ in self.spec.referrers], [w for _, w in self.spec.referrers])
        self.campaigns = Weighted([c for c, _ in self.spec.campaigns], [w for _, w in self.spec.campaigns])
        self.browsers = Weighted(BROWSERS, [w for _, w, _ in BROWSERS])
        self.languages = Weighted([lang for lang, _ in LANGUAGES], [w for _, w in LANGUAGES])
        self.countries = Weighted([c for c, _ in COUNTRIES], [w for _, w in COUNTRIES])
        self.hours = Weighted(range(24), HOUR_WEIGHTS)

    # ── people ──

    def person(self, day: date) -> Person:
        agent, _, widths = self.browsers.draw(self.rng)
        return Person(agent, self.rng.choice(widths), self.languages.draw(self.rng), self.address(day),
                      umami=self.rng.random() < 0.15, by_id=self.rng.random() < 0.5)

    def address(self, day: date) -> str:
        """A peer address in the country's documentation range, new for the day until the range wraps."""
        country = self.countries.draw(self.rng)
        n = self.serials[(day, country)] = self.serials.get((day, country), 0) + 1
        host = (n - 1) % 250 + 1
        if country == "DE":
            return f"192.0.2.{host}"
        if country == "FR":
            return f"198.51.100.{host}"
        if country == "JP":
            return f"203.0.113.{host}"
        if country == "NL":
            return f"2001:db8::{n:x}"
        return f"100.64.{n // 250}.{host}"  # shared address space: not in the country database

    def local(self, day: date, seconds: float) -> float:
        """The UTC timestamp ``seconds`` after the site's local midnight starting ``day``."""
        midnight = datetime(day.year, day.month, day.day, tzinfo=self.tz)
        return midnight.timestamp() + seconds

    # ── days ──

    def day(self, day: date) -> list[Beacon]:
        if day in self.spec.closed:
            return []
        weekend = day.weekday() >= 5
        base = self.spec.weekend_visitors if weekend else self.spec.weekday_visitors
        beacons: list[Beacon] = []
        week = day.isocalendar().week
        for _ in range(max(1, round(base * self.rng.uniform(0.7, 1.3)))):
            beacons += self.visitor(day, self.start(day), self.landing(week))
        extra, landing = self.spec.spikes.get(day, (0, ""))
        for _ in range(extra):
            beacons += self.visitor(day, self.start(day), self.spike_landing(landing))
        for _ in range(self.rng.randint(1, 2)):  # visits that run past the site's local midnight
            beacons += self.visit(self.person(day), self.local(day, 86_400 - self.rng.uniform(120, 1200)),
                                  self.landing(week), pageviews=self.rng.randint(3, 6))
        beacons += self.noise(day)
        return beacons

    def start(self, day: date) -> float:
        return self.local(day, self.hours.draw(self.rng) * 3600 + self.rng.random() * 3600)

    def landing(self, week: int) -> tuple[str, str]:
        """(query string, referrer) of a visit's first pageview."""
        if self.rng.random() < self.spec.campaign_share:
            return self.campaigns.draw(self.rng).format(week=week), ""
        return "", self.referrers.draw(self.rng)

    @staticmethod
    def spike_landing(landing: str) -> tuple[str, str]:
        return (landing, "") if landing.startswith("?") else ("", landing)

    def visitor(self, day: date, ts: float, landing: tuple[str, str]) -> list[Beacon]:
        person = self.person(day)
        beacons = self.visit(person, ts, landing)
        if self.rng.random() < 0.12:  # back later the same day: a second visit of the same visitor
            later = ts + self.rng.uniform(2400, 5 * 3600)
            if later < self.local(day, 86_400) - 1800:
                beacons += self.visit(person, later, ("", ""))
        return beacons

    def visit(self, person: Person, ts: float, landing: tuple[str, str], pageviews: int = 0) -> list[Beacon]:
        query, referrer = landing
        if not pageviews:
            pageviews = 1
            while self.rng.random() < 0.55:
                pageviews += 1
        beacons: list[Beacon] = []
        late: Beacon | None = None
        for n in range(pageviews):
            path = self.pages.draw(self.rng) if n else self.entry()
            url = path + (query if n == 0 else "")
            beacons.append(self.pageview(person, ts, url, referrer))
            if late is not None:  # the previous page's last ping, overtaken by this pageview
                beacons.append(Beacon(ts + 0.5, late.format, late.body, late.headers, late.peer))
                late = None
            dwell = min(self.rng.expovariate(1 / 55), 1200)
            if self.rng.random() < 0.08:
                beacons.append(self.event(person, ts + dwell / 2, url))
            if not person.umami and self.rng.random() < 0.75:
                scroll = self.rng.randrange(5, 101)
                if dwell > 90 and self.rng.random() < 0.4:  # an earlier ping, then the depth rises
                    beacons.append(self.engagement(person, ts + dwell / 2, url, int(dwell * 400), scroll // 2))
                ping = self.engagement(person, ts + dwell, url, int(dwell * 1000 * self.rng.uniform(0.3, 1)), scroll)
                if n + 1 < pageviews and self.rng.random() < 0.06:
                    late = ping
                else:
                    beacons.append(ping)
            referrer = self.origin(person) + path
            ts += dwell + self.rng.uniform(1, 8)
            if self.rng.random() < 0.03:  # idle for over 30 minutes: the next pageview starts a new visit
                ts += self.rng.uniform(1900, 3600)
        if not person.umami and self.rng.random() < 0.02:  # a tab left open: a ping long after the visit ended
            beacons.append(self.engagement(person, ts + 3 * 3600, "/", 1000, 10))
        return beacons

    def entry(self) -> str:
        return self.pages.draw(self.rng)

    def origin(self, person: Person) -> str:
        """The host a person reaches the site at, fixed per person (not ``hash()``: it is salted per process)."""
        hosts = (self.spec.domain, f"www.{self.spec.domain}", *self.spec.extra_domains)
        return f"https://{hosts[sum(person.peer.encode()) % len(hosts)]}"

    # ── beacons ──

    def headers(self, person: Person, fmt: str) -> dict[str, str]:
        headers = {"user-agent": person.user_agent, "content-type": "application/json" if fmt == "umami" else "text/plain"}
        if person.language:
            headers["accept-language"] = person.language
        return headers

    def plausible(self, person: Person, ts: float, fields: dict[str, Any]) -> Beacon:
        body: dict[str, Any] = {"n": fields.pop("n"), "u": self.origin(person) + fields.pop("u")}
        if person.by_id:
            body["id"] = self.spec.website_id
        else:
            body["d"] = self.spec.domain
        body.update(w=person.width, **fields)
        return Beacon(ts, "plausible", json.dumps(body, ensure_ascii=False).encode(), self.headers(person, "plausible"), person.peer)

    def umami(self, person: Person, ts: float, url: str, referrer: str, name: str = "", data: dict[str, Any] | None = None) -> Beacon:
        payload: dict[str, Any] = {
            "website": self.spec.website_id, "hostname": self.origin(person)[len("https://"):], "url": url,
            "referrer": referrer, "screen": f"{person.width}x{int(person.width * 0.6)}",
            "language": person.language.split(",")[0], "title": "Page",
        }
        if name:
            payload.update(name=name, data=data or {})
        body = json.dumps({"type": "event", "payload": payload}, ensure_ascii=False).encode()
        return Beacon(ts, "umami", body, self.headers(person, "umami"), person.peer)

    def pageview(self, person: Person, ts: float, url: str, referrer: str) -> Beacon:
        if person.umami:
            return self.umami(person, ts, url, referrer)
        return self.plausible(person, ts, {"n": "pageview", "u": url, "r": referrer or None})

    def engagement(self, person: Person, ts: float, url: str, engaged_ms: int, scroll: int) -> Beacon:
        return self.plausible(person, ts, {"n": "engagement", "u": url, "e": engaged_ms, "sd": scroll})

    def event(self, person: Person, ts: float, url: str) -> Beacon:
        name, props, interactive = self.event_kind()
        if person.umami:
            return self.umami(person, ts, url, "", name, props)
        fields: dict[str, Any] = {"n": name, "u": url, "p": props}
        if not interactive:
            fields["i"] = False
        return self.plausible(person, ts, fields)

    def event_kind(self) -> tuple[str, dict[str, Any], bool]:
        kind = self.rng.random()
        if self.spec.domain == "example.com":
            if kind < 0.35:
                return "Outbound Link: Click", {"url": self.rng.choice(("https://github.com/crumbless", "https://docs.example.org/", "https://sqlite.org/wal.html"))}, True
            if kind < 0.6:
                return "File Download", {"url": f"https://example.com/files/report-{self.rng.randrange(60)}.pdf"}, True
            if kind < 0.8:
                return "Newsletter Signup", {"form": self.rng.choice(("footer", "sidebar")), "double_opt_in": True}, True
            return "Video Progress", {"percent": self.rng.choice((25, 50, 75, 100))}, False
        if kind < 0.5:
            sku = self.rng.choice(SHOP_PAGES[10:]).rsplit("/", 1)[1]
            return "Add to Cart", {"product": sku, "price": self.rng.choice(("12.00", "19.99", "24.50")), "qty": self.rng.randint(1, 3)}, True
        if kind < 0.75:
            return "Search", {"query": self.rng.choice(("mug", "blue shirt", "poster a2", "gift", "sticker pack", "café"))}, True
        return "Purchase", {"currency": "USD", "items": self.rng.randint(1, 4)}, True

    def noise(self, day: date) -> list[Beacon]:
        """What is dropped or never counted: bots, prefetches, foreign hosts, and now and then a scanner."""
        beacons: list[Beacon] = []
        for _ in range(self.rng.randint(1, 6)):
            bot = Person(self.rng.choice(BOTS), 1920, "", f"203.0.113.{self.rng.randint(200, 250)}", False, False)
            beacons.append(self.pageview(bot, self.start(day), self.pages.draw(self.rng), ""))
        if self.rng.random() < 0.4:
            person = self.person(day)
            prefetch = self.pageview(person, self.start(day), self.entry(), "https://www.google.com/")
            beacons.append(Beacon(prefetch.ts, prefetch.format, prefetch.body, {**prefetch.headers, "sec-purpose": "prefetch"}, prefetch.peer))
        if self.rng.random() < 0.3:  # the site seen through somebody else's host (a translation proxy, a copy)
            person = self.person(day)
            body = {"n": "pageview", "u": f"https://{self.spec.domain.replace('.', '-')}.translate.example/", "d": self.spec.domain, "w": person.width}
            beacons.append(Beacon(self.start(day), "plausible", json.dumps(body).encode(), self.headers(person, "plausible"), person.peer))
        if day.day in (5, 18):  # a vulnerability scanner with a browser's User-Agent: many distinct pages, one visit
            person = self.person(day)
            ts = self.start(day)
            for n, junk in enumerate(("/wp-login.php", "/.env", "/admin", "/phpmyadmin/", "/.git/config", "/xmlrpc.php",
                                      "/server-status", "/config.json", "/backup.zip", "/api/v1/users", "/cgi-bin/test.cgi",
                                      "/vendor/phpunit/", "/owa/", "/actuator/health", "/console", "/.DS_Store",
                                      "/wp-content/plugins/", "/solr/", "/telescope", "/debug/default/view", "/.aws/credentials",
                                      "/jenkins/login", "/boaform/admin/formLogin", "/HNAP1/", "/geoserver/web/",
                                      "/manager/html", "/sitemap.xml", "/robots.txt", "/.well-known/security.txt", "/remote/login",
                                      "/autodiscover/autodiscover.xml", "/webui/", "/login.action", "/druid/index.html",
                                      "/setup.cgi", "/_ignition/health-check")):
                beacons.append(self.plausible(person, ts + 3 * n, {"n": "pageview", "u": junk, "r": None}))
        return beacons


def traffic(seed: int) -> list[Beacon]:
    """Every beacon of both sites in time order (ties kept in generation order: ``sort`` is stable)."""
    rng = random.Random(seed)
    beacons: list[Beacon] = []
    for spec in SITES:
        audience = Audience(spec, random.Random(rng.randrange(2**32)))
        day = spec.first
        while day <= spec.last:
            beacons += audience.day(day)
            day += timedelta(days=1)
    beacons.sort(key=lambda b: b.ts)
    return beacons


# ── replaying through the real app ───────────────────────────────────────────────────────────────

@dataclass
class Replay:
    """Beacons to ``Collector.ingest`` in time order; flushes and housekeeping on the simulated clock."""

    app: Any
    clock: Clock
    next_flush: float = 0.0
    next_housekeeping: float = 0.0
    outcomes: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.next_flush = self.clock.now + FLUSH_EVERY_S
        self.next_housekeeping = self.clock.now + HOUSEKEEPING_EVERY_S

    async def send(self, beacons: Iterable[Beacon]) -> None:
        collector = self.app.state.collector
        for beacon in beacons:
            await self.advance(beacon.ts)
            outcome = await collector.ingest(Request(beacon.format, beacon.body, beacon.headers, beacon.peer))
            reason = outcome.dropped or "counted"
            self.outcomes[reason] = self.outcomes.get(reason, 0) + 1

    async def advance(self, until: float) -> None:
        while min(self.next_flush, self.next_housekeeping) <= until:
            if self.next_flush <= self.next_housekeeping:
                self.clock.now = self.next_flush
                if not await self.app.state.flusher.flush():
                    raise RuntimeError("a flush failed")
                self.next_flush += FLUSH_EVERY_S
            else:
                self.clock.now = self.next_housekeeping
                await self.app.state.housekeeping.tick()
                self.next_housekeeping += HOUSEKEEPING_EVERY_S
        self.clock.now = max(self.clock.now, until)


async def add_sites(database: Path) -> None:
    """The first site, a throwaway one deleted again, the second (ids 1 and 3); then their fixed website ids and creation times."""
    store = SQLiteStore(database)
    await store.open()
    try:
        first, *rest = SITES
        made = [await store.add_site(first.domain, first.domain, first.timezone, first.extra_domains)]
        throwaway = await store.add_site(THROWAWAY_SITE, THROWAWAY_SITE, "UTC", ())
        await store.delete_site(throwaway.id)
        for spec in rest:
            made.append(await store.add_site(spec.domain, spec.domain, spec.timezone, spec.extra_domains))
    finally:
        await store.close()
    with contextlib.closing(sqlite3.connect(database)) as db, db:
        for site, spec in zip(made, SITES):
            db.execute("UPDATE sites SET website_id = ?, created_at = ? WHERE id = ?", (spec.website_id, CREATED_AT, site.id))


async def record_traffic(settings: Any, beacons: list[Beacon]) -> dict[str, int]:
    clock = Clock(beacons[0].ts - 3600)
    app = create_app(settings, clock)
    async with app.router.lifespan_context(app):
        replay = Replay(app, clock)
        await replay.send(beacons)
        await replay.advance(clock.now + 86_400)  # the last days close; the lifespan's end flushes the rest
    return replay.outcomes


# ── writing the fixture ──────────────────────────────────────────────────────────────────────────

_CONTROL = re.compile(r"([\x00-\x1f\x7f])")


def literal(value: object) -> str:
    """An SQL literal; control characters (the event-prop separator is one) as ``char(n)``, never raw."""
    if isinstance(value, int):
        return str(value)
    if not isinstance(value, str):
        raise TypeError(f"unexpected value {value!r}")
    pieces = [f"char({ord(p)})" if _CONTROL.fullmatch(p) else "'" + p.replace("'", "''") + "'" for p in _CONTROL.split(value) if p]
    return " || ".join(pieces) or "''"


def check_layout(db: sqlite3.Connection) -> None:
    for table, columns in SCHEMA3_COLUMNS.items():
        found = tuple(row[1] for row in db.execute(f"PRAGMA table_info({table})"))
        if found != columns:
            sys.exit(f"refusing to record: table {table} has columns {found}, not the schema-3 layout {columns}")


def dump(database: Path, commit: str) -> tuple[str, dict[str, int]]:
    """The counter tables as INSERT statements, and the row count per table and per daily dim."""
    db = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        check_layout(db)
        lines = [
            "-- Counter rows as the schema-3 counter layout wrote them: tables sites, daily and hourly",
            f"-- (columns as in migrations 1 to 3), recorded at commit {commit} by tests/data/make_schema3_fixture.py.",
            "-- Loaded into a schema-3 database by tests/test_migration_v2.py. Generated: do not edit by hand.",
        ]
        counts: dict[str, int] = {}
        for table, columns in SCHEMA3_COLUMNS.items():
            rows = db.execute(f"SELECT {', '.join(columns)} FROM {table} ORDER BY {ORDER[table]}").fetchall()
            counts[table] = len(rows)
            for start in range(0, len(rows), ROWS_PER_INSERT):
                chunk = rows[start:start + ROWS_PER_INSERT]
                lines.append(f"INSERT INTO {table} ({', '.join(columns)}) VALUES")
                lines.append(",\n".join("(" + ", ".join(literal(v) for v in row) + ")" for row in chunk) + ";")
        for dim, n in db.execute("SELECT dim, count(*) FROM daily GROUP BY dim ORDER BY dim"):
            counts[f"daily/{dim}"] = n
        return "\n".join(lines) + "\n", counts
    finally:
        db.close()


def stats(data_dir: Path, database: Path, domain: str, first: str, last: str) -> Any:
    """``crumbless stats`` as an operator runs it: a separate process, this checkout's code."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRUMBLESS_")}
    env.update(PYTHONPATH=str(REPO), CRUMBLESS_DATA_DIR=str(data_dir), CRUMBLESS_DATABASE=str(database))
    done = subprocess.run(
        [sys.executable, "-m", "collector.cli", "stats", domain, "--json", "--limit", "1000", "--from", first, "--to", last],
        env=env, cwd=REPO, capture_output=True, text=True, check=False,
    )
    if done.returncode != 0:
        sys.exit(f"crumbless stats {domain} failed: {done.stderr}")
    return json.loads(done.stdout)


def to_json(value: Any, indent: str = "") -> str:
    """Indented JSON with every flat object (a totals card, one row of a top list) on one line,
    so that a diff of the fixture names the rows that changed."""
    if isinstance(value, dict) and value and any(isinstance(v, (dict, list)) for v in value.values()):
        inner = indent + " "
        items = (f"{inner}{json.dumps(k, ensure_ascii=False)}: {to_json(v, inner)}" for k, v in value.items())
        return "{\n" + ",\n".join(items) + f"\n{indent}}}"
    if isinstance(value, list) and value:
        inner = indent + " "
        return "[\n" + ",\n".join(inner + to_json(v, inner) for v in value) + f"\n{indent}]"
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--commit", required=True, help="the commit whose code runs (git rev-parse --short HEAD)")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent, help="directory for the two files")
    args = parser.parse_args(argv)
    import collector

    if not Path(collector.__file__).resolve().is_relative_to(REPO):
        sys.exit(f"collector is imported from {collector.__file__}, not from this checkout")
    with tempfile.TemporaryDirectory(prefix="crumbless-schema3-") as tmp:
        work = Path(tmp)
        settings = make_settings(work / "data", build_geo_db(work / "country.mmdb"), max_values=str(MAX_VALUES),
                                 flush_interval="86400", retention_days="0")
        asyncio.run(add_sites(settings.database))
        beacons = traffic(SEED)
        outcomes = asyncio.run(record_traffic(settings, beacons))
        sql, counts = dump(settings.database, args.commit)
        recorded: dict[str, dict[str, Any]] = {}
        for spec in SITES:
            recorded[spec.domain] = {f"{first}..{last}": stats(settings.data_dir, settings.database, spec.domain, first, last)
                                     for _, first, last in RANGES}
    fixture = {
        "commit": args.commit,
        "command": "crumbless stats DOMAIN --json --limit 1000 --from FIRST --to LAST",
        "ranges": {f"{first}..{last}": label for label, first, last in RANGES},
        "stats": recorded,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "schema3.sql").write_text(sql, encoding="utf-8")
    (args.out / "schema3-stats.json").write_text(to_json(fixture) + "\n", encoding="utf-8")
    print(f"{len(beacons)} beacons: {json.dumps(outcomes, sort_keys=True)}")
    print(f"rows: {json.dumps(counts)}")
    print(f"schema3.sql {len(sql.encode())} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())

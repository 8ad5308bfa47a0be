"""A synthetic site and its visitors: what every benchmark that sends beacons sends.

Storage per pageview and memory per visitor depend on how many distinct values a day brings
(pages, sources, countries, …) and on how visits are shaped, so the numbers only mean
something if the traffic looks like a real site's: page popularity follows Zipf's law over
thousands of paths, most visits come direct or from a search engine with a long tail of
referring sites, visitors are spread over many countries, browsers and screens, a few visits
fire custom events, and most pageviews end with an engagement ping as ``tracker.js`` sends.

Everything is drawn from a seeded ``random.Random`` so two runs send the same beacons.
"""

from __future__ import annotations

import bisect
import collections
import itertools
import json
import random
from dataclasses import dataclass
from typing import Generic, Iterable, Iterator, Sequence, TypeVar

from scripts.benchmarks import countries

DOMAIN = "example.com"
ORIGIN = f"https://{DOMAIN}"
DAY_S = 86_400

# Real User-Agent strings with their share of visits and the screen widths their devices report.
_DESKTOP = (1280, 1366, 1440, 1536, 1920, 2560)
_PHONE = (360, 375, 390, 393, 412, 430)
_TABLET = (768, 810, 820, 1024)
USER_AGENTS: tuple[tuple[str, float, tuple[int, ...]], ...] = (
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36", 26, _DESKTOP),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1", 17, _PHONE),
    ("Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Mobile Safari/537.36", 15, _PHONE),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36", 8, _DESKTOP),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Safari/605.1.15", 7, _DESKTOP),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36 Edg/130.0.0.0", 6, _DESKTOP),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:131.0) Gecko/20100101 Firefox/131.0", 4, _DESKTOP),
    ("Mozilla/5.0 (X11; Linux x86_64; rv:131.0) Gecko/20100101 Firefox/131.0", 2, _DESKTOP),
    ("Mozilla/5.0 (Linux; Android 14; SAMSUNG SM-S921B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/26.0 Chrome/122.0.0.0 Mobile Safari/537.36", 3, _PHONE),
    ("Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1", 3, _TABLET),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/130.0.6723.90 Mobile/15E148 Safari/604.1", 2, _PHONE),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36 OPR/114.0.0.0", 1, _DESKTOP),
    ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36", 2, _DESKTOP),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 14.6; rv:131.0) Gecko/20100101 Firefox/131.0", 1, _DESKTOP),
    ("Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36", 1, _TABLET),
    ("Mozilla/5.0 (Android 14; Mobile; rv:131.0) Gecko/131.0 Firefox/131.0", 1, _PHONE),
)

LANGUAGES: tuple[str, ...] = (
    "en-US,en;q=0.9", "de-DE,de;q=0.9,en;q=0.8", "en-GB,en;q=0.9", "fr-FR,fr;q=0.9,en;q=0.8", "es-ES,es;q=0.9",
    "pt-BR,pt;q=0.9", "ja-JP,ja;q=0.9", "nl-NL,nl;q=0.9,en;q=0.8", "it-IT,it;q=0.9", "pl-PL,pl;q=0.9",
    "ru-RU,ru;q=0.9", "zh-CN,zh;q=0.9", "ko-KR,ko;q=0.9", "sv-SE,sv;q=0.9", "en-CA,en;q=0.9",
    "es-MX,es;q=0.9", "tr-TR,tr;q=0.9", "cs-CZ,cs;q=0.9", "da-DK,da;q=0.9", "fi-FI,fi;q=0.9",
    "nb-NO,nb;q=0.9", "uk-UA,uk;q=0.9", "en-AU,en;q=0.9", "en-IN,en;q=0.9", "de-AT,de;q=0.9",
)

SEARCH_AND_SOCIAL: tuple[tuple[str, float], ...] = (
    ("https://www.google.com/", 22), ("https://www.google.de/", 3), ("https://www.google.co.uk/", 2),
    ("https://www.bing.com/", 3), ("https://duckduckgo.com/", 3), ("https://news.ycombinator.com/", 2),
    ("https://www.reddit.com/r/programming/", 2), ("https://t.co/abc123", 1.5), ("https://github.com/", 1.5),
    ("https://www.linkedin.com/", 1), ("https://www.facebook.com/", 1), ("https://chatgpt.com/", 1),
    ("https://search.brave.com/", 0.5), ("https://www.ecosia.org/", 0.5), ("https://lobste.rs/", 0.5),
)
DIRECT_SHARE = 40.0
LONG_TAIL_SHARE = 12.0          # referring sites beyond the well-known ones
LONG_TAIL_SITES = 3000          # how many of them, by default
CAMPAIGN_SHARE = 0.04           # visits landing with UTM tags
EVENT_SHARE = 0.06              # visits that fire a custom event

_SECTIONS = ("blog", "docs", "guides", "products", "news", "tags", "help", "changelog")
_WORDS = (
    "fast", "simple", "privacy", "analytics", "guide", "setup", "release", "notes", "python", "server",
    "migrate", "postgres", "sqlite", "deploy", "docker", "cookie", "banner", "free", "open", "source",
    "dashboard", "events", "goals", "api", "export", "import", "team", "plans", "pricing", "review",
)
# Hours 0–23 (the site's local time): the diurnal rhythm of a site read mostly in the daytime.
HOUR_WEIGHTS = (3, 2, 1.5, 1, 1, 1.5, 3, 5, 7, 8, 8.5, 8.5, 8, 8, 8, 8, 7.5, 7, 7, 7, 6.5, 6, 5, 4)


def zipf_weights(n: int, exponent: float = 1.0) -> list[float]:
    return [1 / (rank + 1) ** exponent for rank in range(n)]


def page_path(rank: int) -> str:
    """A plausible path for the page of popularity ``rank`` (0 is the home page)."""
    if rank == 0:
        return "/"
    section = _SECTIONS[rank % len(_SECTIONS)]
    words = "-".join(_WORDS[(rank * k + k) % len(_WORDS)] for k in (3, 7, 11))
    return f"/{section}/{words}-{rank}"


T = TypeVar("T")


class Weighted(Generic[T]):
    """Draws from a fixed list by weight with one ``bisect`` (``random.choices`` rebuilds its table per call)."""

    def __init__(self, items: Iterable[T], weights: Sequence[float]) -> None:
        self.items = list(items)
        self._cumulative = list(itertools.accumulate(weights))

    def draw(self, rng: random.Random) -> T:
        return self.items[bisect.bisect(self._cumulative, rng.random() * self._cumulative[-1])]


@dataclass(frozen=True)
class Beacon:
    """One beacon as a browser would send it to the collect path, with the headers that matter."""

    ts: float
    kind: str                   # "pageview", "event" or "engagement"
    body: bytes
    user_agent: str
    accept_language: str
    address: str


@dataclass(frozen=True)
class Habits:
    """How visits go; the defaults are a content site's (about 2.3 pageviews per visit)."""

    pageviews_per_visit: float = 2.3    # on average; geometrically distributed, at least 1
    engagement_share: float = 0.7       # pageviews followed by an engagement ping
    second_visit_share: float = 0.12    # visitors who come back later the same day

    def pageviews_per_visitor(self) -> float:
        """The mean pageviews a visitor of one day brings, so a benchmark can size a day by pageviews.

        A second visit starts 1–6 hours after the first and only counts if it falls before
        midnight, so its chance depends on the diurnal rhythm; integrated numerically over it.
        """
        steps = 1000
        same_day = 0.0
        for hour, weight in enumerate(HOUR_WEIGHTS):
            room = 24 - hour  # hours left in the day once the first visit's hour has started
            # first visit at hour + u (u uniform in [0, 1)), the second 1–6 hours later, uniform
            inside = sum(min(max((room - (k + 0.5) / steps - 1) / 5, 0.0), 1.0) for k in range(steps)) / steps
            same_day += weight * inside
        same_day /= sum(HOUR_WEIGHTS)
        return self.pageviews_per_visit * (1 + self.second_visit_share * same_day)

    def visitors_for(self, pageviews_per_day: float) -> int:
        """Visitors a day must have to bring about ``pageviews_per_day`` pageviews."""
        return round(pageviews_per_day / self.pageviews_per_visitor())


@dataclass(frozen=True)
class Visitor:
    user_agent: str
    screen: int
    language: str
    address: str


class Site:
    """The site's audience: draws visitors, visits and their beacons.

    ``pages`` paths, ``referring_sites`` sites in the long tail of referrers and visitors from the
    first ``country_count`` countries of ``countries.COUNTRIES``: how many distinct values a day
    brings is what sizes the stored rows and the dashboard's top lists, so a busy site's audience
    is wider on all three, not just more numerous.
    """

    def __init__(
        self, website_id: str, pages: int, habits: Habits = Habits(), seed: int = 1,
        referring_sites: int = LONG_TAIL_SITES, country_count: int = countries.COMMON,
    ) -> None:
        if not 1 <= country_count <= len(countries.BLOCKS):
            raise ValueError(f"country_count must be 1–{len(countries.BLOCKS)}, not {country_count}")
        self.website_id = website_id
        self.habits = habits
        self.rng = random.Random(seed)
        self.pages = Weighted([page_path(r) for r in range(pages)], zipf_weights(pages))
        self.agents = Weighted(USER_AGENTS, [w for _, w, _ in USER_AGENTS])
        self.languages = Weighted(LANGUAGES, zipf_weights(len(LANGUAGES), 1.2))
        self.countries = Weighted(countries.BLOCKS[:country_count], countries.SHARES[:country_count])
        self.serials = collections.Counter[str]()
        tail = [f"https://{_WORDS[i % len(_WORDS)]}-{i}.example/posts/{i * 7 % 1000}" for i in range(referring_sites)]
        zipf = zipf_weights(referring_sites)
        total = sum(zipf)
        tail_weights = [w * LONG_TAIL_SHARE / total for w in zipf]
        self.referrers = Weighted(
            ["", *(r for r, _ in SEARCH_AND_SOCIAL), *tail],
            [DIRECT_SHARE, *(w for _, w in SEARCH_AND_SOCIAL), *tail_weights],
        )
        self.hours = Weighted(range(24), HOUR_WEIGHTS)

    def visitor(self) -> Visitor:
        agent, _, screens = self.agents.draw(self.rng)
        return Visitor(agent, self.rng.choice(screens), self.languages.draw(self.rng), self.address())

    def address(self) -> str:
        """An address not drawn before (until its country's IPv4 block wraps around)."""
        block = self.countries.draw(self.rng)
        self.serials[block.code] += 1
        return block.address(self.serials[block.code], self.rng.random() < countries.IPV6_SHARE)

    def landing(self) -> tuple[str, str]:
        """(query string, referrer) of a visit's first pageview."""
        if self.rng.random() < CAMPAIGN_SHARE:
            issue = self.rng.randrange(30)
            return f"?utm_source=newsletter&utm_medium=email&utm_campaign=issue-{issue}", ""
        return "", self.referrers.draw(self.rng)

    def day(self, start: float, visitors: int) -> list[Beacon]:
        """Every beacon of one day that starts at ``start`` (a UTC timestamp), in time order."""
        beacons: list[Beacon] = []
        for _ in range(visitors):
            person = self.visitor()
            first = start + self.time_of_day()
            beacons += self.visit(person, first)
            if self.rng.random() < self.habits.second_visit_share:
                later = first + self.rng.uniform(3600, 6 * 3600)
                if later < start + DAY_S:
                    beacons += self.visit(person, later)
        beacons.sort(key=lambda b: b.ts)
        return beacons

    def time_of_day(self) -> float:
        return self.hours.draw(self.rng) * 3600 + self.rng.random() * 3600

    def visit(self, person: Visitor, ts: float) -> Iterator[Beacon]:
        query, referrer = self.landing()
        pageviews = 1
        more = 1 - 1 / self.habits.pageviews_per_visit  # the chance of one more: a mean of pageviews_per_visit
        while self.rng.random() < more:
            pageviews += 1
        event_at = self.rng.randrange(pageviews) if self.rng.random() < EVENT_SHARE else -1
        for n in range(pageviews):
            url = ORIGIN + self.pages.draw(self.rng) + (query if n == 0 else "")
            yield self.beacon(person, ts, {"n": "pageview", "u": url, "r": referrer})
            dwell = min(self.rng.expovariate(1 / 50), 1500)
            if n == event_at:
                name, props = self.event(url)
                yield self.beacon(person, ts + dwell / 2, {"n": name, "u": url, "p": props})
            if self.rng.random() < self.habits.engagement_share:
                yield self.beacon(person, ts + dwell, {"n": "engagement", "u": url, "e": int(dwell * 1000 * self.rng.uniform(0.3, 1)), "sd": self.rng.randrange(10, 101)})
            referrer = url
            ts += dwell + self.rng.uniform(1, 10)

    def event(self, url: str) -> tuple[str, dict[str, str]]:
        kind = self.rng.random()
        if kind < 0.4:
            return "Outbound Link: Click", {"url": self.referrers.draw(self.rng) or "https://github.com/"}
        if kind < 0.7:
            return "File Download", {"url": f"{ORIGIN}/files/report-{self.rng.randrange(200)}.pdf"}
        return "Signup", {"plan": self.rng.choice(("free", "pro", "team"))}

    def beacon(self, person: Visitor, ts: float, fields: dict[str, object]) -> Beacon:
        body = {"w": person.screen, "h": 0, "id": self.website_id, **fields}
        kind = fields["n"] if fields["n"] in ("pageview", "engagement") else "event"
        return Beacon(ts, str(kind), json.dumps(body, separators=(",", ":")).encode(), person.user_agent, person.language, person.address)

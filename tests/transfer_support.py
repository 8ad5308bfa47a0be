"""A generated stream of visits for the import and export tests, sendable as beacons or storable as Umami rows.

Each person is one (address, User-Agent) pair, so a live Crumbless sees one visitor per person
and day, and one Umami session: the unit both tools share. The stream crosses midnight and the
30-minute visit boundary, and has referrers, UTM tags, custom events with properties and (for
Plausible-format beacons) engagement pings in whole seconds.
"""

from __future__ import annotations

import json
import random
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.live_server import crumbless_command
from tests.support import CHROME, FIREFOX, IPHONE

DOMAIN = "example.com"
PLAUSIBLE_DIMENSIONS = {
    "total",
    "page",
    "source",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "country",
    "browser",
    "os",
    "screen",
    "event",
}
"""The dimensions Plausible's format has a table for (docs/import.md)."""
EVERY_DIMENSION = PLAUSIBLE_DIMENSIONS | {"device", "language", "event_prop"}


def cli(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``crumbless ARGS`` that may fail: its status, stdout and stderr for the test to judge."""
    return subprocess.run([*crumbless_command(), *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=120)


# (User-Agent, Umami's browser, os and device names for it, screen)
AGENTS = (
    (FIREFOX, "firefox", "Linux", "desktop", "1920x1080"),
    (CHROME, "chrome", "Windows 10", "laptop", "1366x768"),
    (IPHONE, "ios", "iOS", "mobile", "390x844"),
)
ADDRESSES = (("192.0.2.", "DE"), ("198.51.100.", "FR"), ("203.0.113.", "JP"))
LANGUAGES = ("en-US", "de-DE", "fr", "ja")
PAGES = ["/", "/pricing", "/blog/launch", "/docs/start", "/docs/api", "/about"]
REFERRERS = ("", "", "https://www.google.com/search", "https://news.ycombinator.com/item", "https://github.com/x/y")


@dataclass(frozen=True)
class Person:
    number: int
    address: str
    country: str
    user_agent: str
    browser: str
    os: str
    device: str
    screen: str
    language: str

    @property
    def width(self) -> int:
        return int(self.screen.split("x")[0])


@dataclass(frozen=True)
class Event:
    ts: int
    person: Person
    kind: str  # pageview, event or engagement
    path: str
    query: str = ""
    referrer: str = ""
    name: str = ""
    props: dict[str, Any] = field(default_factory=dict)
    engaged_ms: int = 0
    scroll: int = -1

    def umami_body(self, website_id: str) -> bytes:
        url = self.path + (f"?{self.query}" if self.query else "")
        payload: dict[str, Any] = {
            "website": website_id,
            "hostname": DOMAIN,
            "url": url,
            "referrer": self.referrer,
            "screen": self.person.screen,
            "language": self.person.language,
            "title": "T",
        }
        if self.kind == "event":
            payload.update(name=self.name, data=self.props)
        return json.dumps({"type": "event", "payload": payload}).encode()

    def plausible_body(self) -> bytes:
        url = f"https://{DOMAIN}{self.path}" + (f"?{self.query}" if self.query else "")
        body: dict[str, Any] = {
            "n": self.kind,
            "u": url,
            "d": DOMAIN,
            "r": self.referrer or None,
            "w": self.person.width,
        }
        if self.kind == "event":
            body.update(n=self.name, p=json.dumps(self.props))
        if self.kind == "engagement":
            body.update(e=self.engaged_ms, sd=self.scroll)
        return json.dumps(body).encode()


def people(count: int) -> list[Person]:
    found = []
    for n in range(count):
        agent, browser, system, device, screen = AGENTS[n % 3]
        prefix, country = ADDRESSES[n // 3 % 3]
        found.append(
            Person(n, f"{prefix}{n % 250 + 1}", country, agent, browser, system, device, screen, LANGUAGES[n % 4])
        )
    return found


def stream(start: int, days: int = 3, visitors: int = 45, seed: int = 7, engagement: bool = True) -> list[Event]:
    """Visits of ``visitors`` people over ``days`` days from ``start`` (a UTC midnight), in time order."""
    rng = random.Random(seed)
    events: list[Event] = []
    for person in people(visitors):
        for day in range(days):
            if rng.random() < 0.25:
                continue
            ts = start + day * 86400 + rng.randint(0, 86400 - 1)
            for _visit in range(rng.choice((1, 1, 2))):
                ts = _visit_events(rng, person, ts, events, engagement)
                ts += rng.choice((1900, 4000))  # the next visit, maybe after midnight
    events.sort(key=lambda e: (e.ts, e.person.number))
    # One event per person and second: Umami orders events of one second by a random id, so
    # which of two came first would be a coin toss, and the test would compare coin tosses.
    kept: dict[tuple[int, int], Event] = {}
    for e in events:
        kept.setdefault((e.ts, e.person.number), e)
    return list(kept.values())


def _visit_events(rng: random.Random, person: Person, ts: int, events: list[Event], engagement: bool) -> int:
    path = rng.choice(PAGES)
    query = "utm_source=newsletter&utm_medium=email&utm_campaign=june" if person.number % 5 == 0 else ""
    events.append(Event(ts, person, "pageview", path, query, rng.choice(REFERRERS)))
    for _ in range(rng.choice((0, 0, 1, 2, 3))):
        ts += rng.randint(5, 600)
        if engagement and rng.random() < 0.6:
            events.append(
                Event(ts, person, "engagement", path, engaged_ms=1000 * rng.randint(1, 90), scroll=rng.randint(5, 100))
            )
            ts += 1
        if rng.random() < 0.3:
            props = {"plan": rng.choice(("free", "pro"))}
            events.append(Event(ts, person, "event", path, name=rng.choice(("Signup", "Download")), props=props))
            ts += rng.randint(1, 30)
        path = rng.choice(PAGES)
        events.append(Event(ts, person, "pageview", path))
    return ts

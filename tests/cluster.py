"""Real ``crumbless serve`` processes on one clock: one collector, or several behind HAProxy.

Every collector reads its wall clock (``time.time``) from one file, frozen at the second the test
writes there (tests/fake_clock). So every collector agrees on the time, a beacon stream can cross
the 30-minute visit boundary and a site's midnight in seconds, and two runs of one stream see
exactly the same seconds (durations included). Only the wall clock is faked: timers run on the
real monotonic clock, and the fake time is always ahead of the real one, so what Redis expires by
its own clock lives long enough.
"""

from __future__ import annotations

import json
import os
import random
import sqlite3
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from collector.model import COUNTERS, HOURLY_COUNTERS
from tests.live_server import EVERY_CELL_KEPT, LiveServer, crumbless_env, free_port, run_cli
from tests.services import start_haproxy
from tests.support import CHROME, FIREFOX, IPHONE

DOMAIN = "scale.example"
FAKE_CLOCK = Path(__file__).parent / "fake_clock"


class FrozenClock:
    """The collectors' wall clock: one file, rewritten for every tick of the stream."""

    def __init__(self, root: Path) -> None:
        self.path = root / "clock"
        self.set(time.time() + 3600)

    def set(self, ts: float) -> None:
        assert ts > time.time(), "the fake clock must stay ahead of the real one (Redis expires by the real one)"
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(f"{ts:.6f}\n")
        os.replace(temporary, self.path)  # a collector never reads half a line

    def apply(self, env: dict[str, str]) -> None:
        """Put a child process's ``env`` on this clock (tests/fake_clock/sitecustomize.py), the
        shim's folder first on the path it already has."""
        path = [str(FAKE_CLOCK), *filter(None, [env.get("PYTHONPATH")])]
        env.update(PYTHONPATH=os.pathsep.join(path), FAKE_CLOCK_FILE=str(self.path), TZ="UTC")


# ── the recorded stream ─────────────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class Beacon:
    body: bytes
    address: str
    user_agent: str


@dataclass
class Tick:
    """Beacons sent at one (fake) second, all at once: racing pairs of one visitor included."""

    at: int
    beacons: list[Beacon] = field(default_factory=list)


AGENTS = (FIREFOX, CHROME, IPHONE)
PAGES = [f"/docs/{i}" for i in range(40)] + ["/", "/pricing", "/blog/launch", "/donate"]
REFERRERS = (None, None, "https://www.google.com/", "https://news.ycombinator.com/item", "https://mastodon.social/@x")


def stream(start: int, visitors: int = 400, seed: int = 11) -> list[Tick]:
    """A day's last 40 minutes and the next day's first minutes for ``visitors`` visitors.

    Only beacons whose order within a tick cannot matter race each other: a visitor's engagement
    ping for the page it is on and its next pageview (either order adds the same numbers, which
    is what the counting rules promise of a ping overtaken by the next pageview).
    """
    rng = random.Random(seed)
    people = [(f"{(192, 198, 203)[v % 3]}.{(0, 51, 0)[v % 3]}.{(2, 100, 113)[v % 3]}.{v % 250 + 1}", AGENTS[v // 250 % 3]) for v in range(visitors)]
    on_page: dict[int, str] = {}
    ticks: list[Tick] = []

    def beacon(v: int, name: str, path: str, **fields: Any) -> Beacon:
        body = {"n": name, "u": f"https://{DOMAIN}{path}", "d": DOMAIN, "r": None, "w": (390, 820, 1280, 1920)[v % 4]}
        body.update(fields)
        return Beacon(json.dumps(body).encode(), *people[v])

    def pageview(tick: Tick, v: int, first: bool = False) -> None:
        path = rng.choice(PAGES)
        fields: dict[str, Any] = {}
        if first:
            fields["r"] = rng.choice(REFERRERS)
            if v % 7 == 0:
                path += "?utm_source=newsletter&utm_medium=email&utm_campaign=winter"
        tick.beacons.append(beacon(v, "pageview", path, **fields))
        on_page[v] = path.split("?")[0]

    def racing_ping_and_pageview(tick: Tick, v: int) -> None:
        tick.beacons.append(beacon(v, "engagement", on_page[v], sd=rng.randint(10, 100), e=rng.randint(500, 30000)))
        pageview(tick, v)

    def event(tick: Tick, v: int) -> None:
        props = {"plan": rng.choice(("free", "pro"))}
        tick.beacons.append(beacon(v, rng.choice(("Signup", "Download")), on_page[v], p=props))

    plan = [  # (seconds after start, what happens)
        (0, lambda t: [pageview(t, v, first=True) for v in range(0, visitors // 2)]),
        (20, lambda t: [racing_ping_and_pageview(t, v) for v in range(0, visitors // 2, 2)]),
        (25, lambda t: [event(t, v) for v in range(1, visitors // 2, 2)]),
        (300, lambda t: [pageview(t, v, first=True) for v in range(visitors // 2, visitors)]),
        (320, lambda t: [racing_ping_and_pageview(t, v) for v in range(visitors // 2, visitors, 3)]),
        (1200, lambda t: [pageview(t, v) for v in range(visitors // 2, visitors, 2)]),           # within 30 min
        (2160, lambda t: [pageview(t, v, first=True) for v in range(0, visitors // 4)]),         # after 30 min: new visits
        (2170, lambda t: [racing_ping_and_pageview(t, v) for v in range(0, visitors // 4)]),
        (2880, lambda t: [pageview(t, v, first=True) for v in range(0, visitors, 2)]),            # past midnight
        (2890, lambda t: [racing_ping_and_pageview(t, v) for v in range(0, visitors, 4)]),
        (2900, lambda t: [event(t, v) for v in range(2, visitors, 4)]),
    ]
    for offset, action in plan:
        tick = Tick(start + offset)
        action(tick)
        ticks.append(tick)
    return ticks


def start_of_stream(now: float) -> int:
    """23:20 UTC (the site's zone) of a coming day: the stream crosses its midnight 40 minutes in."""
    day = int(now // 86400) + 1
    return day * 86400 + 23 * 3600 + 20 * 60


WORKERS = 8


def send_tick(url: str, tick: Tick, resend: bool) -> list[int]:
    """Every beacon of the tick over ``WORKERS`` keep-alive connections at once; the answers'
    statuses in order. Neighbours in the list go out on different connections, so a visitor's
    racing pair really races. The visitor's address goes in X-Forwarded-For, which a collector
    believes from loopback (HAProxy adds its own hop after it). With ``resend``, a beacon a proxy
    answered 502/503 for (its backend just died) is sent again until a collector takes it."""

    def worker(part: int) -> list[tuple[int, int]]:
        answers = []
        with httpx.Client(base_url=url, trust_env=False, timeout=20) as http:
            for i in range(part, len(tick.beacons), WORKERS):
                answers.append((i, post(http, tick.beacons[i], resend)))
        return answers

    with ThreadPoolExecutor(WORKERS) as pool:
        results = sorted(a for part in pool.map(worker, range(WORKERS)) for a in part)
    return [status for _, status in results]


def post(http: httpx.Client, beacon: Beacon, resend: bool) -> int:
    headers = {"Content-Type": "text/plain", "User-Agent": beacon.user_agent, "X-Forwarded-For": beacon.address}
    for _ in range(50):
        try:
            response = http.post("/api/event", content=beacon.body, headers=headers)
        except httpx.TransportError:
            if not resend:
                return 0
            time.sleep(0.2)
            continue
        if response.status_code not in (502, 503) or not resend:
            return response.status_code
        time.sleep(0.2)
    return 0


# ── collectors ──────────────────────────────────────────────────────────────────────────────


class Collectors:
    """``count`` collectors on one database (a SQLite file, or PostgreSQL), one Redis if given."""

    def __init__(self, root: Path, geo_db: Path, clock: FrozenClock, count: int, **settings: str) -> None:
        self.root, self.clock = root, clock
        self.proxy_log = ""
        settings = {**EVERY_CELL_KEPT, **settings}  # rows compared with a reference run's
        base = crumbless_env(root / "data", geo_db, flush_interval="0.5", **settings)
        clock.apply(base)
        self.env = base
        run_cli(self.env, "site", "add", DOMAIN, cwd=root)
        self.servers = []
        for i in range(count):
            env = dict(self.env, CRUMBLESS_PORT=str(free_port()))
            self.servers.append(LiveServer(env, root, name=f"collector-{i}", keep_port=True))

    def start(self) -> None:
        for server in self.servers:
            server.start(timeout=60)

    def stop(self) -> None:
        for server in self.servers:
            if server.proc is not None and server.proc.poll() is None:
                server.stop()

    def kill(self) -> None:
        for server in self.servers:
            server.kill()

    @property
    def ports(self) -> list[int]:
        return [int(s.env["CRUMBLESS_PORT"]) for s in self.servers]

    @contextmanager
    def behind_haproxy(self) -> Iterator[str]:
        """HAProxy's URL; its log is kept in ``proxy_log`` when it stops, for ``report``."""
        with start_haproxy(self.ports) as proxy:
            try:
                yield proxy.url
            finally:
                self.proxy_log = proxy.log()

    def report(self, statuses: Sequence[int]) -> str:
        """What a test prints when a beacon got another answer than 202: which beacons, HAProxy's
        lines other than 202s (its timers and termination flags tell a stalled collector from a
        refused connection), and the end of every collector's log."""
        odd = [(i, s) for i, s in enumerate(statuses) if s != 202]
        lines = [line for line in self.proxy_log.splitlines() if " 202 " not in line]
        tails = [f"── {s.name}:\n" + "\n".join(s.stderr_text().splitlines()[-30:]) for s in self.servers]
        return "\n".join([f"answers other than 202 (index, status): {odd[:20]}", "── haproxy:", *lines[-60:], *tails])


def send(url: str, clock: FrozenClock, ticks: Sequence[Tick], resend: bool = False) -> list[int]:
    statuses: list[int] = []
    for tick in ticks:
        clock.set(tick.at)
        statuses += send_tick(url, tick, resend)
    return statuses


# ── what was stored ─────────────────────────────────────────────────────────────────────────

_COUNTERS = ", ".join(f"r.{c}" for c in COUNTERS)
ROWS = {
    "daily": f"SELECT r.dim, r.day, v.value, {_COUNTERS} FROM daily r JOIN dim_values v ON v.id = r.value",
    "monthly": f"SELECT r.dim, r.month, v.value, {_COUNTERS} FROM monthly r JOIN dim_values v ON v.id = r.value",
    "hourly": f"SELECT hour, {', '.join(HOURLY_COUNTERS)} FROM hourly",
}
Rows = dict[tuple[Any, ...], tuple[int, ...]]


def keyed(table: str, rows: Sequence[Sequence[Any]]) -> Rows:
    width = 1 if table == "hourly" else 3
    return {(table, *row[:width]): tuple(int(n) for n in row[width:]) for row in rows}


def sqlite_rows(path: Path) -> Rows:
    with sqlite3.connect(path) as db:
        return {k: v for table, sql in ROWS.items() for k, v in keyed(table, db.execute(sql).fetchall()).items()}


def postgres_rows(url: str) -> Rows:
    import psycopg

    with psycopg.connect(url) as db:
        return {k: v for table, sql in ROWS.items() for k, v in keyed(table, db.execute(sql).fetchall()).items()}


def column(rows: Rows, table: str, dim: int, name: str) -> int:
    """One counter summed over a table's rows of one dimension."""
    index = COUNTERS.index(name)
    return sum(counts[index] for key, counts in rows.items() if key[0] == table and key[1] == dim)

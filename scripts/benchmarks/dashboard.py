"""Dashboard: the site overview over 30 and 365 days of a year of data, median and p95.

One implementation serves every year-of-data benchmark: ``dashboard`` (a typical small site,
below) and ``busy`` (a busy one, ``busy.py``) differ only in their ``Year`` — the audience, the
targets and the word their figures' labels start with — so a change to how a year is seeded or
timed changes both alike, and their figures stay comparable.

A year of data is seeded fast and still looks like production's: a few sample days of the site
go through the real pipeline (``inprocess.Replay``), each in a fresh app in a process of its own
so they run side by side on the machine's cores; the counters each day would have flushed are
taken from the aggregator (its ``Batch``), and every day of the year is written with one of
those batches (its day numbers moved) through the store's own ``write_counts`` — the upserts the
flusher runs — a week of days per transaction. Each stored day therefore has the rows a real day
of that site has, written day after day in the order production writes them.

Two timings per range, alternating run by run: the real HTTP request for the overview page
through the ASGI app, logged in as an admin (routing, session, queries, template, headers), and
the ``dashboard.stats`` calls that page makes, which is the share the database has in it.

And the file that year makes: its bytes after a checkpoint, WAL included, per pageview the
dashboard reads back (``stats.totals``) over the days written — which must be every pageview of
the batches written, or the figure would be flattered by lost rows.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import importlib
import itertools
import math
import multiprocessing
import os
import re
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from collector.aggregator import Batch
from collector.sites import Site
from collector.store import Store
from dashboard import stats
from dashboard.passwords import hash_password
from dashboard.views import TOP_ROWS
from scripts.benchmarks import countries, inprocess, traffic
from scripts.benchmarks.results import Figure, Result, at_most, summary
from scripts.benchmarks.storage import file_bytes
from tests.support import Clock

ORIGIN = "http://crumbless.test"
ADMIN, PASSWORD = "bench-admin", "bench-password-1"
DAYS = 365
RANGES = (30, 365)              # the overview's ranges timed, in days ending today
DAYS_PER_WRITE = 7              # days of counters per ``write_counts`` transaction while seeding
# The sample apps' flushers must not write behind our back: their counters are taken from the
# aggregator and written, for every day of the year, by ``seed``.
NEVER = str(DAYS * 86_400)
TOTAL = "total"                 # the dimension every hit of a day is counted under (collector.counting)
PAGE = "page"


def _other() -> str:
    """The fold value: ``collector.guard`` declares it since the scale-out work, ``collector.aggregator`` before."""
    for module in ("collector.guard", "collector.aggregator"):
        try:
            return str(importlib.import_module(module).OTHER)
        except (ImportError, AttributeError):
            continue
    raise RuntimeError("no module declares OTHER")


OTHER = _other()


def counter_index(name: str) -> int:
    """Where counter ``name`` sits in a ``Batch`` row.

    The counters are declared in ``collector.model`` since the data-model rewrite and in
    ``collector.aggregator`` before it; looked up by name, so the bench measures either layout.
    """
    for module, attribute in (("collector.model", "COUNTERS"), ("collector.aggregator", "COLUMNS")):
        try:
            names: tuple[str, ...] = tuple(getattr(importlib.import_module(module), attribute))
        except (ImportError, AttributeError):
            continue
        return names.index(name)
    raise RuntimeError(f"no module declares the counter {name!r}")


PAGEVIEWS = counter_index("pageviews")


@dataclass(frozen=True)
class Year:
    """A site's year of data and how its dashboard is judged: all a year-of-data benchmark sets."""

    label: str                  # its figures' labels start with it ("" for the dashboard's own)
    visitors_per_day: int
    pages: int
    sample_days: int            # days replayed through the pipeline; the year repeats them
    runs: int
    warmup: int
    p95_30d_ms: float           # targets for the overview page over HTTP, p95
    p95_365d_ms: float
    referring_sites: int = traffic.LONG_TAIL_SITES
    countries: int = countries.COMMON
    bytes_per_pageview: float | None = None  # the storage target, if the benchmark has one

    def targets_ms(self) -> dict[int, float]:
        return {30: self.p95_30d_ms, 365: self.p95_365d_ms}

    def name(self, figure: str) -> str:
        """A figure's label, prefixed so two years' rows in one table never read alike."""
        return f"{self.label} {figure}" if self.label else figure

    def audience(self, website_id: str, seed: int) -> traffic.Site:
        return traffic.Site(
            website_id, self.pages, seed=seed, referring_sites=self.referring_sites, country_count=self.countries
        )


# A typical small business or project site: 2,000 visitors a day, about 5,100 pageviews.
FULL = Year(
    label="", visitors_per_day=2_000, pages=2_000, sample_days=7, runs=15, warmup=2, p95_30d_ms=50.0, p95_365d_ms=250.0
)
QUICK = replace(FULL, visitors_per_day=100, pages=200, sample_days=2, runs=3, warmup=1)


def run(quick: bool) -> Result:
    return run_year(QUICK if quick else FULL)


def run_year(year: Year) -> Result:
    """The whole benchmark for ``year``: seed a fresh data directory, time its overview, weigh its file."""
    return inprocess.in_scratch(lambda setup: asyncio.run(measure(setup, year)))


# ── sample days: the real pipeline ──────────────────────────────────────────────────────────────

@dataclass
class Sample:
    """One sample day's counters as the flusher would have written them, and what was sent to get them."""

    batch: Batch
    sent: dict[str, int]
    outcomes: dict[str, int]
    warnings: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """What the results keep of it: the counts, and the distinct values its day brought per dimension."""
        own_day = min((day for _, day, _, _ in self.batch.daily), default=0)  # later: visits past midnight
        values: dict[str, int] = {}
        for _, day, dim, _ in self.batch.daily:
            if day == own_day:
                values[dim] = values.get(dim, 0) + 1
        return {
            "sent": self.sent, "outcomes": self.outcomes, "pageviews": pageviews(self.batch),
            "folded_pageviews": folded(self.batch), "rows": len(self.batch), "values": values,
        }


def sample_day(year: Year, first: date, offset: int) -> Sample:
    """In a worker process: day ``offset`` of the year through the pipeline of a fresh app.

    A fresh app per day loses nothing: a day's batch is taken when its beacons are done, visits
    never span two days' audiences, and the visitor state is dropped at every midnight anyway.
    """
    with tempfile.TemporaryDirectory(prefix="crumbless-bench-") as tmp, inprocess.warnings_kept() as warnings:
        setup = inprocess.prepare(Path(tmp), flush_interval=NEVER)
        sample = asyncio.run(replay_day(setup, year, first + timedelta(days=offset), seed=1 + offset))
    sample.warnings += warnings
    return sample


async def replay_day(setup: inprocess.Setup, year: Year, day: date, seed: int) -> Sample:
    start = datetime.combine(day, datetime.min.time(), UTC).timestamp()
    clock = Clock(start)
    async with inprocess.running(setup.settings, clock) as app:
        replay = inprocess.Replay(app, clock, math.inf, 900)
        await replay.send(year.audience(setup.site.website_id, seed).day(start, year.visitors_per_day))
        batch = app.state.collector.aggregator.drain()  # visits running past midnight stay with their first day
    return Sample(batch, dict(replay.sent), dict(replay.outcomes))


def sample_days(year: Year, first: date) -> list[Sample]:
    """The sample days side by side, one process each (spawned: no copy of this one's state)."""
    workers = min(year.sample_days, os.cpu_count() or 1)
    with concurrent.futures.ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        return list(pool.map(sample_day, itertools.repeat(year), itertools.repeat(first), range(year.sample_days)))


def pageviews(batch: Batch) -> int:
    return sum(row[PAGEVIEWS] for (_, _, dim, _), row in batch.daily.items() if dim == TOTAL)


def folded(batch: Batch) -> int:
    """Pageviews of paths counted as ``(other)``: the day had more distinct paths than the store keeps."""
    return sum(row[PAGEVIEWS] for (_, _, dim, value), row in batch.daily.items() if dim == PAGE and value == OTHER)


# ── the year: the store's own upserts ───────────────────────────────────────────────────────────

def moved(batch: Batch, days: int, site: int) -> Batch:
    """The batch ``days`` later, for ``site`` (a sample app's site id need not be this store's)."""
    return Batch(
        daily={(site, day + days, dim, value): row for (_, day, dim, value), row in batch.daily.items()},
        hourly={(site, hour + days * 24): row for (_, hour), row in batch.hourly.items()},
    )


def merged(batches: Iterable[Batch]) -> Batch:
    """One batch adding up several: a day's visits running past midnight meet the next day's rows."""
    out = Batch()
    for batch in batches:
        for key, row in batch.daily.items():
            have = out.daily.get(key)
            out.daily[key] = row if have is None else [a + b for a, b in zip(have, row, strict=True)]
        for hkey, hrow in batch.hourly.items():
            hhave = out.hourly.get(hkey)
            out.hourly[hkey] = hrow if hhave is None else [a + b for a, b in zip(hhave, hrow, strict=True)]
    return out


@dataclass
class Seeded:
    rows: int = 0               # rows of the batches written
    pageviews: int = 0          # their pageviews
    first_day: int = 0          # the day numbers written, visits running past the last midnight included
    last_day: int = 0


async def seed(store: Store, site: int, samples: list[Batch]) -> Seeded:
    """Every day of the year, oldest first, with sample ``offset % len(samples)``'s counters."""
    seeded, span = Seeded(), set[int]()
    for week in range(0, DAYS, DAYS_PER_WRITE):
        offsets = range(week, min(week + DAYS_PER_WRITE, DAYS))
        batch = merged(moved(samples[o % len(samples)], o - o % len(samples), site) for o in offsets)
        await store.write_counts(batch)
        seeded.rows += len(batch)
        seeded.pageviews += pageviews(batch)
        span.update(day for _, day, _, _ in batch.daily)
    seeded.first_day, seeded.last_day = min(span), max(span)
    return seeded


def written_range(first: date, seeded: Seeded) -> stats.Range:
    """The dates of the day numbers written (``first`` is the year's first day, UTC like the site)."""
    base = stats.Range(first, first).days[0]
    return stats.Range(
        first + timedelta(days=seeded.first_day - base), first + timedelta(days=seeded.last_day - base)
    )


# ── the dashboard, timed ────────────────────────────────────────────────────────────────────────

async def login(http: httpx.AsyncClient, store: Store) -> None:
    await store.add_user(ADMIN, hash_password(PASSWORD), "admin")
    form = await http.get("/login")
    token = re.search(r'name="csrf" value="([^"]+)"', form.text)
    if token is None:
        raise RuntimeError("the login page has no CSRF token")
    fields = {"name": ADMIN, "password": PASSWORD, "csrf": token.group(1), "next": "/sites"}
    done = await http.post("/login", data=fields, headers={"Origin": ORIGIN})
    if done.status_code != 303:
        raise RuntimeError(f"logging in answered {done.status_code}")


async def overview_stats(store: Store, site: Site, period: stats.Range) -> None:
    """What ``dashboard.views.overview`` reads for one page."""
    await stats.overview(store, site, period, limit=TOP_ROWS)


async def timed(call: Callable[[], Awaitable[Any]]) -> float:
    started = time.perf_counter()
    await call()
    return (time.perf_counter() - started) * 1000


async def measure(setup: inprocess.Setup, year: Year) -> Result:
    today = datetime.now(UTC).date()
    first = today - timedelta(days=DAYS - 1)
    started = time.perf_counter()
    samples = sample_days(year, first)
    replay_s = time.perf_counter() - started
    clock = Clock(time.time())  # the dashboard's "today" is the real one, like its sessions'
    async with inprocess.running(setup.settings, clock) as app:
        store: Store = app.state.store
        started = time.perf_counter()
        seeded = await seed(store, setup.site.id, [s.batch for s in samples])
        write_s = time.perf_counter() - started
        clock.now = time.time()
        await app.state.housekeeping.tick()
        stored = int((await stats.totals(store, setup.site, written_range(first, seeded)))["pageviews"])
        transport = httpx.ASGITransport(app, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url=ORIGIN) as http:
            await login(http, store)
            ranges = {days: stats.Range(today - timedelta(days=days - 1), today) for days in RANGES}
            timings = {days: await time_range(http, store, setup.site, period, year) for days, period in ranges.items()}
            totals = {days: await stats.totals(store, setup.site, period) for days, period in ranges.items()}
    sizes = file_bytes(setup.settings.database)
    kept = [s.summary() for s in samples]
    result = Result(details={
        "year": asdict(year), "rows_written": seeded.rows, "pageviews_written": seeded.pageviews,
        "pageviews_stored": stored, "seeding_s": replay_s + write_s, "replay_s": replay_s, "write_s": write_s,
        "file": sizes, "totals": totals, "first_day": first.isoformat(), "last_day": today.isoformat(),
        "samples": kept, "warnings": [w for s in samples for w in s.warnings], "timings": {},
    })
    timing_figures(result, year, timings)
    storage_figures(result, year, sizes, stored, seeded, kept)
    return result


async def time_range(
    http: httpx.AsyncClient, store: Store, site: Site, period: stats.Range, year: Year
) -> dict[str, list[float]]:
    url = f"/sites/{site.website_id}?period=custom&from={period.first.isoformat()}&to={period.last.isoformat()}"

    async def page() -> None:
        response = await http.get(url)
        if response.status_code != 200 or "Pageviews" not in response.text:
            raise RuntimeError(f"the overview answered {response.status_code}")

    async def queries() -> None:
        await overview_stats(store, site, period)

    for _ in range(year.warmup):
        await page()
        await queries()
    http_ms, stats_ms = [], []
    for _ in range(year.runs):
        http_ms.append(await timed(page))
        stats_ms.append(await timed(queries))
    return {"http_ms": http_ms, "stats_ms": stats_ms}


# ── the figures ─────────────────────────────────────────────────────────────────────────────────

def timing_figures(result: Result, year: Year, timings: dict[int, dict[str, list[float]]]) -> None:
    for days, runs in timings.items():
        http, queries = summary(runs["http_ms"]), summary(runs["stats_ms"])
        target, passed = at_most(http["p95"], year.targets_ms()[days])
        result.figures += [
            Figure(year.name(f"{days} d overview HTTP p95"), http["p95"], "ms", target, passed),
            Figure(year.name(f"{days} d overview HTTP median"), http["median"], "ms"),
            Figure(year.name(f"{days} d stats calls p95"), queries["p95"], "ms"),
            Figure(year.name(f"{days} d stats calls median"), queries["median"], "ms"),
        ]
        result.details["timings"][f"{days}d"] = {"http_ms": http, "stats_ms": queries, "runs": runs}


def storage_figures(
    result: Result, year: Year, sizes: dict[str, int], stored: int, seeded: Seeded, samples: list[dict[str, Any]]
) -> None:
    """The file per pageview stored, and the checks that make that figure honest.

    Pageviews stored must be the pageviews written (a lost batch would flatter the figure); the
    pageviews per day and the share folded into ``(other)`` say what traffic the file holds.
    """
    total = sizes["database"] + sizes["wal"]
    per_pageview = total / max(stored, 1)
    target, passed = "", None
    if year.bytes_per_pageview is not None:
        target, met = at_most(per_pageview, year.bytes_per_pageview)
        passed = met and stored > 0
    written = seeded.pageviews
    sampled = sum(s["pageviews"] for s in samples)
    folded_share = 100 * sum(s["folded_pageviews"] for s in samples) / max(sampled, 1)
    result.figures += [
        Figure(year.name("bytes per pageview"), per_pageview, "B", target, passed),
        Figure(year.name("database file (+WAL)"), total, "B"),
        Figure(year.name("pageviews stored / written"), stored, "", "= written", stored == written > 0,
               baseline=written, ratio=stored / written if written else None),
        Figure(year.name("pageviews per day"), sampled / max(len(samples), 1), ""),
        Figure(year.name("pageviews of paths folded into (other)"), folded_share, "%"),
    ]

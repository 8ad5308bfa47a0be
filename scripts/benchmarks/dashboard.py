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

Closed days are folded as housekeeping folds them (``collector.budget``): a day's segment cells
under k visitors go into their pivot's ``(other)`` cell. Most of a day's segment cells are such
cells, so writing each of the year's days whole and folding it would cost the seeding more than
everything else (a busy year, hours); the fold of a day depends on that day's cells alone, so each
sample day is folded once, by the store's ``fold_segments`` in its own app's store, and the year
is written from the folded days. The visits running past a day's midnight reach the next day,
which is folded again after each week is written, as a late flush makes housekeeping fold a day
again; today, not closed yet, keeps its cells.

Two timings per range, alternating run by run: the real HTTP request for the overview page
through the ASGI app, logged in as an admin (routing, session, queries, template, headers), and
the ``dashboard.stats`` calls that page makes, which is the share the database has in it. The
same two for the overview filtered by a typical value (``FILTERED_BY``: the range's top source and
top page), in the same rounds, so each filtered figure has an unfiltered one measured on the same
machine at the same moments to be judged against: at most 1.5 × its p95 (issue 12).

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
from urllib.parse import urlencode

import httpx

from collector.aggregator import Batch
from collector.model import BY_CODE, COUNTERS, LIST_BY_KEY
from collector.sites import Site
from collector.store import Store
from dashboard import stats
from dashboard.filters import QUERY_SEPARATOR, Filter, parse
from dashboard.passwords import hash_password
from dashboard.views import TOP_ROWS
from scripts.benchmarks import countries, inprocess, segments, traffic
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
FILTERED_BY = ("source", "page")  # the overview is also timed filtered by the top value of each
FILTERED_P95_RATIO = 1.5          # a filtered overview's p95 over the unfiltered one's (issue 12)


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
    label="", visitors_per_day=2_000, pages=2_000, sample_days=7, runs=20, warmup=2, p95_30d_ms=50.0, p95_365d_ms=250.0
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
    """One sample day's counters as the flusher would have written them, its own day folded as the
    budget folds it once closed, and what was sent to get them."""

    batch: Batch
    sent: dict[str, int]
    outcomes: dict[str, int]
    counted_rows: int = 0       # daily rows as counted, before the fold
    folded_cells: int = 0
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
            "counted_rows": self.counted_rows, "segment_cells_folded": self.folded_cells,
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
        counted = app.state.collector.aggregator.drain()  # visits running past midnight stay with their first day
        store: Store = app.state.store
        await store.write_counts(counted)
        own = stats.Range(day, day).days[0]
        folded_cells = await store.fold_segments(setup.site.id, own, own, setup.settings.segment_min_visitors)
        batch = stored_batch(setup.settings.database, setup.site.id, counted)
    return Sample(batch, dict(replay.sent), dict(replay.outcomes), len(counted.daily), folded_cells)


def stored_batch(database: Path, site: int, counted: Batch) -> Batch:
    """The site's daily rows as the store holds them now, as a batch to write again; the hours as counted."""
    sql = (
        f"SELECT d.day, d.dim, v.value, {', '.join('d.' + c for c in COUNTERS)} FROM daily AS d "
        "JOIN dim_values AS v ON v.id = d.value WHERE d.site = ? ORDER BY d.dim, d.day, d.value"
    )
    with segments.read_only(database) as db:
        daily = {(site, day, BY_CODE[code].key, text): list(row) for day, code, text, *row in db.execute(sql, (site,))}
    return Batch(daily=daily, hourly=dict(counted.hourly))


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
    folded: int = 0             # segment cells under k folded away (``Store.fold_segments``)
    fold_s: float = 0.0         # the time the folds took, part of the seeding's


@dataclass(frozen=True)
class Budget:
    """The fold of closed days as housekeeping runs it: k, and the last day closed (yesterday)."""

    min_visitors: int
    closed_through: int


async def seed(store: Store, site: int, samples: list[Batch], budget: Budget) -> Seeded:
    """Every day of the year, oldest first, with sample ``offset % len(samples)``'s counters, each
    week's closed days folded again once written: what visits running past a midnight brought to
    the next day. A week's last such visits reach the next week's first day, folded with that week."""
    seeded, span = Seeded(), set[int]()
    year_first = min(day for _, day, _, _ in samples[0].daily)
    for week in range(0, DAYS, DAYS_PER_WRITE):
        offsets = range(week, min(week + DAYS_PER_WRITE, DAYS))
        batch = merged(moved(samples[o % len(samples)], o - o % len(samples), site) for o in offsets)
        await store.write_counts(batch)
        seeded.rows += len(batch)
        seeded.pageviews += pageviews(batch)
        span.update(day for _, day, _, _ in batch.daily)
        started = time.perf_counter()
        last = min(year_first + offsets[-1], budget.closed_through)
        seeded.folded += await store.fold_segments(site, year_first + week, last, budget.min_visitors)
        seeded.fold_s += time.perf_counter() - started
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


@dataclass(frozen=True)
class View:
    """The overview as a request opens it: unfiltered, or filtered by one value."""

    filter: Filter | None = None

    @property
    def name(self) -> str:
        return "unfiltered" if self.filter is None else self.filter.dimension

    def url(self, site: Site, period: stats.Range) -> str:
        query = {"period": "custom", "from": period.first.isoformat(), "to": period.last.isoformat()}
        if self.filter is not None:
            query["filter"] = self.filter.query
        return f"/sites/{site.website_id}?{urlencode(query)}"


async def filtered_views(store: Store, site: Site, period: stats.Range) -> list[View]:
    """The overview filtered by the range's top value of each ``FILTERED_BY`` list: the row people
    click first (for sources, that is often the direct visits, the empty source)."""
    views = []
    for dim in FILTERED_BY:
        rows = await stats.top_of(store, site, period, LIST_BY_KEY[dim], 1) or []
        if rows:
            views.append(View(parse(f"{dim}{QUERY_SEPARATOR}{rows[0]['value']}", site)))
    return views


async def overview_stats(store: Store, site: Site, period: stats.Range, view: View) -> None:
    """What ``dashboard.views.overview`` reads for one page."""
    await stats.overview(store, site, period, limit=TOP_ROWS, filter=view.filter)


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
        budget = Budget(setup.settings.segment_min_visitors, stats.Range(today, today).days[0] - 1)
        seeded = await seed(store, setup.site.id, [s.batch for s in samples], budget)
        write_s = time.perf_counter() - started - seeded.fold_s
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
        "pageviews_stored": stored, "seeding_s": replay_s + write_s + seeded.fold_s, "replay_s": replay_s,
        "write_s": write_s, "fold_s": seeded.fold_s, "segment_cells_folded": seeded.folded,
        "file": sizes, "totals": totals, "first_day": first.isoformat(), "last_day": today.isoformat(),
        "samples": kept, "warnings": [w for s in samples for w in s.warnings], "timings": {},
    })
    timing_figures(result, year, timings)
    storage_figures(result, year, sizes, stored, seeded, kept)
    return result


Calls = tuple[Callable[[], Awaitable[None]], Callable[[], Awaitable[None]]]
Runs = dict[View, dict[str, list[float]]]


def calls(http: httpx.AsyncClient, store: Store, site: Site, period: stats.Range, view: View) -> Calls:
    """The two things timed for a view: its page over HTTP, and its ``dashboard.stats`` calls."""
    url = view.url(site, period)

    async def page() -> None:
        response = await http.get(url)
        if response.status_code != 200 or "Pageviews" not in response.text:
            raise RuntimeError(f"the overview {url} answered {response.status_code}")

    async def queries() -> None:
        await overview_stats(store, site, period, view)

    return page, queries


async def time_range(http: httpx.AsyncClient, store: Store, site: Site, period: stats.Range, year: Year) -> Runs:
    """Every view's page and stats calls, run by run; each round starts with the next view, so
    none is always the one timed just after another's caches were filled."""
    views = [View(), *await filtered_views(store, site, period)]
    timed_calls = {view: calls(http, store, site, period, view) for view in views}
    for _ in range(year.warmup):
        for page, queries in timed_calls.values():
            await page()
            await queries()
    runs: Runs = {view: {"http_ms": [], "stats_ms": []} for view in views}
    for round_ in range(year.runs):
        for view in views[round_ % len(views) :] + views[: round_ % len(views)]:
            page, queries = timed_calls[view]
            runs[view]["http_ms"].append(await timed(page))
            runs[view]["stats_ms"].append(await timed(queries))
    return runs


# ── the figures ─────────────────────────────────────────────────────────────────────────────────

def timing_figures(result: Result, year: Year, timings: dict[int, Runs]) -> None:
    for days, by_view in timings.items():
        unfiltered = by_view[View()]
        http, queries = summary(unfiltered["http_ms"]), summary(unfiltered["stats_ms"])
        target, passed = at_most(http["p95"], year.targets_ms()[days])
        result.figures += [
            Figure(year.name(f"{days} d overview HTTP p95"), http["p95"], "ms", target, passed),
            Figure(year.name(f"{days} d overview HTTP median"), http["median"], "ms"),
            Figure(year.name(f"{days} d stats calls p95"), queries["p95"], "ms"),
            Figure(year.name(f"{days} d stats calls median"), queries["median"], "ms"),
        ]
        timing: dict[str, Any] = {"http_ms": http, "stats_ms": queries, "runs": unfiltered, "filtered": {}}
        for view, runs in by_view.items():
            if view.filter is not None:
                timing["filtered"][view.name] = filtered_figures(result, year, days, view.filter, runs, timing)
        result.details["timings"][f"{days}d"] = timing


def filtered_figures(
    result: Result, year: Year, days: int, filter: Filter, runs: dict[str, list[float]], unfiltered: dict[str, Any]
) -> dict[str, Any]:
    """A filtered overview's figures, judged by its p95 over the unfiltered one's of the same rounds."""
    http, queries = summary(runs["http_ms"]), summary(runs["stats_ms"])
    base_http, base_queries = unfiltered["http_ms"]["p95"], unfiltered["stats_ms"]["p95"]
    ratio = http["p95"] / base_http
    target, passed = at_most(ratio, FILTERED_P95_RATIO)
    label = f"{days} d overview filtered by {filter.dimension}"
    result.figures += [
        Figure(year.name(f"{label} HTTP p95"), http["p95"], "ms", target, passed, baseline=base_http, ratio=ratio),
        Figure(year.name(f"{label} HTTP median"), http["median"], "ms"),
        Figure(year.name(f"{label} stats calls p95"), queries["p95"], "ms", baseline=base_queries,
               ratio=queries["p95"] / base_queries),
    ]
    return {"filter": filter.query, "http_ms": http, "stats_ms": queries, "runs": runs}


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

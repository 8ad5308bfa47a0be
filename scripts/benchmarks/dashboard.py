"""Dashboard: the site overview over 30 and 365 days of a year of data, median and p95.

A year of data is seeded fast and still looks like production's: a few sample days of the
typical site go through the real pipeline (``inprocess.Replay``), the counters each day would
have flushed are taken from the aggregator, and every day of the year is written with one of
those batches (its day numbers moved) through the store's own ``write_counts`` — the upserts
the flusher runs. Each stored day therefore has the rows a real day of that site has.

Two timings per range, alternating run by run: the real HTTP request for the overview page
through the ASGI app, logged in as an admin (routing, session, queries, template, headers), and
the ``dashboard.stats`` calls that page makes, which is the share the database has in it.
"""

from __future__ import annotations

import asyncio
import math
import re
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any, Awaitable, Callable

import httpx
from starlette.applications import Starlette

from collector.aggregator import Batch
from collector.sites import Site
from collector.store import Store
from dashboard import stats
from dashboard.passwords import hash_password
from dashboard.views import TOP_ROWS
from scripts.benchmarks import inprocess, traffic
from scripts.benchmarks.results import Figure, Result, at_most, summary
from scripts.benchmarks.storage import file_bytes
from tests.support import Clock

TARGET_P95_MS = {30: 50.0, 365: 250.0}
ORIGIN = "http://crumbless.test"
ADMIN, PASSWORD = "bench-admin", "bench-password-1"


@dataclass(frozen=True)
class Year:
    visitors_per_day: int
    pages: int
    sample_days: int            # days replayed through the pipeline; the year repeats them
    runs: int
    warmup: int


# A typical small business or project site: 2,000 visitors a day, about 5,100 pageviews.
FULL = Year(visitors_per_day=2_000, pages=2_000, sample_days=7, runs=15, warmup=2)
QUICK = Year(visitors_per_day=100, pages=200, sample_days=2, runs=3, warmup=1)
DAYS = 365


def run(quick: bool) -> Result:
    year = QUICK if quick else FULL
    # The app's own flusher must not write sample days behind our back: their counters are
    # taken from the aggregator and written, for every day of the year, by ``seed``.
    return inprocess.in_scratch(lambda setup: asyncio.run(measure(setup, year)), flush_interval=str(365 * 86_400))


async def sample_batches(app: Starlette, clock: Clock, site: traffic.Site, first: date, year: Year) -> list[Batch]:
    """The counters of ``sample_days`` real days, as the flusher would have written them."""
    aggregator = app.state.collector.aggregator
    replay = inprocess.Replay(app, clock, math.inf, 900)
    batches = []
    for offset in range(year.sample_days):
        start = datetime.combine(first + timedelta(days=offset), datetime.min.time(), timezone.utc).timestamp()
        await replay.send(site.day(start, year.visitors_per_day))
        batches.append(aggregator.drain())  # visits running past midnight stay with their first day
    return batches


def moved(batch: Batch, days: int) -> Batch:
    return Batch(
        daily={(site, day + days, dim, value): row for (site, day, dim, value), row in batch.daily.items()},
        hourly={(site, hour + days * 24): row for (site, hour), row in batch.hourly.items()},
    )


async def seed(store: Store, batches: list[Batch]) -> int:
    rows = 0
    for offset in range(DAYS):
        sample = offset % len(batches)
        batch = moved(batches[sample], offset - sample)
        await store.write_counts(batch)
        rows += len(batch)
    return rows


async def login(http: httpx.AsyncClient, store: Store) -> None:
    await store.add_user(ADMIN, hash_password(PASSWORD), "admin")
    form = await http.get("/login")
    token = re.search(r'name="csrf" value="([^"]+)"', form.text)
    if token is None:
        raise RuntimeError("the login page has no CSRF token")
    done = await http.post("/login", data={"name": ADMIN, "password": PASSWORD, "csrf": token.group(1), "next": "/sites"}, headers={"Origin": ORIGIN})
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
    today = datetime.now(timezone.utc).date()
    first = today - timedelta(days=DAYS - 1)
    clock = Clock(datetime.combine(first, datetime.min.time(), timezone.utc).timestamp())
    site = traffic.Site(setup.site.website_id, year.pages)
    async with inprocess.running(setup.settings, clock) as app:
        store: Store = app.state.store
        started = time.perf_counter()
        rows = await seed(store, await sample_batches(app, clock, site, first, year))
        seeding_s = time.perf_counter() - started
        clock.now = time.time()  # the dashboard's "today" is the real one, like its sessions'
        await app.state.housekeeping.tick()
        transport = httpx.ASGITransport(app, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url=ORIGIN) as http:
            await login(http, store)
            ranges = {days: stats.Range(today - timedelta(days=days - 1), today) for days in TARGET_P95_MS}
            timings = {days: await time_range(http, store, setup.site, period, year) for days, period in ranges.items()}
            totals = {days: await stats.totals(store, setup.site, period) for days, period in ranges.items()}
    sizes = file_bytes(setup.settings.database)
    return figures(timings, {"year": year.__dict__, "rows_written": rows, "seeding_s": seeding_s, "file": sizes,
                             "totals": totals, "first_day": first.isoformat(), "last_day": today.isoformat()})


async def time_range(http: httpx.AsyncClient, store: Store, site: Site, period: stats.Range, year: Year) -> dict[str, list[float]]:
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


def figures(timings: dict[int, dict[str, list[float]]], details: dict[str, Any]) -> Result:
    result = Result(details={**details, "timings": {}})
    for days, runs in timings.items():
        http, queries = summary(runs["http_ms"]), summary(runs["stats_ms"])
        target, passed = at_most(http["p95"], TARGET_P95_MS[days])
        result.figures += [
            Figure(f"{days} d overview HTTP p95", http["p95"], "ms", target, passed),
            Figure(f"{days} d overview HTTP median", http["median"], "ms"),
            Figure(f"{days} d stats calls p95", queries["p95"], "ms"),
            Figure(f"{days} d stats calls median", queries["median"], "ms"),
        ]
        result.details["timings"][f"{days}d"] = {"http_ms": http, "stats_ms": queries, "runs": runs}
    return result

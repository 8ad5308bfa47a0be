"""Memory: bytes per daily visitor that the visitor state makes the process hold.

Records must hold what production's hold, so visitors come from the synthetic audience and go
through the real pipeline. The pipeline runs first with ``Collector.count`` stood in for, which
keeps the enriched hits (``Hit``) it would have counted; then those hits go through the real
``Collector.count`` (the counting rules, ``MemoryVisitorState``) of a freshly started app, the
flusher draining counters as in production. Parsing and enrichment allocate only short-lived
objects, so leaving them out of the measured part changes the figure by nothing but makes it
four times cheaper to take under tracemalloc.

The counting is measured twice, each time in a forked copy of a process that holds the hits
but has counted nothing yet (module-level caches included): once with tracemalloc, once for
RSS alone, since tracemalloc's own bookkeeping would swamp an RSS figure taken alongside it.
Only the ``VisitorState`` protocol is used (``drop_days``), never the records themselves, so the
figure follows any change to how records are stored. Figures, per distinct visitor:

* everything Python holds more after the day's visitors than before (tracemalloc): the records
  and whatever the counting rules keep because of them (shared value tuples, the cardinality
  guard's values) — the target applies to this one;
* the part of it freed when the day is closed (the records themselves);
* RSS growth over the same feed.
"""

from __future__ import annotations

import asyncio
import ctypes
import gc
import math
import multiprocessing
import os
import traceback
import tracemalloc
from typing import Any, Callable, TypeVar

from collector.hits import Hit
from collector.ingest import Outcome
from scripts.benchmarks import inprocess, traffic
from scripts.benchmarks.results import Figure, Result, at_most
from tests.support import Clock

T = TypeVar("T")
TARGET_BYTES = 300.0
DAY_START = 1_780_000_000 // traffic.DAY_S * traffic.DAY_S
# About three pageviews in one visit a day; engagement pings only move small integers in records.
HABITS = traffic.Habits(pageviews_per_visit=3.0, engagement_share=0.0, second_visit_share=0.0)
FLUSH_EVERY_S = 300.0            # simulated, as in the storage benchmark


def run(quick: bool) -> Result:
    visitors = 10_000 if quick else 100_000
    return inprocess.in_scratch(lambda setup: measure(setup, visitors))


def measure(setup: inprocess.Setup, visitors: int) -> Result:
    hits = forked(lambda: asyncio.run(enriched_hits(setup, visitors)))
    traced = forked(lambda: asyncio.run(count(setup, hits, traced=True)))
    rss = forked(lambda: asyncio.run(count(setup, hits, traced=False)))
    return figures(len({hit.visitor for hit in hits}), traced, rss)


def forked(work: Callable[[], T]) -> T:
    """``work()`` in a forked child: it starts from this process's memory and changes none of it.

    Making the hits in a child too leaves this process with little but the hits, so the children
    that count them must take new memory for what they keep, and RSS shows it.
    """
    context = multiprocessing.get_context("fork")
    receive, send = context.Pipe(duplex=False)

    def child() -> None:
        try:
            send.send(("ok", work()))
        except BaseException:
            send.send(("error", traceback.format_exc()))

    process = context.Process(target=child)
    process.start()
    send.close()
    try:
        status, value = receive.recv()
    finally:
        process.join()
    if status != "ok":
        raise RuntimeError(f"the measuring child failed:\n{value}")
    return value  # type: ignore[no-any-return]


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def settle() -> None:
    """Collect garbage and hand free heap pages back to the system (glibc), so that memory freed
    before the baseline cannot be reused unseen by RSS while counting."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass  # not glibc: RSS may then grow less than what is kept


def memory_now(traced: bool) -> int:
    return tracemalloc.get_traced_memory()[0] if traced else rss_bytes()


async def enriched_hits(setup: inprocess.Setup, visitors: int) -> list[Hit]:
    """The day's beacons through the whole pipeline, stopping where each hit would be counted."""
    clock = Clock(DAY_START)
    site = traffic.Site(setup.site.website_id, pages=5_000, habits=HABITS)
    hits: list[Hit] = []

    async def keep(hit: Hit) -> Outcome:
        hits.append(hit)
        return Outcome(True)

    async with inprocess.running(setup.settings, clock) as app:
        app.state.collector.count = keep  # this instance only: the app is thrown away afterwards
        await inprocess.Replay(app, clock, math.inf, math.inf).send(site.day(DAY_START, visitors))
    return hits


async def count(setup: inprocess.Setup, hits: list[Hit], traced: bool) -> dict[str, Any]:
    """Memory before and after counting the hits (and their last flush), and after the day is closed.

    Runs in a child, so it returns its own warnings with its figures.
    """
    clock = Clock(DAY_START)
    with inprocess.warnings_kept() as warnings:
        async with inprocess.running(setup.settings, clock) as app:
            replay = inprocess.Replay(app, clock, FLUSH_EVERY_S, math.inf)
            settle()
            if traced:
                tracemalloc.start()
            before = memory_now(traced)
            await replay.count(hits)
            await replay.flush()
            gc.collect()
            after = memory_now(traced)
            dropped = await app.state.day_state.close_days(setup.site.id, max(h.day for h in hits) + 1)
            gc.collect()
            closed = memory_now(traced)
    return {"grown": after - before, "freed_at_close": after - closed, "dropped": dropped,
            "outcomes": dict(replay.outcomes), "warnings": warnings}


def figures(visitors: int, traced: dict[str, Any], rss: dict[str, Any]) -> Result:
    per_visitor = traced["grown"] / visitors
    target, passed = at_most(per_visitor, TARGET_BYTES)
    dropped = traced["dropped"]
    return Result(
        figures=[
            Figure("bytes per daily visitor (tracemalloc)", per_visitor, "B", target, passed),
            Figure("of which freed at day close", traced["freed_at_close"] / visitors, "B"),
            Figure("RSS growth per daily visitor", rss["grown"] / visitors, "B"),
            Figure("visitor records dropped / visitors", dropped, "", "= visitors", dropped == visitors, baseline=visitors, ratio=dropped / visitors),
        ],
        details={"visitors": visitors, "hits": sum(traced["outcomes"].values()), "outcomes": traced["outcomes"],
                 "traced_bytes": traced["grown"], "traced_bytes_freed_at_close": traced["freed_at_close"],
                 "rss_bytes": rss["grown"], "records_dropped": dropped, "warnings": traced["warnings"] + rss["warnings"]},
    )

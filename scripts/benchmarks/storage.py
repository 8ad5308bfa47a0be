"""Storage: bytes of the SQLite file per pageview over a realistic synthetic month.

The month goes through the real pipeline in this process (``inprocess.Replay``): the rows are the
ones production writes, in the order and batches the flusher writes them, and the clock crosses
every midnight so each day is closed (salt erased, visitor records dropped) as in production.
The file is measured as an operator would find it: after a checkpoint, WAL included, no VACUUM.
Housekeeping folds each closed day's small segment cells as in production; what segment rows cost
and what the fold did is ``segments.py``'s to measure.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from scripts.benchmarks import inprocess, segments, traffic
from scripts.benchmarks.results import Figure, Result, at_most
from tests.support import Clock

TARGET_BYTES_PER_PAGEVIEW = 13.0
MONTH_START = datetime(2026, 3, 1, tzinfo=UTC).timestamp()


@dataclass(frozen=True)
class Month:
    days: int
    visitors_per_day: int
    pages: int
    flush_every_s: float            # simulated; production flushes every 5 s (see inprocess.Replay)
    housekeeping_every_s: float


FULL = Month(days=30, visitors_per_day=10_000, pages=5_000, flush_every_s=300, housekeeping_every_s=900)
QUICK = Month(days=3, visitors_per_day=500, pages=1_000, flush_every_s=300, housekeeping_every_s=900)


def run(quick: bool) -> Result:
    month = QUICK if quick else FULL
    def work(setup: inprocess.Setup) -> Result:
        return measure(setup.settings.database, month, *asyncio.run(replay_month(setup, month)))

    return inprocess.in_scratch(work)


async def replay_month(setup: inprocess.Setup, month: Month) -> tuple[dict[str, Any], segments.Census]:
    clock = Clock(MONTH_START)
    site = traffic.Site(setup.site.website_id, month.pages)
    async with inprocess.running(setup.settings, clock) as app:
        budget = app.state.housekeeping.budget  # its folds go on as before, counted on the way
        census = budget.store = segments.Census(budget.store, setup.settings.database)
        replay = inprocess.Replay(app, clock, month.flush_every_s, month.housekeeping_every_s)
        for day in range(month.days):
            await replay.send(site.day(MONTH_START + day * traffic.DAY_S, month.visitors_per_day))
        # Into the next day, so the last one is closed too; the lifespan's end flushes the rest.
        await replay.background(MONTH_START + (month.days + 1) * traffic.DAY_S)
    return {"beacons": dict(replay.sent), "outcomes": dict(replay.outcomes)}, census


def file_bytes(database: Path) -> dict[str, int]:
    """The database file and its WAL after a checkpoint (the WAL is usually gone by then)."""
    with contextlib.closing(sqlite3.connect(database)) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        page_size = db.execute("PRAGMA page_size").fetchone()[0]
        free_pages = db.execute("PRAGMA freelist_count").fetchone()[0]
    wal = database.with_name(database.name + "-wal")
    return {
        "database": database.stat().st_size,
        "wal": wal.stat().st_size if wal.exists() else 0,
        "page_size": page_size,
        "free_pages": free_pages,
    }


def contents(database: Path) -> dict[str, Any]:
    """Rows per table and per ``daily`` dimension, and bytes per table where SQLite can tell."""
    # Imported here, not with the module: this function reads the store's layout, which the store
    # may change, while ``file_bytes`` (which the year benchmarks use too) depends on no layout.
    from collector.model import BY_CODE, COUNTERS, TOTAL

    with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as db:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        rows = {t: db.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}
        by_dim = "SELECT dim, count(*) FROM daily {} GROUP BY dim ORDER BY count(*) DESC"
        dims = {BY_CODE[code].key: n for code, n in db.execute(by_dim.format(""))}
        # Rows whose counters have all come back to zero (an exit moved on to another page): the store deletes them.
        zero = " AND ".join(f"{c} = 0" for c in COUNTERS)
        empty = {BY_CODE[code].key: n for code, n in db.execute(by_dim.format(f"WHERE {zero}"))}
        totals = db.execute(
            "SELECT coalesce(sum(pageviews), 0), coalesce(sum(events), 0), coalesce(sum(visitors), 0) "
            "FROM daily WHERE dim = ?",
            (TOTAL.code,),
        ).fetchone()
        table_bytes = segments.bytes_by_table(db)
    return {"rows": rows, "daily_rows_by_dim": dims, "daily_rows_all_zero_by_dim": empty, "table_bytes": table_bytes,
            "pageviews": totals[0], "events": totals[1], "visitors": totals[2]}


def measure(database: Path, month: Month, sent: dict[str, Any], census: segments.Census) -> Result:
    sizes = file_bytes(database)
    stored = contents(database)
    pageviews = stored["pageviews"]
    total = sizes["database"] + sizes["wal"]
    per_pageview = total / max(pageviews, 1)
    target, passed = at_most(per_pageview, TARGET_BYTES_PER_PAGEVIEW)
    sent_pageviews = sent["beacons"].get("pageview", 0)
    segment_figures, segment_details = segments.storage_figures(database, pageviews, census)
    return Result(
        figures=[
            Figure("bytes per pageview", per_pageview, "B", target, passed and pageviews > 0),
            Figure("database file (+WAL)", total, "B"),
            Figure("pageviews counted / sent", pageviews, "", "= sent", pageviews == sent_pageviews,
                   baseline=sent_pageviews, ratio=pageviews / sent_pageviews if sent_pageviews else None),
            *segment_figures,
        ],
        details={"month": month.__dict__, "sent": sent, "file": sizes, **stored, "segments": segment_details},
    )

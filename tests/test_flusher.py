"""The flusher writes every interval, and sooner once it holds ``max_rows`` counter rows, so what a
flush holds in memory does not grow with the traffic; a store that refuses writes is not retried
any faster for it."""

from __future__ import annotations

import asyncio
from pathlib import Path

from collector.aggregator import Aggregator, Batch
from collector.app import create_app
from collector.flusher import CHECK_S, Flusher
from collector.model import LIST_BY_KEY, PAGEVIEWS, VISITORS
from collector.store import StoreError
from tests.support import add_site, build_geo_db, make_settings

SITE, DAY = 1, 20_000


class CountingStore:
    """A store that keeps each batch it is given, or refuses them all."""

    def __init__(self, refuse: bool = False) -> None:
        self.refuse = refuse
        self.batches: list[Batch] = []
        self.attempts = 0

    async def write_counts(self, batch: Batch) -> None:
        self.attempts += 1
        if self.refuse:
            raise StoreError("write_counts failed: database is locked")
        self.batches.append(batch)


def add_pages(aggregator: Aggregator, first: int, n: int) -> None:
    for i in range(first, first + n):
        aggregator.add(SITE, DAY, "page", f"/{i}", PAGEVIEWS, 1)


async def settle(flusher: Flusher, seconds: float) -> asyncio.Task[None]:
    task = asyncio.create_task(flusher.run())
    await asyncio.sleep(seconds)
    return task


def test_a_flush_starts_before_its_interval_once_it_holds_max_rows() -> None:
    async def scenario() -> tuple[list[int], int]:
        store = CountingStore()
        flusher = Flusher(Aggregator(), store, 3600, max_rows=100)  # type: ignore[arg-type]
        add_pages(flusher.aggregator, 0, 99)
        task = await settle(flusher, 3 * CHECK_S)
        held = flusher.aggregator.pending()  # under max_rows: kept for the interval
        add_pages(flusher.aggregator, 99, 150)
        await asyncio.sleep(3 * CHECK_S)
        task.cancel()
        return [len(b) for b in store.batches], held

    sizes, held = asyncio.run(scenario())
    assert held == 99
    assert sizes == [249]


def test_a_refusing_store_is_tried_at_the_interval_not_at_every_look() -> None:
    async def scenario() -> int:
        store = CountingStore(refuse=True)
        flusher = Flusher(Aggregator(), store, 1.0, max_rows=10)  # type: ignore[arg-type]
        add_pages(flusher.aggregator, 0, 50)
        task = await settle(flusher, 2.5)
        task.cancel()
        return store.attempts

    # At once (it held 50 rows against 10), then only at 1 s and 2 s, though it held them all along.
    assert asyncio.run(scenario()) == 3


def test_the_setting_reaches_the_apps_flusher(tmp_path: Path) -> None:
    """``CRUMBLESS_FLUSH_ROWS`` is the running app's ``max_rows``; its rows reach a real store early."""
    settings = make_settings(tmp_path / "data", build_geo_db(tmp_path / "geo.mmdb"), flush_rows="20")
    site = add_site(settings, "example.com")
    app = create_app(settings)

    async def scenario() -> tuple[int, int]:
        async with app.router.lifespan_context(app):
            flusher: Flusher = app.state.flusher
            assert flusher.max_rows == 20 and flusher.interval == settings.flush_interval == 5
            for i in range(25):
                flusher.aggregator.add(site.id, DAY, "page", f"/{i}", VISITORS, 1)
            matched, waited = 0, 0.0
            while matched < 25 and waited < 4:  # well within the 5 s interval
                await asyncio.sleep(CHECK_S)
                waited += CHECK_S
                _, matched = await app.state.store.breakdown(site.id, LIST_BY_KEY["page"], DAY, DAY, 100)
            return matched, flusher.aggregator.pending()

    assert asyncio.run(scenario()) == (25, 0)

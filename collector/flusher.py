"""Writing the in-memory counters to the store, every ``flush_interval`` and once more at shutdown.

A flush drains the aggregator first and writes the batch in one transaction; if the store
refuses (locked, down, disk full) the batch goes back into the aggregator and is retried at the
next tick, so a fault delays counters instead of losing them. A SIGKILL loses at most what was
counted since the last successful flush.
"""

from __future__ import annotations

import asyncio
import logging
import time

from collector.aggregator import Aggregator
from collector.store import Store, StoreError

log = logging.getLogger("crumbless.flush")


class Flusher:
    def __init__(self, aggregator: Aggregator, store: Store, interval: float) -> None:
        self.aggregator = aggregator
        self.store = store
        self.interval = interval
        self.failures = 0

    async def flush(self) -> bool:
        """True when everything counted so far is in the store."""
        batch = self.aggregator.drain()
        if not batch:
            return True
        started = time.perf_counter()
        try:
            await self.store.write_counts(batch)
        except (StoreError, OSError) as exc:
            self.aggregator.restore(batch)
            self.failures += 1
            log.warning("flush failed, %d counter rows kept in memory for the next try: %s", len(batch), exc)
            return False
        log.debug("flushed %d counter rows in %.1f ms", len(batch), (time.perf_counter() - started) * 1000)
        if self.failures:
            log.info("flush succeeded again after %d failed attempts", self.failures)
            self.failures = 0
        return True

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            await self.flush()

    async def final_flush(self, attempts: int = 10) -> bool:
        for attempt in range(attempts):
            if await self.flush():
                return True
            await asyncio.sleep(min(0.5 * (attempt + 1), 3.0))
        log.error("shutting down with %d counter rows that could not be written", self.aggregator.pending())
        return False

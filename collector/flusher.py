"""Writing the in-memory counters to the store, every ``flush_interval`` and once more at shutdown.

A flush drains the aggregator first and writes the batch in one transaction; if the store
refuses (locked, down, disk full) the batch goes back into the aggregator and is retried at the
next tick, so a fault delays counters instead of losing them. A SIGKILL loses at most what was
counted since the last successful flush.

A stop cannot wait for the store forever (the service manager kills the process when its stop
timeout is over), so the final flush has ``STOP_BUDGET_S`` seconds; what it could not write by
then goes to the spill file (``collector/spill.py``), and the next start restores it into the
aggregator. That file is removed only after the first successful flush of a batch that held its
counters, so a crash before that flush restores them again (nothing lost, nothing counted twice
since they never reached the database); only a kill in the instant between that commit and the
removal would count them twice.
"""

from __future__ import annotations

import asyncio
import logging
import time

from collector.aggregator import Aggregator
from collector.spill import SpillFile
from collector.store import CounterWriter, StoreError

log = logging.getLogger("crumbless.flush")

STOP_BUDGET_S = 12.0
"""Seconds the final flush may try before it spills. A stop takes at most uvicorn's 10 s for open
requests (``timeout_graceful_shutdown`` in ``collector/cli.py``), this, and a moment to write the
file: docs/deployment.md's ``TimeoutStopSec=30`` leaves a margin of several seconds
(``tests/test_spill.py`` checks that the three agree)."""


class Flusher:
    def __init__(
        self,
        aggregator: Aggregator,
        store: CounterWriter,
        interval: float,
        spill: SpillFile | None = None,
        stop_budget: float = STOP_BUDGET_S,
    ) -> None:
        self.aggregator = aggregator
        self.store = store
        self.interval = interval
        self.spill = spill
        self.stop_budget = stop_budget
        self.failures = 0
        self._spill_in_memory = False  # restored counters not yet in the database: the file must stay
        self._periodic: asyncio.Future[bool] | None = None

    def restore_spilled(self) -> int:
        """Put back what the last stop could not write, before serving; returns the rows restored."""
        if self.spill is None:
            return 0
        batch = self.spill.load()
        if batch is None:
            return 0
        if not batch:
            self.spill.discard()  # nothing in it to count: it can go now
            return 0
        self.aggregator.restore(batch)
        for site, day, dim, value in batch.daily:
            self.aggregator.remember(
                site, day, dim, value
            )  # they count against the cardinality limit, as stored ones do
        self._spill_in_memory = True
        log.info("restored %d counter rows that the last stop could not write, from %s", len(batch), self.spill.path)
        return len(batch)

    async def flush(self) -> bool:
        """True when everything counted so far is in the store."""
        batch = self.aggregator.drain()
        holds_spill, self._spill_in_memory = self._spill_in_memory, False
        if batch:
            started = time.perf_counter()
            try:
                await self.store.write_counts(batch)
            except (StoreError, OSError) as exc:
                self.aggregator.restore(batch)
                self._spill_in_memory |= holds_spill
                self.failures += 1
                log.warning("flush failed, %d counter rows kept in memory for the next try: %s", len(batch), exc)
                return False
            log.debug("flushed %d counter rows in %.1f ms", len(batch), (time.perf_counter() - started) * 1000)
        if holds_spill and self.spill is not None:
            self.spill.discard()
        if self.failures:
            log.info("flush succeeded again after %d failed attempts", self.failures)
            self.failures = 0
        return True

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            # Shielded: a stop cancels this loop, and a write cancelled halfway could neither put
            # its batch back nor know whether SQLite committed it; ``final_flush`` awaits it instead.
            self._periodic = asyncio.ensure_future(self.flush())
            await asyncio.shield(self._periodic)

    async def final_flush(self) -> bool:
        """Write everything before the process ends, or keep it in the spill file; True if written.

        A new try starts only while the budget could still hold one as long as the slowest so far:
        against a locked database each one lasts SQLite's busy timeout, and must not be cut short.
        """
        began = time.monotonic()
        deadline = began + self.stop_budget
        if self._periodic is not None:
            await asyncio.wait(
                {self._periodic}
            )  # a write the stop interrupted: its batch ends up written or back in memory
        pause, slowest = 0.5, 0.0
        while True:
            started = time.monotonic()
            if await self.flush():
                return True
            slowest = max(slowest, time.monotonic() - started)
            if time.monotonic() + pause + slowest > deadline:
                break
            await asyncio.sleep(pause)
            pause = min(2 * pause, 3.0)
        batch = self.aggregator.drain()
        if self.spill is not None and self.spill.save(batch):
            log.warning(
                "the database could not be written for %.1fs; %d counter rows kept in %s, the next start writes them",
                time.monotonic() - began,
                len(batch),
                self.spill.path,
            )
        else:
            self.aggregator.restore(batch)
            log.error("shutting down with %d counter rows that could not be written", len(batch))
        return False

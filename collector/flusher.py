"""Writing the in-memory counters to the store, every ``flush_interval`` and once more at shutdown.

A flush drains the aggregator first and writes the batch in one transaction; if the store
refuses (locked, down, disk full) the batch is kept as it is and retried first at the next tick,
so a fault delays counters instead of losing them. Kept whole, not merged back into the
aggregator: its id is what lets a networked store recognise a retry of a batch it had committed
when the answer was lost (``aggregator.Batch``). A SIGKILL loses at most what was counted since
the last successful flush.

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
from collections.abc import Callable

from collector.aggregator import Aggregator, Batch
from collector.metrics import Metrics
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
        metrics: Metrics | None = None,
        written: Callable[[Batch], None] | None = None,
    ) -> None:
        self.aggregator = aggregator
        self.store = store
        self.interval = interval
        self.spill = spill
        self.stop_budget = stop_budget
        self.metrics = Metrics() if metrics is None else metrics
        self.written = written
        """Told of every batch once it is in the store (the segment budget notes its closed days)."""
        self.failures = 0
        self._failed: Batch | None = None  # the batch a store refused, retried before anything newer
        self._failed_holds_spill = False  # ... and it holds what the last stop spilled: the file stays
        self._periodic: asyncio.Future[bool] | None = None

    def restore_spilled(self) -> Batch | None:
        """Take back what the last stop could not write, before serving; it is the first batch
        written. Returns it, so its values can count against the cardinality guard as stored ones do."""
        if self.spill is None:
            return None
        batch = self.spill.load()
        if batch is None:
            return None
        if not batch:
            self.spill.discard()  # nothing in it to count: it can go now
            return None
        self._failed, self._failed_holds_spill = batch, True
        log.info("restored %d counter rows that the last stop could not write, from %s", len(batch), self.spill.path)
        return batch

    async def flush(self) -> bool:
        """True when everything counted so far is in the store."""
        if self._failed is not None:
            if not await self._write(self._failed):
                return False
            if self._failed_holds_spill and self.spill is not None:
                self.spill.discard()
            self._failed, self._failed_holds_spill = None, False
        batch = self.aggregator.drain()
        if batch and not await self._write(batch):
            self._failed = batch
            return False
        if self.failures:
            log.info("flush succeeded again after %d failed attempts", self.failures)
            self.failures = 0
        return True

    async def _write(self, batch: Batch) -> bool:
        started = time.perf_counter()
        try:
            await self.store.write_counts(batch)
        except (StoreError, OSError) as exc:
            self.failures += 1
            self.metrics.flush_failures.inc()
            log.warning("flush failed, %d counter rows kept in memory for the next try: %s", len(batch), exc)
            return False
        took = time.perf_counter() - started
        if self.written is not None:
            self.written(batch)
        self.metrics.flushed(took, len(batch))
        log.debug("flushed %d counter rows in %.1f ms", len(batch), took * 1000)
        return True

    def buffered_rows(self) -> int:
        """Counter rows in memory, not written yet: what a kill now would lose."""
        return self.aggregator.pending() + (len(self._failed) if self._failed is not None else 0)

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
        batch = self.unwritten()
        if self.spill is not None and self.spill.save(batch):
            log.warning(
                "the database could not be written for %.1fs; %d counter rows kept in %s, the next start writes them",
                time.monotonic() - began,
                len(batch),
                self.spill.path,
            )
        else:
            self._failed = batch
            log.error("shutting down with %d counter rows that could not be written", len(batch))
        return False

    def unwritten(self) -> Batch:
        """Everything not in the store yet, as one new batch (for the spill file)."""
        merged = Aggregator()
        if self._failed is not None:
            merged.restore(self._failed)
            self._failed = None
        merged.restore(self.aggregator.drain())
        return merged.drain()

"""The real application in this process: ``create_app`` with its lifespan, driven by a clock we move.

Storage and memory figures must come from the rows and records production makes, so beacons go
through the very ``Collector`` the HTTP endpoints call, and counters reach SQLite through the
app's own flusher. Only time is simulated: the clock jumps from beacon to beacon, and the
flusher's and housekeeping's work runs whenever their interval has passed on that clock.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import AsyncIterator, Callable, Iterable, Iterator

from starlette.applications import Starlette

from collector.app import create_app
from collector.config import Settings
from collector.hits import Hit
from collector.ingest import Outcome, Request
from collector.sites import Site
from scripts.benchmarks import countries
from scripts.benchmarks.results import Result
from scripts.benchmarks.traffic import Beacon
from tests.support import Clock, add_site, make_settings


@dataclass
class Setup:
    settings: Settings
    site: Site


def prepare(workdir: Path, **overrides: str) -> Setup:
    """A data directory with the bench's country database and one site, ``example.com`` (UTC).

    ``overrides`` are settings by their names without the prefix, e.g. ``flush_interval="60"``.
    """
    settings = make_settings(workdir / "data", countries.build(workdir / "bench-country.mmdb"), **overrides)
    return Setup(settings, add_site(settings, "example.com"))


@contextlib.contextmanager
def warnings_kept() -> Iterator[list[str]]:
    """Crumbless's warnings while the block runs, for the results rather than the terminal."""
    kept: list[str] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = lambda record: kept.append(f"{record.name}: {record.getMessage()}")  # type: ignore[method-assign]
    logger = logging.getLogger("crumbless")
    logger.addHandler(handler)
    propagate, logger.propagate = logger.propagate, False
    try:
        yield kept
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate


def in_scratch(work: Callable[[Setup], Result], **overrides: str) -> Result:
    """``work`` on a fresh data directory (see ``prepare``), with Crumbless's warnings in its details."""
    with tempfile.TemporaryDirectory(prefix="crumbless-bench-") as tmp, warnings_kept() as warnings:
        result = work(prepare(Path(tmp), **overrides))
    result.details.setdefault("warnings", []).extend(warnings)
    return result


@contextlib.asynccontextmanager
async def running(settings: Settings, clock: Clock) -> AsyncIterator[Starlette]:
    """The app between its start-up and its shutdown (last flush included), as uvicorn runs it."""
    app = create_app(settings, clock)
    async with app.router.lifespan_context(app):
        yield app


@dataclass
class Replay:
    """Feeds beacons (or enriched hits) to the app in time order, flushing and housekeeping on the
    simulated clock.

    Both intervals are in simulated seconds. Production flushes every 5 s and tidies up every
    15 s of real time, which a month replayed in a minute cannot afford; longer intervals change
    how many transactions write the same rows and how soon after midnight a day is closed, not
    what is counted.
    """

    app: Starlette
    clock: Clock
    flush_every: float
    housekeeping_every: float
    sent: collections.Counter[str] = field(default_factory=collections.Counter)
    outcomes: collections.Counter[str] = field(default_factory=collections.Counter)

    def __post_init__(self) -> None:
        self._next_flush = self.clock.now + self.flush_every
        self._next_housekeeping = self.clock.now + self.housekeeping_every

    async def send(self, beacons: Iterable[Beacon]) -> None:
        """Each beacon through ``Collector.ingest``, the whole pipeline the HTTP endpoints run."""
        collector = self.app.state.collector
        for beacon in beacons:
            await self.advance(beacon.ts)
            headers = {"user-agent": beacon.user_agent, "accept-language": beacon.accept_language, "content-type": "text/plain"}
            self.tally(beacon.kind, await collector.ingest(Request("plausible", beacon.body, headers, beacon.address)))

    async def count(self, hits: Iterable[Hit]) -> None:
        """Enriched hits through ``Collector.count`` only: the counting rules and the visitor state."""
        collector = self.app.state.collector
        for hit in hits:
            await self.advance(hit.ts)
            self.tally(hit.kind.value, await collector.count(hit))

    def tally(self, kind: str, outcome: Outcome) -> None:
        self.sent[kind] += 1
        self.outcomes[outcome.dropped or "counted"] += 1

    async def advance(self, now: float) -> None:
        if now >= min(self._next_flush, self._next_housekeeping):
            await self.background(now)
        self.clock.now = now

    async def background(self, until: float) -> None:
        """What the flusher and housekeeping loops would have done by ``until``."""
        while min(self._next_flush, self._next_housekeeping) <= until:
            if self._next_flush <= self._next_housekeeping:
                self.clock.now = self._next_flush
                await self.flush()
                self._next_flush += self.flush_every
            else:
                self.clock.now = self._next_housekeeping
                await self.app.state.housekeeping.tick()
                self._next_housekeeping += self.housekeeping_every

    async def flush(self) -> None:
        if not await self.app.state.flusher.flush():
            raise RuntimeError("the flusher could not write its batch")

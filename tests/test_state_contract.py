"""The day's state contract (collector/state/__init__.py), run against every implementation.

Memory and a real Redis (a private ``redis-server``, tests/services.py) answer the same tests:
records committed only over an unchanged read, two racing beacons of one visitor counted as
one process counts them sequentially, a guard bound shared by every collector, realtime figures,
deleted sites, salts agreed on by racing collectors. "Two collectors" are two state objects on
one backend; the memory state cannot be shared, so there both are the same object, which is
exactly what one process is.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC
from typing import Any

import pytest

from collector.aggregator import Aggregator
from collector.guard import OTHER, Wanted
from collector.hits import Hit, Kind
from collector.ingest import Collector
from collector.localtime import day_end, local_day_hour
from collector.model import COUNTERS
from collector.state import Snapshot, StateUnavailable, VisitorState
from collector.state.memory import MemorySalts, MemoryState
from collector.state.redis import GRACE_S, RedisState, connect, record_key, salt_key
from collector.store import SaltStore
from collector.visitors import VisitorRecord

IMPLEMENTATIONS = ("memory", "redis")
SITE = 1
NOW = float(int(time.time()))  # Redis expires what it holds by the real clock
DAY, HOUR = local_day_hour(NOW, UTC)


@pytest.fixture(autouse=True)
def _now() -> None:
    """Each test's hits are of the moment it runs, not of when this module was imported: Redis
    expires a minute's pageview count half an hour after that minute, and a slow run of the whole
    suite reaches these tests later than that."""
    global NOW, DAY, HOUR
    NOW = float(int(time.time()))
    DAY, HOUR = local_day_hour(NOW, UTC)


def day_ends(site: int, day: int) -> int:
    return day_end(day, UTC)


class Backend:
    """Opens states (and salt stores) of one implementation that share one backend."""

    def __init__(self, kind: str, redis_url: str = "") -> None:
        self.kind, self.redis_url = kind, redis_url
        self._memory: tuple[MemoryState, MemorySalts] | None = None
        self._opened: list[VisitorState] = []

    async def open(self, max_values: int = 100) -> tuple[VisitorState, SaltStore]:
        """A collector's state; in memory every collector is the one process."""
        if self.kind == "memory":
            if self._memory is None:
                self._memory = (MemoryState(1000, max_values), MemorySalts())
            return self._memory
        state, salts = await connect(self.redis_url, max_values, day_ends)
        self._opened.append(state)
        return state, salts

    async def close(self) -> None:
        for state in self._opened:
            await state.close()


@pytest.fixture(params=IMPLEMENTATIONS)
def backend(request: pytest.FixtureRequest) -> Backend:
    if request.param == "redis":
        return Backend("redis", request.getfixturevalue("redis_url"))
    return Backend("memory")


def run(backend: Backend, scenario: Callable[[Backend], Awaitable[None]]) -> None:
    async def main() -> None:
        try:
            await scenario(backend)
        finally:
            await backend.close()

    asyncio.run(main())


def hit(visitor: int = 7, dt: int = 0, kind: Kind = Kind.PAGEVIEW, path: str = "/", **fields: Any) -> Hit:
    base = Hit(
        site=SITE, day=DAY, hour=HOUR, ts=int(NOW) + dt, kind=kind, visitor=visitor, path=path, source="",
        utm_source="", utm_medium="", utm_campaign="", country="DE", browser="Firefox", os="Linux",
        device="desktop", screen="laptop", language="de",
    )  # fmt: skip
    return replace(base, **fields)


class Yielding:
    """A state whose every call first lets the event loop run other tasks: the widest opening
    a backend that waits could give two beacons of one visitor to interleave in."""

    def __init__(self, state: VisitorState) -> None:
        self.state = state

    async def read(self, hit: Hit, wanted: Sequence[Wanted]) -> Snapshot:
        await asyncio.sleep(0)
        snapshot = await self.state.read(hit, wanted)
        await asyncio.sleep(0)
        return snapshot

    async def commit(self, hit: Hit, snapshot: Snapshot, record: VisitorRecord) -> bool:
        await asyncio.sleep(0)
        return await self.state.commit(hit, snapshot, record)


def collector(state: Any) -> Collector:
    """The pipeline's count step over ``state``; the earlier steps are not needed for a ``Hit``."""
    return Collector(None, None, None, None, state, Aggregator())  # type: ignore[arg-type]


def totals(*collectors: Collector) -> dict[str, int]:
    summed = dict.fromkeys(COUNTERS, 0)
    for each in collectors:
        for (site, day, dim, value), row in each.aggregator.drain().daily.items():
            if dim == "total":
                for name, n in zip(COUNTERS, row, strict=True):
                    summed[name] += n
    return summed


def test_a_commit_lands_only_over_the_record_it_read(backend: Backend) -> None:
    async def scenario(backend: Backend) -> None:
        state, _ = await backend.open()
        first = await state.read(hit(), [])
        assert first.record is None
        record = VisitorRecord(SITE, DAY, last_seen=int(NOW), values=(("total", ""), ("page", "/ä")), last_path="/ä")
        assert await state.commit(hit(), first, record)
        assert not await state.commit(hit(), first, replace(record, last_seen=1)), "a stale read must not commit"
        again = await state.read(hit(), [])
        assert again.record == record
        assert await state.commit(hit(), again, replace(record, pageviews=2))
        assert (await state.read(hit(), [])).record == replace(record, pageviews=2)
        assert (await state.read(hit(visitor=8), [])).record is None

    run(backend, scenario)


def test_two_racing_pageviews_of_one_visitor_count_one_visitor(backend: Backend) -> None:
    """The measured defect: with waits between read and write, 2/2/2/2 instead of 1/1/2/0."""

    async def scenario(backend: Backend) -> None:
        state, _ = await backend.open()
        pipeline = collector(Yielding(state))
        outcomes = await asyncio.gather(pipeline.count(hit(dt=0)), pipeline.count(hit(dt=1, path="/b")))
        assert all(o.counted for o in outcomes)
        total = totals(pipeline)
        assert (total["visitors"], total["visits"], total["pageviews"], total["bounces"]) == (1, 1, 2, 0)

    run(backend, scenario)


def test_beacons_racing_on_two_collectors_count_as_one_process_does(backend: Backend) -> None:
    """Many visitors, each with a pageview, an engagement ping and a second pageview sent at once
    to two collectors: every visitor is one visitor with one visit of two pageviews."""

    async def scenario(backend: Backend) -> None:
        one, two = collector(Yielding((await backend.open())[0])), collector(Yielding((await backend.open())[0]))
        first = [one.count(hit(visitor=v)) for v in range(40)]
        await asyncio.gather(*first)
        racing = []
        for v in range(40):
            racing.append(one.count(hit(visitor=v, dt=5, kind=Kind.ENGAGEMENT, engaged_ms=4000, scroll=50)))
            racing.append(two.count(hit(visitor=v, dt=6, path="/next")))
        await asyncio.gather(*racing)
        total = totals(one, two)
        assert (total["visitors"], total["visits"], total["pageviews"], total["bounces"]) == (40, 40, 80, 0)

    run(backend, scenario)


def test_a_count_changes_nothing_until_its_record_commits(backend: Backend) -> None:
    """A refused commit's additions never reach the aggregator: the retry counts from the new record."""

    async def scenario(backend: Backend) -> None:
        state, _ = await backend.open()
        pipeline = collector(state)
        stale = await state.read(hit(), [])
        await pipeline.count(hit())  # another beacon commits meanwhile
        assert not await state.commit(hit(), stale, VisitorRecord(SITE, DAY))
        assert totals(pipeline)["visitors"] == 1

    run(backend, scenario)


def test_the_guard_bound_holds_across_collectors(backend: Backend) -> None:
    async def scenario(backend: Backend) -> None:
        one, _ = await backend.open(max_values=3)
        two, _ = await backend.open(max_values=3)
        answers: dict[str, str] = {}
        for i in range(6):
            state = (one, two)[i % 2]
            snapshot = await state.read(hit(), [("page", f"/p{i}")])
            answers[f"/p{i}"] = snapshot.values[("page", f"/p{i}")]
        assert answers == {"/p0": "/p0", "/p1": "/p1", "/p2": "/p2", "/p3": OTHER, "/p4": OTHER, "/p5": OTHER}
        for state in (one, two):  # admitted on one, admitted on the other; the full dimension stays full
            values = (await state.read(hit(), [("page", "/p0"), ("page", "/p2"), ("page", "/p9")])).values
            assert values == {("page", "/p0"): "/p0", ("page", "/p2"): "/p2", ("page", "/p9"): OTHER}
        other_day = (await one.read(hit(day=DAY + 1), [("page", "/p9")])).values
        assert other_day == {("page", "/p9"): "/p9"}, "each day has a bound of its own"

    run(backend, scenario)


def test_realtime_figures_come_from_committed_beacons(backend: Backend) -> None:
    async def scenario(backend: Backend) -> None:
        one, _ = await backend.open()
        two, _ = await backend.open()
        await collector(one).count(hit(visitor=1, dt=-600))
        await collector(two).count(hit(visitor=2, dt=-90))
        await collector(one).count(hit(visitor=2, dt=-30, kind=Kind.EVENT, event="Signup"))
        await collector(two).count(hit(visitor=3, dt=0))
        for state in (one, two):
            assert await state.active_since(SITE, int(NOW) - 300) == 2
            assert await state.active_since(SITE + 1, int(NOW) - 300) == 0
            expected = [0] * 30
            for dt in (-600, -90, 0):  # the event is not a pageview
                expected[29 - int(NOW // 60 - (NOW + dt) // 60)] += 1
            assert await state.pageviews_per_minute(SITE, NOW, 30) == expected

    run(backend, scenario)


def test_a_deleted_site_gets_no_state_from_any_collector(backend: Backend) -> None:
    async def scenario(backend: Backend) -> None:
        one, _ = await backend.open()
        two, _ = await backend.open()
        snapshot = await two.read(hit(), [])
        await one.forget_site(SITE)
        with pytest.raises(LookupError):
            await two.commit(hit(), snapshot, VisitorRecord(SITE, DAY))
        assert await two.active_since(SITE, 0) == 0
        other = hit(site=SITE + 1)
        assert await two.commit(other, await two.read(other, []), VisitorRecord(SITE + 1, DAY))

    run(backend, scenario)


def test_racing_collectors_agree_on_one_salt(backend: Backend) -> None:
    async def scenario(backend: Backend) -> None:
        _, one = await backend.open()
        _, two = await backend.open()
        assert await one.load_salt(SITE, DAY) is None
        kept = await asyncio.gather(one.save_salt(SITE, DAY, b"a" * 32), two.save_salt(SITE, DAY, b"b" * 32))
        assert kept[0] == kept[1] and await two.load_salt(SITE, DAY) == kept[0]
        tomorrow = await one.save_salt(SITE, DAY + 1, b"c" * 32)
        assert await two.erase_salts(SITE, DAY + 1) == 1
        assert await one.load_salt(SITE, DAY) is None and await one.load_salt(SITE, DAY + 1) == tomorrow

    run(backend, scenario)


# ── Redis only: what only a networked state has ─────────────────────────────────────────────


def redis_backend(redis_url: str) -> Backend:
    return Backend("redis", redis_url)


def test_redis_forgets_each_day_at_its_end_and_deleted_sites_get_no_salt(redis_url: str) -> None:
    async def scenario(backend: Backend) -> None:
        state, salts = await backend.open()
        assert isinstance(state, RedisState)
        await collector(state).count(hit())
        await salts.save_salt(SITE, DAY, b"s" * 32)
        end = day_end(DAY, UTC) + GRACE_S
        for key in (record_key(SITE, DAY, 7), salt_key(SITE, DAY)):
            assert await state.client.expiretime(key) == end
        await state.forget_site(SITE)
        assert await salts.load_salt(SITE, DAY) is None
        with pytest.raises(LookupError):
            await salts.save_salt(SITE, DAY, b"t" * 32)

    run(redis_backend(redis_url), scenario)


def test_a_beacon_takes_at_most_two_round_trips(redis_url: str) -> None:
    async def scenario(backend: Backend) -> None:
        state, _ = await backend.open()
        assert isinstance(state, RedisState)
        pipeline = collector(state)
        beacons = [hit(visitor=v % 50, dt=v, path=f"/p{v % 7}", source="Google") for v in range(300)]
        for beacon in beacons:
            await pipeline.count(beacon)
        assert state.round_trips == 2 * len(beacons)

    run(redis_backend(redis_url), scenario)


def test_an_unreachable_redis_refuses_beacons_and_they_count_once_it_is_back(redis_url: str, redis_server: Any) -> None:
    async def scenario(backend: Backend) -> None:
        state, salts = await backend.open()
        pipeline = collector(state)
        await pipeline.count(hit(visitor=1))
        redis_server.stop()
        started = time.monotonic()
        with pytest.raises(StateUnavailable) as refused:
            await pipeline.count(hit(visitor=2))
        assert "127.0.0.1" not in str(refused.value), "a fault's message must not carry an address"
        with pytest.raises(StateUnavailable):
            await salts.load_salt(SITE, DAY)
        with pytest.raises(StateUnavailable):
            await state.forget_site(SITE + 5)  # the dashboard's deletion goes on, and says so in the log
        assert time.monotonic() - started < 10
        redis_server.start()
        await pipeline.count(hit(visitor=2))
        assert totals(pipeline)["visitors"] == 2

    run(redis_backend(redis_url), scenario)

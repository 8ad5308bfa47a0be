"""The in-memory visitor state: an LRU bounded by CRUMBLESS_MAX_VISITORS, dropped by day."""

from __future__ import annotations

import asyncio

from collector.visitors import MemoryVisitorState, VisitorRecord


def test_least_recently_seen_visitor_is_evicted_and_counted() -> None:
    async def scenario() -> MemoryVisitorState:
        state = MemoryVisitorState(max_visitors=2)
        await state.put(1, VisitorRecord(site=1, day=10, last_seen=100))
        await state.put(2, VisitorRecord(site=1, day=10, last_seen=101))
        await state.put(1, VisitorRecord(site=1, day=10, last_seen=102))   # 1 is touched again
        await state.put(3, VisitorRecord(site=1, day=10, last_seen=103))   # so 2 goes
        assert await state.get(2) is None
        assert await state.get(1) is not None and await state.get(3) is not None
        return state

    state = asyncio.run(scenario())
    assert state.evicted == 1 and len(state) == 2


def test_closed_days_are_dropped_per_site_and_realtime_counts_recent() -> None:
    async def scenario() -> None:
        state = MemoryVisitorState(max_visitors=100)
        await state.put(1, VisitorRecord(site=1, day=9, last_seen=50))
        await state.put(2, VisitorRecord(site=2, day=9, last_seen=60))
        await state.put(3, VisitorRecord(site=1, day=10, last_seen=500))
        await state.put(4, VisitorRecord(site=1, day=10, last_seen=700))
        assert state.active_since(1, 400) == 2
        assert state.active_since(1, 600) == 1
        assert await state.drop_days(1, 10) == 1
        assert await state.get(2) is not None and await state.get(1) is None

    asyncio.run(scenario())


def test_realtime_pageviews_per_minute_keep_half_an_hour() -> None:
    from collector.realtime import Realtime

    realtime = Realtime()
    start = 1_000_000 * 60
    for minute in range(40):
        for _ in range(minute % 3):
            realtime.pageview(1, start + minute * 60 + 5)
    series = realtime.pageviews_per_minute(1, start + 39 * 60 + 30)
    assert len(series) == 30
    assert series == [m % 3 for m in range(10, 40)]
    assert realtime.pageviews_per_minute(2, start) == [0] * 30

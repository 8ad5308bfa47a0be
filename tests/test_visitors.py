"""The visitor record's byte forms, and what only the memory state does: an LRU bounded by
CRUMBLESS_MAX_VISITORS, dropped by day (tests/test_state_contract.py holds what every state does)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from collector.hits import Hit, Kind
from collector.model import BY_KEY, SLOTS
from collector.state.memory import MemoryState
from collector.visitors import MAX_PAGEVIEWS, Strings, VisitorRecord, decode, encode, pack, unpack


def hit(visitor: int, record: VisitorRecord) -> Hit:
    return Hit(record.site, record.day, record.day * 24, record.last_seen, Kind.PAGEVIEW, visitor, "/", *[""] * 10)


async def put(state: MemoryState, visitor: int, record: VisitorRecord) -> None:
    """Commit ``record`` as the visitor's, whatever was there."""
    beacon = hit(visitor, record)
    assert await state.commit(beacon, await state.read(beacon, []), record)


async def get(state: MemoryState, visitor: int, site: int = 1, day: int = 10) -> VisitorRecord | None:
    return (await state.read(hit(visitor, VisitorRecord(site, day)), [])).record


def test_least_recently_seen_visitor_is_evicted_and_counted() -> None:
    async def scenario() -> MemoryState:
        state = MemoryState(max_visitors=2, max_values=10)
        await put(state, 1, VisitorRecord(site=1, day=10, last_seen=100))
        await put(state, 2, VisitorRecord(site=1, day=10, last_seen=101))
        await put(state, 1, VisitorRecord(site=1, day=10, last_seen=102))   # 1 is touched again
        await put(state, 3, VisitorRecord(site=1, day=10, last_seen=103))   # so 2 goes
        assert await get(state, 2) is None
        assert await get(state, 1) is not None and await get(state, 3) is not None
        return state

    state = asyncio.run(scenario())
    assert state.evicted == 1 and len(state) == 2


def test_closed_days_are_dropped_per_site_and_realtime_counts_recent() -> None:
    async def scenario() -> None:
        state = MemoryState(max_visitors=100, max_values=10)
        await put(state, 1, VisitorRecord(site=1, day=9, last_seen=50))
        await put(state, 2, VisitorRecord(site=2, day=9, last_seen=60))
        await put(state, 3, VisitorRecord(site=1, day=10, last_seen=500))
        await put(state, 4, VisitorRecord(site=1, day=10, last_seen=700))
        assert await state.active_since(1, 400) == 2
        assert await state.active_since(1, 600) == 1
        assert await state.close_days(1, 10) == 1
        assert await get(state, 2, site=2, day=9) is not None and await get(state, 1, day=9) is None

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


SLOT_KEYS = tuple(dict.fromkeys((*SLOTS, *BY_KEY)))
records = st.builds(
    VisitorRecord,
    site=st.integers(0, 2**32 - 1),
    day=st.integers(0, 2**16 - 1),  # a day number: 2**16 days run to 2149
    last_seen=st.integers(0, 2**32 - 1),
    last_hour=st.integers(-1, 23),
    visit_hour=st.integers(-1, 23),
    pageviews=st.integers(0, MAX_PAGEVIEWS),
    bounced=st.booleans(),
    page_scroll=st.integers(-1, 100),
    previous_scroll=st.integers(-1, 100),
    # A visit's slots are a fixed few (the model's slots and dimensions), its values any text.
    values=st.lists(st.tuples(st.sampled_from(SLOT_KEYS), st.text(max_size=20)), max_size=12).map(tuple),
    last_path=st.text(max_size=30),
    previous_path=st.text(max_size=30),
    counted=st.lists(st.integers(0, 2**32 - 1), max_size=20).map(lambda marks: b"".join(m.to_bytes(4, "little") for m in marks)),
    funnels=st.lists(st.tuples(st.integers(0, 2**32 - 1), st.integers(0, 255)), max_size=4).map(
        lambda entries: b"".join(funnel.to_bytes(4, "little") + bytes([steps]) for funnel, steps in entries)
    ),
)


@given(st.lists(records, min_size=1, max_size=5))
def test_packed_records_unpack_to_the_same_records(batch: list[VisitorRecord]) -> None:
    strings = Strings()
    packed = [pack(record, strings) for record in batch]
    assert [unpack(data, lambda site, day: strings) for data in packed] == batch


@given(records)
def test_encoded_records_carry_their_strings(record: VisitorRecord) -> None:
    assert decode(encode(record)) == record


def test_pageviews_saturate_when_packed_since_only_two_or_more_matters() -> None:
    record = VisitorRecord(site=1, day=2, pageviews=MAX_PAGEVIEWS + 5)
    strings = Strings()
    assert unpack(pack(record, strings), lambda site, day: strings).pageviews == MAX_PAGEVIEWS


def test_a_closed_day_takes_its_string_table_with_it() -> None:
    state = MemoryState(10, 10)
    pairs = (("total", ""), ("country", "DE"), ("entry_page", "/a"))
    for visitor, (site, day) in enumerate([(1, 5), (1, 6), (2, 5)]):
        asyncio.run(put(state, visitor, VisitorRecord(site=site, day=day, values=pairs, last_path="/a")))
    assert asyncio.run(get(state, 0, day=5)) == VisitorRecord(site=1, day=5, values=pairs, last_path="/a")
    assert asyncio.run(state.close_days(1, 6)) == 1
    assert asyncio.run(get(state, 0, day=5)) is None
    assert sorted(state._strings) == [(1, 6), (2, 5)]


def test_a_mark_is_remembered_once_and_only_at_its_own_offset() -> None:
    record = VisitorRecord(site=1, day=2)
    assert record.first_time(0x01020304) and record.first_time(0x05060708)
    assert record.counted == bytes.fromhex("0403020108070605")
    # 0x08010203 is the bytes 03 02 01 08, found in there at offset 1: not a mark of its own.
    assert record.first_time(0x08010203) is True
    assert record.first_time(0x01020304) is False
    assert record.first_time(0x08010203) is False
    assert len(record.counted) == 12


def test_the_lru_stays_in_order_through_the_copies_that_drop_evicted_slots() -> None:
    async def scenario() -> MemoryState:
        state = MemoryState(max_visitors=10, max_values=10)
        for visitor in range(3000):
            await put(state, visitor, VisitorRecord(site=1, day=10, last_seen=visitor))
            if visitor % 100 == 95:
                await put(state, 0, VisitorRecord(site=1, day=10, last_seen=visitor))  # 0 is touched now and then
        assert [v for v in range(3000) if await get(state, v) is not None] == [0, *range(2991, 3000)]
        return state

    state = asyncio.run(scenario())
    assert len(state) == 10 and state.evicted > 2 * 1024  # so at least two copies were made


def test_a_string_table_refuses_a_number_its_records_could_not_hold(monkeypatch: pytest.MonkeyPatch) -> None:
    """A pair holds its string's number in 24 bits: the table refuses rather than wraps."""
    from collector import visitors

    monkeypatch.setattr(visitors, "MAX_STRINGS", 3)
    table = Strings()
    assert [table.number("a"), table.number("b"), table.number("a")] == [1, 2, 1]
    with pytest.raises(OverflowError):
        table.number("c")


def test_the_values_config_allows_cannot_fill_a_string_table(tmp_path: Path) -> None:
    """Every string of a site-day's table is a value the guard admitted under one of a record's slots
    (the entry page and the last pages are pages): at most ``MAX_VALUES`` each, and the empty one."""
    from collector.config import MAX_VALUES, ConfigError
    from collector.visitors import MAX_STRINGS
    from tests.support import make_settings

    assert len(SLOTS) * MAX_VALUES + 1 < MAX_STRINGS
    assert make_settings(tmp_path, tmp_path / "geo.mmdb", max_values=str(MAX_VALUES)).max_values == MAX_VALUES
    with pytest.raises(ConfigError, match="CRUMBLESS_MAX_VALUES"):
        make_settings(tmp_path, tmp_path / "geo.mmdb", max_values=str(MAX_VALUES + 1))

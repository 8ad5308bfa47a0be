"""Monthly roll-ups: any range read through them is exactly the same read over daily rows.

The store answers a range with whole months from ``monthly`` and the days at its ends from
``daily`` (``collector/store/periods.py``). These tests write random batches of counters as the
flusher does — across month boundaries, with late flushes for days already passed, negative
additions that bring rows back to zero, and retention cutting a month in two — and then read
every list and the totals over random ranges twice: as the store does, and with its month path
turned off so that only daily rows are summed. Both must agree to the last counter and in order.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Iterator
from datetime import date
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from collector.aggregator import Aggregator, Batch
from collector.config import Settings, for_database
from collector.localtime import day_number
from collector.model import COUNTERS, DROP_REASONS, ENTRY_VISITORS, EXITS, LISTS, PAGEVIEWS, SLOTS, VISITORS, TopList
from collector.store import Store, opened_store
from collector.store import periods, queries
from tests.services import postgres_settings

FIRST = day_number(date(2026, 1, 25))
LAST = day_number(date(2026, 4, 5))  # three month boundaries, a 31-, a 28- and a 31-day month
SITE = 1
DIMS = ("total", "page", "source", "country", "event", "event_prop", "dropped")
VALUES = ("/", "/a", "/b", "Google", "DE", "Signup", "x\x1fy\x1fz", "(other)", "bot:spider")

additions = st.tuples(
    st.integers(FIRST, LAST),
    st.sampled_from(DIMS),
    st.sampled_from(VALUES),
    st.integers(0, len(COUNTERS) - 1),
    st.integers(-3, 40),
)
flushes = st.lists(st.lists(additions, min_size=1, max_size=40), min_size=1, max_size=6)
ranges = st.lists(st.tuples(st.integers(FIRST - 3, LAST + 3), st.integers(0, 80)), min_size=1, max_size=6)


def batch_of(rows: list[tuple[int, str, str, int, int]]) -> Batch:
    counts = Aggregator()
    for day, dim, value, column, n in rows:
        counts.add(SITE, day, dim, "" if dim == "total" else value, column, n)
    return counts.drain()


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[], Settings]]:
    """Settings of a new, empty store of each kind, once per example (hypothesis runs a test many times)."""
    if request.param == "sqlite":
        yield lambda: for_database(tmp_path_factory.mktemp("store") / "crumbless.db")
        return
    server = request.getfixturevalue("postgres_server")
    made: list[str] = []

    def new() -> Settings:
        made.append(server.create_database())
        return postgres_settings(server.url(made[-1]), tmp_path_factory.mktemp("postgres"))

    yield new
    for name in made:
        server.drop_database(name)


@pytest.fixture
def daily_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A switch that makes the store read every range from daily rows alone (both ways it plans
    its reads: ``reads`` with months less some days, ``split`` for the pruned top lists)."""
    real = {name: getattr(queries, name) for name in ("split", "reads")}

    def days(a: int, b: int) -> periods.Parts:
        return periods.Parts(((a, b),) if a <= b else (), None)

    def switch(on: bool) -> None:
        for name, plan in real.items():
            monkeypatch.setattr(queries, name, days if on else plan)

    yield switch
    for name, plan in real.items():
        monkeypatch.setattr(queries, name, plan)


async def read_all(store: Store, spans: list[tuple[int, int]]) -> list[Any]:
    out: list[Any] = []
    listings: list[TopList] = [*LISTS, DROP_REASONS]
    for first, last in spans:
        out.append(await store.totals(SITE, first, last))
        for listing in listings:
            out.append(await store.breakdown(SITE, listing, first, last, 50))
            out.append(await store.breakdown(SITE, listing, first, last, 2, 1, "a"))
            out.append(await store.top(SITE, listing, first, last, 5))
    return out


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches=flushes, spans=ranges, cut=st.one_of(st.none(), st.integers(FIRST, LAST)))
def test_reads_through_roll_ups_equal_reads_over_days(
    fresh: Callable[[], Settings], daily_only: Any,
    batches: list[list[tuple[int, str, str, int, int]]], spans: list[tuple[int, int]], cut: int | None,
) -> None:
    where = fresh()
    wanted = [(first, first + length) for first, length in spans]

    async def scenario() -> tuple[list[Any], list[Any]]:
        async with opened_store(where) as store:
            await store.add_site("example.com", "example.com", "UTC", ())
            # Later days first, then earlier ones: a late flush lands in a month already summed.
            for rows in sorted(batches, key=lambda rows: -max(day for day, *_ in rows)):
                await store.write_counts(batch_of(rows))
            if cut is not None:
                await store.delete_before(SITE, cut)
            daily_only(False)
            through_months = await read_all(store, wanted)
            daily_only(True)
            over_days = await read_all(store, wanted)
            return through_months, over_days

    through_months, over_days = asyncio.run(scenario())
    assert through_months == over_days


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    skew=st.floats(0.0, 2.0), values=st.integers(1, 300), days=st.integers(3, 120), start=st.integers(0, 40),
    limit=st.integers(1, 12), seed=st.integers(0, 2**16),
)
def test_top_lists_pruned_by_months_equal_the_summed_ones(
    fresh: Callable[[], Settings], skew: float, values: int, days: int, start: int, limit: int, seed: int
) -> None:
    """From flat (every value alike, many ties) to steep Zipf lists, over ranges in and across months."""
    rng = random.Random(seed)
    where = fresh()
    counts = Aggregator()
    for day in range(FIRST, FIRST + 160):
        for rank in range(1, values + 1):
            n = rng.random() * 30 / rank**skew
            if n >= 1 or rng.random() < n:
                for column, share in ((VISITORS, 1.0), (PAGEVIEWS, 1.5), (ENTRY_VISITORS, 0.4), (EXITS, 0.3)):
                    counts.add(SITE, day, "page", f"/p{rank}", column, max(1, int(n * share)) if share == 1.0 else int(n * share))
    first, last = FIRST + start, FIRST + start + days

    async def scenario() -> list[tuple[Any, Any]]:
        async with opened_store(where) as store:
            await store.add_site("example.com", "example.com", "UTC", ())
            await store.write_counts(counts.drain())
            pages = [t for t in LISTS if t.dimension == "page"]
            return [
                (await store.top(SITE, t, first, last, limit), (await store.breakdown(SITE, t, first, last, limit))[0])
                for t in pages
            ]

    for pruned, summed in asyncio.run(scenario()):
        assert pruned == summed


def test_a_month_row_is_its_days_summed_and_zero_rows_are_not_kept(fresh: Callable[[], Settings]) -> None:
    """An exit that moves on within a later flush brings the earlier page row back to zero."""
    day = day_number(date(2026, 2, 27))

    async def scenario() -> list[tuple[Any, ...]]:
        async with opened_store(fresh()) as store:
            await store.add_site("example.com", "example.com", "UTC", ())
            counts = Aggregator()
            counts.add(SITE, day, "page", "/gone", EXITS, 1)
            await store.write_counts(counts.drain())
            counts.add(SITE, day, "page", "/gone", EXITS, -1)
            counts.add(SITE, day, "page", "/stays", EXITS, 1)
            await store.write_counts(counts.drain())
            return await store.execute_write_fn(
                lambda db: db.execute(
                    "SELECT 'daily', count(*), sum(exits) FROM daily UNION ALL SELECT 'monthly', count(*), sum(exits) FROM monthly"
                ).fetchall()
            )

    assert [tuple(r) for r in asyncio.run(scenario())] == [("daily", 1, 1), ("monthly", 1, 1)]


def test_the_entry_page_is_a_slot_of_the_page_row() -> None:
    """The model's one place where a visit value is counted in another dimension's row."""
    assert SLOTS["entry_page"].dimension == "page"
    assert {s.dimension for k, s in SLOTS.items() if k != "entry_page"} == {k for k in SLOTS if k != "entry_page"}


@pytest.mark.parametrize(
    "first, last, days, months, less",
    [
        ("2026-01-01", "2026-01-31", [], ("2026-01", "2026-01"), []),
        ("2026-01-02", "2026-01-31", [], ("2026-01", "2026-01"), [("2026-01-01", "2026-01-01")]),
        ("2026-11-03", "2026-12-02", [("2026-12-01", "2026-12-02")], ("2026-11", "2026-11"), [("2026-11-01", "2026-11-02")]),
        ("2026-01-10", "2026-01-20", [("2026-01-10", "2026-01-20")], None, []),
        ("2026-01-05", "2026-01-28", [], ("2026-01", "2026-01"), [("2026-01-01", "2026-01-04"), ("2026-01-29", "2026-01-31")]),
        ("2025-12-03", "2026-12-02", [("2026-12-01", "2026-12-02")], ("2025-12", "2026-11"), [("2025-12-01", "2025-12-02")]),
        ("2026-02-10", "2026-02-09", [], None, []),
    ],
)
def test_a_month_read_mostly_is_read_less_the_days_it_leaves_out(
    first: str, last: str, days: list[tuple[str, str]], months: tuple[str, str] | None, less: list[tuple[str, str]]
) -> None:
    parts = periods.reads(_day(first), _day(last))
    assert parts.days == tuple((_day(a), _day(b)) for a, b in days)
    assert parts.months == (None if months is None else (_month(months[0]), _month(months[1])))
    assert parts.less == tuple((_day(a), _day(b)) for a, b in less)


def _day(text: str) -> int:
    return day_number(date.fromisoformat(text))


def _month(text: str) -> int:
    year, number = map(int, text.split("-"))
    return year * 12 + number - 1


@pytest.mark.parametrize(
    "first, last, days, months",
    [
        ("2026-01-01", "2026-01-31", [], ("2026-01", "2026-01")),
        ("2026-01-02", "2026-01-31", [("2026-01-02", "2026-01-31")], None),
        ("2025-12-02", "2026-12-01", [("2025-12-02", "2025-12-31"), ("2026-12-01", "2026-12-01")], ("2026-01", "2026-11")),
        ("2026-02-01", "2026-03-31", [], ("2026-02", "2026-03")),
        ("2026-02-10", "2026-02-09", [], None),
    ],
)
def test_a_range_splits_into_whole_months_and_the_days_around_them(
    first: str, last: str, days: list[tuple[str, str]], months: tuple[str, str] | None
) -> None:
    parts = periods.split(_day(first), _day(last))
    assert parts.days == tuple((_day(a), _day(b)) for a, b in days)
    assert parts.months == (None if months is None else (_month(months[0]), _month(months[1])))

"""The store's contract (``collector/store/__init__.py``), run against every implementation.

Each test says one promise of the protocols' docstrings and checks it through the protocol only,
so every store (SQLite, PostgreSQL on a private server: ``tests/services.py``) is in
``IMPLEMENTATIONS`` and must pass the same suite. Salts are the SQLite store's alone
(``SaltStore``), so their tests run on the stores that are one.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from collector.aggregator import Aggregator, Batch
from collector.config import Settings, for_database
from collector.localtime import day_number
from collector.model import COUNTERS, FILTERED, HOURLY_COUNTERS, LIST_BY_KEY, PAGEVIEWS, VISITORS, segment_value
from collector.store import SaltStore, Store, StoreError, opened_store
from collector.store.queries import Queries
from tests.services import postgres_settings

DAY = day_number(date(2026, 3, 31))
Where = Callable[[pytest.FixtureRequest, Path], Settings]


def sqlite(request: pytest.FixtureRequest, path: Path) -> Settings:
    return for_database(path / "crumbless.db")


def postgresql(request: pytest.FixtureRequest, path: Path) -> Settings:
    return postgres_settings(request.getfixturevalue("postgres_url"), path)


IMPLEMENTATIONS: dict[str, Where] = {"sqlite": sqlite, "postgresql": postgresql}
SALT_STORES = ["sqlite"]
NETWORKED = ["postgresql"]


@pytest.fixture(params=sorted(IMPLEMENTATIONS))
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    return IMPLEMENTATIONS[request.param](request, tmp_path)


@pytest.fixture
def run(settings: Settings) -> Callable[[Callable[[Store], Awaitable[Any]]], Any]:
    def run(work: Callable[[Store], Awaitable[Any]]) -> Any:
        async def scenario() -> Any:
            async with opened_store(settings) as store:
                return await work(store)

        return asyncio.run(scenario())

    return run


async def _site(store: Store, domain: str = "example.com") -> int:
    return (await store.add_site(domain, domain, "UTC", ())).id


def test_a_batch_is_written_whole_or_not_at_all(run: Any) -> None:
    async def work(store: Store) -> tuple[Any, Any]:
        site = await _site(store)
        counts = Aggregator()
        counts.add(site, DAY, "page", "/a", PAGEVIEWS, 1)
        counts.add(site, DAY - 1, "page", "/b", PAGEVIEWS, 2**62)  # no counter is that large: refused
        with pytest.raises(StoreError):
            await store.write_counts(counts.drain())
        rows = (await store.breakdown(site, LIST_BY_KEY["page"], DAY - 5, DAY, 10))[0]
        counts.add(site, DAY, "page", "/a", PAGEVIEWS, 1)
        counts.add(site, DAY, "page", "/a", VISITORS, 1)
        await store.write_counts(counts.drain())
        return rows, (await store.breakdown(site, LIST_BY_KEY["page"], DAY - 5, DAY, 10))[0]

    failed, written = run(work)
    assert failed == []
    assert written == [("/a", {"visitors": 1, "pageviews": 1, "engaged_ms": 0, "scroll_sum": 0, "scroll_n": 0})]


@pytest.mark.parametrize("settings", SALT_STORES, indirect=True)
def test_the_first_salt_saved_wins(run: Any) -> None:
    async def work(store: Store) -> tuple[bytes, bytes, bytes | None]:
        site = await _site(store)
        first = await store.save_salt(site, DAY, b"\x01" * 32)
        second = await store.save_salt(site, DAY, b"\x02" * 32)
        return first, second, await store.load_salt(site, DAY)

    assert run(work) == (b"\x01" * 32,) * 3


@pytest.mark.parametrize("settings", SALT_STORES, indirect=True)
def test_salts_before_a_day_are_erased(run: Any) -> None:
    async def work(store: Store) -> tuple[int, bytes | None, bytes | None]:
        site = await _site(store)
        await store.save_salt(site, DAY - 1, b"\x01" * 32)
        await store.save_salt(site, DAY, b"\x02" * 32)
        return await store.erase_salts(site, DAY), await store.load_salt(site, DAY - 1), await store.load_salt(site, DAY)

    assert run(work) == (1, None, b"\x02" * 32)


def test_deleting_a_site_is_idempotent_and_takes_everything_about_it(run: Any) -> None:
    async def work(store: Store) -> tuple[Any, ...]:
        site, other = await _site(store), await _site(store, "other.org")
        counts = Aggregator()
        for s in (site, other):
            counts.add(s, DAY, "total", "", PAGEVIEWS, 1)
        await store.write_counts(counts.drain())
        salts = store if isinstance(store, SaltStore) else None
        if salts is not None:
            await salts.save_salt(site, DAY, b"\x01" * 32)
        await store.set_share_token(site, "token-of-the-site")
        await store.delete_site(site)
        await store.delete_site(site)
        return (
            [s.id for s in await store.sites()], await store.has_data(site), await store.has_data(other),
            None if salts is None else await salts.load_salt(site, DAY),
            await store.site_by_share_token("token-of-the-site"),
        )

    assert run(work) == ([2], False, True, None, None)


def test_ids_are_never_handed_out_again(run: Any) -> None:
    async def work(store: Store) -> tuple[int, int, int, int]:
        site = await _site(store)
        await store.delete_site(site)
        again = await _site(store, "again.example")
        await store.add_user("ann", "hash", "admin")
        ann = await store.user_by_name("ann")
        assert ann is not None
        await store.delete_user(ann.id)
        await store.add_user("bob", "hash", "admin")
        bob = await store.user_by_name("bob")
        assert bob is not None
        return site, again, ann.id, bob.id

    site, again, ann, bob = run(work)
    assert again > site and bob > ann


def test_search_matches_values_that_contain_it_ignoring_case(run: Any) -> None:
    async def work(store: Store) -> tuple[list[str], int]:
        site = await _site(store)
        counts = Aggregator()
        for path in ("/Docs/Install", "/docs", "/blog", "/Ünïcode/docs"):
            counts.add(site, DAY, "page", path, VISITORS, 1)
        await store.write_counts(counts.drain())
        rows, matched = await store.breakdown(site, LIST_BY_KEY["page"], DAY, DAY, 10, 0, "DOCS")
        return [value for value, _ in rows], matched

    assert run(work) == (["/Docs/Install", "/docs", "/Ünïcode/docs"], 3)


READS = {
    "by key": {"LOOKUPS_UNCOUNTED": 10**9},
    "by counted rows": {"LOOKUPS_UNCOUNTED": 0},
    "by range": {"LOOKUPS_UNCOUNTED": -1, "ROWS_PER_LOOKUP": 10**9},
}
"""How a pivot value's cells are read (``Queries.cells_by_key``): forced either way, and as decided
by counting the range's rows (few here, so by range)."""


@pytest.mark.parametrize("read", sorted(READS))
def test_a_pivot_values_cells_are_read_alone_and_without_the_pivot(
    run: Any, read: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``within``: only the cells of that pivot value (not of a value it is the start of), over days and
    whole months alike, searched and ranked on what remains; ``top`` gives the same rows, whichever
    way the cells are read."""
    for name, value in READS[read].items():
        monkeypatch.setattr(Queries, name, value)
    listing = FILTERED[("source", "page")]
    first = DAY - 70  # two whole months (read from ``monthly``) and runs of days

    async def work(store: Store) -> tuple[Any, ...]:
        site = await _site(store)
        counts = Aggregator()
        for day, pivot, page, visitors in (
            (DAY, "Gööгle", "/a", 3),
            (DAY - 40, "Gööгle", "/a", 2),
            (DAY, "Gööгle", "/b", 4),
            (DAY, "Gööгle", "/Docs", 1),
            (DAY, "Gööгlebot", "/a", 9),
            (DAY, "", "/a", 5),
        ):
            counts.add(site, day, listing.dimension, segment_value(pivot, page), VISITORS, visitors)
            counts.add(site, day, listing.dimension, segment_value(pivot, page), PAGEVIEWS, 2 * visitors)
        await store.write_counts(counts.drain())
        rows = await store.breakdown(site, listing, first, DAY, 10, within="Gööгle")
        second = await store.breakdown(site, listing, first, DAY, 1, offset=1, within="Gööгle")
        searched = await store.breakdown(site, listing, first, DAY, 10, search="DOCS", within="Gööгle")
        direct = await store.breakdown(site, listing, first, DAY, 10, within="")
        top = await store.top(site, listing, first, DAY, 2, within="Gööгle")
        none = await store.breakdown(site, listing, first, DAY, 10, within="Nobody")
        return rows, second, searched, direct, top, none

    rows, second, searched, direct, top, none = run(work)
    assert rows == (
        [
            ("/a", {"visitors": 5, "pageviews": 10}),
            ("/b", {"visitors": 4, "pageviews": 8}),
            ("/Docs", {"visitors": 1, "pageviews": 2}),
        ],
        3,
    )
    assert second == ([("/b", {"visitors": 4, "pageviews": 8})], 3)
    assert searched == ([("/Docs", {"visitors": 1, "pageviews": 2})], 1)
    assert direct == ([("/a", {"visitors": 5, "pageviews": 10})], 1)
    assert top == rows[0][:2]
    assert none == ([], 0)


def test_one_values_totals_and_days(run: Any) -> None:
    async def work(store: Store) -> tuple[Any, ...]:
        site = await _site(store)
        counts = Aggregator()
        rows = ((DAY, "Google", 3), (DAY - 2, "Google", 2), (DAY - 45, "Google", 7), (DAY, "Bing", 1))
        for day, value, visitors in rows:
            counts.add(site, day, "source", value, VISITORS, visitors)
            counts.add(site, day, "source", value, PAGEVIEWS, 10 * visitors)
        await store.write_counts(counts.drain())
        return (
            await store.value_totals(site, "source", "Google", DAY - 70, DAY),
            await store.value_totals(site, "source", "Google", DAY - 3, DAY),
            await store.value_totals(site, "source", "Nobody", DAY - 70, DAY),
            await store.value_series(site, "source", "Google", DAY - 3, DAY),
        )

    long_range, short_range, nobody, series = run(work)
    assert set(long_range) == set(COUNTERS)
    assert (long_range["visitors"], long_range["pageviews"], long_range["visits"]) == (12, 120, 0)
    assert (short_range["visitors"], short_range["pageviews"]) == (5, 50)
    assert nobody == dict.fromkeys(COUNTERS, 0)
    assert [(day, row["visitors"], row["pageviews"]) for day, row in series] == [(DAY - 2, 2, 20), (DAY, 3, 30)]
    assert set(series[0][1]) == set(COUNTERS)


def test_a_password_change_replaces_the_session_key(run: Any) -> None:
    async def work(store: Store) -> tuple[str, str]:
        await store.add_user("ann", "hash", "admin")
        before = await store.user_by_name("ann")
        assert before is not None
        await store.set_password(before.id, "new hash")
        after = await store.user_by_id(before.id)
        assert after is not None and after.password_hash == "new hash"
        return before.session_key, after.session_key

    before, after = run(work)
    assert before != after and len(before) == len(after) == 32


def test_grants_are_replaced_and_tokens_deleted_only_by_their_owner(run: Any) -> None:
    async def work(store: Store) -> tuple[set[int], bool, bool, list[str]]:
        a, b = await _site(store), await _site(store, "b.example")
        await store.add_user("ann", "hash", "viewer")
        await store.add_user("bob", "hash", "viewer")
        ann, bob = await store.user_by_name("ann"), await store.user_by_name("bob")
        assert ann is not None and bob is not None
        await store.set_grants(ann.id, [a, b])
        await store.set_grants(ann.id, [b])
        token = await store.add_token(ann.id, "laptop", "sha-of-token")
        by_other = await store.delete_token(bob.id, token.id)
        by_owner = await store.delete_token(ann.id, token.id)
        return await store.grants(ann.id), by_other, by_owner, [t.name for t in await store.tokens(ann.id)]

    grants, by_other, by_owner, left = run(work)
    assert (by_other, by_owner, left) == (False, True, [])
    assert len(grants) == 1


def test_a_locale_is_read_with_the_user_and_can_be_cleared(run: Any) -> None:
    async def work(store: Store) -> tuple[Any, ...]:
        await store.add_user("ann", "hash", "viewer")
        fresh = await store.user_by_name("ann")
        assert fresh is not None
        await store.set_locale(fresh.id, "es")
        chosen = await store.user_by_id(fresh.id)
        listed = [u.locale for u in await store.users()]
        token = await store.add_token(fresh.id, "laptop", "sha-of-token")
        by_token = await store.token_user("sha-of-token")
        await store.set_locale(fresh.id, None)
        cleared = await store.user_by_name("ann")
        assert chosen is not None and by_token is not None and cleared is not None and token.id > 0
        return fresh.locale, chosen.locale, listed, by_token.locale, cleared.locale

    assert run(work) == (None, "es", ["es"], "es", None)


def test_annotations_are_listed_by_day_and_deleted_only_from_their_site(run: Any) -> None:
    async def work(store: Store) -> tuple[Any, ...]:
        site, other = await _site(store), await _site(store, "other.org")
        late = await store.add_annotation(site, DAY, "newsletter sent")
        early = await store.add_annotation(site, DAY - 3, "<b>launch</b> & 'quotes' ünïcode")
        await store.add_annotation(site, DAY - 30, "long ago")
        theirs = await store.add_annotation(other, DAY, "other site's")
        listed = await store.annotations(site, DAY - 7, DAY)
        wrong_site = await store.delete_annotation(other, late.id)
        deleted = await store.delete_annotation(site, late.id)
        again = await store.delete_annotation(site, late.id)
        left = [a.text for a in await store.annotations(site, DAY - 100, DAY + 100)]
        await store.delete_site(other)
        gone = await store.annotations(other, DAY - 100, DAY + 100)
        return listed, early, (wrong_site, deleted, again), left, theirs.site, gone

    listed, early, deletions, left, theirs, gone = run(work)
    odd = "<b>launch</b> & 'quotes' ünïcode"
    assert [(a.day, a.text) for a in listed] == [(DAY - 3, odd), (DAY, "newsletter sent")]
    assert listed[0] == early and early.created_at.startswith("20")
    assert deletions == (False, True, False)
    assert left == ["long ago", odd]
    assert gone == [] and theirs != listed[0].site


def test_an_ended_session_stays_ended_until_it_expires(run: Any) -> None:
    async def work(store: Store) -> tuple[bool, bool, bool]:
        await store.end_session("a" * 64, expires=2_000, now=1_000)
        ended = await store.session_ended("a" * 64)
        await store.end_session("b" * 64, expires=4_000, now=3_000)  # forgets those expired by now
        return ended, await store.session_ended("a" * 64), await store.session_ended("b" * 64)

    assert run(work) == (True, False, True)


def test_a_missing_site_cannot_be_updated(run: Any) -> None:
    async def work(store: Store) -> None:
        await store.update_site(999, "x.example", "x", "UTC", ())

    with pytest.raises(StoreError):
        run(work)



def test_an_import_is_refused_over_another_and_replaced_exactly(run: Any) -> None:
    """ImportStore: live counts stay, an overlapping import is refused whole, --replace subtracts
    exactly what the earlier import added, and long ranges (monthly roll-ups) agree with the days."""

    def batch(site: int, n: int, path: str) -> Batch:
        counts = Aggregator()
        for day in (DAY - 40, DAY - 1):
            counts.add(site, day, "total", "", PAGEVIEWS, n)
            counts.add(site, day, "page", path, PAGEVIEWS, n)
        counts.add_hourly(site, (DAY - 1) * 24 + 5, PAGEVIEWS, n)
        return counts.drain()

    async def work(store: Store) -> tuple[Any, ...]:
        site = await _site(store)
        live = Aggregator()
        live.add(site, DAY - 1, "total", "", PAGEVIEWS, 3)
        live.add(site, DAY - 1, "page", "/b", PAGEVIEWS, 3)
        await store.write_counts(live.drain())
        first = await store.add_import(site, "plausible a.zip", (DAY - 40, DAY - 1), batch(site, 5, "/a"))
        with pytest.raises(StoreError, match="already holds import"):
            await store.add_import(site, "plausible b.zip", (DAY - 2, DAY), batch(site, 7, "/c"))
        refused = await store.daily_rows(site, DAY - 60, DAY)
        second = await store.add_import(site, "plausible b.zip", (DAY - 2, DAY), batch(site, 7, "/c"), replace=True)
        rows = await store.daily_rows(site, DAY - 60, DAY)
        long = (await store.totals(site, DAY - 400, DAY))["pageviews"]
        hours = await store.hourly(site, (DAY - 1) * 24, DAY * 24)
        listed = await store.imports(site)
        await store.delete_site(site)
        return first, second, refused, rows, long, hours, listed, await store.imports(site)

    first, second, refused, rows, long, hours, listed, after_deletion = run(work)
    assert (first.id, first.source, second.id) == (1, "plausible a.zip", 2)
    assert [(r[0], r[1], r[2], r[3]["pageviews"]) for r in refused] == [
        (DAY - 40, "total", "", 5), (DAY - 40, "page", "/a", 5), (DAY - 1, "total", "", 8),
        (DAY - 1, "page", "/a", 5), (DAY - 1, "page", "/b", 3),
    ]
    assert [(r[0], r[1], r[2], r[3]["pageviews"]) for r in rows] == [
        (DAY - 40, "total", "", 7), (DAY - 40, "page", "/c", 7), (DAY - 1, "total", "", 10),
        (DAY - 1, "page", "/b", 3), (DAY - 1, "page", "/c", 7),
    ]
    assert long == 17
    assert [(h, row["pageviews"]) for h, row in hours] == [((DAY - 1) * 24 + 5, 7)]
    assert [(r.id, r.first_day, r.last_day) for r in listed] == [(2, DAY - 2, DAY)]
    assert after_deletion == []


def test_replacing_an_import_after_retention_takes_back_only_the_days_kept(run: Any) -> None:
    async def work(store: Store) -> tuple[Any, ...]:
        site = await _site(store)
        counts = Aggregator()
        for day in (DAY - 100, DAY - 10):
            counts.add(site, day, "total", "", PAGEVIEWS, 4)
            counts.add(site, day, "page", "/a", PAGEVIEWS, 4)
        await store.add_import(site, "plausible a.zip", (DAY - 100, DAY - 10), counts.drain())
        await store.delete_before(site, DAY - 50)
        again = Aggregator()
        again.add(site, DAY - 10, "total", "", PAGEVIEWS, 4)
        await store.add_import(site, "plausible b.zip", (DAY - 100, DAY - 10), again.drain(), replace=True)
        return await store.daily_rows(site, DAY - 400, DAY), (await store.totals(site, DAY - 400, DAY))["pageviews"]

    rows, total = run(work)
    assert [(r[0], r[1], r[3]["pageviews"]) for r in rows] == [(DAY - 10, "total", 4)]
    assert total == 4


# ── several collectors, one database ────────────────────────────────────────────────────────


def _row(**counters: int) -> list[int]:
    return [counters.get(name, 0) for name in COUNTERS]


def _flush_of(site: int) -> Batch:
    """A flush's shape: site totals, a few pages (one of them on the last day of the month before), an hour."""
    daily = {(site, DAY, "total", ""): _row(visitors=3, pageviews=7, engaged_ms=1500)}
    for n, page in enumerate(("/", "/a", "/b", "/c/ü")):
        daily[(site, DAY if n % 2 else DAY - 30, "page", page)] = _row(visitors=1, pageviews=n + 1, exits=1)
    hourly = {(site, DAY * 24 + 9): [3, 3, 7, 1, 40][: len(HOURLY_COUNTERS)]}
    return Batch(daily=daily, hourly=hourly)


def _in_threads(settings: Settings, count: int, work: Callable[[Store, int], Awaitable[None]]) -> None:
    """``work(store, n)`` in ``count`` threads at once, each with a store of its own, as collectors have."""
    failures: list[BaseException] = []
    start = threading.Barrier(count)

    def collector(n: int) -> None:
        async def scenario() -> None:
            async with opened_store(settings) as store:
                start.wait(30)
                await work(store, n)

        try:
            asyncio.run(scenario())
        except BaseException as exc:  # reported below, in the test's thread
            failures.append(exc)

    threads = [threading.Thread(target=collector, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not failures, failures


def test_concurrent_writers_neither_lose_nor_double_an_addition(run: Any, settings: Settings) -> None:
    site = run(_site)
    one = _flush_of(site)

    async def flush_twenty_times(store: Store, n: int) -> None:
        for _ in range(20):
            await store.write_counts(Batch(daily=dict(one.daily), hourly=dict(one.hourly)))  # a new id each time

    _in_threads(settings, 4, flush_twenty_times)

    async def read(store: Store) -> tuple[Any, ...]:
        pages = LIST_BY_KEY["page"]
        return (
            await store.totals(site, DAY - 60, DAY),
            (await store.breakdown(site, pages, DAY - 60, DAY, 10))[0],
            await store.top(site, pages, DAY - 60, DAY, 10),
            await store.hourly(site, DAY * 24, DAY * 24 + 23),
        )

    totals, pages, top, hourly = run(read)
    assert (totals["visitors"], totals["pageviews"], totals["engaged_ms"]) == (80 * 3, 80 * 7, 80 * 1500)
    assert [(value, row["pageviews"]) for value, row in pages] == [("/c/ü", 320), ("/b", 240), ("/a", 160), ("/", 80)]
    assert top == pages
    assert hourly == [(DAY * 24 + 9, {"visitors": 240, "visits": 240, "pageviews": 560, "bounces": 80, "duration_s": 3200})]


@pytest.mark.parametrize("settings", NETWORKED, indirect=True)
def test_a_batch_written_twice_is_added_once(run: Any) -> None:
    """A retry after a COMMIT whose answer was lost (the server restarted as it committed) carries
    the same batch id, and must not add again.

    Only a networked store can lose that answer: a SQLite COMMIT is a call in the same process,
    which either returns with the transaction durable or raises with it rolled back, so the
    flusher always knows whether to retry, and the SQLite store keeps no batch ids.
    """

    async def work(store: Store) -> tuple[int, int]:
        site = await _site(store)
        batch = _flush_of(site)
        await store.write_counts(batch)
        await store.write_counts(batch)
        again = Batch(daily=dict(batch.daily), hourly=dict(batch.hourly))  # the same additions, another flush
        once = (await store.totals(site, DAY, DAY))["pageviews"]
        await store.write_counts(again)
        return once, (await store.totals(site, DAY, DAY))["pageviews"]

    assert run(work) == (7, 14)


def test_rows_of_a_deleted_site_are_not_written(run: Any) -> None:
    """A collector may flush counters of a site that another collector deleted since they were counted."""

    async def work(store: Store) -> tuple[Any, ...]:
        gone, kept = await _site(store), await _site(store, "kept.example")
        await store.delete_site(gone)
        both = _flush_of(gone)
        both.daily.update(_flush_of(kept).daily)
        both.hourly.update(_flush_of(kept).hourly)
        await store.write_counts(both)
        later = await _site(store, "later.example")
        return (
            await store.has_data(gone), await store.hourly(gone, 0, 2**31),
            (await store.breakdown(gone, LIST_BY_KEY["page"], DAY - 60, DAY, 10))[0],
            (await store.totals(kept, DAY, DAY))["pageviews"], later > gone, await store.has_data(later),
        )

    assert run(work) == (False, [], [], 7, True, False)


def test_a_site_deleted_during_flushes_keeps_no_counters(run: Any, settings: Settings) -> None:
    site = run(_site)
    deleted = threading.Event()

    async def flush_or_delete(store: Store, n: int) -> None:
        if n == 0:
            await asyncio.sleep(0.05)
            await store.delete_site(site)
            deleted.set()
            return
        for _ in range(40):
            await store.write_counts(_flush_of(site))
        assert deleted.wait(30)
        await store.write_counts(_flush_of(site))

    _in_threads(settings, 3, flush_or_delete)

    async def read(store: Store) -> tuple[Any, ...]:
        return await store.has_data(site), await store.hourly(site, 0, 2**31), await store.recent_values(0)

    assert run(read) == (False, [], [])


def test_retention_runs_while_flushes_keep_each_month_the_sum_of_its_days(run: Any, settings: Settings) -> None:
    """A retention run re-sums the month it cuts, while other collectors flush into that month."""
    site = run(_site)
    march = [day_number(date(2026, 3, d)) for d in (3, 12, 20, 31)]
    cut = day_number(date(2026, 3, 10))

    async def flush_or_cut(store: Store, n: int) -> None:
        for i in range(25):
            if n == 0:
                await store.delete_before(site, cut)
            else:
                daily = {(site, day, "page", f"/p{(i + day) % 7}"): _row(visitors=1, pageviews=n) for day in march}
                # A value first seen on a day retention cuts, then again on a kept day: its text
                # must not be deleted as unused while a flush is making it used again.
                daily[(site, march[0], "page", f"/old{n}-{i}")] = _row(visitors=1)
                daily[(site, march[2], "page", f"/old{n}-{i - 1}")] = _row(visitors=1)
                await store.write_counts(Batch(daily=daily))

    _in_threads(settings, 3, flush_or_cut)
    first, last = march[0] - 2, march[-1]
    sums = (
        "SELECT v.value, sum(d.visitors), sum(d.pageviews) FROM {table} AS d JOIN dim_values AS v ON v.id = d.value "
        "WHERE d.site = {site} AND d.{period} BETWEEN {first} AND {last} GROUP BY v.value ORDER BY v.value"
    )

    def rows(db: Any, table: str, period: str, a: int, b: int) -> list[tuple[str, int, int]]:
        sql = sums.format(table=table, period=period, site=site, first=a, last=b)
        return [(str(value), int(v), int(p)) for value, v, p in db.execute(sql).fetchall()]

    def orphans(db: Any) -> int:
        sql = "SELECT count(*) FROM {} WHERE value NOT IN (SELECT id FROM dim_values)"
        return sum(int(db.execute(sql.format(table)).fetchone()[0]) for table in ("daily", "monthly"))

    async def read(store: Any) -> tuple[Any, Any, int]:
        month = 2026 * 12 + 2
        days = await store.execute_write_fn(lambda db: rows(db, "daily", "day", first, last))
        months = await store.execute_write_fn(lambda db: rows(db, "monthly", "month", month, month))
        return days, months, await store.execute_write_fn(orphans)

    days, months, without_text = run(read)
    assert days and days == months
    assert without_text == 0


def test_a_value_too_long_for_an_index_is_cut_alike_in_every_store(run: Any) -> None:
    """A 700-character event property of emoji is 2,800 bytes: more than PostgreSQL's b-tree takes."""
    long = "\U0001f600" * 700

    async def work(store: Store) -> list[str]:
        site = await _site(store)
        await store.write_counts(Batch(daily={(site, DAY, "event_prop", f"Signup\x1fnote\x1f{long}"): _row(events=1, visitors=1)}))
        await store.write_counts(Batch(daily={(site, DAY, "event_prop", f"Signup\x1fnote\x1f{long}x"): _row(events=1, visitors=1)}))
        rows = (await store.breakdown(site, LIST_BY_KEY["event_prop"], DAY, DAY, 10))[0]
        return [f"{len(value.encode())} {row['events']}" for value, row in rows]

    assert run(work) == ["2400 2"]


def test_one_batch_adds_up_a_months_days_and_the_values_alike_once_cut(run: Any) -> None:
    """A flush at midnight holds two days of a month: its monthly row is their sum, as is the row of
    two values that are the same once cut (``queries.stored_text``)."""
    long = "\U0001f600" * 700

    async def work(store: Store) -> tuple[list[tuple[str, int]], list[tuple[int, int]]]:
        site = await _site(store)
        daily = {
            (site, DAY, "page", "/a"): _row(visitors=1, pageviews=2),
            (site, DAY - 1, "page", "/a"): _row(visitors=1, pageviews=3),
            (site, DAY, "event_prop", f"Signup\x1fnote\x1f{long}"): _row(events=1),
            (site, DAY, "event_prop", f"Signup\x1fnote\x1f{long}x"): _row(events=2),
        }
        await store.write_counts(Batch(daily=daily))
        month = (await store.breakdown(site, LIST_BY_KEY["page"], DAY - 30, DAY, 10))[0]  # March: its monthly row
        props = (await store.breakdown(site, LIST_BY_KEY["event_prop"], DAY - 30, DAY, 10))[0]
        return [(value, row["pageviews"]) for value, row in month], [(len(value.encode()), row["events"]) for value, row in props]

    assert run(work) == ([("/a", 5)], [(2400, 3)])

"""The store's contract (``collector/store/__init__.py``), run against every implementation.

Each test says one promise of the protocols' docstrings and checks it through the protocol only,
so a second store (PostgreSQL) adds itself to ``IMPLEMENTATIONS`` and must pass the same suite.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from collector.aggregator import Aggregator
from collector.config import for_database
from collector.localtime import day_number
from collector.model import LIST_BY_KEY, PAGEVIEWS, VISITORS
from collector.store import Store, StoreError, opened_store

DAY = day_number(date(2026, 3, 31))
Opener = Callable[[Path], Any]


def sqlite(path: Path) -> Any:
    return opened_store(for_database(path / "crumbless.db"))


IMPLEMENTATIONS: dict[str, Opener] = {"sqlite": sqlite}


@pytest.fixture(params=sorted(IMPLEMENTATIONS))
def run(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[Callable[[Store], Awaitable[Any]]], Any]:
    opener = IMPLEMENTATIONS[request.param]

    def run(work: Callable[[Store], Awaitable[Any]]) -> Any:
        async def scenario() -> Any:
            async with opener(tmp_path) as store:
                return await work(store)

        return asyncio.run(scenario())

    return run


async def _site(store: Store, domain: str = "example.com") -> int:
    return (await store.add_site(domain, domain, "UTC", ())).id


def test_a_batch_is_written_whole_or_not_at_all(run: Any) -> None:
    async def work(store: Store) -> tuple[Any, Any]:
        site = await _site(store)
        counts = Aggregator(100)
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


def test_the_first_salt_saved_wins(run: Any) -> None:
    async def work(store: Store) -> tuple[bytes, bytes, bytes | None]:
        site = await _site(store)
        first = await store.save_salt(site, DAY, b"\x01" * 32)
        second = await store.save_salt(site, DAY, b"\x02" * 32)
        return first, second, await store.load_salt(site, DAY)

    assert run(work) == (b"\x01" * 32,) * 3


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
        counts = Aggregator(100)
        for s in (site, other):
            counts.add(s, DAY, "total", "", PAGEVIEWS, 1)
        await store.write_counts(counts.drain())
        await store.save_salt(site, DAY, b"\x01" * 32)
        await store.set_share_token(site, "token-of-the-site")
        await store.delete_site(site)
        await store.delete_site(site)
        return (
            [s.id for s in await store.sites()], await store.has_data(site), await store.has_data(other),
            await store.load_salt(site, DAY), await store.site_by_share_token("token-of-the-site"),
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
        counts = Aggregator(100)
        for path in ("/Docs/Install", "/docs", "/blog", "/Ünïcode/docs"):
            counts.add(site, DAY, "page", path, VISITORS, 1)
        await store.write_counts(counts.drain())
        rows, matched = await store.breakdown(site, LIST_BY_KEY["page"], DAY, DAY, 10, 0, "DOCS")
        return [value for value, _ in rows], matched

    assert run(work) == (["/Docs/Install", "/docs", "/Ünïcode/docs"], 3)


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


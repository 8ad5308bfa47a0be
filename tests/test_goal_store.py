"""The goal store's contract (``GoalStore`` in ``collector/store/__init__.py``) on every store.

Run on SQLite and on PostgreSQL (a private server, ``tests/services.py``) through the fixtures of
``tests/test_store_contract.py``: a goal's earlier days filled in from the rows that hold its
numbers (and only for an exact event or path), definitions refused whole, removal taking every
row that names a goal or funnel and nothing else, and ``sites()`` carrying each site's goals and
funnels for the ingest path. Also the migration of a schema-7 database to goals and funnels.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from collector.aggregator import Aggregator
from collector.config import for_database
from collector.goals import MAX_NAME, MAX_PATTERN, NO_CONVERSIONS, Goal
from collector.model import EVENTS, FUNNEL_STEPS, GOALS, PAGEVIEWS, VISITORS, funnel_value, segment_value
from collector.store import Store, StoreError, opened_store
from collector.store.migrations import LATEST, MIGRATIONS
from collector.store.sqlite import sql_statements
from tests.test_store_contract import DAY, run, settings  # noqa: F401 (fixtures: every store)

LONG = (DAY - 400, DAY)
"""A range read through the monthly roll-ups for its whole months."""


async def _site(store: Store, domain: str = "example.com") -> int:
    return (await store.add_site(domain, domain, "UTC", ())).id


async def _event_goal(store: Store, site: int, name: str, event: str = "", prop: tuple[str, str] = ("", "")) -> Goal:
    return await store.add_goal(site, name, "event", event or name, prop[0], prop[1], "", DAY)


async def _page_goal(store: Store, site: int, name: str, page: str) -> Goal:
    return await store.add_goal(site, name, "page", "", "", "", page, DAY)


async def _goal_rows(store: Store, site: int, first: int, last: int) -> dict[str, tuple[int, int]]:
    rows, _ = await store.breakdown(site, GOALS, first, last, 100)
    return {value: (row["visitors"], row["events"]) for value, row in rows}


def test_an_exact_goal_gets_its_earlier_days_from_the_rows_that_hold_them(run: Any) -> None:  # noqa: F811
    async def work(store: Store) -> tuple[Any, ...]:
        site = await _site(store)
        counts = Aggregator()
        for day, visitors, n in ((DAY - 40, 2, 5), (DAY - 3, 1, 1), (DAY, 7, 9)):  # DAY: counted live, not here
            counts.add(site, day, "event", "signup", VISITORS, visitors)
            counts.add(site, day, "event", "signup", EVENTS, n)
        counts.add(site, DAY - 40, "event_prop", "signup\x1fplan\x1fpro", EVENTS, 5)
        for day, visitors, views in ((DAY - 70, 4, 6), (DAY - 2, 3, 8)):
            counts.add(site, day, "page", "/pricing", VISITORS, visitors)
            counts.add(site, day, "page", "/pricing", PAGEVIEWS, views)
        counts.add(site, DAY - 2, "page", "/pricing/team", PAGEVIEWS, 50)
        await store.write_counts(counts.drain())
        signup = await _event_goal(store, site, "Signed up", "signup")
        pricing = await _page_goal(store, site, "Pricing", "/pricing")
        pattern = await _page_goal(store, site, "All pricing", "/pricing/**")
        pro = await _event_goal(store, site, "Pro", "signup", ("plan", "pro"))
        return (
            (signup.backfillable, pricing.backfillable, pattern.backfillable, pro.backfillable),
            {g.id: g.name for g in (signup, pricing, pattern, pro)},
            await _goal_rows(store, site, DAY - 90, DAY - 1),
            await _goal_rows(store, site, *LONG),
            await _goal_rows(store, site, DAY - 3, DAY),
            await store.top(site, GOALS, *LONG, 10),
            await store.breakdown(site, GOALS, DAY, DAY, 10),
        )

    fillable, names, earlier, long, recent, top, today = run(work)
    assert fillable == (True, True, False, False)
    assert names == {1: "Signed up", 2: "Pricing", 3: "All pricing", 4: "Pro"}
    assert earlier == {"1": (3, 6), "2": (7, 14)}, "visitors to visitors; events, or a page's pageviews, to conversions"
    assert long == earlier, "the monthly roll-ups are the sums of the days filled in"
    assert [(value, row["visitors"], row["events"]) for value, row in top] == [("2", 7, 14), ("1", 3, 6)]
    assert recent == {"1": (1, 1), "2": (3, 8)}
    assert today == ([], 0), "the day a goal is defined on is the live count's"


def test_a_goal_is_refused_whole_when_it_is_not_one(run: Any) -> None:  # noqa: F811
    async def work(store: Store) -> tuple[Any, ...]:
        site = await _site(store)
        await _event_goal(store, site, "signup")
        refusals = []
        for name, kind, event, prop_key, prop_value, page in (
            ("signup", "event", "other", "", "", ""),  # the site's name already
            ("  ", "event", "signup", "", "", ""),
            ("x" * (MAX_NAME + 1), "event", "signup", "", "", ""),
            ("Line\nbreak", "event", "signup", "", "", ""),
            ("No event", "event", "", "", "", ""),
            ("Value only", "event", "signup", "", "pro", ""),
            ("Both", "event", "signup", "", "", "/a"),
            ("Long", "page", "", "", "", "/" + "a" * MAX_PATTERN),
            ("Relative", "page", "", "", "", "blog/*"),
            ("Kind", "visit", "signup", "", "", ""),
        ):
            with pytest.raises(StoreError) as refused:
                await store.add_goal(site, name, kind, event, prop_key, prop_value, page, DAY)  # type: ignore[arg-type]
            refusals.append(str(refused.value))
        with pytest.raises(StoreError, match="no such site"):
            await _event_goal(store, site + 1, "elsewhere")
        other = await _site(store, "other.org")
        same_name_elsewhere = await _event_goal(store, other, "signup")
        return refusals, [g.name for g in await store.goals(site)], same_name_elsewhere.site == other

    refusals, kept, elsewhere = run(work)
    assert refusals[0] == "the site has a goal named signup already"
    assert refusals[1:4] == [
        "the goal's name must not be empty",
        f"the goal's name must be at most {MAX_NAME} characters",
        "the goal's name must be one line without control characters",
    ]
    assert "event name must not be empty" in refusals[4] and "needs a property name" in refusals[5]
    assert "no page" in refusals[6] and f"at most {MAX_PATTERN}" in refusals[7] and "start with /" in refusals[8]
    assert refusals[9] == "a goal is an event or a page"
    assert kept == ["signup"] and elsewhere


def test_a_funnel_takes_two_to_eight_of_the_sites_goals(run: Any) -> None:  # noqa: F811
    async def work(store: Store) -> tuple[Any, ...]:
        site, other = await _site(store), await _site(store, "other.org")
        ids = [(await _event_goal(store, site, f"g{n}")).id for n in range(9)]
        foreign = (await _event_goal(store, other, "theirs")).id
        refusals = []
        for steps in (ids[:1], ids, [ids[0], foreign], [ids[0], 999]):
            with pytest.raises(StoreError) as refused:
                await store.add_funnel(site, "f", steps, "visit", DAY)
            refusals.append(str(refused.value))
        shortest = await store.add_funnel(site, "Two", ids[:2], "visit", DAY)
        longest = await store.add_funnel(site, " Eight ", ids[1:], "day", DAY + 1)
        with pytest.raises(StoreError, match="a funnel named Two already"):
            await store.add_funnel(site, "Two", ids[2:4], "visit", DAY)
        return ids, refusals, shortest, longest, await store.funnels(site), await store.funnels(other)

    ids, refusals, shortest, longest, listed, elsewhere = run(work)
    assert refusals[:2] == ["a funnel has 2 to 8 steps, not 1", "a funnel has 2 to 8 steps, not 9"]
    assert refusals[2] == "the site has no goal 10" and refusals[3] == "the site has no goal 999"
    assert (shortest.steps, shortest.window, shortest.first_day) == (tuple(ids[:2]), "visit", DAY)
    assert (longest.name, longest.steps, longest.window, longest.first_day) == ("Eight", tuple(ids[1:]), "day", DAY + 1)
    assert listed == [shortest, longest] and elsewhere == []


def test_removing_a_goal_takes_its_funnels_and_every_row_naming_it(run: Any) -> None:  # noqa: F811
    """Goal 1's rows go; goal 11's, whose id starts alike, and the segment rows of other goals stay."""

    async def work(store: Store) -> tuple[Any, ...]:
        site, other = await _site(store), await _site(store, "other.org")
        goals = [(await _event_goal(store, site, f"g{n}")).id for n in range(1, 12)]
        one, two, eleven = goals[0], goals[1], goals[10]
        uses_one = await store.add_funnel(site, "uses one", [two, one], "visit", DAY)
        kept = await store.add_funnel(site, "kept", [two, eleven], "visit", DAY)
        counts = Aggregator()
        for s in (site, other):
            for day in (DAY - 40, DAY - 1):
                for goal in (one, eleven):
                    counts.add(s, day, "goal", str(goal), VISITORS, 1)
                    counts.add(s, day, "goal>source", segment_value(str(goal), "Google"), VISITORS, 1)
                    counts.add(s, day, "source>goal", segment_value("Google", str(goal)), VISITORS, 1)
                    counts.add(s, day, "goal>entry_page", segment_value(str(goal), "/a"), EVENTS, 2)
                for funnel in (uses_one.id, kept.id):
                    counts.add(s, day, "funnel", funnel_value(funnel, 1), VISITORS, 3)
        await store.write_counts(counts.drain())
        assert not await store.delete_goal(other, one), "not the other site's goal"
        removed = await store.delete_goal(site, one)
        again = await store.delete_goal(site, one)
        rows = await store.daily_rows(site, DAY - 60, DAY)
        return (
            removed, again, one, eleven, kept, rows,
            [g.id for g in await store.goals(site)], await store.funnels(site),
            await _goal_rows(store, site, *LONG),
            [v for v, _ in (await store.breakdown(site, FUNNEL_STEPS, *LONG, 10))[0]],
            len(await store.daily_rows(other, DAY - 60, DAY)),
            sorted(await _values(store, site)),
        )  # fmt: skip

    removed, again, one, eleven, kept, rows, goals, funnels, long, steps, others, texts = run(work)
    assert (removed, again) == (True, False)
    assert one not in goals and eleven in goals and funnels == [kept]
    assert {(day, dim, value) for day, dim, value, _ in rows} == {
        (day, dim, value)
        for day in (DAY - 40, DAY - 1)
        for dim, value in (
            ("goal", "11"), ("goal>source", "11\x1fGoogle"), ("source>goal", "Google\x1f11"),
            ("goal>entry_page", "11\x1f/a"), ("funnel", funnel_value(kept.id, 1)),
        )
    }  # fmt: skip
    assert long == {"11": (2, 0)}, "the months went with the days"
    assert steps == [funnel_value(kept.id, 1)]
    assert others == 2 * (4 * 2 + 2), "the other site's rows stay, whatever they name"
    assert texts == sorted(["11", "11\x1fGoogle", "Google\x1f11", "11\x1f/a", funnel_value(kept.id, 1)])


async def _values(store: Store, site: int) -> list[str]:
    """The value texts the site still has in the goal, funnel and segment dimensions (no placeholder:
    the statement runs on either driver)."""
    sql = f"SELECT value FROM dim_values WHERE site = {int(site)} AND dim >= 15"
    rows = await store.execute_write_fn(lambda db: db.execute(sql).fetchall())  # type: ignore[attr-defined]
    return [str(row[0]) for row in rows]


def test_removing_a_funnel_takes_its_step_rows(run: Any) -> None:  # noqa: F811
    async def work(store: Store) -> tuple[Any, ...]:
        site, other = await _site(store), await _site(store, "other.org")
        a, b = (await _event_goal(store, site, "a")).id, (await _event_goal(store, site, "b")).id
        first = await store.add_funnel(site, "first", [a, b], "visit", DAY)
        second = await store.add_funnel(site, "second", [b, a], "day", DAY)
        counts = Aggregator()
        for funnel in (first.id, second.id):
            for step in (1, 2):
                counts.add(site, DAY - 1, "funnel", funnel_value(funnel, step), VISITORS, 3 - step)
        await store.write_counts(counts.drain())
        refused = await store.delete_funnel(other, first.id)
        removed = await store.delete_funnel(site, first.id)
        rows, _ = await store.breakdown(site, FUNNEL_STEPS, DAY - 1, DAY - 1, 10)

        return refused, removed, [v for v, _ in rows], second, await store.funnels(site), len(await store.goals(site))

    refused, removed, values, second, funnels, goals = run(work)
    assert (refused, removed) == (False, True)
    assert sorted(values) == [funnel_value(second.id, 1), funnel_value(second.id, 2)]
    assert funnels == [second] and goals == 2


def test_sites_carry_their_goals_and_funnels_and_lose_them_with_the_site(run: Any) -> None:  # noqa: F811
    async def work(store: Store) -> tuple[Any, ...]:
        site, bare = await _site(store), await _site(store, "bare.org")
        signup = await _event_goal(store, site, "signup")
        blog = await _page_goal(store, site, "blog", "/blog/*")
        funnel = await store.add_funnel(site, "read then sign up", [blog.id, signup.id], "visit", DAY)
        carried = {s.id: s.conversions for s in await store.sites()}
        updated = await store.update_site(site, "example.com", "Renamed", "UTC", ())
        await store.delete_site(site)
        after = await store.add_site("example.com", "again", "UTC", ())
        newer = await _event_goal(store, after.id, "signup")
        return site, bare, signup, blog, funnel, carried, updated.conversions, newer.id, await store.goals(site)

    site, bare, signup, blog, funnel, carried, updated, newer, left = run(work)
    assert carried[site].goals == (signup, blog) and carried[site].funnels == (funnel,)
    assert carried[site].goal(blog.id) == blog and carried[bare] == NO_CONVERSIONS
    assert updated == carried[site], "update_site answers with the site as sites() gives it"
    assert newer > blog.id, "a goal id is never handed out again"
    assert left == []


def test_a_schema_7_database_migrates_to_goals_and_funnels(tmp_path: Path) -> None:
    path = tmp_path / "schema7.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
        for version, sql in MIGRATIONS:
            if version <= 7:
                for statement in sql_statements(sql):
                    db.execute(statement)
                db.execute("INSERT INTO schema_version (version) VALUES (?)", (version,))
        db.execute(
            "INSERT INTO sites (website_id, domain, name, timezone, created_at) "
            "VALUES ('w', 'example.com', 'Example', 'UTC', '2026-01-01T00:00:00+00:00')"
        )

    async def work() -> tuple[Any, ...]:
        async with opened_store(for_database(path)) as store:
            goal = await store.add_goal(1, "signup", "event", "signup", "", "", "", DAY)
            page = await store.add_goal(1, "pricing", "page", "", "", "", "/pricing", DAY)
            funnel = await store.add_funnel(1, "f", [page.id, goal.id], "day", DAY)
            return [s.conversions.goals[0] for s in await store.sites()], funnel.steps

    assert asyncio.run(work()) == ([Goal(1, 1, "signup", "event", "signup", first_day=DAY)], (2, 1))
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT max(version) FROM schema_version").fetchone() == (LATEST,)
        assert {"goals", "funnels"} <= {row[0] for row in db.execute("SELECT name FROM sqlite_master")}

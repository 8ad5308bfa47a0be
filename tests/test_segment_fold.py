"""The segment privacy budget: once a site's day is closed, no segment cell under k visitors stays.

The store's fold runs on both stores (the same results), the SQLite file is read back as bytes
to show the folded pairs are gone from it and its WAL, the running app folds a closed day (and
not today) from housekeeping, also after a late write, and ``crumbless audit`` reports a small
cell of a closed day until it is folded.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from collector.aggregator import Batch
from collector.audit import audit
from collector.config import Settings, for_database
from collector.guard import OTHER
from collector.localtime import day_end, day_number, today
from collector.model import COUNTERS, FILTERED, PROP_SEPARATOR, SEGMENT_BY_KEY, segment_value
from collector.store import Row, Store, opened_store
from collector.store.periods import first_day
from collector.store.segments import DERIVED
from collector.zones import zone
from tests.conftest import Server
from tests.live_server import crumbless_command, crumbless_env
from tests.services import postgres_settings
from tests.support import plausible

K = 3
MONTH = date(2026, 3, 1)
D1 = day_number(MONTH)  # the day folded
D2 = D1 + 1  # a later day of the same month, not folded
LAST = day_number(date(2026, 3, 31))
UNIQUE = uuid.uuid4().hex[:12]


def name(what: str) -> str:
    """A value text found nowhere else in the file, so its bytes can be looked for."""
    return f"{what}-{UNIQUE}"


def counters(**given: int) -> list[int]:
    return [given.get(c, 0) for c in COUNTERS]


LONELY, ONLY, SHARED = f"/{name('lonely')}", f"/{name('only')}", f"/{name('shared')}"
COUNTRY, RARE, LATER = name("ZZ"), name("Rare"), f"/{name('later')}"
CELLS: dict[tuple[int, str, str], list[int]] = {
    (D1, "source>page", segment_value("Google", LONELY)): counters(visitors=1, pageviews=2),
    (D1, "source>page", segment_value("Google", "/big")): counters(visitors=5, pageviews=9),
    (D1, "source>page", segment_value("Google", OTHER)): counters(visitors=1, pageviews=1),
    (D1, "source>page", segment_value("Mastodon", ONLY)): counters(visitors=2, pageviews=2),
    (D1, "source>page", segment_value("Bing", SHARED)): counters(visitors=1, pageviews=1),
    (D2, "source>page", segment_value("Bing", SHARED)): counters(visitors=4, pageviews=4),
    (D2, "source>page", segment_value("Google", LATER)): counters(visitors=1, pageviews=1),
    (D1, "source>country", segment_value("Bing", COUNTRY)): counters(
        visitors=2, visits=2, pageviews=3, bounces=1, duration_s=40
    ),
    (D1, "source>country", segment_value("Bing", "DE")): counters(visitors=3, visits=3, pageviews=3, bounces=3),
    (D1, "source", "Bing"): counters(visitors=5, visits=5, pageviews=6, bounces=4, duration_s=40),
    (D1, "goal>source", segment_value("7", RARE)): counters(visitors=1, events=2),
    (D1, "goal>source", segment_value("7", "Google")): counters(visitors=4, events=4),
}
FOLDED = {LONELY, ONLY, COUNTRY, RARE}  # SHARED folds on D1 but its D2 cell keeps its text


def sqlite(request: pytest.FixtureRequest, path: Path) -> Settings:
    return for_database(path / "crumbless.db")


def postgresql(request: pytest.FixtureRequest, path: Path) -> Settings:
    return postgres_settings(request.getfixturevalue("postgres_url"), path)


IMPLEMENTATIONS = {"sqlite": sqlite, "postgresql": postgresql}


@pytest.fixture(params=sorted(IMPLEMENTATIONS))
def store_settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    return IMPLEMENTATIONS[request.param](request, tmp_path)


def run(settings: Settings, work: Callable[[Store], Awaitable[Any]]) -> Any:
    async def scenario() -> Any:
        async with opened_store(settings) as store:
            return await work(store)

    return asyncio.run(scenario())


async def planted(store: Store, cells: dict[tuple[int, str, str], list[int]] = CELLS) -> int:
    """A site with ``cells`` written as a flush writes them; returns its id."""
    site = await store.add_site("example.com", "Example", "UTC", [])
    batch = Batch()
    for (day, dim, value), row in cells.items():
        batch.daily[(site.id, day, dim, value)] = list(row)
    await store.write_counts(batch)
    return site.id


Rows = dict[tuple[int, str, str], Row]


async def stored(store: Store, site: int) -> Rows:
    return {(day, dim, value): row for day, dim, value, row in await store.daily_rows(site, D1, LAST)}


def pivot_sums(rows: Rows) -> dict[tuple[int, str, str], list[int]]:
    """Every counter summed per day, segment and pivot value: what a filter's list adds up to."""
    sums: dict[tuple[int, str, str], list[int]] = {}
    for (day, dim, value), row in rows.items():
        summed = sums.setdefault((day, dim, value.partition(PROP_SEPARATOR)[0]), [0] * len(COUNTERS))
        for i, c in enumerate(COUNTERS):
            summed[i] += row[c]
    return sums


async def listed(store: Store, site: int, dim: str, pivot: str, day: int = D1) -> dict[str, Row]:
    """One pivot value's list under a filter, as the dashboard reads it."""
    segment = SEGMENT_BY_KEY[dim]
    listing = FILTERED[(segment.pivot, segment.listed)]
    rows, _ = await store.breakdown(site, listing, day, day, 1000, within=pivot)
    return dict(rows)


async def month_and_days(store: Store, site: int, dim: str) -> tuple[dict[str, Row], dict[str, Row]]:
    """A segment's values over the whole month as ``monthly`` gives them, and summed from the days."""
    segment = SEGMENT_BY_KEY[dim]
    listing = FILTERED[(segment.pivot, segment.listed)]
    assert first_day(MONTH.year * 12 + MONTH.month - 1) == D1
    rows, _ = await store.breakdown(site, listing, D1, LAST, 1000)
    by_month = {text: {c: row.get(c, 0) for c in listing.counters} for text, row in rows}
    by_days: dict[str, Row] = {}
    for (_, key, value), row in (await stored(store, site)).items():
        if key == dim:
            summed = by_days.setdefault(value, dict.fromkeys(listing.counters, 0))
            for c in listing.counters:
                summed[c] += row[c]
    return by_month, {v: r for v, r in by_days.items() if r[listing.rank_counter] > 0}


def test_a_fold_moves_small_cells_into_their_pivots_other(store_settings: Settings) -> None:
    async def work(store: Store) -> None:
        site = await planted(store)
        before = await stored(store, site)
        countries = await listed(store, site, "source>country", "Bing")
        assert await store.fold_segments(site, D1, D1, K) == 5
        after = await stored(store, site)

        derived = {key for key in pivot_sums(before) if key[1] in DERIVED}
        assert {k: v for k, v in pivot_sums(after).items() if k not in derived} == {
            k: v for k, v in pivot_sums(before).items() if k not in derived
        }, "every filter's list sums to what it did"
        assert await listed(store, site, "source>country", "Bing") == {"DE": countries["DE"], OTHER: countries[COUNTRY]}
        small = {cell for cell, row in after.items() if row["visitors"] < K}
        assert small == {
            (D1, "source>page", segment_value("Google", OTHER)),  # an aggregate: it may stay small
            (D1, "source>page", segment_value("Mastodon", OTHER)),
            (D1, "source>page", segment_value("Bing", OTHER)),
            (D1, "goal>source", segment_value("7", OTHER)),
            (D2, "source>page", segment_value("Google", LATER)),  # a day not folded is left alone
        }
        assert after[(D1, "source>page", segment_value("Google", OTHER))] == {
            **dict.fromkeys(COUNTERS, 0),
            "visitors": 2,
            "pageviews": 3,
        }
        assert (D1, "source>country", segment_value("Bing", OTHER)) not in after, "a country list's is worked out"
        assert countries[COUNTRY] == {"visitors": 2, "visits": 2, "pageviews": 3, "bounces": 1}
        assert after[(D2, "source>page", segment_value("Bing", SHARED))]["visitors"] == 4
        for dim in ("source>page", "source>country", "goal>source"):
            by_month, by_days = await month_and_days(store, site, dim)
            assert by_month == by_days, f"{dim}: the month's roll-up is the sum of its days"
            assert not any(value.endswith(tuple(FOLDED)) for value in by_month)

        assert await store.fold_segments(site, D1, D1, K) == 0, "a fold is idempotent"
        assert await stored(store, site) == after
        assert await store.fold_segments(site, D2, D2, 1) == 0, "k = 1 keeps every cell"
        assert await store.fold_segments(site, D2, D2, K) == 1
        assert (D2, "source>page", segment_value("Google", LATER)) not in await stored(store, site)

    run(store_settings, work)


def test_a_pivot_value_too_small_to_segment_folds_whole_into_the_segments_other_other(
    store_settings: Settings,
) -> None:
    """A page seen by fewer than k visitors that day keeps no cell of its own, not even its
    ``(other)``: its cells go to the segment's ``(other)`` × ``(other)``, one row for the whole long tail."""
    tail = [f"/{name('tail')}-{i}" for i in range(3)]
    cells = {
        **{(D1, "page", page): counters(visitors=2, pageviews=2) for page in tail},
        **{(D1, "page>entry_page", segment_value(page, "/")): counters(visitors=2, pageviews=2) for page in tail},
        (D1, "page", "/big"): counters(visitors=9, pageviews=12),
        (D1, "page>entry_page", segment_value("/big", "/")): counters(visitors=7, pageviews=9),
        (D1, "page>entry_page", segment_value("/big", LONELY)): counters(visitors=2, pageviews=3),
    }

    async def work(store: Store) -> None:
        site = await planted(store, cells)
        assert await store.fold_segments(site, D1, D1, K) == 4
        after = {key: row for key, row in (await stored(store, site)).items() if key[1] == "page>entry_page"}
        assert {key[2]: (row["visitors"], row["pageviews"]) for key, row in after.items()} == {
            segment_value("/big", "/"): (7, 9),
            segment_value("/big", OTHER): (2, 3),
            segment_value(OTHER, OTHER): (6, 6),
        }
        by_month, by_days = await month_and_days(store, site, "page>entry_page")
        assert by_month == by_days

    run(store_settings, work)


def test_a_visitor_constant_list_keeps_no_other_cell_and_reads_it_from_the_pivots_row(
    store_settings: Settings,
) -> None:
    """Under a page, each visitor is in one country's cell (the country is part of the visitor
    hash), so the page's own row is what all its country cells hold: its list's ``(other)`` is the
    page's figures less the cells kept, exact for any range, with no row of its own on disk. The
    cells are country × page's, read the other way round: one row per pair, folded as that
    segment folds (small cells into the country's ``(other)`` page, small countries whole)."""
    cells = {
        (D1, "page", "/big"): counters(visitors=12, pageviews=15),
        (D1, "country>page", segment_value("DE", "/big")): counters(visitors=7, pageviews=9),
        (D1, "country>page", segment_value("DE", "/")): counters(visitors=5, pageviews=5),
        (D1, "country>page", segment_value(COUNTRY, "/big")): counters(visitors=2, pageviews=3),
        (D1, "country", "DE"): counters(visitors=12, pageviews=14),
        (D1, "country", COUNTRY): counters(visitors=2, pageviews=3),
        (D2, "page", "/big"): counters(visitors=4, pageviews=4),
        (D2, "country>page", segment_value("DE", "/big")): counters(visitors=4, pageviews=4),
        (D1, "page", LONELY): counters(visitors=1, pageviews=1),
        (D1, "country>page", segment_value("DE", LONELY)): counters(visitors=1, pageviews=1),
        (D1, "device>page", segment_value("desktop", "/big")): counters(visitors=12, pageviews=15),
        (D1, "source", "Bing"): counters(visitors=6, visits=6, pageviews=6),
        (D1, "source>device", segment_value("Bing", "mobile")): counters(visitors=4, visits=4, pageviews=4),
        (D1, "source>device", segment_value("Bing", "tablet")): counters(visitors=1, visits=1, pageviews=1),
    }

    async def work(store: Store) -> None:
        site = await planted(store, cells)
        assert await store.fold_segments(site, D1, D1, K) == 3
        kept = {key[1:] for key, row in (await stored(store, site)).items() if ">" in key[1] and key[0] == D1}
        assert kept == {
            ("country>page", segment_value("DE", "/big")),
            ("country>page", segment_value("DE", "/")),
            ("country>page", segment_value("DE", OTHER)),  # LONELY's
            ("country>page", segment_value(OTHER, OTHER)),  # the small country's
            ("device>page", segment_value("desktop", "/big")),
            ("source>device", segment_value("Bing", "mobile")),
        }, "no page × country row at all, and no (other) of a country or device list"
        # Visitors with no country (an address the country database does not know) are in it too.
        assert await listed(store, site, "page>country", "/big") == {
            "DE": {"visitors": 7, "pageviews": 9},
            OTHER: {"visitors": 5, "pageviews": 6},
        }
        assert await listed(store, site, "page>device", "/big") == {"desktop": {"visitors": 12, "pageviews": 15}}
        assert await listed(store, site, "page>country", LONELY) == {OTHER: {"visitors": 1, "pageviews": 1}}
        assert await listed(store, site, "page>country", OTHER) == {}, "no page was folded: nothing to show"
        assert await listed(store, site, "source>device", "Bing") == {
            "mobile": {"visitors": 4, "visits": 4, "pageviews": 4, "bounces": 0},
            OTHER: {"visitors": 2, "visits": 2, "pageviews": 2, "bounces": 0},
        }
        segment = SEGMENT_BY_KEY["page>country"]
        listing = FILTERED[(segment.pivot, segment.listed)]
        rows, matched = await store.breakdown(site, listing, D1, LAST, 1, 1, within="/big")
        assert (rows, matched) == ([(OTHER, {"visitors": 5, "pageviews": 6})], 2), "over both days, paged"
        rows, matched = await store.breakdown(site, listing, D1, LAST, 10, 0, "De", within="/big")
        assert (rows, matched) == ([("DE", {"visitors": 11, "pageviews": 13})], 1), "searched"

    run(store_settings, work)


def test_an_import_folds_the_closed_days_it_writes_in_its_transaction(store_settings: Settings) -> None:
    async def work(store: Store) -> None:
        site = await planted(store)
        imported = Batch()
        imported.daily[(site, D1, "total", "")] = counters(visitors=7, visits=7, pageviews=9)
        await store.add_import(site, "plausible export.zip", (D1, D2), imported, fold_through=D1, min_visitors=K)
        rows = await stored(store, site)
        assert not [
            cell for cell, row in rows.items() if cell[0] == D1 and row["visitors"] < K and OTHER not in cell[2]
        ]
        assert (D2, "source>page", segment_value("Google", LATER)) in rows, "a day after fold_through is left alone"
        assert rows[(D1, "total", "")]["visitors"] == 7

    run(store_settings, work)


def file_bytes(database: Path) -> bytes:
    wal = database.with_name(database.name + "-wal")
    return database.read_bytes() + (wal.read_bytes() if wal.exists() else b"")


def test_the_folded_pairs_are_gone_from_the_sqlite_file_and_its_wal(tmp_path: Path) -> None:
    settings = for_database(tmp_path / "crumbless.db")

    async def plant(store: Store) -> int:
        return await planted(store)

    site = run(settings, plant)
    written = file_bytes(settings.database)
    assert all(text.encode() in written for text in (*FOLDED, SHARED)), "the values were on disk before"

    async def fold(store: Store) -> int:
        return await store.fold_segments(site, D1, D1, K)

    assert run(settings, fold) == 5
    left = file_bytes(settings.database)
    assert [text for text in FOLDED if text.encode() in left] == []
    assert SHARED.encode() in left, "a value a later day still has keeps its text"


def test_housekeeping_folds_a_closed_day_and_not_today(server: Server) -> None:
    """The running app: real beacons, the real flusher and housekeeping, on the server's clock."""
    site, referrer = server.site.id, "https://news.ycombinator.com/item"
    lonely, popular, later = f"/{name('hn-lonely')}", "/popular", f"/{name('hn-today')}"

    def visit(path: str, peer: str) -> None:
        beacon = plausible("example.com", f"https://example.com{path}", r=referrer)
        assert server.post("/api/event", beacon, peer=peer).status_code == 202

    def pages(day: int) -> dict[str, int]:
        """The day's source × page cells: the page (or (other)) → visitors."""
        rows = server.rows()
        return {
            v.partition(PROP_SEPARATOR)[2]: r["visitors"]
            for (d, dim, v), r in rows.items()
            if (d, dim) == (day, "source>page")
        }

    for i, path in enumerate([lonely, popular, popular, popular]):
        visit(path, f"198.51.100.{i + 1}")
    counted = today(zone("UTC"), server.clock.now)
    assert pages(counted) == {lonely: 1, popular: 3}

    server.clock.advance(day_end(counted, zone("UTC")) + 5 - server.clock.now)
    server.call(server.state.housekeeping.tick)
    assert pages(counted) == {lonely: 1, popular: 3}, "the day's last flush may still be under way"

    server.clock.advance(60)
    visit(later, "198.51.100.9")
    server.flush()
    server.call(server.state.housekeeping.tick)
    assert pages(counted) == {OTHER: 1, popular: 3}
    assert pages(counted + 1) == {later: 1}, "today's small cells stay"

    # A late write into the folded day (a retried flush, a stop's spill file): folded at the next tick.
    late = segment_value("Lobsters", f"/{name('late')}")
    server.state.flusher.aggregator.add(site, counted, "source>page", late, COUNTERS.index("visitors"), 1)
    server.flush()
    assert pages(counted)[late.partition(PROP_SEPARATOR)[2]] == 1
    server.call(server.state.housekeeping.tick)
    assert (
        pages(counted) == {OTHER: 1, popular: 3}
        and server.rows()[(counted, "source>page", segment_value("Lobsters", OTHER))]["visitors"] == 1
    )


def cli_audit(env: dict[str, str], cwd: Path) -> tuple[int, dict[str, Any], str]:
    done = subprocess.run(
        [*crumbless_command(), "audit", "--json"], env=env, cwd=cwd, capture_output=True, text=True, timeout=120
    )
    assert done.stderr == "", done.stderr
    return done.returncode, json.loads(done.stdout), done.stdout


def test_the_audit_reports_a_small_cell_of_a_closed_day_until_it_is_folded(tmp_path: Path, geo_db: Path) -> None:
    data_dir = tmp_path / "data"
    env = crumbless_env(data_dir, geo_db)
    settings = for_database(data_dir / "crumbless.db")
    now = time.time()
    closed = today(zone("UTC"), now) - 3
    cells = {
        (closed, "page>country", segment_value("/pricing", COUNTRY)): counters(visitors=1, pageviews=1),
        (closed, "page>country", segment_value("/pricing", OTHER)): counters(visitors=1, pageviews=1),
        (closed + 2, "page>country", segment_value("/pricing", name("XY"))): counters(visitors=1, pageviews=1),
    }
    site = run(settings, lambda store: planted(store, cells))

    code, report, out = cli_audit(env, tmp_path)
    assert code == 1 and report["ok"] is False
    assert [f for f in report["findings"] if f["kind"] == "segment"] == report["findings"]
    assert [f["where"] for f in report["findings"]] == [f"daily (site={site}, dim=page>country, day={closed})"]
    assert "1 cell of example.com" in report["findings"][0]["detail"]
    assert COUNTRY not in out and "/pricing" not in out, "a finding never shows the value"

    assert run(settings, lambda store: store.fold_segments(site, closed, closed, K)) == 1
    code, report, _ = cli_audit(env, tmp_path)
    assert (code, report["ok"], report["findings"]) == (0, True, [])


def test_the_audit_reports_a_counter_table_with_two_value_columns(tmp_path: Path) -> None:
    settings = for_database(tmp_path / "crumbless.db")
    run(settings, lambda store: store.has_data(1))

    async def add_table(store: Store) -> None:
        def create(db: Any) -> None:
            db.execute(
                "CREATE TABLE pairs (site INTEGER, day INTEGER, value INTEGER, page_value INTEGER, visitors INTEGER)"
            )

        await store.execute_write_fn(create)  # type: ignore[attr-defined]

    run(settings, add_table)
    findings = [f for f in audit(settings).findings if f.where == "table pairs"]
    assert [f.detail for f in findings if "value columns" in f.detail] == [
        "a row of counters with 2 value columns (value, page_value) could combine more than two dimensions; "
        "Crumbless's rows carry one value (one dimension's, or a segment's pair)"
    ]

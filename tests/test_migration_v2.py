"""Counters survive a schema migration exactly: schema-3 data, migrated, reads as it did before.

``tests/data/schema3.sql`` holds the counter rows (``sites``, ``daily``, ``hourly``) that the
schema-3 counter code wrote for two sites over six weeks of varied traffic, and
``tests/data/schema3-stats.json`` what that code's ``crumbless stats --json`` printed for them,
both recorded at the commit named in the files (``tests/data/make_schema3_fixture.py`` tells
how). Here a schema-3 database is built from the frozen SQL of migrations 1–3 and the rows, the
current store opens it (and so migrates it to the latest version), and every recorded
``crumbless stats`` output must come out again, number for number, key for key.

This is the guard of the move to compact rows (value ids, one row per page and day, no all-zero
rows, monthly roll-ups): whatever the new layout, an operator's existing counters must read the
same after the upgrade. The fixture is never regenerated to make this pass: it is the old code's
answer. ``test_fixture_is_not_trivial`` keeps it from quietly losing the cases that matter.
"""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
from pathlib import Path
from typing import Any, Callable

import pytest

from collector.cli import main
from collector.config import OPTIONS
from collector.sites import Site
from collector.store.migrations import LATEST, MIGRATIONS
from collector.config import for_database
from collector.store import opened_store
from collector.store.sqlite import sql_statements

DATA = Path(__file__).resolve().parent / "data"
RECORDED: dict[str, Any] = json.loads((DATA / "schema3-stats.json").read_text(encoding="utf-8"))
CASES = [(domain, span) for domain, spans in RECORDED["stats"].items() for span in spans]

# The schema-3 layout the fixture's INSERTs are written for, as migrations 1–3 created it.
SCHEMA3_COLUMNS: dict[str, tuple[str, ...]] = {
    "sites": ("id", "website_id", "domain", "name", "timezone", "extra_domains", "created_at"),
    "daily": ("site", "dim", "day", "value", "visitors", "visits", "pageviews", "bounces", "duration_s",
              "events", "engaged_ms", "scroll_sum", "scroll_n"),
    "hourly": ("site", "hour", "visitors", "visits", "pageviews", "bounces", "duration_s"),
}
DAILY_COUNTERS = SCHEMA3_COLUMNS["daily"][4:]
DIMENSIONS = (
    "page", "entry_page", "exit_page", "source", "utm_source", "utm_medium", "utm_campaign",
    "country", "browser", "os", "device", "screen", "language", "event", "event_prop",
)
"""The lists schema 3 stored as dimensions of their own (entry and exit pages included)."""

DROPPED_FIGURES = {"page": "visits", "exit_page": "visitors"}
"""Figures schema 3 printed that were always 0 and meant nothing (a page's visits belong to entry
pages; exits never counted visitors): the data model v2 no longer prints them. Everything else
must be printed exactly as before."""


def without_empty_figures(stats: dict[str, Any]) -> dict[str, Any]:
    top = {
        dim: [{k: v for k, v in row.items() if k != DROPPED_FIGURES.get(dim)} for row in rows]
        for dim, rows in stats["top"].items()
    }
    for dim, figure in DROPPED_FIGURES.items():
        assert all(row[figure] == 0 for row in stats["top"][dim]), f"schema 3's {dim} {figure} were all 0"
    return {**stats, "top": top}
HOURLY_COUNTERS = SCHEMA3_COLUMNS["hourly"][2:]
OTHER = "(other)"


def build_schema3(path: Path) -> None:
    """A database as a schema-3 release left it: migrations 1–3 as the store applies them, then the rows."""
    frozen = MIGRATIONS[:3]
    assert [version for version, _ in frozen] == [1, 2, 3]
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")  # as the store's migrate() creates it
        for version, sql in frozen:
            db.execute("BEGIN")
            for statement in sql_statements(sql):
                db.execute(statement)
            db.execute("INSERT INTO schema_version (version) VALUES (?)", (version,))
            db.execute("COMMIT")
        for table, columns in SCHEMA3_COLUMNS.items():
            found = tuple(row[1] for row in db.execute(f"PRAGMA table_info({table})"))
            assert found == columns, (
                f"migrations 1-3 no longer create the schema-3 {table} table: released migrations are frozen SQL "
                f"(migration 1 builds its counter columns from aggregator.COLUMNS; freeze that text before changing them)"
            )
        db.execute("BEGIN")
        for statement in sql_statements((DATA / "schema3.sql").read_text(encoding="utf-8")):
            db.execute(statement)
        db.execute("COMMIT")
    finally:
        db.close()


def read(path: Path, sql: str, *params: object) -> list[tuple[Any, ...]]:
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return db.execute(sql, params).fetchall()
    finally:
        db.close()


class Migrated:
    """The fixture database after the current store opened it, and what it held before."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sites = read(path, "SELECT id, website_id, domain, name, timezone, extra_domains FROM sites ORDER BY id")
        self.hourly = {
            site: [(hour, dict(zip(HOURLY_COUNTERS, counters))) for hour, *counters in
                   read(path, f"SELECT hour, {', '.join(HOURLY_COUNTERS)} FROM hourly WHERE site = ? ORDER BY hour", site)]
            for site, *_ in self.sites
        }
        self.daily_totals = {
            site: [(day, dict(zip(DAILY_COUNTERS, counters))) for day, *counters in
                   read(path, f"SELECT day, {', '.join(DAILY_COUNTERS)} FROM daily WHERE site = ? AND dim = 'total' ORDER BY day", site)]
            for site, *_ in self.sites
        }
        asyncio.run(self._open())

    async def _open(self) -> None:
        async with opened_store(for_database(self.path)):  # migrates to the latest version
            pass


@pytest.fixture(scope="module")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> Migrated:
    path = tmp_path_factory.mktemp("schema3") / "crumbless.db"
    build_schema3(path)
    return Migrated(path)


@pytest.fixture
def stats_json(migrated: Migrated, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Callable[..., Any]:
    """``crumbless stats DOMAIN --json --limit 1000 --from FIRST --to LAST`` on the migrated database."""
    for option in OPTIONS:
        monkeypatch.delenv(option.name, raising=False)
    monkeypatch.setenv("CRUMBLESS_DATA_DIR", str(migrated.path.parent))
    monkeypatch.setenv("CRUMBLESS_DATABASE", str(migrated.path))

    def run(domain: str, first: str, last: str) -> Any:
        code = main(["stats", domain, "--json", "--limit", "1000", "--from", first, "--to", last])
        out, err = capsys.readouterr()
        assert code == 0, err
        return json.loads(out)

    return run


def test_fixture_is_not_trivial(tmp_path: Path) -> None:
    """The loaded schema-3 rows hold every case a new layout could get wrong."""
    path = tmp_path / "schema3.db"
    build_schema3(path)
    assert read(path, "SELECT max(version) FROM schema_version") == [(3,)]
    sites = read(path, "SELECT id, timezone FROM sites ORDER BY id")
    assert [site for site, _ in sites] == [1, 3], "two sites, with a gap in their ids (a deleted site)"
    assert len({zone for _, zone in sites}) == 2, "sites in different time zones"
    for site, _ in sites:
        dims = {dim for (dim,) in read(path, "SELECT DISTINCT dim FROM daily WHERE site = ?", site)}
        assert {*DIMENSIONS, "total", "dropped"} <= dims, f"site {site} lacks {set(DIMENSIONS) - dims}"
        assert read(path, "SELECT count(*) FROM hourly WHERE site = ?", site)[0][0] > 0
        all_zero = " AND ".join(f"{c} = 0" for c in DAILY_COUNTERS)
        assert read(path, f"SELECT count(*) FROM daily WHERE site = ? AND dim = 'exit_page' AND {all_zero}", site)[0][0] > 0, (
            "exit rows whose exit moved on in a later flush (all counters 0)"
        )
        assert read(path, "SELECT count(*) FROM daily WHERE site = ? AND value = ?", site, OTHER)[0][0] > 0
    assert read(path, "SELECT count(*) FROM daily WHERE dim = 'page' AND value = ?", OTHER)[0][0] > 0
    months = read(path, "SELECT count(DISTINCT strftime('%Y-%m', day * 86400, 'unixepoch')) FROM daily")[0][0]
    assert months >= 3, "data in several months, so month boundaries and closed months are crossed"
    values = [value for (value,) in read(path, "SELECT DISTINCT value FROM daily")]
    assert any("\x1f" in v for v in values), "event-prop values with their separator"
    assert any("'" in v for v in values) and any(not v.isascii() for v in values), "values that need quoting, and non-ASCII ones"
    # The recorded answers: each site has ranges with data and without, and every list has rows somewhere.
    for domain, spans in RECORDED["stats"].items():
        assert any(r["totals"]["pageviews"] for r in spans.values()) and not all(r["totals"]["pageviews"] for r in spans.values())
        assert any(r["dropped"] for r in spans.values())
        for dim in DIMENSIONS:
            assert any(r["top"][dim] for r in spans.values()), f"{domain}: no recorded {dim} rows"
    commit = re.search(r"recorded at commit (.+?) by tests/data", (DATA / "schema3.sql").read_text(encoding="utf-8"))
    assert commit is not None and commit.group(1) == RECORDED["commit"], "the two files come from one run"


def test_migration_reaches_the_latest_version_and_keeps_the_sites(migrated: Migrated) -> None:
    assert read(migrated.path, "SELECT max(version) FROM schema_version") == [(LATEST,)]

    async def sites() -> list[Site]:
        async with opened_store(for_database(migrated.path)) as store:
            return await store.sites()

    after = [(s.id, s.website_id, s.domain, s.name, s.timezone, ",".join(s.extra_domains)) for s in asyncio.run(sites())]
    assert after == migrated.sites


@pytest.mark.parametrize("domain, span", CASES, ids=[f"{d}:{s}" for d, s in CASES])
def test_stats_json_is_what_schema3_printed(stats_json: Callable[..., Any], domain: str, span: str) -> None:
    """Every figure, every row and its order; ``json.dumps`` also tells 0 from 0.0 and checks key order."""
    first, last = span.split("..")
    # Goals and funnels came with schema 8, after the recording: a migrated site has none defined.
    expected = {**without_empty_figures(RECORDED["stats"][domain][span]), "goals": [], "funnels": []}
    actual = stats_json(domain, first, last)
    assert actual == expected
    assert json.dumps(actual, ensure_ascii=False) == json.dumps(expected, ensure_ascii=False)


def test_charts_read_the_same_hours_and_days(migrated: Migrated) -> None:
    """``crumbless stats`` shows no chart: the hourly and daily series the dashboard draws are checked here."""

    async def series() -> tuple[dict[int, Any], dict[int, Any]]:
        async with opened_store(for_database(migrated.path)) as store:
            hourly, daily = {}, {}
            for site, *_ in migrated.sites:
                hours, days = migrated.hourly[site], migrated.daily_totals[site]
                hourly[site] = await store.hourly(site, hours[0][0], hours[-1][0])
                daily[site] = await store.daily_totals(site, days[0][0], days[-1][0])
            return hourly, daily

    hourly, daily = asyncio.run(series())
    assert hourly == migrated.hourly
    assert {site: [(day, {c: row[c] for c in DAILY_COUNTERS}) for day, row in days] for site, days in daily.items()} == migrated.daily_totals
    assert all(n == 0 for days in daily.values() for _, row in days for c, n in row.items() if c not in DAILY_COUNTERS)



"""Retention: ``CRUMBLESS_RETENTION_DAYS`` deletes aggregate rows older than the window, once a day.

The window is counted in each site's own local days, so two sites in different time zones can
lose a day at different moments; everything inside the window, today included, is kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from pathlib import Path

import pytest

from collector.aggregator import Aggregator
from collector.app import create_app
from collector.config import ConfigError, for_database
from collector.localtime import today
from collector.model import PAGEVIEWS
from collector.retention import Retention
from collector.sites import Site
from collector.store import opened_store
from tests.conftest import Server
from tests.support import add_site, make_settings

DAYS = 7


def seed(database: Path, site: Site, first_day: int, last_day: int) -> None:
    """A total row, a page and one hourly row per day, written as the flusher writes them."""
    counts = Aggregator()
    for day in range(first_day, last_day + 1):
        counts.add(site.id, day, "total", "", PAGEVIEWS, 1)
        counts.add(site.id, day, "page", f"/day-{day}", PAGEVIEWS, 1)
        counts.add_hourly(site.id, day * 24 + 12, PAGEVIEWS, 1)

    async def write() -> None:
        async with opened_store(for_database(database)) as store:
            await store.write_counts(counts.drain())

    asyncio.run(write())


def stored_days(database: Path, site: Site) -> tuple[list[int], list[int]]:
    with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as db:
        daily = [d for (d,) in db.execute("SELECT DISTINCT day FROM daily WHERE site = ? ORDER BY day", (site.id,))]
        hourly = [h // 24 for (h,) in db.execute("SELECT hour FROM hourly WHERE site = ? ORDER BY hour", (site.id,))]
    return daily, hourly


@pytest.fixture
def retained(server: Server) -> tuple[Server, Site]:
    """The server's housekeeping with retention, and a second site in Tokyo (a day ahead at 16:00 UTC)."""
    tokyo = add_site(server.settings, "tokyo.example", timezone="Asia/Tokyo")
    server.call(server.state.collector.sites.refresh)
    server.clock.now = server.clock.now - server.clock.now % 86400 + 16 * 3600  # 16:00 UTC = 01:00 in Tokyo
    server.state.housekeeping.retention = Retention(server.state.store, server.state.collector.sites, DAYS, server.clock)
    return server, tokyo


def test_rows_older_than_the_window_are_deleted_and_newer_kept(retained: tuple[Server, Site]) -> None:
    server, tokyo = retained
    database = server.settings.database
    for site in (server.site, tokyo):
        now_day = today(site.tz, server.clock.now)
        seed(database, site, now_day - 20, now_day)

    server.call(server.state.housekeeping.tick)

    for site in (server.site, tokyo):
        now_day = today(site.tz, server.clock.now)
        kept = list(range(now_day - DAYS + 1, now_day + 1))
        assert stored_days(database, site) == (kept, kept), site.domain
    assert today(tokyo.tz, server.clock.now) == today(server.site.tz, server.clock.now) + 1  # local days differ


def test_retention_runs_at_most_once_a_day(retained: tuple[Server, Site]) -> None:
    server, _ = retained
    retention = server.state.housekeeping.retention
    now_day = today(server.site.tz, server.clock.now)
    seed(server.settings.database, server.site, now_day - 10, now_day - 10)
    assert server.call(retention.delete_expired) == 3          # the total and page rows, and the hourly row

    seed(server.settings.database, server.site, now_day - 9, now_day - 9)
    server.clock.advance(3600)
    assert server.call(retention.delete_expired) == 0          # same UTC day: no second scan
    assert stored_days(server.settings.database, server.site)[0] == [now_day - 9]

    server.clock.advance(24 * 3600)
    assert server.call(retention.delete_expired) == 3
    assert stored_days(server.settings.database, server.site)[0] == []


def test_expired_values_leave_with_their_rows_and_the_cut_month_is_summed_again(retained: tuple[Server, Site]) -> None:
    """A path seen only on expired days must not outlive the retention period as text, and the
    month the window cuts must read only the days it keeps."""
    server, _ = retained
    database = server.settings.database
    now_day = today(server.site.tz, server.clock.now)
    seed(database, server.site, now_day - 40, now_day)
    server.call(server.state.housekeeping.tick)
    with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as db:
        texts = {text for (text,) in db.execute("SELECT value FROM dim_values WHERE site = ?", (server.site.id,))}
        month_pageviews = db.execute("SELECT sum(pageviews) FROM monthly WHERE site = ? AND dim = 0", (server.site.id,)).fetchone()[0]
    assert texts == {"", *(f"/day-{d}" for d in range(now_day - DAYS + 1, now_day + 1))}
    assert month_pageviews == DAYS, "the monthly rows sum exactly the days kept"
    assert all(f"/day-{now_day - 40}".encode() not in p.read_bytes() for p in database.parent.glob(database.name + "*"))


def test_zero_keeps_everything(server: Server) -> None:
    retention = Retention(server.state.store, server.state.collector.sites, 0, server.clock)
    now_day = today(server.site.tz, server.clock.now)
    seed(server.settings.database, server.site, now_day - 5000, now_day - 5000)
    assert server.call(retention.delete_expired) == 0
    assert stored_days(server.settings.database, server.site)[0] == [now_day - 5000]


@pytest.mark.parametrize("raw, days", [(None, 0), ("0", 0), ("30", 30), ("760", 760)])
def test_setting(tmp_path: Path, geo_db: Path, raw: str | None, days: int) -> None:
    overrides = {} if raw is None else {"retention_days": raw}
    assert make_settings(tmp_path, geo_db, **overrides).retention_days == days


@pytest.mark.parametrize("raw", ["-1", "thirty", "1.5"])
def test_bad_setting_names_the_variable(tmp_path: Path, geo_db: Path, raw: str) -> None:
    with pytest.raises(ConfigError, match="CRUMBLESS_RETENTION_DAYS"):
        make_settings(tmp_path, geo_db, retention_days=raw)


def test_the_app_runs_retention_from_housekeeping(tmp_path: Path, geo_db: Path) -> None:
    from starlette.testclient import TestClient

    settings = make_settings(tmp_path / "data", geo_db, retention_days="30")
    add_site(settings, "example.com")
    app = create_app(settings)
    with TestClient(app):
        retention = app.state.housekeeping.retention
        assert retention is not None and retention.days == 30

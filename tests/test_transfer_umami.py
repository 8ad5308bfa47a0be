"""``crumbless import umami`` against a real PostgreSQL holding Umami 3's tables.

The same generated stream is sent once as Umami beacons to a real ``crumbless serve`` process,
whose wall clock (tests/cluster.py) is set to each event's second before its
beacon goes out, and stored once as Umami would have stored it (``website_event`` joined to
``session``, properties in ``event_data``, with the DDL of Umami 3's prisma schema). After the
import the imported site's rows, hours and ``crumbless stats --json`` equal the live site's:
same visitors, visits, bounces, durations, pages, sources, UTM, countries, devices, events.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import httpx
import psycopg
import pytest

from collector.config import Settings
from collector.sites import Site
from tests.cluster import FrozenClock
from tests.live_server import EVERY_CELL_KEPT, LiveServer, clean_exit_codes, crumbless_command, crumbless_env, run_cli
from tests.support import add_site, daily_rows, make_settings
from tests.transfer_support import DOMAIN, EVERY_DIMENSION, Event, cli, stream

TIMEZONE = "Europe/Berlin"
WEBSITE = "3f0c2b4e-6f0a-4d39-9a53-1b8c0f7f2a11"
DAYS = 4
# Neither side folds small segment cells. The live collector's housekeeping would fold a day its
# fake clock has closed whenever a tick (every 15 s) falls inside the run, while the import folds
# only days closed by the real clock, which the stream's future days are not: so whether the two
# agreed would hang on the machine's speed. Folding an import is tests/test_segment_fold.py's.
UNFOLDED = {"access_log": "off", **EVERY_CELL_KEPT}


def next_june() -> int:
    """The UTC midnight of the next 1 June at least a day away.

    The live collector's fake clock must run ahead of the real one (tests/cluster.py), so the
    stream lies in the future; always June, so the site's zone is at summer time (UTC+2) in
    every run and no run meets a daylight-saving change the others do not.
    """
    now = datetime.now(UTC)
    year = now.year if (now.month, now.day) < (5, 31) else now.year + 1
    return int(datetime(year, 6, 1, tzinfo=UTC).timestamp())


START = next_june()
FIRST_DAY = datetime.fromtimestamp(START, ZoneInfo(TIMEZONE)).date()


# Umami 3's tables as its prisma/schema.prisma defines them (PostgreSQL provider).
UMAMI_SCHEMA = """
CREATE TABLE session (
    session_id uuid PRIMARY KEY,
    website_id uuid NOT NULL,
    browser varchar(20),
    os varchar(20),
    device varchar(20),
    screen varchar(11),
    language varchar(35),
    country char(2),
    region varchar(20),
    city varchar(50),
    distinct_id varchar(50),
    created_at timestamptz(6) DEFAULT now()
);
CREATE TABLE website_event (
    event_id uuid PRIMARY KEY,
    website_id uuid NOT NULL,
    session_id uuid NOT NULL,
    visit_id uuid NOT NULL,
    created_at timestamptz(6) DEFAULT now(),
    url_path varchar(500) NOT NULL,
    url_query varchar(500),
    utm_source varchar(255),
    utm_medium varchar(255),
    utm_campaign varchar(255),
    utm_content varchar(255),
    utm_term varchar(255),
    referrer_path varchar(500),
    referrer_query varchar(500),
    referrer_domain varchar(500),
    page_title varchar(500),
    gclid varchar(255),
    fbclid varchar(255),
    msclkid varchar(255),
    ttclid varchar(255),
    li_fat_id varchar(255),
    twclid varchar(255),
    event_type integer NOT NULL DEFAULT 1,
    event_name varchar(50),
    tag varchar(50),
    hostname varchar(100)
);
CREATE INDEX website_event_website_id_created_at_idx ON website_event (website_id, created_at);
CREATE INDEX website_event_session_id_idx ON website_event (session_id);
CREATE TABLE event_data (
    event_data_id uuid PRIMARY KEY,
    website_id uuid NOT NULL,
    website_event_id uuid NOT NULL,
    data_key varchar(500) NOT NULL,
    string_value varchar(500),
    number_value decimal(19, 4),
    date_value timestamptz(6),
    data_type integer NOT NULL,
    created_at timestamptz(6) DEFAULT now()
);
CREATE INDEX event_data_website_event_id_idx ON event_data (website_event_id);
"""


def store_in_umami(url: str, events: list[Event]) -> None:
    """The events as Umami 3 writes them: a session per person, a row per pageview or event."""
    sessions: dict[int, uuid.UUID] = {}
    with psycopg.connect(url) as db:
        db.execute(UMAMI_SCHEMA.encode())
        for event in events:
            person = event.person
            if person.number not in sessions:
                sessions[person.number] = uuid.uuid4()
                db.execute(
                    "INSERT INTO session (session_id, website_id, browser, os, device, screen, language, country, "
                    "region, city, created_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, to_timestamp(%s))",
                    (
                        sessions[person.number],
                        WEBSITE,
                        person.browser,
                        person.os,
                        person.device,
                        person.screen,
                        person.language,
                        person.country,
                        f"{person.country}-1",
                        "Somewhere",
                        event.ts,
                    ),
                )
            ref = urlsplit(event.referrer) if event.referrer else None
            tags = dict(part.split("=") for part in event.query.split("&")) if event.query else {}
            event_id = uuid.uuid4()
            db.execute(
                "INSERT INTO website_event (event_id, website_id, session_id, visit_id, created_at, url_path, "
                "url_query, utm_source, utm_medium, utm_campaign, referrer_path, referrer_query, referrer_domain, "
                "page_title, event_type, event_name, hostname) VALUES (%s, %s, %s, %s, to_timestamp(%s), %s, %s, %s, "
                "%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (
                    event_id,
                    WEBSITE,
                    sessions[person.number],
                    uuid.uuid4(),
                    event.ts,
                    event.path,
                    event.query or None,
                    tags.get("utm_source"),
                    tags.get("utm_medium"),
                    tags.get("utm_campaign"),
                    ref.path if ref else None,
                    ref.query or None if ref else None,
                    ref.hostname.removeprefix("www.") if ref and ref.hostname else None,
                    "T",
                    2 if event.kind == "event" else 1,
                    event.name or None,
                    DOMAIN,
                ),
            )
            for key, value in event.props.items():
                db.execute(
                    "INSERT INTO event_data (event_data_id, website_id, website_event_id, data_key, string_value, "
                    "data_type) VALUES (%s, %s, %s, %s, %s, 1)",
                    (uuid.uuid4(), WEBSITE, event_id, key, value),
                )


@dataclass
class Live:
    """A real ``crumbless serve`` for the site, on a wall clock the test sets."""

    settings: Settings
    site: Site
    clock: FrozenClock
    server: LiveServer


@pytest.fixture
def live(tmp_path: Path, geo_db: Path) -> Iterator[Live]:
    root = tmp_path / "live"
    root.mkdir()
    settings = make_settings(root / "data", geo_db)
    site = add_site(settings, DOMAIN, TIMEZONE)
    clock = FrozenClock(root)
    env = crumbless_env(settings.data_dir, geo_db, flush_interval="0.5", **UNFOLDED)
    clock.apply(env)
    server = LiveServer(env, root)
    server.start(timeout=60)
    try:
        yield Live(settings, site, clock, server)
    finally:
        server.kill()


def send_live(live: Live, events: list[Event]) -> None:
    """Each event as the Umami tracker sends it, at its own second, from its person's address
    (X-Forwarded-For, believed from loopback) and browser; then a graceful stop, whose final
    flush writes what the last flush interval had not."""
    with httpx.Client(base_url=live.server.base_url, trust_env=False, timeout=20) as http:
        for event in events:
            live.clock.set(event.ts)
            headers = {
                "Content-Type": "text/plain",
                "User-Agent": event.person.user_agent,
                "X-Forwarded-For": event.person.address,
            }
            answer = http.post("/api/send", content=event.umami_body(live.site.website_id), headers=headers)
            assert answer.status_code == 200, answer.text
    assert live.server.stop() in clean_exit_codes(signal.SIGTERM), live.server.stderr_text()


def local_day(ts: int) -> date:
    return datetime.fromtimestamp(ts, ZoneInfo(TIMEZONE)).date()


def shapes(events: list[Event]) -> set[str]:
    """Which of the counting rules' edges the stream reaches: a visit running over the site's
    midnight, a person's next visit of one day after 30 quiet minutes, a one-page visit."""
    found: set[str] = set()
    last: dict[int, Event] = {}
    pages_in_visit: dict[int, int] = {}
    for event in events:
        before = last.get(event.person.number)
        new_visit = before is None or event.ts - before.ts >= 1800
        if before is not None and not new_visit and local_day(before.ts) != local_day(event.ts):
            found.add("visit over midnight")
        if before is not None and new_visit and local_day(before.ts) == local_day(event.ts):
            found.add("second visit of a day")
        if new_visit:
            if pages_in_visit.get(event.person.number) == 1:
                found.add("bounce")
            pages_in_visit[event.person.number] = 0
        pages_in_visit[event.person.number] += event.kind == "pageview"
        if event.kind == "event" and event.props:
            found.add("event with properties")
        last[event.person.number] = event
    return found


def hourly_rows(database: Path) -> list[tuple[Any, ...]]:
    import sqlite3

    with sqlite3.connect(database) as db:
        return db.execute(
            "SELECT site, hour, visitors, visits, pageviews, bounces, duration_s FROM hourly ORDER BY 1, 2"
        ).fetchall()


def imported_site(tmp_path: Path, geo_db: Path) -> tuple[Settings, dict[str, str]]:
    settings = make_settings(tmp_path / "imported", geo_db)
    add_site(settings, DOMAIN, TIMEZONE)
    return settings, crumbless_env(settings.data_dir, geo_db, **UNFOLDED)


def stats(env: dict[str, str], cwd: Path) -> dict[str, Any]:
    """The whole stream's ``stats --json``: its last visits run into the day after the last one."""
    first, last = FIRST_DAY.isoformat(), (FIRST_DAY + timedelta(days=DAYS)).isoformat()
    out = run_cli(env, "stats", DOMAIN, "--from", first, "--to", last, "--json", "--limit", "200", cwd=cwd)
    result: dict[str, Any] = json.loads(out.stdout)
    result.pop("site")
    return result


def test_import_counts_what_live_beacons_count(live: Live, postgres_url: str, tmp_path: Path, geo_db: Path) -> None:
    events = stream(START, days=DAYS, visitors=60, engagement=False)
    assert any(e.query for e in events)
    assert shapes(events) == {"visit over midnight", "second visit of a day", "bounce", "event with properties"}
    send_live(live, events)
    store_in_umami(postgres_url, events)
    settings, env = imported_site(tmp_path, geo_db)

    dry = run_cli(
        env, "import", "umami", postgres_url, "--website", WEBSITE, "--site", DOMAIN, "--dry-run", cwd=tmp_path
    )
    assert dry.stdout.startswith("dry run, nothing written") and not daily_rows(settings.database)
    done = run_cli(env, "import", "umami", postgres_url, "--website", WEBSITE, "--site", DOMAIN, cwd=tmp_path).stdout
    assert f"read {len(events):,} Umami events" in done and "region and city" in done
    assert "no findings" in run_cli(env, "audit", cwd=tmp_path).stdout  # no session id or address came along

    live_rows, imported_rows = daily_rows(live.settings.database), daily_rows(settings.database)
    assert imported_rows == live_rows
    assert {dim for _, dim, _ in live_rows} >= EVERY_DIMENSION
    assert hourly_rows(settings.database) == hourly_rows(live.settings.database)
    live_env = crumbless_env(live.settings.data_dir, geo_db, **UNFOLDED)
    assert stats(env, tmp_path) == stats(live_env, tmp_path)
    totals = stats(env, tmp_path)["totals"]
    print(f"imported and live totals alike: {totals}")
    assert totals["visitors"] > 100 and totals["visits"] > totals["visitors"] and 0 < totals["bounce_rate"] < 100

    # the same import again is refused; replacing it changes nothing
    again = cli(env, tmp_path, "import", "umami", postgres_url, "--website", WEBSITE, "--site", DOMAIN)
    assert again.returncode == 1 and "already holds import #1 (umami website" in again.stderr
    run_cli(env, "import", "umami", postgres_url, "--website", WEBSITE, "--site", DOMAIN, "--replace", cwd=tmp_path)
    assert daily_rows(settings.database) == live_rows
    assert hourly_rows(settings.database) == hourly_rows(live.settings.database)


def test_bad_umami_databases_change_nothing(postgres_url: str, tmp_path: Path, geo_db: Path) -> None:
    settings, env = imported_site(tmp_path, geo_db)
    cases = [
        (postgres_url, WEBSITE, "has no website_event table: it is not a Umami v2 or v3 database"),
        ("postgresql://postgres@127.0.0.1:1/none", WEBSITE, "cannot read the Umami database"),
    ]
    for url, website, expected in cases:
        done = cli(env, tmp_path, "import", "umami", url, "--website", website, "--site", DOMAIN)
        assert done.returncode == 1 and expected in done.stderr and done.stderr.count("\n") == 1, done.stderr
    store_in_umami(postgres_url, [])
    done = cli(env, tmp_path, "import", "umami", postgres_url, "--website", "not-a-uuid", "--site", DOMAIN)
    assert done.returncode == 1 and "is not a Umami website id" in done.stderr
    assert not daily_rows(settings.database)


def fill_many(url: str, events: int) -> None:
    """A big website for timing: sessions and events generated by PostgreSQL itself."""
    sessions = max(events // 20, 1)
    with psycopg.connect(url) as db:
        db.execute(UMAMI_SCHEMA.encode())
        db.execute(
            "INSERT INTO session (session_id, website_id, browser, os, device, screen, language, country) "
            "SELECT md5('s' || n)::uuid, %s, (ARRAY['chrome','firefox','ios'])[1 + n %% 3], "
            "(ARRAY['Windows 10','Linux','iOS'])[1 + n %% 3], (ARRAY['desktop','laptop','mobile'])[1 + n %% 3], "
            "'1920x1080', 'en-US', (ARRAY['DE','FR','JP'])[1 + n %% 3] FROM generate_series(1, %s) AS n",
            (WEBSITE, sessions),
        )
        db.execute(
            "INSERT INTO website_event (event_id, website_id, session_id, visit_id, created_at, url_path, "
            "referrer_domain, event_type, event_name, hostname) "
            "SELECT md5('e' || n)::uuid, %s, md5('s' || (1 + n %% %s))::uuid, md5('v' || n)::uuid, "
            "timestamptz '2026-03-01 00:00:00+00' + (n * interval '1 second') * (2592000.0 / %s), "
            "'/page/' || (n %% 500), CASE WHEN n %% 9 = 0 THEN 'google.com' END, "
            "CASE WHEN n %% 17 = 0 THEN 2 ELSE 1 END, CASE WHEN n %% 17 = 0 THEN 'Signup' END, %s "
            "FROM generate_series(1, %s) AS n",
            (WEBSITE, sessions, events, DOMAIN, events),
        )


def test_import_speed_and_a_killed_import(postgres_url: str, tmp_path: Path, geo_db: Path) -> None:
    events = 200_000
    fill_many(postgres_url, events)
    settings, env = imported_site(tmp_path, geo_db)
    # killed mid-way, at a few points: the site stays empty and holds no import
    for delay in (1.0, 3.0):
        proc = subprocess.Popen(
            [*crumbless_command(), "import", "umami", postgres_url, "--website", WEBSITE, "--site", DOMAIN],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
        assert proc.returncode == -signal.SIGKILL, "finished before the kill: make the website bigger"
        assert not daily_rows(settings.database)
        assert "holds no imports" in run_cli(env, "import", "list", "--site", DOMAIN, cwd=tmp_path).stdout
    started = time.monotonic()
    done = run_cli(
        env, "import", "umami", postgres_url, "--website", WEBSITE, "--site", DOMAIN, cwd=tmp_path, timeout=600
    )
    took = time.monotonic() - started
    assert f"read {events:,} Umami events" in done.stdout
    assert daily_rows(settings.database)
    print(f"umami import: {events:,} events in {took:.1f} s, {events / took:,.0f} events/s (whole command)")
    print(done.stdout)


UMAMI_2_LAYOUT = """
ALTER TABLE website_event DROP COLUMN utm_source, DROP COLUMN utm_medium, DROP COLUMN utm_campaign,
    DROP COLUMN utm_content, DROP COLUMN utm_term, DROP COLUMN gclid, DROP COLUMN fbclid, DROP COLUMN msclkid,
    DROP COLUMN ttclid, DROP COLUMN li_fat_id, DROP COLUMN twclid, DROP COLUMN hostname;
ALTER TABLE session ADD COLUMN hostname varchar(100), DROP COLUMN distinct_id;
ALTER TABLE event_data RENAME COLUMN data_key TO event_key;
"""
"""Umami 2's older layout: no UTM or click-id columns (tags stay in url_query), the hostname on the
session, and event data keyed by ``event_key``, which this import does not read."""


def test_an_older_umami_2_layout_imports_all_but_event_data(
    live: Live, postgres_url: str, tmp_path: Path, geo_db: Path
) -> None:
    events = stream(START, days=2, visitors=30, engagement=False, seed=3)
    send_live(live, events)
    store_in_umami(postgres_url, events)
    with psycopg.connect(postgres_url) as db:
        db.execute(UMAMI_2_LAYOUT.encode())
    settings, env = imported_site(tmp_path, geo_db)
    done = run_cli(env, "import", "umami", postgres_url, "--website", WEBSITE, "--site", DOMAIN, cwd=tmp_path)
    assert "event properties (kept in a layout older than data_key)" in done.stdout
    live_rows, imported_rows = daily_rows(live.settings.database), daily_rows(settings.database)
    assert {k: v for k, v in imported_rows.items() if k[1] != "event_prop"} == {
        k: v for k, v in live_rows.items() if k[1] != "event_prop"
    }
    assert any(k[1] == "event_prop" for k in live_rows) and not any(k[1] == "event_prop" for k in imported_rows)

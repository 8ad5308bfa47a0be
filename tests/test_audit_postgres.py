"""``crumbless audit`` of a scale-out deployment: PostgreSQL's schema and rows, and Redis's persistence.

The same promise as for SQLite (``tests/test_audit.py``): a deployment that counted real traffic
audits clean, and each leak planted in the database (an address in a row, a table outside the
schema, a column made for addresses or hit times, a salts table) or a Redis that writes to disk
is reported where it is. The servers are private ones (``tests/services.py``).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import psycopg
import pytest

from collector.aggregator import Batch
from collector.audit import audit
from collector.audit.database import PostgresDatabase
from collector.audit.findings import ADDRESS, CONFIG, SALT, SCHEMA, UNCHECKED, Report
from collector.audit.schema import postgres_schema, reference
from collector.cli import main
from collector.config import OPTIONS, Settings
from collector.localtime import day_number
from collector.model import COUNTERS, VISITORS
from collector.store import opened_store
from tests.services import RedisServer, free_port, postgres_settings

DAY = day_number(__import__("datetime").date(2026, 6, 10))
ROW_ADDRESS = "192.0.2.41"
TABLE_ADDRESS = "198.51.100.42"


@pytest.fixture
def deployment(postgres_url: str, tmp_path: Path, geo_db: Path) -> Settings:
    """A PostgreSQL deployment that counted a little of everything: sites, pages, sources, events, accounts."""
    settings = postgres_settings(postgres_url, tmp_path / "data", geo_db=str(geo_db))

    async def fill() -> None:
        async with opened_store(settings) as store:
            site = (await store.add_site("example.com", "Example", "Europe/Berlin", ("www.example.com",))).id
            row = [0] * len(COUNTERS)
            row[VISITORS] = 2
            daily = {
                (site, DAY, dim, value): list(row)
                for dim, value in (
                    ("total", ""), ("page", "/docs/3.2.1/install"), ("source", "Google"), ("country", "DE"),
                    ("browser", "Firefox"), ("event_prop", "Signup\x1fplan\x1fpro"), ("utm_campaign", "spring"),
                )
            }  # fmt: skip
            await store.write_counts(Batch(daily=daily, hourly={(site, DAY * 24 + 10): [2, 2, 3, 0, 50]}))
            await store.add_user("ann", "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", "admin")
            ann = await store.user_by_name("ann")
            assert ann is not None
            await store.add_token(ann.id, "laptop", "ab" * 32)
            await store.set_share_token(site, "share-token-of-example")
            await store.end_session("cd" * 32, 2_000_000_000, 1_000_000_000)

    asyncio.run(fill())
    return settings


def plant(url: str, *statements: str) -> None:
    with psycopg.connect(url, autocommit=True) as db:
        for statement in statements:
            db.execute(statement.encode())


def where(report: Report, kind: str) -> list[str]:
    return [f.where for f in report.findings if f.kind == kind]


def test_the_known_schema_is_the_one_a_postgres_store_creates(postgres_url: str, tmp_path: Path) -> None:
    async def create() -> None:
        async with opened_store(postgres_settings(postgres_url, tmp_path)):
            pass

    asyncio.run(create())
    db = PostgresDatabase(postgres_url)
    try:
        live = db.schema()
        odd_types = list(db.suspicious_types())
    finally:
        db.close()
    known = postgres_schema(reference().schema)
    assert {n: t.columns for n, t in live.tables.items()} == {n: t.columns for n, t in known.tables.items()}
    assert {n: t.key for n, t in live.tables.items()} == {n: t.key for n, t in known.tables.items()}
    assert (live.triggers, live.views, odd_types) == (frozenset(), frozenset(), [])
    assert "salts" not in live.tables


def test_a_postgres_deployment_that_counted_audits_clean(deployment: Settings) -> None:
    report = audit(deployment)
    assert report.ok, report.findings
    assert report.tables >= 12 and report.rows >= 10
    assert any(path.startswith("PostgreSQL postgresql://") and "SQLite file" in why for path, why in report.skipped)


def test_leaks_planted_in_postgres_are_found_where_they_are(deployment: Settings) -> None:
    url = deployment.database_url
    plant(
        url,
        f"INSERT INTO dim_values (site, dim, value) VALUES (1, 1, '/visit/{ROW_ADDRESS}')",
        "CREATE TABLE visits (client_ip text, seen timestamptz, fingerprint bytea, n bigint)",
        f"INSERT INTO visits VALUES ('{TABLE_ADDRESS}', now(), '\\x0102', 9007199254740993)",
        "CREATE SCHEMA elsewhere",
        "CREATE TABLE elsewhere.peers (peer inet)",
        "INSERT INTO elsewhere.peers VALUES ('203.0.113.43')",
        "CREATE TABLE salts (site bigint, day integer, salt bytea)",
    )
    report = audit(deployment)
    addresses = {(f.where.split(" ")[0], f.address) for f in report.findings if f.kind == ADDRESS}
    assert ("dim_values.value", ROW_ADDRESS) in addresses
    assert ("visits.client_ip", TABLE_ADDRESS) in addresses
    assert ("elsewhere.peers.peer", "203.0.113.43") in addresses
    schema = where(report, SCHEMA)
    for expected in ("table visits", "visits.client_ip", "visits.seen", "visits.fingerprint", "table elsewhere.peers",
                     "elsewhere.peers.peer", "table salts"):  # fmt: skip
        assert any(w == expected or w.startswith(expected + " ") for w in schema), (expected, schema)
    details = {f.where.split(" ")[0]: f.detail for f in report.findings if f.kind == SCHEMA}
    assert "timestamp with time zone" in details["visits.seen"] and "inet" in details["elsewhere.peers.peer"]
    assert any("binary value" in f.detail for f in report.findings if f.where.startswith("visits.fingerprint ("))
    assert any("too large" in f.detail for f in report.findings if f.where.startswith("visits.n ("))
    assert where(report, SALT) == ["table salts"]


def test_an_unreachable_database_is_unchecked_and_its_password_is_not_shown(tmp_path: Path) -> None:
    url = f"postgresql://crumbless:not-for-your-eyes@127.0.0.1:{free_port()}/crumbless"
    report = audit(postgres_settings(url, tmp_path / "data"))
    assert [f.kind for f in report.findings] == [UNCHECKED]
    shown = repr(report.findings) + repr(report.skipped)
    assert "not-for-your-eyes" not in shown and "crumbless:***@" in shown


def test_a_redis_that_persists_is_a_finding(
    deployment: Settings, redis_server: RedisServer, redis_url: str, tmp_path: Path
) -> None:
    settings = postgres_settings(deployment.database_url, deployment.data_dir, redis_url=redis_url)
    assert audit(settings).ok
    try:
        assert redis_server.command("CONFIG", "SET", "save", '"3600 1"') == "+OK"
        assert redis_server.command("CONFIG", "SET", "appendonly", "yes") == "+OK"
        findings = audit(settings).findings
    finally:
        redis_server.command("CONFIG", "SET", "appendonly", "no")
        redis_server.command("CONFIG", "SET", "save", '""')
    assert sorted(f.where.rsplit(" ", 1)[1] for f in findings if f.kind == CONFIG) == ["appendonly", "save"]
    assert all(f.where.startswith("CRUMBLESS_REDIS_URL redis://127.0.0.1:") for f in findings)


def test_salts_in_redis_are_judged_as_the_sqlite_rows_are(deployment: Settings, redis_server: RedisServer, redis_url: str) -> None:
    """Only today's salt of an existing site, expiring; anything else outlived its day or was never Crumbless's."""
    import time

    from collector.localtime import today
    from collector.sites import Site
    from collector.state.redis import connect, salt_key
    from zoneinfo import ZoneInfo

    settings = postgres_settings(deployment.database_url, deployment.data_dir, redis_url=redis_url)
    site = 1
    now = time.time()
    day = today(ZoneInfo("Europe/Berlin"), now)

    async def current_salt() -> None:
        from collector.localtime import day_end

        state, salts = await connect(redis_url, 100, lambda s, d: day_end(d, ZoneInfo("Europe/Berlin")))
        await salts.save_salt(site, day, b"s" * 32)
        await state.close()

    asyncio.run(current_salt())
    assert audit(settings, now=now).ok, audit(settings, now=now).findings
    assert redis_server.command("SET", salt_key(site, day - 2), "old", "EX", "3600") == "+OK"
    assert redis_server.command("SET", salt_key(999, day), "orphan") == "+OK"
    assert redis_server.command("SET", "crumbless:s:strange", "x") == "+OK"
    found = sorted((f.where.rsplit(" ", 1)[1], f.detail) for f in audit(settings, now=now).findings if f.kind == SALT)
    assert [(key, problem.split(",")[0]) for key, problem in found] == [
        (salt_key(site, day - 2), f"the salt of example.com's local day {day - 2}"),
        (salt_key(999, day), "a salt that never expires"),
        (salt_key(999, day), "the salt of site 999"),
        ("crumbless:s:strange", "a key named like a salt that Crumbless did not write"),
    ]


def test_an_unreachable_redis_is_unchecked(deployment: Settings) -> None:
    settings = postgres_settings(
        deployment.database_url, deployment.data_dir, redis_url=f"redis://:secret@127.0.0.1:{free_port()}/0"
    )
    findings = audit(settings).findings
    assert [f.kind for f in findings] == [UNCHECKED] and "secret" not in repr(findings)


def test_the_command_audits_a_postgres_deployment(
    deployment: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for option in OPTIONS:
        monkeypatch.delenv(option.name, raising=False)
    monkeypatch.setenv("CRUMBLESS_DATA_DIR", str(deployment.data_dir))
    monkeypatch.setenv("CRUMBLESS_DATABASE_URL", deployment.database_url)
    assert main(["audit"]) == 0
    out = capsys.readouterr().out
    assert "no findings" in out and "Skipped PostgreSQL postgresql://" in out

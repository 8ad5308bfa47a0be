"""``crumbless audit --self-test``: plant known leaks in a scratch copy and show that each is found.

A clean audit is worth exactly as much as the audit's ability to see. This proves that ability
on the operator's own machine, with the installed code, on a copy of the operator's own
database: an address in a row, in an unexpected table, in a WAL page, in a log line and in a
stray file (in UTF-16), and in spellings browsers also accept (an integer in a source row, as
older versions stored it, and an integer URL host and dotted hex in a log line); an expired
salt row, a deleted salt's bytes, a dirty free page, and a proxy setting that trusts everyone.
The deployment is only read (a read-only SQLite backup of its database); everything planted
lives in a temporary directory that is deleted afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import os
import sqlite3
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from collector.audit import audit
from collector.audit.database import SQLiteDatabase
from collector.audit.findings import ADDRESS, CONFIG, RESIDUE, SALT, SCHEMA, Finding, Report
from collector.config import Settings, for_database
from collector.localtime import date_of, today
from collector.model import BY_KEY
from collector.store import opened_store
from collector.zones import zone as named_zone

# Documentation ranges (RFC 5737, RFC 3849): never anyone's real address.
ROW_ADDRESS = "192.0.2.101"
TABLE_ADDRESS = "198.51.100.102"
WAL_ADDRESS = "2001:db8::103"
LOG_ADDRESS = "::ffff:203.0.113.104"
STRAY_ADDRESS = "203.0.113.105"
SOURCE_INTEGER = str(int(ipaddress.IPv4Address("192.0.2.106")))
URL_INTEGER = str(int(ipaddress.IPv4Address("203.0.113.107")))
LOG_HEX = ".".join(f"0x{octet:02x}" for octet in ipaddress.IPv4Address("198.51.100.108").packed)
TRUST_EVERYONE = ipaddress.ip_network("0.0.0.0/0")


def _stored_value(db: sqlite3.Connection, site: int, dim: str, day: int, text: str) -> None:
    """A value as the collector stores one: its text once in ``dim_values``, a day's row for it."""
    code = BY_KEY[dim].code
    value = db.execute("INSERT INTO dim_values (site, dim, value) VALUES (?, ?, ?)", (site, code, text)).lastrowid
    db.execute("INSERT INTO daily (site, dim, day, value, pageviews) VALUES (?, ?, ?, ?, 1)", (site, code, day, value))


@dataclass(frozen=True)
class Plant:
    """A planted leak, and how to recognise the finding that must report it."""

    what: str
    kind: str
    where: str  # part of the finding's location
    address: str | None = None
    detail: str = ""  # part of the finding's detail

    def found_in(self, report: Report) -> Finding | None:
        return next((f for f in report.findings if self.matches(f)), None)

    def matches(self, finding: Finding) -> bool:
        return (
            finding.kind == self.kind
            and self.where in finding.where
            and self.detail in finding.detail
            and (self.address is None or finding.address == self.address)
        )


@dataclass(frozen=True)
class Outcome:
    plant: Plant
    finding: Finding | None


def self_test(settings: Settings, now: float | None = None) -> list[Outcome]:
    now = time.time() if now is None else now
    with tempfile.TemporaryDirectory(prefix="crumbless-self-test-") as tmp:
        root = Path(tmp)
        scratch = replace(
            settings,
            data_dir=root / "data",
            database=root / "data" / settings.database.name,
            geo_db=root / "data" / settings.geo_db.name,
            trusted_proxies=(*settings.trusted_proxies, TRUST_EVERYONE),
            database_url="",  # the plants go into a scratch SQLite file even where the store is PostgreSQL,
            redis_url="",  # which is never written to by an audit
        )
        copy_database(settings.database, scratch.database)
        plants = [_config_plant()]
        plants += _plant_at_rest(scratch.database, now)
        plants += _plant_files(scratch, root / "crumbless.log")
        with _plant_in_wal(scratch.database, now) as in_wal:
            report = audit(scratch, logs=[str(root / "crumbless.log")], now=now, keep=sys.maxsize)
        plants += in_wal
        return [Outcome(plant, _relative(plant.found_in(report), root)) for plant in plants]


def _relative(finding: Finding | None, root: Path) -> Finding | None:
    """Locations inside the scratch directory, which is gone once the test is over, shown relative to it."""
    return None if finding is None else replace(finding, where=finding.where.replace(f"{root}{os.sep}", ""))


def copy_database(source: Path, target: Path) -> None:
    """A consistent read-only backup of the deployment's database (or a new one), at the current schema."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if source.exists():
        original = SQLiteDatabase(source)
        copy = sqlite3.connect(target)
        try:
            original.db.backup(copy)
        finally:
            copy.close()
            original.close()
    asyncio.run(_migrate(target))


async def _migrate(path: Path) -> None:
    async with opened_store(for_database(path)):
        pass


def _config_plant() -> Plant:
    return Plant("a trusted-proxy range that trusts everyone", CONFIG, f"CRUMBLESS_TRUSTED_PROXIES {TRUST_EVERYONE}")


def _plant_at_rest(database: Path, now: float) -> list[Plant]:
    """Plants committed and checkpointed into the main database file."""
    db = sqlite3.connect(database, isolation_level=None)
    try:
        site, day = _site_and_day(db, now)
        expired = day - 2
        _stored_value(db, site, "page", day, f"/self-test/{ROW_ADDRESS}")
        _stored_value(db, site, "source", day, SOURCE_INTEGER)
        db.execute("CREATE TABLE self_test_visits (client_ip TEXT)")
        db.execute("INSERT INTO self_test_visits VALUES (?)", (TABLE_ADDRESS,))
        db.execute("INSERT INTO salts (site, day, salt) VALUES (?, ?, randomblob(32))", (site, expired))
        _leave_residue(db)
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        db.close()
    name = database.name
    when = date_of(expired).isoformat()
    return [
        Plant("an address in a row of a known table", ADDRESS, "dim_values.value", ROW_ADDRESS),
        Plant("the same row's bytes in the database file", ADDRESS, f"{name} @", ROW_ADDRESS),
        Plant("an address spelled as an integer in a source row", ADDRESS, "dim_values.value", SOURCE_INTEGER),
        Plant("a table outside the schema", SCHEMA, "table self_test_visits"),
        Plant("a column named like an identifier", SCHEMA, "self_test_visits.client_ip", detail="name"),
        Plant("an address in that table", ADDRESS, "self_test_visits.client_ip rowid", TABLE_ADDRESS),
        Plant("a salt older than its site's day", SALT, f"salts (site={site}, day={expired})"),
        Plant("that salt's bytes in the database file", SALT, f"{name} @", detail=when),
        Plant("deleted data left on a free page", RESIDUE, "free page"),
    ]


def _site_and_day(db: sqlite3.Connection, now: float) -> tuple[int, int]:
    """A site of the copy (one is added if there is none) and today in its time zone."""
    row = db.execute("SELECT id, timezone FROM sites ORDER BY id LIMIT 1").fetchone()
    if row is None:
        db.execute(
            "INSERT INTO sites (website_id, domain, name, timezone, created_at)"
            " VALUES (?, 'self-test.invalid', 'self-test', 'UTC', '')",
            (str(uuid.uuid4()),),
        )
        row = db.execute("SELECT id, timezone FROM sites ORDER BY id LIMIT 1").fetchone()
    return int(row[0]), today(named_zone(row[1]), now)


def _leave_residue(db: sqlite3.Connection) -> None:
    """Pages freed with secure_delete off keep their old bytes: what the free-page check looks for."""
    db.execute("PRAGMA secure_delete=OFF")
    db.execute("CREATE TABLE self_test_residue (x TEXT)")
    db.executemany("INSERT INTO self_test_residue VALUES (?)", [("deleted but not erased " * 40,)] * 64)
    db.execute("DROP TABLE self_test_residue")


def _plant_files(scratch: Settings, log: Path) -> list[Plant]:
    log.write_text(
        f"2026-01-01 00:00:00,000 INFO proxy: request from {LOG_ADDRESS}\n"
        f"2026-01-01 00:00:01,000 INFO proxy: referer http://{URL_INTEGER}/ via {LOG_HEX}\n"
    )
    stray = scratch.data_dir / "visitors-export.txt"
    stray.write_bytes(f"visitor {STRAY_ADDRESS}\r\n".encode("utf-16-le"))
    return [
        Plant("an IPv4-mapped IPv6 address in a log line", ADDRESS, f"{log.name} @", LOG_ADDRESS),
        Plant("an address as the integer host of a URL in a log line", ADDRESS, f"{log.name} @", URL_INTEGER),
        Plant("an address in dotted hex in a log line", ADDRESS, f"{log.name} @", LOG_HEX),
        Plant("an address in UTF-16 text in a stray file", ADDRESS, f"{stray.name} @", STRAY_ADDRESS),
    ]


@contextlib.contextmanager
def _plant_in_wal(database: Path, now: float) -> Iterator[list[Plant]]:
    """Rows written and deleted again, so they survive only as old page images in the WAL.

    The connection stays open while the audit runs: closing the last connection would
    checkpoint and delete the WAL, which is exactly what a crash or a copy does not do.
    """
    db = sqlite3.connect(database, isolation_level=None)
    try:
        db.execute("PRAGMA wal_autocheckpoint=0")
        db.execute("PRAGMA secure_delete=OFF")
        site, day = _site_and_day(db, now)
        deleted = day - 3
        _stored_value(db, site, "page", day, f"/wal/{WAL_ADDRESS}")
        db.execute("INSERT INTO salts (site, day, salt) VALUES (?, ?, randomblob(32))", (site, deleted))
        db.execute(
            "DELETE FROM daily WHERE value IN (SELECT id FROM dim_values WHERE value = ?)", (f"/wal/{WAL_ADDRESS}",)
        )
        db.execute("DELETE FROM dim_values WHERE value = ?", (f"/wal/{WAL_ADDRESS}",))
        db.execute("DELETE FROM salts WHERE site = ? AND day = ?", (site, deleted))
        wal = f"{database.name}-wal @"
        yield [
            Plant("an IPv6 address in a WAL page of a deleted row", ADDRESS, wal, WAL_ADDRESS),
            Plant("a deleted salt's bytes in the WAL", SALT, wal, detail=date_of(deleted).isoformat()),
        ]
    finally:
        db.close()

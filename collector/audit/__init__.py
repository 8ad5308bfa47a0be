"""``crumbless audit``: prove, on a live deployment, that no visitor identifier was written down.

The README promises that a visitor's IP address is used only while its request is handled.
This package turns that promise into a check an operator can run (and monitor) without reading
the code: it reads every byte Crumbless could have written and reports each place where an
address, an identifier-shaped column or value, an expired salt or deleted data still is.

One module per job:

* ``addresses`` — finding IP addresses in bytes, and the documented allow-list;
* ``files`` — which files are read (data directory, database and companions, named logs) and how;
* ``pending`` — the spill file a stop leaves: counter rows and nothing else;
* ``database`` — reading the database read-only (the SQLite file, or a PostgreSQL database);
* ``schema`` — the known schema, derived from the migrations, and identifier-like columns/values;
* ``salts`` and ``sqlitefile`` — salt age, carved salt records, and zeroed free pages;
* ``segments`` — the privacy budget: one value per row of counters, no small segment cell of a closed day;
* ``configuration`` — settings that would log identifiers or let clients forge them;
* ``persistence`` — a scale-out deployment's Redis, which must keep nothing on disk;
* ``report`` — the human and the JSON report; ``selftest`` — planting known leaks in a scratch copy.

What is checked, and what is not, is written down for operators in ``docs/privacy.md``.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence

from collector.audit.addresses import AddressRules
from collector.audit.configuration import check_settings
from collector.audit.database import PostgresDatabase, Schema, Sites, SQLiteDatabase
from collector.audit.files import scan_files, targets
from collector.audit.findings import MAX_FINDINGS, SALT, SCHEMA, UNCHECKED, Finding, Report
from collector.audit.pending import check_spill_files
from collector.audit.persistence import check_redis
from collector.audit.salts import CurrentSalts, carve_range, check_carved, check_free_pages, check_salt_rows
from collector.audit.schema import SQLITE_ONLY, check_rows, check_schema, postgres_schema, reference
from collector.audit.segments import check_small_cells, check_value_columns
from collector.config import Settings, redacted
from collector.referrers import Address

__all__ = ["Address", "Report", "audit"]


def audit(
    settings: Settings,
    logs: Sequence[str] = (),
    now: float | None = None,
    allow: frozenset[Address] = frozenset(),
    keep: int = MAX_FINDINGS,
) -> Report:
    """Audit the deployment ``settings`` describe, plus the named log files. Reads, never writes.

    ``now`` is the time salts are judged against; ``keep`` caps the findings kept in full.
    """
    now = time.time() if now is None else now
    report = Report(keep)
    rules = AddressRules(settings.host, allow)
    known = reference()
    check_settings(settings, known.secure_delete, report)
    sites: Sites = {}
    if settings.database_url:
        current = _check_postgres(settings, postgres_schema(known.schema), rules, now, report, sites)
    else:
        current = _check_database(settings, known.schema, rules, now, report, sites)
    if settings.redis_url:
        check_redis(settings.redis_url, sites, now, report)
    files = targets(settings.data_dir, settings.database, logs)
    carved = scan_files(files, rules, carve_range(now), report)
    check_spill_files(files, settings.data_dir, rules, report)
    check_carved(carved, current, report)
    return report


def _check_database(
    settings: Settings, known: Schema, rules: AddressRules, now: float, report: Report, sites: Sites
) -> CurrentSalts:
    """Schema, rows, salts and free pages; returns the salts that may exist (for judging carved
    copies), and fills ``sites`` (id → domain, time zone) for the checks of Redis's salts."""
    if not settings.database.exists():
        report.skip(str(settings.database), "no database yet, so nothing stored")
        return CurrentSalts()
    try:
        db = SQLiteDatabase(settings.database)
        try:
            live = db.schema()
            check_schema(live, known, report)
            check_value_columns(live, report)
            check_rows(db, live, rules, report)
            if "sites" in live.tables:
                sites.update(db.sites())
            if {"daily", "dim_values"} <= live.tables.keys():
                check_small_cells(db, sites, settings.segment_min_visitors, now, report)
            current = check_salt_rows(db, now, report) if {"salts", "sites"} <= live.tables.keys() else CurrentSalts()
        finally:
            db.close()
        check_free_pages(settings.database, report)
        return current
    except (sqlite3.Error, OSError) as exc:
        report.add(Finding(UNCHECKED, str(settings.database), f"could not be read as a SQLite database: {exc}"))
        return CurrentSalts()


def _check_postgres(
    settings: Settings, known: Schema, rules: AddressRules, now: float, report: Report, sites: Sites
) -> CurrentSalts:
    """Schema and rows, as for SQLite (and ``sites`` filled); the checks of the SQLite file itself do not apply."""
    import psycopg

    url = settings.database_url
    label = f"PostgreSQL {redacted(url)}"
    report.skip(label, (
        "its files are the server's: the byte-level checks (carved salts, free pages, WAL) are for the SQLite file; "
        "no salt is ever written to PostgreSQL, which the schema check confirms"
    ))  # fmt: skip
    try:
        db = PostgresDatabase(url)
        try:
            live = db.schema()
            check_schema(live, known, report)
            for table, column, problem in db.suspicious_types():
                report.add(Finding(SCHEMA, f"{table}.{column}", problem))
            for table in sorted(SQLITE_ONLY & live.tables.keys()):
                report.add(Finding(SALT, f"table {table}", (
                    "salts in PostgreSQL: its DELETE cannot erase them from the server's files and WAL; "
                    "in scale-out mode they belong in Redis alone"
                )))  # fmt: skip
            check_value_columns(live, report)
            check_rows(db, live, rules, report)
            if "sites" in live.tables:
                sites.update(db.sites())
            if {"daily", "dim_values"} <= live.tables.keys():
                check_small_cells(db, sites, settings.segment_min_visitors, now, report)
        finally:
            db.close()
    except psycopg.Error as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        report.add(Finding(UNCHECKED, label, f"could not be read: {reason}"))
    return CurrentSalts()

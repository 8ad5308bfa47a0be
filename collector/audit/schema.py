"""The database checks: nothing outside the known aggregate schema, nothing that looks like an identifier.

The known schema is not a list kept here: it is whatever ``open_store`` creates on an
empty scratch database by applying every migration in ``collector/store/migrations.py``. A new
migration (the dashboard's tables, say) is therefore known to the audit the moment it exists,
while a table or column added to a deployment by hand, by another program or by an old version
is reported.

Being known is not enough to be trusted, though: every column, known or not, is checked for a
name that suggests a visitor identifier, and every value for content that looks like one (an
address, a hash-sized integer, a hex digest, a binary value). The few known columns that
legitimately hold such content are listed in ``EXPLAINED`` with the reason, and documented in
``docs/privacy.md``; a migration adding another must add its reason here, on review.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from collector.audit.addresses import AddressRules, Sighting, sightings
from collector.audit.database import HASH_SIZED, Database, Row, Schema, SQLiteDatabase, Table
from collector.audit.files import record
from collector.audit.findings import SCHEMA, Finding, Report
from collector.config import for_database
from collector.referrers import host_address
from collector.store import opened_store

EXPLAINED: dict[tuple[str, str], str] = {
    ("users", "password_hash"): "an argon2id hash of a dashboard user's password (the operator's staff, not visitors)",
    (
        "users",
        "session_key",
    ): "a random key per dashboard user, replaced when the password changes, that binds dashboard sessions to it",
    ("api_tokens", "token_hash"): "a SHA-256 of a dashboard user's API token, so the token itself is never stored",
    (
        "ended_sessions",
        "nonce_sha256",
    ): "a SHA-256 of the random nonce of a dashboard session ended by logging out, kept until it would have expired",
    ("salts", "salt"): "today's random 32-byte salt per site; its age and erasure are checked separately",
    ("applied_batches", "id"): (
        "the random id (hex) of a flush a PostgreSQL deployment added, kept a day so that a retry is not added twice"
    ),
}

POSTGRES_ONLY = (Table("applied_batches", ("id", "day"), ("id",), rowid=False),)
"""Tables a PostgreSQL deployment has beyond SQLite's (``migrations.POSTGRES_SCHEMA``)."""
SQLITE_ONLY = frozenset({"salts"})
"""Tables a PostgreSQL deployment must not have: salts live in Redis there, since PostgreSQL
cannot erase a deleted row's bytes from its files and WAL."""

_IDENTIFIER_WORDS = frozenset(
    {
        "ip",
        "ips",
        "ipv4",
        "ipv6",
        "ipaddr",
        "ipaddress",
        "addr",
        "address",
        "ua",
        "useragent",
        "hash",
        "digest",
        "fingerprint",
        "fp",
        "session",
        "cookie",
        "mac",
        "imei",
        "idfa",
    }
)
_IDENTIFIER_PAIRS = frozenset(
    {("user", "agent"), ("visitor", "id"), ("visitor", "hash"), ("client", "id"), ("device", "id"), ("remote", "host")}
)
_HEX_DIGEST = re.compile(r"[0-9a-fA-F]{16}|[0-9a-fA-F]{32}|[0-9a-fA-F]{40}|[0-9a-fA-F]{64}")
_UNIT_SEPARATOR = "\x1f"  # event_prop values are name␟key␟value


@dataclass(frozen=True)
class Reference:
    """What a fresh store looks like: the known schema, and whether its connections erase securely."""

    schema: Schema
    secure_delete: bool


def reference() -> Reference:
    """Build a scratch database with the real store code and read it back.

    Runs its own event loop, so call it from synchronous code (the CLI command is synchronous).
    """
    with tempfile.TemporaryDirectory(prefix="crumbless-audit-") as scratch:
        path = Path(scratch) / "reference.db"
        secure = asyncio.run(_open_store(path))
        db = SQLiteDatabase(path)
        try:
            return Reference(db.schema(), secure)
        finally:
            db.close()


async def _open_store(path: Path) -> bool:
    async with opened_store(for_database(path)) as store:
        return await store.erases_securely()


def postgres_schema(known: Schema) -> Schema:
    """The schema a PostgreSQL store creates: SQLite's tables and columns, but for the salts,
    plus the batch ids. Derived rather than read from a scratch database, since the audit never
    writes to the operator's server (``tests/test_audit_postgres.py`` checks it against a real one)."""
    tables = {name: table for name, table in known.tables.items() if name not in SQLITE_ONLY}
    tables.update({table.name: table for table in POSTGRES_ONLY})
    return Schema(tables, known.triggers, known.views)


def identifier_like(column: str) -> bool:
    """Whether a column name suggests it holds a visitor identifier (``client_ip``, ``userAgent``…)."""
    words = [w.lower() for w in re.findall(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])", column)]
    return any(w in _IDENTIFIER_WORDS for w in words) or any(
        pair in _IDENTIFIER_PAIRS for pair in itertools.pairwise(words)
    )


def check_schema(live: Schema, known: Schema, report: Report) -> None:
    for name, table in sorted(live.tables.items()):
        expected = known.tables.get(name)
        if expected is None:
            report.add(
                Finding(SCHEMA, f"table {name}", "table is not in Crumbless's schema (collector/store/migrations.py)")
            )
        for column in table.columns:
            if expected is not None and column not in expected.columns:
                report.add(Finding(SCHEMA, f"{name}.{column}", "column is not in Crumbless's schema"))
            if identifier_like(column) and (name, column) not in EXPLAINED:
                report.add(Finding(SCHEMA, f"{name}.{column}", "column name suggests a visitor identifier"))
    for kind, names, known_names in (("trigger", live.triggers, known.triggers), ("view", live.views, known.views)):
        for name in sorted(names - known_names):
            report.add(Finding(SCHEMA, f"{kind} {name}", f"{kind} is not in Crumbless's schema"))


def check_rows(db: Database, schema: Schema, rules: AddressRules, report: Report) -> None:
    for table in schema.tables.values():
        report.tables += 1
        report.rows += db.count(table)
        for row in db.rows_to_inspect(table):
            for column, value in row.values.items():
                if (table.name, column) not in EXPLAINED:
                    judge_value(row, column, value, rules, report)


def judge_value(row: Row, column: str, value: Any, rules: AddressRules, report: Report) -> None:
    where = row.where(column)
    if isinstance(value, int) and abs(value) >= HASH_SIZED:
        report.add(Finding(SCHEMA, where, "integer too large for a counter, day or id (the size of a hash)"))
    if isinstance(value, bytes):
        report.add(Finding(SCHEMA, where, f"binary value of {len(value)} bytes (no aggregate column holds one)"))
    if isinstance(value, str) and any(_HEX_DIGEST.fullmatch(part) for part in value.split(_UNIT_SEPARATOR)):
        report.add(Finding(SCHEMA, where, "value looks like a hex digest (a hash or an identifier)"))
    if isinstance(value, (str, bytes)):
        data = value.encode("utf-8", "surrogatepass") if isinstance(value, str) else value
        host = _stored_host(row, column, value, rules)
        for sighting in [host] if host is not None else sightings(data, rules):
            record(sighting, where, report)


def _stored_host(row: Row, column: str, value: str | bytes, rules: AddressRules) -> Sighting | None:
    """A source named after a host is judged as that host, the way the referrer parser judges it:
    every spelling of an address a browser accepts counts there (``3325256769``, ``198.51.25666``,
    ``127.1``), not only those the scan finds in any text. So a value stored by an older version,
    before every spelling was folded into "(IP address)", is reported too."""
    if not isinstance(value, str) or not row.holds_a_host(column):
        return None
    address = host_address(value)
    if address is None:
        return None
    return Sighting(0, value, address, "text", rules.excuse(address, value.encode("utf-8", "surrogatepass"), b""))

"""The embedded store: one SQLite file in WAL mode.

One connection writes, on a thread of its own, and every write is one function run whole there
(``connections``); two more connections only read, so the dashboard's top lists run side by side
(SQLite runs a query without holding Python's lock) and never wait behind a flush. The
statements, and every method but the salts', are the ones the PostgreSQL store runs too
(``base``, ``queries``); what is SQLite's own is here.

``secure_delete`` is on for the writer so that deleted salts are overwritten, not merely unlinked
from the b-tree; after erasing them a TRUNCATE checkpoint empties the WAL, which may still hold
the old page images.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

from collector.store.base import SQLStore, Work
from collector.store.connections import Connection, Job, T, transaction
from collector.store.errors import StoreError
from collector.store.migrations import MIGRATIONS
from collector.store.queries import SQLITE, Queries

log = logging.getLogger("crumbless.store")

_WRITER_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA secure_delete=ON",
    "PRAGMA foreign_keys=ON",
    "PRAGMA busy_timeout=5000",
    "PRAGMA temp_store=MEMORY",  # a flush's staged rows (queries.STAGED) never reach a file
)
_READER_PRAGMAS = ("PRAGMA busy_timeout=5000", "PRAGMA query_only=ON")

READERS = 2


def sql_statements(script: str) -> Iterator[str]:
    """The statements of a script, split where SQLite says one is complete (not at every ";",
    which may stand inside a string literal or a trigger's body)."""
    pending = ""
    for piece in script.split(";"):
        pending += piece + ";"
        if sqlite3.complete_statement(pending):
            if pending.strip(" \t\r\n;"):
                yield pending.strip()
            pending = ""
    if pending.strip(" \t\r\n;"):
        raise StoreError(f"incomplete SQL statement in a migration: {pending.strip()[:60]!r}")


def migrate(db: sqlite3.Connection) -> None:
    """Apply pending migrations, each in a transaction of its own.

    SQLite's procedure for rebuilding a table: foreign keys off (a DROP TABLE would otherwise
    cascade to every referring row), checked before each commit instead.
    """
    db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
    current = db.execute("SELECT max(version) FROM schema_version").fetchone()[0] or 0
    pending = [(version, sql) for version, sql in MIGRATIONS if version > current]
    if not pending:
        return
    db.execute("PRAGMA foreign_keys=OFF")
    try:
        for version, sql in pending:

            def apply(db: sqlite3.Connection, version: int = version, sql: str = sql) -> None:
                for statement in sql_statements(sql):
                    db.execute(statement)
                broken = db.execute("PRAGMA foreign_key_check").fetchone()
                if broken is not None:
                    raise StoreError(f"migration {version} would leave a dangling reference in {broken[0]}")
                db.execute("INSERT INTO schema_version (version) VALUES (?)", (version,))

            transaction(db, apply)
            log.info("database migrated to schema version %d", version)
    finally:
        db.execute("PRAGMA foreign_keys=ON")


def truncate_wal(db: sqlite3.Connection) -> None:
    """Checkpoint and empty the WAL, retrying while a reader holds an old snapshot.

    It blocks only the writer's thread, for at most five seconds; readers finish sooner.
    """
    for _ in range(50):
        row = db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        if row is not None and row[0] == 0:
            return
        time.sleep(0.1)
    log.warning("could not empty the WAL after a deletion; it will be retried at the next one")


class SQLiteStore(SQLStore):
    """The shared store (``base``) on one writing and ``READERS`` reading connections, plus today's salts."""

    queries = Queries(SQLITE)
    duplicates = (sqlite3.IntegrityError,)
    site_tables = (*SQLStore.site_tables[:-1], ("salts", "site"), SQLStore.site_tables[-1])

    def __init__(self, path: Path) -> None:
        self.path = path
        self._writer: Connection | None = None
        self._all_readers: list[Connection] = []
        self._readers: asyncio.Queue[Connection] = asyncio.Queue()

    async def open(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._writer = Connection(self.path, (*_WRITER_PRAGMAS, self.queries.staging_table), "writer")
            await self._writer.open()
            await self._writer.run(migrate, "migration")
            for number in range(READERS):
                reader = Connection(self.path, _READER_PRAGMAS, f"reader-{number}")
                self._all_readers.append(reader)
                await reader.open()
                self._readers.put_nowait(reader)
        except (sqlite3.Error, OSError, StoreError) as exc:
            await self.close()
            raise StoreError(f"cannot open database {self.path}: {exc}") from None

    async def close(self) -> None:
        readers, self._all_readers = self._all_readers, []
        self._readers = asyncio.Queue()
        for reader in readers:
            await reader.close()
        if self._writer is not None:
            writer, self._writer = self._writer, None
            await writer.close()

    async def _write(self, job: Job[T], what: str) -> T:
        """Run ``job`` whole on the writing connection; writes run one at a time, in order."""
        if self._writer is None:
            raise StoreError("the store is not open")
        return await self._writer.run(job, what)

    async def _read(self, job: Job[T], what: str) -> T:
        async with self._reader() as reader:
            return await reader.run(job, what)

    async def _atomic(self, job: Work[T], what: str) -> T:
        return await self._write(lambda db: transaction(db, job), what)

    async def _erase(self, job: Work[T], what: str) -> T:
        """The deletion's transaction, then a TRUNCATE checkpoint: deleted rows' old page images
        (an erased salt's, expired text's) must not outlive them in the WAL."""

        def erase(db: sqlite3.Connection) -> T:
            deleted = transaction(db, job)
            if deleted:
                truncate_wal(db)
            return deleted

        return await self._write(erase, what)

    @contextlib.asynccontextmanager
    async def _reader(self) -> AsyncIterator[Connection]:
        if not self._all_readers:
            raise StoreError("the store is not open")
        reader = await self._readers.get()
        try:
            yield reader
        finally:
            self._readers.put_nowait(reader)

    async def execute_write_fn(self, job: Job[T]) -> T:
        """Run a function of the writing connection whole, as every write of the store does, for
        operator tools and tests that need a statement of their own (Datasette's name for it)."""
        return await self._write(job, getattr(job, "__name__", "write"))

    async def erases_securely(self) -> bool:
        """Whether the writer overwrites deleted content (what the audit's reference checks)."""
        row = await self._write(lambda db: db.execute("PRAGMA secure_delete").fetchone(), "pragma")
        return row is not None and row[0] == 1

    # ── salts ─────────────────────────────────────────────────────────────────────────────────

    async def load_salt(self, site: int, day: int) -> bytes | None:
        sql = "SELECT salt FROM salts WHERE site = ? AND day = ?"
        row = await self._read(lambda db: db.execute(sql, (site, day)).fetchone(), "load_salt")
        return None if row is None else bytes(row[0])

    async def save_salt(self, site: int, day: int, salt: bytes) -> bytes:
        def save(db: sqlite3.Connection) -> bytes:
            db.execute("INSERT OR IGNORE INTO salts (site, day, salt) VALUES (?, ?, ?)", (site, day, salt))
            stored = db.execute("SELECT salt FROM salts WHERE site = ? AND day = ?", (site, day)).fetchone()
            if stored is None:
                raise StoreError("salt was not stored")
            return bytes(stored[0])

        return await self._write(save, "save_salt")

    async def erase_salts(self, site: int, before_day: int) -> int:
        def erase(db: sqlite3.Connection) -> int:
            erased = int(db.execute("DELETE FROM salts WHERE site = ? AND day < ?", (site, before_day)).rowcount)
            if erased:
                truncate_wal(db)
            return erased

        return await self._write(erase, "erase_salts")

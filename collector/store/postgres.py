"""The shared store: PostgreSQL, which several collectors write into at once (scale-out mode).

Every store method is one function of a connection, run whole with its transaction inside on a
worker thread (as ``connections`` does for SQLite: no transaction spans an ``await``), over
synchronous psycopg connections from a small pool. The statements are the SQLite store's
(``queries``, ``base``); what is PostgreSQL's own is what several writers need:

* a flush records its batch id in ``applied_batches`` in the same transaction, so a batch whose
  commit landed but whose answer was lost (the server restarted during COMMIT) is skipped when
  the flusher retries it, instead of being added twice;
* a flush first takes a key-share lock on the rows of the sites it writes, and a site deletion or
  a retention run an exclusive one on its site: so a site deleted by one collector cannot get
  counters back from another's flush, and a retention run's re-summed month cannot miss a flush;
* every flush takes its row locks in key order (``Queries``), and a deadlock or serialization
  failure (SQLSTATE 40P01, 40001) is retried in the job a few times, since the job is the whole
  transaction.

Salts are never written here (there is no salts table): a DELETE cannot erase bytes from
PostgreSQL's files and WAL, so in scale-out mode salts live in Redis alone.

Every psycopg error becomes a ``StoreError`` whose message holds the error's class and SQLSTATE,
and the server's words only for connection and resource errors, which never quote data.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg import errors
from psycopg_pool import ConnectionPool, PoolTimeout

from collector.aggregator import Batch
from collector.config import redacted
from collector.localtime import day_number
from collector.store.base import SQLStore, T, Work
from collector.store.errors import StoreError
from collector.store.migrations import LATEST, POSTGRES_MIGRATIONS, POSTGRES_SCHEMA
from collector.store.queries import POSTGRES, Connection, Cursor, Queries

log = logging.getLogger("crumbless.store")

POOL_SIZE = 4
"""Connections (and worker threads) per collector: a flush, a retention run and two dashboard reads at once."""
CONNECT_TIMEOUT_S = 10
WAIT_S = 5
"""How long a job waits for a pooled connection before it fails (the flusher then retries later)."""
STATEMENT_TIMEOUT = "60s"
RETRIES = 5
KEPT_BATCH_DAYS = 1
"""Batch ids are kept for today and the day before: a retry comes seconds after its first try."""
PRUNE_EVERY_S = 3600.0
SCHEMA_LOCK = 0x6372756D626C6573
"""The advisory lock that lets one of several collectors starting at once create the schema."""

_RETRIED = (errors.DeadlockDetected, errors.SerializationFailure)
_SPOKEN_CLASSES = ("08", "42", "53", "57")
"""SQLSTATE classes whose messages are about the connection, the statement's text (not its
parameters), resources or the server: never data."""


def _problem(exc: psycopg.Error) -> str:
    """What a StoreError may say of a psycopg error: never a value from a statement or a row."""
    if isinstance(exc, PoolTimeout):
        return f"no database connection within {WAIT_S} s"
    sqlstate = exc.sqlstate
    if sqlstate is not None and not sqlstate.startswith(_SPOKEN_CLASSES):
        return f"{type(exc).__name__} (SQLSTATE {sqlstate})"
    words = exc.diag.message_primary if sqlstate is not None else None
    if not words:
        lines = str(exc).strip().splitlines()  # libpq's: connection refused, server closed the connection…
        words = lines[0] if lines else type(exc).__name__
    return words.strip()


class _Translated:
    """A psycopg connection that takes the shared statements' ``?`` placeholders."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn

    def execute(self, sql: str, params: Sequence[Any] = (), /) -> Cursor:
        return self.conn.execute(POSTGRES.translate(sql), params)


def _utc_day() -> int:
    return day_number(datetime.now(UTC).date())


def _migrate(conn: psycopg.Connection[Any]) -> None:
    """Create the schema if there is none, then apply PostgreSQL migrations past it, in one transaction."""
    conn.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
    row = conn.execute("SELECT to_regclass('schema_version') IS NOT NULL").fetchone()
    if row is None or not row[0]:
        version, script = POSTGRES_SCHEMA
        conn.execute(script.encode())  # no parameters: one simple-protocol query may hold many statements
        conn.execute("INSERT INTO schema_version (version) VALUES (%s)", (version,))
        log.info("database created at schema version %d", version)
    current = conn.execute("SELECT max(version) FROM schema_version").fetchone()
    version = int(current[0]) if current is not None and current[0] is not None else 0
    for number, script in POSTGRES_MIGRATIONS:
        if number > version:
            conn.execute(script.encode())
            conn.execute("INSERT INTO schema_version (version) VALUES (%s)", (number,))
            log.info("database migrated to schema version %d", number)
            version = number
    if version != LATEST:
        raise StoreError(f"the database is at schema version {version}, this Crumbless expects {LATEST}")


class PostgresStore(SQLStore):
    queries = Queries(POSTGRES)
    duplicates = (errors.UniqueViolation,)

    def __init__(self, url: str) -> None:
        self.url = url
        self._pool: ConnectionPool | None = None
        self._threads: ThreadPoolExecutor | None = None
        self._pruned = float("-inf")

    async def open(self) -> None:
        self._threads = ThreadPoolExecutor(max_workers=POOL_SIZE, thread_name_prefix="crumbless-postgres")
        self._pool = ConnectionPool(
            self.url,
            min_size=1,
            max_size=POOL_SIZE,
            open=False,
            name="crumbless",
            kwargs={"autocommit": True, "connect_timeout": CONNECT_TIMEOUT_S},
            configure=self._configure,
            check=ConnectionPool.check_connection,  # a connection the server dropped is replaced, not handed out
        )
        pool = self._pool
        try:
            await self._on_thread(self._try_connecting)
            await self._on_thread(lambda: pool.open(wait=True, timeout=CONNECT_TIMEOUT_S))
            await self._run(_migrate, "migration", translated=False)
        except (StoreError, psycopg.Error) as exc:
            await self.close()
            reason = _problem(exc) if isinstance(exc, psycopg.Error) else str(exc)
            raise StoreError(f"cannot open database {redacted(self.url)}: {reason}") from None

    def _try_connecting(self) -> None:
        """One connection first, whose error says why (refused, no such database, a wrong password):
        the pool would only say it got none in time."""
        psycopg.connect(self.url, connect_timeout=CONNECT_TIMEOUT_S).close()

    @staticmethod
    def _configure(conn: psycopg.Connection[Any]) -> None:
        """A statement stuck behind a lock fails (and is retried later) instead of holding its worker forever."""
        conn.execute(f"SET statement_timeout = '{STATEMENT_TIMEOUT}'")

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        threads, self._threads = self._threads, None
        if threads is None:
            return
        try:
            if pool is not None:
                await asyncio.get_running_loop().run_in_executor(threads, pool.close)
        finally:
            threads.shutdown(wait=True)

    async def _on_thread(self, call: Callable[[], T]) -> T:
        if self._threads is None:
            raise StoreError("the store is not open")
        return await asyncio.get_running_loop().run_in_executor(self._threads, call)

    async def _run(self, job: Callable[[Any], T], what: str, translated: bool = True) -> T:
        """``job`` whole in one transaction on a pooled connection, retried after a deadlock."""
        pool = self._pool
        if pool is None:
            raise StoreError("the store is not open")

        def call() -> T:
            for attempt in range(RETRIES):
                try:
                    with pool.connection(timeout=WAIT_S) as conn, conn.transaction():
                        return job(_Translated(conn) if translated else conn)
                except _RETRIED as exc:
                    if attempt == RETRIES - 1:
                        raise StoreError(f"{what} failed {RETRIES} times: {_problem(exc)}") from None
                    time.sleep(random.uniform(0.005, 0.02) * 2**attempt)  # apart, so they do not meet again
                except psycopg.Error as exc:
                    raise StoreError(f"{what} failed: {_problem(exc)}") from None
                except (ValueError, OverflowError) as exc:  # a value the driver cannot send, as for SQLite
                    raise StoreError(f"{what} failed: {type(exc).__name__}") from None
            raise AssertionError("unreachable")

        return await self._on_thread(call)

    async def _read(self, job: Work[T], what: str) -> T:
        return await self._run(job, what)

    async def _write(self, job: Work[T], what: str) -> T:
        return await self._run(job, what)

    async def _atomic(self, job: Work[T], what: str) -> T:
        return await self._run(job, what)

    async def execute_write_fn(self, job: Callable[[psycopg.Connection[Any]], T]) -> T:
        """Run a function of a psycopg connection in one transaction, for operator tools and tests."""
        return await self._run(job, getattr(job, "__name__", "write"), translated=False)

    async def erases_securely(self) -> bool:
        """False: PostgreSQL's DELETE leaves old row versions in its files and WAL until they are reused."""
        return False

    def _claim(self, db: Connection, batch: Batch, sites: Sequence[int]) -> bool:
        """Record the batch's id (False if an earlier try committed it) and hold its sites' rows."""
        if not sites:
            return False  # nothing to add, nothing to recognise later
        today = _utc_day()
        recorded = db.execute(
            "INSERT INTO applied_batches (id, day) VALUES (?, ?) ON CONFLICT DO NOTHING", (batch.id, today)
        )
        if recorded.rowcount == 0:
            log.info("a flush that had been written already (its commit's answer was lost) was not added again")
            return False
        db.execute("SELECT id FROM sites WHERE id = ANY(?) ORDER BY id FOR KEY SHARE", (list(sites),))
        if time.monotonic() - self._pruned > PRUNE_EVERY_S:
            self._pruned = time.monotonic()
            db.execute("DELETE FROM applied_batches WHERE day < ?", (today - KEPT_BATCH_DAYS,))
        return True

    def _hold_site(self, db: Connection, site: int) -> None:
        db.execute("SELECT id FROM sites WHERE id = ? FOR UPDATE", (site,))

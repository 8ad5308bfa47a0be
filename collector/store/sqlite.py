"""The embedded store: one SQLite file in WAL mode, via aiosqlite.

``secure_delete`` is on for every connection so that deleted salts are overwritten, not merely
unlinked from the b-tree; after erasing them a TRUNCATE checkpoint empties the WAL, which may
still hold the old page images.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sqlite3
import uuid
from datetime import datetime, timezone
from pathlib import Path
from functools import wraps
from typing import Any, AsyncIterator, Awaitable, Callable, Iterable, Iterator, ParamSpec, Sequence, TypeVar

import aiosqlite

from collector.aggregator import COLUMNS, HOURLY_COLUMNS, Batch
from collector.sites import Site
from collector.store import ApiToken, Row, StoreError, User, new_session_key
from collector.store.migrations import MIGRATIONS

log = logging.getLogger("crumbless.store")

_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA secure_delete=ON",
    "PRAGMA foreign_keys=ON",
    "PRAGMA busy_timeout=5000",
)


def _upsert(table: str, keys: tuple[str, ...], columns: tuple[str, ...]) -> str:
    """One statement that adds a whole batch, given as a JSON array of rows (``json_each``).

    Not ``executemany``: that binds each row's parameters in Python, on the connection's thread,
    which then needs the interpreter lock once per row. Under load the event loop holds that
    lock and hands it over every 5 ms at best, so a flush of 3,500 rows took 7 seconds under wrk
    (and slowed ingest while it lasted); as one JSON string it is one call, decoded by SQLite.
    """
    names = keys + columns
    picks = ", ".join(f"json_extract(value, '$[{i}]')" for i in range(len(names)))
    updates = ", ".join(f"{c} = {c} + excluded.{c}" for c in columns)
    # "WHERE true": SQLite's grammar needs it to tell the upsert's ON from a join's.
    return (
        f"INSERT INTO {table} ({', '.join(names)}) SELECT {picks} FROM json_each(?) WHERE true "
        f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {updates}"
    )


def _json_rows(rows: Iterable[tuple[tuple[Any, ...], Sequence[int]]]) -> str:
    """Values never hold NUL, which SQLite's JSON functions would cut at: urls.clean_text removes controls."""
    return json.dumps([[*key, *row] for key, row in rows if any(row)], ensure_ascii=False, separators=(",", ":"))


_DAILY_UPSERT = _upsert("daily", ("site", "day", "dim", "value"), COLUMNS)
_HOURLY_UPSERT = _upsert("hourly", ("site", "hour"), HOURLY_COLUMNS)
_SUMS = ", ".join(f"coalesce(sum({c}), 0) AS {c}" for c in COLUMNS)
_HOURLY_SUMS = ", ".join(HOURLY_COLUMNS)
_ORDER_BY = {"exit_page": "visits", "event": "events", "event_prop": "events", "dropped": "pageviews"}


P = ParamSpec("P")
T = TypeVar("T")


def _faults_as_store_errors(method: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
    """Callers handle one exception type whatever the database said; messages carry no hit data."""

    @wraps(method)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return await method(*args, **kwargs)
        except (sqlite3.Error, OSError, ValueError) as exc:
            raise StoreError(f"{method.__name__} failed: {exc}") from None

    return wrapper


class _TaskLock:
    """An asyncio lock that the task holding it may take again (store methods call one another).

    It guards the writing connection: a transaction spans several awaits, and any statement
    another task sent meanwhile would run inside it — committed or rolled back with somebody
    else's batch, or failing ("cannot start a transaction within a transaction", "database table
    is locked" for a WAL checkpoint). Reads need no turn: one inside a transaction is harmless.
    """

    def __init__(self) -> None:
        self._lock = asyncio.Lock()
        self._owner: asyncio.Task[Any] | None = None
        self._depth = 0

    async def __aenter__(self) -> None:
        task = asyncio.current_task()
        if self._owner is not task:
            await self._lock.acquire()
            self._owner = task
        self._depth += 1

    async def __aexit__(self, *exc: object) -> None:
        self._depth -= 1
        if self._depth == 0:
            self._owner = None
            self._lock.release()


def _writes(method: Callable[..., Awaitable[T]]) -> Callable[..., Awaitable[T]]:
    """Run a method that writes with the writing connection to itself (see ``_TaskLock``)."""

    @wraps(method)
    async def wrapper(self: "SQLiteStore", *args: Any, **kwargs: Any) -> T:
        async with self._writing:
            return await method(self, *args, **kwargs)

    return wrapper


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


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _user(row: sqlite3.Row) -> User:
    return User(row["id"], row["name"], row["role"], row["password_hash"], row["session_key"])


def _site(row: sqlite3.Row) -> Site:
    extra = tuple(d for d in row["extra_domains"].split(",") if d)
    return Site(row["id"], row["website_id"], row["domain"], row["name"], row["timezone"], extra)


# Connections that only read, for the dashboard: SQLite runs a query without holding Python's
# lock, so the overview's top lists run side by side on a multi-core machine, and none of them
# waits behind a flush on the writing connection (WAL lets readers and one writer work at once).
READERS = 2


class SQLiteStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._db: aiosqlite.Connection | None = None
        self._writing = _TaskLock()
        self._readers: asyncio.Queue[aiosqlite.Connection] = asyncio.Queue()
        self._all_readers: list[aiosqlite.Connection] = []

    @property
    def db(self) -> aiosqlite.Connection:
        if self._db is None:
            raise StoreError("the store is not open")
        return self._db

    async def open(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = await aiosqlite.connect(self.path, isolation_level=None)
            self._db.row_factory = sqlite3.Row
            for pragma in _PRAGMAS:
                await self._db.execute(pragma)
            await self._migrate()
            for _ in range(READERS):
                reader = await aiosqlite.connect(self.path, isolation_level=None)
                self._all_readers.append(reader)
                reader.row_factory = sqlite3.Row
                for pragma in ("PRAGMA busy_timeout=5000", "PRAGMA query_only=ON"):
                    await reader.execute(pragma)
                self._readers.put_nowait(reader)
        except (sqlite3.Error, OSError) as exc:
            await self.close()
            raise StoreError(f"cannot open database {self.path}: {exc}") from None

    async def close(self) -> None:
        readers, self._all_readers = self._all_readers, []
        self._readers = asyncio.Queue()
        for reader in readers:
            await reader.close()
        if self._db is not None:
            db, self._db = self._db, None
            await db.close()

    @contextlib.asynccontextmanager
    async def _reader(self) -> AsyncIterator[aiosqlite.Connection]:
        """A reading connection for one query; the writing one until the store is open."""
        if not self._all_readers:
            yield self.db
            return
        reader = await self._readers.get()
        try:
            yield reader
        finally:
            self._readers.put_nowait(reader)

    async def _migrate(self) -> None:
        db = self.db
        await db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        row = await (await db.execute("SELECT max(version) FROM schema_version")).fetchone()
        current = row[0] or 0
        pending = [(version, sql) for version, sql in MIGRATIONS if version > current]
        if not pending:
            return
        # SQLite's procedure for rebuilding a table: foreign keys off (a DROP TABLE would
        # otherwise cascade to every referring row), checked before the commit instead.
        await db.execute("PRAGMA foreign_keys=OFF")
        try:
            for version, sql in pending:
                await db.execute("BEGIN IMMEDIATE")
                try:
                    for statement in sql_statements(sql):
                        await db.execute(statement)
                    broken = await (await db.execute("PRAGMA foreign_key_check")).fetchone()
                    if broken is not None:
                        raise StoreError(f"migration {version} would leave a dangling reference in {broken[0]}")
                    await db.execute("INSERT INTO schema_version (version) VALUES (?)", (version,))
                    await db.execute("COMMIT")
                except BaseException:
                    await db.execute("ROLLBACK")
                    raise
                log.info("database migrated to schema version %d", version)
        finally:
            await db.execute("PRAGMA foreign_keys=ON")

    @_writes
    async def _transaction(self, work: Iterable[tuple[str, Sequence[Sequence[Any]]]]) -> None:
        db = self.db
        await db.execute("BEGIN IMMEDIATE")
        try:
            for sql, rows in work:
                await db.executemany(sql, rows)
            await db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                await db.execute("ROLLBACK")
            raise

    @_faults_as_store_errors
    async def write_counts(self, batch: Batch) -> None:
        daily, hourly = _json_rows(batch.daily.items()), _json_rows(batch.hourly.items())
        await self._transaction(((_DAILY_UPSERT, [(daily,)]), (_HOURLY_UPSERT, [(hourly,)])))

    @_faults_as_store_errors
    async def load_salt(self, site: int, day: int) -> bytes | None:
        cursor = await self.db.execute("SELECT salt FROM salts WHERE site = ? AND day = ?", (site, day))
        row = await cursor.fetchone()
        return None if row is None else bytes(row[0])

    @_faults_as_store_errors
    @_writes
    async def save_salt(self, site: int, day: int, salt: bytes) -> bytes:
        await self.db.execute("INSERT OR IGNORE INTO salts (site, day, salt) VALUES (?, ?, ?)", (site, day, salt))
        stored = await self.load_salt(site, day)
        if stored is None:
            raise StoreError("salt was not stored")
        return stored

    @_faults_as_store_errors
    @_writes
    async def erase_salts(self, site: int, before_day: int) -> int:
        cursor = await self.db.execute("DELETE FROM salts WHERE site = ? AND day < ?", (site, before_day))
        erased = cursor.rowcount
        if erased:
            await self._truncate_wal()
        return erased

    @_faults_as_store_errors
    @_writes
    async def delete_before(self, site: int, first_kept_day: int) -> int:
        """Two statements, not one transaction: each is idempotent, and retention simply runs again."""
        daily = await self.db.execute("DELETE FROM daily WHERE site = ? AND day < ?", (site, first_kept_day))
        hourly = await self.db.execute("DELETE FROM hourly WHERE site = ? AND hour < ?", (site, first_kept_day * 24))
        return daily.rowcount + hourly.rowcount

    @_writes
    async def _truncate_wal(self) -> None:
        """Checkpoint and empty the WAL, retrying while a reader holds an old snapshot."""
        for attempt in range(50):
            row = await (await self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")).fetchone()
            if row is not None and row[0] == 0:
                return
            await asyncio.sleep(0.1)
        log.warning("could not empty the WAL after erasing a salt; it will be retried at the next erase")

    @_faults_as_store_errors
    async def sites(self) -> list[Site]:
        cursor = await self.db.execute("SELECT * FROM sites ORDER BY id")
        return [_site(row) for row in await cursor.fetchall()]

    @_writes
    async def add_site(self, domain: str, name: str, timezone: str, extra_domains: Sequence[str]) -> Site:
        try:
            cursor = await self.db.execute(
                "INSERT INTO sites (website_id, domain, name, timezone, extra_domains, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                (str(uuid.uuid4()), domain, name, timezone, ",".join(extra_domains), _now()),
            )
        except sqlite3.IntegrityError:
            raise StoreError(f"a site for {domain} already exists") from None
        row = await (await self.db.execute("SELECT * FROM sites WHERE id = ?", (cursor.lastrowid,))).fetchone()
        return _site(row)

    @_writes
    async def add_user(self, name: str, password_hash: str, role: str) -> None:
        try:
            await self.db.execute(
                "INSERT INTO users (name, password_hash, role, created_at, session_key) VALUES (?, ?, ?, ?, ?)",
                (name, password_hash, role, _now(), new_session_key()),
            )
        except sqlite3.IntegrityError:
            raise StoreError(f"a user named {name} already exists") from None

    @_faults_as_store_errors
    async def user_count(self) -> int:
        row = await (await self.db.execute("SELECT count(*) FROM users")).fetchone()
        return int(row[0])

    @_faults_as_store_errors
    async def recent_values(self, since_day: int) -> list[tuple[int, int, str, str]]:
        cursor = await self.db.execute("SELECT site, day, dim, value FROM daily WHERE day >= ? AND dim != 'total'", (since_day,))
        return [tuple(row) for row in await cursor.fetchall()]  # type: ignore[misc]

    @_faults_as_store_errors
    async def totals(self, site: int, first_day: int, last_day: int) -> Row:
        async with self._reader() as db:
            cursor = await db.execute(
                f"SELECT {_SUMS} FROM daily WHERE site = ? AND dim = 'total' AND day BETWEEN ? AND ?",
                (site, first_day, last_day),
            )
            return dict(await cursor.fetchone())

    @_faults_as_store_errors
    async def hourly(self, site: int, first_hour: int, last_hour: int) -> list[tuple[int, Row]]:
        return await self._series(
            f"SELECT hour, {_HOURLY_SUMS} FROM hourly WHERE site = ? AND hour BETWEEN ? AND ? ORDER BY hour",
            (site, first_hour, last_hour),
            HOURLY_COLUMNS,
        )

    async def _series(self, sql: str, params: tuple[int, ...], columns: Sequence[str]) -> list[tuple[int, Row]]:
        """Rows of (hour or day, counters) from a query whose first column is the hour or day."""
        async with self._reader() as db:
            cursor = await db.execute(sql, params)
            return [(row[0], {c: row[c] for c in columns}) for row in await cursor.fetchall()]

    # ── the dashboard's read side ──────────────────────────────────────────────────────────────

    @_faults_as_store_errors
    async def daily_totals(self, site: int, first_day: int, last_day: int) -> list[tuple[int, Row]]:
        return await self._series(
            f"SELECT day, {', '.join(COLUMNS)} FROM daily WHERE site = ? AND dim = 'total' AND day BETWEEN ? AND ? ORDER BY day",
            (site, first_day, last_day),
            COLUMNS,
        )

    @_faults_as_store_errors
    async def breakdown(
        self, site: int, dim: str, first_day: int, last_day: int, limit: int, offset: int = 0, search: str = "",
        columns: Sequence[str] = COLUMNS,
    ) -> tuple[list[tuple[str, Row]], int]:
        """One GROUP BY over the primary-key prefix (site, dim, day); the window count gives the total.

        Only ``columns`` are summed (others come back as 0): over a year of a busy dimension the
        sums are most of the query's cost, and most lists need three or four of the nine.
        """
        async with self._reader() as db:
            order = _ORDER_BY.get(dim, "visitors")
            wanted = [c for c in COLUMNS if c in columns or c in (order, "pageviews")]
            sums = ", ".join(f"coalesce(sum({c}), 0) AS {c}" for c in wanted)
            match, params = ("AND instr(lower(value), ?) > 0", (search.lower(),)) if search else ("", ())
            where = f"FROM daily WHERE site = ? AND dim = ? AND day BETWEEN ? AND ? {match} GROUP BY value HAVING {order} > 0"
            cursor = await db.execute(
                f"SELECT value, {sums}, count(*) OVER () AS matched {where} "
                f"ORDER BY {order} DESC, pageviews DESC, value LIMIT ? OFFSET ?",
                (site, dim, first_day, last_day, *params, limit, offset),
            )
            rows = await cursor.fetchall()
            if rows:
                return [(row["value"], {c: row[c] if c in wanted else 0 for c in COLUMNS}) for row in rows], int(rows[0]["matched"])
            if not offset:
                return [], 0
            count = await (await db.execute(f"SELECT count(*) FROM (SELECT value, {sums} {where})", (site, dim, first_day, last_day, *params))).fetchone()
            return [], int(count[0])

    @_faults_as_store_errors
    async def has_data(self, site: int) -> bool:
        cursor = await self.db.execute("SELECT 1 FROM daily WHERE site = ? AND dim = 'total' LIMIT 1", (site,))
        return await cursor.fetchone() is not None

    # ── sites, users, grants, tokens, share links ──────────────────────────────────────────────

    @_writes
    async def update_site(self, site: int, domain: str, name: str, timezone: str, extra_domains: Sequence[str]) -> Site:
        try:
            await self.db.execute(
                "UPDATE sites SET domain = ?, name = ?, timezone = ?, extra_domains = ? WHERE id = ?",
                (domain, name, timezone, ",".join(extra_domains), site),
            )
        except sqlite3.IntegrityError:
            raise StoreError(f"a site for {domain} already exists") from None
        row = await (await self.db.execute("SELECT * FROM sites WHERE id = ?", (site,))).fetchone()
        if row is None:
            raise StoreError("no such site")
        return _site(row)

    @_faults_as_store_errors
    @_writes
    async def delete_site(self, site: int) -> None:
        """Idempotent, so a caller can repeat it after a last flush to catch counters still in flight."""
        await self._transaction(
            (f"DELETE FROM {table} WHERE {key} = ?", [(site,)])
            for table, key in (("daily", "site"), ("hourly", "site"), ("salts", "site"), ("grants", "site"), ("share_links", "site"), ("sites", "id"))
        )
        await self._truncate_wal()  # the deleted salt's old page images must not outlive it in the WAL

    @_faults_as_store_errors
    async def users(self) -> list[User]:
        cursor = await self.db.execute("SELECT * FROM users ORDER BY name")
        return [_user(row) for row in await cursor.fetchall()]

    @_faults_as_store_errors
    async def user_by_name(self, name: str) -> User | None:
        row = await (await self.db.execute("SELECT * FROM users WHERE name = ?", (name,))).fetchone()
        return None if row is None else _user(row)

    @_faults_as_store_errors
    async def user_by_id(self, user: int) -> User | None:
        row = await (await self.db.execute("SELECT * FROM users WHERE id = ?", (user,))).fetchone()
        return None if row is None else _user(row)

    @_faults_as_store_errors
    @_writes
    async def set_password(self, user: int, password_hash: str) -> None:
        await self.db.execute(
            "UPDATE users SET password_hash = ?, session_key = ? WHERE id = ?", (password_hash, new_session_key(), user)
        )

    @_faults_as_store_errors
    @_writes
    async def set_role(self, user: int, role: str) -> None:
        await self.db.execute("UPDATE users SET role = ? WHERE id = ?", (role, user))

    @_faults_as_store_errors
    @_writes
    async def delete_user(self, user: int) -> None:
        await self.db.execute("DELETE FROM users WHERE id = ?", (user,))

    @_faults_as_store_errors
    async def grants(self, user: int) -> set[int]:
        cursor = await self.db.execute("SELECT site FROM grants WHERE user = ?", (user,))
        return {int(row[0]) for row in await cursor.fetchall()}

    @_faults_as_store_errors
    async def set_grants(self, user: int, sites: Sequence[int]) -> None:
        await self._transaction(
            (("DELETE FROM grants WHERE user = ?", [(user,)]), ("INSERT INTO grants (user, site) VALUES (?, ?)", [(user, s) for s in sites]))
        )

    @_faults_as_store_errors
    @_writes
    async def add_token(self, user: int, name: str, token_hash: str) -> ApiToken:
        created = _now()
        cursor = await self.db.execute(
            "INSERT INTO api_tokens (user, name, token_hash, created_at) VALUES (?, ?, ?, ?)", (user, name, token_hash, created)
        )
        return ApiToken(int(cursor.lastrowid or 0), user, name, created)

    @_faults_as_store_errors
    async def tokens(self, user: int) -> list[ApiToken]:
        cursor = await self.db.execute("SELECT id, user, name, created_at FROM api_tokens WHERE user = ? ORDER BY id", (user,))
        return [ApiToken(row["id"], row["user"], row["name"], row["created_at"]) for row in await cursor.fetchall()]

    @_faults_as_store_errors
    async def token_user(self, token_hash: str) -> User | None:
        cursor = await self.db.execute(
            "SELECT users.* FROM api_tokens JOIN users ON users.id = api_tokens.user WHERE token_hash = ?", (token_hash,)
        )
        row = await cursor.fetchone()
        return None if row is None else _user(row)

    @_faults_as_store_errors
    @_writes
    async def delete_token(self, user: int, token: int) -> bool:
        cursor = await self.db.execute("DELETE FROM api_tokens WHERE id = ? AND user = ?", (token, user))
        return cursor.rowcount > 0

    @_faults_as_store_errors
    async def end_session(self, nonce_sha256: str, expires: int, now: int) -> None:
        await self._transaction(
            (
                ("DELETE FROM ended_sessions WHERE expires < ?", [(now,)]),
                ("INSERT OR IGNORE INTO ended_sessions (nonce_sha256, expires) VALUES (?, ?)", [(nonce_sha256, expires)]),
            )
        )

    @_faults_as_store_errors
    async def session_ended(self, nonce_sha256: str) -> bool:
        row = await (await self.db.execute("SELECT 1 FROM ended_sessions WHERE nonce_sha256 = ?", (nonce_sha256,))).fetchone()
        return row is not None

    @_faults_as_store_errors
    async def share_token(self, site: int) -> str | None:
        row = await (await self.db.execute("SELECT token FROM share_links WHERE site = ?", (site,))).fetchone()
        return None if row is None else str(row[0])

    @_faults_as_store_errors
    @_writes
    async def set_share_token(self, site: int, token: str | None) -> None:
        if token is None:
            await self.db.execute("DELETE FROM share_links WHERE site = ?", (site,))
        else:
            await self.db.execute(
                "INSERT INTO share_links (site, token, created_at) VALUES (?, ?, ?) "
                "ON CONFLICT (site) DO UPDATE SET token = excluded.token, created_at = excluded.created_at",
                (site, token, _now()),
            )

    @_faults_as_store_errors
    async def site_by_share_token(self, token: str) -> int | None:
        row = await (await self.db.execute("SELECT site FROM share_links WHERE token = ?", (token,))).fetchone()
        return None if row is None else int(row[0])

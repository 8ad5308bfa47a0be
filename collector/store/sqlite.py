"""The embedded store: one SQLite file in WAL mode.

One connection writes, on a thread of its own, and every write is one function run whole there
(``connections``); two more connections only read, so the dashboard's top lists run side by side
(SQLite runs a query without holding Python's lock) and never wait behind a flush.

``secure_delete`` is on for the writer so that deleted salts are overwritten, not merely unlinked
from the b-tree; after erasing them a TRUNCATE checkpoint empties the WAL, which may still hold
the old page images.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import sqlite3
import time
import uuid
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from collector.aggregator import Batch
from collector.model import BY_CODE, BY_KEY, COUNTERS, HOURLY_COUNTERS, RANKED, TOTAL, TopList
from collector.sites import Site
from collector.store import ApiToken, Row, User, new_session_key
from collector.store.connections import Connection, Job, T, in_transaction, transaction
from collector.store.errors import StoreError
from collector.store.migrations import MIGRATIONS
from collector.store.periods import first_day, month_of, split

log = logging.getLogger("crumbless.store")

_WRITER_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA secure_delete=ON",
    "PRAGMA foreign_keys=ON",
    "PRAGMA busy_timeout=5000",
)
_READER_PRAGMAS = ("PRAGMA busy_timeout=5000", "PRAGMA query_only=ON")

READERS = 2


def _json(rows: Iterable[Sequence[Any]]) -> str:
    """A batch as one JSON array, which one statement reads with ``json_each``.

    Not ``executemany``: that binds each row's parameters in Python, on the connection's thread,
    which then needs the interpreter lock once per row. Under load the event loop holds that
    lock and hands it over every 5 ms at best, so a flush of 3,500 rows took 7 seconds under wrk
    (and slowed ingest while it lasted); as one JSON string it is one call, decoded by SQLite.
    Values never hold NUL, which SQLite's JSON functions would cut at: urls.clean_text removes controls.
    """
    return json.dumps(list(rows), ensure_ascii=False, separators=(",", ":"))


def _picked(names: Sequence[str]) -> str:
    return ", ".join(f"json_extract(value, '$[{i}]') AS {name}" for i, name in enumerate(names))


def _added(columns: Sequence[str]) -> str:
    """An upsert's update: every counter adds the new row's to the stored one."""
    return ", ".join(f"{c} = {c} + excluded.{c}" for c in columns)


_COUNTERS = ", ".join(COUNTERS)
_ALL_ZERO = " AND ".join(f"{c} = 0" for c in COUNTERS)


def _counts_upsert(table: str, period: str) -> str:
    """Add a batch of [site, dim, period, text, *counters] to ``table``, values looked up by text.

    "WHERE true": SQLite's grammar needs it to tell the upsert's ON from a join's.
    """
    return (
        f"INSERT INTO {table} (site, dim, {period}, value, {_COUNTERS}) "
        f"SELECT j.site, j.dim, j.period, v.id, {', '.join('j.' + c for c in COUNTERS)} "
        f"FROM (SELECT {_picked(('site', 'dim', 'period', 'text', *COUNTERS))} FROM json_each(?)) AS j "
        "JOIN dim_values AS v ON v.site = j.site AND v.dim = j.dim AND v.value = j.text WHERE true "
        f"ON CONFLICT (site, dim, {period}, value) DO UPDATE SET {_added(COUNTERS)}"
    )


def _zero_rows_delete(table: str, period: str) -> str:
    """Delete the rows of a batch (given as for ``_counts_upsert``) whose counters now sum to zero."""
    return (
        f"DELETE FROM {table} WHERE {_ALL_ZERO} AND (site, dim, {period}, value) IN ("
        f"SELECT j.site, j.dim, j.period, v.id "
        f"FROM (SELECT {_picked(('site', 'dim', 'period', 'text'))} FROM json_each(?)) AS j "
        "JOIN dim_values AS v ON v.site = j.site AND v.dim = j.dim AND v.value = j.text)"
    )


_VALUES_INSERT = (
    "INSERT OR IGNORE INTO dim_values (site, dim, value) "
    "SELECT DISTINCT json_extract(value, '$[0]'), json_extract(value, '$[1]'), json_extract(value, '$[3]') "
    "FROM json_each(?)"
)
_DAILY_UPSERT, _MONTHLY_UPSERT = _counts_upsert("daily", "day"), _counts_upsert("monthly", "month")
_DAILY_ZEROS, _MONTHLY_ZEROS = _zero_rows_delete("daily", "day"), _zero_rows_delete("monthly", "month")
_HOURLY_UPSERT = (
    f"INSERT INTO hourly (site, hour, {', '.join(HOURLY_COUNTERS)}) "
    f"SELECT {_picked(('site', 'hour', *HOURLY_COUNTERS))} FROM json_each(?) WHERE true "
    f"ON CONFLICT (site, hour) DO UPDATE SET {_added(HOURLY_COUNTERS)}"
)
_TOTAL_SUMS = ", ".join(f"coalesce(sum({c}), 0) AS {c}" for c in COUNTERS)
_SITE_TABLES = (
    ("daily", "site"),
    ("monthly", "site"),
    ("dim_values", "site"),
    ("hourly", "site"),
    ("salts", "site"),
    ("grants", "site"),
    ("share_links", "site"),
    ("sites", "id"),
)


MAX_COUNTER = 2**53
"""Larger additions are refused: SQLite's JSON reads a bigger integer as a float, which would then
be stored in a counter and sum inexactly. No real counter comes near it (a millisecond counter
reaches it after 285,000 years of engagement)."""


def _batch_rows(batch: Batch) -> tuple[list[list[Any]], list[list[Any]]]:
    """The batch's daily rows and their monthly sums, as [site, dim code, day or month, text, *counters]."""
    daily: list[list[Any]] = []
    monthly: dict[tuple[int, int, int, str], list[int]] = {}
    months: dict[int, int] = {}
    rows = itertools.chain(batch.daily.values(), batch.hourly.values())
    if any(abs(n) >= MAX_COUNTER for row in rows for n in row):
        raise StoreError(f"a counter addition is beyond {MAX_COUNTER}; nothing of this batch was written")
    for (site, day, dim, text), row in batch.daily.items():
        if not any(row):
            continue
        code = BY_KEY[dim].code
        daily.append([site, code, day, text, *row])
        month = months.get(day)
        if month is None:
            month = months[day] = month_of(day)
        summed = monthly.get((site, code, month, text))
        if summed is None:
            monthly[(site, code, month, text)] = list(row)
        else:
            for i, n in enumerate(row):
                summed[i] += n
    return daily, [[*key, *row] for key, row in monthly.items()]


def _write_batch(db: sqlite3.Connection, daily: list[list[Any]], monthly: list[list[Any]], hourly: str) -> None:
    """A flush: the day rows, their months' roll-ups and the hours, in the caller's transaction."""
    days = _json(daily)
    db.execute(_VALUES_INSERT, (days,))
    db.execute(_DAILY_UPSERT, (days,))
    db.execute(_MONTHLY_UPSERT, (_json(monthly),))
    db.execute(_HOURLY_UPSERT, (hourly,))
    # A row can only come back to zero through a negative addition (an exit moving on, a bounce
    # taken back): only those rows are looked at.
    shrinking = [row for row in daily if any(n < 0 for n in row[4:])]
    if shrinking:
        months = [[site, code, month_of(day), text] for site, code, day, text, *_ in shrinking]
        db.execute(_DAILY_ZEROS, (_json(shrinking),))
        db.execute(_MONTHLY_ZEROS, (_json(months),))


SCAN_DAYS = 3
"""Ranges shorter than this are summed outright: a few days' rows cost less than pruning them."""
TOP_DEPTH = 4096
"""How deep ``top`` reads each month best first before it sums every value instead."""


def _best_first(
    db: sqlite3.Connection, rank: str, site: int, dim: int, months: Sequence[int], depth: int
) -> tuple[list[int], int]:
    """The values among each month's ``depth`` best, and the most a value not among them can have
    over all the months (the sum of each month's last figure read; 0 for a month read to its end)."""
    seen: dict[int, None] = {}
    bound = 0
    for month in months:
        best = db.execute(
            f"SELECT value, {rank} FROM monthly WHERE site = ? AND dim = ? AND month = ? AND {rank} > 0 "
            f"ORDER BY {rank} DESC LIMIT ?",
            (site, dim, month, depth),
        ).fetchall()
        seen.update(dict.fromkeys(value for value, _ in best))
        if len(best) == depth:
            bound += best[-1][1]
    return list(seen), bound


def _totals_of(
    db: sqlite3.Connection,
    counters: Sequence[str],
    site: int,
    dim: int,
    days: Sequence[int],
    months: Sequence[int],
    values: Sequence[int],
) -> dict[int, Row]:
    """Exact totals over ``days`` and whole ``months`` for some values, by point lookups on the keys."""
    if not values:
        return {}
    picked = ", ".join(counters)
    marks = ", ".join("?" * len(values))
    queries, params = [], []
    for table, periods_, column in (("daily", days, "day"), ("monthly", months, "month")):
        if periods_:
            queries.append(
                f"SELECT value, {picked} FROM {table} WHERE site = ? AND dim = ? "
                f"AND {column} IN ({', '.join('?' * len(periods_))}) AND value IN ({marks})"
            )
            params += [site, dim, *periods_, *values]
    sums = ", ".join(f"sum({c}) AS {c}" for c in counters)
    rows = db.execute(f"SELECT value, {sums} FROM ({' UNION ALL '.join(queries)}) GROUP BY value", params)
    totals = {row["value"]: {c: row[c] for c in counters} for row in rows}
    return {value: totals.get(value, dict.fromkeys(counters, 0)) for value in values}


def _first_rows(db: sqlite3.Connection, listing: TopList, exact: dict[int, Row], limit: int) -> list[tuple[str, Row]]:
    """The list's first rows among values whose exact totals are known, in ``breakdown``'s order."""
    ranked = [(value, row) for value, row in exact.items() if row[listing.rank_counter] > 0]
    ids = [value for value, _ in ranked]
    texts = (
        dict(db.execute(f"SELECT id, value FROM dim_values WHERE id IN ({', '.join('?' * len(ids))})", ids))
        if ids
        else {}
    )
    keyed = [(tuple(-row[c] for c in listing.order), texts[value], row) for value, row in ranked]
    keyed.sort(key=lambda item: (item[0], item[1]))
    return [(text, row) for _, text, row in keyed[:limit]]


def _parts_sql(select: str, site: int, dim: int, first: int, last: int) -> tuple[str, list[int]]:
    """``select`` (``SELECT …`` without FROM) over a range's runs of days and whole months, as a
    UNION ALL, with its parameters; a query that matches nothing when the range is empty."""
    parts = split(first, last)
    queries, params = [], []
    for run in parts.days:
        queries.append(f"{select} FROM daily WHERE site = ? AND dim = ? AND day BETWEEN ? AND ?")
        params += [site, dim, *run]
    if parts.months is not None:
        queries.append(f"{select} FROM monthly WHERE site = ? AND dim = ? AND month BETWEEN ? AND ?")
        params += [site, dim, *parts.months]
    if not queries:
        return f"{select} FROM daily WHERE 0", []
    return " UNION ALL ".join(queries), params


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


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _user(row: sqlite3.Row) -> User:
    return User(row["id"], row["name"], row["role"], row["password_hash"], row["session_key"])


def _site(row: sqlite3.Row) -> Site:
    extra = tuple(d for d in row["extra_domains"].split(",") if d)
    return Site(row["id"], row["website_id"], row["domain"], row["name"], row["timezone"], extra)


def _one(db: sqlite3.Connection, sql: str, params: Sequence[Any] = ()) -> sqlite3.Row | None:
    row: sqlite3.Row | None = db.execute(sql, params).fetchone()
    return row


def _statement(sql: str, *params: Any) -> Job[None]:
    """A write that is one statement (autocommitted: a statement is atomic on its own)."""

    def run(db: sqlite3.Connection) -> None:
        db.execute(sql, params)

    return run


class SQLiteStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._writer: Connection | None = None
        self._all_readers: list[Connection] = []
        self._readers: asyncio.Queue[Connection] = asyncio.Queue()

    async def open(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._writer = Connection(self.path, _WRITER_PRAGMAS, "writer")
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
        row = await self._write(lambda db: _one(db, "PRAGMA secure_delete"), "pragma")
        return row is not None and row[0] == 1

    # ── counters ──────────────────────────────────────────────────────────────────────────────

    async def write_counts(self, batch: Batch) -> None:
        daily, monthly = _batch_rows(batch)  # checks every number before anything is written
        hourly = _json([[*key, *row] for key, row in batch.hourly.items() if any(row)])
        await self._write(in_transaction(lambda db: _write_batch(db, daily, monthly, hourly)), "write_counts")

    async def recent_values(self, since_day: int) -> list[tuple[int, int, str, str]]:
        sql = (
            "SELECT d.site, d.day, d.dim, v.value FROM daily AS d JOIN dim_values AS v ON v.id = d.value "
            "WHERE d.day >= ? AND d.dim != ?"
        )

        def read(db: sqlite3.Connection) -> list[tuple[int, int, str, str]]:
            return [
                (int(site), int(day), BY_CODE[dim].key, str(text))
                for site, day, dim, text in db.execute(sql, (since_day, TOTAL.code))
            ]

        return await self._read(read, "recent_values")

    async def delete_before(self, site: int, first_kept_day: int) -> int:
        """Days before ``first_kept_day`` go, and so do months that ended before it; the month it
        falls in is summed again from the days it keeps, so the roll-up stays exact; the text of
        values no row refers to any more goes too, out of the file and the WAL as salts do."""
        month = month_of(first_kept_day)
        sums = ", ".join(f"sum({c})" for c in COUNTERS)

        def delete(db: sqlite3.Connection) -> int:
            daily = db.execute("DELETE FROM daily WHERE site = ? AND day < ?", (site, first_kept_day)).rowcount
            hourly = db.execute("DELETE FROM hourly WHERE site = ? AND hour < ?", (site, first_kept_day * 24)).rowcount
            if daily:
                db.execute("DELETE FROM monthly WHERE site = ? AND month <= ?", (site, month))
                db.execute(
                    f"INSERT INTO monthly (site, dim, month, value, {_COUNTERS}) SELECT site, dim, ?, value, {sums} "
                    "FROM daily WHERE site = ? AND day BETWEEN ? AND ? GROUP BY dim, value",
                    (month, site, first_kept_day, first_day(month + 1) - 1),
                )
                # The text of values no row refers to any more goes with them: a path seen only
                # on expired days must not outlive the retention period.
                db.execute(
                    "DELETE FROM dim_values WHERE site = ? AND id NOT IN (SELECT value FROM daily WHERE site = ?) "
                    "AND id NOT IN (SELECT value FROM monthly WHERE site = ?)",
                    (site, site, site),
                )
            return int(daily + hourly)

        def delete_and_forget(db: sqlite3.Connection) -> int:
            deleted = transaction(db, delete)
            if deleted:
                truncate_wal(db)  # expired text must not outlive its period in the WAL's old frames
            return deleted

        return await self._write(delete_and_forget, "delete_before")

    # ── salts ─────────────────────────────────────────────────────────────────────────────────

    async def load_salt(self, site: int, day: int) -> bytes | None:
        row = await self._read(
            lambda db: _one(db, "SELECT salt FROM salts WHERE site = ? AND day = ?", (site, day)), "load_salt"
        )
        return None if row is None else bytes(row[0])

    async def save_salt(self, site: int, day: int, salt: bytes) -> bytes:
        def save(db: sqlite3.Connection) -> bytes:
            db.execute("INSERT OR IGNORE INTO salts (site, day, salt) VALUES (?, ?, ?)", (site, day, salt))
            stored = _one(db, "SELECT salt FROM salts WHERE site = ? AND day = ?", (site, day))
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

    # ── the dashboard's reads ─────────────────────────────────────────────────────────────────

    async def totals(self, site: int, first_day: int, last_day: int) -> Row:
        parts, params = _parts_sql(f"SELECT {_COUNTERS}", site, TOTAL.code, first_day, last_day)
        sql = f"SELECT {_TOTAL_SUMS} FROM ({parts})"
        row = await self._read(lambda db: _one(db, sql, params), "totals")
        return dict(row) if row is not None else dict.fromkeys(COUNTERS, 0)

    async def hourly(self, site: int, first_hour: int, last_hour: int) -> list[tuple[int, Row]]:
        return await self._series(
            f"SELECT hour, {', '.join(HOURLY_COUNTERS)} FROM hourly "
            "WHERE site = ? AND hour BETWEEN ? AND ? ORDER BY hour",
            (site, first_hour, last_hour),
            HOURLY_COUNTERS,
        )

    async def daily_totals(self, site: int, first_day: int, last_day: int) -> list[tuple[int, Row]]:
        return await self._series(
            f"SELECT day, {_COUNTERS} FROM daily WHERE site = ? AND dim = ? AND day BETWEEN ? AND ? ORDER BY day",
            (site, TOTAL.code, first_day, last_day),
            COUNTERS,
        )

    async def _series(self, sql: str, params: tuple[int, ...], columns: Sequence[str]) -> list[tuple[int, Row]]:
        """Rows of (hour or day, counters) from a query whose first column is the hour or day."""

        def read(db: sqlite3.Connection) -> list[tuple[int, Row]]:
            return [(row[0], {c: row[c] for c in columns}) for row in db.execute(sql, params)]

        return await self._read(read, "series")

    async def breakdown(
        self,
        site: int,
        listing: TopList,
        first_day: int,
        last_day: int,
        limit: int,
        offset: int = 0,
        search: str = "",
    ) -> tuple[list[tuple[str, Row]], int]:
        """One GROUP BY of the range's day and month rows over the primary-key prefix; the text is
        joined after grouping, so each value's text is read once, and a window count gives the total.
        (HAVING names ``sum(…)``: a bare name there would be a column of some row of the group.)

        Only the list's counters are summed: over a year of a busy dimension the sums are most of
        the query's cost.
        """
        wanted = listing.counters
        code = BY_KEY[listing.dimension].code
        parts, in_range = _parts_sql(f"SELECT value, {', '.join(wanted)}", site, code, first_day, last_day)
        sums = ", ".join(f"sum({c}) AS {c}" for c in wanted)
        match, found = ("WHERE instr(lower(v.value), ?) > 0", (search.lower(),)) if search else ("", ())
        grouped = (
            f"SELECT v.value AS text, g.* FROM (SELECT value, {sums} FROM ({parts}) GROUP BY value "
            f"HAVING sum({listing.rank_counter}) > 0) AS g JOIN dim_values AS v ON v.id = g.value {match}"
        )
        order = ", ".join(f"{c} DESC" for c in listing.order)
        params = (*in_range, *found)

        def read(db: sqlite3.Connection) -> tuple[list[tuple[str, Row]], int]:
            rows = db.execute(
                f"SELECT *, count(*) OVER () AS matched FROM ({grouped}) ORDER BY {order}, text LIMIT ? OFFSET ?",
                (*params, limit, offset),
            ).fetchall()
            if rows:
                return [(row["text"], {c: row[c] for c in wanted}) for row in rows], int(rows[0]["matched"])
            if not offset:
                return [], 0
            return [], int(db.execute(f"SELECT count(*) FROM ({grouped})", params).fetchone()[0])

        return await self._read(read, "breakdown")

    async def top(
        self, site: int, listing: TopList, first_day: int, last_day: int, limit: int
    ) -> list[tuple[str, Row]]:
        """The first ``limit`` values of a list, as ``breakdown`` gives them, without summing every value.

        A threshold algorithm (Fagin's): each month the range touches is read best first from its
        ``monthly`` index, and a value met there gets its exact total over the range. A value not
        met yet has, in each month, at most the last figure read there (a part of a month holds
        no more than the month), so once that sum is below the ``limit``-th exact total no unread
        value can enter or tie: the answer is exact. Skewed lists (pages, sources) stop after a
        few dozen values per month; short ranges, and lists that would need to read deep, are
        simply summed like ``breakdown``.
        """
        months = tuple(range(month_of(first_day), month_of(last_day) + 1))
        if listing.rank_counter not in RANKED or last_day - first_day < SCAN_DAYS or first_day > last_day:
            return (await self.breakdown(site, listing, first_day, last_day, limit))[0]
        code = BY_KEY[listing.dimension].code
        parts = split(first_day, last_day)
        days = [d for first, last in parts.days for d in range(first, last + 1)]
        whole = list(range(parts.months[0], parts.months[1] + 1)) if parts.months else []

        def read(db: sqlite3.Connection) -> list[tuple[str, Row]] | None:
            exact: dict[int, Row] = {}
            depth = max(2 * limit, 16)
            while depth <= TOP_DEPTH:
                seen, bound = _best_first(db, listing.rank_counter, site, code, months, depth)
                new = [value for value in seen if value not in exact]
                exact.update(_totals_of(db, listing.counters, site, code, days, whole, new))
                ranks = sorted((row[listing.rank_counter] for row in exact.values()), reverse=True)
                threshold = ranks[limit - 1] if len(ranks) >= limit and ranks[limit - 1] > 0 else 1
                if bound < threshold:
                    return _first_rows(db, listing, exact, limit)
                depth *= 4
            return None  # too flat to prune well: sum every value instead

        rows = await self._read(read, "top")
        return rows if rows is not None else (await self.breakdown(site, listing, first_day, last_day, limit))[0]

    async def has_data(self, site: int) -> bool:
        sql = "SELECT 1 FROM daily WHERE site = ? AND dim = ? LIMIT 1"
        return await self._read(lambda db: _one(db, sql, (site, TOTAL.code)) is not None, "has_data")

    # ── sites and share links ─────────────────────────────────────────────────────────────────

    async def sites(self) -> list[Site]:
        return await self._read(
            lambda db: [_site(row) for row in db.execute("SELECT * FROM sites ORDER BY id")], "sites"
        )

    async def add_site(self, domain: str, name: str, timezone: str, extra_domains: Sequence[str]) -> Site:
        def add(db: sqlite3.Connection) -> Site:
            try:
                cursor = db.execute(
                    "INSERT INTO sites (website_id, domain, name, timezone, extra_domains, created_at) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    (str(uuid.uuid4()), domain, name, timezone, ",".join(extra_domains), _now()),
                )
            except sqlite3.IntegrityError:
                raise StoreError(f"a site for {domain} already exists") from None
            return _site(db.execute("SELECT * FROM sites WHERE id = ?", (cursor.lastrowid,)).fetchone())

        return await self._write(add, "add_site")

    async def update_site(self, site: int, domain: str, name: str, timezone: str, extra_domains: Sequence[str]) -> Site:
        def update(db: sqlite3.Connection) -> Site:
            try:
                db.execute(
                    "UPDATE sites SET domain = ?, name = ?, timezone = ?, extra_domains = ? WHERE id = ?",
                    (domain, name, timezone, ",".join(extra_domains), site),
                )
            except sqlite3.IntegrityError:
                raise StoreError(f"a site for {domain} already exists") from None
            row = _one(db, "SELECT * FROM sites WHERE id = ?", (site,))
            if row is None:
                raise StoreError("no such site")
            return _site(row)

        return await self._write(update, "update_site")

    async def delete_site(self, site: int) -> None:
        def delete(db: sqlite3.Connection) -> None:
            def rows(db: sqlite3.Connection) -> None:
                for table, key in _SITE_TABLES:
                    db.execute(f"DELETE FROM {table} WHERE {key} = ?", (site,))

            transaction(db, rows)
            truncate_wal(db)  # the deleted salt's old page images must not outlive it in the WAL

        await self._write(delete, "delete_site")

    async def share_token(self, site: int) -> str | None:
        row = await self._read(
            lambda db: _one(db, "SELECT token FROM share_links WHERE site = ?", (site,)), "share_token"
        )
        return None if row is None else str(row[0])

    async def set_share_token(self, site: int, token: str | None) -> None:
        def share(db: sqlite3.Connection) -> None:
            if token is None:
                db.execute("DELETE FROM share_links WHERE site = ?", (site,))
            else:
                db.execute(
                    "INSERT INTO share_links (site, token, created_at) VALUES (?, ?, ?) "
                    "ON CONFLICT (site) DO UPDATE SET token = excluded.token, created_at = excluded.created_at",
                    (site, token, _now()),
                )

        await self._write(share, "set_share_token")

    async def site_by_share_token(self, token: str) -> int | None:
        row = await self._read(
            lambda db: _one(db, "SELECT site FROM share_links WHERE token = ?", (token,)), "site_by_share_token"
        )
        return None if row is None else int(row[0])

    # ── accounts, grants, tokens, sessions ────────────────────────────────────────────────────

    async def add_user(self, name: str, password_hash: str, role: str) -> None:
        def add(db: sqlite3.Connection) -> None:
            try:
                db.execute(
                    "INSERT INTO users (name, password_hash, role, created_at, session_key) VALUES (?, ?, ?, ?, ?)",
                    (name, password_hash, role, _now(), new_session_key()),
                )
            except sqlite3.IntegrityError:
                raise StoreError(f"a user named {name} already exists") from None

        await self._write(add, "add_user")

    async def user_count(self) -> int:
        row = await self._read(lambda db: _one(db, "SELECT count(*) FROM users"), "user_count")
        return int(row[0]) if row is not None else 0

    async def users(self) -> list[User]:
        return await self._read(
            lambda db: [_user(row) for row in db.execute("SELECT * FROM users ORDER BY name")], "users"
        )

    async def user_by_name(self, name: str) -> User | None:
        row = await self._read(lambda db: _one(db, "SELECT * FROM users WHERE name = ?", (name,)), "user_by_name")
        return None if row is None else _user(row)

    async def user_by_id(self, user: int) -> User | None:
        row = await self._read(lambda db: _one(db, "SELECT * FROM users WHERE id = ?", (user,)), "user_by_id")
        return None if row is None else _user(row)

    async def set_password(self, user: int, password_hash: str) -> None:
        sql = "UPDATE users SET password_hash = ?, session_key = ? WHERE id = ?"
        await self._write(_statement(sql, password_hash, new_session_key(), user), "set_password")

    async def set_role(self, user: int, role: str) -> None:
        await self._write(_statement("UPDATE users SET role = ? WHERE id = ?", role, user), "set_role")

    async def delete_user(self, user: int) -> None:
        await self._write(_statement("DELETE FROM users WHERE id = ?", user), "delete_user")

    async def grants(self, user: int) -> set[int]:
        return await self._read(
            lambda db: {int(row[0]) for row in db.execute("SELECT site FROM grants WHERE user = ?", (user,))}, "grants"
        )

    async def set_grants(self, user: int, sites: Sequence[int]) -> None:
        def replace(db: sqlite3.Connection) -> None:
            db.execute("DELETE FROM grants WHERE user = ?", (user,))
            db.executemany("INSERT INTO grants (user, site) VALUES (?, ?)", [(user, s) for s in sites])

        await self._write(in_transaction(replace), "set_grants")

    async def add_token(self, user: int, name: str, token_hash: str) -> ApiToken:
        created = _now()

        def add(db: sqlite3.Connection) -> ApiToken:
            cursor = db.execute(
                "INSERT INTO api_tokens (user, name, token_hash, created_at) VALUES (?, ?, ?, ?)",
                (user, name, token_hash, created),
            )
            return ApiToken(int(cursor.lastrowid or 0), user, name, created)

        return await self._write(add, "add_token")

    async def tokens(self, user: int) -> list[ApiToken]:
        sql = "SELECT id, user, name, created_at FROM api_tokens WHERE user = ? ORDER BY id"
        return await self._read(
            lambda db: [
                ApiToken(row["id"], row["user"], row["name"], row["created_at"]) for row in db.execute(sql, (user,))
            ],
            "tokens",
        )

    async def token_user(self, token_hash: str) -> User | None:
        sql = "SELECT users.* FROM api_tokens JOIN users ON users.id = api_tokens.user WHERE token_hash = ?"
        row = await self._read(lambda db: _one(db, sql, (token_hash,)), "token_user")
        return None if row is None else _user(row)

    async def delete_token(self, user: int, token: int) -> bool:
        sql = "DELETE FROM api_tokens WHERE id = ? AND user = ?"
        return await self._write(lambda db: db.execute(sql, (token, user)).rowcount > 0, "delete_token")

    async def end_session(self, nonce_sha256: str, expires: int, now: int) -> None:
        def end(db: sqlite3.Connection) -> None:
            db.execute("DELETE FROM ended_sessions WHERE expires < ?", (now,))
            db.execute(
                "INSERT OR IGNORE INTO ended_sessions (nonce_sha256, expires) VALUES (?, ?)", (nonce_sha256, expires)
            )

        await self._write(in_transaction(end), "end_session")

    async def session_ended(self, nonce_sha256: str) -> bool:
        sql = "SELECT 1 FROM ended_sessions WHERE nonce_sha256 = ?"
        return await self._read(lambda db: _one(db, sql, (nonce_sha256,)) is not None, "session_ended")

"""The SQL both stores run, written once: each difference between SQLite and PostgreSQL is a ``Dialect``'s.

Both databases hold the same tables (``migrations.py``) and answer the same statements; what they
spell differently is small and listed here alone: how one JSON parameter becomes a batch's rows
(SQLite's ``json_each`` and ``json_extract``, PostgreSQL's ``jsonb_array_elements``), how an insert
ignores a row that is there already, that PostgreSQL's ``sum`` of integers is a ``numeric`` (cast
back, so a row's figures stay Python ints), how "contains, ignoring case" is asked, and how a list
of ids is passed (PostgreSQL takes one array where SQLite needs a placeholder per id). Statements
use ``?`` placeholders; the PostgreSQL store's connections translate them (``Dialect.translate``).

A job here is a plain function of a connection (``Connection``: what ``sqlite3`` and ``psycopg``
connections both are), run whole by the store on a thread of its own, as ``connections`` explains;
rows are read by position, which both drivers' rows allow.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from functools import lru_cache
from typing import Any, NamedTuple, Protocol

from collector.aggregator import Batch
from collector.model import (
    BY_KEY,
    COUNTERS,
    HOURLY_COUNTERS,
    PROP_SEPARATOR,
    RANKED,
    RANKED_BELOW,
    SEGMENT_BY_KEY,
    TOTAL,
    TopList,
)
from collector.sites import Site
from collector.store.errors import StoreError
from collector.store.periods import first_day, month_of, reads, split

Row = dict[str, int]


class Cursor(Protocol):
    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class Connection(Protocol):
    def execute(self, sql: str, params: Sequence[Any] = ..., /) -> Cursor: ...


class Dialect:
    """SQLite's spelling; ``PostgresDialect`` overrides what PostgreSQL spells otherwise."""

    name = "sqlite"
    stages = True
    """A flush's rows are read from their JSON once, into a temporary table (``STAGED``)."""

    def translate(self, sql: str) -> str:
        """A statement written with ``?`` placeholders as the driver takes it."""
        return sql

    def rows(self, layout: Sequence[str], picked: Sequence[str]) -> str:
        """A FROM item that reads one parameter, a JSON array of arrays laid out as ``layout``, as
        rows of the ``picked`` columns (``text`` is the value's text; every other one an integer)."""
        fields = ", ".join(f"json_extract(value, '$[{layout.index(name)}]') AS {name}" for name in picked)
        return f"(SELECT {fields} FROM json_each(?))"

    def insert_ignoring_duplicates(self, insert: str, select: str) -> str:
        return f"INSERT OR IGNORE {insert.removeprefix('INSERT ')} {select}"

    def staging_table(self, name: str, layout: Sequence[str]) -> str:
        """The writing connection's own table for a flush's rows (``Queries.write_batch``), made when it opens."""
        columns = ", ".join(f"{c} {'TEXT' if c == 'text' else 'INTEGER'}" for c in layout)
        return f"CREATE TEMP TABLE IF NOT EXISTS {name} ({columns})"

    def integer(self, expression: str) -> str:
        """A sum as an integer (SQLite's already is)."""
        return expression

    def contains(self, column: str) -> str:
        """``column`` contains the parameter, given lower-cased; only ASCII letters fold, as in both."""
        return f"instr(lower({column}), ?) > 0"

    def among(self, column: str, values: Sequence[int]) -> tuple[str, list[Any]]:
        """``column IN values``, and the parameters it takes."""
        return f"{column} IN ({', '.join('?' * len(values))})", list(values)


class PostgresDialect(Dialect):
    name = "postgresql"
    # Each statement reads the JSON itself (``jsonb`` is decoded once per statement, not once per
    # column), so there is no temporary table: one that is never analysed nor vacuumed, in every
    # pooled session, under several collectors flushing into the same rows, is not worth a
    # measured 30 %.
    stages = False

    def translate(self, sql: str) -> str:
        return _translated(sql)

    def rows(self, layout: Sequence[str], picked: Sequence[str]) -> str:
        fields = ", ".join(
            f"e->>{layout.index(name)} AS {name}" if name == "text" else f"(e->>{layout.index(name)})::bigint AS {name}"
            for name in picked
        )
        return f"(SELECT {fields} FROM jsonb_array_elements(?::jsonb) AS e)"

    def insert_ignoring_duplicates(self, insert: str, select: str) -> str:
        return f"{insert} {select} ON CONFLICT DO NOTHING"

    def integer(self, expression: str) -> str:
        return f"({expression})::bigint"

    def contains(self, column: str) -> str:
        return f"strpos(lower({column}), ?) > 0"

    def among(self, column: str, values: Sequence[int]) -> tuple[str, list[Any]]:
        return f"{column} = ANY(?)", [list(values)]


@lru_cache(maxsize=1024)
def _translated(sql: str) -> str:
    """psycopg's placeholders are ``%s``, so a literal ``%`` is doubled first (none of ours is in a string)."""
    return sql.replace("%", "%%").replace("?", "%s")


SQLITE, POSTGRES = Dialect(), PostgresDialect()


def to_json(rows: Iterable[Sequence[Any]]) -> str:
    """A batch as one JSON array, which one statement reads (``Dialect.rows``).

    Not ``executemany``: that binds each row's parameters in Python, on the connection's thread,
    which then needs the interpreter lock once per row. Under load the event loop holds that
    lock and hands it over every 5 ms at best, so a flush of 3,500 rows took 7 seconds under wrk
    (and slowed ingest while it lasted); as one JSON string it is one call, decoded by the database.
    Values never hold NUL, which SQLite's JSON functions would cut at and PostgreSQL's text cannot
    hold: urls.clean_text removes controls.
    """
    return json.dumps(list(rows), ensure_ascii=False, separators=(",", ":"))


MAX_COUNTER = 2**53
"""Larger additions are refused: SQLite's JSON reads a bigger integer as a float, which would then
be stored in a counter and sum inexactly. No real counter comes near it (a millisecond counter
reaches it after 285,000 years of engagement)."""


MAX_VALUE_BYTES = 2400
"""Longer values are cut to this many bytes of UTF-8 (at a character's end): PostgreSQL's b-tree
cannot index a key much longer (2,704 bytes with its row header), and a flush it refused would
be retried for ever. SQLite cuts them too, so both stores keep the same values. Only an event
property of astral characters comes near it (paths stop at 512 characters, 2,048 bytes)."""


def stored_text(text: str) -> str:
    if len(text) * 4 <= MAX_VALUE_BYTES:
        return text  # no character takes more than 4 bytes
    data = text.encode("utf-8")
    return text if len(data) <= MAX_VALUE_BYTES else data[:MAX_VALUE_BYTES].decode("utf-8", "ignore")


def batch_rows(batch: Batch) -> tuple[list[list[Any]], list[list[Any]]]:
    """The batch's daily rows as ``Queries.write_batch`` takes them (``staged_rows``) and its hourly
    rows, [site, hour, *counters]. Checks every number before anything is written.

    It runs on the event loop, between beacons, once per row of the batch (two rows a beacon), so
    it is written for speed: the range check in C (``max``/``min`` of each row)."""
    _check_counters(itertools.chain(batch.daily.values(), batch.hourly.values()))
    keyed = (((site, CODES[dim], day, stored_text(text)), row) for (site, day, dim, text), row in batch.daily.items())
    hourly = [[*key, *row] for key, row in batch.hourly.items() if any(row)]
    return staged_rows(_summed(keyed)), hourly


def staged_rows(cells: Mapping[tuple[int, int, int, str], list[int]]) -> list[list[Any]]:
    """Day cells, (site, dim code, day, text) → counters, as the rows a flush writes: laid out as
    ``_STAGED_LAYOUT``, with the day's month (its roll-up) and whether an addition is negative
    (only such a row can come back to zero)."""
    months: dict[int, int] = {}
    rows: list[list[Any]] = []
    for (site, code, day, text), counters in cells.items():
        month = months.get(day)
        if month is None:
            month = months[day] = month_of(day)
        rows.append([site, code, day, month, text, int(min(counters) < 0), *counters])
    return rows


CODES = {key: dimension.code for key, dimension in BY_KEY.items()}


def _check_counters(rows: Iterable[list[int]]) -> None:
    rows = [row for row in rows if row]
    if rows and (max(map(max, rows)) >= MAX_COUNTER or min(map(min, rows)) <= -MAX_COUNTER):
        raise StoreError(f"a counter addition is beyond {MAX_COUNTER}; nothing of this batch was written")


def _summed(rows: Iterable[tuple[tuple[int, int, int, str], list[int]]]) -> dict[tuple[int, int, int, str], list[int]]:
    """Rows by key, all-zero rows left out; rows of one key (two values that are the same once
    cut) added up, into new lists: the batch's own are never changed."""
    summed: dict[tuple[int, int, int, str], list[int]] = {}
    for key, row in rows:
        if not any(row):
            continue
        before = summed.get(key)
        summed[key] = row if before is None else [a + b for a, b in zip(before, row, strict=True)]
    return summed


SCAN_DAYS = 3
"""Ranges shorter than this are summed outright: a few days' rows cost less than pruning them."""
TOP_DEPTH = 4096
"""How deep ``top`` reads each month best first before it sums every value instead."""

_COUNTERS = ", ".join(COUNTERS)
_ALL_ZERO = " AND ".join(f"{c} = 0" for c in COUNTERS)
_STAGED_LAYOUT = ("site", "dim", "day", "month", "text", "shrinks", *COUNTERS)
STAGED = "staged_counts"
"""The writing connection's temporary table of a flush's day rows: the JSON parameter is read into
it once, and the values, days and months are written from it. SQLite's ``json_extract`` parses
the row's array again for each of its twenty columns, which cost more than the writes."""
_HOUR_LAYOUT = ("site", "hour", *HOURLY_COUNTERS)
_VALUE_JOIN = "JOIN dim_values AS v ON v.site = j.site AND v.dim = j.dim AND v.value = j.text"
_KNOWN_SITE = "JOIN sites AS s ON s.id = j.site"
"""Rows of a site deleted since they were counted are left out: a site deleted by one collector
must not get counters back from another's flush (the PostgreSQL store also holds the sites'
rows until it commits, so none is deleted between this join and the commit)."""

_SITE = "id, website_id, domain, name, timezone, extra_domains"


def _added(table: str, columns: Sequence[str]) -> str:
    """An upsert's update: every counter adds the new row's to the stored one (named by its table:
    PostgreSQL takes a bare name there for ambiguous)."""
    return ", ".join(f"{c} = {table}.{c} + excluded.{c}" for c in columns)


def site_of(row: Sequence[Any]) -> Site:
    extra = tuple(d for d in str(row[5]).split(",") if d)
    return Site(int(row[0]), str(row[1]), str(row[2]), str(row[3]), str(row[4]), extra)


class Cells(NamedTuple):
    """Which rows a list reads (``Queries._cells``)."""

    code: int  # their dimension's
    ids: str  # the query of the ids of one pivot value's segment cells; empty without a pivot
    params: Sequence[Any]  # its parameters
    text: str  # the expression of a row's listed value, from its text ``v.value``
    ranged: bool  # whether ``ids`` is one range of the value index (cheap to count)


class Queries:
    """Every statement of the stores, in one dialect, and the jobs that run more than one.

    Each flush's statements lock rows in the same order (dim_values, daily, monthly, hourly, each
    by its key: the ORDER BY), so collectors flushing into the same rows wait for each other
    instead of deadlocking.
    """

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = d = dialect
        rows = d.rows(_STAGED_LAYOUT, _STAGED_LAYOUT)
        self.staging_table = d.staging_table(STAGED, _STAGED_LAYOUT) if d.stages else ""
        self.stage = f"INSERT INTO {STAGED} SELECT * FROM {rows} AS j" if d.stages else ""
        self.unstage = f"DELETE FROM {STAGED}" if d.stages else ""
        self.staged = STAGED if d.stages else rows  # what the flush's statements read the rows from
        self.values_insert = d.insert_ignoring_duplicates(
            "INSERT INTO dim_values (site, dim, value)",
            f"SELECT DISTINCT j.site, j.dim, j.text FROM {self.staged} AS j {_KNOWN_SITE} ORDER BY 1, 2, 3",
        )
        self.daily_upsert = self._counts_upsert("daily", "day")
        self.monthly_upsert = self._counts_upsert("monthly", "month")
        self.months_upsert = self._counts_upsert("monthly", "month", "GROUP BY j.site, j.dim, j.month, v.id")
        self.daily_zeros, self.monthly_zeros = (
            self._zero_rows_delete("daily", "day"),
            self._zero_rows_delete("monthly", "month"),
        )
        hours = d.rows(_HOUR_LAYOUT, _HOUR_LAYOUT)
        self.hourly_upsert = (
            f"INSERT INTO hourly (site, hour, {', '.join(HOURLY_COUNTERS)}) "
            f"SELECT {', '.join('j.' + c for c in _HOUR_LAYOUT)} FROM {hours} AS j {_KNOWN_SITE} "
            "WHERE true ORDER BY j.site, j.hour "
            f"ON CONFLICT (site, hour) DO UPDATE SET {_added('hourly', HOURLY_COUNTERS)}"
        )
        self.total_sums = ", ".join(d.integer(f"coalesce(sum({c}), 0)") for c in COUNTERS)
        self.session_end = d.insert_ignoring_duplicates(
            "INSERT INTO ended_sessions (nonce_sha256, expires)", "VALUES (?, ?)"
        )

    def _counts_upsert(self, table: str, period: str, grouped: str = "") -> str:
        """Add the staged rows to ``table``, values looked up by text; a month's rows ``grouped``.

        "WHERE true": SQLite's grammar needs it to tell the upsert's ON from a join's.
        """
        counters = ", ".join(f"sum(j.{c})" if grouped else f"j.{c}" for c in COUNTERS)
        return (
            f"INSERT INTO {table} (site, dim, {period}, value, {_COUNTERS}) "
            f"SELECT j.site, j.dim, j.{period}, v.id, {counters} FROM {self.staged} AS j {_VALUE_JOIN} {_KNOWN_SITE} "
            f"WHERE true {grouped} ORDER BY j.site, j.dim, j.{period}, v.id "
            f"ON CONFLICT (site, dim, {period}, value) DO UPDATE SET {_added(table, COUNTERS)}"
        )

    def _zero_rows_delete(self, table: str, period: str) -> str:
        """Delete the rows of the staged rows with a negative addition whose counters now sum to zero."""
        return (
            f"DELETE FROM {table} WHERE {_ALL_ZERO} AND (site, dim, {period}, value) IN ("
            f"SELECT j.site, j.dim, j.{period}, v.id FROM {self.staged} AS j {_VALUE_JOIN} WHERE j.shrinks = 1)"
        )

    # ── counters ──────────────────────────────────────────────────────────────────────────────

    def write_batch(self, db: Connection, daily: list[list[Any]], hourly: str) -> None:
        """A flush, in the caller's transaction: the day rows (``staged_rows``), their months'
        roll-ups summed from them, and the hours."""
        days = to_json(daily)
        stages = self.dialect.stages
        if stages:
            db.execute(self.stage, (days,))
        read = () if stages else (days,)  # the staged table, or each statement reads the JSON
        db.execute(self.values_insert, read)
        db.execute(self.daily_upsert, read)
        # Summing a month's days costs a sort; only a batch with two days of a month needs it.
        two_days_of_a_month = len({row[2] for row in daily}) > len({row[3] for row in daily})
        db.execute(self.months_upsert if two_days_of_a_month else self.monthly_upsert, read)
        db.execute(self.hourly_upsert, (hourly,))
        # A row can only come back to zero through a negative addition (an exit moving on, a bounce
        # taken back): only those rows are looked at.
        if any(row[5] for row in daily):
            db.execute(self.daily_zeros, read)
            db.execute(self.monthly_zeros, read)
        if stages:
            db.execute(self.unstage)

    def recent_values(self, db: Connection, since_day: int) -> list[tuple[int, int, int, str]]:
        """(site, day, dim code, text) of the day rows since a day, the site totals left out."""
        sql = (
            "SELECT d.site, d.day, d.dim, v.value FROM daily AS d JOIN dim_values AS v ON v.id = d.value "
            "WHERE d.day >= ? AND d.dim != ?"
        )
        return [
            (int(s), int(day), int(dim), str(text)) for s, day, dim, text in db.execute(sql, (since_day, TOTAL.code))
        ]

    def delete_before(self, db: Connection, site: int, first_kept_day: int) -> int:
        """Days before ``first_kept_day`` go, and so do months that ended before it; the month it
        falls in is summed again from the days it keeps, so the roll-up stays exact; the text of
        values no row refers to any more goes too. In the caller's transaction."""
        month = month_of(first_kept_day)
        sums = ", ".join(f"sum({c})" for c in COUNTERS)
        daily = db.execute("DELETE FROM daily WHERE site = ? AND day < ?", (site, first_kept_day)).rowcount
        hourly = db.execute("DELETE FROM hourly WHERE site = ? AND hour < ?", (site, first_kept_day * 24)).rowcount
        if daily:
            db.execute("DELETE FROM monthly WHERE site = ? AND month <= ?", (site, month))
            db.execute(
                f"INSERT INTO monthly (site, dim, month, value, {_COUNTERS}) SELECT site, dim, ?, value, {sums} "
                "FROM daily WHERE site = ? AND day BETWEEN ? AND ? GROUP BY site, dim, value",
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

    # ── reads ─────────────────────────────────────────────────────────────────────────────────

    def parts(
        self,
        head: str,
        counters: Sequence[str],
        site: int,
        dim: int,
        first: int,
        last: int,
        values: tuple[str, Sequence[Any]] = ("", ()),
        by_key: bool = True,
    ) -> tuple[str, list[Any]]:
        """``SELECT head, counters…`` over a range's runs of days and months (``periods.reads``),
        the days a month is read less of with their counters negated, as a UNION ALL, with its
        parameters; a query that matches nothing when the range is empty. ``values`` narrows
        every part to some values (a condition on ``value`` and its parameters); then, ``by_key``,
        the days and months are listed one by one, so each (day, value) is a lookup of the key
        rather than a scan of every value of the run's days; otherwise each run is read as one
        range of the key and its rows are kept by the condition (many values: ``cells_by_key``)."""
        parts = reads(first, last)
        heads = [head] if head else []
        added = ", ".join([*heads, *counters])
        taken = ", ".join([*heads, *(f"-{c} AS {c}" for c in counters)])
        queries: list[str] = []
        params: list[Any] = []
        runs = [("daily", "day", run, added) for run in parts.days]
        if parts.months is not None:
            runs.append(("monthly", "month", parts.months, added))
        runs += [("daily", "day", run, taken) for run in parts.less]
        for table, column, (a, b), select in runs:
            if values[0] and by_key:
                periods, listed = self.dialect.among(column, range(a, b + 1))
                queries.append(f"SELECT {select} FROM {table} WHERE site = ? AND dim = ? AND {periods} AND {values[0]}")
                params += [site, dim, *listed, *values[1]]
            else:
                narrowed = f" AND {values[0]}" if values[0] else ""
                run = f"{column} BETWEEN ? AND ?{narrowed}"
                queries.append(f"SELECT {select} FROM {table} WHERE site = ? AND dim = ? AND {run}")
                params += [site, dim, a, b, *values[1]]
        if not queries:
            return f"SELECT {added} FROM daily WHERE false", []
        return " UNION ALL ".join(queries), params

    def totals(self, db: Connection, site: int, first: int, last: int) -> Row:
        parts, params = self.parts("", COUNTERS, site, TOTAL.code, first, last)
        row = db.execute(f"SELECT {self.total_sums} FROM ({parts}) AS p", params).fetchone()
        return dict(zip(COUNTERS, row, strict=True)) if row is not None else dict.fromkeys(COUNTERS, 0)

    def series(self, db: Connection, sql: str, params: Sequence[Any], columns: Sequence[str]) -> list[tuple[int, Row]]:
        """Rows of (hour or day, counters) from a query whose first column is the hour or day."""
        return [(row[0], dict(zip(columns, row[1:], strict=True))) for row in db.execute(sql, params)]

    def breakdown(
        self,
        db: Connection,
        listing: TopList,
        site: int,
        first: int,
        last: int,
        limit: int,
        offset: int,
        search: str,
        within: str | None = None,
    ) -> tuple[list[tuple[str, Row]], int]:
        """One GROUP BY of the range's day and month rows over the primary-key prefix; the text is
        joined after grouping, so each value's text is read once, and a window count gives the total.
        (HAVING names ``sum(…)``: a bare name there would be a column of some row of the group.)

        Only the list's counters are summed: over a year of a busy dimension the sums are most of
        the query's cost. ``within`` (a segment's pivot value) reads only that value's cells
        (``_cells``) and returns them without it.
        """
        wanted = listing.counters
        cells = self._cells(site, listing.dimension, within)
        code, text = cells.code, cells.text
        narrowing = (f"value IN ({cells.ids})", cells.params) if cells.ids else ("", ())
        by_key = not cells.ranged or self.cells_by_key(db, site, first, last, cells)
        parts, in_range = self.parts("value", wanted, site, code, first, last, narrowing, by_key)
        sums = ", ".join(self.dialect.integer(f"sum({c})") + f" AS {c}" for c in wanted)
        match, found = (f"WHERE {self.dialect.contains(text)}", (search.lower(),)) if search else ("", ())
        grouped = (
            f"SELECT {text} AS text, {', '.join('g.' + c for c in wanted)} FROM (SELECT value, {sums} FROM ({parts}) "
            f"AS p GROUP BY value HAVING sum({listing.rank_counter}) > 0) AS g JOIN dim_values AS v ON v.id = g.value "
            f"{match}"
        )
        order = ", ".join(f"{c} DESC" for c in listing.order)
        params = (*in_range, *found)
        rows = db.execute(
            f"SELECT text, {', '.join(wanted)}, count(*) OVER () AS matched FROM ({grouped}) AS m "
            f"ORDER BY {order}, text LIMIT ? OFFSET ?",
            (*params, limit, offset),
        ).fetchall()
        if rows:
            return [(row[0], dict(zip(wanted, row[1:-1], strict=True))) for row in rows], int(rows[0][-1])
        if not offset:
            return [], 0
        return [], int(db.execute(f"SELECT count(*) FROM ({grouped}) AS m", params).fetchone()[0])

    LOOKUPS_UNCOUNTED = 1024
    """Up to this many (cell, day or month) key lookups, a pivot value's cells are read by key
    without first counting the rows of the range (a millisecond or so of lookups)."""
    ROWS_PER_LOOKUP = 4
    """A key lookup costs about what reading this many rows of a run of the key does. Measured on
    SQLite, the busy year of ``scripts/bench`` filtered by its top source (1,393 cells, 30 days):
    0.57 µs a lookup against 0.16 µs a row read, summed and kept; 23.7 against 7.7 ms."""

    def cells_by_key(self, db: Connection, site: int, first: int, last: int, cells: Cells) -> bool:
        """Whether one pivot value's cells are read fastest by key, one lookup per cell and period,
        rather than by reading the segment's rows of each run and keeping the value's. A page has a
        few cells, read by key; a busy site's top source has one for most pages, and most of each
        day's rows of its segment are its own. The rows are counted only as far as the lookups
        would cost, so deciding costs a fraction of the cheaper read."""
        found = int(db.execute(f"SELECT count(*) FROM ({cells.ids}) AS c", cells.params).fetchone()[0])
        lookups = found * reads(first, last).periods()
        if lookups <= self.LOOKUPS_UNCOUNTED:
            return True
        enough = lookups * self.ROWS_PER_LOOKUP
        rows, in_range = self.parts("1 AS one", (), site, cells.code, first, last)
        sql = f"SELECT count(*) FROM (SELECT one FROM ({rows}) AS r LIMIT ?) AS f"
        return int(db.execute(sql, (*in_range, enough + 1)).fetchone()[0]) > enough

    @staticmethod
    def _cells(site: int, dimension: str, within: str | None) -> Cells:
        """Which rows a list reads (``Cells``): the ids of one pivot value's segment cells, none
        without a pivot, whose listed value is then ``v.value`` itself.

        The cells of a pivot value are the values from ``pivot + SEPARATOR`` up to (not including)
        ``pivot`` and the character after the separator, one range of the ``(site, dim, value)``
        index in both stores (PostgreSQL's ``value`` compares bytewise: ``COLLATE "C"``).

        A segment read the other way round (``model.Segment.read_from``) reads the stored
        segment's cells whose texts end with the value, each under its pivot value. No index
        orders by a text's end, so the stored segment's texts are read through (a site's distinct
        pairs of the kind, not its rows: not ``ranged``, so never counted first); each day's and
        month's rows of those texts are then key lookups, as a filter's are.
        """
        segment = SEGMENT_BY_KEY.get(dimension)
        stored = segment.read_from if segment is not None and within is not None else ""
        code = BY_KEY[stored or dimension].code
        if within is None:
            return Cells(code, "", (), "v.value", False)
        if stored:
            suffix = PROP_SEPARATOR + stored_text(within)
            cut = len(suffix)  # an int computed here, written into the SQL as a literal
            cells = (
                "SELECT id FROM dim_values WHERE site = ? AND dim = ? "
                f"AND substr(value, length(value) - {cut - 1}) = ?"
            )
            return Cells(code, cells, (site, code, suffix), f"substr(v.value, 1, length(v.value) - {cut})", False)
        prefix = stored_text(within) + PROP_SEPARATOR
        end = prefix[:-1] + chr(ord(PROP_SEPARATOR) + 1)
        cells = "SELECT id FROM dim_values WHERE site = ? AND dim = ? AND value >= ? AND value < ?"
        return Cells(code, cells, (site, code, prefix, end), f"substr(v.value, {len(prefix) + 1})", True)

    def value_totals(self, db: Connection, site: int, dim: str, value: str, first: int, last: int) -> Row:
        """Every counter of one value summed over the range (0 without data)."""
        code = BY_KEY[dim].code
        parts, params = self.parts("", COUNTERS, site, code, first, last, self._one_value(site, code, value))
        row = db.execute(f"SELECT {self.total_sums} FROM ({parts}) AS p", params).fetchone()
        return dict(zip(COUNTERS, row, strict=True)) if row is not None else dict.fromkeys(COUNTERS, 0)

    def value_series(
        self, db: Connection, site: int, dim: str, value: str, first: int, last: int
    ) -> list[tuple[int, Row]]:
        """One value's counters per day, oldest first; days without a row are absent."""
        code = BY_KEY[dim].code
        condition, narrowing = self._one_value(site, code, value)
        days, listed = self.dialect.among("day", range(first, last + 1))  # a key lookup per day (``parts``)
        sql = f"SELECT day, {_COUNTERS} FROM daily WHERE site = ? AND dim = ? AND {days} AND {condition} ORDER BY day"
        return self.series(db, sql, (site, code, *listed, *narrowing), COUNTERS)

    @staticmethod
    def _one_value(site: int, code: int, value: str) -> tuple[str, Sequence[Any]]:
        """The condition that keeps one value's rows: its id, by the value index."""
        return "value = (SELECT id FROM dim_values WHERE site = ? AND dim = ? AND value = ?)", (
            site,
            code,
            stored_text(value),
        )

    def top(
        self, db: Connection, listing: TopList, site: int, first: int, last: int, limit: int
    ) -> list[tuple[str, Row]] | None:
        """``breakdown``'s first rows by Fagin's threshold algorithm (``Store.top`` says why it is
        exact), or None when the list is too flat to prune well and should be summed instead."""
        months = tuple(range(month_of(first), month_of(last) + 1))
        code = BY_KEY[listing.dimension].code
        parts = split(first, last)
        days = [d for a, b in parts.days for d in range(a, b + 1)]
        whole = list(range(parts.months[0], parts.months[1] + 1)) if parts.months else []
        exact: dict[int, Row] = {}
        depth = max(2 * limit, 16)
        while depth <= TOP_DEPTH:
            seen, bound = self._best_first(db, listing.rank_counter, site, code, months, depth)
            new = [value for value in seen if value not in exact]
            exact.update(self._totals_of(db, listing.counters, site, code, days, whole, new))
            ranks = sorted((row[listing.rank_counter] for row in exact.values()), reverse=True)
            threshold = ranks[limit - 1] if len(ranks) >= limit and ranks[limit - 1] > 0 else 1
            if bound < threshold:
                return self._first_rows(db, listing, exact, limit)
            depth *= 4
        return None

    @staticmethod
    def top_is_summed(listing: TopList, first: int, last: int) -> bool:
        """Whether ``top`` is simply ``breakdown``: unranked lists, short and empty ranges."""
        return listing.rank_counter not in RANKED or last - first < SCAN_DAYS or first > last

    @staticmethod
    def _best_first(
        db: Connection, rank: str, site: int, dim: int, months: Sequence[int], depth: int
    ) -> tuple[list[int], int]:
        """The values among each month's ``depth`` best, and the most a value not among them can have
        over all the months (the sum of each month's last figure read; 0 for a month read to its end)."""
        seen: dict[int, None] = {}
        bound = 0
        for month in months:
            best = db.execute(
                f"SELECT value, {rank} FROM monthly WHERE site = ? AND dim = ? AND month = ? AND {rank} > 0 "
                f"AND dim < {RANKED_BELOW} ORDER BY {rank} DESC LIMIT ?",  # the indexes' own condition, literally
                (site, dim, month, depth),
            ).fetchall()
            seen.update(dict.fromkeys(value for value, _ in best))
            if len(best) == depth:
                bound += best[-1][1]
        return list(seen), bound

    def _totals_of(
        self,
        db: Connection,
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
        queries, params = [], []
        for table, periods_, column in (("daily", days, "day"), ("monthly", months, "month")):
            if periods_:
                in_periods, period_params = self.dialect.among(column, periods_)
                among, value_params = self.dialect.among("value", values)
                queries.append(
                    f"SELECT value, {picked} FROM {table} WHERE site = ? AND dim = ? AND {in_periods} AND {among}"
                )
                params += [site, dim, *period_params, *value_params]
        sums = ", ".join(self.dialect.integer(f"sum({c})") + f" AS {c}" for c in counters)
        rows = db.execute(f"SELECT value, {sums} FROM ({' UNION ALL '.join(queries)}) AS p GROUP BY value", params)
        totals = {row[0]: dict(zip(counters, row[1:], strict=True)) for row in rows}
        return {value: totals.get(value, dict.fromkeys(counters, 0)) for value in values}

    def _first_rows(self, db: Connection, listing: TopList, exact: dict[int, Row], limit: int) -> list[tuple[str, Row]]:
        """The list's first rows among values whose exact totals are known, in ``breakdown``'s order."""
        ranked = [(value, row) for value, row in exact.items() if row[listing.rank_counter] > 0]
        ids = [value for value, _ in ranked]
        texts: dict[int, str] = {}
        if ids:
            among, params = self.dialect.among("id", ids)
            texts = {
                int(i): str(text) for i, text in db.execute(f"SELECT id, value FROM dim_values WHERE {among}", params)
            }
        keyed = [(tuple(-row[c] for c in listing.order), texts[value], row) for value, row in ranked]
        keyed.sort(key=lambda item: (item[0], item[1]))
        return [(text, row) for _, text, row in keyed[:limit]]

    # ── sites ─────────────────────────────────────────────────────────────────────────────────

    @staticmethod
    def sites(db: Connection) -> list[Site]:
        return [site_of(row) for row in db.execute(f"SELECT {_SITE} FROM sites ORDER BY id")]

    @staticmethod
    def add_site(db: Connection, website_id: str, domain: str, name: str, timezone: str, extra: str, now: str) -> Site:
        return site_of(
            db.execute(
                "INSERT INTO sites (website_id, domain, name, timezone, extra_domains, created_at) "
                f"VALUES (?, ?, ?, ?, ?, ?) RETURNING {_SITE}",
                (website_id, domain, name, timezone, extra, now),
            ).fetchone()
        )

    @staticmethod
    def update_site(db: Connection, site: int, domain: str, name: str, timezone: str, extra: str) -> Site | None:
        row = db.execute(
            f"UPDATE sites SET domain = ?, name = ?, timezone = ?, extra_domains = ? WHERE id = ? RETURNING {_SITE}",
            (domain, name, timezone, extra, site),
        ).fetchone()
        return None if row is None else site_of(row)

    @staticmethod
    def delete_site(db: Connection, site: int, tables: Sequence[tuple[str, str]]) -> None:
        for table, key in tables:
            db.execute(f"DELETE FROM {table} WHERE {key} = ?", (site,))

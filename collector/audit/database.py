"""Reading a deployment's database for the audit, without changing it.

``Database`` is what the checks need from any store: its schema, its rows (pre-filtered to those
worth a closer look), its salts and its sites. ``SQLiteDatabase`` and ``PostgresDatabase``
(``information_schema`` for the schema, the same filter in SQL) implement it, and the checks in
``schema.py`` and ``salts.py`` do not know which they read.

The SQLite file is opened read-only. Without a ``-wal`` file it is opened ``immutable``, because
even a read-only connection would otherwise create ``-wal`` and ``-shm`` files in the data
directory; with one, it reads through the WAL like the server does.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from collector import model
from collector.audit.addresses import mask, mask_all
from collector.model import BY_KEY
from collector.referrers import host_address
from collector.store.segments import OTHER_CELLS, SEGMENT_CODES

HASH_SIZED = 1 << 48
"""Integers this large are no counter, day or id Crumbless stores; a 64-bit visitor hash almost always is."""

HOST_TABLE = "dim_values"
HOST_DIMENSIONS = tuple(BY_KEY[key].code for key in model.HOST_DIMENSIONS)
"""Dimension codes whose ``dim_values.value`` is named after a host. Such a value is judged as a
whole, as a host: there ``3325256769`` is the integer spelling of an address, while in a campaign
name it is a number."""

_HEX_RUN = "*" + "[0-9a-fA-F]" * 16 + "*"


def _small_cells_sql(mark: str) -> str:
    """A site's segment cells before a day with 0 < visitors < k, but for plain ``(other)`` cells;
    by the primary key's prefix (site, dim, day)."""
    return (
        "SELECT d.dim, d.day, v.value FROM daily AS d JOIN dim_values AS v ON v.id = d.value "
        f"WHERE d.site = {mark} AND d.dim IN ({', '.join(map(str, SEGMENT_CODES))}) AND d.day < {mark} "
        f"AND d.visitors > 0 AND d.visitors < {mark} AND v.value NOT LIKE {mark} ORDER BY d.dim, d.day"
    )


Sites = dict[int, tuple[str, str]]
"""Site id → (domain, IANA time zone)."""


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[str, ...]
    key: tuple[str, ...]   # primary-key columns, which name a row of a WITHOUT ROWID table
    rowid: bool


@dataclass(frozen=True)
class Schema:
    tables: dict[str, Table]
    triggers: frozenset[str]
    views: frozenset[str]


@dataclass(frozen=True)
class Row:
    table: Table
    rowid: int | None
    values: dict[str, Any]

    def where(self, column: str) -> str:
        """``table.column`` and the row, named without the value being reported."""
        if self.rowid is not None:
            return f"{self.table.name}.{column} rowid {self.rowid}"
        key = ", ".join(f"{k}={_shown(self.values[k], self.holds_a_host(k))}" for k in self.table.key if k != column)
        return f"{self.table.name}.{column} ({key})"

    def holds_a_host(self, column: str) -> bool:
        return self.table.name == HOST_TABLE and column == "value" and self.values.get("dim") in HOST_DIMENSIONS


def _shown(value: Any, host: bool) -> str:
    """A key value as shown in a location: addresses masked, since the location itself is not the finding."""
    if isinstance(value, str) and host and host_address(value) is not None:
        return repr(mask(value))
    return repr(mask_all(value)) if isinstance(value, str) else repr(value)


class Database(Protocol):
    label: str

    def schema(self) -> Schema: ...

    def count(self, table: Table) -> int: ...

    def rows_to_inspect(self, table: Table) -> Iterator[Row]:
        """Rows holding a blob, a hash-sized integer, text with digits and dots, colons, ``0x``,
        ``://`` or a long hex run, or a host value (``HOST_DIMENSIONS``) that ends in a digit or
        is not ASCII: a superset of what ``schema.judge_value`` can object to, selected by the
        database so that a year of aggregate rows is not pulled through Python."""
        ...

    def salts(self) -> list[tuple[int, int, bytes]]: ...

    def sites(self) -> dict[int, tuple[str, str]]:
        """Site id → (domain, IANA time zone)."""
        ...

    def small_segment_cells(self, site: int, before_day: int, min_visitors: int) -> list[tuple[int, int, str]]:
        """(dim code, day, text) of the site's segment cells of days before ``before_day`` with
        0 < visitors < ``min_visitors``, plain ``(other)`` cells left out (``segments`` judges)."""
        ...

    def close(self) -> None: ...


class SQLiteDatabase:
    def __init__(self, path: Path) -> None:
        self.label = str(path)
        wal = path.with_name(path.name + "-wal")
        options = "mode=ro" if wal.exists() else "mode=ro&immutable=1"
        self.db = sqlite3.connect(f"{path.absolute().as_uri()}?{options}", uri=True)

    def close(self) -> None:
        self.db.close()

    def schema(self) -> Schema:
        entries = self.db.execute(
            "SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite!_%' ESCAPE '!'"
        ).fetchall()
        tables = {name: self._table(name, sql or "") for kind, name, sql in entries if kind == "table"}
        return Schema(
            tables,
            frozenset(name for kind, name, _ in entries if kind == "trigger"),
            frozenset(name for kind, name, _ in entries if kind == "view"),
        )

    def _table(self, name: str, sql: str) -> Table:
        info = self.db.execute(f"PRAGMA table_info({_quote(name)})").fetchall()
        columns = tuple(row[1] for row in info)
        key = tuple(row[1] for row in sorted(info, key=lambda r: r[5]) if row[5] > 0)
        without_rowid = re.search(r"WITHOUT\s+ROWID\s*;?\s*$", sql, re.IGNORECASE) is not None
        virtual = sql.lstrip().upper().startswith("CREATE VIRTUAL")
        return Table(name, columns, key, rowid=not without_rowid and not virtual)

    def count(self, table: Table) -> int:
        return int(self.db.execute(f"SELECT count(*) FROM {_quote(table.name)}").fetchone()[0])

    def rows_to_inspect(self, table: Table) -> Iterator[Row]:
        if not table.columns:
            return
        selected = ", ".join(_quote(c) for c in table.columns)
        rowid = "rowid, " if table.rowid else ""
        condition = " OR ".join(_worth_a_look(_quote(c)) for c in table.columns)
        if table.name == HOST_TABLE:
            condition += f" OR {_host_worth_a_look()}"
        cursor = self.db.execute(f"SELECT {rowid}{selected} FROM {_quote(table.name)} WHERE {condition}")
        for values in cursor:
            if table.rowid:
                yield Row(table, values[0], dict(zip(table.columns, values[1:], strict=True)))
            else:
                yield Row(table, None, dict(zip(table.columns, values, strict=True)))

    def salts(self) -> list[tuple[int, int, bytes]]:
        rows = self.db.execute("SELECT site, day, salt FROM salts").fetchall()
        return [(int(site), int(day), bytes(salt)) for site, day, salt in rows]

    def sites(self) -> dict[int, tuple[str, str]]:
        return {int(i): (str(d), str(tz)) for i, d, tz in self.db.execute("SELECT id, domain, timezone FROM sites")}

    def small_segment_cells(self, site: int, before_day: int, min_visitors: int) -> list[tuple[int, int, str]]:
        rows = self.db.execute(_small_cells_sql("?"), (site, before_day, min_visitors, OTHER_CELLS))
        return [(int(dim), int(day), str(text)) for dim, day, text in rows]


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _worth_a_look(column: str) -> str:
    return (
        f"typeof({column}) = 'blob'"
        f" OR (typeof({column}) = 'integer' AND ({column} >= {HASH_SIZED} OR {column} <= -{HASH_SIZED}))"
        f" OR (typeof({column}) = 'text' AND ({column} GLOB '*[0-9].[0-9]*' OR {column} GLOB '*:*:*'"
        f" OR {column} GLOB '{_HEX_RUN}' OR {column} GLOB '*0[xX]*' OR {column} GLOB '*://*'))"
    )


def _host_worth_a_look() -> str:
    """A host value that could spell an address: it ends in a number, has a colon, or is not ASCII."""
    dim, value = _quote("dim"), _quote("value")
    dims = ", ".join(str(code) for code in HOST_DIMENSIONS)
    return (
        f"({dim} IN ({dims}) AND typeof({value}) = 'text'"
        f" AND ({value} GLOB '*[0-9]' OR {value} GLOB '*[0-9].' OR {value} GLOB '*:*' OR {value} GLOB '*[^ -~]*'))"
    )


_IDENTIFIER_TYPES = frozenset({"inet", "cidr", "macaddr", "macaddr8", "uuid"})
_TIME_TYPES = frozenset(
    {
        "date",
        "time without time zone",
        "time with time zone",
        "timestamp without time zone",
        "timestamp with time zone",
        "interval",
        "abstime",
        "reltime",
    }
)
_INTEGER_TYPES = frozenset({"smallint", "integer", "bigint"})
_NUMBER_TYPES = frozenset({"numeric", "real", "double precision"})
_SYSTEM_SCHEMAS = ("pg_catalog", "information_schema")


class PostgresDatabase:
    """A PostgreSQL deployment's database, read in one read-only transaction.

    Every schema but PostgreSQL's own is read, not only the store's: a table another program put
    beside Crumbless's, in a schema of its own, is just as much on the server's disk. Tables of
    the store's own schema (the first on the search path) are named bare, as the SQLite ones are;
    others with their schema. Values of types psycopg would turn into objects (addresses, times,
    JSON) are read as text, so the same judgements as SQLite's apply to them.
    """

    def __init__(self, url: str) -> None:
        import psycopg

        self.label = "PostgreSQL database"
        self.db = psycopg.connect(url, connect_timeout=10)
        self.db.read_only = True
        row = self.db.execute("SELECT current_schema()").fetchone()
        self.home = str(row[0]) if row is not None and row[0] is not None else "public"
        self.types: dict[tuple[str, str], str] = {}
        self._names: dict[str, tuple[str, str]] = {}

    def close(self) -> None:
        self.db.rollback()
        self.db.close()

    def _name(self, schema: str, table: str) -> str:
        name = table if schema == self.home else f"{schema}.{table}"
        self._names[name] = (schema, table)
        return name

    def _quoted(self, name: str) -> str:
        schema, table = self._names[name]
        return f"{_quote(schema)}.{_quote(table)}"

    def schema(self) -> Schema:
        outside = ", ".join(f"'{s}'" for s in _SYSTEM_SCHEMAS)
        columns = self.db.execute(
            "SELECT c.table_schema, c.table_name, c.column_name, c.data_type FROM information_schema.columns AS c "
            "JOIN information_schema.tables AS t ON (t.table_schema, t.table_name) = (c.table_schema, c.table_name) "
            f"WHERE t.table_type IN ('BASE TABLE', 'FOREIGN') AND c.table_schema NOT IN ({outside}) "
            "AND c.table_schema NOT LIKE 'pg!_%' ESCAPE '!' ORDER BY c.table_schema, c.table_name, c.ordinal_position"
        ).fetchall()
        keys = self.db.execute(
            "SELECT n.nspname, c.relname, a.attname FROM pg_index AS i JOIN pg_class AS c ON c.oid = i.indrelid "
            "JOIN pg_namespace AS n ON n.oid = c.relnamespace "
            "JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, position) ON true "
            "JOIN pg_attribute AS a ON a.attrelid = c.oid AND a.attnum = k.attnum "
            "WHERE i.indisprimary ORDER BY n.nspname, c.relname, k.position"
        ).fetchall()
        listed: dict[str, list[str]] = {}
        for schema, table, column, kind in columns:
            name = self._name(schema, table)
            listed.setdefault(name, []).append(column)
            self.types[(name, column)] = str(kind)
        key: dict[str, list[str]] = {}
        for schema, table, column in keys:
            key.setdefault(self._name(schema, table), []).append(column)
        tables = {
            name: Table(name, tuple(cols), tuple(key.get(name, ())), rowid=False) for name, cols in listed.items()
        }
        views = self.db.execute(
            f"SELECT table_schema, table_name FROM information_schema.views WHERE table_schema NOT IN ({outside}) "
            "UNION SELECT schemaname, matviewname FROM pg_matviews"
        ).fetchall()
        triggers = self.db.execute(
            "SELECT event_object_schema, trigger_name FROM information_schema.triggers "
            f"WHERE event_object_schema NOT IN ({outside})"
        ).fetchall()
        return Schema(
            tables,
            frozenset(self._name(schema, name) for schema, name in triggers),
            frozenset(self._name(schema, name) for schema, name in views),
        )

    def count(self, table: Table) -> int:
        row = self.db.execute(f"SELECT count(*) FROM {self._quoted(table.name)}".encode()).fetchone()
        return int(row[0]) if row is not None else 0

    def rows_to_inspect(self, table: Table) -> Iterator[Row]:
        """The same pre-filter as SQLite's, in PostgreSQL's terms (a regular expression for each GLOB)."""
        if not table.columns:
            return
        kinds = [self.types.get((table.name, c), "text") for c in table.columns]
        selected = ", ".join(_pg_selected(_quote(c), kind) for c, kind in zip(table.columns, kinds, strict=True))
        condition = " OR ".join(_pg_worth_a_look(_quote(c), kind) for c, kind in zip(table.columns, kinds, strict=True))
        if table.name == HOST_TABLE and {"dim", "value"} <= set(table.columns):
            dims = ", ".join(str(code) for code in HOST_DIMENSIONS)
            condition += (
                f' OR ("dim" IN ({dims}) AND ("value"::text ~ \'[0-9][.]?$\' OR "value"::text ~ \':\''
                " OR \"value\"::text ~ '[^ -~]'))"
            )
        sql = f"SELECT {selected} FROM {self._quoted(table.name)} WHERE {condition}"
        with self.db.cursor(name="crumbless_audit") as cursor:  # on the server: rows arrive as they are read
            for values in cursor.execute(sql.encode()):
                yield Row(table, None, {c: _plain(v) for c, v in zip(table.columns, values, strict=True)})

    def salts(self) -> list[tuple[int, int, bytes]]:
        """None are ever stored in PostgreSQL; a salts table there is reported by the schema check."""
        return []

    def sites(self) -> dict[int, tuple[str, str]]:
        rows = self.db.execute("SELECT id, domain, timezone FROM sites").fetchall()
        return {int(i): (str(d), str(tz)) for i, d, tz in rows}

    def small_segment_cells(self, site: int, before_day: int, min_visitors: int) -> list[tuple[int, int, str]]:
        rows = self.db.execute(_small_cells_sql("%s"), (site, before_day, min_visitors, OTHER_CELLS)).fetchall()
        return [(int(dim), int(day), str(text)) for dim, day, text in rows]

    def suspicious_types(self) -> Iterator[tuple[str, str, str]]:
        """(table, column, type) of columns whose type is made for what Crumbless never keeps."""
        for (table, column), kind in sorted(self.types.items()):
            if kind in _IDENTIFIER_TYPES:
                yield table, column, f"a column of type {kind}, made for an address or an identifier"
            elif kind in _TIME_TYPES:
                yield table, column, f"a column of type {kind}, which could hold the time of a hit"


def _pg_selected(column: str, kind: str) -> str:
    if kind in _INTEGER_TYPES or kind in _NUMBER_TYPES or kind == "bytea":
        return column
    return f"{column}::text"


def _pg_worth_a_look(column: str, kind: str) -> str:
    if kind == "bytea":
        return f"{column} IS NOT NULL"
    if kind in _INTEGER_TYPES or kind in _NUMBER_TYPES:
        return f"({column} >= {HASH_SIZED} OR {column} <= -{HASH_SIZED})"
    text = f"{column}::text"
    return (
        f"({text} ~ '[0-9][.][0-9]' OR {text} ~ ':.*:' OR {text} ~ '[0-9a-fA-F]{{16}}' OR {text} ~ '0[xX]'"
        f" OR {text} ~ '://')"
    )


def _plain(value: Any) -> Any:
    """A value as SQLite would have given it: an integral number as an int, a buffer as bytes."""
    if isinstance(value, memoryview):
        return value.tobytes()
    if isinstance(value, (int, str, bytes)) or value is None:
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    try:
        number = int(value)
    except (TypeError, ValueError, OverflowError):
        return str(value)
    return number if number == value else str(value)

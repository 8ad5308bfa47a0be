"""Reading a deployment's database for the audit, without changing it.

``Database`` is what the checks need from any store: its schema, its rows (pre-filtered to those
worth a closer look), its salts and its sites. ``SQLiteDatabase`` implements it; a PostgreSQL
implementation (``information_schema`` for the schema, the same filter in SQL) can follow
without touching the checks in ``schema.py`` and ``salts.py``.

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

HASH_SIZED = 1 << 48
"""Integers this large are no counter, day or id Crumbless stores; a 64-bit visitor hash almost always is."""

HOST_TABLE = "dim_values"
HOST_DIMENSIONS = tuple(BY_KEY[key].code for key in model.HOST_DIMENSIONS)
"""Dimension codes whose ``dim_values.value`` is named after a host. Such a value is judged as a
whole, as a host: there ``3325256769`` is the integer spelling of an address, while in a campaign
name it is a number."""

_HEX_RUN = "*" + "[0-9a-fA-F]" * 16 + "*"


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

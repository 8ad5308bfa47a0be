"""The import ledger's statements: an imported history's rows added, recorded, and taken back exactly.

An import is one transaction on the writing connection: the rows of any earlier import it
replaces are subtracted (the very additions recorded with that import, so live counts on the
same days stay), its own rows are added through the flush's statements (``Queries.write_batch``,
so roll-ups stay exact), and the import is recorded with those rows. A failure anywhere, or the
process killed before the commit, leaves the site as it was.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from collector.aggregator import Batch
from collector.model import BY_CODE, COUNTERS
from collector.store import ImportRecord, Row
from collector.store.errors import StoreError
from collector.store.queries import Connection, Queries, batch_rows, to_json

_RECORD = "id, site, source, first_day, last_day, created_at"


def record_of(row: Sequence[Any]) -> ImportRecord:
    return ImportRecord(int(row[0]), int(row[1]), str(row[2]), int(row[3]), int(row[4]), str(row[5]))


def ledger_text(batch: Batch) -> str:
    """What an import added, as JSON: [day, dimension, value, *counters] and [hour, *counters]."""
    daily = [[day, dim, value, *row] for (_, day, dim, value), row in batch.daily.items() if any(row)]
    hourly = [[hour, *row] for (_, hour), row in batch.hourly.items() if any(row)]
    return json.dumps({"daily": daily, "hourly": hourly}, ensure_ascii=False, separators=(",", ":"))


def taken_back(site: int, text: str, kept_from: int) -> Batch:
    """The additions recorded in ``text``, negated: writing them removes exactly what the import added.

    Days before ``kept_from`` (the site's first day that still has rows) are left out: retention
    has deleted them whole, with what the import had added there, so there is nothing to take back.
    """
    ledger = json.loads(text)
    batch = Batch()
    for day, dim, value, *row in ledger["daily"]:
        if int(day) >= kept_from:
            batch.daily[(site, int(day), str(dim), str(value))] = [-int(n) for n in row]
    for hour, *row in ledger["hourly"]:
        if int(hour) >= kept_from * 24:
            batch.hourly[(site, int(hour))] = [-int(n) for n in row]
    return batch


Rows = tuple[list[list[Any]], str]
"""A batch as the flush's statements take it: daily rows, their months, hours as JSON."""


def rows_of(batch: Batch) -> Rows:
    """``batch`` ready to write; checks every number (``batch_rows``) before a transaction starts."""
    daily, hourly = batch_rows(batch)
    return daily, to_json(hourly)


def write(queries: Queries, db: Connection, rows: Rows) -> None:
    queries.write_batch(db, *rows)


def overlapping(db: Connection, site: int, first_day: int, last_day: int) -> list[ImportRecord]:
    sql = f"SELECT {_RECORD} FROM imports WHERE site = ? AND first_day <= ? AND last_day >= ? ORDER BY id"
    return [record_of(row) for row in db.execute(sql, (site, last_day, first_day))]


def add_import(
    queries: Queries,
    db: Connection,
    site: int,
    source: str,
    days: tuple[int, int],
    batch: Batch,
    rows: Rows,
    replace: bool,
    now: str,
) -> ImportRecord:
    """In the caller's transaction: refuse or replace overlapping imports, add ``batch`` (as ``rows``),
    record it."""
    first_day, last_day = days
    earlier = overlapping(db, site, first_day, last_day)
    if earlier and not replace:
        names = ", ".join(f"#{r.id} ({r.source})" for r in earlier)
        raise StoreError(f"the site already holds import {names} over these days; --replace takes it out first")
    first_kept = db.execute("SELECT min(day) FROM daily WHERE site = ?", (site,)).fetchone()
    kept_from = int(first_kept[0]) if first_kept and first_kept[0] is not None else 2**31  # none left
    for old in earlier:
        (text,) = db.execute("SELECT added FROM imports WHERE id = ?", (old.id,)).fetchone()
        write(queries, db, rows_of(taken_back(site, str(text), kept_from)))
        db.execute("DELETE FROM imports WHERE id = ?", (old.id,))
    write(queries, db, rows)
    row = db.execute(
        f"INSERT INTO imports (site, source, first_day, last_day, created_at, added) VALUES (?, ?, ?, ?, ?, ?) "
        f"RETURNING {_RECORD}",
        (site, source, first_day, last_day, now, ledger_text(batch)),
    ).fetchone()
    return record_of(row)


def imports(db: Connection, site: int) -> list[ImportRecord]:
    sql = f"SELECT {_RECORD} FROM imports WHERE site = ? ORDER BY first_day, id"
    return [record_of(row) for row in db.execute(sql, (site,))]


def daily_rows(db: Connection, site: int, first_day: int, last_day: int) -> list[tuple[int, str, str, Row]]:
    """Every stored day row of a site in a range, (day, dimension, value, counters), in key order."""
    sql = (
        f"SELECT d.day, d.dim, v.value, {', '.join('d.' + c for c in COUNTERS)} FROM daily AS d "
        "JOIN dim_values AS v ON v.id = d.value WHERE d.site = ? AND d.day BETWEEN ? AND ? "
        "ORDER BY d.day, d.dim, v.value"
    )
    return [
        (int(row[0]), BY_CODE[int(row[1])].key, str(row[2]), dict(zip(COUNTERS, map(int, row[3:]), strict=True)))
        for row in db.execute(sql, (site, first_day, last_day))
    ]

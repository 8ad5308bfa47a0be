"""Folding small segment cells: the store's half of the privacy budget (``collector.budget``).

A segment cell pairs two dimensions' values (``model.SEGMENTS``); with few visitors it comes close
to describing someone ("the one visitor from Mastodon who read /pricing"). Once a site's day is
closed, a cell with fewer than k visitors moves into its pivot's ``(other)`` cell of the same day:
its counters are added there and subtracted from it, which is a flush's own arithmetic
(``Queries.write_batch``: the cell ends at zero and is deleted, the month moves alike, so the
roll-up stays the sum of its days and every sum over a pivot value stays exact). The text of a
value no row refers to any more is deleted after it, which is where the pair was written down.

Jobs run whole in the caller's transaction, as those of ``queries`` and ``imports`` do.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from collector.guard import OTHER
from collector.model import (
    BY_KEY,
    COUNTERS,
    PROP_SEPARATOR,
    SEGMENT_BY_KEY,
    SEGMENTS,
    TOTAL,
    VISITOR_CONSTANT,
    TopList,
    segment_value,
)
from collector.store.periods import month_of
from collector.store.queries import Connection, Queries, Row, _added, staged_rows, stored_text, to_json

SEGMENT_CODES: tuple[int, ...] = tuple(BY_KEY[segment.key].code for segment in SEGMENTS)
CHUNK = 2000
"""Value ids looked up per statement: SQLite takes at most 32,766 parameters in one."""
OTHER_CELLS = f"%{PROP_SEPARATOR}{OTHER}"
"""LIKE pattern of a pivot's ``(other)`` cell, which a fold leaves whatever its size (``other_cell``
judges a value exactly; this pattern only narrows a query down)."""
FOLD_BATCH = 20_000
"""Cells folded per transaction, about: a second or so of the writer's time, between flushes."""

Cells = dict[tuple[int, int, int, str], list[int]]  # (site, dim code, day or month, text) → counters


DERIVED: frozenset[str] = frozenset(s.key for s in SEGMENTS if s.listed in VISITOR_CONSTANT)
"""Segments whose ``(other)`` is never stored but worked out when read (``with_derived_other``).

Their listed value is one per visitor all day (``model.VISITOR_CONSTANT``), so the pivot value's
own row holds exactly what all its cells hold together, and its ``(other)`` is that row less the
cells kept: exact, and a row a day fewer per pivot value. A fold simply deletes their small cells."""
_DERIVED_CODES = frozenset(BY_KEY[key].code for key in DERIVED)
_CELLS_OF_ONE_PIVOT = 100_000
"""More than a visitor-constant list can have under one pivot value (countries, device classes)."""
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")

ALL_OTHER = segment_value(OTHER, OTHER)
"""Where the cells of a pivot value too small to be segmented go: the segment's ``(other)`` × ``(other)``."""
_PIVOT_CODE: dict[int, int] = {BY_KEY[s.key].code: BY_KEY[s.pivot].code for s in SEGMENTS}


def small_pivots(
    queries: Queries, db: Connection, site: int, first: int, last: int, min_visitors: int, codes: set[int]
) -> set[tuple[int, int, str]]:
    """(pivot dim code, day, text) of the pivot values whose own row counts fewer than k visitors.

    Every cell of such a value is under k too (a cell's visitors are some of its pivot's), and
    folding them into the value's own ``(other)`` would keep one row per value per segment, for
    nearly every page of a site's long tail, that says nothing a filter could use: the cells of a
    value too small to be segmented go to the segment's ``(other)`` × ``(other)`` instead. A value
    without a row of its own (never the case for a counted day) keeps its ``(other)``.
    """
    pivots = sorted({_PIVOT_CODE[code] for code in codes})
    if not pivots:
        return set()
    among, params = queries.dialect.among("d.dim", pivots)
    rows = db.execute(
        f"SELECT d.dim, d.day, v.value FROM daily AS d JOIN dim_values AS v ON v.id = d.value "
        f"WHERE d.site = ? AND {among} AND d.day BETWEEN ? AND ? AND d.visitors < ?",
        (site, *params, first, last, min_visitors),
    ).fetchall()
    return {(int(code), int(day), str(text)) for code, day, text in rows}


def with_derived_other(
    queries: Queries,
    db: Connection,
    listing: TopList,
    site: int,
    first: int,
    last: int,
    limit: int,
    offset: int,
    search: str,
    within: str,
) -> tuple[list[tuple[str, Row]], int]:
    """``Queries.breakdown`` within a pivot value for a ``DERIVED`` segment: its kept cells, and
    an ``(other)`` row that is the pivot value's own figures less theirs. A stored ``(other)`` cell
    (written before this, or for values the cardinality guard folded) is in that difference already.

    A pivot value has a few hundred such cells at most, so they are ordered, searched and cut to
    the page here, as the database would (search folds ASCII letters only, as both databases do).
    """
    segment = SEGMENT_BY_KEY[listing.dimension]
    # Read the other way round, ``(other)`` as a page is the folded pages of every pivot value,
    # not a page: none of its cells is a cell of it.
    rows: list[tuple[str, Row]] = []
    if not (segment.read_from and within == OTHER):
        rows = queries.breakdown(db, listing, site, first, last, _CELLS_OF_ONE_PIVOT, 0, "", within)[0]
    kept = [(text, row) for text, row in rows if text != OTHER]
    own = queries.value_totals(db, site, segment.pivot, within, first, last)
    other = {c: own[c] - sum(row[c] for _, row in kept) for c in listing.counters}
    if other[listing.rank_counter] > 0:
        kept.append((OTHER, other))
    if search:
        needle = search.lower()
        kept = [(text, row) for text, row in kept if needle in text.translate(_ASCII_LOWER)]
    kept.sort(key=lambda item: (tuple(-item[1][c] for c in listing.order), item[0]))
    return kept[offset : offset + limit], len(kept)


def other_cell(value: str) -> str:
    """The ``(other)`` cell of a segment value's pivot, as it is stored (cut like any value)."""
    return stored_text(segment_value(value.partition(PROP_SEPARATOR)[0], OTHER))


def _small(queries: Queries, codes: Sequence[int]) -> tuple[str, list[Any]]:
    """The condition of the cells under k in a range of days, by the primary key's prefix (site,
    dim, day), so that a long history costs nothing, only the days asked; and its dimension codes."""
    among, params = queries.dialect.among("d.dim", codes)
    return f"d.site = ? AND {among} AND d.day BETWEEN ? AND ? AND d.visitors < ?", params


def fold_plan(
    queries: Queries, db: Connection, site: int, first: int, last: int, min_visitors: int
) -> list[tuple[int, ...]]:
    """The segments with cells under k in the range, in groups of about ``FOLD_BATCH`` cells: a
    fold is one transaction per group, so a busy day's fold lets flushes in between. Read alone:
    a range with nothing to fold costs no write at all."""
    condition, codes = _small(queries, SEGMENT_CODES)
    counts = db.execute(
        f"SELECT d.dim, count(*) FROM daily AS d JOIN dim_values AS v ON v.id = d.value WHERE {condition} "
        "AND v.value NOT LIKE ? GROUP BY d.dim ORDER BY d.dim",
        (site, *codes, first, last, min_visitors, OTHER_CELLS),
    ).fetchall()
    groups: list[tuple[int, ...]] = []
    group: list[int] = []
    size = 0
    for code, n in counts:
        if group and size + int(n) > FOLD_BATCH:
            groups.append(tuple(group))
            group, size = [], 0
        group.append(int(code))
        size += int(n)
    return [*groups, tuple(group)] if group else groups


def small_cells(
    queries: Queries,
    db: Connection,
    site: int,
    first: int,
    last: int,
    min_visitors: int,
    segments: Sequence[int] = SEGMENT_CODES,
) -> list[tuple[int, int, int, str, list[int]]]:
    """(dim code, day, value id, text, counters) of the cells under ``min_visitors`` of ``segments``
    (dimension codes) in the range that are not their pivot's ``(other)``."""
    condition, codes = _small(queries, segments)
    rows = db.execute(
        f"SELECT d.dim, d.day, d.value, v.value, {', '.join('d.' + c for c in COUNTERS)} FROM daily AS d "
        f"JOIN dim_values AS v ON v.id = d.value WHERE {condition} ORDER BY d.dim, d.day, d.value",
        (site, *codes, first, last, min_visitors),
    ).fetchall()
    cells = []
    for code, day, value, text, *counters in rows:
        if str(text) != other_cell(str(text)):
            cells.append((int(code), int(day), int(value), str(text), [int(n) for n in counters]))
    return cells


def _add(cells: dict[Any, list[int]], key: Any, counters: Sequence[int]) -> None:
    summed = cells.setdefault(key, [0] * len(COUNTERS))
    for i, n in enumerate(counters):
        summed[i] += n


def _rows(cells: dict[Any, list[int]]) -> list[list[Any]]:
    return [[*key, *counters] for key, counters in cells.items()]


_KEY = ("dim", "period", "value")
_MOVED = (*_KEY, *COUNTERS)


def fold_segments(
    queries: Queries,
    db: Connection,
    site: int,
    first: int,
    last: int,
    min_visitors: int,
    segments: Sequence[int] = SEGMENT_CODES,
) -> int:
    """Fold the range's small cells (``collector.store.SegmentStore.fold_segments``); returns how many.

    The ``(other)`` cells, one per pivot value, are added to as a flush adds (by text: they may be
    new), except a ``DERIVED`` segment's, which is never stored; the folded cells, nearly all of
    the rows moved, are deleted by key and taken out of their months by key, without looking their
    text up again.
    """
    cells = small_cells(queries, db, site, first, last, min_visitors, segments)
    if not cells:
        return 0
    stored = {code for code, *_ in cells} - _DERIVED_CODES
    small = small_pivots(queries, db, site, first, last, min_visitors, stored)
    daily: Cells = {}
    taken: dict[tuple[int, int, int], list[int]] = {}  # (dim code, month, value id) → counters
    for code, day, value, text, counters in cells:
        month = month_of(day)
        _add(taken, (code, month, value), counters)
        if code not in stored:
            continue  # a DERIVED segment's (other) is its pivot's row less the cells kept
        pivot = text.partition(PROP_SEPARATOR)[0]
        target = ALL_OTHER if (_PIVOT_CODE[code], day, pivot) in small else other_cell(text)
        _add(daily, (site, code, day, target), counters)
    queries.write_batch(db, staged_rows(daily), "[]")
    days = {(code, day, value): counters for code, day, value, _, counters in cells}
    _take_out(queries, db, site, "daily", "day", days, whole=list(days))  # read in this transaction: exact
    _take_out(queries, db, site, "monthly", "month", taken)
    forget_values(queries, db, site, sorted({(code, value) for code, _, value, _, _ in cells}))
    return len(cells)


def _take_out(
    queries: Queries,
    db: Connection,
    site: int,
    table: str,
    period: str,
    rows: dict[tuple[int, int, int], list[int]],
    whole: list[tuple[int, int, int]] | None = None,
) -> None:
    """Subtract ``rows`` ((dim code, period, value id) → counters) from ``table``, by key.

    A row that holds exactly what is taken (every cell's day row, and the month of a value seen on
    that day alone) is deleted outright; only the rest is updated, and deleted if it ends at zero:
    an update rewrites the row's entries in every index of ``monthly``, a deletion only removes them.
    ``whole``: the keys known to hold exactly what is taken, if the caller knows them.
    """
    keys = f"(dim, {period}, value) IN (SELECT dim, period, value FROM {queries.dialect.rows(_KEY, _KEY)} AS j)"
    if whole is None:
        whole = _holding(db, table, period, keys, site, rows)
    db.execute(f"DELETE FROM {table} WHERE site = ? AND {keys}", (site, to_json(whole)))
    deleted = set(whole)
    rest = {key: counters for key, counters in rows.items() if key not in deleted}
    if not rest:
        return
    columns = ", ".join(("dim", period, "value", *COUNTERS))
    negated = ", ".join(f"-j.{c}" if c in COUNTERS else f"j.{c}" for c in _MOVED)
    db.execute(
        f"INSERT INTO {table} (site, {columns}) SELECT ?, {negated} FROM {queries.dialect.rows(_MOVED, _MOVED)} AS j "
        f"WHERE true ORDER BY j.dim, j.period, j.value "
        f"ON CONFLICT (site, dim, {period}, value) DO UPDATE SET {_added(table, COUNTERS)}",
        (site, to_json(_rows(rest))),
    )
    zero = " AND ".join(f"{c} = 0" for c in COUNTERS)
    db.execute(f"DELETE FROM {table} WHERE site = ? AND {zero} AND {keys}", (site, to_json(list(rest))))


def _holding(
    db: Connection, table: str, period: str, keys: str, site: int, rows: dict[tuple[int, int, int], list[int]]
) -> list[tuple[int, int, int]]:
    """The keys of ``rows`` whose stored row holds exactly their counters."""
    stored = db.execute(
        f"SELECT dim, {period}, value, {', '.join(COUNTERS)} FROM {table} WHERE site = ? AND {keys}",
        (site, to_json(list(rows))),
    ).fetchall()
    return [
        (int(code), int(when), int(value))
        for code, when, value, *counters in stored
        if [int(n) for n in counters] == rows.get((int(code), int(when), int(value)))
    ]


def _chunks(values: Sequence[int]) -> Iterator[Sequence[int]]:
    for start in range(0, len(values), CHUNK):
        yield values[start : start + CHUNK]


def forget_values(queries: Queries, db: Connection, site: int, values: Sequence[tuple[int, int]]) -> None:
    """Delete the text of the (dim code, value id) pairs no day or month row refers to any more.

    Looked up in ``monthly`` alone: every day row is in its month's row (a month is the sum of its
    days, none negative, and zero rows are deleted), and a dimension's months are far fewer rows.
    """
    by_dim: dict[int, list[int]] = {}
    for code, value in values:
        by_dim.setdefault(code, []).append(value)
    for code, ids in by_dim.items():
        for chunk in _chunks(ids):
            among, params = queries.dialect.among("value", chunk)
            kept = {
                int(row[0])
                for row in db.execute(
                    f"SELECT DISTINCT value FROM monthly WHERE site = ? AND dim = ? AND {among}", (site, code, *params)
                )
            }
            gone = [value for value in chunk if value not in kept]
            if gone:
                among, params = queries.dialect.among("id", gone)
                db.execute(f"DELETE FROM dim_values WHERE site = ? AND dim = ? AND {among}", (site, code, *params))


def last_counted_day(db: Connection, site: int, before_day: int) -> int | None:
    row = db.execute(
        "SELECT max(day) FROM daily WHERE site = ? AND dim = ? AND day < ?", (site, TOTAL.code, before_day)
    ).fetchone()
    return None if row is None or row[0] is None else int(row[0])

"""Counters a stop could not write, kept in a file until the next start puts them in the database.

A stop has a deadline: the service manager kills the process when its stop timeout is over
(docs/deployment.md), and a database that stays locked, down or full until then would take every
acknowledged hit still in memory down with the process. So when the final flush runs out of time
(``Flusher.final_flush``), what it holds is written here instead, and the next start merges it
back into the aggregator before it serves.

The file holds exactly what the aggregator's batch holds — counter rows keyed by site, day,
dimension and value, or by site and hour, and their numbers — so it is as anonymous as the
``daily`` and ``hourly`` tables; nothing about a visitor (address, User-Agent, visitor hash, salt)
ever reaches the aggregator, and so nothing can reach this file. Its shape is checked by
``problems`` both here, before anything in it is counted, and by ``crumbless audit``.

It is written atomically (temporary file, fsync, rename, fsync of the directory), mode 0600, so a
crash while writing leaves either the old file or the new one, never half of one. A file that is
not one Crumbless wrote (truncated, edited, another version) is moved aside, never counted and
never a reason not to start. Once its counters are in the database the flusher removes it (see
``Flusher`` for why a crash in between neither loses nor double-counts them).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from collector.aggregator import Batch
from collector.model import COUNTERS, HOURLY_COUNTERS

log = logging.getLogger("crumbless.spill")

FILENAME = "pending-counters.json"
FORMAT = "crumbless-pending-counters"
VERSION = 1
TEMPORARY_SUFFIX = ".tmp"
SET_ASIDE_SUFFIX = ".unreadable-"
"""A file that could not be read is renamed ``pending-counters.json.unreadable-<UTC time>``."""

DAILY_KEY = ("site", "day", "dim", "value")
HOURLY_KEY = ("site", "hour")
_TABLES = {"daily": (DAILY_KEY, COUNTERS), "hourly": (HOURLY_KEY, HOURLY_COUNTERS)}
_FIELDS = {"format", "version", *_TABLES}
_TEXT_KEYS = frozenset({"dim", "value"})


class SpillError(ValueError):
    """The file is not a pending-counters file this version can count; the message names the place, never a value."""


_SPILL_NAME = re.compile(r"pending-counters(-\d+)?\.json(\.tmp|\.unreadable-.*)?")


def is_spill_name(name: str) -> bool:
    """Whether a file in the data directory is a spill file: one, its temporary or a set-aside copy
    (not the empty lock files of ``claim``)."""
    return _SPILL_NAME.fullmatch(name) is not None


def slot_name(slot: int) -> str:
    return FILENAME if slot == 0 else FILENAME.replace(".json", f"-{slot}.json")


def lock_name(slot: int) -> str:
    return slot_name(slot).replace(".json", ".lock")


def claim(data_dir: Path, slots: int = 64) -> SpillFile:
    """The spill file of the first slot no running process holds, held by this one until it ends.

    ``crumbless serve --workers N`` runs N processes on one data directory, and each must spill
    to a file of its own (one file would keep only the last stop's counters); a worker that starts
    again takes a free slot and with it what an earlier worker left there. The hold is a ``flock``
    on the slot's lock file, which the kernel releases however the process ends.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    for slot in range(slots):
        lock = data_dir / lock_name(slot)
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            continue
        return SpillFile(data_dir, slot, lock=fd)
    raise OSError(f"all {slots} pending-counter slots of {data_dir} are held by running processes")


def encode(batch: Batch) -> bytes:
    """ASCII JSON: lone surrogates a hostile page put in a path survive the round trip (``\\udxxx``)."""
    document: dict[str, Any] = {"format": FORMAT, "version": VERSION}
    for table, rows in (("daily", batch.daily), ("hourly", batch.hourly)):
        key, columns = _TABLES[table]
        document[table] = {
            "columns": [*key, *columns],
            "rows": [[*k, *counts] for k, counts in rows.items() if any(counts)],
        }
    return json.dumps(document, ensure_ascii=True, separators=(",", ":")).encode("ascii")


def problems(document: Any) -> Iterator[tuple[str, str]]:
    """(where, what is wrong) for everything in a parsed file that is not a counter row of a known shape.

    The messages name fields and row numbers, never the values: the log and the audit report
    must not repeat what a file of unknown origin holds.
    """
    if not isinstance(document, dict):
        yield "", "not a JSON object"
        return
    for name in sorted(set(document) - _FIELDS):
        yield f"field {name!r}", "is not part of a pending-counters file"
    if document.get("format") != FORMAT or document.get("version") != VERSION:
        yield "format", f"is not {FORMAT} version {VERSION}"
    for table, (key, columns) in _TABLES.items():
        yield from _table_problems(table, document.get(table), key, columns)


def _table_problems(table: str, part: Any, key: tuple[str, ...], columns: tuple[str, ...]) -> Iterator[tuple[str, str]]:
    if not isinstance(part, dict) or set(part) != {"columns", "rows"}:
        yield table, "must be an object with exactly 'columns' and 'rows'"
        return
    names = part["columns"]
    if not _valid_columns(names, key, columns):
        yield f"{table} columns", f"must be {', '.join(key)} and then distinct counters of {', '.join(columns)}"
        return
    rows = part["rows"]
    if not isinstance(rows, list):
        yield f"{table} rows", "is not a list"
        return
    for n, row in enumerate(rows):
        if not isinstance(row, list) or len(row) != len(names):
            yield f"{table} row {n}", f"is not a list of {len(names)} values"
            continue
        for name, value in zip(names, row, strict=True):
            if name in _TEXT_KEYS:
                if not isinstance(value, str):
                    yield f"{table} row {n} {name}", "is not text"
            elif type(value) is not int or (name in key and value < 0):  # bool is no count; a key is no negative id
                yield f"{table} row {n} {name}", "is not a whole number" + (" of at least 0" if name in key else "")


def _valid_columns(names: Any, key: tuple[str, ...], columns: tuple[str, ...]) -> bool:
    """Counters are matched by name, so a file a version with fewer counters wrote still counts."""
    if not isinstance(names, list) or tuple(names[: len(key)]) != key:
        return False
    counters = names[len(key) :]
    return all(isinstance(c, str) and c in columns for c in counters) and len(set(counters)) == len(counters)


def decode(data: bytes) -> Batch:
    """The batch a file holds; ``SpillError`` if any part of it is not a counter row."""
    try:
        document = json.loads(data)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise SpillError(f"not JSON ({type(exc).__name__})") from None
    for where, what in problems(document):
        raise SpillError(f"{where} {what}".strip())
    batch = Batch()
    for table, rows in (("daily", batch.daily), ("hourly", batch.hourly)):
        key, columns = _TABLES[table]
        names = document[table]["columns"]
        slots = [columns.index(c) for c in names[len(key) :]]
        for row in document[table]["rows"]:
            counts = rows.setdefault(tuple(row[: len(key)]), [0] * len(columns))
            for slot, n in zip(slots, row[len(key) :], strict=True):
                counts[slot] += n
    return batch


class SpillFile:
    """One spill file of a data directory (``claim`` picks which)."""

    def __init__(self, data_dir: Path, slot: int = 0, lock: int | None = None) -> None:
        self.path = data_dir / slot_name(slot)
        self._temporary = data_dir / (self.path.name + TEMPORARY_SUFFIX)
        self._lock = lock

    def release(self) -> None:
        """Let the slot go (``claim``): after the final flush, or its spill, of a stop."""
        if self._lock is not None:
            os.close(self._lock)
            self._lock = None

    def save(self, batch: Batch) -> bool:
        """Write ``batch`` in place of any earlier file; False (and logged) if the disk refused."""
        data = encode(batch)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self._temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as f:
                os.fchmod(f.fileno(), 0o600)  # an older temporary file keeps its mode through O_TRUNC
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(self._temporary, self.path)
        except OSError as exc:
            log.error("could not write the pending counters to %s: %s", self.path, exc.strerror or exc)
            self._temporary.unlink(missing_ok=True)
            return False
        _sync_directory(self.path.parent)
        return True

    def load(self) -> Batch | None:
        """The counters an earlier stop left, or None; an unreadable file is set aside, never fatal."""
        if self._temporary.exists():
            # A crash between writing and renaming: the previous file (if any) is the one that counts.
            self._temporary.unlink(missing_ok=True)
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            log.error(
                "could not read %s, starting without its counters (the file is left as it is): %s",
                self.path,
                exc.strerror or exc,
            )
            return None
        try:
            return decode(data)
        except SpillError as exc:
            aside = self._set_aside()
            log.error(
                "%s is not a pending-counters file Crumbless can count (%s); %s, starting without its counters",
                self.path,
                exc,
                aside,
            )
            return None

    def _set_aside(self) -> str:
        aside = self.path.with_name(self.path.name + SET_ASIDE_SUFFIX + time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()))
        try:
            os.replace(self.path, aside)
        except OSError as exc:
            return f"and it could not be moved aside ({exc.strerror or exc})"
        return f"moved it to {aside.name}"

    def discard(self) -> None:
        """Called once its counters are in the database; a failure only delays it (logged)."""
        try:
            self.path.unlink(missing_ok=True)
        except OSError as exc:
            log.error(
                "could not remove %s although its counters are written; remove it before the next start: %s",
                self.path,
                exc.strerror or exc,
            )
            return
        _sync_directory(self.path.parent)


def _sync_directory(directory: Path) -> None:
    """Makes a rename or unlink durable: without it a power loss may bring the old entry back.

    Best effort: some file systems refuse to sync a directory, and the entry is changed anyway.
    """
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

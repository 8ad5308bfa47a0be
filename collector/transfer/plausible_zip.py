"""Read a Plausible CSV export zip into Crumbless's daily rows, checking every line before anything is written.

The whole zip is read and checked first; only a zip without a single fault becomes a batch for
the store, which adds it in one transaction (``ImportStore.add_import``). A fault is one line
naming the file and the line: an operator can open the file there and see it. A member larger
than ``MAX_MEMBER_BYTES`` is refused from the size its header declares, before any of it is
inflated, and never more than a member's declared size is read.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import IO

from collector.aggregator import Aggregator, Batch
from collector.guard import prop_value
from collector.localtime import day_number
from collector.model import COUNTERS, EVENTS
from collector.transfer.plausible_format import BY_NAME, EVENT_PROP_COLUMNS, MS_PER_SECOND, TABLES, Table, to_crumbless
from collector.transfer.progress import Meter
from collector.urls import clean_text

MAX_MEMBER_BYTES = 1 << 30
"""A CSV larger than 1 GiB uncompressed is refused: a decade of a busy site's daily rows is far less."""
MAX_TEXT = 2048
"""Characters kept of a text cell (a page path, a source): Crumbless's own paths stop at 512."""
MAX_NUMBER = 2**53
FIRST_DATE = date(1990, 1, 1)
"""No web analytics history is older; an earlier date is a broken export."""

_NAME = re.compile(r"^(imported_[a-z_]+?)(?:_(\d{8})_(\d{8}))?\.csv$")
_NULL = "\\N"  # ClickHouse's CSV spelling of NULL (a left join's missing side)
_COLUMN = {name: i for i, name in enumerate(COUNTERS)}
_ENGAGED = _COLUMN["engaged_ms"]
_EMPTY = frozenset({"", "0", _NULL})


class _SiteCounts(Aggregator):
    """The aggregator, for one site: the CSV rows name no site."""

    def __init__(self, site: int) -> None:
        super().__init__()
        self.site = site

    def put(self, day: int, dim: str, value: str, column: int, n: int) -> None:
        self.add(self.site, day, dim, value, column, n)


class BadImport(Exception):
    """The file cannot be imported; the message names the file and line, and nothing was written."""


@dataclass
class Imported:
    """What a zip holds, as Crumbless rows, and what of it maps to nothing in Crumbless."""

    batch: Batch
    first_day: int
    last_day: int
    lines: int = 0
    unmapped: Counter[str] = field(default_factory=Counter)


@dataclass(frozen=True)
class _Member:
    info: zipfile.ZipInfo
    table: Table
    first: date | None
    last: date | None


def read_zip(source: Path | IO[bytes], label: str, site: int, today: date, quiet: bool = False) -> Imported:
    """Every row of the zip at ``source`` (``label`` names it in messages), checked, as one batch
    of the site's rows. ``today`` is the site's local date: a row dated after tomorrow is refused
    (tomorrow is allowed: an export made where the day has already turned ends a day ahead)."""
    latest = today + timedelta(days=1)
    try:
        archive = zipfile.ZipFile(source)
    except (zipfile.BadZipFile, OSError) as exc:
        raise BadImport(f"{label}: not a zip file ({exc})") from None
    with archive:
        members = _members(archive, label)
        meter = Meter(f"reading {label}", sum(m.info.file_size for m in members), "bytes", quiet=quiet)
        counts = _SiteCounts(site)
        imported = Imported(Batch(), 0, 0)
        days: set[int] = set()
        try:
            for member in members:
                _read_member(archive, member, latest, counts, imported, days, meter)
        finally:
            meter.close()
    if not days:
        ranges = [(m.first, m.last) for m in members if m.first and m.last]
        if not ranges:
            raise BadImport(f"{label}: holds no rows and its file names give no dates")
        days = {day_number(min(r[0] for r in ranges)), day_number(max(r[1] for r in ranges))}
    imported.batch = counts.drain()
    imported.first_day, imported.last_day = min(days), max(days)
    return imported


def _members(archive: zipfile.ZipFile, label: str) -> list[_Member]:
    found: dict[str, _Member] = {}
    for info in archive.infolist():
        match = _NAME.match(info.filename)
        table = BY_NAME.get(match.group(1)) if match else None
        if match is None or table is None:
            raise BadImport(f"{label}: {info.filename} is not one of Plausible's export files ({_expected()})")
        if table.name in found:
            raise BadImport(f"{label}: {info.filename}: a second {table.name} file")
        if info.file_size > MAX_MEMBER_BYTES:
            raise BadImport(
                f"{label}: {info.filename} is {info.file_size:,} bytes uncompressed, over the "
                f"{MAX_MEMBER_BYTES:,} an import reads"
            )
        first, last = (
            (_file_date(label, info.filename, g) for g in match.group(2, 3)) if match.group(2) else (None, None)
        )
        if first and last and first > last:
            raise BadImport(f"{label}: {info.filename}: its name's range ends before it starts")
        found[table.name] = _Member(info, table, first, last)
    missing = [t.name for t in TABLES if t.name not in found]
    if missing:
        raise BadImport(f"{label}: no {', '.join(missing)} file: the zip is not a whole Plausible export")
    return [found[t.name] for t in TABLES]


def _expected() -> str:
    return "imported_<table>_<YYYYMMDD>_<YYYYMMDD>.csv for " + ", ".join(
        t.name.removeprefix("imported_") for t in TABLES
    )


def _file_date(label: str, name: str, text: str) -> date:
    try:
        return date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        raise BadImport(f"{label}: {name}: {text} in its name is not a date") from None


def _lines(archive: zipfile.ZipFile, member: _Member, where: str, meter: Meter) -> Iterator[tuple[int, list[str]]]:
    raw = archive.open(member.info)
    counted = _Counted(raw, meter)
    text = io.TextIOWrapper(io.BufferedReader(counted), encoding="utf-8", newline="")
    reader = csv.reader(text, strict=True)
    try:
        for fields in reader:
            yield reader.line_num, fields
    except UnicodeDecodeError:
        raise BadImport(f"{where} line {reader.line_num + 1}: not UTF-8 text") from None
    except csv.Error as exc:
        raise BadImport(f"{where} line {reader.line_num}: not CSV ({exc})") from None
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise BadImport(f"{where}: the zip is damaged ({exc})") from None


class _Counted(io.RawIOBase):
    """A member's bytes as they are inflated, counted for the progress report."""

    def __init__(self, raw: IO[bytes], meter: Meter) -> None:
        self.raw, self.meter = raw, meter

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        data = self.raw.read(len(buffer))
        buffer[: len(data)] = data
        self.meter.advance(len(data))
        return len(data)


def _read_member(
    archive: zipfile.ZipFile,
    member: _Member,
    today: date,
    counts: _SiteCounts,
    imported: Imported,
    days: set[int],
    meter: Meter,
) -> None:
    table, name = member.table, member.info.filename
    lines = _lines(archive, member, name, meter)
    header_line = next(lines, None)
    if header_line is None:
        raise BadImport(f"{name} line 1: empty, without the header line")
    header = [h.strip() for h in header_line[1]]
    required = [c for c in table.columns if c not in table.optional]
    absent = [c for c in required if c not in header]
    if absent or len(set(header)) != len(header):
        problem = f"lacks {', '.join(absent)}" if absent else "names a column twice"
        raise BadImport(f"{name} line 1: the header {problem} ({', '.join(table.columns)} expected)")
    for extra in (h for h in header if h not in table.columns):
        imported.unmapped[f"{table.name}.{extra} (a column Crumbless does not know)"] += 0
    position = {column: i for i, column in enumerate(header)}
    numbers = [(position[c], c, _COLUMN[counter]) for c, counter in table.counters if c in position]
    checked = [(position[c], c) for c in table.numeric_unmapped if c in position]
    noted = [(position[c], f"{table.name}.{c}") for c in table.unmapped if c in position]
    keys = [(position[c], dim) for c, dim in table.keys]
    width, at_date = len(header), position["date"]
    dated: dict[str, int] = {}  # a date's text → its day, checked once per file
    for number, fields in lines:
        if len(fields) != width:
            raise BadImport(f"{name} line {number}: {len(fields)} fields, the header has {width}")
        imported.lines += 1
        text = fields[at_date]
        day = dated.get(text)
        if day is None:
            day = dated[text] = _day(f"{name} line {number}", text, member, today)
        adds = [(column, _count(name, number, c, fields[i])) for i, c, column in numbers]
        for i, c in checked:
            _count(name, number, c, fields[i])
        for i, note in noted:
            if fields[i] not in _EMPTY:
                imported.unmapped[note] += 1
        values = [("total", "")] if not keys else []
        for i, dim in keys:
            value = clean_text(fields[i], MAX_TEXT)
            if value:
                values.append((dim, to_crumbless(dim, value)))
        for dim, value in values:
            for column, n in adds:
                if n:
                    counts.put(day, dim, value, column, n * MS_PER_SECOND if column == _ENGAGED else n)
        if table.name == "imported_custom_events":
            _event_extras(fields, position, day, adds, counts, values)
    days.update(dated.values())


def _day(at: str, text: str, member: _Member, today: date) -> int:
    try:
        when = date.fromisoformat(text)
    except ValueError:
        raise BadImport(f"{at}: date {text!r} is not YYYY-MM-DD") from None
    if len(text) != 10:
        raise BadImport(f"{at}: date {text!r} is not YYYY-MM-DD")
    low, high = member.first or FIRST_DATE, member.last or today
    if not FIRST_DATE <= when <= today or not low <= when <= high:
        raise BadImport(f"{at}: date {text} is outside {max(low, FIRST_DATE)} to {min(high, today)}")
    return day_number(when)


def _count(name: str, line: int, column: str, text: str) -> int:
    if text.isdigit() and text.isascii() and len(text) <= 16 and int(text) < MAX_NUMBER:
        return int(text)
    if text == _NULL:
        return 0
    raise BadImport(f"{name} line {line}: {column} {text[:40]!r} is not a whole number from 0 to 2^53")


def _event_extras(
    fields: list[str],
    position: dict[str, int],
    day: int,
    adds: list[tuple[int, int]],
    counts: _SiteCounts,
    values: list[tuple[str, str]],
) -> None:
    """A custom event's row also counts in the site's events, and its link or path becomes a property."""
    if not values:
        return
    name = values[0][1]
    counts.put(day, "total", "", EVENTS, dict(adds).get(EVENTS, 0))
    for column, key in EVENT_PROP_COLUMNS:
        text = clean_text(fields[position[column]], MAX_TEXT) if column in position else ""
        if text:
            for counter, n in adds:
                counts.put(day, "event_prop", prop_value(name, key, text), counter, n)

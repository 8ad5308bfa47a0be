"""Which files the audit reads, and reading them: every byte, in bounded memory.

The files are everything under the data directory, the database with its ``-wal``,
``-journal`` and ``-shm`` companions wherever it lives, and the logs the operator names
(``-`` is standard input, for ``journalctl … | crumbless audit --log -``). Each is read in
overlapping chunks, so an 8 MB country database or a multi-gigabyte log costs a megabyte of
memory; gzip, bzip2 and xz files (rotated logs) are read decompressed. File names are checked
too: a file named after an address (a per-client rate-limit file, say) is a record of it.

The spill file a stop leaves when it could not write its counters (``collector/spill.py``) is
Crumbless's own: it is read for addresses like any other file, and ``spill_files`` picks it out
so that ``audit/pending.py`` can also hold it to its format (counter rows and nothing else).

A file that opens as a MaxMind DB is skipped: it is the public, read-only country database,
whose search tree is made of networks, and it holds nothing about visitors. It is recognised by
its content (``maxminddb`` must open it), not by its name, and every skip is listed in the report.
"""

from __future__ import annotations

import bz2
import contextlib
import gzip
import io
import lzma
import os
import sys
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING

import maxminddb

from collector.audit.addresses import LONGEST_MATCH, AddressRules, Sighting, sightings
from collector.audit.findings import ADDRESS, UNCHECKED, Finding, Report
from collector.audit.sqlitefile import RECORD_SPAN, CarvedSalt, carve_salts
from collector.spill import is_spill_name

if TYPE_CHECKING:
    from _typeshed import SupportsRead  # all a scan needs of a stream, be it a file, stdin or a decompressor

CHUNK = 1 << 20
KEEP = 4 * max(LONGEST_MATCH, RECORD_SPAN)
"""Bytes each chunk shares with the next, so no match is cut in two and each has its context."""

SQLITE_COMPANIONS = ("", "-wal", "-journal", "-shm")
_MAXMIND_MARKER = b"\xab\xcd\xefMaxMind.com"
_MAXMIND_TAIL = 128 * 1024
_COMPRESSED: tuple[tuple[bytes, str, Callable[[IO[bytes]], io.BufferedIOBase]], ...] = (
    (b"\x1f\x8b", "gzip", lambda raw: gzip.GzipFile(fileobj=raw)),
    (b"BZh", "bzip2", lambda raw: bz2.BZ2File(raw)),
    (b"\xfd7zXZ\x00", "xz", lambda raw: lzma.LZMAFile(raw)),
)
_UNSUPPORTED = ((b"\x28\xb5\x2f\xfd", "zstd"),)


@dataclass(frozen=True)
class Target:
    label: str               # how the report names it
    path: Path | None        # None: standard input
    name: str = ""           # the part of its path Crumbless or its operator chose: checked for addresses too


def targets(data_dir: Path, database: Path, logs: Sequence[str]) -> list[Target]:
    """Every file to read, each once (a log inside the data directory is not read twice)."""
    found: dict[str, Target] = {}
    for path in _walk(data_dir):
        found.setdefault(_identity(path), Target(str(path), path, str(path.relative_to(data_dir))))
    for path in (database.with_name(database.name + s) for s in SQLITE_COMPANIONS):
        if path.is_file():
            found.setdefault(_identity(path), Target(str(path), path, path.name))
    for log in logs:
        if log == "-":
            found.setdefault("-", Target("standard input", None))
        else:
            path = Path(log)
            found.setdefault(_identity(path), Target(str(path), path, path.name))
    return list(found.values())


def spill_files(files: Sequence[Target], data_dir: Path) -> list[tuple[Target, Path]]:
    """The spill files among the targets (with their paths): in the data directory itself, named as
    ``collector/spill.py`` names them."""
    return [
        (t, t.path) for t in files if t.path is not None and t.path.parent == data_dir and is_spill_name(t.path.name)
    ]


def _walk(root: Path) -> Iterator[Path]:
    """Files under ``root``, sorted, not descending into symlinked directories (they lead elsewhere)."""
    for folder, dirs, files in os.walk(root, followlinks=False):
        dirs.sort()
        for name in sorted(files):
            if (Path(folder) / name).is_file():
                yield Path(folder) / name


def _identity(path: Path) -> str:
    try:
        return str(path.resolve())
    except OSError:
        return str(path.absolute())


def is_maxmind_db(path: Path) -> bool:
    """True if ``maxminddb`` opens the file; the marker check first keeps other files cheap."""
    try:
        with path.open("rb") as f:
            f.seek(max(0, path.stat().st_size - _MAXMIND_TAIL))
            if _MAXMIND_MARKER not in f.read():
                return False
        maxminddb.open_database(str(path)).close()
        return True
    except (OSError, ValueError, maxminddb.InvalidDatabaseError):
        return False


def windows(stream: SupportsRead[bytes]) -> Iterator[tuple[bytes, int, int, int]]:
    """(buffer, offset of its first byte, first offset reported here, first offset left to the next).

    Consecutive buffers share ``KEEP`` bytes on each side of the hand-over point: a match
    starting before it is reported by this window and is complete in it; one starting after it
    is reported by the next window, which still holds the bytes before it as context.
    """
    carry, base, reported = b"", 0, 0
    while True:
        chunk = stream.read(CHUNK)
        buffer = carry + chunk
        limit = len(buffer) if not chunk else max(len(buffer) - KEEP, 0)
        yield buffer, base, reported, base + limit
        if not chunk:
            return
        keep_from = max(limit - KEEP, 0)
        carry, reported, base = buffer[keep_from:], base + limit, base + keep_from


Carved = list[tuple[str, CarvedSalt]]


def scan_files(files: Sequence[Target], rules: AddressRules, salt_days: tuple[int, int], report: Report) -> Carved:
    """Report the addresses in every file; return the salt records found, to be judged against
    the live salts (which only the database check knows)."""
    carved: Carved = []
    for target in files:
        for sighting in sightings(target.name.encode("utf-8", "surrogateescape"), rules):
            record(sighting, f"name of {target.label}", report)
        if target.path is not None and is_maxmind_db(target.path):
            report.skip(target.label, "a MaxMind DB (the country database): networks, no visitor data")
            continue
        try:
            with _opened(target) as (stream, label):
                carved += _scan_stream(stream, label, rules, salt_days, report)
                report.files += 1
        except (OSError, EOFError, lzma.LZMAError, zlib.error, _Unsupported) as exc:
            report.add(Finding(UNCHECKED, target.label, _unreadable(exc)))
    return carved


def _unreadable(exc: Exception) -> str:
    if isinstance(exc, _Unsupported):
        return str(exc)
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc) or type(exc).__name__
    return f"could not be read: {reason}"


class _Unsupported(Exception):
    """A file the audit cannot read as-is; the operator must decompress it first."""


@contextlib.contextmanager
def _opened(target: Target) -> Iterator[tuple[SupportsRead[bytes], str]]:
    """The target's bytes, decompressed if it is a compressed file, and the label to report."""
    if target.path is None:
        yield sys.stdin.buffer, target.label
        return
    with target.path.open("rb") as raw:
        magic = raw.read(6)
        raw.seek(0)
        for prefix, name in _UNSUPPORTED:
            if magic.startswith(prefix):
                raise _Unsupported(f"is {name}-compressed; decompress it and pass the result with --log")
        for prefix, name, opener in _COMPRESSED:
            if magic.startswith(prefix):
                with opener(raw) as stream:
                    yield stream, f"{target.label} ({name}-decompressed)"
                return
        yield raw, target.label


def _scan_stream(
    stream: SupportsRead[bytes], label: str, rules: AddressRules, salt_days: tuple[int, int], report: Report
) -> Carved:
    carved: Carved = []
    for buffer, base, first, end in windows(stream):
        report.bytes += end - first
        for sighting in sorted(sightings(buffer, rules, base), key=lambda s: s.offset):
            if first <= sighting.offset < end:
                record(sighting, f"{label} @ {sighting.offset}", report)
        carved += [(label, salt) for salt in carve_salts(buffer, *salt_days, base=base) if first <= salt.offset < end]
    return carved


def record(sighting: Sighting, where: str, report: Report) -> None:
    """A sighting becomes a finding, or a count under the allow-list rule that excused it."""
    if sighting.excuse is not None:
        report.excuse(sighting.excuse)
        return
    kind = f"IPv{sighting.address.version} address"
    if sighting.address.version == 6 and sighting.address.ipv4_mapped is not None:
        kind = "IPv4-mapped IPv6 address"
    encoding = " (UTF-16-LE text)" if sighting.encoding != "text" else ""
    report.add(Finding(ADDRESS, where, f"{kind}{encoding}", sighting.text))

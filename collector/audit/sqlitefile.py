"""Reading SQLite's file format directly, for what SQL cannot show: deleted data.

A ``DELETE`` removes a row from the tables but, unless ``secure_delete`` is on, leaves its bytes
in the file (in free pages and in the unused space of b-tree pages), and every version of a page
written since the last checkpoint stays in the WAL. So the audit looks at the bytes:

* ``carve_salts`` finds every record shaped like a row of the ``salts`` table (site, day, 32-byte
  salt) anywhere in a file: the live row, old page images in the WAL or a rollback journal, a
  stale copy of the database. A salt that is not a current row was deleted and must not be there.
* ``dirty_free_pages`` walks the main file's freelist; with ``secure_delete`` on, SQLite zeroes a
  page when it frees it, so any non-zero byte on a free page is deleted data that survived.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

SALT_BYTES = 32

# A record header of exactly three columns: header length 4, two integer serial types (1-6 are
# 1/2/3/4/6/8-byte integers, 8 and 9 the constants 0 and 1), then a 32-byte blob (12 + 2*32 = 76).
_SALT_RECORD = re.compile(rb"\x04([\x01-\x06\x08\x09])([\x01-\x06\x08\x09])\x4c", re.DOTALL)
_INT_WIDTH = {1: 1, 2: 2, 3: 3, 4: 4, 5: 6, 6: 8, 8: 0, 9: 0}
RECORD_SPAN = 4 + 8 + 8 + SALT_BYTES

HEADER = b"SQLite format 3\x00"


@dataclass(frozen=True)
class CarvedSalt:
    offset: int
    site: int
    day: int
    salt: bytes


def carve_salts(data: bytes, first_day: int, last_day: int, base: int = 0) -> Iterator[CarvedSalt]:
    """Salts-table records in ``data`` whose day lies in [first_day, last_day].

    The day range (the caller passes decades around today) and a non-zero salt rule out chance
    matches in unrelated binary data, which would otherwise occur about once per 60 MB.
    """
    for match in _SALT_RECORD.finditer(data):
        record = _decode(data, match)
        if record is None:
            continue
        site, day, salt = record
        if site >= 1 and first_day <= day <= last_day and any(salt):
            yield CarvedSalt(base + match.start(), site, day, salt)


def _decode(data: bytes, match: re.Match[bytes]) -> tuple[int, int, bytes] | None:
    at = match.end()
    values = []
    for serial in (match.group(1)[0], match.group(2)[0]):
        width = _INT_WIDTH[serial]
        if serial in (8, 9):
            values.append(serial - 8)
            continue
        values.append(int.from_bytes(data[at : at + width], "big", signed=True))
        at += width
    salt = data[at : at + SALT_BYTES]
    if len(salt) < SALT_BYTES:
        return None
    return values[0], values[1], salt


@dataclass(frozen=True)
class FreePage:
    number: int
    offset: int   # of the page in the file
    nonzero: int  # bytes that should be zero but are not


def dirty_free_pages(path: Path) -> tuple[int, list[FreePage]]:
    """(free pages in the main file, those still holding data). Reads the file, never writes it.

    Trunk pages legitimately hold the freelist itself (next trunk, count, leaf page numbers);
    only the rest of a trunk page, and all of a leaf page, must be zero — except that when SQLite
    takes a leaf off a trunk it lowers the count and leaves the last slot's old page number
    behind. Those stale slots are page numbers of this file, never deleted data, so a 4-byte word
    in the rest of a trunk page that is a page number of the file is allowed (32 random salt
    bytes, or text, almost never are).
    """
    with path.open("rb") as f:
        header = f.read(100)
        if len(header) < 100 or not header.startswith(HEADER):
            return 0, []
        page_size = int.from_bytes(header[16:18], "big")
        page_size = 65536 if page_size == 1 else page_size
        trunk = int.from_bytes(header[32:36], "big")
        dirty: list[FreePage] = []
        seen = 0
        while trunk and seen <= _page_count(f, page_size):
            page = _page(f, trunk, page_size)
            if len(page) < page_size:
                break
            leaves = int.from_bytes(page[4:8], "big")
            used = 8 + 4 * leaves
            seen += 1 + _check_leaves(f, page[8:used], page_size, dirty)
            _note(dirty, trunk, page_size, _without_stale_slots(page[used:], _page_count(f, page_size)))
            trunk = int.from_bytes(page[0:4], "big")
        return seen, dirty


def _check_leaves(f: BinaryIO, numbers: bytes, page_size: int, dirty: list[FreePage]) -> int:
    count = 0
    for i in range(0, len(numbers) - 3, 4):
        number = int.from_bytes(numbers[i : i + 4], "big")
        _note(dirty, number, page_size, _page(f, number, page_size))
        count += 1
    return count


def _without_stale_slots(rest: bytes, pages: int) -> bytes:
    """The unused part of a trunk page with every slot holding a page number of the file zeroed."""
    words = [rest[i : i + 4] for i in range(0, len(rest), 4)]
    return b"".join(bytes(len(w)) if len(w) == 4 and 0 < int.from_bytes(w, "big") <= pages else w for w in words)


def _note(dirty: list[FreePage], number: int, page_size: int, must_be_zero: bytes) -> None:
    nonzero = len(must_be_zero) - must_be_zero.count(0)
    if nonzero:
        dirty.append(FreePage(number, (number - 1) * page_size, nonzero))


def _page(f: BinaryIO, number: int, page_size: int) -> bytes:
    f.seek((number - 1) * page_size)
    return f.read(page_size)


def _page_count(f: BinaryIO, page_size: int) -> int:
    f.seek(0, 2)
    return f.tell() // page_size

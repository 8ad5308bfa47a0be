"""The visitor record: what the counting rules must remember about each visitor of the open day.

It lives in memory only (a process's, or Redis's with persistence off), never on disk. Two
byte forms: ``pack`` numbers its strings in a table per site-day, for the memory state, which
holds every visitor of the day and must be small; ``encode`` carries its strings itself, for a
shared state, where each collector has tables of its own.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass

from collector.model import BY_KEY, SLOTS

VisitValues = tuple[tuple[str, str], ...]
_MARK = struct.Struct("<I")


@dataclass(slots=True)
class VisitorRecord:
    """What counting.py reads and changes for one visitor; stores keep it packed (see ``pack``)."""

    site: int
    day: int
    last_seen: int = 0          # whole seconds
    last_hour: int = -1         # last local hour of the day (0–23) this visitor was counted active in
    visit_hour: int = -1        # hour of the day the current visit's visit/bounce/duration are booked in
    pageviews: int = 0          # in the current visit
    bounced: bool = False       # the current visit is currently counted as a bounce
    page_scroll: int = -1       # max scroll counted for the current pageview
    previous_scroll: int = -1   # ... and for the pageview before it
    values: VisitValues = ()    # the current visit's dimension values, incl. total and entry page
    last_path: str = ""         # current exit page of the visit ("" before its first pageview)
    previous_path: str = ""     # the pageview before it, whose last engagement ping may arrive late
    counted: bytes = b""        # 4-byte fingerprints of the (dim, value) pairs counted today
    burst: int = 0              # hits counted in the clock minute of last_seen (the flood limit's)
    funnels: bytes = b""        # per funnel in progress: its id (u32), then the steps reached (low 7
    #                             bits) and whether progress lasts the day, not only the visit (top bit)

    def first_time(self, mark: int) -> bool:
        """Remember ``mark``; True when it was not remembered yet.

        A bytes string rather than an array or a set: it is the smallest container (a set of 12
        ints costs ~700 bytes, an array ~150, these bytes ~80), and a visitor has a dozen marks.
        """
        needle = _MARK.pack(mark)
        found = self.counted.find(needle)
        while found >= 0:
            if found % 4 == 0:
                return False
            found = self.counted.find(needle, found + 1)
        self.counted += needle
        return True


# A packed record: its numbers, then how many (dimension, value) pairs it has, the numbers of
# its strings, then its marks. Fixed-size types are safe here: the day is a day number (u16 lasts
# until 2149), last_seen is in seconds (u32 until 2106), pageviews saturates (only "≥ 2" matters),
# string numbers are per site-day.
_HEADER = struct.Struct("<IHIbbBBbbBIIBB")
MAX_PAGEVIEWS = 0xFF
MAX_BURST = 0xFF
MAX_PAIRS = 0xFF  # (dimension, value) pairs a record can hold; a visit has about a dozen
FUNNEL_ENTRY = 5  # bytes per funnel in ``VisitorRecord.funnels``
# A (slot, value) pair: the slot is one of a fixed few (model.SLOTS, or a dimension), so a byte names it; the value
# a string number of 24 bits (``MAX_STRINGS``). One u32, not 8 bytes: a dozen pairs a visit, a record per visitor.
_SLOT_KEYS: tuple[str, ...] = tuple(dict.fromkeys((*SLOTS, *BY_KEY)))
_SLOT_CODE: dict[str, int] = {key: code for code, key in enumerate(_SLOT_KEYS)}
_PAIR = struct.calcsize("<I")
_NUMBER_BITS = 24
MAX_STRINGS = 1 << _NUMBER_BITS
"""Strings a site-day's table can number. Its strings are the values the cardinality guard lets
through (at most ``CRUMBLESS_MAX_VALUES`` per dimension, which config bounds so that a record's
dimensions cannot reach this), and the pages."""


class Strings:
    """The strings of one site-day, numbered, so that a packed record holds 4-byte numbers.

    A record refers to a dozen strings (its visit's dimension names and values, its last two
    pages). As references in tuples they cost ~600 bytes a visit, since almost every visit has
    its own combination; as numbers they cost 4 bytes each. The strings themselves are the
    values the aggregator's cardinality guard lets through that day, so the table is bounded.
    """

    __slots__ = ("numbers", "strings")

    def __init__(self) -> None:
        self.numbers: dict[str, int] = {"": 0}
        self.strings: list[str] = [""]

    def number(self, text: str) -> int:
        number = self.numbers.get(text)
        if number is None:
            number = len(self.strings)
            if number >= MAX_STRINGS:
                raise OverflowError(f"a site-day's string table is full ({MAX_STRINGS} strings)")
            self.numbers[text] = number
            self.strings.append(text)
        return number


def pack(record: VisitorRecord, strings: Strings) -> bytes:
    """One bytes object per visitor (~200 bytes): the state holds every visitor of the day."""
    values = record.values[:MAX_PAIRS]
    number = strings.number
    header = _HEADER.pack(
        record.site,
        record.day,
        record.last_seen,
        record.last_hour,
        record.visit_hour,
        min(record.pageviews, MAX_PAGEVIEWS),
        record.bounced,
        record.page_scroll,
        record.previous_scroll,
        len(values),
        number(record.last_path),
        number(record.previous_path),
        min(record.burst, MAX_BURST),
        len(record.funnels) // FUNNEL_ENTRY,
    )
    pairs = [_SLOT_CODE[slot] << _NUMBER_BITS | number(value) for slot, value in values]
    return header + struct.pack(f"<{len(values)}I", *pairs) + record.funnels + record.counted


def unpack(data: bytes, strings_of: Callable[[int, int], Strings]) -> VisitorRecord:
    """The record, with its strings looked up in the table of its site-day (read from its header)."""
    (site, day, last_seen, last_hour, visit_hour, pageviews, bounced, page_scroll, previous_scroll,
     count, last_path, previous_path, burst, funnels) = _HEADER.unpack_from(data)
    strings = strings_of(site, day)
    pairs = struct.unpack_from(f"<{count}I", data, _HEADER.size)
    text = strings.strings
    low = MAX_STRINGS - 1
    marks = _HEADER.size + _PAIR * count + FUNNEL_ENTRY * funnels
    return VisitorRecord(
        site,
        day,
        last_seen,
        last_hour,
        visit_hour,
        pageviews,
        bool(bounced),
        page_scroll,
        previous_scroll,
        tuple((_SLOT_KEYS[pair >> _NUMBER_BITS], text[pair & low]) for pair in pairs),
        text[last_path],
        text[previous_path],
        data[marks:],
        burst,
        data[marks - FUNNEL_ENTRY * funnels : marks],
    )


def site_day_seen(data: bytes) -> tuple[int, int, int]:
    """The fields housekeeping and the realtime view read, without building a record."""
    site, day, last_seen = _HEADER.unpack_from(data)[:3]
    return site, day, last_seen


_LENGTH = struct.Struct("<I")


def encode(record: VisitorRecord) -> bytes:
    """A record that carries its strings (a table of its own, then ``pack``'s form).

    For a state that collectors share: each collector numbers strings in tables of its own, so
    the numbers alone would mean nothing to the next collector that reads the record.
    """
    table = Strings()
    packed = pack(record, table)
    texts = [text.encode("utf-8", "surrogatepass") for text in table.strings[1:]]
    return b"".join([_LENGTH.pack(len(texts)), *(_LENGTH.pack(len(t)) + t for t in texts), packed])


def decode(data: bytes) -> VisitorRecord:
    (count,) = _LENGTH.unpack_from(data)
    offset = _LENGTH.size
    table = Strings()
    for _ in range(count):
        (size,) = _LENGTH.unpack_from(data, offset)
        offset += _LENGTH.size
        table.strings.append(data[offset : offset + size].decode("utf-8", "surrogatepass"))
        offset += size
    return unpack(data[offset:], lambda site, day: table)

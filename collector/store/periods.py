"""Which stored periods a range of days reads: whole months from the roll-ups, the rest as days.

The ``monthly`` rows of a month are the sums of its ``daily`` rows, written in the same
transaction as they are (every flush, a late one included), so a range may take any month it
covers whole from there: a year is a dozen rows per value instead of 365.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from collector.localtime import date_of, day_number


def month_of(day: int) -> int:
    """The month a day number falls in, as year * 12 + month - 1 (what ``monthly.month`` holds)."""
    d = date_of(day)
    return d.year * 12 + d.month - 1


def first_day(month: int) -> int:
    return day_number(date(month // 12, month % 12 + 1, 1))


@dataclass(frozen=True)
class Parts:
    days: tuple[tuple[int, int], ...]  # inclusive day ranges read from daily rows
    months: tuple[int, int] | None  # an inclusive range of whole months read from monthly rows


def split(first: int, last: int) -> Parts:
    """``first``..``last`` as whole months plus at most two runs of days at its ends."""
    if first > last:
        return Parts((), None)
    whole_from = month_of(first) if first_day(month_of(first)) == first else month_of(first) + 1
    whole_to = month_of(last) if first_day(month_of(last) + 1) == last + 1 else month_of(last) - 1
    if whole_from > whole_to:
        return Parts(((first, last),), None)
    days = []
    if first < first_day(whole_from):
        days.append((first, first_day(whole_from) - 1))
    if first_day(whole_to + 1) <= last:
        days.append((first_day(whole_to + 1), last))
    return Parts(tuple(days), (whole_from, whole_to))

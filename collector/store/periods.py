"""Which stored periods a range of days reads: whole months from the roll-ups, the rest as days.

The ``monthly`` rows of a month are the sums of its ``daily`` rows, written in the same
transaction as they are (every flush, a late one included), so a range may take any month it
covers whole from there: a year is a dozen rows per value instead of 365.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import lru_cache

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
    less: tuple[tuple[int, int], ...] = ()  # inclusive day ranges whose daily rows are taken away

    def periods(self) -> int:
        """How many days and months are read: what one value's key lookups cost."""
        runs = (*self.days, *self.less, *([self.months] if self.months else []))
        return sum(b - a + 1 for a, b in runs)


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


@lru_cache(maxsize=256)
def reads(first: int, last: int) -> Parts:
    """``split``, but a month the range covers most of is read as its month less the days it
    leaves out, since a month is the sum of its days: 30 days from the 3rd are a month's rows,
    less two days', and two days', instead of thirty days' (in a busy site's segment, 1,600 rows
    each). Exact for any sum; ``Store.top``'s pruning needs parts that only add, so it uses ``split``.
    Kept for the ranges in use: one overview plans the same range for every list, and a filtered
    list plans it twice (``Queries.cells_by_key``, then its read)."""
    parts = split(first, last)
    if first > last:
        return parts
    months = list(range(parts.months[0], parts.months[1] + 1)) if parts.months else []
    days: list[tuple[int, int]] = []
    less: list[tuple[int, int]] = []
    for a, b in _by_month(parts.days):
        month = month_of(a)
        begins, ends = first_day(month), first_day(month + 1) - 1
        if (b - a + 1) * 2 > ends - begins + 1:
            months.append(month)
            less += [(x, y) for x, y in ((begins, a - 1), (b + 1, ends)) if x <= y]
        else:
            days.append((a, b))
    span = (min(months), max(months)) if months else None
    return Parts(tuple(days), span, tuple(less))


def _by_month(runs: tuple[tuple[int, int], ...]) -> list[tuple[int, int]]:
    """Day runs cut at month ends."""
    pieces = []
    for a, b in runs:
        while a <= b:
            end = min(b, first_day(month_of(a) + 1) - 1)
            pieces.append((a, end))
            a = end + 1
    return pieces

"""Server time → a site's local day and hour, as small integers.

Days and hours are stored as integers (days since 1970-01-01, and ``day * 24 + hour``) rather than
text: they are part of every aggregate row's key, so each byte saved is saved on every row, and
integer ranges make the read side's range queries trivial. The day is the site's *local* day,
which is what its owner means by "today" and what the daily salt follows.
"""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


def day_number(d: date) -> int:
    return d.toordinal() - EPOCH_ORDINAL


def date_of(day: int) -> date:
    return date.fromordinal(day + EPOCH_ORDINAL)


def local_day_hour(ts: float, tz: ZoneInfo) -> tuple[int, int]:
    """The site-local day number and hour number of a UTC timestamp.

    A DST change merely makes a local day 23 or 25 hours long; both repeated 01:00 hours of a
    fall-back night land in the same hour bucket, which is what a person reading an hourly chart
    in local time expects.
    """
    cached = _HOURS.get(tz)
    if cached is not None and cached[0] <= ts < cached[1]:
        return cached[2]
    local = datetime.fromtimestamp(ts, tz)
    day = day_number(local.date())
    answer = day, day * 24 + local.hour
    start = math.floor(ts) - local.minute * 60 - local.second  # the local hour's first second
    offset = local.utcoffset()
    if datetime.fromtimestamp(start, tz).utcoffset() == offset == datetime.fromtimestamp(start + 3599, tz).utcoffset():
        _HOURS[tz] = (start, start + 3600, answer)
    return answer


_HOURS: dict[ZoneInfo, tuple[int, int, tuple[int, int]]] = {}
"""Per zone, the local hour last asked for: [first, last second + 1) and its answer. Every beacon
asks, and the answer changes once an hour; it is kept only for an hour whose UTC offset holds
from its first second to its last (a clock change inside it is answered second by second)."""


@lru_cache(maxsize=4096)
def day_end(day: int, tz: ZoneInfo) -> int:
    """The Unix second at which the site-local ``day`` is over: its next local midnight.

    Cached: the Redis state asks it for every beacon's commit, and it changes once a day per site.
    """
    return int(datetime.combine(date_of(day + 1), datetime.min.time(), tz).timestamp())


@lru_cache(maxsize=1024)
def local_hours(day: int, tz: ZoneInfo) -> tuple[int, ...]:
    """The local hours (0-23) the site-local ``day`` really had: 23 on a spring-forward day (the
    skipped hour never happened, so a chart must not show it as a dip), 24 on a fall-back day
    (its repeated hour is one bucket, as ``local_day_hour`` counts it), and in a zone that moved
    its clocks at midnight a day may start at 01:00. Read at every quarter hour of the day, so
    half-hour shifts (Lord Howe Island) are seen too."""
    start = int(datetime.combine(date_of(day), datetime.min.time(), tz).timestamp())
    end = day_end(day, tz)
    seen = {datetime.fromtimestamp(ts, tz).hour for ts in range(start, end, 900)}
    return tuple(sorted(seen))


def today(tz: ZoneInfo, now: float) -> int:
    return local_day_hour(now, tz)[0]


def hour_label(hour: int) -> str:
    return f"{date_of(hour // 24).isoformat()}T{hour % 24:02d}"


def previous_period(start: date, end: date) -> tuple[date, date]:
    """The period of equal length just before [start, end], for change figures."""
    length = (end - start).days + 1
    return start - timedelta(days=length), start - timedelta(days=1)

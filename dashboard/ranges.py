"""Date ranges as the URL spells them: ``?period=7d`` or ``?period=custom&from=…&to=…``.

The range lives in the query string (never in a session) so any view can be bookmarked and
shared, and the dashboard, CSV and API all read it with this one parser. Presets are relative
to the site's own local "today", because that is the day its owner means.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from urllib.parse import urlencode

from dashboard.stats import Range

PERIODS: dict[str, str] = {
    "today": "Today",
    "yesterday": "Yesterday",
    "7d": "Last 7 days",
    "30d": "Last 30 days",
    "month": "This month",
    "lastmonth": "Last month",
    "year": "This year",
    "custom": "Custom range",
}
DEFAULT_PERIOD = "30d"
MAX_DAYS = 3660  # ten years: a bound, so a typo cannot ask for a million-day series


class RangeError(ValueError):
    """A range the client must fix; the message names the parameter."""


@dataclass(frozen=True)
class Period:
    key: str
    range: Range

    @property
    def label(self) -> str:
        if self.key != "custom":
            return PERIODS[self.key]
        first, last = self.range.first, self.range.last
        return first.isoformat() if first == last else f"{first.isoformat()} – {last.isoformat()}"

    def query(self, **extra: str | int) -> str:
        """This range as a query string (plus ``extra``), for links that must keep it."""
        params: dict[str, str | int] = {"period": self.key}
        if self.key == "custom":
            params.update({"from": self.range.first.isoformat(), "to": self.range.last.isoformat()})
        params.update({k: v for k, v in extra.items() if v not in ("", None)})
        return urlencode(params)


def preset(key: str, today: date) -> Range:
    if key == "today":
        return Range(today, today)
    if key == "yesterday":
        day = today - timedelta(days=1)
        return Range(day, day)
    if key == "7d":
        return Range(today - timedelta(days=6), today)
    if key == "30d":
        return Range(today - timedelta(days=29), today)
    if key == "month":
        return Range(today.replace(day=1), today)
    if key == "lastmonth":
        last = today.replace(day=1) - timedelta(days=1)
        return Range(last.replace(day=1), last)
    if key == "year":
        return Range(today.replace(month=1, day=1), today)
    raise RangeError(f"period must be one of {', '.join(PERIODS)}, got {key!r}")


_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)


def _given_date(params: Mapping[str, str], name: str) -> date | None:
    """``from`` or ``to`` if present, which must then be a YYYY-MM-DD date whatever the period.

    Only that form: ``date.fromisoformat`` also reads ``20260131`` and ``2026-W05-1``, which the
    OpenAPI ``date`` format (RFC 3339 full-date) does not allow. A malformed date beside a preset
    period is refused too rather than ignored: a client that sends one has a bug it should hear of.
    """
    raw = params.get(name)
    if raw is None:
        return None
    try:
        if _ISO_DATE.fullmatch(raw) is None:
            raise ValueError(raw)
        return date.fromisoformat(raw)
    except ValueError:
        shown = raw if len(raw) <= 40 else raw[:37] + "..."
        raise RangeError(f"{name} must be a date like 2026-01-31, got {shown!r}") from None


def _date(params: Mapping[str, str], name: str) -> date:
    given = _given_date(params, name)
    if given is None:
        raise RangeError(f"period=custom needs {name} (a date like 2026-01-31)")
    return given


def parse(params: Mapping[str, str], today: date) -> Period:
    key = params.get("period", DEFAULT_PERIOD)  # an empty one is a mistake too, not the default
    if key != "custom":
        for name in ("from", "to"):
            _given_date(params, name)  # unused, but must be well-formed
        return Period(key, preset(key, today))
    first, last = _date(params, "from"), _date(params, "to")
    if first > last:
        raise RangeError("from must not be after to")
    if (last - first).days >= MAX_DAYS:
        raise RangeError(f"a range may span at most {MAX_DAYS} days")
    if first.year < 1971:
        raise RangeError("from must be after 1970")
    return Period(key, Range(first, last))

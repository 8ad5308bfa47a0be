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

from dashboard import formats
from dashboard.i18n import N_, TranslatedError, gettext, sticky_query
from dashboard.stats import Range

PERIODS: dict[str, str] = {  # catalog messages: shown through gettext
    "today": N_("Today"),
    "yesterday": N_("Yesterday"),
    "7d": N_("Last 7 days"),
    "30d": N_("Last 30 days"),
    "month": N_("This month"),
    "lastmonth": N_("Last month"),
    "year": N_("This year"),
    "custom": N_("Custom range"),
}
DEFAULT_PERIOD = "30d"
MAX_DAYS = 3660  # ten years: a bound, so a typo cannot ask for a million-day series


class RangeError(TranslatedError):
    """A range the client must fix; the message names the parameter."""


@dataclass(frozen=True)
class Period:
    key: str
    range: Range

    @property
    def label(self) -> str:
        """The range's name in the reader's language: "Last 7 days", or a custom range's dates."""
        return gettext(PERIODS[self.key]) if self.key != "custom" else self.dates

    @property
    def dates(self) -> str:
        """The days it spans, as the reader's language writes them: Jan 5 – 12, 2026 / 5–12 ene 2026."""
        return formats.date_range(self.range.first, self.range.last)

    def query(self, **extra: str | int) -> str:
        """This range as a query string (plus ``extra``), for links that must keep it.

        A share link opened with ``?lang=`` keeps it too, so its reader stays in that language.
        """
        params: dict[str, str | int] = {"period": self.key}
        if self.key == "custom":
            params.update({"from": self.range.first.isoformat(), "to": self.range.last.isoformat()})
        params.update({k: v for k, v in extra.items() if v not in ("", None)})
        params.update(sticky_query())
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
    raise RangeError(N_("period must be one of {periods}, got {value!r}"), periods=", ".join(PERIODS), value=key)


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
        raise RangeError(N_("{name} must be a date like 2026-01-31, got {value!r}"), name=name, value=shown) from None


def _date(params: Mapping[str, str], name: str) -> date:
    given = _given_date(params, name)
    if given is None:
        raise RangeError(N_("period=custom needs {name} (a date like 2026-01-31)"), name=name)
    return given


def parse(params: Mapping[str, str], today: date) -> Period:
    key = params.get("period", DEFAULT_PERIOD)  # an empty one is a mistake too, not the default
    if key != "custom":
        for name in ("from", "to"):
            _given_date(params, name)  # unused, but must be well-formed
        return Period(key, preset(key, today))
    first, last = _date(params, "from"), _date(params, "to")
    if first > last:
        raise RangeError(N_("from must not be after to"))
    if (last - first).days >= MAX_DAYS:
        raise RangeError(N_("a range may span at most {days} days"), days=MAX_DAYS)
    if first.year < 1971:
        raise RangeError(N_("from must be after 1970"))
    return Period(key, Range(first, last))

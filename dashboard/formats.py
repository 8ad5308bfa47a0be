"""Numbers, percentages, durations, dates and names as the reader's language writes them (CLDR, by Babel).

Every figure the dashboard shows goes through here, so ``1,234.5`` reads ``1.234,5`` in Spanish,
"Jan 5" reads "5 ene" and "FR" reads "France" or "Francia", from one table of conventions
(CLDR) rather than from format strings scattered through the templates and the chart.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import date, datetime
from functools import lru_cache

from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_interval, format_skeleton, format_time
from babel.lists import format_list
from babel.numbers import NumberPattern, format_compact_decimal
from babel.units import format_unit

from dashboard.i18n import current, gettext

MISSING = "–"  # a figure that does not exist (no data), as opposed to a zero


def _locale() -> Locale:
    return current().locale


@lru_cache(maxsize=64)
def _pattern(locale: Locale, kind: str, decimals: int) -> NumberPattern:
    """The locale's own decimal or percent pattern, with up to ``decimals`` fraction digits."""
    base: NumberPattern = locale.decimal_formats[None] if kind == "decimal" else locale.percent_formats[None]
    pattern = copy.copy(base)
    pattern.frac_prec = (0, decimals)
    return pattern


def number(value: float | int | None, decimals: int = 2) -> str:
    """12,345 / 12.345; a fraction keeps up to ``decimals`` digits (views per visit: 2.35)."""
    if value is None:
        return MISSING
    locale = _locale()
    if type(value) is int and (whole := _whole_numbers(locale)) is not None:
        return whole(value)
    return str(_pattern(locale, "decimal", decimals).apply(value, locale))


_CHECKED = (0, 7, 42, 999, 1000, 1234, 9999, 10000, 12345, 123456, 1234567, 12345678, 1234567890, -1, -1234, -12345)


@lru_cache(maxsize=16)
def _whole_numbers(locale: Locale) -> Callable[[int], str] | None:
    """Whole numbers written as Babel writes them in ``locale``, without its pattern machinery.

    A year's chart and lists write a few thousand figures a page, and Babel takes ~15 µs for
    each (most of the overview's time outside its queries). Python's ``,`` grouping, with the
    locale's group symbol and minus sign, and no group where the locale wants none in short
    numbers (Spanish writes 1234 but 12.345), is the same text for the locales whose grouping is
    plain thousands: checked against Babel on sample numbers, and Babel it is where it differs.
    """
    pattern = _pattern(locale, "decimal", 0)
    babel = [str(pattern.apply(n, locale)) for n in _CHECKED]
    symbols = locale.number_symbols.get("latn", locale.number_symbols)
    group, minus = symbols.get("group", ","), symbols.get("minusSign", "-")
    ungrouped_below = 10000 if babel[_CHECKED.index(1234)] == "1234" else 1000

    def whole(n: int) -> str:
        digits = f"{abs(n)}" if abs(n) < ungrouped_below else f"{abs(n):,}".replace(",", group)
        return minus + digits if n < 0 else digits

    return whole if [whole(n) for n in _CHECKED] == babel else None


def percent(value: float | int | None, decimals: int = 1) -> str:
    """``value`` is already in percent (42.5 → "42.5%" / "42,5 %")."""
    if value is None:
        return MISSING
    locale = _locale()
    return str(_pattern(locale, "percent", decimals).apply(value / 100, locale))


def signed_change(value: float | None, points: bool = False) -> str:
    """A change against the previous period: "+12%", "−3.5 pp" ("+12 %", "−3,5 p. p.")."""
    if value is None:
        return gettext("no earlier data")
    sign = "+" if value > 0 else "−" if value < 0 else "±"
    if points:
        return sign + gettext("{value} pp").format(value=number(abs(value), 1))
    return sign + percent(abs(value))


def compact(value: float) -> str:
    """Axis labels, which must stay narrow: 1.2K, 2.5M (1,2 mil; 2,5 M)."""
    if abs(value) < 1000:
        return number(value, 1)
    return format_compact_decimal(value, format_type="short", fraction_digits=1, locale=_locale())


def duration(seconds: float | int | None) -> str:
    """Durations the way people say them, in CLDR's narrow units: 45s, 3m 5s, 1h 2m (3min 5s, 1h 2min)."""
    if seconds is None:
        return MISSING
    s = int(round(seconds))
    if s < 60:
        parts = [(s, "second")]
    elif s < 3600:
        parts = [(s // 60, "minute"), (s % 60, "second")]
    else:
        parts = [(s // 3600, "hour"), (s % 3600 // 60, "minute")]
    locale = _locale()
    units = [format_unit(n, f"duration-{unit}", length="narrow", locale=locale) for n, unit in parts if n or s < 60]
    return format_list(units, style="unit-narrow", locale=locale)


def seconds(value: float) -> str:
    """A setting in seconds, fractions kept: 5 sec, 0.5 sec (5 s, 0,5 s)."""
    return format_unit(value, "duration-second", length="short", locale=_locale())


def day(value: date) -> str:
    """A chart's axis label for a day: Jan 5 / 5 ene."""
    return _day_as(value, "MMMd", _locale())


def day_long(value: date) -> str:
    """A day in full, for a slot's hover text and the data table: Mon, Jan 5, 2026 / lun, 5 ene 2026."""
    return _day_as(value, "yMMMEd", _locale())


@lru_cache(maxsize=4096)
def _day_as(value: date, skeleton: str, locale: Locale) -> str:
    """A year's chart names each of its days twice (hover text and table) and every view of it the
    same days again; Babel takes ~40 µs a day to write one."""
    return str(format_skeleton(skeleton, value, locale=locale))


def hour(value: datetime) -> str:
    """An hour as the locale tells the time: 1:00 PM / 13:00.

    ``value`` is a wall-clock time (the site's, naive or not) and is shown as it is: Babel would
    otherwise read a naive time as UTC and move it into the server's own zone.
    """
    return format_time(value.time(), "short", locale=_locale())


def hour_label(value: datetime) -> str:
    """A chart's axis label for an hour, as narrow as the locale allows: 1 PM / 13:00."""
    locale = _locale()
    if "a" in locale.time_formats["short"].pattern:  # a 12-hour clock: "1 PM" says it all
        return format_skeleton("h", value.time(), locale=locale)
    return hour(value)


def hour_long(value: datetime) -> str:
    """An hour with its day: Mon, Jan 5, 1:00 PM / lun, 5 ene, 13:00."""
    locale = _locale()
    return gettext("{day}, {time}").format(day=format_skeleton("MMMEd", value.date(), locale=locale), time=hour(value))


def date_medium(value: date | str) -> str:
    """Jan 5, 2026 / 5 ene 2026; also of a stored ISO timestamp (``2026-01-05T…``), by its date."""
    if isinstance(value, str):
        value = date.fromisoformat(value[:10])
    return format_date(value, "medium", locale=_locale())


def date_range(first: date, last: date) -> str:
    """Jan 5 – 12, 2026 / 5–12 ene 2026; a single day as itself."""
    if first == last:
        return date_medium(first)
    return format_interval(first, last, "yMMMd", locale=_locale())


def country(code: str) -> str:
    """The country's name in the reader's language ("FR": France, Francia); the code itself if CLDR has none."""
    if not code:
        return gettext("Unknown")
    return str(_locale().territories.get(code.upper(), code))


def language_name(tag: str) -> str:
    """A browser language ("es-MX") by name: Spanish (Mexico) / español (México); the tag if unknown."""
    try:
        parsed = Locale.parse(tag.replace("-", "_"))
    except (ValueError, TypeError, UnknownLocaleError):
        return tag
    return parsed.get_display_name(_locale()) or tag

"""The numbers for a site and a date range: totals and the top values of every dimension.

``crumbless stats``, the dashboard, its CSV export and the JSON API all read through these
functions, so they always agree. Ranges are in the site's own days; visitors over several days are the sum of daily
visitors, because salts rotate daily (as in Plausible).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from collector.localtime import date_of, day_number, hour_label, local_hours, previous_period
from collector.model import COUNTERS, DROP_REASONS, LIST_BY_KEY, LISTS, PROP_SEPARATOR, TopList
from collector.sites import Site
from collector.store import CounterReader, Row
from dashboard import filtered
from dashboard.filters import (
    Filter as Filter,  # the figures' readers take their filter from here too
    FilterError as FilterError,
    Unavailable as Unavailable,
)


@dataclass(frozen=True)
class Range:
    first: date
    last: date

    @property
    def days(self) -> tuple[int, int]:
        return day_number(self.first), day_number(self.last)

    @property
    def length(self) -> int:
        return (self.last - self.first).days + 1

    @property
    def hourly(self) -> bool:
        """Ranges of up to two days are charted by hour, longer ones by day (DESIGN §7)."""
        return self.length <= HOURLY_MAX_DAYS

    def previous(self) -> Range:
        return Range(*previous_period(self.first, self.last))


HOURLY_MAX_DAYS = 2


def metrics(row: Row) -> dict[str, float | int]:
    """The headline figures derived from summed counters."""
    visits = row["visits"]
    return {
        "visitors": row["visitors"],
        "visits": visits,
        "pageviews": row["pageviews"],
        "views_per_visit": round(row["pageviews"] / visits, 2) if visits else 0,
        "bounce_rate": round(100 * row["bounces"] / visits, 1) if visits else 0,
        "visit_duration": round(row["duration_s"] / visits) if visits else 0,
        "events": row["events"],
    }


def entry(listing: TopList, value: str, row: Row) -> dict[str, Any]:
    """One row of a top list, the same for the CLI, the pages, the CSV and the API: the list's
    figures under their shown names (``model.LISTS``), then what is derived from them."""
    shown: dict[str, Any] = {"value": value}
    for name, counter in listing.figures:
        shown[name] = row[counter]
    if listing.bounces:
        visits = row[listing.stored["visits"]]
        shown["bounce_rate"] = round(100 * row[listing.bounces] / visits, 1) if visits else 0
    if listing.engagement and row["pageviews"]:
        shown["time_on_page_s"] = round(row["engaged_ms"] / row["pageviews"] / 1000, 1)
        if row["scroll_n"]:
            shown["scroll_depth"] = round(row["scroll_sum"] / row["scroll_n"])
    if listing.dimension == "event_prop":
        name, key, prop_value = (value.split(PROP_SEPARATOR) + ["", ""])[:3]
        shown.update(value=f"{name}: {key} = {prop_value}", event=name, key=key, prop_value=prop_value)
    return shown


DROP_REASONS_READ = 1000
"""Every reason there is: a few dozen at most (``dashboard.filtered``), so the card never cuts one off."""


def _head(site: Site, period: Range) -> dict[str, Any]:
    """What every report starts with: which site and which days."""
    return {
        "site": {"id": site.website_id, "domain": site.domain, "timezone": site.timezone},
        "from": period.first.isoformat(),
        "to": period.last.isoformat(),
    }


async def report(
    store: CounterReader, site: Site, period: Range, limit: int = 10, filter: Filter | None = None
) -> dict[str, Any]:
    if filter is not None:
        return await _filtered_report(store, site, period, limit, filter)
    first, last = period.days
    # Side by side: the store answers them on several connections at once (READERS in collector/store/sqlite.py).
    lists, dropped_by_reason, range_totals = await asyncio.gather(
        asyncio.gather(*(store.top(site.id, listing, first, last, limit) for listing in LISTS)),
        dropped(store, site, period),
        totals(store, site, period),
    )
    top = {
        listing.key: [entry(listing, value, row) for value, row in rows]
        for listing, rows in zip(LISTS, lists, strict=True)
    }
    return {
        **_head(site, period),
        "totals": range_totals,
        "top": top,
        "dropped": dropped_by_reason,  # what ``crumbless stats`` prints; the card's form is ``filtered_of``
    }


async def _filtered_report(
    store: CounterReader, site: Site, period: Range, limit: int, filter: Filter
) -> dict[str, Any]:
    """``report`` under a filter: the filter's cards, and each list as it reads under the filter (None
    where it is not available). No beacons dropped: they were dropped before any value was known."""
    lists, range_totals = await asyncio.gather(
        asyncio.gather(*(top_of(store, site, period, listing, limit, filter) for listing in LISTS)),
        totals_under(store, site, period, filter),
    )
    return {
        **_head(site, period),
        "filter": filter.as_json(),
        "totals": range_totals,
        "top": {listing.key: rows for listing, rows in zip(LISTS, lists, strict=True)},
    }


async def top_of(
    store: CounterReader, site: Site, period: Range, listing: TopList, limit: int, filter: Filter | None = None
) -> list[dict[str, Any]] | None:
    """A list's first rows, under ``filter`` if one is given; None if the list is not available with it."""
    if filter is None:
        return [entry(listing, value, row) for value, row in await store.top(site.id, listing, *period.days, limit)]
    narrowed = filter.listing(listing.key)
    if narrowed is None:
        return None
    rows = await store.top(site.id, narrowed, *period.days, limit, within=filter.stored)
    return [entry(narrowed, value, row) for value, row in rows]


# ── the dashboard's and the API's reads: same store calls, same derived figures ─────────────────


async def totals(store: CounterReader, site: Site, period: Range) -> dict[str, float | int]:
    return metrics(await store.totals(site.id, *period.days))


Figures = dict[str, float | int | None]
PAGE_FIGURES = ("visitors", "pageviews")
"""What a page's row counts of the cards: the visits, their bounces and durations are the entry page's."""


async def totals_under(store: CounterReader, site: Site, period: Range, filter: Filter | None) -> Figures:
    """The cards' figures, of the filter's value where there is one: None for a figure its row does
    not have (a page has no visits of its own, a goal only its converting visitors and conversions)."""
    if filter is None:
        return dict(await totals(store, site, period))
    row = await store.value_totals(site.id, filter.dimension, filter.stored, *period.days)
    if filter.dimension == "page":
        return {key: row[key] if key in PAGE_FIGURES else None for key in metrics(row)}
    if filter.dimension == "goal":
        site_visitors = (await store.totals(site.id, *period.days))["visitors"]
        rate = round(100 * row["visitors"] / site_visitors, 1) if site_visitors else None
        unfiltered: Figures = dict.fromkeys(metrics(row))
        return {**unfiltered, "visitors": row["visitors"], "conversions": row["events"], "conversion_rate": rate}
    return {**metrics(row), "events": None}  # a visit's value: every card but events, which no visit row has


async def dropped(store: CounterReader, site: Site, period: Range) -> dict[str, int]:
    """Beacons dropped before counting, by reason code (``collector.ingest``), largest first."""
    rows = await store.top(site.id, DROP_REASONS, *period.days, DROP_REASONS_READ)
    return {value: row["drops"] for value, row in rows}


def counted(range_totals: dict[str, float | int]) -> int:
    """Beacons that reached the figures: each pageview and each custom event was one."""
    return int(range_totals["pageviews"]) + int(range_totals["events"])


def filtered_of(report: dict[str, Any]) -> dict[str, Any]:
    """The "Filtered" card's figures from a ``report``. Not a key of the report itself: ``crumbless
    stats --json`` prints the report, and what it prints stays what earlier releases printed."""
    return filtered.summary(report["dropped"], counted(report["totals"]))


async def filtered_report(store: CounterReader, site: Site, period: Range) -> dict[str, Any]:
    """The "Filtered" card's figures alone, for the API and the CSV export."""
    by_reason, range_totals = await asyncio.gather(dropped(store, site, period), totals(store, site, period))
    return filtered_of({"dropped": by_reason, "totals": range_totals})


RATES = ("bounce_rate", "conversion_rate")
"""Figures whose change is in percentage points."""


def change(
    current: Mapping[str, float | int | None], previous: Mapping[str, float | int | None]
) -> dict[str, float | None]:
    """Change against the previous period: percent for counts and durations, points for the rates.

    ``None`` when there is nothing to compare with, so a page can say "new" rather than "+∞ %"
    (also for a figure that a filter has not: ``totals_under``).
    """
    result: dict[str, float | None] = {}
    for key, now in current.items():
        before = previous[key]
        if now is None or before is None:
            result[key] = None
        elif key == "conversion_rate":
            result[key] = round(now - before, 1)
        elif key == "bounce_rate":
            result[key] = round(now - before, 1) if previous["visits"] else None
        else:
            result[key] = round(100 * (now - before) / before, 1) if before else None
    return result


async def breakdown(
    store: CounterReader,
    site: Site,
    dim: str,
    period: Range,
    limit: int = 10,
    page: int = 1,
    search: str = "",
    filter: Filter | None = None,
) -> tuple[list[dict[str, Any]], int]:
    """A page of one list (1-based ``page``) and the number of values matching ``search``, under
    ``filter`` if one is given (``Unavailable`` for a list it does not support)."""
    listing = LIST_BY_KEY[dim] if filter is None else filter.required(dim)
    within = None if filter is None else filter.stored
    rows, matched = await store.breakdown(site.id, listing, *period.days, limit, (page - 1) * limit, search, within)
    return [entry(listing, value, row) for value, row in rows], matched


_EMPTY: Row = dict.fromkeys(COUNTERS, 0)


def _point(time: str, row: Row) -> dict[str, Any]:
    figures = metrics({**_EMPTY, **row})
    return {
        "time": time,
        **{k: figures[k] for k in ("visitors", "visits", "pageviews", "bounce_rate", "visit_duration")},
    }


@dataclass(frozen=True)
class Overview:
    """Everything the site overview shows from the store, read in one go."""

    report: dict[str, Any]
    previous: Mapping[str, float | int | None]  # the totals of the equal period before, for the changes
    series: dict[str, Any]


async def overview(
    store: CounterReader, site: Site, period: Range, limit: int, filter: Filter | None = None
) -> Overview:
    if filter is None:
        lists_and_totals, previous, series = await asyncio.gather(
            report(store, site, period, limit), totals(store, site, period.previous()), timeseries(store, site, period)
        )
        return Overview(lists_and_totals, previous, series)
    lists_and_totals, previous_under, series = await asyncio.gather(
        report(store, site, period, limit, filter),
        totals_under(store, site, period.previous(), filter),
        timeseries(store, site, period, filter),
    )
    return Overview(lists_and_totals, previous_under, series)


FILTERED_POINT: Mapping[str, tuple[str, ...]] = {
    "page": ("visitors", "pageviews"),
    "goal": ("visitors", "conversions"),
}
"""The figures a filtered chart's points have, where its rows lack a visit's (the others have all)."""


def _filtered_point(time: str, row: Row, filter: Filter) -> dict[str, Any]:
    point = {**_point(time, row), "conversions": row.get("events", 0)}
    kept = FILTERED_POINT.get(filter.dimension, ("visitors", "visits", "pageviews", "bounce_rate", "visit_duration"))
    return {"time": time, **{key: point[key] for key in kept}}


async def timeseries(store: CounterReader, site: Site, period: Range, filter: Filter | None = None) -> dict[str, Any]:
    """Visitors, visits and pageviews per local hour (≤ 2 days) or per local day, gaps filled with zeros.

    Hourly visitors are visitors active in that hour (the ``hourly`` table); daily ones are the
    day's distinct visitors (``daily`` dim 'total'), the same figure the cards add up. Under a
    filter always per day: the ``hourly`` table holds the site's totals only.
    """
    first, last = period.days
    if filter is not None:
        rows = dict(await store.value_series(site.id, filter.dimension, filter.stored, first, last))
        points = [_filtered_point(date_of(d).isoformat(), rows.get(d, _EMPTY), filter) for d in range(first, last + 1)]
        return {"granularity": "day", "points": points}
    if period.hourly:
        stored = dict(await store.hourly(site.id, first * 24, last * 24 + 23))
        hours = [d * 24 + h for d in range(first, last + 1) for h in local_hours(d, site.tz)]  # 23 or 25-hour days
        points = [_point(hour_label(h) + ":00", stored.get(h, _EMPTY)) for h in hours]
        return {"granularity": "hour", "points": points}
    by_day = dict(await store.daily_totals(site.id, first, last))
    points = [_point(date_of(d).isoformat(), by_day.get(d, _EMPTY)) for d in range(first, last + 1)]
    return {"granularity": "day", "points": points}


def sparkline_days(today: date, days: int = 30) -> Range:
    return Range(today - timedelta(days=days - 1), today)

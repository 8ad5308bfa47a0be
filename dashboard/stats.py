"""The numbers for a site and a date range: totals and the top values of every dimension.

One function serves ``crumbless stats`` now and the dashboard and JSON API later, so all three
always agree. Ranges are in the site's own days; visitors over several days are the sum of daily
visitors, because salts rotate daily (as in Plausible).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from collector.counting import PROP_SEPARATOR
from collector.localtime import day_number
from collector.sites import Site
from collector.store import Row, Store

DIMENSIONS = (
    "page", "entry_page", "exit_page", "source", "utm_source", "utm_medium", "utm_campaign",
    "country", "browser", "os", "device", "screen", "language", "event", "event_prop",
)
VISIT_DIMENSIONS = {"entry_page", "source", "utm_source", "utm_medium", "utm_campaign", "country", "browser", "os", "device", "screen", "language"}


@dataclass(frozen=True)
class Range:
    first: date
    last: date

    @property
    def days(self) -> tuple[int, int]:
        return day_number(self.first), day_number(self.last)


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


def _entry(dim: str, value: str, row: Row) -> dict[str, Any]:
    entry: dict[str, Any] = {"value": value, "visitors": row["visitors"]}
    if dim == "exit_page":
        entry["exits"] = row["visits"]
    elif dim in ("event", "event_prop"):
        entry["events"] = row["events"]
        if dim == "event_prop":
            name, key, prop_value = (value.split(PROP_SEPARATOR) + ["", ""])[:3]
            entry.update(value=f"{name}: {key} = {prop_value}", event=name, key=key, prop_value=prop_value)
    else:
        entry["visits"] = row["visits"]
        entry["pageviews"] = row["pageviews"]
        if dim in VISIT_DIMENSIONS:
            entry["bounce_rate"] = metrics(row)["bounce_rate"]
        if dim == "page" and row["pageviews"]:
            entry["time_on_page_s"] = round(row["engaged_ms"] / row["pageviews"] / 1000, 1)
            if row["scroll_n"]:
                entry["scroll_depth"] = round(row["scroll_sum"] / row["scroll_n"])
    return entry


async def report(store: Store, site: Site, period: Range, limit: int = 10) -> dict[str, Any]:
    first, last = period.days
    totals = metrics(await store.totals(site.id, first, last))
    top = {}
    for dim in DIMENSIONS:
        rows = await store.top_values(site.id, dim, first, last, limit)
        top[dim] = [_entry(dim, value, row) for value, row in rows]
    dropped = {value: row["pageviews"] for value, row in await store.top_values(site.id, "dropped", first, last, 100)}
    return {
        "site": {"id": site.website_id, "domain": site.domain, "timezone": site.timezone},
        "from": period.first.isoformat(),
        "to": period.last.isoformat(),
        "totals": totals,
        "top": top,
        "dropped": dropped,
    }

"""Realtime figures straight from the collector's memory: nothing here touches the database.

Visitors active in the last five minutes come from the visitor state, pageviews per minute from
the collector's per-minute ring; both are as fresh as the last beacon, unlike the stored
counters, which lag by up to one flush interval.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from collector.sites import Site
from dashboard.context import dashboard

ACTIVE_WINDOW_S = 300


def snapshot(request: Request, site: Site) -> dict[str, Any]:
    collector = request.app.state.collector
    now = dashboard(request).clock()
    per_minute = collector.realtime.pageviews_per_minute(site.id, now)
    return {
        "visitors": collector.visitors.active_since(site.id, int(now - ACTIVE_WINDOW_S)),
        "pageviews_per_minute": per_minute,
        "pageviews": sum(per_minute),
    }

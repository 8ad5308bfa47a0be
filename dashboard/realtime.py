"""Realtime figures straight from the collector's memory: nothing here touches the database.

Visitors active in the last five minutes and pageviews per minute come from the day's state
(the collector's memory, or Redis shared by several collectors); both are as fresh as the last
beacon, unlike the stored counters, which lag by up to one flush interval.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from collector.realtime import WINDOW_MINUTES
from collector.sites import Site
from collector.state import RealtimeReader
from dashboard.context import dashboard

ACTIVE_WINDOW_S = 300


async def snapshot(request: Request, site: Site) -> dict[str, Any]:
    state: RealtimeReader = request.app.state.day_state
    now = dashboard(request).clock()
    per_minute = await state.pageviews_per_minute(site.id, now, WINDOW_MINUTES)
    return {
        "visitors": await state.active_since(site.id, int(now - ACTIVE_WINDOW_S)),
        "pageviews_per_minute": per_minute,
        "pageviews": sum(per_minute),
    }

"""The ASGI application: wires the store, the pipeline and the background tasks together.

Everything with a lifetime (the database connection, the flusher, the housekeeping loop) starts
in the lifespan and stops there, so a SIGTERM or Ctrl-C ends with one last flush.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import datetime, timezone
from typing import AsyncIterator, Callable

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from collector import endpoints, tracker
from collector.accesslog import AccessLog
from collector.aggregator import Aggregator
from collector.config import Settings
from collector.flusher import Flusher
from collector.housekeeping import Housekeeping
from collector.identity import Salts
from collector.ingest import Collector
from collector.localtime import day_number
from collector.retention import Retention
from collector.sites import SiteRegistry
from collector.store.sqlite import SQLiteStore
from collector.visitors import MemoryVisitorState
from dashboard.context import Dashboard
from dashboard.routes import routes as dashboard_routes
from geo.lookup import CountryLookup

log = logging.getLogger("crumbless")


async def healthz(request: Request) -> Response:
    """Liveness for load balancers; deliberately says nothing about traffic."""
    return JSONResponse({"status": "ok"})


async def _seed_guard(store: SQLiteStore, aggregator: Aggregator, now: float) -> None:
    """Values already stored for the open days count against the cardinality limit after a restart."""
    since = day_number(datetime.fromtimestamp(now, timezone.utc).date()) - 2
    for site, day, dim, value in await store.recent_values(since):
        aggregator.remember(site, day, dim, value)


def create_app(settings: Settings, clock: Callable[[], float] = time.time) -> Starlette:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        store = SQLiteStore(settings.database)
        await store.open()
        sites = SiteRegistry(store.sites)
        await sites.refresh()
        geo = CountryLookup.open(settings.geo_db)
        salts = Salts(store)
        visitors = MemoryVisitorState(settings.max_visitors)
        aggregator = Aggregator(settings.max_values)
        await _seed_guard(store, aggregator, clock())
        collector = Collector(settings, sites, geo, salts, visitors, aggregator, clock)
        flusher = Flusher(aggregator, store, settings.flush_interval)
        retention = Retention(store, sites, settings.retention_days, clock)
        housekeeping = Housekeeping(sites, salts, visitors, aggregator, geo, clock, retention=retention)
        await housekeeping.close_days()
        app.state.store, app.state.collector = store, collector
        app.state.flusher, app.state.housekeeping = flusher, housekeeping
        tasks = [asyncio.create_task(flusher.run()), asyncio.create_task(housekeeping.run())]
        log.info("collecting for %d site(s); counters flushed every %gs", len(sites.all()), settings.flush_interval)
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if await flusher.final_flush():
                log.info("stopped; all counters written")
            await store.close()
            geo.close()

    script = tracker.load(settings.collect_path)  # minified and compressed once, here
    routes = [
        Route("/api/send", endpoints.umami_send, methods=["POST"]),
        Route("/api/send", endpoints.preflight, methods=["OPTIONS"]),
        Route("/api/event", endpoints.plausible_event, methods=["POST"]),
        Route("/api/event", endpoints.preflight, methods=["OPTIONS"]),
        Route(settings.collect_path, endpoints.plausible_event, methods=["POST"]),  # tracker.js's beacons
        Route(settings.collect_path, endpoints.preflight, methods=["OPTIONS"]),
        Route(settings.script_path, script.serve if script else tracker.missing, methods=["GET", "HEAD"]),
        Route("/healthz", healthz, methods=["GET"]),
        *dashboard_routes(),  # the dashboard and stats API, each route with its CSP and security headers
    ]
    middleware = [Middleware(AccessLog)] if settings.access_log else []
    app = Starlette(routes=routes, middleware=middleware, lifespan=lifespan)
    app.state.dashboard = Dashboard(settings, clock)
    return app

"""The ASGI application: wires the store, the pipeline and the background tasks together.

Everything with a lifetime (the database connection, the flusher, the housekeeping loop) starts
in the lifespan and stops there, so a SIGTERM or Ctrl-C ends with one last flush.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from collector import endpoints, metrics, spill, tracker, useragents
from collector.accesslog import AccessLog, BatchedAccessLog, flush_access_logs
from collector.aggregator import Aggregator
from collector.bodylimit import BodyLimit
from collector.budget import SegmentBudget
from collector.config import Settings
from collector.flusher import Flusher
from collector.housekeeping import Housekeeping
from collector.identity import Salts
from collector.ingest import Collector
from collector.localtime import day_number
from collector.retention import Retention
from collector.sites import SiteRegistry
from collector.state import DayState, open_state
from collector.store import CounterWriter, open_store
from dashboard.context import Dashboard
from dashboard.routes import not_found, routes as dashboard_routes
from geo.lookup import CountryLookup

log = logging.getLogger("crumbless")
Endpoint = Callable[[Request], Awaitable[Response]]


class App(Starlette):
    """Starlette, except that beacons take a short way in.

    Beacons are nearly all of Crumbless's traffic, and Starlette's error and exception
    middleware, router and request/response wrapping cost more per beacon than the pipeline's
    own first steps (py-spy, under wrk). A POST to a collect path therefore goes straight to its
    endpoint, which answers every failure itself (``endpoints.collect``), through the access log
    if it is on. Everything else, and beacons' CORS preflights, take the usual way.
    """

    def __init__(self, beacons: dict[str, Endpoint], access_log: bool, **kwargs: Any) -> None:
        logged = [Middleware(AccessLog)] if access_log else []
        super().__init__(middleware=[*logged, Middleware(BodyLimit)], **kwargs)  # every body but a beacon's is small
        self.beacons = beacons
        self.beacon_stack: ASGIApp = BatchedAccessLog(self._beacon) if access_log else self._beacon

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"] in self.beacons:
            scope["app"] = self
            await self.beacon_stack(scope, receive, send)
        else:
            await super().__call__(scope, receive, send)

    async def _beacon(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = await self.beacons[scope["path"]](Request(scope, receive))
        await response(scope, receive, send)


async def _seed_guard(store: CounterWriter, state: DayState, now: float) -> None:
    """Values already stored for the open days count against the cardinality limit after a restart."""
    since = day_number(datetime.fromtimestamp(now, UTC).date()) - 2
    state.seed(await store.recent_values(since))


def from_environment() -> App:
    """``create_app`` for each worker of ``crumbless serve --workers N``, which starts in a fresh
    interpreter: its settings are read again from the same environment, and so is its logging."""
    from collector.config import load
    from collector.logs import configure

    settings = load()
    configure(settings.log_level)
    return create_app(settings)


def create_app(settings: Settings, clock: Callable[[], float] = time.time) -> App:
    figures = metrics.Metrics()  # this app's own registry: apps in one process count apart

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        useragents.prepare()  # before the first beacon, which would otherwise wait for it
        store = await open_store(settings)
        sites = SiteRegistry(store.sites)
        await sites.refresh()
        geo = CountryLookup.open(settings.geo_db)
        state, salt_store = await open_state(settings, store, sites.day_end)
        salts = Salts(salt_store)
        aggregator = Aggregator()
        await _seed_guard(store, state, clock())
        collector = Collector(settings, sites, geo, salts, state, aggregator, clock, figures)
        spill_file = spill.claim(settings.data_dir)
        budget = SegmentBudget(store, sites, settings.segment_min_visitors, settings.flush_interval, clock)
        flusher = Flusher(
            aggregator, store, settings.flush_interval, spill_file, metrics=figures, written=budget.written
        )
        figures.watch(flusher, state)
        spilled = flusher.restore_spilled()  # what the last stop could not write, written before anything new
        if spilled is not None:
            state.seed(spilled.daily)
        retention = Retention(store, sites, settings.retention_days, clock)
        housekeeping = Housekeeping(sites, salts, state, geo, clock, retention=retention, budget=budget)
        await housekeeping.attempt(housekeeping.close_days)  # a locked database must not keep it from starting
        await housekeeping.attempt(budget.fold_due)  # closed days a stop left unfolded
        app.state.store, app.state.collector, app.state.day_state = store, collector, state
        app.state.flusher, app.state.housekeeping = flusher, housekeeping
        app.state.health = metrics.Health(store, state, flusher)
        tasks = [asyncio.create_task(flusher.run()), asyncio.create_task(housekeeping.run())]
        log.info("collecting for %d site(s); counters flushed every %gs", len(sites.all()), settings.flush_interval)
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            flush_access_logs()  # uvicorn ends on SIGTERM by the signal itself, so exit handlers do not run
            if await flusher.final_flush():
                log.info("stopped; all counters written")
            spill_file.release()
            await store.close()
            await state.close()
            geo.close()

    script = tracker.load(settings.collect_path)  # minified and compressed once, here
    beacons: dict[str, Endpoint] = {
        "/api/send": endpoints.umami_send,
        "/api/event": endpoints.plausible_event,
        settings.collect_path: endpoints.plausible_event,  # tracker.js's beacons
    }
    routes = [
        *(Route(path, endpoints.preflight, methods=["OPTIONS"]) for path in beacons),  # POSTs: App.__call__
        Route(settings.script_path, script.serve if script else tracker.missing, methods=["GET", "HEAD"]),
        Route("/healthz", metrics.healthz, methods=["GET"]),
        Route("/metrics", metrics.metrics, methods=["GET"]),  # an admin's token or CRUMBLESS_METRICS_ALLOW
        *dashboard_routes(),  # the dashboard and stats API, each route with its CSP and security headers
    ]
    app = App(beacons, settings.access_log, routes=routes, lifespan=lifespan, exception_handlers={404: not_found})
    app.state.dashboard = Dashboard(settings, clock)
    app.state.metrics = figures
    return app

"""What an operator's monitoring reads: ``/metrics`` (Prometheus text) and ``/healthz``.

``/metrics`` holds counts only: beacons accepted, dropped by reason and rejected by status, the
flusher's writes, what is buffered, the visitor state's size. Its labels are reasons and HTTP
statuses, a fixed handful, never a value from a request: a metric labelled by page or address
would be a second, unbounded store of what Crumbless promises not to keep, and one Prometheus
would keep for as long as it likes.

Each app has a registry of its own (not prometheus-client's global one), so that several apps
in one process (the tests) count apart. Beacons are the hot path, so every counter they touch is
a label child bound once: a ``.labels()`` lookup per beacon would more than double its cost.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sized
from typing import TYPE_CHECKING, Protocol

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    ProcessCollector,
    disable_created_metrics,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from collector.clientip import client_ip, is_trusted, parse_address
from collector.guard import OTHER
from collector.store import StoreError
from collector.useragents import APP_CLIENT, AUTOMATION, CRAWLER_LIST, EMPTY, ISBOT_LIST, MALFORMED, PROBE, SPIDER
from dashboard.tokens import token_hash

if TYPE_CHECKING:
    from collector.config import Settings
    from collector.flusher import Flusher
    from collector.state import DayState, VisitorState
    from collector.store import AccountStore

disable_created_metrics()  # type: ignore[no-untyped-call]  # the library leaves it unannotated
"""No ``*_created`` series beside each counter: a timestamp of the process's start per series
doubles what every scrape carries and says nothing ``process_start_time_seconds`` does not.
(The switch is the library's, process-wide; Crumbless is its only user in the process.)"""

DROP_REASONS = (
    "hostname",
    "flood",
    "no-visit",
    "ignored",
    *(f"bot:{kind}" for kind in (PROBE, SPIDER, CRAWLER_LIST, ISBOT_LIST, AUTOMATION, APP_CLIENT, MALFORMED, EMPTY)),
    "bot:prefetch",
    "bot:prerender",
)
"""Reasons bound at start, so each series exists (at 0) before its first drop and a rate over
it starts from the beginning; a reason not listed here is bound at its first drop."""
REJECT_STATUSES = (400, 413, 415)
FLUSH_SECONDS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
FLUSH_ROWS = (1, 10, 100, 1_000, 10_000, 100_000)


class _Live(Collector):
    """Figures read at each scrape from the objects that hold them (nothing counts them twice):
    the rows the flusher has not written, and the visitor state's size and evictions."""

    def __init__(self) -> None:
        self.flusher: Flusher | None = None
        self.state: DayState | None = None

    def collect(self) -> Iterable[Metric]:
        if self.flusher is not None:
            yield GaugeMetricFamily(
                "crumbless_buffered_rows",
                "Counter rows in memory, not written yet: the aggregator's and a batch awaiting retry.",
                value=self.flusher.buffered_rows(),
            )
        if self.state is not None:
            if isinstance(self.state, Sized):  # the memory state; Redis's size is not one collector's
                yield GaugeMetricFamily(
                    "crumbless_visitor_records", "Visitor records held in this process's memory.", value=len(self.state)
                )
            yield CounterMetricFamily(
                "crumbless_visitor_evictions",
                "Visitor records forgotten to stay within CRUMBLESS_MAX_VISITORS.",
                value=self.state.evicted,
            )


class Metrics:
    """Every figure ``/metrics`` shows, for one app; the pipeline and the flusher call its methods."""

    def __init__(self) -> None:
        registry = self.registry = CollectorRegistry()
        accepted = Counter("crumbless_beacons_accepted", "Beacons counted.", registry=registry)
        self._accepted = accepted.inc
        self._dropped = Counter(
            "crumbless_beacons_dropped", "Valid beacons not counted, by reason.", ["reason"], registry=registry
        )
        self._rejected = Counter(
            "crumbless_beacons_rejected", "Beacons answered with a 4xx, by status.", ["status"], registry=registry
        )
        self.refused = Counter(
            "crumbless_beacons_refused",
            "Beacons refused with 503: the visitor state was unavailable.",
            registry=registry,
        )
        self.failed = Counter("crumbless_beacons_failed", "Beacons answered with 500.", registry=registry)
        self.commit_retries = Counter(
            "crumbless_commit_retries",
            "Visitor-record commits refused because another beacon of the visitor changed it first.",
            registry=registry,
        )
        self.guard_folds = Counter(
            "crumbless_guard_folds",
            "Values of counted beacons folded into (other) by the cardinality limit (CRUMBLESS_MAX_VALUES).",
            registry=registry,
        )
        self.flush_seconds = Histogram(
            "crumbless_flush_duration_seconds", "Time to write one batch.", registry=registry, buckets=FLUSH_SECONDS
        )
        self.flush_rows = Histogram(
            "crumbless_flush_rows", "Counter rows in each batch written.", registry=registry, buckets=FLUSH_ROWS
        )
        self.flush_failures = Counter("crumbless_flush_failures", "Writes of a batch that failed.", registry=registry)
        self._live = _Live()
        registry.register(self._live)
        ProcessCollector(registry=registry)  # resident memory, CPU, open files: what the visitor cap is for
        self._drops = {reason: self._dropped.labels(reason) for reason in DROP_REASONS}
        self._statuses = {status: self._rejected.labels(str(status)) for status in REJECT_STATUSES}

    def watch(self, flusher: Flusher, state: DayState) -> None:
        """Show what ``flusher`` and ``state`` hold (the app's lifespan makes them after the app)."""
        self._live.flusher, self._live.state = flusher, state

    def beacon(self, dropped: str) -> None:
        """One valid beacon's outcome: counted (``dropped`` empty) or dropped for that reason."""
        if not dropped:
            self._accepted()
            return
        child = self._drops.get(dropped)
        if child is None:
            child = self._drops[dropped] = self._dropped.labels(dropped)
        child.inc()

    def rejected(self, status: int) -> None:
        child = self._statuses.get(status)
        if child is None:
            child = self._statuses[status] = self._rejected.labels(str(status))
        child.inc()

    def folded(self, admitted: Mapping[tuple[str, str], str]) -> None:
        """A committed hit's values the guard answered with ``(other)`` (a value sent as
        ``(other)`` itself was not folded). Called only when ``OTHER`` is among them."""
        self.guard_folds.inc(sum(value == OTHER and raw != OTHER for (_, raw), value in admitted.items()))

    def flushed(self, seconds: float, rows: int) -> None:
        self.flush_seconds.observe(seconds)
        self.flush_rows.observe(rows)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


async def _is_admin_token(request: Request, store: AccountStore) -> bool:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return False
    user = await asyncio.wait_for(store.token_user(token_hash(token)), TOKEN_CHECK_S)
    return user is not None and user.is_admin


def _from_allowed_address(request: Request, settings: Settings) -> bool:
    """The client address is found as for a beacon (``clientip``): forwarded headers count only
    from a trusted proxy, so a client cannot name an allowed address to get in."""
    if not settings.metrics_allow:
        return False
    # Imported here: endpoints imports the pipeline, which imports this module. Its reading of
    # repeated headers is the one beacons get, which matters for X-Forwarded-For.
    from collector.endpoints import header_fields

    client = request.scope.get("client")
    peer = client[0] if client else ""
    address, _ = client_ip(peer, header_fields(request.scope["headers"]), settings.trusted_proxies)
    return is_trusted(parse_address(address), settings.metrics_allow)


NO_STORE = {"Cache-Control": "no-store"}
TOKEN_CHECK_S = 2.0


async def metrics(request: Request) -> Response:
    """``/metrics`` for an admin's API token or an address in ``CRUMBLESS_METRICS_ALLOW``; 403 for
    everyone else, whatever they send: the route is documented, so a 404 would hide nothing, and a
    403 tells an operator whose scraper is refused that the URL is right and the credentials not.

    A token is checked in the database; when that does not answer (the outage one wants the
    figures for), the answer is 503, and an allowed address still gets them."""
    state = request.app.state
    try:
        allowed = _from_allowed_address(request, state.dashboard.settings) or await _is_admin_token(
            request, state.store
        )
    except (StoreError, OSError, TimeoutError):
        error = "the database did not answer, so the token could not be checked"
        return JSONResponse({"error": error}, status_code=503, headers={**NO_STORE, "Retry-After": "10"})
    if not allowed:
        error = "metrics need an admin's API token or an address in CRUMBLESS_METRICS_ALLOW"
        return JSONResponse({"error": error}, status_code=403, headers=NO_STORE)
    registry: Metrics = state.metrics
    return Response(registry.exposition(), media_type=CONTENT_TYPE_LATEST, headers=NO_STORE)


class Pingable(Protocol):
    """What ``Health`` asks of the store: a small read that every store answers."""

    async def user_count(self) -> int: ...


class Health:
    """What ``/healthz`` says: whether the store and the day's state answer, checked at most once
    per ``ttl`` seconds (load balancers ask every second or faster, several of them) and each check
    cut off after ``timeout`` seconds, so the answer never waits on a database that hangs."""

    TTL_S = 3.0
    TIMEOUT_S = 1.0

    def __init__(
        self,
        store: Pingable,
        state: VisitorState,
        flusher: Flusher,
        ttl: float = TTL_S,
        timeout: float = TIMEOUT_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store, self.state, self.flusher = store, state, flusher
        self.ttl, self.timeout = ttl, timeout
        self.clock = clock
        self._answer: dict[str, str] | None = None
        self._at = 0.0
        self._lock = asyncio.Lock()

    async def _answers(self, probe: Awaitable[object]) -> bool:
        try:
            result = await asyncio.wait_for(probe, self.timeout)
        except Exception:  # any fault is "unreachable"; its message could name the server's address
            return False
        return result is not False

    async def _check(self) -> dict[str, str]:
        store, state = await asyncio.gather(
            self._answers(self.store.user_count()), self._answers(self.state.reachable())
        )
        # A store that reads but cannot take the counters (locked, disk full) is not ok either.
        store = store and self.flusher.failures == 0
        return {"status": "ok", "store": "ok" if store else "unreachable", "state": "ok" if state else "unreachable"}

    async def report(self) -> dict[str, str]:
        async with self._lock:  # concurrent health checks wait for one check, not one each
            if self._answer is None or self.clock() - self._at >= self.ttl:
                self._answer, self._at = await self._check(), self.clock()
            return self._answer


async def healthz(request: Request) -> Response:
    """200 whenever the process serves, with what answers in the body: a store that is down
    delays counters (the flusher keeps them) but loses none, so a load balancer must not take
    every collector out at once because of it. Says nothing about traffic."""
    health: Health = request.app.state.health
    return JSONResponse(await health.report(), headers=NO_STORE)

"""An access log that cannot leak a visitor: method, path, status and duration — no address.

Uvicorn's own access log prints the client address of every request, so Crumbless turns it off
and installs this ASGI middleware instead. The query string is left out as well, since pages
put all sorts of things there, and so are share-link tokens.

Beacons are nearly all requests, and a ``logging`` record per request (its record, its
formatting, its write to the stream) cost about an eighth of a beacon's time under load
(py-spy, BENCHMARKS.md). ``BatchedAccessLog``, the beacons' log, therefore keeps each request's
line (its own time, method, path, status and duration) in memory and hands them to ``logging``
as one record at most ``FLUSH_S`` later: the same lines, one write per batch.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import re
import time
import weakref
from functools import lru_cache
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from collector.asgi import noting_start
from collector.logs import ACCESS_LINES

log = logging.getLogger("crumbless.access")

FLUSH_S = 1.0
"""How late a beacon's line may be written."""
MAX_PENDING = 10_000
"""Lines held at most: a burst beyond it is written at once, so memory stays bounded."""


class AccessLog:
    """One line per request, logged when the request is done."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        # Until a response starts: 500 if the application fails (uvicorn then answers 500), 499
        # (nginx's "client closed request") if it returns without answering, as it does when the
        # client went away or was answered by the HTTP protocol itself (a body cut short).
        status: list[int] = [500]

        def note(start: Message) -> None:
            status[0] = start["status"]

        try:
            await self.app(scope, receive, noting_start(send, note))
            if status[0] == 500:
                status[0] = 499
        finally:
            self.done(scope, status[0], (time.perf_counter() - started) * 1000)

    def done(self, scope: Scope, status: int, ms: float) -> None:
        log.info("%s", line(scope.get("method", "-"), _printable(scope.get("path", "")), status, ms))


class BatchedAccessLog(AccessLog):
    """The same lines, each stamped with its request's end, written as one record per batch.

    A batch is written ``FLUSH_S`` after its first line, when it reaches ``MAX_PENDING`` lines,
    when the app stops (``flush_access_logs`` in its lifespan) and when the process exits; a
    process killed outright loses at most its last ``FLUSH_S``.
    Lines of requests outside the batch (the dashboard's) may therefore come up to ``FLUSH_S``
    before beacon lines that ended earlier; each line's own time says when it happened.
    """

    def __init__(self, app: ASGIApp) -> None:
        super().__init__(app)
        self.pending: list[tuple[float, str]] = []
        self._timer: asyncio.TimerHandle | None = None
        self._timer_loop: asyncio.AbstractEventLoop | None = None
        _BATCHES.add(self)

    def done(self, scope: Scope, status: int, ms: float) -> None:
        text = line(scope.get("method", "-"), _beacon_path(scope.get("path", "")), status, ms)
        self.pending.append((time.time(), text))
        if len(self.pending) >= MAX_PENDING:
            self.flush()
        elif self._timer is None or self._timer_loop is None or self._timer_loop.is_closed():
            # A loop that has closed (tests run one per app) will never run its timer.
            self._timer_loop = asyncio.get_running_loop()
            self._timer = self._timer_loop.call_later(FLUSH_S, self.flush)

    def flush(self) -> None:
        """Write the pending lines now."""
        if self._timer is not None and not (self._timer_loop is None or self._timer_loop.is_closed()):
            self._timer.cancel()
        self._timer = self._timer_loop = None
        lines, self.pending = self.pending, []
        if lines and log.isEnabledFor(logging.INFO):
            joined = "\n".join(text for _, text in lines)  # what a formatter other than ours shows
            record = log.makeRecord(log.name, logging.INFO, __file__, 0, "%s", (joined,), None)
            setattr(record, ACCESS_LINES, lines)
            log.handle(record)


_BATCHES: weakref.WeakSet[BatchedAccessLog] = weakref.WeakSet()


@atexit.register  # before ``logging``'s own exit handler, which was registered earlier
def flush_access_logs() -> None:
    """Write every batch's pending lines: at shutdown, so that a stop loses no line."""
    for batch in list(_BATCHES):
        batch.flush()


def line(method: str, path: str, status: int, ms: float) -> str:
    return f"{method} {path} {status} {ms:.1f}ms"


# A share link's token is the whole of its access control: whoever reads the log could open the
# site's numbers with it. The log keeps the route, not the token.
_SHARE_TOKEN = re.compile(r"^/share/[^/]+")


def _printable(path: Any) -> str:
    shown = _SHARE_TOKEN.sub("/share/{token}", str(path)[:200])
    return "".join(c if c.isprintable() else "?" for c in shown)


@lru_cache(maxsize=16)
def _beacon_path(path: str) -> str:
    """Beacons come to a handful of fixed paths (``App`` routes no other path to them)."""
    return _printable(path)

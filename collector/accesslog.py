"""An access log that cannot leak a visitor: method, path, status and duration — no address.

Uvicorn's own access log prints the client address of every request, so Crumbless turns it off
and installs this ASGI middleware instead. The query string is left out as well, since pages
put all sorts of things there, and so are share-link tokens.
"""

from __future__ import annotations

import logging
import re
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from collector.asgi import noting_start

log = logging.getLogger("crumbless.access")


class AccessLog:
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
            log.info(
                "%s %s %d %.1fms",
                scope.get("method", "-"),
                _printable(scope.get("path", "")),
                status[0],
                (time.perf_counter() - started) * 1000,
            )


# A share link's token is the whole of its access control: whoever reads the log could open the
# site's numbers with it. The log keeps the route, not the token.
_SHARE_TOKEN = re.compile(r"^/share/[^/]+")


def _printable(path: Any) -> str:
    shown = _SHARE_TOKEN.sub("/share/{token}", str(path)[:200])
    return "".join(c if c.isprintable() else "?" for c in shown)

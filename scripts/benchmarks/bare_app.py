"""The ingest benchmark's baseline: an ASGI app that reads each request and answers 202, nothing more.

It is served by uvicorn with the options ``crumbless serve`` passes (collector/cli.py), one
worker, same event loop and HTTP parser, so the ratio of the two servers' hits per second is
the share of the time Crumbless spends on its own work per beacon.

Run as ``python bare_app.py PORT``.
"""

from __future__ import annotations

import sys
from typing import Any, Awaitable, Callable

import uvicorn

Message = dict[str, Any]
_HEADERS = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", b"2")]


async def app(scope: Message, receive: Callable[[], Awaitable[Message]], send: Callable[[Message], Awaitable[None]]) -> None:
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    more = True
    while more:
        more = (await receive()).get("more_body", False)
    await send({"type": "http.response.start", "status": 202, "headers": _HEADERS})
    await send({"type": "http.response.body", "body": b"ok"})


def main(port: int) -> None:
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        access_log=False,
        proxy_headers=False,
        server_header=False,
        log_config=None,
        timeout_graceful_shutdown=10,
    )


if __name__ == "__main__":
    main(int(sys.argv[1]))

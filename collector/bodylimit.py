"""A small bound on every request body that is not a beacon: the dashboard's forms and the login.

Why: Starlette's ``request.form()`` reads whatever arrives, and python-multipart spools a large
part to a temporary file, so an unauthenticated 100 MB multipart POST to ``/login`` went to disk.
The dashboard's forms are a few hundred bytes; the largest, the users page, carries one field per
site. A body over the bound is answered 413, on a declared Content-Length before anything is
read, and while it streams (chunked) as soon as the count passes the bound. Under the bound no
part reaches Starlette's 1 MB spooling threshold, so nothing is written to disk.

Beacons never pass here (``collector.app.App`` takes them a short way) and are bounded by
``CRUMBLESS_MAX_BODY`` in ``collector.endpoints.read_body``. A route that must take more, such as
the dashboard's upload of a Plausible export zip, gets its own bound by adding its path to ``WIDER``.

A body that ends early (the client left, or half-closed and was answered 400 by
``collector.httpprotocol``) ends the request quietly: there is nobody to answer, and letting
Starlette's ``ClientDisconnect`` out would log it as an internal error, traceback and all.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from starlette.datastructures import FormData
from starlette.requests import ClientDisconnect, Request
from starlette.responses import PlainTextResponse
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from collector.asgi import noting_start
from collector.numbers import is_whole_number

FORM_BODY_LIMIT = 64 * 1024
"""Bytes of body any non-beacon request may send, unless its route is in ``WIDER``."""

WIDER: Mapping[str, int] = {"/sites/{website_id}/import/plausible": 256 * 1024 * 1024}
"""Route paths in Starlette's syntax (``"/sites/{website_id}/import"``) and the bound for each."""

MAX_FORM_FIELDS = 1000
"""Fields one form may have: the users page sends a checkbox per site."""


class _TooLarge(Exception):
    """Raised out of ``receive`` to stop the application reading; the middleware answers it."""


async def read_form(request: Request) -> FormData:
    """The request's form, parsed with bounds: no dashboard form uploads a file, so none is taken."""
    return await request.form(max_files=0, max_fields=MAX_FORM_FIELDS, max_part_size=FORM_BODY_LIMIT)


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            text = value.decode("latin-1")
            return int(text) if is_whole_number(text) else None  # framing is the server's to judge
    return None


def _too_large(limit: int) -> PlainTextResponse:
    return PlainTextResponse(
        f"the request body is larger than {limit} bytes, the most this address accepts\n", status_code=413
    )


class BodyLimit:
    def __init__(self, app: ASGIApp, default: int = FORM_BODY_LIMIT, wider: Mapping[str, int] = WIDER) -> None:
        self.app = app
        self.default = default
        self.wider: list[tuple[re.Pattern[str], int]] = [
            (compile_path(path)[0], limit) for path, limit in wider.items()
        ]

    def limit(self, path: str) -> int:
        return next((limit for pattern, limit in self.wider if pattern.match(path)), self.default)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit(scope["path"])
        declared = _declared_length(scope)
        if declared is not None and declared > limit:
            await _too_large(limit)(scope, receive, send)
            return
        received = 0
        started: list[Message] = []

        async def bounded_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _TooLarge
            return message

        try:
            await self.app(scope, bounded_receive, noting_start(send, started.append))
        except _TooLarge:
            if not started:  # else an answer is already on its way and cannot be replaced
                await _too_large(limit)(scope, receive, send)
        except ClientDisconnect:
            pass

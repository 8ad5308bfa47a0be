"""The HTTP face of the ingest pipeline: ``/api/send`` (Umami) and ``/api/event`` (Plausible).

This layer only reads a bounded body, checks its content type and turns outcomes into answers;
all decisions are the pipeline's. Beacons are sent without credentials from any origin, so CORS
is open; ``text/plain`` bodies let browsers skip the preflight entirely.
"""

from __future__ import annotations

import logging
import time
import traceback

from starlette.requests import ClientDisconnect, Request as HTTPRequest
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

from collector.beacons import BadBeacon
from collector.ingest import Collector, Outcome, Request
from collector.numbers import is_whole_number
from collector.state import StateUnavailable

log = logging.getLogger("crumbless.ingest")

CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "POST, OPTIONS",
    # Umami's script sends its cache token, and since 3.x its website id and host, as headers.
    "Access-Control-Allow-Headers": "Content-Type, x-umami-cache, x-umami-website-id, x-umami-hostname",
    "Access-Control-Max-Age": "86400",
}
ACCEPTED_TYPES = ("", "application/json", "text/plain")


async def read_body(request: HTTPRequest, fields: dict[str, str], limit: int) -> bytes:
    """The body as uvicorn hands it over: the ASGI messages read here, as ``Request.stream`` does."""
    declared = fields.get("content-length", "")
    if is_whole_number(declared) and int(declared) > limit:
        raise BadBeacon("body", f"is larger than {limit} bytes", status=413)
    chunks: list[bytes] = []
    size = 0
    receive = request.receive
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        if message["type"] != "http.request":
            continue
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BadBeacon("body", f"is larger than {limit} bytes", status=413)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def header_fields(raw: list[tuple[bytes, bytes]]) -> dict[str, str]:
    """The request's headers as a plain dict, read once: the pipeline looks up about fifteen.

    Repeated fields are joined with commas, which is what HTTP says they mean (RFC 9110 §5.3).
    It matters for ``X-Forwarded-For``: a proxy may add its hop as a second line, and reading
    only the first line would believe whatever the client wrote there.
    """
    fields: dict[str, str] = {}
    for name, value in raw:
        key, text = name.decode("latin-1").lower(), value.decode("latin-1")
        fields[key] = f"{fields[key]}, {text}" if key in fields else text
    return fields


def check_content_type(fields: dict[str, str]) -> None:
    media_type = fields.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type not in ACCEPTED_TYPES:
        raise BadBeacon("content-type", "must be application/json or text/plain", status=415)


def error(exc: BadBeacon) -> Response:
    return JSONResponse({"error": exc.message, "field": exc.field}, status_code=exc.status, headers=CORS)


RETRY_AFTER_S = 10


class _Refusals:
    """Beacons refused since the last log line: an outage of the state is logged once per
    ``RETRY_AFTER_S``, not once per beacon."""

    logged_at = -float(RETRY_AFTER_S)
    since = 0


def unavailable(exc: StateUnavailable) -> Response:
    """A beacon the shared state could not take: refused (503), not counted on a guess."""
    _Refusals.since += 1
    now = time.monotonic()
    if now - _Refusals.logged_at >= RETRY_AFTER_S:
        log.warning("refused %d beacon(s) with 503: the visitor state is unavailable (%s)", _Refusals.since, exc)
        _Refusals.logged_at, _Refusals.since = now, 0
    headers = {**CORS, "Retry-After": str(RETRY_AFTER_S)}
    return JSONResponse({"error": "the visitor state is unavailable, retry later"}, status_code=503, headers=headers)


class Prebuilt(Response):
    """An answer built once and sent as its two ASGI messages, as often as it is needed.

    Every beacon gets one of a handful of answers (the format's 200 or 202, with or without the
    reason it was not counted), and building a ``Response`` (its headers encoded, its messages
    assembled) for each cost more than the send itself (py-spy, BENCHMARKS.md). Each send gets
    fresh message dicts and header list, so whoever receives them may change them.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": [*self.raw_headers]})
        await send({"type": "http.response.body", "body": self.body})


def _answer(format: str, dropped: str) -> Prebuilt:
    headers = dict(CORS)
    if dropped:
        headers["X-Crumbless-Dropped"] = dropped
    if format == "umami":
        return Prebuilt('{"ok":true}', 200, headers, "application/json")  # Umami's answer, as JSONResponse gave it
    return Prebuilt("ok", 202, headers, "text/plain")


_ANSWERS: dict[tuple[str, str], Prebuilt] = {}
MAX_ANSWERS = 64
"""Drop reasons are a short fixed list; the bound only keeps a new one from growing the cache."""


def answer(format: str, outcome: Outcome) -> Response:
    key = (format, outcome.dropped)
    prebuilt = _ANSWERS.get(key)
    if prebuilt is None:
        prebuilt = _answer(format, outcome.dropped)
        if len(_ANSWERS) < MAX_ANSWERS:
            _ANSWERS[key] = prebuilt
    return prebuilt


async def collect(request: HTTPRequest, format: str) -> Response:
    collector: Collector = request.app.state.collector
    try:
        fields = header_fields(request.scope["headers"])
        check_content_type(fields)
        body = await read_body(request, fields, collector.settings.max_body)
        client = request.scope.get("client")
        peer = client[0] if client else ""
        outcome = await collector.ingest(Request(format, body, fields, peer))
    except BadBeacon as exc:
        collector.metrics.rejected(exc.status)
        return error(exc)
    except ClientDisconnect:
        collector.metrics.rejected(400)
        return Response(status_code=400)
    except StateUnavailable as exc:
        collector.metrics.refused.inc()
        return unavailable(exc)
    except Exception as exc:
        collector.metrics.failed.inc()
        # Only the exception's type and where it happened: its message could quote request data.
        where = traceback.extract_tb(exc.__traceback__)[-1]
        log.error("internal error while ingesting: %s at %s:%s", type(exc).__name__, where.filename, where.lineno)
        return JSONResponse({"error": "internal error"}, status_code=500, headers=CORS)
    collector.metrics.beacon(outcome.dropped)
    return answer(format, outcome)


async def umami_send(request: HTTPRequest) -> Response:
    return await collect(request, "umami")


async def plausible_event(request: HTTPRequest) -> Response:
    return await collect(request, "plausible")


async def preflight(request: HTTPRequest) -> Response:
    return Response(status_code=204, headers=CORS)

"""Uvicorn's httptools protocol with a bounded request head, an answer for a half-closed request,
and each response's head written together with its body (``HeadWithBody``).

Why it exists: uvicorn's httptools protocol puts no limit on the request line, on one header or on
how many there are. It grows the URL with ``+=`` per received chunk and httptools grows an
unfinished header the same way, so one client trickling a 100 MB header made the event loop copy
quadratically: every other client's beacons waited seconds and the process grew by hundreds of
megabytes. Here each bound trips as soon as it is crossed, while the head is still arriving (the
line being received is measured after every chunk, the URL on every fragment), so no client can
hold the loop or the memory. The answer is the status that names the problem (414, 431) with the
limit in its body, not uvicorn's generic 400 for any parser error. Chunked trailers are a second
header section and get the same bounds.

A client that shuts down its sending side (``shutdown(SHUT_WR)``) also got no answer at all:
uvicorn closes on end-of-file whatever the state of the request. Now an unfinished request gets a
400 saying so, and a finished one still gets its response before the connection is closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from array import array
from typing import Any

import httptools
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol, RequestResponseCycle

log = logging.getLogger("crumbless.http")

# nginx's defaults allow 8 KiB for the request line and for one header; Node allows 16 KiB of
# headers in all. A beacon with a long User-Agent (~300 bytes) and Referer (~2 KiB) has about 3 KiB.
MAX_REQUEST_LINE = 8 * 1024
"""Method, target and version, in bytes; beyond it 414."""
MAX_HEADER_LINE = 8 * 1024
"""One header, ``name: value`` and its line end, in bytes; beyond it 431."""
MAX_HEADERS = 100
"""Headers (and trailers) in one request; beyond it 431."""
MAX_HEADER_BYTES = 32 * 1024
"""All header (and trailer) lines of one request together, in bytes; beyond it 431."""
# The check on a line still arriving cannot tell the request line from a header line, so it
# relies on MAX_REQUEST_LINE <= MAX_HEADER_LINE: a long URL is refused in ``on_url`` first.

_LINE_END_AND_VERSION = len(" HTTP/1.1\r\n")
INCOMPLETE_HEAD = "the request ended before its headers were complete"
INCOMPLETE_BODY = "the request ended before its body was complete"


class Refusal(Exception):
    """A request this server will not read further; ``reason`` is the whole answer's body."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class _Parser(httptools.HttpRequestParser):
    """Lets a ``Refusal`` raised in a callback out as itself.

    httptools wraps anything a callback raises in ``HttpParserCallbackError``, which uvicorn
    answers, like any malformed request, with a 400 and a warning that it was invalid.
    """

    def feed_data(self, data: bytes | bytearray | memoryview | array[int]) -> None:
        try:
            super().feed_data(data)
        except httptools.HttpParserCallbackError as exc:
            if isinstance(exc.__context__, Refusal):
                raise exc.__context__ from None
            raise


class HeadWithBody:
    """The transport a response is written through: its head goes out with its first body part.

    Uvicorn writes a response's status line and headers as soon as the application starts the
    response, and its body when it comes: two writes, two packets and two wake-ups of the client
    for a beacon's 202, where one does. The head is therefore held until the next write (the body,
    however small, or a close), and nothing else is: a ``100 Continue`` is written before the
    response starts, so it goes out at once, and the answer to a HEAD, which has no body write
    to wait for, too.
    """

    def __init__(self, transport: asyncio.Transport, cycle: RequestResponseCycle) -> None:
        self._transport = transport
        self._cycle = cycle
        self._head: bytes | None = None
        self._held = False   # the head has been held once: every later write goes straight out

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._head is not None:
            data, self._head = self._head + data, None
        elif not self._held and self._cycle.response_started:
            self._held = True
            if self._cycle.scope["method"] != "HEAD":  # uvicorn writes no body for a HEAD
                self._head = bytes(data)
                return
        self._transport.write(data)

    def close(self) -> None:
        if self._head is not None:
            head, self._head = self._head, None
            self._transport.write(head)
        self._transport.close()

    def is_closing(self) -> bool:
        return self._transport.is_closing()


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """The protocol ``crumbless serve`` runs: uvicorn's, with the bounds above and half-close answers.

    The parser reports a header only once it is complete, so the line still arriving is measured
    from the received bytes themselves: after each chunk, what follows its last line feed (or,
    with none, all of it) belongs to that line. This is exact whenever the chunk's earlier bytes
    end on a line end, which is every case but one: a pipelined request that follows a body in
    the same chunk, whose first fragment is counted from the next chunk on (one chunk late, and
    never a false refusal).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.parser = _Parser(self)
        with contextlib.suppress(AttributeError):  # httptools < 0.6.3 has no leniencies
            self.parser.set_dangerous_leniencies(lenient_data_after_close=True)  # as uvicorn sets them
        self.refused = False
        self.message_open = False   # a request has begun and not ended
        self.headers_done = False   # ... and its header section is complete
        self.head_open = False      # a header or trailer section is arriving
        self.open_line = 0          # bytes of its line still arriving
        self.line_start = True      # what the parser consumed of this chunk so far ended a line
        self.line_bytes = 0         # the request line, as far as it has arrived
        self.header_count = 0
        self.header_bytes = 0

    # ── receiving ──────────────────────────────────────────────────────────────────────────────

    def data_received(self, data: bytes) -> None:
        if self.refused:
            return  # answered and closing; nothing more is read
        self.line_start = True
        try:
            super().data_received(data)
            self._measure_open_line(data)
        except Refusal as refusal:
            self.refuse(refusal)

    def _measure_open_line(self, data: bytes) -> None:
        """The bounds on the header line the parser is still collecting (the URL has its own, in ``on_url``)."""
        if not self.head_open:
            return
        if self.line_start:  # else the section began right after a body: unknown until the next chunk
            end = data.rfind(b"\n")
            self.open_line = self.open_line + len(data) if end < 0 else len(data) - 1 - end
        if self.open_line > MAX_HEADER_LINE:
            raise Refusal(431, f"a request header is longer than {MAX_HEADER_LINE} bytes")
        if self.header_bytes + self.open_line > MAX_HEADER_BYTES:
            raise Refusal(431, f"the request headers are larger than {MAX_HEADER_BYTES} bytes in total")

    def _open_head(self) -> None:
        self.head_open = True
        self.open_line = 0

    # ── parser callbacks ───────────────────────────────────────────────────────────────────────

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.message_open, self.headers_done = True, False
        self.line_bytes = self.header_count = self.header_bytes = 0
        self._open_head()

    def on_url(self, url: bytes) -> None:
        rest_of_line = 0 if self.line_bytes else len(self.parser.get_method()) + len(" ") + _LINE_END_AND_VERSION
        self.line_bytes += len(url) + rest_of_line
        if self.line_bytes > MAX_REQUEST_LINE:
            raise Refusal(414, f"the request line is longer than {MAX_REQUEST_LINE} bytes")
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        line = len(name) + len(value) + 4  # "name: value\r\n"
        self.header_count += 1
        self.header_bytes += line
        if self.header_count > MAX_HEADERS:
            raise Refusal(431, f"the request has more than {MAX_HEADERS} headers")
        if line > MAX_HEADER_LINE:
            raise Refusal(431, f"a request header is longer than {MAX_HEADER_LINE} bytes")
        if self.header_bytes > MAX_HEADER_BYTES:
            raise Refusal(431, f"the request headers are larger than {MAX_HEADER_BYTES} bytes in total")
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self.head_open, self.headers_done, self.line_start = False, True, True
        super().on_headers_complete()
        cycle = self.cycle
        if cycle is not None and not self.refused:
            cycle.transport = HeadWithBody(self.transport, cycle)  # type: ignore[assignment]

    def on_chunk_header(self) -> None:
        """After the last chunk's size line come the trailers: a header section of its own."""
        self.line_start = True
        self._open_head()

    def on_chunk_complete(self) -> None:
        self.head_open, self.line_start = False, True

    def on_body(self, body: bytes) -> None:
        self.head_open, self.line_start = False, False
        super().on_body(body)

    def on_message_complete(self) -> None:
        self.head_open = self.message_open = False
        super().on_message_complete()

    # ── answering ──────────────────────────────────────────────────────────────────────────────

    def eof_received(self) -> bool | None:  # type: ignore[override]  # asyncio's contract; uvicorn's says None
        """The client has shut down its sending side: answer what it sent, then close.

        Returning True keeps the transport open for writing, so a response still being worked
        out reaches the client; the cycle then closes the connection once it has been written.
        """
        if self.refused:
            return None
        answering = self.headers_done and self.cycle is not None and self.cycle.response_started
        if self.message_open and not answering:
            self.refuse(Refusal(400, INCOMPLETE_BODY if self.headers_done else INCOMPLETE_HEAD))
            return None
        if self.cycle is not None and not self.cycle.response_complete:
            self.cycle.keep_alive = False
            return True
        return None

    def refuse(self, refusal: Refusal) -> None:
        """Answer ``refusal`` with ``connection: close`` and close; the application hears a disconnect."""
        self.refused = True
        if self.transport.is_closing():
            return
        log.info("refused a request: %s (%d)", refusal.reason, refusal.status)
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            if cycle.response_started:  # a response is half written: a second one would garble it
                self.transport.close()
                return
            cycle.disconnected = True  # the application's own answer, if any, goes nowhere
            cycle.message_event.set()
        body = (refusal.reason + "\n").encode()
        head = [STATUS_LINE[refusal.status]]
        head += [name + b": " + value + b"\r\n" for name, value in self.server_state.default_headers]
        head += [
            b"content-type: text/plain; charset=utf-8\r\n",
            b"content-length: %d\r\n" % len(body),
            b"connection: close\r\n\r\n",
        ]
        self.transport.write(b"".join(head) + body)
        self.transport.close()

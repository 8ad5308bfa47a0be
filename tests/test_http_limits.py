"""Request limits against a real ``crumbless serve``: bounded request heads, bounded form bodies,
and answers for clients that half-close their side of the connection.

These are properties of the server process as shipped (uvicorn with Crumbless's protocol class,
``collector.httpprotocol``, and the body bound, ``collector.bodylimit``), so they are tested over
raw loopback sockets against the actual command: an in-process client would never reach the
HTTP parser. Every socket has a timeout, so a server that fails to answer fails the test instead
of hanging it; no assertion is about how long anything took.
"""

from __future__ import annotations

import html
import json
import re
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest

from collector.bodylimit import FORM_BODY_LIMIT
from collector.httpprotocol import MAX_HEADER_BYTES, MAX_HEADER_LINE, MAX_HEADERS, MAX_REQUEST_LINE
from tests.live_server import LOOPBACK, LiveServer, add_site, crumbless_env, stats
from tests.support import plausible

DOMAIN = "example.com"
SOCKET_TIMEOUT = 15.0
MOST_READ = 1 << 20  # no answer here is anywhere near this; a runaway read stops at it

# A real Chrome on Windows with the client hints it sends, and a long search-result Referer: the
# largest heads real beacons carry, and still far under every bound.
CHROME_UA = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36 Edg/131.0.2903.86"
)
LONG_REFERER = "https://www.google.com/search?q=" + "cookieless+web+analytics+self+hosted+" * 40 + "&sca_esv=" + "a1b2c3d4" * 60
BROWSER_HEADERS = {
    "User-Agent": CHROME_UA,
    "Referer": LONG_REFERER,
    "Origin": f"https://{DOMAIN}",
    "Accept": "*/*",
    "Accept-Language": "de-DE,de;q=0.9,en-US;q=0.8,en;q=0.7,fr;q=0.6",
    "Accept-Encoding": "gzip, deflate, br, zstd",
    "Sec-CH-UA": '"Microsoft Edge";v="131", "Chromium";v="131", "Not_A Brand";v="24"',
    "Sec-CH-UA-Mobile": "?0",
    "Sec-CH-UA-Platform": '"Windows"',
    "Sec-Fetch-Dest": "empty",
    "Sec-Fetch-Mode": "no-cors",
    "Sec-Fetch-Site": "cross-site",
    "Priority": "u=4, i",
    "Content-Type": "text/plain;charset=UTF-8",
}


@dataclass
class Live:
    server: LiveServer
    workdir: Path

    @property
    def env(self) -> dict[str, str]:
        return self.server.env

    @property
    def port(self) -> int:
        return int(self.server.env["CRUMBLESS_PORT"])  # ``start`` picks a fresh one

    def connect(self) -> socket.socket:
        return socket.create_connection((LOOPBACK, self.port), timeout=SOCKET_TIMEOUT)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, geo_db: Path) -> Iterator[Live]:
    """One server for the module: every test tells its own traffic apart by connection or page path."""
    workdir = tmp_path_factory.mktemp("limits")
    data_dir = workdir / "data"
    data_dir.mkdir()
    env = crumbless_env(data_dir, geo_db, flush_interval="1")
    add_site(env, DOMAIN, cwd=workdir)
    server = LiveServer(env, workdir)
    try:
        server.start()
        yield Live(server, workdir)
    finally:
        server.kill()


# ── raw HTTP ─────────────────────────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


def parse(raw: bytes) -> Answer:
    head, sep, body = raw.partition(b"\r\n\r\n")
    assert sep, f"no complete response head in {raw[:300]!r}"
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return Answer(int(status_line.split(" ")[1]), headers, body)


def send_quietly(sock: socket.socket, data: bytes) -> bool:
    """Send, or False if the server has already answered and closed (it need not read the rest)."""
    try:
        sock.sendall(data)
    except (BrokenPipeError, ConnectionResetError):
        return False
    return True


def read_to_close(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection; a reset after the answer is a close."""
    chunks: list[bytes] = []
    while sum(map(len, chunks)) < MOST_READ:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def read_one(sock: socket.socket) -> Answer:
    """One response with a Content-Length body, leaving the connection open."""
    raw = b""
    while b"\r\n\r\n" not in raw:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed before a response head: {raw!r}"
        raw += chunk
    answer = parse(raw)
    length = int(answer.headers["content-length"])
    body = answer.body
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk, "connection closed inside a response body"
        body += chunk
    return Answer(answer.status, answer.headers, body)


def exchange(live: Live, data: bytes, half_close: bool = False) -> Answer:
    """Send ``data`` on a new connection (then shut down our side if asked) and read until the server closes."""
    with live.connect() as sock:
        send_quietly(sock, data)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        raw = read_to_close(sock)
    assert raw, "the server closed the connection without an answer"
    return parse(raw)


def request(target: str = "/healthz", headers: list[str] | None = None, method: str = "GET", body: bytes = b"") -> bytes:
    lines = [f"{method} {target} HTTP/1.1", "Host: 127.0.0.1", "Connection: close", *(headers or [])]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def assert_refused(answer: Answer, status: int, reason: str) -> None:
    assert answer.status == status, answer
    assert answer.headers.get("connection") == "close", answer.headers
    assert answer.headers.get("content-type", "").startswith("text/plain"), answer.headers
    assert reason in answer.body.decode(), answer.body


def header_of_size(size: int, name: str = "X-Pad") -> str:
    """A header whose line, ``name: value`` and its CRLF, is exactly ``size`` bytes."""
    return f"{name}: " + "a" * (size - len(name) - 4)


# ── beacons and counting ─────────────────────────────────────────────────────────────────────


def beacon(path: str, address: str, headers: dict[str, str] | None = None) -> tuple[bytes, dict[str, str]]:
    body = plausible(DOMAIN, f"https://{DOMAIN}{path}", r=LONG_REFERER)
    sent = {"User-Agent": CHROME_UA, "Content-Type": "text/plain", "X-Forwarded-For": address, **(headers or {})}
    return body, sent


def post_beacon(live: Live, path: str, address: str, headers: dict[str, str] | None = None) -> httpx.Response:
    body, sent = beacon(path, address, headers)
    with httpx.Client(trust_env=False, timeout=SOCKET_TIMEOUT) as http:
        return http.post(f"{live.server.base_url}/api/event", content=body, headers=sent)


def raw_beacon(path: str, address: str) -> bytes:
    body, sent = beacon(path, address)
    lines = [f"{k}: {v}" for k, v in sent.items()] + [f"Content-Length: {len(body)}"]
    return request("/api/event", lines, method="POST", body=body)


def pageviews(live: Live, path: str, expected: int, timeout: float = 20) -> int:
    """Poll ``crumbless stats`` until ``path`` has ``expected`` pageviews (the flush is periodic)."""
    deadline = time.monotonic() + timeout
    while True:
        live.server.check_alive()
        rows = stats(live.env, DOMAIN, cwd=live.workdir)["top"]["page"]
        found = next((row["pageviews"] for row in rows if row["value"] == path), 0)
        if found >= expected or time.monotonic() > deadline:
            return found
        time.sleep(0.3)


# ── the request head ────────────────────────────────────────────────────────────────────────


def test_request_line_at_the_limit_is_served_and_one_byte_more_gets_414(live: Live) -> None:
    def line_of(size: int) -> str:
        fixed = len("GET /healthz?pad= HTTP/1.1\r\n")
        return "/healthz?pad=" + "a" * (size - fixed)

    assert exchange(live, request(line_of(MAX_REQUEST_LINE))).status == 200
    assert_refused(exchange(live, request(line_of(MAX_REQUEST_LINE + 1))), 414, f"the request line is longer than {MAX_REQUEST_LINE} bytes")


def test_header_at_the_limit_is_served_and_one_byte_more_gets_431(live: Live) -> None:
    assert exchange(live, request(headers=[header_of_size(MAX_HEADER_LINE)])).status == 200
    answer = exchange(live, request(headers=[header_of_size(MAX_HEADER_LINE + 1)]))
    assert_refused(answer, 431, f"a request header is longer than {MAX_HEADER_LINE} bytes")


def test_header_count_at_the_limit_is_served_and_one_more_gets_431(live: Live) -> None:
    own = 2  # Host and Connection, from ``request``
    at_limit = [f"X-N{i}: {i}" for i in range(MAX_HEADERS - own)]
    assert exchange(live, request(headers=at_limit)).status == 200
    answer = exchange(live, request(headers=[*at_limit, "X-One-Too-Many: 1"]))
    assert_refused(answer, 431, f"the request has more than {MAX_HEADERS} headers")


def test_header_section_at_the_limit_is_served_and_one_byte_more_gets_431(live: Live) -> None:
    own = len("Host: 127.0.0.1\r\n") + len("Connection: close\r\n")
    lines = [header_of_size(8000, f"X-Pad{i}") for i in range(4)]  # each under the one-header bound
    lines.append(header_of_size(MAX_HEADER_BYTES - own - 4 * 8000, "X-Last"))
    assert exchange(live, request(headers=lines)).status == 200
    lines[-1] += "a"
    answer = exchange(live, request(headers=lines))
    assert_refused(answer, 431, f"the request headers are larger than {MAX_HEADER_BYTES} bytes in total")


@pytest.mark.parametrize(
    ("unfinished", "status", "reason"),
    [
        # a URL that never ends, a header that never ends, and many headers that never end
        (b"GET /" + b"a" * (MAX_REQUEST_LINE + 1000), 414, "request line is longer"),
        (b"GET / HTTP/1.1\r\nX-Pad: " + b"a" * (MAX_HEADER_LINE + 1000), 431, "a request header is longer"),
        (b"GET / HTTP/1.1\r\n" + b"".join(b"X-%d: %s\r\n" % (i, b"a" * 4000) for i in range(9)) + b"X-Last: aa", 431, "in total"),
    ],
    ids=["url", "one-header", "all-headers"],
)
def test_bound_trips_while_the_head_is_still_arriving(live: Live, unfinished: bytes, status: int, reason: str) -> None:
    """The head is sent without its end and the connection left open: the answer must come anyway.

    Before the bounds the server waited for the rest, accumulating it, however long it grew.
    """
    with live.connect() as sock:
        for at in range(0, len(unfinished), 1024):  # in pieces, as a slow client sends it
            if not send_quietly(sock, unfinished[at : at + 1024]):
                break
        raw = read_to_close(sock)
    assert raw, "no answer to an unfinished, oversized head"
    assert_refused(parse(raw), status, reason)


def test_trailers_after_a_chunked_body_have_the_same_bounds(live: Live) -> None:
    """Trailers are a second header section, collected the same way: one that never ends is refused too."""
    head = request("/api/event", ["Content-Type: text/plain", "Transfer-Encoding: chunked"], method="POST")
    unfinished = head + b"5\r\nhello\r\n0\r\nX-Trailer: " + b"a" * (MAX_HEADER_LINE + 1000)
    with live.connect() as sock:
        for at in range(0, len(unfinished), 1024):
            if not send_quietly(sock, unfinished[at : at + 1024]):
                break
        raw = read_to_close(sock)
    assert raw, "no answer to an unfinished, oversized trailer"
    assert_refused(parse(raw), 431, "a request header is longer")


def test_pipelined_request_with_large_but_allowed_headers_is_served(live: Live) -> None:
    """The second request's head begins mid-chunk, where the count is least exact: never a false refusal."""
    first = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    second = request(headers=[header_of_size(MAX_HEADER_LINE, f"X-Pad{i}") for i in range(3)])
    with live.connect() as sock:
        sock.sendall(first + second)
        answers = read_to_close(sock).split(b"HTTP/1.1 ")[1:]
    assert [int(a.split(b" ", 1)[0]) for a in answers] == [200, 200], answers


def test_beacons_are_answered_and_counted_while_another_client_trickles_a_huge_header(live: Live) -> None:
    """One connection sends an endless header slowly; everyone else's beacons go on being served.

    The header is trickled in 1 KiB pieces with a beacon from another client between pieces, until
    the server refuses the header (431) and closes; a bounded loop, so a server that never refuses
    fails instead of spinning.
    """
    path = "/limits/during-slow-header"
    answered = 0
    with live.connect() as slow:
        assert send_quietly(slow, b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Huge: ")
        for piece in range(200):  # 200 KiB at most: far past every bound
            if not send_quietly(slow, b"a" * 1024):
                break
            if piece % 2 == 0 and answered < 10:
                assert post_beacon(live, path, f"192.0.2.{answered + 1}").status_code == 202
                answered += 1
        raw = read_to_close(slow)
    assert answered >= 4, answered  # beacons were served while the header was still growing
    assert_refused(parse(raw), 431, "a request header is longer")
    assert post_beacon(live, path, "192.0.2.200").status_code == 202
    assert pageviews(live, path, answered + 1) == answered + 1


def test_real_browser_beacon_with_a_long_user_agent_and_referer_is_counted(live: Live) -> None:
    path = "/limits/real-browser"
    body, _ = beacon(path, "198.51.100.7")
    sent = {**BROWSER_HEADERS, "X-Forwarded-For": "198.51.100.7"}
    head_size = len("POST /api/event HTTP/1.1\r\n") + sum(len(k) + len(v) + 4 for k, v in sent.items())
    assert head_size < MAX_HEADER_BYTES // 4 and len(LONG_REFERER) + 20 < MAX_HEADER_LINE  # realistic, and far under
    with httpx.Client(trust_env=False, timeout=SOCKET_TIMEOUT) as http:
        r = http.post(f"{live.server.base_url}/api/event", content=body, headers=sent)
    assert r.status_code == 202 and "x-crumbless-dropped" not in r.headers, (r.status_code, r.headers, r.text)
    assert pageviews(live, path, 1) == 1


def test_dashboard_request_with_a_browser_sized_head_is_served(live: Live) -> None:
    """A logged-out dashboard visit with a few KB of unrelated cookies, as a browser on a shared domain sends."""
    cookies = "; ".join(f"_other{i}={'x' * 180}" for i in range(12))
    headers = {**BROWSER_HEADERS, "Cookie": cookies, "Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
    with httpx.Client(trust_env=False, timeout=SOCKET_TIMEOUT) as http:
        assert http.get(f"{live.server.base_url}/login", headers=headers).status_code == 200


# ── form bodies ─────────────────────────────────────────────────────────────────────────────


def login_form(live: Live, http: httpx.Client) -> dict[str, str]:
    page = http.get(f"{live.server.base_url}/login").text
    token = re.search(r'name="csrf" value="([^"]+)"', page)
    assert token, page[:500]
    return {"csrf": html.unescape(token.group(1)), "next": "/", "name": "nobody", "password": "wrong-password-123"}


def assert_too_large(r: httpx.Response) -> None:
    assert r.status_code == 413, (r.status_code, r.text[:300])
    assert f"larger than {FORM_BODY_LIMIT} bytes" in r.text


def test_a_one_megabyte_multipart_login_gets_413(live: Live) -> None:
    with httpx.Client(trust_env=False, timeout=SOCKET_TIMEOUT, headers={"Origin": live.server.base_url}) as http:
        fields = login_form(live, http)
        r = http.post(f"{live.server.base_url}/login", data=fields, files={"upload": ("big.bin", b"\0" * (1 << 20))})
        assert_too_large(r)
        # the bound is on size, not on the form: the same login, small, reaches the password check
        assert http.post(f"{live.server.base_url}/login", data=fields).status_code == 401


def test_a_chunked_form_body_is_bounded_while_it_streams(live: Live) -> None:
    """No Content-Length to judge by: the count of what arrives must stop it."""

    def body() -> Iterator[bytes]:
        yield b"name=nobody&password="
        for _ in range(64):  # 1 MiB in all
            yield b"a" * 16384

    with httpx.Client(trust_env=False, timeout=SOCKET_TIMEOUT, headers={"Origin": live.server.base_url}) as http:
        r = http.post(f"{live.server.base_url}/login", content=body(), headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert "content-length" not in r.request.headers and r.request.headers.get("transfer-encoding") == "chunked"
    assert_too_large(r)


def test_a_declared_oversized_body_is_refused_before_it_is_sent(live: Live) -> None:
    """The head alone, announcing 100 MB: the 413 comes without the server waiting for any of it."""
    head = request("/login", ["Content-Type: application/x-www-form-urlencoded", "Content-Length: 100000000"], method="POST")
    with live.connect() as sock:
        sock.sendall(head)
        answer = read_one(sock)
    assert answer.status == 413 and f"larger than {FORM_BODY_LIMIT} bytes".encode() in answer.body


def test_every_non_beacon_path_is_bounded_but_beacons_keep_their_own_limit(live: Live) -> None:
    big = b"x" * (FORM_BODY_LIMIT + 1)
    with httpx.Client(trust_env=False, timeout=SOCKET_TIMEOUT) as http:
        for path in ("/users", "/sites/new", "/account/password", "/healthz"):
            assert_too_large(http.post(f"{live.server.base_url}{path}", content=big))
        beacon_answer = http.post(f"{live.server.base_url}/api/event", content=big, headers={"Content-Type": "text/plain"})
    assert beacon_answer.status_code == 413 and json.loads(beacon_answer.text)["field"] == "body"  # endpoints.read_body's


# ── half-closed connections ─────────────────────────────────────────────────────────────────


def test_half_close_in_the_middle_of_a_body_gets_400(live: Live) -> None:
    head = request("/api/event", ["Content-Type: text/plain", "Content-Length: 100"], method="POST")
    answer = exchange(live, head + b'{"n":"pagev', half_close=True)
    assert_refused(answer, 400, "the request ended before its body was complete")


def test_half_close_in_the_middle_of_a_form_body_gets_400(live: Live) -> None:
    head = request("/login", ["Content-Type: application/x-www-form-urlencoded", "Content-Length: 100"], method="POST")
    answer = exchange(live, head + b"name=nob", half_close=True)
    assert_refused(answer, 400, "the request ended before its body was complete")
    assert "Exception in ASGI application" not in live.server.stderr_text()  # the form's reader heard a disconnect


def test_half_close_in_the_middle_of_the_headers_gets_400(live: Live) -> None:
    answer = exchange(live, b"POST /api/event HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Le", half_close=True)
    assert_refused(answer, 400, "the request ended before its headers were complete")


def test_a_complete_request_then_half_close_is_still_answered_and_counted(live: Live) -> None:
    path = "/limits/half-close-after-request"
    with live.connect() as sock:
        sock.sendall(raw_beacon(path, "203.0.113.9"))
        sock.shutdown(socket.SHUT_WR)
        raw = read_to_close(sock)  # returns only once the server has closed after answering
    assert parse(raw).status == 202, raw[:300]
    assert pageviews(live, path, 1) == 1


def test_a_complete_form_then_half_close_is_still_answered(live: Live) -> None:
    """The login's password check runs in a thread, so its answer is written well after the client's FIN."""
    with httpx.Client(trust_env=False, timeout=SOCKET_TIMEOUT) as http:
        body = urlencode(login_form(live, http)).encode()
    lines = ["Content-Type: application/x-www-form-urlencoded", f"Content-Length: {len(body)}", f"Origin: {live.server.base_url}"]
    answer = exchange(live, request("/login", lines, method="POST", body=body), half_close=True)
    assert answer.status == 401 and b"Wrong user name or password" in answer.body, answer


def test_nothing_went_wrong_inside_the_server(live: Live) -> None:
    """Last on purpose: none of the traffic above may have caused an internal error."""
    log = live.server.stderr_text()
    assert "Traceback" not in log and "Exception in ASGI application" not in log, log[-3000:]
    live.server.check_alive()

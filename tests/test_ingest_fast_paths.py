"""The shortcuts the ingest path takes for speed (BENCHMARKS.md, "Ingest: before and after") give
what the long ways gave: the client address's text and number, every access-log line, and a
response whose head goes out with its body."""

from __future__ import annotations

import ipaddress
import random
import re
import socket
import time
from pathlib import Path

import httpx
import pytest

from collector.clientip import Parsed, client_ip, parse, parse_address
from collector.config import parse_networks
from tests.live_server import LOOPBACK, LiveServer, add_site, clean_exit_codes, crumbless_env
from tests.support import FIREFOX, plausible

EDGE_ADDRESSES = [
    "",
    " ",
    "::",
    "::1",
    "1::",
    "1:2:3:4:5:6:7::",
    "::1:2:3:4:5:6:7",
    "1:2:3:4:5:6:7:8",
    "1:2:3:4:5:6:7:8:9",
    "0001::",
    "00001::",
    "1::2::3",
    ":1::",
    "1:::",
    "A::B",
    "1:0:0:2:0:0:0:3",
    "1:0:0:2:0:0:3:4",
    "0:0:1::",
    "::ffff:102:304",
    "::ffff:1.2.3.4",
    "::FFFF:1.2.3.4",
    "0:0:0:0:0:ffff:c000:201",
    "::ffff:0:0",
    "::102:304",
    "::1.2.3.4",
    "::0.0.0.1",
    "64:ff9b::1.2.3.4",
    "fe80::1%eth0",
    "[::1]:80",
    "[2001:db8::1]",
    "1.2.3.4:80",
    "0.0.0.0",
    "255.255.255.255",
    " 1.2.3.4 ",
    "01.2.3.4",
    "1.2.3.04",
    "00.0.0.0",
    "256.1.1.1",
    "1.2.3",
    "1.2.3.4.5",
    "1.2.3.",
    ".1.2.3",
    "1..2.3",
    "+1.2.3.4",
    "0x1.2.3.4",
    "1.2.3.4 5",
    "1.2.3.4\x00",
    "::\x00",
    "\u0663.2.3.4",
    "\ud800.1.2.3",
    "not an address",
]


def reference(raw: str) -> Parsed | None:
    """What the address step gave before its fast paths: ``ipaddress`` all the way."""
    address = parse_address(raw)
    return None if address is None else Parsed(str(address), address.version, int(address))


def random_addresses(count: int) -> list[str]:
    rng = random.Random(20261201)
    ipv4_ish, ipv6_ish = "0123456789. :x+-", "0123456789abcdefABCDEF:.%[] "
    masks = [(1 << 128) - 1, (1 << 64) - 1, (1 << 48) - 1, (1 << 128) - (1 << 96), 0xFFFF << 32 | 0xFFFFFFFF]
    made: list[str] = []
    for _ in range(count):
        kind = rng.randrange(6)
        if kind == 0:
            made.append(str(ipaddress.IPv4Address(rng.getrandbits(32))))
        elif kind == 1:  # octets with leading zeros, too large, too few or too many
            octets = (str(rng.randint(0, 300)).zfill(rng.choice([1, 1, 2, 3])) for _ in range(rng.choice([3, 4, 4, 5])))
            made.append(".".join(octets))
        elif kind == 2:
            made.append(str(ipaddress.IPv6Address(rng.getrandbits(128) & rng.choice(masks))))
        elif kind == 3:  # the exploded form, some groups shortened
            groups = ipaddress.IPv6Address(rng.getrandbits(128)).exploded.split(":")
            made.append(":".join(g.lstrip("0") if rng.random() < 0.3 else g for g in groups))
        else:
            alphabet = ipv4_ish if kind == 4 else ipv6_ish
            made.append("".join(rng.choice(alphabet) for _ in range(rng.randint(1, 20))))
    return made


@pytest.mark.parametrize("raw", EDGE_ADDRESSES)
def test_an_address_reads_as_ipaddress_reads_it(raw: str) -> None:
    assert parse(raw) == reference(raw)


def test_many_addresses_read_as_ipaddress_reads_them() -> None:
    different = [raw for raw in random_addresses(50_000) if parse(raw) != reference(raw)]
    assert different == []


@pytest.mark.parametrize(
    ("peer", "forwarded", "expected"),
    [
        ("10.0.0.7", "198.51.100.9", ("198.51.100.9", True)),  # behind the trusted proxy
        ("10.0.0.7", "198.51.100.9, 10.0.0.8", ("198.51.100.9", True)),  # our own hops are skipped
        ("2001:db8:1::5", "203.0.113.4", ("203.0.113.4", True)),  # an IPv6 proxy
        ("::ffff:10.0.0.7", "2001:DB8:2::0:1", ("2001:db8:2::1", True)),  # a mapped peer, a spelling to canonicalise
        ("198.51.100.77", "203.0.113.4", ("198.51.100.77", False)),  # not a proxy: its header is ignored
        ("2001:db8:3::1", "203.0.113.4", ("2001:db8:3::1", False)),  # outside the trusted /48
        ("10.0.0.7", "garbled, 10.0.0.8", ("10.0.0.8", True)),  # nothing left of a garbled hop is believed
    ],
)
def test_trusted_proxies_are_judged_by_number(peer: str, forwarded: str, expected: tuple[str, bool]) -> None:
    trusted = parse_networks("CRUMBLESS_TRUSTED_PROXIES", "10.0.0.0/8, 2001:db8:1::/48")
    assert client_ip(peer, {"x-forwarded-for": forwarded}, trusted) == expected


ACCESS_LINE = re.compile(
    r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO crumbless\.access: POST /api/event 202 \d+\.\dms$", re.M
)


@pytest.fixture
def live(tmp_path: Path, geo_db: Path) -> LiveServer:
    env = crumbless_env(tmp_path / "data", geo_db, access_log="on")
    add_site(env, "example.com", cwd=tmp_path)
    return LiveServer(env, tmp_path)


def beacon(client: httpx.Client, live: LiveServer, path: str) -> None:
    body = plausible("example.com", f"https://example.com/{path}")
    answer = client.post(
        f"{live.base_url}/api/event", content=body, headers={"content-type": "text/plain", "user-agent": FIREFOX}
    )
    assert answer.status_code == 202


def test_every_beacon_has_its_line_once_a_second_and_at_a_stop(live: LiveServer) -> None:
    live.start()
    try:
        with httpx.Client(trust_env=False) as client:
            beacon(client, live, "first")
            deadline = time.monotonic() + 10
            while not ACCESS_LINE.search(live.stderr_text()) and time.monotonic() < deadline:
                time.sleep(0.1)
            assert len(ACCESS_LINE.findall(live.stderr_text())) == 1, "a quiet server writes its batch while it runs"
            for i in range(300):
                beacon(client, live, f"page-{i}")
        assert live.stop() in clean_exit_codes(15), "stopped at once, with the last batch still pending"
    finally:
        live.kill()
    log = live.stderr_text()
    assert len(ACCESS_LINE.findall(log)) == 301, log[-2000:]
    assert log.index("crumbless.access") < log.index("stopped; all counters written")


def test_a_request_that_expects_100_continue_still_gets_it_before_sending_its_body(live: LiveServer) -> None:
    live.start()
    try:
        body = plausible("example.com", "https://example.com/continued")
        head = (
            "POST /api/event HTTP/1.1\r\nHost: example.com\r\nContent-Type: text/plain\r\n"
            f"User-Agent: {FIREFOX}\r\nExpect: 100-continue\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        with socket.create_connection((LOOPBACK, int(live.env["CRUMBLESS_PORT"])), timeout=5) as conn:
            conn.sendall(head.encode())
            assert conn.recv(100).startswith(b"HTTP/1.1 100 Continue\r\n\r\n")
            conn.sendall(body)
            answer = b""
            while not answer.endswith(b"\r\n\r\nok"):
                part = conn.recv(4096)
                assert part, f"the connection closed after {answer!r}"
                answer += part
        assert answer.startswith(b"HTTP/1.1 202 Accepted\r\n") and b"content-length: 2\r\n" in answer
    finally:
        live.kill()


def test_a_head_request_is_answered_with_its_head_alone(live: LiveServer) -> None:
    live.start()
    try:
        with httpx.Client(trust_env=False, timeout=5) as client:
            script = client.head(f"{live.base_url}/js/site.js")
            again = client.get(f"{live.base_url}/healthz")  # the same connection, after the HEAD
        assert script.status_code == 200 and script.content == b"" and again.status_code == 200
    finally:
        live.kill()

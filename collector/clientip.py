"""Step 3: the client's address — the socket peer, unless that peer is a proxy we trust.

Forwarded headers are trivially spoofed, so they are believed only when the connection comes
from a configured trusted proxy; then ``X-Forwarded-For`` is walked from the right, skipping our
own proxies, so a client cannot choose its address by prepending one. Addresses are never
cached, logged, or put into an error message.

Every beacon reads one or two addresses, and ``ipaddress`` objects cost more than the rest of
the step (py-spy, BENCHMARKS.md): each address is read once, as its canonical text and its number,
a plain IPv4 address by splitting it and an IPv6 one by the C library's ``inet_pton`` and
``inet_ntop``; ``ipaddress`` is left the spellings those fast paths do not take.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import NamedTuple

from collector.config import Network

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
SINGLE_HEADERS = ("x-real-ip", "cf-connecting-ip")
_MAPPED = 0xFFFF << 32  # ::ffff:0:0/96, how a dual-stack socket shows an IPv4 client
_HEX_DIGITS_AND_COLONS = frozenset("0123456789abcdefABCDEF:")


class Parsed(NamedTuple):
    """An address as the pipeline uses it: ``str(ip_address(...))``, its version and number."""

    text: str
    version: int
    number: int


def parse_address(raw: str | None) -> Address | None:
    """An address from a header or socket: tolerates ``[v6]:port``, ``v4:port`` and zone ids."""
    if not raw:
        return None
    text = raw.strip()
    if text.startswith("["):
        text = text[1 : text.find("]")] if "]" in text else ""
    elif text.count(":") == 1:
        text = text.split(":", 1)[0]
    text = text.split("%", 1)[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def parse(raw: str | None) -> Parsed | None:
    """``parse_address``, answered without ``ipaddress`` for the spellings peers and proxies write."""
    if not raw:
        return None
    text = raw.strip()
    parsed = _plain_ipv4(text) if len(text) <= 15 else None
    if parsed is None and 2 <= len(text) <= 39 and _HEX_DIGITS_AND_COLONS.issuperset(text):
        parsed = _plain_ipv6(text)
    if parsed is not None:
        return parsed
    address = parse_address(text)
    return None if address is None else Parsed(str(address), address.version, int(address))


def _plain_ipv4(text: str) -> Parsed | None:
    """A dotted quad without leading zeros, which is its own canonical text; None for anything else.

    glibc's ``inet_pton`` takes exactly those (four decimal octets, none above 255 or with a leading
    zero), as ``ipaddress`` does.
    """
    try:
        packed = socket.inet_pton(socket.AF_INET, text)
    except (OSError, ValueError):  # ValueError: a NUL in the text
        return None
    return Parsed(text, 4, int.from_bytes(packed, "big"))


def _plain_ipv6(text: str) -> Parsed | None:
    """Hex groups and colons only (no embedded IPv4, port or zone). None whenever glibc's and
    ``ipaddress``'s text could differ: ``inet_ntop`` writes ``::a.b.c.d`` for some addresses."""
    try:
        packed = socket.inet_pton(socket.AF_INET6, text)
    except (OSError, ValueError):
        return None
    number = int.from_bytes(packed, "big")
    if number >> 32 == _MAPPED >> 32:
        return Parsed(socket.inet_ntop(socket.AF_INET, packed[12:]), 4, number & 0xFFFFFFFF)
    canonical = socket.inet_ntop(socket.AF_INET6, packed)
    return None if "." in canonical else Parsed(canonical, 6, number)


Ranges = tuple[tuple[int, int, int], ...]  # (version, first number, last number)


@lru_cache(maxsize=16)
def _ranges(trusted: tuple[Network, ...]) -> Ranges:
    """The configured networks as number ranges (the configuration, not any address, is cached)."""
    return tuple((n.version, int(n.network_address), int(n.broadcast_address)) for n in trusted)


def _trusted(address: Parsed, ranges: Ranges) -> bool:
    version, number = address.version, address.number
    return any(v == version and first <= number <= last for v, first, last in ranges)


def is_trusted(address: Address | None, trusted: Sequence[Network]) -> bool:
    return address is not None and any(address in network for network in trusted)


def client_ip(peer: str, headers: Mapping[str, str], trusted: Sequence[Network]) -> tuple[str, bool]:
    """(client address as text, whether the request came through a trusted proxy)."""
    ranges = _ranges(tuple(trusted))
    peer_address = parse(peer)
    if peer_address is None or not _trusted(peer_address, ranges):
        return (peer_address.text if peer_address else ""), False
    forwarded = headers.get("x-forwarded-for")
    if forwarded:
        address = _rightmost_untrusted(forwarded, ranges)
        if address is not None:
            return address.text, True
    for name in SINGLE_HEADERS:
        address = parse(headers.get(name))
        if address is not None:
            return address.text, True
    return peer_address.text, True


def _rightmost_untrusted(header: str, ranges: Ranges) -> Parsed | None:
    hops = header.split(",")[-32:]
    leftmost: Parsed | None = None
    for hop in reversed(hops):
        address = parse(hop)
        if address is None:
            break  # a garbled hop: nothing left of it can be believed
        if not _trusted(address, ranges):
            return address
        leftmost = address
    return leftmost

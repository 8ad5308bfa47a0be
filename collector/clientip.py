"""Step 3: the client's address — the socket peer, unless that peer is a proxy we trust.

Forwarded headers are trivially spoofed, so they are believed only when the connection comes
from a configured trusted proxy; then ``X-Forwarded-For`` is walked from the right, skipping our
own proxies, so a client cannot choose its address by prepending one. Addresses are never
cached, logged, or put into an error message.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence

from collector.config import Network

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
SINGLE_HEADERS = ("x-real-ip", "cf-connecting-ip")


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


def is_trusted(address: Address | None, trusted: Sequence[Network]) -> bool:
    return address is not None and any(address in network for network in trusted)


def client_ip(peer: str, headers: Mapping[str, str], trusted: Sequence[Network]) -> tuple[str, bool]:
    """(client address as text, whether the request came through a trusted proxy)."""
    peer_address = parse_address(peer)
    if not is_trusted(peer_address, trusted):
        return (str(peer_address) if peer_address else ""), False
    forwarded = headers.get("x-forwarded-for")
    if forwarded:
        address = _rightmost_untrusted(forwarded, trusted)
        if address is not None:
            return str(address), True
    for name in SINGLE_HEADERS:
        address = parse_address(headers.get(name))
        if address is not None:
            return str(address), True
    return str(peer_address), True


def _rightmost_untrusted(header: str, trusted: Sequence[Network]) -> Address | None:
    hops = header.split(",")[-32:]
    leftmost: Address | None = None
    for hop in reversed(hops):
        address = parse_address(hop)
        if address is None:
            break  # a garbled hop: nothing left of it can be believed
        if not is_trusted(address, trusted):
            return address
        leftmost = address
    return leftmost

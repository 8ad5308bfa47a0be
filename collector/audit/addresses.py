"""Finding IP addresses written as text in arbitrary bytes, and deciding which ones matter.

A regular expression alone would either miss addresses or drown the operator in version numbers,
so finding is three steps: fast patterns find *seeds* (ASCII, and UTF-16-LE text, which is how
Windows tools and some log shippers write) and the whole run of address characters around each
is taken as the candidate; ``ipaddress`` decides whether a candidate is an address at all; and a
short, fixed list of rules decides whether it could be a visitor's.
The rules are the documented allow-list of ``docs/privacy.md`` ("What the audit allows"); each
one names why an address found in a file cannot be a visitor's, so none of them hides a
real-looking address merely because it is inconvenient.

Besides dotted quads and IPv6, the spellings browsers and ``inet_aton`` also accept are found
where they cannot be mistaken for something else: four dotted parts in hex or long octal
(``0xc6.0x33.0x64.0x42``, ``0306.063.0144.0102``), and any of them, the integer ``3325256769``
and short forms like ``198.51.25666`` included, as the host right after ``://``. A bare number
anywhere else is just a number; the row check judges a stored host (a source) as a whole, where
the integer form does belong (``schema.py``).

Only text forms are found. An address stored as 4 or 16 raw bytes, or as a binary integer, looks
like any other binary data; Crumbless has no code path that writes one, and the schema check
reports any binary or hash-sized integer value in the database.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from collector.referrers import Address, host_address, ipv4_address

# Seeds: every IPv4 text contains ".d.d.", every IPv6 text two colons at most four hex digits
# apart, and UTF-16-LE text a "." or ":" followed by a digit, or "://" and a digit. Patterns that start with a literal
# let ``re`` skip ahead fast; the full run around each seed is then measured and parsed.
_IPV4_SEED = re.compile(rb"\.[0-9]{1,3}\.[0-9]{1,3}\.")
_IPV6_SEED = re.compile(rb":[0-9A-Fa-f]{0,4}:")
# Hex and long octal parts ("0x", ".0144") seed the other dotted spellings (separate patterns,
# since an alternation loses the literal prefix ``re`` skips ahead with); after "://", a host
# (with optional user info) that is all numbers, up to the first non-host character.
_ODD_IPV4_SEEDS = (re.compile(rb"0x"), re.compile(rb"0X"), re.compile(rb"\.0[0-7]{3}"))
_NUMBER = rb"(?:0[xX][0-9a-fA-F]{0,16}|[0-9]{1,16})"
_URL_HOST = re.compile(
    rb"://(?:[^\s/?#@\"'<>\\]{1,64}@)?(" + _NUMBER + rb"(?:\." + _NUMBER + rb"){0,3})\.?(?![0-9A-Za-z_.\-])"
)
_UTF16_SEEDS = (
    re.compile(rb"\.\x00[0-9]\x00"),
    re.compile(rb":\x00[0-9A-Fa-f:]\x00"),
    re.compile(rb":\x00/\x00/\x00[0-9]\x00"),
)
_IPV4_CHARS = frozenset(b"0123456789.")
_ODD_IPV4_CHARS = frozenset(b"0123456789abcdefABCDEFxX.")
_IPV6_CHARS = frozenset(b"0123456789abcdefABCDEF.:")
_PRINTABLE = frozenset(b"\t\n\r" + bytes(range(0x20, 0x7F)))
_UTF16_TEXT = re.compile(rb"(?:[\x09\x0a\x0d\x20-\x7e]\x00)*")

GLUE = 4
"""Characters trimmed from the start of a run that touches binary data: the last bytes of a
binary integer stored just before a text value may happen to be digits."""

TAIL = 8
"""Characters trimmed from the end of a run that does not parse. SQLite stores a row's values
back to back, so an address may be followed directly by the next column's digits
("192.0.2.1" + "20261128"); a run cannot end inside an address, so what follows is never part of it."""

CONTEXT = 16
"""Characters before a dotted quad that are read to recognise a version number."""

LONGEST_MATCH = 2 * (len("://" + "u" * 64 + "@" + ".".join(["0x" + "f" * 16] * 4) + ".") + GLUE + TAIL + CONTEXT)
"""Bytes a candidate, its trimmings and its context can span (in UTF-16): chunks overlap by more."""

# "version 1.2.3.4", "ver. 1.2.3.4", "v1.2.3.4", "rv:1.2.3.4": the word says what follows.
_VERSION_WORD = re.compile(rb"(?<![A-Za-z])(?:version|ver\.?|rv|v)[ :=/]?$", re.IGNORECASE)
# Chromium-family User-Agent products are the only common ones with four-part versions
# ("Chrome/130.0.0.0"); the list is exact, so "/ip/192.0.2.1" in a page path is still reported.
_UA_PRODUCT = re.compile(
    rb"(?<![A-Za-z])(?:Chrome|Chromium|CriOS|HeadlessChrome|Edg|EdgA|EdgiOS|OPR|YaBrowser|Vivaldi)/$"
)

_NOT_VISITOR_V4 = tuple(ipaddress.IPv4Network(n) for n in ("0.0.0.0/8", "127.0.0.0/8", "224.0.0.0/3"))
_VISITOR_V6 = tuple(ipaddress.IPv6Network(n) for n in ("2000::/3", "fc00::/7", "fe80::/10"))
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")

# Reasons an address is not reported; the report counts how often each one applied.
NOT_A_SOURCE = "not a possible visitor address (unspecified, loopback, multicast or reserved)"
BIND_ADDRESS = "the server's own bind address (CRUMBLESS_HOST)"
VERSION = "a version number, not an address"
OPERATOR = "allowed by the operator (--allow)"


@dataclass(frozen=True)
class Sighting:
    """An address found in a stream: where, and how it was written (the text is what to grep for)."""

    offset: int
    text: str
    address: Address
    encoding: str               # "text" (ASCII/UTF-8) or "UTF-16-LE"
    excuse: str | None = None   # why it is not a finding (an allow-list rule), or None


def parse(candidate: bytes) -> Address | None:
    """The address a candidate spells, or None; ``ipaddress`` is stricter than any pattern.

    Zero-padded IPv4 (``192.168.001.001``, as some tools print it) is read as decimal, which is
    what such tools mean; ``ipaddress`` refuses it because ``inet_aton`` would read it as octal.
    """
    try:
        return ipaddress.ip_address(candidate.decode("ascii"))
    except ValueError:
        pass
    octets = candidate.split(b".")
    if len(octets) == 4 and all(o.isdigit() and len(o) <= 3 and int(o) <= 255 for o in octets):
        return ipaddress.IPv4Address(".".join(str(int(o)) for o in octets))
    return None


def embedded_ipv4(address: ipaddress.IPv6Address, text: bytes) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 text carries: mapped (``::ffff:192.0.2.1``), NAT64, or mixed notation."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _NAT64 or b"." in text:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def could_be_a_visitor(address: Address, text: bytes = b"") -> bool:
    """Whether a request could have come from this address (so a visitor's might be written here).

    IPv4: anything but 0.0.0.0/8, loopback and 224.0.0.0/3 (multicast, reserved, broadcast);
    private and documentation ranges count, since intranet visitors come from them. IPv6: the
    blocks hosts send from (global unicast, unique local, link-local), or the IPv4 address an
    IPv6 text embeds. Random binary data yields short texts such as ``a::1``; they fall in
    none of these blocks, which is what keeps this scan usable on database files.
    """
    if isinstance(address, ipaddress.IPv6Address):
        inner = embedded_ipv4(address, text)
        if inner is not None:
            return could_be_a_visitor(inner)
        return any(address in net for net in _VISITOR_V6)
    return not any(address in net for net in _NOT_VISITOR_V4)


def is_version(before: bytes) -> bool:
    return bool(_VERSION_WORD.search(before) or _UA_PRODUCT.search(before))


class AddressRules:
    """The allow-list: why a valid address found in a file is not a finding, or None if it is one."""

    def __init__(self, bind_host: str = "", operator_allowed: frozenset[Address] = frozenset()) -> None:
        self.bind = _address_or_none(bind_host)
        self.operator_allowed = operator_allowed

    def excuse(self, address: Address, text: bytes, before: bytes) -> str | None:
        if not could_be_a_visitor(address, text):
            return NOT_A_SOURCE
        if self.bind is not None and _same(address, self.bind):
            return BIND_ADDRESS
        if isinstance(address, ipaddress.IPv4Address) and is_version(before):
            return VERSION
        if any(_same(address, allowed) for allowed in self.operator_allowed):
            return OPERATOR
        return None


def _address_or_none(text: str) -> Address | None:
    try:
        return ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return None


def _same(found: Address, wanted: Address) -> bool:
    """Equal, also across IPv4 and its IPv4-mapped IPv6 spelling."""
    def plain(a: Address) -> Address:
        return a.ipv4_mapped if isinstance(a, ipaddress.IPv6Address) and a.ipv4_mapped else a

    return plain(found) == plain(wanted)


def sightings(data: bytes, rules: AddressRules, base: int = 0) -> Iterator[Sighting]:
    """Every valid address in ``data``, ASCII and UTF-16-LE, each with its verdict (``excuse``)."""
    yield from _in_text(data, rules, _offsets(base, 1), "text")
    for start, stop in _utf16_runs(data):
        yield from _in_text(data[start:stop:2], rules, _offsets(base + start, 2), "UTF-16-LE")


def _offsets(first: int, step: int) -> Callable[[int], int]:
    """Where the i-th byte of a decoded run was in the data: UTF-16-LE text keeps every second byte."""
    return lambda i: first + step * i


Candidate = tuple[int, int, Address]


def _in_text(text: bytes, rules: AddressRules, offset: Callable[[int], int], encoding: str) -> Iterator[Sighting]:
    """One written address is judged once, as its longest reading: a dotted quad inside a valid
    IPv6 text is part of it, ``1.2.3.0`` in ``1.2.3.0x4`` part of the hex spelling."""
    candidates = sorted(
        (*_ipv6_in(text), *_odd_ipv4_in(text), *_url_hosts_in(text), *_ipv4_in(text)),
        key=lambda c: (c[0], -c[1]),
    )
    reach = -1
    for start, end, address in candidates:
        if end > reach:  # not inside one already judged (each starts no later than this one)
            reach = end
            yield _judge(text, start, end, address, rules, offset, encoding)


def _ipv6_in(text: bytes) -> Iterator[Candidate]:
    for start, end in _runs(text, _IPV6_SEED, _IPV6_CHARS):
        found = _address_in(text, start, end, lambda run: b"::" in run or run.count(b":") >= 6)
        if found is not None:
            yield found


def _ipv4_in(text: bytes) -> Iterator[Candidate]:
    for start, end in _runs(text, _IPV4_SEED, _IPV4_CHARS):
        found = _address_in(text, start, end, lambda run: run.count(b".") == 3, _four_parts)
        if found is not None:
            yield found


def _odd_ipv4_in(text: bytes) -> Iterator[Candidate]:
    """Dotted quads with hex or long octal parts, which browsers and ``inet_aton`` accept."""
    for seed in _ODD_IPV4_SEEDS:
        for start, end in _runs(text, seed, _ODD_IPV4_CHARS):
            found = _address_in(text, start, end, lambda run: run.count(b".") == 3, _four_parts)
            if found is not None:
                yield found  # a run two seeds share is proposed twice, and judged once


def _four_parts(candidate: bytes) -> Address | None:
    """Away from ``://`` only four parts are an address: ``0x1f.0x2`` or ``1.2`` are other numbers.
    Zero-padded parts keep their decimal reading (``parse``); longer ones (``0306``) are octal."""
    if candidate.count(b".") != 3 or candidate.endswith(b"."):
        return None
    return parse(candidate) or ipv4_address(candidate.decode("ascii"))


def _url_hosts_in(text: bytes) -> Iterator[Candidate]:
    """A host right after ``://`` made of numbers is an address in any spelling a browser takes."""
    for match in _URL_HOST.finditer(text):
        address = ipv4_address(match[1].decode("ascii"))
        if address is not None:
            yield match.start(1), match.end(1), address


def _runs(text: bytes, seed: re.Pattern[bytes], chars: frozenset[int]) -> Iterator[tuple[int, int]]:
    """The maximal run of ``chars`` around each seed, each run once.

    Taking the whole run is what keeps dotted numbers honest: "3.11.7.0.1" is one run with four
    dots, not an address followed by ".1".
    """
    end = 0
    for match in seed.finditer(text):
        if match.start() < end:
            continue
        start, end = match.start(), match.end()
        while start > 0 and text[start - 1] in chars:
            start -= 1
        while end < len(text) and text[end] in chars:
            end += 1
        yield start, end


def _utf16_runs(data: bytes) -> Iterator[tuple[int, int]]:
    """Runs of printable ASCII written as UTF-16-LE around each seed, each run once."""
    seeds = sorted(m.start() for pattern in _UTF16_SEEDS for m in pattern.finditer(data))
    end = 0
    for start in seeds:
        if start < end:
            continue
        end = start
        while start >= 2 and data[start - 2] in _PRINTABLE and data[start - 1] == 0:
            start -= 2
        text = _UTF16_TEXT.match(data, end)
        end = text.end() if text else end
        yield start, end


def _address_in(
    text: bytes,
    start: int,
    end: int,
    worth_parsing: Callable[[bytes], bool],
    read: Callable[[bytes], Address | None] = parse,
) -> Candidate | None:
    while start < end and text[start] == 0x2E:  # a "." before or after is punctuation
        start += 1
    while end > start and text[end - 1] == 0x2E:
        end -= 1
    return _longest_valid(text, start, end, read) if worth_parsing(text[start:end]) else None


def _longest_valid(text: bytes, start: int, end: int, read: Callable[[bytes], Address | None]) -> Candidate | None:
    """The run itself if it is an address, else the longest address left after trimming up to
    ``TAIL`` characters at the end and, where the start touches binary data, up to ``GLUE`` at the
    start. Text is never trimmed at the start: in "2024.10.12.1" or "cafe80::1" the characters
    belong to the word, not to an address."""
    address = read(text[start:end])
    if address is not None:
        return start, end, address
    heads = range(GLUE + 1) if _binary_at(text, start - 1) else range(1)
    trims = ((h, t) for h in heads for t in range(TAIL + 1) if h or t)
    for head, tail in sorted(trims, key=lambda ht: (sum(ht), ht[0])):
        if end - tail - (start + head) >= 2:
            address = read(text[start + head : end - tail])
            if address is not None:
                return start + head, end - tail, address
    return None


def _binary_at(text: bytes, i: int) -> bool:
    return i < 0 or i >= len(text) or text[i] not in _PRINTABLE


def _judge(
    text: bytes,
    start: int,
    end: int,
    address: Address,
    rules: AddressRules,
    offset: Callable[[int], int],
    encoding: str,
) -> Sighting:
    before = text[max(0, start - CONTEXT) : start]
    excuse = rules.excuse(address, text[start:end], before)
    return Sighting(offset(start), text[start:end].decode("ascii"), address, encoding, excuse)


def mask(text: str) -> str:
    """An address shortened for output that may be shipped to a monitoring log: enough to tell
    which network, not which visitor. IPv4 keeps two octets (``192.0.x.x``); IPv6 keeps the
    first two groups (``2001:db8:…``); an embedded IPv4 part is masked like IPv4. Other IPv4
    spellings (``3325256769``, ``198.51.25666``) are masked as their dotted quad would be, since
    cutting their text would keep the whole address."""
    head, colon, tail = text.rpartition(":")
    if colon and "." in tail:
        return f"{head}:{mask(tail)}"
    if colon:
        return ":".join(text.split(":")[:2]) + ":…"
    octets = text.split(".")
    if len(octets) != 4 or not all(o.isascii() and o.isdigit() for o in octets):
        address = host_address(text)
        return mask(str(address)) if isinstance(address, ipaddress.IPv4Address) else "x.x.x.x"
    return ".".join(octets[:2]) + ".x.x"


def mask_all(text: str) -> str:
    """``text`` with every address in it masked: for values shown only to say *where* something is."""
    data = text.encode("utf-8", "surrogatepass")
    pieces, last = [], 0
    for sighting in sorted(sightings(data, AddressRules()), key=lambda s: s.offset):
        if sighting.encoding == "text" and sighting.offset >= last:
            pieces += [data[last : sighting.offset], mask(sighting.text).encode()]
            last = sighting.offset + len(sighting.text)
    return b"".join([*pieces, data[last:]]).decode("utf-8", "replace")

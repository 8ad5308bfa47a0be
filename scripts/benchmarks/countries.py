"""Where the synthetic visitors come from, and a small country database that says so.

The benchmark must not depend on a real IP-to-country file, yet country lookups belong in the
measured path, so the bench writes its own database (with ``mmdb_writer``, as the tests do).
Addresses are drawn from ranges set aside for documentation and benchmarking, never a real
visitor's: each of the 150 countries gets a block of 198.18.0.0/15 (RFC 2544) sized by its share
of visits among all of them (the smallest still holds over a hundred addresses, more than the
busiest benchmark's visitors from it in a day) and one /48 of 2001:db8::/32 (RFC 3849). Address
parsing costs twice as much for IPv6 as for IPv4, so the mix follows real traffic rather than
taking whichever is easier.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path

from mmdb_writer import MMDBWriter
from netaddr import IPRange, IPSet

# Ordered by share of visits (Zipf, exponent 1.1). A site's audience is the first ``n`` of them
# (``traffic.Site``): a typical site's visitors come from the first ``COMMON``, a busy site's
# from all of them, and the rank of a country is the same in both.
COUNTRIES: tuple[str, ...] = (
    "US", "DE", "GB", "FR", "IN", "CA", "NL", "JP", "BR", "ES", "IT", "PL", "AU", "SE", "CH",
    "RU", "CN", "KR", "MX", "TR", "BE", "AT", "CZ", "DK", "FI", "NO", "UA", "IE", "PT", "IL",
    "SG", "ID", "AR", "ZA", "RO", "HU", "GR", "NZ", "VN", "TH", "PH", "MY", "CL", "CO", "EG",
    "NG", "PK", "BD", "KE", "HK",
    # the long tail a busy site's audience reaches
    "TW", "SA", "AE", "PE", "SK", "BG", "RS", "HR", "LT", "SI", "LV", "EE", "BY", "KZ", "MA",
    "DZ", "TN", "IR", "IQ", "LK", "NP", "VE", "EC", "UY", "PY", "BO", "CR", "PA", "GT", "DO",
    "PR", "CU", "SV", "HN", "NI", "JM", "TT", "GH", "ET", "TZ", "UG", "CM", "CI", "SN", "ZW",
    "ZM", "AO", "MZ", "SD", "LY", "JO", "LB", "KW", "QA", "BH", "OM", "CY", "MT", "LU", "IS",
    "GE", "AM", "AZ", "MD", "BA", "MK", "AL", "ME", "UZ", "KG", "MN", "KH", "MM", "LA", "BN",
    "MO", "MU", "MG", "RW", "NA", "BW", "BJ", "BF", "ML", "NE", "TG", "MW", "SO", "YE", "SY",
    "AF", "PS", "BT", "MV", "FJ", "PG", "HT", "BS", "BB", "GY",
)
COMMON = 50
SHARES: tuple[float, ...] = tuple(1 / (rank + 1) ** 1.1 for rank in range(len(COUNTRIES)))
IPV6_SHARE = 0.4

_IPV4_FIRST = int(ipaddress.IPv4Address("198.18.0.0"))
_IPV4_SIZE = 1 << 17


@dataclass(frozen=True)
class Block:
    """One country's addresses: ``ipv4_size`` IPv4 addresses from ``ipv4_first``, and a /48."""

    code: str
    ipv4_first: int
    ipv4_size: int
    ipv6_prefix: str            # "2001:db8:<index>", the first 48 bits

    def address(self, serial: int, ipv6: bool) -> str:
        if ipv6:
            return f"{self.ipv6_prefix}:{serial >> 16 & 0xFFFF:x}:{serial & 0xFFFF:x}::1"
        return str(ipaddress.IPv4Address(self.ipv4_first + serial % self.ipv4_size))

    def networks(self) -> IPSet:
        last = ipaddress.IPv4Address(self.ipv4_first + self.ipv4_size - 1)
        ipv4 = IPRange(str(ipaddress.IPv4Address(self.ipv4_first)), str(last))
        return IPSet([ipv4, f"{self.ipv6_prefix}::/48"])


def _blocks() -> tuple[Block, ...]:
    total = sum(SHARES)
    blocks, first = [], _IPV4_FIRST
    for index, (code, share) in enumerate(zip(COUNTRIES, SHARES)):
        size = int(_IPV4_SIZE * share / total)
        blocks.append(Block(code, first, size, f"2001:db8:{index:x}"))
        first += size
    return tuple(blocks)


BLOCKS = _blocks()


def build(path: Path) -> Path:
    writer = MMDBWriter(ip_version=6, database_type="crumbless-bench-country", ipv4_compatible=True)
    for block in BLOCKS:
        writer.insert_network(block.networks(), {"country_code": block.code})
    writer.to_db_file(str(path))
    return path

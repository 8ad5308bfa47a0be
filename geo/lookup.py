"""IP address to country, answered from a MaxMind-format (``.mmdb``) database.

The lookup sits on the hot path of every beacon, so ``CountryLookup.country`` is deliberately
tiny: one ``reader.get`` plus a couple of dictionary reads. It never raises and never logs the
address it was given, because a visitor's IP must not end up in logs, tracebacks or error
reports; the only thing that leaves this module is a country code or ``UNKNOWN``.
"""

from __future__ import annotations

import ipaddress
import logging
import os
from pathlib import Path
from typing import Any, Protocol

import maxminddb

UNKNOWN = "Unknown"

log = logging.getLogger("crumbless.geo")

# Codes that databases and CDNs use for "no idea" or "not a country" rather than a place:
# XX (Cloudflare, unknown), ZZ (unknown / user-assigned), and the legacy MaxMind regions
# EU and AP ("somewhere in Europe / Asia-Pacific"). T1, A1, A2 and O1 fail the letters check.
_NOT_COUNTRIES = frozenset({"XX", "ZZ", "EU", "AP"})

# How an IPv4 client looks when a dual-stack socket accepted it. DB-IP's files have no alias
# for ::ffff:0:0/96 (MaxMind's do), so without unmapping every IPv4 visitor would be Unknown.
_MAPPED_PREFIXES = ("::ffff:", "::FFFF:", "0:0:0:0:0:ffff:", "0:0:0:0:0:FFFF:")


def clean_country(value: object) -> str | None:
    """Accept only something that can be shown as a country: two ASCII letters, not a placeholder.

    Shared by the database lookup and the CDN headers so both sources agree on what counts.
    """
    if not isinstance(value, str) or len(value) != 2 or not (value.isascii() and value.isalpha()):
        return None
    code = value.upper()
    return None if code in _NOT_COUNTRIES else code


def country_of_record(record: Any) -> str | None:
    """Read the country from either record shape in circulation.

    ip-location-db (DB-IP) files store ``{"country_code": "US"}``; MaxMind GeoLite2 and
    commercial files store ``{"country": {"iso_code": "US"}}`` and only ``registered_country``
    for some ranges (e.g. anycast or satellite providers), which is still better than nothing.
    """
    if not isinstance(record, dict):
        return None
    flat = record.get("country_code")
    if flat is not None:
        return clean_country(flat)
    for key in ("country", "registered_country"):
        nested = record.get(key)
        if isinstance(nested, dict):
            code = clean_country(nested.get("iso_code"))
            if code is not None:
                return code
    return None


def _unmap(ip: str) -> str:
    """Turn ``::ffff:192.0.2.1`` into ``192.0.2.1``; leaves anything else for the reader to judge.

    The dotted form (what sockets report) is a string slice because ``ipaddress`` costs ten
    times the lookup itself; only the rare hex spelling (``::ffff:c000:201``) pays for parsing.
    """
    tail = ip[ip.rfind(":") + 1 :]
    if "." in tail:
        return tail
    try:
        mapped = ipaddress.IPv6Address(ip).ipv4_mapped
    except ValueError:
        return ip
    return str(mapped) if mapped is not None else ip


class _Reader(Protocol):
    def get(self, ip_address: str) -> Any: ...

    def close(self) -> None: ...


class _NoDatabase:
    """Stands in for a reader when there is no usable file, so ``country`` needs no branch."""

    def get(self, ip_address: str) -> None:
        return None

    def close(self) -> None:
        pass


_Signature = tuple[int, int, int]


def _signature(path: Path) -> _Signature | None:
    """What changes when the file is rewritten or replaced; None when there is no file."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


def open_reader(path: Path) -> maxminddb.Reader:
    """Open with the C extension (memory-mapped) and prove the file is usable before trusting it.

    The same checks decide whether the server adopts a file and whether ``crumbless geo fetch``
    installs one, so the two can never disagree. A public IPv4 probe works on IPv4 and IPv6
    databases alike and walks the tree far enough to catch most truncated files.
    """
    reader = maxminddb.open_database(str(path), maxminddb.MODE_AUTO)
    try:
        meta = reader.metadata()
        if meta.node_count <= 0:
            raise maxminddb.InvalidDatabaseError("the search tree is empty")
        if meta.ip_version not in (4, 6):
            raise maxminddb.InvalidDatabaseError(f"unexpected ip_version {meta.ip_version!r}")
        reader.get("1.1.1.1")
    except BaseException:
        reader.close()
        raise
    return reader


def _describe(exc: BaseException) -> str:
    """One line about why a file could not be used (the messages never contain visitor IPs)."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


class CountryLookup:
    """Answers "which country is this address in?" and follows the file being replaced."""

    def __init__(self, path: Path, reader: _Reader, signature: _Signature | None) -> None:
        self._path = path
        self._reader: _Reader = reader
        self._signature = signature

    @classmethod
    def open(cls, path: Path) -> CountryLookup:
        """Open ``path``; a missing or broken file means "Unknown" for everyone, never an error.

        Analytics without countries is still analytics, so the server must start even before
        ``crumbless geo fetch`` has been run.
        """
        path = Path(path)
        signature = _signature(path)
        if signature is None:
            log.warning(
                "no country database at %s; countries will be 'Unknown' until "
                "`crumbless geo fetch` is run",
                path,
            )
            return cls(path, _NoDatabase(), None)
        try:
            reader = open_reader(path)
        except Exception as exc:  # any unreadable file, whatever the library raises
            log.warning(
                "country database at %s could not be opened (%s); countries will be "
                "'Unknown' until `crumbless geo fetch` is run",
                path,
                _describe(exc),
            )
            return cls(path, _NoDatabase(), signature)
        return cls(path, reader, signature)

    @property
    def available(self) -> bool:
        return not isinstance(self._reader, _NoDatabase)

    @property
    def path(self) -> Path:
        return self._path

    def country(self, ip: str) -> str:
        """ISO 3166-1 alpha-2 code (upper case) or ``UNKNOWN``; never raises, whatever ``ip`` is.

        Exceptions are swallowed wholesale because the input comes from the network and the
        library's error messages quote it; nothing about a bad address is worth a 500 or a log line.
        """
        try:
            if ip.startswith(_MAPPED_PREFIXES):
                ip = _unmap(ip)
            record = self._reader.get(ip)
        except Exception:
            return UNKNOWN
        if record is None:
            return UNKNOWN
        return country_of_record(record) or UNKNOWN

    def reload_if_changed(self) -> bool:
        """Reopen the file if it was replaced since last time; True when a new reader took over.

        Only an ``os.stat`` when nothing changed, so it is fine to call every minute. A broken
        replacement keeps the current reader (one warning per change, not one per call).
        """
        signature = _signature(self._path)
        if signature is None or signature == self._signature:
            return False
        self._signature = signature
        try:
            reader = open_reader(self._path)
        except Exception as exc:
            log.warning(
                "country database at %s changed but could not be opened (%s); %s",
                self._path,
                _describe(exc),
                "keeping the previous one" if self.available else "countries stay 'Unknown'",
            )
            return False
        old, self._reader = self._reader, reader
        old.close()
        log.info("country database at %s reloaded", self._path)
        return True

    def close(self) -> None:
        """Release the memory map; later lookups answer ``UNKNOWN`` instead of failing."""
        old, self._reader = self._reader, _NoDatabase()
        old.close()

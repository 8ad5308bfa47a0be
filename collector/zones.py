"""Time zones by name, with the rules of the ``tzdata`` package first.

Python's ``zoneinfo`` reads the system's zone files before the ``tzdata`` package, so on a Debian
server a ``pip install --upgrade tzdata`` changes nothing: the dashboard's days and the daily salt
would keep following whatever release the system shipped (often a year old), and a country that
moves its clocks at short notice would be counted on the old offset. Every zone Crumbless uses is
built here, from the package's file when it has one, so upgrading the package is how the rules are
updated; the system's files are only the fallback for a zone the package does not carry.
"""

from __future__ import annotations

from importlib import resources
from zoneinfo import ZoneInfo

_ZONES: dict[str, ZoneInfo] = {}


def zone(name: str) -> ZoneInfo:
    """The zone called ``name``, one object per name (caches keyed by zone stay small).

    Raises ``ZoneInfoNotFoundError`` or ``ValueError`` for a name that is no zone, as ``ZoneInfo``
    does.
    """
    found = _ZONES.get(name)
    if found is None:
        found = _ZONES[name] = _from_package(name) or ZoneInfo(name)
    return found


def _from_package(name: str) -> ZoneInfo | None:
    parts = name.split("/")
    if not name or any(part in ("", ".", "..") or "\\" in part for part in parts):
        return None  # not a key; ZoneInfo(name) raises the error a caller expects
    try:
        entry = resources.files("tzdata.zoneinfo").joinpath(*parts)
        with entry.open("rb") as data:
            return ZoneInfo.from_file(data, key=name)
    except (ModuleNotFoundError, OSError, ValueError):
        return None

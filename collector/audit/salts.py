"""The salt checks: only current salts are stored, and no deleted salt's bytes survive anywhere.

A visitor hash can be recomputed from an address and a User-Agent by anyone holding that day's
salt, so the promise "erased when the site's day is over" must hold for every copy of it:

* rows: each salt must belong to an existing site and to its current local day — or to the
  neighbouring day within ``GRACE_S`` of local midnight, since housekeeping closes days every
  15 seconds and the audit's clock may differ slightly from the server's;
* bytes: every salt record carved out of any file (database, WAL, journal, a stale copy) must be
  one of those current rows; anything else is an old salt that outlived its day;
* free pages: SQLite zeroes pages it frees only with ``secure_delete`` on, so non-zero free pages
  mean deleted rows (salts among them) can still be read from the file.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from collector.audit.database import Database
from collector.audit.findings import RESIDUE, SALT, Finding, Report
from collector.audit.sqlitefile import CarvedSalt, dirty_free_pages
from collector.localtime import date_of, day_number, today
from collector.zones import zone as named_zone

GRACE_S = 300
CARVE_YEARS = 20

SaltKey = tuple[int, int, bytes]


def allowed_days(tz: ZoneInfo, now: float) -> set[int]:
    """Local days a salt may exist for at ``now``: the day of any instant within the grace of now."""
    return {today(tz, now - GRACE_S), today(tz, now), today(tz, now + GRACE_S)}


def carve_range(now: float) -> tuple[int, int]:
    """Days a carved salt record may plausibly carry; outside this a "match" is chance binary data."""
    current = day_number(datetime.fromtimestamp(now, UTC).date())
    return current - CARVE_YEARS * 366, current + 2


@dataclass
class CurrentSalts:
    """What a salt found in a file may be: a current row, or any salt of a site-day that is open
    but had no row when the database was read (the server creates one on that day's first hit,
    possibly while the audit is reading files)."""

    rows: set[SaltKey] = field(default_factory=set)
    open_without_row: set[tuple[int, int]] = field(default_factory=set)

    def allows(self, salt: CarvedSalt) -> bool:
        return (salt.site, salt.day, salt.salt) in self.rows or (salt.site, salt.day) in self.open_without_row


def check_salt_rows(db: Database, now: float, report: Report) -> CurrentSalts:
    """Report salts that should have been erased; return what salt bytes may still be found."""
    sites = db.sites()
    current = CurrentSalts()
    for site, day, salt in db.salts():
        report.salts += 1
        problem = _stale(sites.get(site), day, now)
        if problem:
            report.add(Finding(SALT, f"salts (site={site}, day={day})", problem))
        else:
            current.rows.add((site, day, salt))
    with_row = {(site, day) for site, day, _ in current.rows}
    for site, (_, zone) in sites.items():
        zone_info = _zone(zone)
        if zone_info is not None:
            current.open_without_row |= {(site, day) for day in allowed_days(zone_info, now)} - with_row
    return current


def _zone(name: str) -> ZoneInfo | None:
    try:
        return named_zone(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def _stale(site: tuple[str, str] | None, day: int, now: float) -> str | None:
    if site is None:
        return "salt of a site that no longer exists"
    domain, zone = site
    tz = _zone(zone)
    if tz is None:
        return f"salt of {domain}, whose time zone {zone!r} is unknown, so its day cannot be checked"
    if day in allowed_days(tz, now):
        return None
    return (
        f"salt of {domain} for {date_of(day).isoformat()} is still stored; only the salt of the site's "
        f"current local day may be (is `crumbless serve` running? it erases salts when a day ends)"
    )


def check_carved(carved: Sequence[tuple[str, CarvedSalt]], current: CurrentSalts, report: Report) -> None:
    for label, salt in carved:
        if not current.allows(salt):
            report.add(Finding(
                SALT, f"{label} @ {salt.offset}",
                f"bytes of a salt of site {salt.site} for {date_of(salt.day).isoformat()} that is not a current salt "
                "(a deleted or expired salt survived in this file)",
            ))


def check_free_pages(database: Path, report: Report) -> None:
    pages, dirty = dirty_free_pages(database)
    report.free_pages += pages
    for page in dirty:
        report.add(Finding(
            RESIDUE, f"{database} @ {page.offset} (free page {page.number})",
            f"free page still holds {page.nonzero} non-zero bytes of deleted data "
            "(SQLite zeroes freed pages only with secure_delete on; VACUUM rewrites the file without them)",
        ))

"""Replay a Umami website's events through Crumbless's own counting rules.

Umami keeps every event (``website_event``, one row per pageview or custom event, joined to its
``session``: browser, OS, device, screen, language, country). Crumbless keeps only counters, so
an import replays the events, oldest first, through the very code live beacons go through: the
page URL and referrer are read by ``urls``/``referrers``, the cardinality guard admits values,
``counting.floods`` and ``counting.count`` decide what each event adds, in the site's time zone.
A visitor is a Umami session within one local day (as a live visitor is one hash within one day:
both forget at midnight); a visit follows Crumbless's 30-minute rule, not Umami's ``visit_id``.
The result is what Crumbless would have counted had it received those events as beacons.

Umami's rows are read through a server-side cursor, a few thousand at a time, in a read-only
transaction: memory holds one day's visitor records and the counters, never the event table.
Nothing is written to Umami's database and no event, session id or timestamp is kept: they live
in this process's memory while it counts, like a beacon's.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import psycopg

from collector.aggregator import Aggregator, Batch
from collector.beacons import BadBeacon, Fields, language_tag
from collector.counting import count, floods
from collector.guard import MemoryGuard, wanted
from collector.hits import Hit, Kind, Props
from collector.ingest import screen_class
from collector.localtime import local_day_hour
from collector.model import DROPS
from collector.referrers import campaign_tag, source_name
from collector.sites import Site
from collector.transfer.progress import Meter
from collector.urls import parse_page_url
from collector.visitors import VisitorRecord

FETCH = 5000
"""Rows per round trip of the server-side cursor."""
PAGEVIEW, CUSTOM_EVENT = 1, 2
"""Umami's ``event_type`` values that Crumbless counts (others, such as v3's link and pixel
hits, are not visits to the site)."""

UNMAPPED = (
    "region and city (Crumbless never keeps them)",
    "page titles",
    "utm_content and utm_term",
    "click ids (gclid, fbclid…)",
    "session data and revenue",
)

# Umami's names (detect-browser's) → the names Crumbless gives the same browsers.
BROWSERS = {
    "chrome": "Chrome",
    "crios": "Chrome",
    "chromium-webview": "Chrome",
    "firefox": "Firefox",
    "fxios": "Firefox",
    "safari": "Safari",
    "ios": "Safari",
    "ios-webview": "Safari",
    "edge": "Edge",
    "edge-chromium": "Edge",
    "edge-ios": "Edge",
    "opera": "Opera",
    "opera-mini": "Opera Mini",
    "samsung": "Samsung Internet",
    "ie": "Internet Explorer",
    "yandexbrowser": "Yandex Browser",
    "silk": "Amazon Silk",
    "miui": "MIUI Browser",
    "android": "Android",
    "facebook": "Facebook",
    "instagram": "Instagram",
    "vivaldi": "Vivaldi",
    "brave": "Brave",
    "beaker": "Beaker",
}
SYSTEMS = {"Mac OS": "macOS", "Android OS": "Android", "Chrome OS": "ChromeOS", "Linux": "Linux", "iOS": "iOS"}
DEVICES = {"laptop": "desktop"}  # Umami names a device by its screen; Crumbless's are desktop, mobile, tablet
_SCREEN = re.compile(r"^(\d{1,6})x\d{1,6}$")


class UmamiError(Exception):
    """The database cannot be read as Umami's; the message says why, in one line."""


@dataclass
class Replayed:
    batch: Batch
    first_day: int = 0
    last_day: int = 0
    events: int = 0
    seconds: float = 0.0
    skipped: Counter[str] = field(default_factory=Counter)
    unmapped: tuple[str, ...] = UNMAPPED

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0


def browser_name(name: str | None) -> str:
    if not name:
        return "Unknown"
    return BROWSERS.get(name, name[:1].upper() + name[1:])


def os_name(name: str | None) -> str:
    if not name:
        return "Unknown"
    return "Windows" if name.startswith("Windows") and name != "Windows Mobile" else SYSTEMS.get(name, name)


def props(data: list[list[Any]] | None) -> Props:
    """A Umami event's data as the beacon that carried it gave them to Crumbless: read by the same
    code (``beacons.Fields.props``), from the values as JSON had them (Umami stores a number with
    four decimal places, the beacon sent 5 or 2.5)."""
    if not data:
        return ()
    sent: dict[str, Any] = {}
    for key, text, number, when in data:
        if text is not None:
            sent[str(key)] = text
        elif number is not None:
            sent[str(key)] = int(number) if float(number).is_integer() else float(number)
        elif when is not None:
            sent[str(key)] = str(when)
    return Fields({"data": sent}).props("data", nested=True)


async def replay(url: str, website: str, site: Site, max_values: int, quiet: bool = False) -> Replayed:
    return await asyncio.to_thread(_replay, url, website, site, max_values, quiet)


def _replay(url: str, website: str, site: Site, max_values: int, quiet: bool) -> Replayed:
    started = time.monotonic()
    try:
        with psycopg.connect(url, connect_timeout=10, autocommit=False) as conn:
            conn.execute("SET TRANSACTION READ ONLY")
            total = _check(conn, website)
            meter = Meter(f"replaying Umami website {website}", total, "events", quiet=quiet)
            with_data = has_event_data(conn)
            try:
                replayed = _count_all(_events(conn, website, with_data), site, max_values, meter)
            finally:
                meter.close()
            if not with_data:
                replayed.unmapped = (*replayed.unmapped, "event properties (kept in a layout older than data_key)")
    except psycopg.Error as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise UmamiError(f"cannot read the Umami database: {first}") from None
    replayed.seconds = time.monotonic() - started
    return replayed


def _check(conn: psycopg.Connection[Any], website: str) -> int:
    """How many events the website has; UmamiError if this is not a Umami v2/v3 database."""
    for table in ("website_event", "session"):
        row = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (table,)).fetchone()
        if row is None or not row[0]:
            raise UmamiError(f"the database has no {table} table: it is not a Umami v2 or v3 database")
    if not re.fullmatch(r"[0-9a-fA-F-]{36}", website):
        raise UmamiError(f"--website {website!r} is not a Umami website id (a UUID)")
    row = conn.execute("SELECT count(*) FROM website_event WHERE website_id = %s", (website,)).fetchone()
    return int(row[0]) if row else 0


def _columns(conn: psycopg.Connection[Any], table: str) -> set[str]:
    sql = "SELECT column_name FROM information_schema.columns WHERE table_name = %s AND table_schema = current_schema()"
    return {str(name) for (name,) in conn.execute(sql, (table,))}


def has_event_data(conn: psycopg.Connection[Any]) -> bool:
    """Whether event data is kept as later Umami 2 releases and Umami 3 keep it (an older layout's
    events are imported without their properties, and the summary says so)."""
    wanted = {"website_event_id", "data_key", "string_value", "number_value", "date_value"}
    return wanted <= _columns(conn, "event_data")


def _events(conn: psycopg.Connection[Any], website: str, has_data: bool) -> Iterator[tuple[Any, ...]]:
    """The website's counted events with their session's values, oldest first, FETCH rows at a time."""
    props = (
        "(SELECT json_agg(json_build_array(d.data_key, d.string_value, d.number_value, d.date_value) "
        "ORDER BY d.data_key) FROM event_data AS d WHERE d.website_event_id = e.event_id)"
        if has_data
        else "NULL"
    )
    sql = (
        "SELECT e.created_at, e.session_id, e.event_type, e.url_path, e.url_query, e.referrer_domain, "
        f"e.referrer_path, e.referrer_query, e.event_name, s.browser, s.os, s.device, s.screen, s.language, "
        f"s.country, {props} FROM website_event AS e JOIN session AS s ON s.session_id = e.session_id "
        "WHERE e.website_id = %s AND e.event_type IN (1, 2) ORDER BY e.created_at, e.event_id"
    )
    with conn.cursor(name="crumbless_umami_import") as cursor:
        cursor.itersize = FETCH
        cursor.execute(sql, (website,))
        yield from cursor


def _count_all(rows: Iterator[tuple[Any, ...]], site: Site, max_values: int, meter: Meter) -> Replayed:
    guard = MemoryGuard(max_values)
    counts = Aggregator()
    replayed = Replayed(Batch())
    records: dict[Any, VisitorRecord] = {}
    current_day = None
    for row in rows:
        meter.advance()
        hit = _hit(row, site, replayed)
        if hit is None:
            continue
        if hit.day != current_day:
            if current_day is None:
                replayed.first_day = hit.day
            records.clear()  # a visitor is a session within one local day
            guard.forget_days(site.id, hit.day)
            current_day = replayed.last_day = hit.day
        replayed.events += 1
        record = records.get(row[1])
        if floods(hit, record):
            counts.add(site.id, hit.day, "dropped", "flood", DROPS, 1)
            continue
        values = {(dim, value): guard.fold(site.id, hit.day, dim, value) for dim, value in wanted(hit)}
        step = count(hit, record, values)
        if step is None:
            replayed.skipped["an engagement outside a visit"] += 1
            continue
        records[row[1]] = step.record
        counts.apply(step.deltas)
    replayed.batch = counts.drain()
    return replayed


def _hit(row: tuple[Any, ...], site: Site, replayed: Replayed) -> Hit | None:
    created, _, kind, path, query, ref_domain, ref_path, ref_query, name = row[:9]
    browser, system, device, screen, language, country, data = row[9:]
    page = parse_page_url(f"https://{site.domain}{path or '/'}" + (f"?{query}" if query else ""))
    if page is None:
        replayed.skipped["a page address that is not a URL path"] += 1
        return None
    if kind == CUSTOM_EVENT and not name:
        replayed.skipped["a custom event without a name"] += 1
        return None
    referrer = ""
    if ref_domain:
        referrer = f"https://{ref_domain}{ref_path or '/'}" + (f"?{ref_query}" if ref_query else "")
    ts = int(created.timestamp())
    day, hour = local_day_hour(ts, site.tz)
    match = _SCREEN.match(screen or "")
    try:
        carried = props(data) if kind == CUSTOM_EVENT else ()
    except BadBeacon:
        replayed.skipped["event data a beacon could not carry (Crumbless refuses such a beacon)"] += 1
        return None
    return Hit(
        site=site.id,
        day=day,
        hour=hour,
        ts=ts,
        kind=Kind.EVENT if kind == CUSTOM_EVENT else Kind.PAGEVIEW,
        visitor=0,
        path=page.path,
        source=source_name(page.utm_source, page.ref, referrer, site.owns_host),
        utm_source=campaign_tag(page.utm_source),
        utm_medium=campaign_tag(page.utm_medium),
        utm_campaign=campaign_tag(page.utm_campaign),
        country=(country or "").upper(),
        browser=browser_name(browser),
        os=os_name(system),
        device=DEVICES.get(device or "", device or "desktop"),
        screen=screen_class(int(match.group(1))) if match else "",
        language=language_tag(language or ""),
        event=str(name or "") if kind == CUSTOM_EVENT else "",
        props=carried,
    )

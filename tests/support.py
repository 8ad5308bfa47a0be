"""Shared test helpers: a tiny country database with known answers, settings, beacons, a clock."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmdb_writer import MMDBWriter
from netaddr import IPSet

from collector import config
from collector.model import BY_CODE, COUNTERS
from collector.config import Settings
from collector.sites import Site
from collector.store import opened_store

# Documentation ranges only (RFC 5737, RFC 3849): never a real visitor.
COUNTRIES = {"192.0.2.0/24": "DE", "198.51.100.0/24": "FR", "203.0.113.0/24": "JP", "2001:db8::/32": "NL"}

FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:131.0) Gecko/20100101 Firefox/131.0"
CHROME = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36"
IPHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"


def build_geo_db(path: Path) -> Path:
    writer = MMDBWriter(ip_version=6, database_type="crumbless-test-country", ipv4_compatible=True)
    for network, code in COUNTRIES.items():
        writer.insert_network(IPSet([network]), {"country_code": code})
    writer.to_db_file(str(path))
    return path


def make_settings(data_dir: Path, geo_db: Path, **overrides: str) -> Settings:
    env = {"CRUMBLESS_DATA_DIR": str(data_dir), "CRUMBLESS_GEO_DB": str(geo_db), "CRUMBLESS_ACCESS_LOG": "off"}
    env.update({f"CRUMBLESS_{k.upper()}": v for k, v in overrides.items()})
    return config.load(env)


def add_site(settings: Settings, domain: str, timezone: str = "UTC", extra: tuple[str, ...] = ()) -> Site:
    async def work() -> Site:
        async with opened_store(settings) as store:
            return await store.add_site(domain, domain, timezone, extra)

    return asyncio.run(work())


def daily_rows(database: Path, site: int | None = None) -> dict[tuple[int, str, str], dict[str, int]]:
    """Every stored daily row, keyed (day, dimension key, value text), read through a separate connection."""
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as db:
        query = f"SELECT d.site, d.day, d.dim, v.value, {', '.join('d.' + c for c in COUNTERS)} FROM daily AS d JOIN dim_values AS v ON v.id = d.value"
        rows = db.execute(query).fetchall()
    db.close()
    return {(r[1], BY_CODE[r[2]].key, r[3]): dict(zip(COUNTERS, r[4:])) for r in rows if site is None or r[0] == site}


def umami(website_id: str, url: str, hostname: str = "example.com", **payload: Any) -> bytes:
    body = {"website": website_id, "hostname": hostname, "url": url, "referrer": "", "screen": "1280x800", "language": "en-US", "title": "T"}
    body.update(payload)
    return json.dumps({"type": "event", "payload": body}).encode()


def plausible(domain: str, url: str, name: str = "pageview", **fields: Any) -> bytes:
    body: dict[str, Any] = {"n": name, "u": url, "d": domain, "r": None, "w": 1280}
    body.update(fields)
    return json.dumps(body).encode()


@dataclass
class Clock:
    now: float

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

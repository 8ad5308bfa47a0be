"""The scale-out checks: the shared Redis must keep nothing on disk, and no salt past its day.

In scale-out mode (``CRUMBLESS_REDIS_URL``) Redis holds today's salts and the visitor hashes of
the day, which must be gone when the day ends. A Redis that snapshots (``save``) or keeps an
append-only file writes them to its disk, where no deletion reaches every copy: the audit asks
the server and reports either as a finding. A Redis it cannot ask (unreachable, or ``CONFIG``
disabled, as some hosted ones do) is reported as unchecked: the audit cannot vouch for it.

Its salts are judged as the SQLite file's rows are: each must belong to an existing site and to
that site's current local day (within ``salts.GRACE_S`` of its midnight), and must expire.
"""

from __future__ import annotations

from zoneinfo import ZoneInfoNotFoundError

from collector.audit.database import Sites
from collector.audit.findings import CONFIG, SALT, UNCHECKED, Finding, Report
from collector.audit.salts import allowed_days
from collector.config import redacted
from collector.state.redis import SALT_KEYS, parse_salt_key
from collector.zones import zone as named_zone

TIMEOUT_S = 5


def check_redis(url: str, sites: Sites, now: float, report: Report) -> None:
    import redis

    where = f"CRUMBLESS_REDIS_URL {redacted(url)}"
    try:
        client = redis.Redis.from_url(url, socket_timeout=TIMEOUT_S, socket_connect_timeout=TIMEOUT_S)
        try:
            salts = [(key, client.ttl(key)) for key in client.scan_iter(match=SALT_KEYS, count=1000)]
            save = client.config_get("save").get("save", "")
            appendonly = client.config_get("appendonly").get("appendonly", "no")
        finally:
            client.close()
    except (redis.RedisError, OSError, ValueError) as exc:
        report.add(
            Finding(UNCHECKED, where, f"could not read its salts and persistence settings ({type(exc).__name__})")
        )
        return
    for key, ttl in salts:
        _judge_salt(where, key, ttl, sites, now, report)
    if str(save).strip():
        report.add(Finding(
            CONFIG, f"{where} save",
            f"Redis writes snapshots to disk (save {save!r}), and with them today's salts and visitor hashes; "
            "set save \"\" in its configuration",
        ))  # fmt: skip
    if str(appendonly).strip().lower() == "yes":
        report.add(Finding(
            CONFIG, f"{where} appendonly",
            "Redis keeps an append-only file on disk, with every salt and visitor hash written to it; "
            "set appendonly no in its configuration",
        ))  # fmt: skip


def _judge_salt(where: str, key: bytes, ttl: int, sites: Sites, now: float, report: Report) -> None:
    label = f"{where} key {key.decode(errors='replace')}"
    site_day = parse_salt_key(key)
    if site_day is None:
        report.add(Finding(SALT, label, "a key named like a salt that Crumbless did not write"))
        return
    site, day = site_day
    if site not in sites:
        report.add(Finding(SALT, label, f"the salt of site {site}, which does not exist"))
    else:
        try:
            zone = named_zone(sites[site][1])
        except (ZoneInfoNotFoundError, ValueError):
            zone = named_zone("UTC")
        if day not in allowed_days(zone, now):
            report.add(Finding(SALT, label, f"the salt of {sites[site][0]}'s local day {day}, which is over"))
    if ttl < 0:
        report.add(Finding(SALT, label, "a salt that never expires"))

"""The scale-out checks: the shared Redis must keep nothing on disk.

In scale-out mode (``CRUMBLESS_REDIS_URL``) Redis holds today's salts and the visitor hashes of
the day, which must be gone when the day ends. A Redis that snapshots (``save``) or keeps an
append-only file writes them to its disk, where no deletion reaches every copy: the audit asks
the server and reports either as a finding. A Redis it cannot ask (unreachable, or ``CONFIG``
disabled, as some hosted ones do) is reported as unchecked: the audit cannot vouch for it.
"""

from __future__ import annotations

from collector.audit.findings import CONFIG, UNCHECKED, Finding, Report
from collector.config import redacted

TIMEOUT_S = 5


def check_redis(url: str, report: Report) -> None:
    import redis

    where = f"CRUMBLESS_REDIS_URL {redacted(url)}"
    try:
        client = redis.Redis.from_url(url, socket_timeout=TIMEOUT_S, socket_connect_timeout=TIMEOUT_S)
        try:
            save = client.config_get("save").get("save", "")
            appendonly = client.config_get("appendonly").get("appendonly", "no")
        finally:
            client.close()
    except (redis.RedisError, OSError, ValueError) as exc:
        report.add(Finding(UNCHECKED, where, f"could not read its persistence settings ({type(exc).__name__}: {exc})"))
        return
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

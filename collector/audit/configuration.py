"""The configuration checks: settings under which identifiers would be written down or forged.

Crumbless has no switch that logs client addresses (its access log never has one, uvicorn's is
always off) and no debug mode, so what remains to check is small and listed in full:

* ``CRUMBLESS_LOG_LEVEL=debug`` is a troubleshooting mode. Crumbless keeps third-party loggers
  at info even then (aiosqlite at debug logs each statement with its parameters, the day's salt
  included), but a debug log is more than a deployment should keep, so the audit reports it.
* ``CRUMBLESS_TRUSTED_PROXIES`` that includes everyone (``0.0.0.0/0``, ``::/0``) or a wide public
  range lets any client choose, through ``X-Forwarded-For``, the address it is counted under and,
  through CDN headers, its country: nothing is stored, but the counts stop meaning anything and a
  visitor's real address is replaced by one a third party picked.
* the store's own connections must have ``secure_delete`` on, or erased salts stay in the file.
"""

from __future__ import annotations

import ipaddress

from collector.audit.findings import CONFIG, Finding, Report
from collector.config import Network, Settings

BROADEST_PUBLIC_PREFIX = {4: 12, 6: 24}
"""Widest public proxy range accepted: wider than any CDN's published block (Cloudflare's
largest are a /13 and a /29), narrow enough that it is not "the Internet"."""

_LOCAL = tuple(
    ipaddress.ip_network(n)
    for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
              "::1/128", "fc00::/7", "fe80::/10")
)


def check_settings(settings: Settings, secure_delete: bool, report: Report) -> None:
    if settings.log_level == "debug":
        report.add(Finding(
            CONFIG, "CRUMBLESS_LOG_LEVEL=debug",
            "debug logging is meant for troubleshooting, not for a deployment that keeps its logs; use info",
        ))
    for network in settings.trusted_proxies:
        problem = _too_broad(network)
        if problem:
            report.add(Finding(CONFIG, f"CRUMBLESS_TRUSTED_PROXIES {network}", problem))
    if not secure_delete:
        report.add(Finding(
            CONFIG, "collector/store/sqlite.py",
            "the store's connections do not turn secure_delete on, so erased salts would stay in the file",
        ))


def _too_broad(network: Network) -> str | None:
    if network.prefixlen == 0:
        return "trusts every address: any client can choose the address and country it is counted under"
    local = any(network.version == n.version and network.subnet_of(n) for n in _LOCAL)  # type: ignore[arg-type]
    if not local and network.prefixlen < BROADEST_PUBLIC_PREFIX[network.version]:
        return (
            f"trusts a public range wider than /{BROADEST_PUBLIC_PREFIX[network.version]}: clients in it can choose "
            "the address and country they are counted under; list your proxies' or CDN's published ranges instead"
        )
    return None

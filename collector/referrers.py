"""Name the place a visit came from, the way a site owner wants to read it.

Counting ``www.google.co.uk``, ``google.de`` and ``com.google.android.googlequicksearchbox``
as three sources would scatter one source over many rows, so well-known hosts are folded into
one display name. The table is deliberately small (the sites people actually ask about);
everything else is shown as its host, which is always honest.

Naming decisions:

* Twitter/X is "Twitter" (``twitter.com``, ``x.com``, ``t.co``), as Plausible has long called
  it, so numbers stay comparable with data imported from it. Change ``_TWITTER`` to rename.
* ``news.google.com`` is "Google News", not "Google": a news feed is not a search. Likewise
  ``mail.google.com`` is "Gmail" and ``gemini.google.com`` is "Gemini". Other Google hosts
  are "Google".
* Mastodon has no fixed host, so instances show up under their own host names.
* Unknown Android apps (``android-app://<package>/``) are shown as the bare package name.
* A host that is an IP address, in any spelling a browser accepts (``198.51.100.61``,
  ``3325256769``, ``0xc6.0x33.0x64.0x42``, ``[2001:db8::1]``…), is shown as ``IP_ADDRESS``,
  whatever the scheme: it may be the visitor's own device, and the promise is that no address
  is stored. A tag (``utm_source``, ``ref``) that spells an address is folded the same way.

Lookup is by exact host, then by each parent domain (``a.b.reddit.com`` → ``b.reddit.com`` →
``reddit.com``), so the cost grows with the number of labels, not the size of the table.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from collections.abc import Callable
from urllib.parse import urlsplit

from collector.urls import MAX_TAG, MAX_URL, clean_text, normalize_hostname, strip_www

DIRECT = ""  # "Direct / None": no referrer, a self-referral, or one that could not be read
IP_ADDRESS = "(IP address)"  # every referrer (or tag) whose host is an IP address, however spelled

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

_WEB_SCHEMES = frozenset({"http", "https"})
_ASCII_LETTERS = frozenset("abcdefghijklmnopqrstuvwxyz")
_RADIX_DIGITS = {8: frozenset("01234567"), 10: frozenset("0123456789"), 16: frozenset("0123456789abcdef")}
# UTS #46 separates labels with U+3002 too; NFKC leaves it (and makes it of U+FF61), so map it.
_IDEOGRAPHIC_DOTS = {0x3002: "."}
_THIS_NETWORK = ipaddress.IPv4Network("0.0.0.0/8")
_DIGIT_OR_COLON = re.compile(r"[0-9:]")

_TWITTER = "Twitter"

# Display name -> hosts that mean it (each also covers its subdomains).
_SOURCES: dict[str, tuple[str, ...]] = {
    "Google": ("google.com",),
    "Google News": ("news.google.com",),
    "Gmail": ("mail.google.com",),
    "Gemini": ("gemini.google.com",),
    "Bing": ("bing.com",),
    "DuckDuckGo": ("duckduckgo.com",),
    "Yahoo": ("yahoo.com",),
    "Yahoo Mail": ("mail.yahoo.com",),
    "Yandex": ("yandex.ru", "yandex.com", "ya.ru"),
    "Baidu": ("baidu.com",),
    "Ecosia": ("ecosia.org",),
    "Brave Search": ("search.brave.com",),
    "Startpage": ("startpage.com",),
    "Qwant": ("qwant.com",),
    "Kagi": ("kagi.com",),
    "Facebook": ("facebook.com", "fb.com", "fb.me"),
    "Instagram": ("instagram.com",),
    "Threads": ("threads.net", "threads.com"),
    _TWITTER: ("twitter.com", "x.com", "t.co"),
    "LinkedIn": ("linkedin.com", "lnkd.in"),
    "Reddit": ("reddit.com", "redd.it"),
    "Hacker News": ("news.ycombinator.com",),
    "YouTube": ("youtube.com", "youtu.be"),
    "GitHub": ("github.com",),
    "Pinterest": ("pinterest.com", "pin.it"),
    "TikTok": ("tiktok.com",),
    "Bluesky": ("bsky.app",),
    "Wikipedia": ("wikipedia.org",),
    "ChatGPT": ("chatgpt.com", "chat.openai.com"),
    "Perplexity": ("perplexity.ai",),
    "Claude": ("claude.ai",),
    "Copilot": ("copilot.microsoft.com",),
    "Outlook": ("outlook.live.com", "outlook.office.com", "outlook.office365.com"),
    "Slack": ("slack.com", "slack-redir.net"),
    "Discord": ("discord.com", "discordapp.com"),
    "Telegram": ("telegram.org", "telegram.me", "t.me"),
    "WhatsApp": ("whatsapp.com", "wa.me"),
}

_BY_HOST: dict[str, str] = {host: name for name, hosts in _SOURCES.items() for host in hosts}

# Brands with a site per country: `google.de`, `google.co.uk`, `yahoo.co.jp`, `yandex.com.tr`.
_COUNTRY_BRANDS: dict[str, str] = {
    "google": "Google",
    "yahoo": "Yahoo",
    "yandex": "Yandex",
    "pinterest": "Pinterest",
}
_COUNTRY_SUFFIX = re.compile(r"com|[a-z]{2}|(?:co|com)\.[a-z]{2}")

_ANDROID_APPS: dict[str, str] = {
    "com.google.android.gm": "Gmail",
    "com.google.android.googlequicksearchbox": "Google",
    "com.google.android.apps.searchlite": "Google",
    "com.google.android.youtube": "YouTube",
    "com.facebook.katana": "Facebook",
    "com.instagram.android": "Instagram",
    "com.twitter.android": _TWITTER,
    "com.linkedin.android": "LinkedIn",
    "com.reddit.frontpage": "Reddit",
    "com.slack": "Slack",
    "org.telegram.messenger": "Telegram",
    "com.microsoft.office.outlook": "Outlook",
}

# Case-insensitive spellings of utm_source/ref beyond the display names themselves
# ("google", "hacker news", "hackernews" are derived from `_SOURCES`).
_TAG_ALIASES: dict[str, str] = {
    "fb": "Facebook",
    "ig": "Instagram",
    "x": _TWITTER,
    "tw": _TWITTER,
    "hn": "Hacker News",
    "yt": "YouTube",
    "ddg": "DuckDuckGo",
    "bsky": "Bluesky",
    "li": "LinkedIn",
    "adwords": "Google",
    # Mastodon has no host of its own (its instances come in under theirs), but people tag links
    # they post there by hand, in every spelling: one row, not one per spelling.
    "mastodon": "Mastodon",
}
_TAG_NAMES: dict[str, str] = {
    **{
        spelling: name
        for name in _SOURCES
        for spelling in (name.lower(), name.lower().replace(" ", ""))
    },
    **_TAG_ALIASES,
}


def source_from_referrer(referrer: str, is_own_host: Callable[[str], bool]) -> str:
    """Name the source of a visit from its ``Referer``; DIRECT when there is none worth naming.

    ``is_own_host`` gets the normalized host (``www.`` kept) so that moving between pages of
    the site itself does not count as a referral.
    """
    if not isinstance(referrer, str) or len(referrer) > MAX_URL:
        return DIRECT
    try:
        parts = urlsplit(referrer.strip())
    except ValueError:
        return DIRECT
    name = _HOST_NAMERS.get(parts.scheme)
    if name is None:
        return DIRECT
    host = normalize_hostname(parts.netloc)
    if not host or (parts.scheme in _WEB_SCHEMES and is_own_host(host)):
        return DIRECT
    if names_an_address(host):  # one check for every scheme, before any host is kept as a name
        return IP_ADDRESS  # a bare address may be the visitor's own device; never store it
    return name(host)


def names_an_address(host: str) -> bool:
    """Whether a host (port and user info already gone) is an address rather than a name.

    Decided as WHATWG's URL standard does, not by whether it parses: a host whose last label is
    a number (decimal, or ``0x`` hex) goes to the IPv4 parser, and no real domain name ends in
    a numeric label, so such a host is never a name, even when it is no valid address either
    (``1.2.3.4.5``, ``999.1.1.1``). Anything with a colon is IPv6 (or garbage). Nearly every
    host ends in a letter and has no ``0x`` and no colon, which is all the fast path checks.
    """
    if host[-1:] in _ASCII_LETTERS and host.isascii() and ":" not in host and "0x" not in host and "0X" not in host:
        return False
    name = _ascii_host(host)
    return ":" in name or _ends_in_a_number(name)


def host_address(host: str) -> Address | None:
    """The address a host spells, in every spelling browsers and ``inet_aton`` accept; else None.

    IPv4 as 1 to 4 dot-separated parts, each decimal, ``0x`` hex or leading-zero octal, the last
    part filling the remaining bytes (``3325256769``, ``0xc6.0x33.0x64.0x42``,
    ``0306.063.0144.0102``, ``198.51.25666``, ``127.1``), with or without a trailing dot; IPv6
    with or without brackets, IPv4-mapped included. Full-width digits and ideographic dots count,
    since a browser's host mapping turns them into ASCII. The audit uses this to judge a stored
    host exactly as the referrer parser did before storing it.
    """
    name = _ascii_host(host)
    if ":" in name:
        inner = name[1:-1] if name.startswith("[") and name.endswith("]") else name
        try:
            return ipaddress.IPv6Address(inner)
        except ValueError:
            return None
    return ipv4_address(name)


def ipv4_address(text: str) -> ipaddress.IPv4Address | None:
    """WHATWG's IPv4 parser: what ``http://<text>/`` takes a browser to, or None."""
    parts = text.lower().split(".")
    if len(parts) > 1 and parts[-1] == "":
        parts.pop()
    if len(parts) > 4:
        return None
    *head, last = parts
    value = 0
    for i, part in enumerate(head):
        number = _ipv4_number(part)
        if number is None or number > 255:
            return None
        value |= number << (24 - 8 * i)
    number = _ipv4_number(last)
    if number is None or number >= 1 << (8 * (5 - len(parts))):  # the last part fills what is left
        return None
    return ipaddress.IPv4Address(value | number)


def _ipv4_number(part: str) -> int | None:
    """A part is ``0x`` hex (``0x`` alone is 0), leading-zero octal, or decimal; else None.

    The digits are checked by hand because ``int`` also takes underscores, signs and spaces.
    """
    if part.startswith("0x"):
        digits, base = part[2:], 16
        if not digits:
            return 0
    elif len(part) > 1 and part.startswith("0"):
        digits, base = part[1:], 8
    else:
        digits, base = part, 10
    if not digits or not set(digits) <= _RADIX_DIGITS[base]:
        return None
    try:
        return int(digits, base)
    except ValueError:  # more digits than Python converts: far beyond any address anyway
        return None


def _ends_in_a_number(name: str) -> bool:
    labels = name.split(".")
    if len(labels) > 1 and labels[-1] == "":
        labels.pop()
    last = labels[-1]
    if last.startswith("0x"):
        return set(last[2:]) <= _RADIX_DIGITS[16]
    return last != "" and set(last) <= _RADIX_DIGITS[10]


def _ascii_host(host: str) -> str:
    """Lower-case, and for non-ASCII text what a browser's host mapping would make of it."""
    if not host.isascii():
        host = unicodedata.normalize("NFKC", host).translate(_IDEOGRAPHIC_DOTS)
    return host.strip().lower()


def source_name(
    utm_source: str, ref: str, referrer: str, is_own_host: Callable[[str], bool]
) -> str:
    """Apply Plausible's precedence: a tag beats the referrer, ``utm_source`` beats ``ref``.

    A tag that spells a known source (``google``, ``FB``, ``news.ycombinator.com``) is shown
    under that source's name so tagged and untagged visits from it land in one row.
    """
    for tag in (utm_source, ref):
        cleaned = clean_text(tag, MAX_TAG) if isinstance(tag, str) else ""
        if cleaned:
            return _tag_name(cleaned)
    return source_from_referrer(referrer, is_own_host)


def campaign_tag(tag: str) -> str:
    """A UTM value as stored: itself, unless it is an address (same rule as a source tag's)."""
    return IP_ADDRESS if tag and _tag_spells_an_address(tag.lower()) else tag


def _tag_name(tag: str) -> str:
    lowered = tag.lower()
    if _tag_spells_an_address(lowered):
        return IP_ADDRESS
    return _TAG_NAMES.get(lowered) or _known_host(lowered) or tag


def _tag_spells_an_address(tag: str) -> bool:
    """Whether a tag is an address, or a URL or host (``198.51.100.61:80/x``) naming one.

    Stricter than the referrer rule, because a tag is free text, not a host: it must parse as
    an address (whole, or its last four labels after a name, as in ``www.198.51.100.61``), so
    ``release-1.2`` stays a campaign name. Addresses in 0.0.0.0/8 ("this network", which no
    packet is sent from) stay too: that keeps numeric campaign and referral ids below 16,777,216
    (``ref=12345``) as they are. Free text that merely contains an address ("from
    198.51.100.61") is not a host; like a path, it is stored as sent.
    """
    if tag.isascii() and not _DIGIT_OR_COLON.search(tag):
        return False  # most tags are words; every ASCII address has a digit or a colon
    try:
        netloc = urlsplit(tag if "://" in tag else "//" + tag).netloc
    except ValueError:
        return False
    host = normalize_hostname(netloc)
    if not host or not names_an_address(host):
        return False
    address = host_address(host)
    labels = host.split(".")
    if address is None and len(labels) > 4 and not _ends_in_a_number(labels[-5]):
        address = host_address(".".join(labels[-4:]))  # as the audit reads them: 1.2.3.4.5 is one number
    return address is not None and address not in _THIS_NETWORK


def _android_app(package: str) -> str:
    return _ANDROID_APPS.get(package, package)


def _web_host(host: str) -> str:
    return _known_host(host) or strip_www(host)


# How each scheme that names a source turns its (normalized, non-address) host into a name.
_HOST_NAMERS: dict[str, Callable[[str], str]] = {"http": _web_host, "https": _web_host, "android-app": _android_app}


def _known_host(host: str) -> str | None:
    """Walk from the full host to its parent domains; the most specific known one wins."""
    start = 0
    while True:
        candidate = host[start:]
        name = _BY_HOST.get(candidate) or _country_brand(candidate)
        if name:
            return name
        dot = host.find(".", start)
        if dot < 0:
            return None
        start = dot + 1


def _country_brand(candidate: str) -> str | None:
    brand, _, suffix = candidate.partition(".")
    name = _COUNTRY_BRANDS.get(brand)
    if name and _COUNTRY_SUFFIX.fullmatch(suffix):
        return name
    return None

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

Lookup is by exact host, then by each parent domain (``a.b.reddit.com`` → ``b.reddit.com`` →
``reddit.com``), so the cost grows with the number of labels, not the size of the table.
"""

from __future__ import annotations

import ipaddress

import re
from typing import Callable
from urllib.parse import urlsplit

from collector.urls import MAX_TAG, MAX_URL, clean_text, normalize_hostname, strip_www

DIRECT = ""  # "Direct / None": no referrer, a self-referral, or one that could not be read
IP_ADDRESS = "(IP address)"  # every referrer whose host is a bare IP address

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
    if parts.scheme == "android-app":
        return _android_app(parts.netloc)
    if parts.scheme not in ("http", "https"):
        return DIRECT
    host = normalize_hostname(parts.netloc)
    if not host or is_own_host(host):
        return DIRECT
    if _is_address(host):
        return IP_ADDRESS  # a bare address may be the visitor's own device; never store it
    return _known_host(host) or strip_www(host)


def _is_address(host: str) -> bool:
    if not (host[-1].isdigit() or ":" in host):
        return False  # names end in a letter; only these few need the full parse
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


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


def _tag_name(tag: str) -> str:
    lowered = tag.lower()
    return _TAG_NAMES.get(lowered) or _known_host(lowered) or tag


def _android_app(package: str) -> str:
    package = normalize_hostname(package)
    return _ANDROID_APPS.get(package, package)


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

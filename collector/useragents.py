"""Turn a User-Agent header into the dashboard's browser / OS / device rows, and spot bots.

Bot traffic is dropped before it is counted, so a wrong "bot" verdict silently deletes a real
visitor: every check here was measured against real browser UAs as well as bot UAs (see
``tests/test_useragents.py``).  Each verdict carries a short *reason*, so the collector can count
drops per reason without keeping anything about the visitor.

The User-Agent is personal-ish data: it may sit in this process's LRU cache, but it is never
logged, written anywhere, or put into an exception message.  ``describe`` never raises, because
a crash on a hostile header would turn into a 500 for a beacon that should simply be counted or
ignored.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import cache, lru_cache
from typing import NamedTuple

import ua_parser
from crawleruseragents import CRAWLER_USER_AGENTS_DATA

__all__ = [
    "AUTOMATION",
    "CRAWLER_LIST",
    "EMPTY",
    "MALFORMED",
    "SPIDER",
    "UNKNOWN",
    "Agent",
    "cache_clear",
    "cache_info",
    "describe",
    "request_bot_signal",
]

log = logging.getLogger(__name__)

UNKNOWN = "Unknown"

# Bot reasons, in the order they are checked.
EMPTY = "empty"
SPIDER = "spider"
CRAWLER_LIST = "crawler-list"
AUTOMATION = "automation"
MALFORMED = "malformed"

# Real User-Agents are < 500 characters (the longest crawler-list example is < 300).  Cutting
# longer ones keeps the cache's memory bounded (20k entries x 1 KiB) even when someone sprays
# unique 16 KiB headers at the beacon endpoint.
MAX_UA_LENGTH = 1024
CACHE_SIZE = 20_000


class Agent(NamedTuple):
    """Immutable, so one cached instance can be handed to every request with the same UA."""

    browser: str
    os: str
    device: str  # "desktop" | "mobile" | "tablet"
    bot: str | None  # None for a person; otherwise why we think it is not one


# --------------------------------------------------------------------------- ua-parser


@cache
def _parser() -> ua_parser.Parser:
    """Build ua-parser on first use with the Rust resolver, and without its own cache.

    The library's default global parser also picks the Rust resolver, but wraps it in a 2,000
    entry cache; ours sits one level up (on the whole verdict), so a second cache would only
    cost memory.  Built lazily so importing the collector (e.g. for the CLI) stays fast.
    """
    if ua_parser.RegexResolver is not None:
        return ua_parser.Parser(ua_parser.RegexResolver(ua_parser.load_lazy_builtins()))
    log.warning(
        "ua-parser-rs is not installed: User-Agent parsing falls back to the pure-Python "
        "resolver, tens of times slower per new User-Agent"
    )
    return ua_parser.Parser(ua_parser.BasicResolver(ua_parser.load_builtins()))


def uses_fast_resolver() -> bool:
    """Lets tests (and operators) confirm the Rust resolver is the one in use."""
    return type(_parser().resolver) is ua_parser.RegexResolver


Matcher = Callable[[str], bool]


def python_matcher(patterns: Iterable[str], ignore_case: bool = False) -> Matcher:
    """One alternation run by ``re``: the fallback when ua-parser-rs is missing.

    ``re`` tries each branch at each position, which costs ~0.5 ms per browser UA with the
    crawler list's 1,500 branches: fine as a fallback, too slow to be the default.
    """
    regex = re.compile("|".join(f"(?:{p})" for p in patterns), re.IGNORECASE if ignore_case else 0)
    return lambda ua: regex.search(ua) is not None


def rust_matcher(patterns: Iterable[str], ignore_case: bool = False) -> Matcher:
    """The same test run by ua-parser-rs: ~2 us for the whole crawler list.

    ua-parser-rs's extractor is a general regex *set* (Rust ``regex`` behind a literal
    prefilter) that returns the first pattern that matches; giving every pattern a constant
    family turns it into a yes/no test.  It accepts Rust syntax only (no look-around).
    """
    import ua_parser_rs

    flags = "(?i)" if ignore_case else ""
    extractor = ua_parser_rs.UserAgentExtractor(
        (f"{flags}(?:{p})", "match", None, None, None, None) for p in patterns
    )
    return lambda ua: extractor.extract(ua) is not None


def regex_set(patterns: Sequence[str], ignore_case: bool = False) -> Matcher:
    """Prefer the Rust set; fall back to ``re`` if the binding is missing or rejects a pattern."""
    try:
        return rust_matcher(patterns, ignore_case)
    except (ImportError, ValueError) as error:
        log.warning("User-Agent patterns run on Python re (%s): slower", type(error).__name__)
        return python_matcher(patterns, ignore_case)


# --------------------------------------------------------------------------- crawler list

# Upstream patterns that match ordinary browsers, so they would silently delete real visitors.
_NOT_CRAWLERS = frozenset(
    {
        # Android 15's platform build id, present in millions of phone UAs; its only example in
        # the list is an Instagram in-app browser on an OPPO phone
        # (monperrus/crawler-user-agents#466).
        r"AP3A\.240617\.008",
        # Facebook's current in-app browser marker (ua-parser/uap-core#665), not a preview fetcher.
        "MetaIAB Facebook",
        # Unanchored words that also occur in real apps' UAs: Slack's desktop app ends its UA
        # with "Sonic Slack_SSB/4.x", Viber's in-app browser with "Viber/19.x".  The bots they
        # target still get caught: "Sonic/1.0" carries a crawler URL, the bare "Viber" fetcher
        # is malformed.
        "Sonic",
        "Viber",
    }
)


def crawler_patterns() -> list[str]:
    """The upstream patterns we trust, matched case-sensitively as upstream intends (its
    '[wW]get' style patterns only make sense so)."""
    return [
        entry["pattern"]
        for entry in CRAWLER_USER_AGENTS_DATA
        if entry["pattern"] not in _NOT_CRAWLERS
    ]


@cache
def _is_listed_crawler() -> Matcher:
    """Built on first use: compiling 1,500 patterns is not worth paying at import."""
    return regex_set(crawler_patterns())


# --------------------------------------------------------------------------- other bot signals

# Headless browsers, test/monitoring harnesses and HTTP libraries that the crawler list misses
# or spells case-sensitively.  Matched case-insensitively: these are product names nobody
# shares with a real browser.  Electron is deliberately absent: Slack, Discord, VS Code... are
# people.
_AUTOMATION_MARKERS = (
    "HeadlessChrome", "HeadlessEdg", "HeadlessShell", "PhantomJS", "SlimerJS", "HtmlUnit",
    "jsdom", "Zombie.js", "Lighthouse", "PageSpeed", "GTmetrix", "PTST/", "Selenium",
    "WebDriver", "Puppeteer", "Playwright", "Cypress", "Prerender", "Rendertron",
    "DatadogSynthetics", "Checkly", "Catchpoint", "StatusCake", "Site24x7", "UptimeRobot",
    "python-requests", "python-urllib", "python-httpx", "aiohttp", "urllib3", "Scrapy",
    "curl/", "Wget", "Go-http-client", "okhttp", "Java/", "Apache-HttpClient", "node-fetch",
    "undici", "axios/", "Deno/", "Dart/", "libwww-perl", "LWP::", "Guzzle", "RestSharp",
    "PostmanRuntime", "insomnia/", "HTTPie", "WinHttp", "colly",
)
# A contact URL or e-mail address is how well-behaved bots sign themselves; no browser puts
# one in its User-Agent.
_SIGNATURES = (r"https?://", r"\+http", r"\bwww\.", r"\w@[\w-]+\.\w")
AUTOMATION_PATTERNS = (*map(re.escape, _AUTOMATION_MARKERS), *_SIGNATURES)
_is_automation = regex_set(AUTOMATION_PATTERNS, ignore_case=True)


def _is_malformed(ua: str) -> bool:
    """Shapes no browser has sent since the 1990s: every browser names itself as
    ``Product/version (platform)``.  Tiny or slash-less strings, and a bare ``Mozilla/5.0``
    without a platform comment, are scripts pretending (badly) to be something.
    """
    return len(ua) < 10 or "/" not in ua or (ua.startswith("Mozilla/") and "(" not in ua)


# --------------------------------------------------------------------------- naming

# ua-parser families -> the short, stable names shown as dashboard rows.  Mobile and WebView
# variants fold into their family, as Plausible and Umami show them; everything else passes
# through unchanged (ua-parser's names are already stable).
_BROWSER_NAMES = {
    "Mobile Safari": "Safari",
    "Mobile Safari UI/WKWebView": "Safari",
    "Chrome Mobile": "Chrome",
    "Chrome Mobile iOS": "Chrome",
    "Chrome Mobile WebView": "Chrome",
    "Firefox Mobile": "Firefox",
    "Firefox iOS": "Firefox",
    "Edge Mobile": "Edge",
    "Opera Mobile": "Opera",
    "Opera Touch": "Opera",
    "IE": "Internet Explorer",
    "IE Mobile": "Internet Explorer",
    "DuckDuckGo Mobile": "DuckDuckGo",
    "Google": "Google App",
    "MiuiBrowser": "MIUI Browser",
    "WeChat Browser": "WeChat",
    "Slack Desktop Client": "Slack",
}
_LINUX_DISTRIBUTIONS = (
    "Ubuntu", "Kubuntu", "Fedora", "Debian", "Linux Mint", "Mint", "Arch Linux", "openSUSE",
    "SUSE", "Red Hat", "CentOS", "Gentoo", "Mandriva", "Slackware",
)
_OS_NAMES = {
    "Mac OS X": "macOS",
    "Chrome OS": "ChromeOS",
    "Web0S": "webOS",
    **dict.fromkeys(_LINUX_DISTRIBUTIONS, "Linux"),
}
# Some ua-parser rules copy text out of the UA into the family; cap it so a hostile UA cannot
# mint long dashboard rows.
_MAX_NAME_LENGTH = 40


def _name(family: str | None, aliases: Mapping[str, str]) -> str:
    if not family or family == "Other":
        return UNKNOWN
    return aliases.get(family, family)[:_MAX_NAME_LENGTH]


# --------------------------------------------------------------------------- device class

# "desktop" means "not handheld": TVs and consoles go there, since the dashboard has only three
# buckets.  They must be caught first because Android TVs look like tablets (Android without
# "Mobile") or even phones (SHIELD sends "Mobile Safari").
BIG_SCREEN_PATTERNS = (
    "SMART-?TV", "SmartTV", "Android ?TV", "HbbTV", "CrKey", "BRAVIA", "Web0S", "VIDAA",
    r"\bAFT[A-Z]", "PlayStation [45]", "Xbox", "Nintendo Switch",
)
_is_big_screen = regex_set(BIG_SCREEN_PATTERNS)
# iPads send "Mobile/..." and Android tablets may say "Mobile" too, so tablet wins over mobile.
# ("Tablet PC 2.0" is a Windows touch-laptop token, hence "Tablet" only as a whole field.)
TABLET_PATTERNS = ("iPad", r"\bTablet[;)]", "Kindle", r"\bKF[A-Z]{2,6}\b")
MOBILE_PATTERNS = ("Mobi", "iPhone", "iPod", "Windows Phone", "Opera Mini", "BlackBerry", "BB10")
_is_tablet = regex_set(TABLET_PATTERNS)
_is_mobile = regex_set(MOBILE_PATTERNS)
_TABLET_DEVICES = frozenset({"iPad", "Generic Tablet"})
_TABLET_BRANDS = frozenset({"Generic_Android_Tablet"})
_MOBILE_DEVICES = frozenset({"iPhone", "iPod", "Generic Smartphone", "Generic Feature Phone"})


def _device_class(ua: str, device: ua_parser.Device | None) -> str:
    """ua-parser names the device but not its form factor, so combine its generic families
    with the tokens browsers use to ask for mobile or tablet layouts.  iPadOS Safari sends a
    Mac UA by default and is counted as desktop: nothing in the header tells them apart.
    """
    family = device.family if device else ""
    brand = device.brand if device else None
    if _is_big_screen(ua):
        return "desktop"
    if family in _TABLET_DEVICES or brand in _TABLET_BRANDS or _is_tablet(ua):
        return "tablet"
    if family in _MOBILE_DEVICES or _is_mobile(ua):
        return "mobile"
    # Chrome's rule: an Android UA without "Mobile" asks for the tablet/desktop layout.
    return "tablet" if "Android" in ua else "desktop"


# --------------------------------------------------------------------------- the verdict


def _bot_reason(ua: str, device: ua_parser.Device | None) -> str | None:
    if device is not None and device.family == "Spider":
        return SPIDER
    if _is_listed_crawler()(ua):
        return CRAWLER_LIST
    if _is_automation(ua):
        return AUTOMATION
    if _is_malformed(ua):
        return MALFORMED
    return None


def _utf8_safe(ua: str) -> str:
    """The Rust side only accepts valid UTF-8; a lone surrogate must not become an exception."""
    try:
        ua.encode("utf-8")
    except UnicodeEncodeError:
        return ua.encode("utf-8", "replace").decode("utf-8")
    return ua


@lru_cache(maxsize=CACHE_SIZE)
def _describe(ua: str) -> Agent:
    ua = _utf8_safe(ua.strip())
    if not ua:
        return Agent(UNKNOWN, UNKNOWN, "desktop", EMPTY)
    result = _parser().parse(ua)
    return Agent(
        browser=_name(result.user_agent.family if result.user_agent else None, _BROWSER_NAMES),
        os=_name(result.os.family if result.os else None, _OS_NAMES),
        device=_device_class(ua, result.device),
        bot=_bot_reason(ua, result.device),
    )


def describe(user_agent: str | None) -> Agent:
    """Classify one User-Agent; repeats are served from an LRU cache of ``CACHE_SIZE`` entries.

    The cache is keyed on the first ``MAX_UA_LENGTH`` characters so its memory stays bounded
    whatever a client sends.  ``None`` (no header at all) is accepted so callers can pass
    ``headers.get("user-agent")`` straight through.
    """
    return _describe((user_agent or "")[:MAX_UA_LENGTH])


cache_info = _describe.cache_info
cache_clear = _describe.cache_clear


# --------------------------------------------------------------------------- request headers

# (header, word looked for, signal).  Speculative loads are not visits: the person may never
# see the page.  Chrome sends "Sec-Purpose: prefetch;prerender" for prerenders, so "prerender"
# is looked for before "prefetch".
_PURPOSE_HEADERS: tuple[tuple[str, str, str], ...] = (
    ("sec-purpose", "prerender", "prerender"),
    ("sec-purpose", "prefetch", "prefetch"),
    ("purpose", "prefetch", "prefetch"),
    ("x-purpose", "preview", "prefetch"),  # Safari's Top Sites thumbnails
    ("x-purpose", "prefetch", "prefetch"),
    ("x-moz", "prefetch", "prefetch"),  # Firefox link prefetching
)


def request_bot_signal(headers: Mapping[str, str]) -> str | None:
    """Say whether the request is a speculative load rather than a page someone looks at.

    Starlette's ``Headers`` are case-insensitive; a plain dict must use lower-case keys.
    """
    for header, word, signal in _PURPOSE_HEADERS:
        if word in headers.get(header, "").lower():
            return signal
    return None

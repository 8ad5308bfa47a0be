"""Turn a User-Agent header into the dashboard's browser / OS / device rows, and spot bots.

Bot traffic is dropped before it is counted, so a wrong "bot" verdict silently deletes a real
visitor: every check here was measured against real browser UAs as well as bot UAs (see
``tests/test_useragents.py``, and ``tests/test_bot_corpus.py`` for two independent labelled corpora,
isbot's 42,000 strings and device-detector's 35,000, each with a share held out of the tuning).  The
checks are general rules, not a list of the corpus: the grammar of a browser's UA (and the older
grammars real browsers still send), the words and products that mark a tool, probe signatures, and
the crawler list applied where a bot writes its name rather than where a browser writes its own.
Each verdict carries a short *reason*, so the collector can count drops per reason without keeping
anything about the visitor.

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
from is_bot import Bots

__all__ = [
    "APP_CLIENT",
    "AUTOMATION",
    "CRAWLER_LIST",
    "EMPTY",
    "ISBOT_LIST",
    "MALFORMED",
    "PROBE",
    "SPIDER",
    "UNKNOWN",
    "Agent",
    "cache_clear",
    "cache_info",
    "describe",
    "prepare",
    "request_bot_signal",
]

log = logging.getLogger(__name__)

UNKNOWN = "Unknown"

# Bot reasons, in the order they are checked.
EMPTY = "empty"
PROBE = "probe"  # an injection attempt or markup: someone testing the endpoint
SPIDER = "spider"  # says it is a crawler, or ua-parser knows it as one
CRAWLER_LIST = "crawler-list"
ISBOT_LIST = "isbot-list"  # isbot's patterns, applied last: only what every general rule above let through
AUTOMATION = "automation"  # monitoring, testing, renderers, HTTP libraries, feed readers
APP_CLIENT = "app-client"  # a native app's own HTTP stack, not a page in its web view
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


# --------------------------------------------------------------------------- the shape of a browser UA
#
# Every browser that can run the tracker sends ``Mozilla/5.0 (platform; …) engine tokens…``.  Two
# parts of that grammar name products that are *not* the bot's: the device model in the platform
# comment ("HTC Butterfly", "Expanse", "DESAY TS1008") and the app that embeds the engine, written
# just before a standard token ("Trae/1.1 Chrome/…", "YLT Chrome/…", "SogouMobileBrowser/5").  The
# crawler list's substrings and the spider words hit those names, so they look at a *masked* UA
# with them removed (ua-parser's "Spider" verdict is checked again without the platform comment);
# the bot's own name, which bots put in a ``compatible;`` comment, the engine comment or after the
# last standard token, stays visible.

# Words that say the comment is a platform (an OS, a CPU, a device class): a comment without any
# is a script's ("Mozilla/5.0 (compatible)", "(Hydra Proxy)").
PLATFORM_PATTERNS = (
    r"windows|win(?:\d|nt|16|32|64|ce|98|95)|mac|darwin|ios\b|iphone|ipad|ipod|android|linux|x11|cros|bsd"
    r"|sunos|solaris|amiga|morphos|beos|haiku|syllable|cygwin|inferno|playstation|ps[345]|nintendo|xbox"
    r"|tizen|kaios|symbian|series\s?60|blackberry|bb10|midp|cldc|webos|web0s|roku|smart-?tv|hbbtv|\btv\b|os/2"
    r"|risc|qnx|fuchsia|harmony|x86|x64|i[3-6]86|amd64|arm|aarch64|ppc|mips|sparc",
)
_names_platform = regex_set(PLATFORM_PATTERNS, ignore_case=True)
# The platform comment may hold one level of parentheses of its own ("M40SE(M5T3) Build/…").
_BROWSER_GRAMMAR = re.compile(r"^((?:mozilla|opera)/[\d.]+[^(]*)\(((?:[^()]|\([^()]*\))*)\)", re.IGNORECASE)
_MOBILE_OS_ITEM = re.compile(r"^\s*(?:Android|Tizen|KAIOS|HarmonyOS|OpenHarmony|Windows Phone)\b", re.IGNORECASE)
_LANGUAGE_ITEM = re.compile(r"^\s*[a-z]{2,3}(?:[-_][a-z]{2,4})?\s*$", re.IGNORECASE)
_STANDARD_TOKEN = re.compile(
    r"^(?:Mozilla|AppleWebKit|Chrome|Safari|Version|Mobile|Electron|Gecko|Firefox|like|KHTML,?|Edg|EdgA|OPR"
    r"|CriOS|FxiOS|Presto|Trident)(?:/|$)"
)
_TOKEN = re.compile(r"\([^()]*\)|[^\s()]+")
# Other places where a browser UA describes the device rather than the client, so masked too: a TV
# standard's comment ("HbbTV/1.5.1 (+DRM; BOTECH; ATV R1; …)": capabilities, vendor, model), an in-app
# browser's device comment ("Instagram 94.0 Android (22/5.1; 320dpi; 720x1280; CUBOT; …)") and
# Facebook's bracketed app data ("[FBAN/FBIOS;FBDV/iPhone11,6;FBCR/Vodafone.de;…]": model, carrier).
_TV_STANDARD = re.compile(r"^(?:HbbTV|FVC|CE-HTML|OHTV)/", re.IGNORECASE)
_DEVICE_COMMENT = re.compile(r"^\(.*(?:\d+dpi|\b\d{3,4}x\d{3,4}\b)")


def _platform_items(comment: str) -> list[str]:
    """The platform comment without its device model: on a phone OS the item after the OS (past a
    language tag) is the model, and an item with "Build/" is the model's firmware."""
    items = comment.split(";")
    kept: list[str] = []
    model_next = False
    for item in items:
        if "Build/" in item or (model_next and not _LANGUAGE_ITEM.match(item)):
            model_next = False
            continue
        if _MOBILE_OS_ITEM.match(item):
            model_next = True
        kept.append(item)
    return kept


def _browser_grammar(ua: str, parsed: ua_parser.Result) -> re.Match[str] | None:
    """The ``Mozilla/5.0 (platform)`` head of a UA that ua-parser also reads as a browser."""
    grammar = _BROWSER_GRAMMAR.match(ua)
    if grammar is None or parsed.user_agent is None or not _names_platform(grammar.group(2)):
        return None
    return grammar


def _describes_device(token: str, before: str) -> bool:
    """A token after the platform comment that is about the device (see ``_TV_STANDARD``)."""
    if token.startswith("["):
        return True
    return token.startswith("(") and bool(_TV_STANDARD.match(before) or _DEVICE_COMMENT.match(token))


def _masked(ua: str, parsed: ua_parser.Result, apps: bool) -> str:
    """The UA as the name lists should see it: without the device model and the other descriptions of
    the device, and, with ``apps``, without the names of the apps that embed the engine."""
    grammar = _browser_grammar(ua, parsed)
    if grammar is None:
        return ua
    tokens = _TOKEN.findall(ua[grammar.end() :])
    tokens = [
        token
        for token, before in zip(tokens, ["", *tokens], strict=False)
        if not _describes_device(token, before)
    ]
    if apps:
        tokens = [
            token
            for token, after in zip(tokens, [*tokens[1:], ""], strict=False)
            if token.startswith("(")
            or _STANDARD_TOKEN.match(token)
            or not (_STANDARD_TOKEN.match(after) or "browser/" in token.lower())
        ]
    return f"{grammar.group(1)}({';'.join(_platform_items(grammar.group(2)))}) {' '.join(tokens)}"


def _uncommented(ua: str, grammar: re.Match[str] | None) -> str:
    """The UA without its platform comment, for ua-parser's second look (``_is_ua_parser_spider``)."""
    return ua if grammar is None else grammar.group(1) + ua[grammar.end() :]


# --------------------------------------------------------------------------- crawler list

# Upstream patterns that match ordinary browsers even in a masked UA, so they would silently
# delete real visitors.
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
        # A marker some security software adds to real Mac and Windows Chrome UAs' platform
        # comment ("Intel Mac OS X 10_15_7; TSM-turingos-1253296984").
        "TSM-turingos",
        # Sogou's spiders all call themselves spiders ("Sogou web spider/4.0"); the bare name only adds
        # Sogou's own search app and browser ("SogouSearch Android1.0", "SogouMobileBrowser/5").
        "Sogou",
    }
)


def crawler_patterns() -> list[str]:
    """The upstream patterns we trust, matched case-sensitively as upstream intends (its
    '[wW]get' style patterns only make sense so)."""
    return [entry["pattern"] for entry in CRAWLER_USER_AGENTS_DATA if entry["pattern"] not in _NOT_CRAWLERS]


# Browsers' own HTTP clients, which send no browser grammar and whose names contain list words:
# Firefox for Android's (Mozilla Android Components' "MozacFetch") against the list's "Fetch/".
_BROWSER_COMPONENT = re.compile(r"^MozacFetch/[\d.]+$")


@cache
def _is_listed_crawler() -> Matcher:
    """Built on first use: compiling 1,500 patterns is not worth paying at import."""
    return regex_set(crawler_patterns())


# --------------------------------------------------------------------------- isbot's list

# isbot's patterns (as the ``is-bot`` package ships them) that hit real browsers of the tuning shares
# even in a masked UA, with what they hit.  The rest catch named monitoring, preview and download
# tools that no general rule here describes; measured on device-detector's held-out share, which
# neither list was built from, they add 6 of its 8 missed bots for 7 of its 10,820 browsers.
ISBOT_PATTERNS: frozenset[str] = frozenset(Bots().patterns)
_NOT_ISBOT = frozenset(
    {
        # Shapes, not names: a lone product with a version ("iPhone11", "Lynx/2.8"), a long token
        # without spaces (UC Browser's "dv(iPh10,1);pr(UCBrowser/…)" form), "Name/1.0 (word)".
        r"^[\w \.\-\(?:\):%]+(?:/v?\d+(?:\.\d+)?(?:\.\d{1,10})*?)?(?:,|$)",
        r"^[^ ]{50,}$",
        r"^\w+/\d\.\d\s\([\w@]+\)$",
        r"\(\)",
        # Words in browsers' own tokens: Hisense TVs' "OMI/….Catcher4", Google TV and Google Earth,
        # feature phones' "JavaPlatform/", "(?<!lib)http" in web views' app data, Sogou's search app,
        # WeChat's "Process/tools", "chromeframe/", "Tungsten Proxyless", "AlphaServer", "FirePHP/",
        # Discovery's TV app, LG webOS TVs' "WebAppManager".
        "catch",
        r"(?<! channel/|google/)google(?!(?:wv|app|/google| pixel))",
        "java(?!;)",
        "(?<!lib)http",
        "sogou",
        "tools",
        "chromeframe",
        "proxy",
        "server",
        "firephp",
        "discovery",
        "manager",
    }
)


_LOOK_AROUND = re.compile(r"\(\?<?[=!]")


@cache
def _is_isbot_listed() -> Matcher:
    """ua-parser-rs takes no look-around, so the three patterns that use it (fixed-width, which ``re``
    accepts) run on ``re``: ~35 us a UA together (once per distinct UA: ``describe``'s cache), where one
    ``re`` alternation of all ~190 took ~450."""
    patterns = sorted(ISBOT_PATTERNS - _NOT_ISBOT)
    plain = regex_set([p for p in patterns if not _LOOK_AROUND.search(p)], ignore_case=True)
    looking = python_matcher([p for p in patterns if _LOOK_AROUND.search(p)], ignore_case=True)
    return lambda ua: plain(ua) or looking(ua)


# --------------------------------------------------------------------------- other bot signals

# Probes for a vulnerability, and markup or entities left by whatever logged them: never a
# browser's product token.
PROBE_PATTERNS = (
    r"\$\{",  # template and JNDI lookups (Log4Shell)
    r"<[a-z!?/%]",  # HTML, PHP and SSI tags
    r"&(?:lt|gt|quot|amp|apos|#x?[0-9a-f]+);",
    r"javascript:",
    r"\\x[0-9a-f]{2}",
    r"\bselect\b.{0,80}\bfrom\b",  # SQL injection
    r"\(\s*select\b",
    r"\bunion\b.{0,40}\bselect\b",
    r"load_file\s*\(",
    r"\b(?:sleep|benchmark|pg_sleep|waitfor)\s*\(",
    r"['\"]\s*(?:or|and)\s+['\"\d(]",
    r"\bor\s+\d+\s*=\s*\d+",
    r"--\s*$",
    r"\.\./",  # path traversal
    r"/etc/passwd",
    r"\(\)\s*\{",  # Shellshock
    r"`[^`]*`",
    r"\$\(",
)
_is_probe = regex_set(PROBE_PATTERNS, ignore_case=True)

# Words a client uses to say it is a crawler.  "bot" counts at either end of a word (Googlebot,
# Botbox), the others anywhere, except "fetch" inside a product name (Firefox's "MozacFetch").
SPIDER_PATTERNS = (
    r"bot(?:[^a-z]|$)",
    r"\bbot",
    r"spider",
    r"crawl",
    r"scrap(?:er|ing|e|y)\b",
    r"slurp",
    r"harvest",
    r"(?:^|[^a-z])fetch",
    r"fetcher",
    r"index(?:er|ing)\b",
)
_is_self_declared_spider = regex_set(SPIDER_PATTERNS, ignore_case=True)

# Tools, not people: monitoring and testing harnesses, renderers and previewers, HTTP libraries,
# download managers and feed readers, and the contact URL or e-mail address well-behaved bots sign
# with.  Matched case-insensitively; a word that is also part of apps' names ("scanner" in
# CamScanner, "http" in the PS4's libhttp, "test" in Windows Phone's "WpsLondonTest") counts only at
# the start of a word.  Electron is
# deliberately absent: Slack, Discord, VS Code... are people.
_TOOL_WORDS = (
    r"checker\b", r"check/", r"monitor", r"synthetic", r"uptime", r"health.?check", r"observatory",
    r"(?:^|[^a-z])scann?(?:er|ing)?\b", r"\bprobe\b", r"validator", r"inspector", r"analy[sz]er\b", r"audit",
    r"preview", r"thumbnail", r"screenshot", r"render(?:er|ing)?\b", r"transcoder", r"weblight",
    r"proxy(?:[^a-z]|$)", r"feed", r"\brss", r"rss\b", r"download", r"torrent", r"webdav",
    # Subversion's own "SVN/1.14.1 (…)", not a firmware's "SVN/01001"; an HTTP library's name, not a
    # feature phone's "(HTTP PGDL;HTTPS)" capability list.
    r"\bsvn/\d+\.\d+\.\d", r"(?:^|[^a-z(])http(?:[^s ]|s[^);]|$)", r"httpclient",
    r"(?:^|[-_])client\b", r"agent(?:[^a-z]|$)", r"test(?:er|ing)\b", r"(?:^|[^a-z])test\b",
    r"verif(?:y|ier|ication)", r"detector", r"classifier", r"lookup", r"scorer", r"sitemap", r"\bseo\b",
    r"\bcron\b", r"webhook", r"\bworkflow\b", r"advisor\b", r"jiankong",  # "jiankong": monitoring, in pinyin
    r"measurement", r"grpc", r"cronet", r"^lib", r"\blwp", r"\bsplash\b", r"PTST[/ ]\d",
    # A renderer names itself in the engine comment, which real browsers leave as "(KHTML, like
    # Gecko)" (old WebKit: "(KHTML, like Gecko, Safari/419.3)").
    r"\(KHTML,? like Gecko[;,] ?(?:[^)\sS]|S[^a]|Sa[^f])",
    # Google's own fetchers and renderers: "Google-Site-Verification", "DuplexWeb-Google",
    # "(compatible; GoogleToolbar …)".
    r"google-[a-z]", r"-google\b", r"compatible;\s*[^;)]*google",
    r"^Microsoft[- ](?:CryptoAPI|BITS|WebDAV)",
    # PhantomJS's QtWebKit writes "Unknown" where the OS goes ("Mozilla/5.0 (Unknown; Linux x86_64)"),
    # and so does every tool built on it under another name; no browser leaves its platform unnamed.
    r"^Mozilla/[\d.]+ \(Unknown;",
)
_AUTOMATION_MARKERS = (
    "HeadlessChrome", "HeadlessEdg", "HeadlessShell", "PhantomJS", "SlimerJS", "HtmlUnit",
    "jsdom", "Zombie.js", "Lighthouse", "PageSpeed", "Page Speed", "GTmetrix", "Selenium",
    "WebDriver", "Puppeteer", "Playwright", "Cypress", "Prerender", "Rendertron", "JavaFX",
    "DatadogSynthetics", "Checkly", "Catchpoint", "StatusCake", "Site24x7", "UptimeRobot", "Neustar",
    "DejaClick", "DMBrowser", "Functionize", "Hotjar", "NetNewsWire", "Reeder/", "Akregator", "Liferea", "Feedly",
    "Newsboat",
    "python-requests", "python-urllib", "python-httpx", "aiohttp", "urllib3",
    "Scrapy", "curl/", "Wget", "Go-http-client", "okhttp", "Java/", "Apache-HttpClient", "node-fetch",
    "undici", "axios/", "Deno/", "Dart/", "libwww-perl", "LWP::", "Guzzle", "RestSharp", "PostmanRuntime",
    "insomnia/", "HTTPie", "WinHttp", "colly", "mechanize", "zgrab", "masscan", "Nmap", "Nikto", "sqlmap",
    "Nuclei",
)
# No browser puts a URL, a domain or an e-mail address in its User-Agent.
_SIGNATURES = (
    r"https?://",
    r"\+http",
    r"\bwww\.",
    r"\b[a-z0-9-]*[a-z][a-z0-9-]*\.(?:com|net|org|io|info|biz|co|ai|app|dev|ru|de|fr|uk|cn|jp|me|us|xyz|site|online|tech)"
    r"(?:$|[^.\w-])",
    r"[\w.-]@[\w-]+\.[a-z]{2,}(?:$|[^@.\w])",
)
AUTOMATION_PATTERNS = (*_TOOL_WORDS, *map(re.escape, _AUTOMATION_MARKERS), *_SIGNATURES)
_is_automation = regex_set(AUTOMATION_PATTERNS, ignore_case=True)
# The words and signatures without the named tools: what is looked for again in the masked UA, since
# a device model may hold a word ("Precedent Build/AreaRom Test", "Q.Me Phone7") but a tool that
# writes its name where the model goes ("Android 4.0.2; en-us; Catchpoint") is still that tool.
_has_tool_word = regex_set((*_TOOL_WORDS, *_SIGNATURES), ignore_case=True)
_is_named_tool = regex_set(tuple(map(re.escape, _AUTOMATION_MARKERS)), ignore_case=True)

# Programming languages' HTTP stacks: "PHP/7.2", "python-asks/2.4", "Go-http-client", "unirest-java",
# "(Java 1.8.0_211 …)".  Case-sensitive, so that "LUA-L23" (a Huawei phone) is not Lua.
RUNTIME_PATTERNS = (
    r"(?:^|[\s(;,=])(?:PHP|[Pp]hp|[Pp]ython|[Pp]erl|[Rr]uby|[Jj]ava|Go|go|[Nn]ode|[Ll]ua|[Dd]art|[Dd]eno|[Cc]url"
    r"|[Ww]get|[Pp]owershell)(?:/\w|-[A-Za-z])",
    r"(?i:[-_](?:java|python|php|ruby|golang|node|perl))\b",
    r"[(;]\s*Java[ /]\d",
    r";\s*Java\)",
    r"\bJRE\d",
    r"^Lavf/",
    r"(?i:curl/)",
)
_is_runtime = regex_set(RUNTIME_PATTERNS)


def _is_tool(ua: str, parsed: ua_parser.Result) -> bool:
    """A tool's marker anywhere, or its word, signature or HTTP stack outside the device model
    (``_masked``).  Masking only removes text, so the masked UA is looked at only on a hit."""
    if not (_is_automation(ua) or _is_runtime(ua)):
        return False
    masked = _masked(ua, parsed, apps=False)
    return masked == ua or _is_named_tool(ua) or _has_tool_word(masked) or _is_runtime(masked)

# A native app's own HTTP stack (compression notes, SDKs, gRPC), which never runs a page's
# scripts; only looked for in UAs without the browser grammar, since in-app browsers append the
# same app names to a real browser UA.
APP_CLIENT_PATTERNS = (r"\bgzip\b", r"\bsdk", r"sdk\b", r"\(gfe\)", r"^snapchat/", r"^spotify/", r"mailapp/")
_is_app_client = regex_set(APP_CLIENT_PATTERNS, ignore_case=True)
# A browser's or Google app's name without a browser engine: the app's background requests
# (favicons, suggestions, sign-in), not a page.  The Google app itself ("GoogleApp/") is a browser.
_APP_OF_BROWSER = re.compile(
    r"^(?:DuckDuckGo|ddg_android|Google ?Chrome|Chrome|Chromium|Firefox|Edge|Brave|Vivaldi|Yandex|YaBrowser"
    r"|SamsungBrowser)\b|^google(?!app/)",
    re.IGNORECASE,
)
_ENGINE = re.compile(r"AppleWebKit|Gecko|Presto|Trident|KHTML|Blink", re.IGNORECASE)


def _is_native_client(ua: str) -> bool:
    return _is_app_client(ua) or (_APP_OF_BROWSER.match(ua) is not None and not _ENGINE.search(ua))


# Shapes no browser sends: a version run into the next product ("Chrome/105.0.0.0MQQBrowser/"), a
# UA spliced after a comma or a pipe, "+"-encoded spaces, or text that does not start with a
# product ("Product/1", "Two Words/1") or the "Links (2.1; Linux)" form.
MALFORMED_PATTERNS = (
    r"/\d+(?:\.\d+)+[A-Za-z]{3,}/",
    r"[,|:(]\s*Mozilla/",
    r"^Mozilla/[\d.]+\+",
    r"(?:^|\s)[A-Za-z]+\s+(?:-\s+)?Mozilla/",
)
_is_spliced = regex_set(MALFORMED_PATTERNS)
# A standard token glued to the version before it ("Chrome/57.0.2987.132MobileSafari/537.36") is a
# browser's UA with its spaces squeezed out by whatever relayed it, not a splice: put the space back
# before looking for one.
_GLUED_STANDARD_TOKEN = re.compile(r"(?<=\d)(?=(?:Mobile)?(?:Safari|Chrome|Version)/)")
PRODUCT_START_PATTERNS = (r"^\[?[A-Za-z][\w.+-]*(?: [\w.+-]+){0,3} ?/", r"^[A-Za-z][\w-]* \(\d")
_starts_with_product = regex_set(PRODUCT_START_PATTERNS)
# What is left of a real browser's UA when an app cuts off its head ("Android 13) AppleWebKit/…
# DuckDuckGo/5 Safari/…", as DuckDuckGo's Android app sends): the engine chain, or the platform
# list itself ("Android 4.4.2;AppleWebKit/537.36;Build/KOT49H;…", as some Android apps write it).
_ENGINE_CHAIN = re.compile(r"^(?:\(?[^()]*\)\s*)?AppleWebKit/[\d.]+\+? \(KHTML, like Gecko\).* (?:Safari|Chrome)/\d")
_PLATFORM_FIRST = re.compile(r"^(?:Android|iOS|iPhone OS|CPU iPhone OS) [\d._]+;")
# Feature phones' browsers (WAP, i-mode, Openwave, MediaTek's MAUI, Palm) predate the Mozilla grammar
# and write the handset first: "KDDI-CA3H UP.Browser/6.2 (GUI) MMP/2.0", "G4040_MAUI WAP Browser",
# "DoCoMo/1.0/D501i".  These words name a phone's browser or its platform, never a tool.
FEATURE_PHONE_PATTERNS = (
    r"UP\.Browser", r"WAP[- ]?Browser", r"\bMAUI\b", "NetFront", "DoCoMo/", "Dorado", "Obigo", "Teleca", r"\bMMP/\d",
    r"MIDP-\d", r"\bPalm(?:OS|scape|Source)", r"\bAplix",
)
_is_feature_phone = regex_set(FEATURE_PHONE_PATTERNS, ignore_case=True)
# Two forms UC Browser sends besides its Mozilla one: "Mozilla 5.0 (Linux; …) UC AppleWebKit 534.31"
# (no slashes) and "dv(iPh10,1);pr(UCBrowser/11.3.5.1203);ov(15_5);…" (key(value) pairs naming the
# device, the product and the OS).  And an Apple model's name alone ("iPhone14ProMax"), which apps
# set as their web view's UA.
_OTHER_BROWSER_FORMS = re.compile(
    r"^Mozilla \d\.\d \([^()]*\) |^(?:[a-z]{2}\([^()]*\);)*dv\([^()]+\);pr\([A-Za-z]"
    r"|^i(?:Phone|Pad|Pod)[A-Za-z\d]*$"
)
_MOZILLA_OR_OPERA = re.compile(r"^(?:mozilla|opera)/", re.IGNORECASE)
_MOZILLA = re.compile(r"^mozilla/[\d.]+[^(]*(\(([^)]*)\))?", re.IGNORECASE)


def _is_malformed(ua: str, parsed: ua_parser.Result) -> bool:
    """Shapes no browser has sent since the 1990s: every browser names itself as
    ``Product/version (platform)``.  Tiny strings, spliced or glued ones, a ``Mozilla/5.0``
    without a platform, and a client naming neither a browser nor an OS nor a platform are scripts
    pretending (badly) to be something.  The older grammars that real browsers still send (feature
    phones', UC Browser's) are looked for only in what would otherwise be malformed, which is rare.
    """
    if _is_spliced(ua) and _is_spliced(_GLUED_STANDARD_TOKEN.sub(" ", ua)):
        return True
    return _lacks_browser_grammar(ua, parsed) and not (_is_feature_phone(ua) or _OTHER_BROWSER_FORMS.match(ua))


def _lacks_browser_grammar(ua: str, parsed: ua_parser.Result) -> bool:
    if len(ua) < 10:
        return True
    head_cut = _ENGINE_CHAIN.match(ua) or (_PLATFORM_FIRST.match(ua) and parsed.os)
    if not (_starts_with_product(ua) or head_cut):
        return True
    if "/" not in ua and "(" not in ua:
        return True
    mozilla = _MOZILLA.match(ua)
    if mozilla:
        if not mozilla.group(1):
            # "Mozilla/5.0 Linux; Android 9; SM-A505U AppleWebKit/537.36 KHTML, like Gecko Chrome/…":
            # a platform list whose parentheses a log or a proxy stripped still names a browser and an OS.
            return "(" in ua or parsed.user_agent is None or parsed.os is None or not _names_platform(ua)
        # On Windows only MSIE wrote "compatible;": another name there is a tool's.
        comment = mozilla.group(2)
        return parsed.user_agent is None and (
            not _names_platform(comment) or ("compatible;" in comment and "Windows" in comment)
        )
    return (
        not ua.lower().startswith("opera/")
        and parsed.user_agent is None
        and parsed.os is None
        and not _names_platform(ua)
    )


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


def _is_ua_parser_spider(ua: str, parsed: ua_parser.Result) -> bool:
    """ua-parser's "Spider" device, checked once more without the platform comment when the UA is
    a browser's: its catch-all rule finds "bot" inside any word ("turbotabbee/TSV2.0" in a
    set-top box's Opera), and in a browser UA the bot's own name is outside that comment anyway.
    """
    if parsed.device is None or parsed.device.family != "Spider":
        return False
    grammar = _browser_grammar(ua, parsed)
    if grammar is None:
        return True
    device = _parser().parse(_uncommented(ua, grammar)).device
    return device is not None and device.family == "Spider"


def _bot_reason(ua: str, parsed: ua_parser.Result) -> str | None:
    if _is_probe(ua):
        return PROBE
    if _BROWSER_COMPONENT.match(ua):
        return None
    # Masking only removes text, so a masked UA can only match if the whole one does: mask on a hit.
    if _is_self_declared_spider(ua) and _is_self_declared_spider(_masked(ua, parsed, apps=False)):
        return SPIDER
    if _is_ua_parser_spider(ua, parsed):
        return SPIDER
    crawler_list = _is_listed_crawler()
    if crawler_list(ua) and crawler_list(_masked(ua, parsed, apps=True)):
        return CRAWLER_LIST
    if _is_tool(ua, parsed):
        return AUTOMATION
    if not _MOZILLA_OR_OPERA.match(ua) and _is_native_client(ua):
        return APP_CLIENT
    if _is_malformed(ua, parsed):
        return MALFORMED
    isbot_list = _is_isbot_listed()
    if isbot_list(ua) and isbot_list(_masked(ua, parsed, apps=True)):
        return ISBOT_LIST
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
        bot=_bot_reason(ua, result),
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

_SAMPLE = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"


def prepare() -> None:
    """Build the parser and the pattern sets now, as a collector starts.

    They are built on first use so the CLI starts fast; but built by the first beacon they held
    the event loop for about a second (several on a busy host), and every beacon in flight waited,
    long enough for a load balancer in front to time out. The sample goes through the uncached
    classification, so nothing of it stays in ``describe``'s cache.
    """
    _is_listed_crawler()
    _is_isbot_listed()
    _describe.__wrapped__(_SAMPLE)


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

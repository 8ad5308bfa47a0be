"""Bot detection must catch nearly every bot without losing real visitors, and never crash."""

from __future__ import annotations

from pathlib import Path

import pytest
from crawleruseragents import CRAWLER_USER_AGENTS_DATA
from hypothesis import given, settings
from hypothesis import strategies as st

from collector import useragents
from collector.useragents import (
    APP_CLIENT,
    AUTOMATION,
    CRAWLER_LIST,
    EMPTY,
    MALFORMED,
    PROBE,
    SPIDER,
    UNKNOWN,
    Agent,
    describe,
    request_bot_signal,
)

from tests.conftest import Server
from tests.support import Clock, add_site, make_settings, plausible

BROWSER_FILE = Path(__file__).parent / "data" / "browser_user_agents.txt"

# The design target.
MIN_BOT_RECALL = 0.993
MAX_BROWSER_FALSE_POSITIVE_RATE = 0.01


def _read_lines(path: Path) -> list[str]:
    lines = (line.strip() for line in path.read_text(encoding="utf-8").splitlines())
    return [line for line in lines if line and not line.startswith("#")]


BROWSERS = _read_lines(BROWSER_FILE)

# Upstream examples that are in fact ordinary browsers; their patterns are deliberately not used.
MISLABELLED_UPSTREAM = {
    "AP3A\\.240617\\.008",  # an Instagram in-app browser on an Android 15 phone
    "MetaIAB Facebook",  # the Facebook in-app browser
}
UPSTREAM_BOTS = [
    instance
    for entry in CRAWLER_USER_AGENTS_DATA
    if entry["pattern"] not in MISLABELLED_UPSTREAM
    for instance in entry.get("instances", ())
]
UPSTREAM_MISLABELLED = [
    instance
    for entry in CRAWLER_USER_AGENTS_DATA
    if entry["pattern"] in MISLABELLED_UPSTREAM
    for instance in entry.get("instances", ())
]

# Real-world bots, written down independently of the crawler list to keep the recall honest.
HAND_WRITTEN_BOTS = [
    "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; Googlebot/2.1; +http://www.google.com/bot.html) Chrome/124.0.6367.155 Safari/537.36",
    "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.6367.155 Mobile Safari/537.36 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Googlebot-Image/1.0",
    "AdsBot-Google (+http://www.google.com/adsbot.html)",
    "Mediapartners-Google",
    "Mozilla/5.0 (compatible; Google-Site-Verification/1.0)",
    "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm) Chrome/116.0.1938.76 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/13.1.1 Safari/605.1.15 (Applebot/0.1; +http://www.apple.com/go/applebot)",
    "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
    "meta-externalagent/1.1 (+https://developers.facebook.com/docs/sharing/webmasters/crawler)",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_11_1) AppleWebKit/601.2.4 (KHTML, like Gecko) Version/9.0.1 Safari/601.2.4 facebookexternalhit/1.1 Facebot Twitterbot/1.0",
    "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
    "Twitterbot/1.0",
    "Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)",
    "WhatsApp/2.23.20.0 A",
    "TelegramBot (like TwitterBot)",
    "LinkedInBot/1.0 (compatible; Mozilla/5.0; Apache-HttpClient +http://www.linkedin.com)",
    "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
    "Mozilla/5.0 (compatible; SemrushBot/7~bl; +http://www.semrush.com/bot.html)",
    "Mozilla/5.0 (compatible; MJ12bot/v1.4.8; http://mj12bot.com/)",
    "Mozilla/5.0 (compatible; DotBot/1.2; +https://opensiteexplorer.org/dotbot; help@moz.com)",
    "Mozilla/5.0 (Linux; Android 7.0;) AppleWebKit/537.36 (KHTML, like Gecko) Mobile Safari/537.36 (compatible; PetalBot;+https://webmaster.petalsearch.com/site/petalbot)",
    "Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)",
    "Mozilla/5.0 (compatible; YandexMetrika/2.0; +http://yandex.com/bots)",
    "Mozilla/5.0 (compatible; Baiduspider/2.0; +http://www.baidu.com/search/spider.html)",
    "Mozilla/5.0 (compatible; Yahoo! Slurp; http://help.yahoo.com/help/us/ysearch/slurp)",
    "DuckDuckBot/1.1; (+http://duckduckgo.com/duckduckbot.html)",
    "Mozilla/5.0 (compatible; SeznamBot/4.0; +https://o-seznam.cz/napoveda/vyhledavani/en/seznambot-crawler/)",
    "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; +https://openai.com/gptbot)",
    "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko); compatible; ChatGPT-User/1.0; +https://openai.com/bot",
    "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; ClaudeBot/1.0; +claudebot@anthropic.com)",
    "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; PerplexityBot/1.0; +https://perplexity.ai/perplexitybot)",
    "CCBot/2.0 (https://commoncrawl.org/faq/)",
    "Mozilla/5.0 (Linux; Android 5.0) AppleWebKit/537.36 (KHTML, like Gecko) Mobile Safari/537.36 (compatible; Bytespider; spider-feedback@bytedance.com)",
    "Mozilla/5.0 (compatible; Amazonbot/0.1; +https://developer.amazon.com/support/amazonbot) Chrome/119.0.6045.214 Safari/537.36",
    "Mozilla/5.0 (compatible; archive.org_bot +http://archive.org/details/archive.org_bot)",
    "Mozilla/5.0 (compatible; CensysInspect/1.1; +https://about.censys.io/)",
    "Expanse, a Palo Alto Networks company, searches across the global IPv4 space multiple times per day to identify customers' presences on the Internet. If you would like to be excluded from our scans, please send IP addresses/domains to: scaninfo@paloaltonetworks.com",
    "Mozilla/5.0 (compatible; Nmap Scripting Engine; https://nmap.org/book/nse.html)",
    "Mozilla/5.0 (compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)",
    "Pingdom.com_bot_version_1.4_(http://www.pingdom.com/)",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 PTST/240501.140300",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 DatadogSynthetics",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0.6099.109 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Linux; Android 11; moto g power (2022)) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0.0.0 Mobile Safari/537.36 Chrome-Lighthouse",
    "Mozilla/5.0 (Unknown; Linux x86_64) AppleWebKit/538.1 (KHTML, like Gecko) PhantomJS/2.1.1 Safari/538.1",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Cypress/13.6.0 Chrome/118.0.5993.159 Electron/27.1.3 Safari/537.36",
    "Mozilla/5.0 (linux) AppleWebKit/537.36 (KHTML, like Gecko) jsdom/24.0.0",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/79.0.3945.0 Safari/537.36 Prerender (+https://github.com/prerender/prerender)",
    "python-requests/2.31.0",
    "Python-urllib/3.11",
    "python-httpx/0.27.0",
    "Python/3.12 aiohttp/3.9.5",
    "curl/8.4.0",
    "Wget/1.21.4",
    "Go-http-client/2.0",
    "okhttp/4.12.0",
    "Java/17.0.2",
    "Apache-HttpClient/4.5.14 (Java/17.0.2)",
    "node-fetch/1.0 (+https://github.com/bitinn/node-fetch)",
    "node",
    "undici",
    "axios/1.6.8",
    "PostmanRuntime/7.37.3",
    "HTTPie/3.2.2",
    "Scrapy/2.11.1 (+https://scrapy.org)",
    "Deno/1.43.1",
    "Dart/3.3 (dart:io)",
    "Faraday v2.9.0",
    "Mozilla/5.0",
    "Mozilla/5.0 zgrab/0.x",
    "-",
]


def _bot_share(user_agents: list[str]) -> tuple[float, list[str]]:
    missed = [ua for ua in user_agents if describe(ua).bot is None]
    flagged = len(user_agents) - len(missed)
    return flagged / len(user_agents), missed


def _reasons(user_agents: list[str]) -> dict[str | None, int]:
    counts: dict[str | None, int] = {}
    for ua in user_agents:
        reason = describe(ua).bot
        counts[reason] = counts.get(reason, 0) + 1
    return counts


# --------------------------------------------------------------------------- accuracy


def test_corpora_are_big_enough_to_mean_something() -> None:
    assert len(BROWSERS) >= 150
    assert len(UPSTREAM_BOTS) >= 2000
    assert len(HAND_WRITTEN_BOTS) >= 40


def test_catches_the_crawler_list_examples() -> None:
    recall, missed = _bot_share(UPSTREAM_BOTS)
    print(f"\ncrawler-list recall {recall:.4f} ({len(missed)} missed of {len(UPSTREAM_BOTS)})")
    print(f"reasons: {_reasons(UPSTREAM_BOTS)}")
    assert recall >= MIN_BOT_RECALL, f"recall {recall:.4f}; missed: {missed[:20]}"


def test_catches_bots_written_down_independently() -> None:
    recall, missed = _bot_share(HAND_WRITTEN_BOTS)
    print(f"\nhand-written bot recall {recall:.4f} ({len(missed)} missed of {len(HAND_WRITTEN_BOTS)})")
    print(f"reasons: {_reasons(HAND_WRITTEN_BOTS)}")
    assert recall >= MIN_BOT_RECALL, f"recall {recall:.4f}; missed: {missed}"


def test_keeps_real_browsers() -> None:
    flagged_share, _ = _bot_share(BROWSERS)
    flagged = [(ua, describe(ua).bot) for ua in BROWSERS if describe(ua).bot]
    print(f"\nbrowser false-positive rate {flagged_share:.4f} ({len(flagged)} of {len(BROWSERS)})")
    assert flagged_share <= MAX_BROWSER_FALSE_POSITIVE_RATE, f"flagged: {flagged}"


def test_upstream_examples_that_are_really_browsers_are_kept() -> None:
    if not UPSTREAM_MISLABELLED:
        pytest.skip("upstream dropped these patterns; useragents._NOT_CRAWLERS can shrink")
    assert [describe(ua).bot for ua in UPSTREAM_MISLABELLED] == [None] * len(UPSTREAM_MISLABELLED)


# Real browsers whose product tokens or device names contain a crawler-list word or a bot-ish
# word, and the bot families the filter once missed (both from issue 16, written out here).
BROWSERS_THAT_LOOK_LIKE_BOTS = [
    "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/150.0.0.0 Mobile Safari/537.36 (Ecosia android@150.0.0.0)",
    "Mozilla/5.0 (Linux; Android 10; V2029 Build/QP1A.190711.020) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/98.0.4758.101 Mobile Safari/537.36 SogouMobileBrowser/5.30.10",
    "Mozilla/5.0 (Linux; Android 4.1.2; HTC Butterfly Build/JZO54K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/40.0.2214.89 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 10; Expanse) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.144 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 11; Fever_Plus) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.144 Safari/537.36",
    "Mozilla/5.0 (Linux; Android 10; DESAY TS1008 Build/QP1A.190711.020) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/110.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Linux; Android 9; CUBOT P30) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Code/1.96.0 Chrome/128.0.6613.186 Electron/32.2.6 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Trae/1.107.1 Chrome/142.0.7444.235 Electron/39.2.7 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_6) AppleWebKit/537.36 (KHTML, like Gecko) YLT Chrome/85.0.4183.121 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7; TSM-turingos-1234567890) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Fluid/2.1.2 Safari/605.1.15",
    "Mozilla/5.0 (Linux; Android 14; SM-S918B Build/UP1A.231005.007; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/124.0.6367.123 Mobile Safari/537.36 CamScanner/4.8.5",
    "MozacFetch/120.0.1",
    "Mozilla/5.0 (Windows; U; Windows NT 10.0; en-US; Valve Steam Client/default/1716584290; ) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.6478.183 Safari/537.36",
    "Mozilla/5.0 (Linux; Android 10; GLX Spider)",  # a device name; nothing after the platform comment
    "Android 13) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/118.0.0.0 Mobile DuckDuckGo/5 Safari/537.36",
]
BOTS_ONCE_MISSED = [
    "Mozilla/5.0 (en-us) AppleWebKit/537.36(KHTML, like Gecko; Google-Adwords-DisplayAds-WebRender;) Chrome/120.0.0.0Safari/537.36",
    "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; GoogleAdwordsExpress) Chrome/120.0.0.0 Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko; Google Page Speed Insights) Chrome/120.0.0.0 Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko; Google Search Console) Chrome/120.0.0.0 Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko; Google-Sites-Thumbnails) Chrome/120.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Linux; Android 11; Pixel 2; DuplexWeb-Google/1.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36 (compatible; Google-AMPHTML)",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1 (GoogleBot)",
    "Datadog/Synthetics",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 DynatraceSynthetic/1.300",
    "Mozilla/5.0 (Windows NT 10.0; WOW64; rv:115.0; Neustar WPM) Gecko/20100101 Firefox/115.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 CloudflareObservatory/1.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:120.0) Gecko/20100101 Firefox/120.0 YottaaMonitor",
    "Mozilla/5.0 (X11; Linux x86_64; rv:115.0) Gecko/20100101 Firefox/115.0 DejaClick/2.9.7.2",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) TagInspector/500.1 Chrome/120.0.0.0 Safari/537.36",
    "Mozilla/5.0 (X11; Windows x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Functionize",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko; compatible; pageburst) Chrome/120.0.0.0 Safari/537.36",
    "ELB-HealthChecker/2.0",
    "ApacheBench/2.3",
    "Prometheus/2.53.0",
    "Snapchat/12.06.0.31 (iPhone12,1; iOS 17.1; gzip) grpc-c++/1.33.2 grpc-c/13.0.0 (ios; cronet_http)",
    "ddg_android/5.200.0 (com.duckduckgo.mobile.android; Android API 34)",
    "PHP-SOAP/8.2.0",
    "${jndi:ldap://${hostName}.useragent.example.test/a}",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) <script>alert(document.domain)</script>",
    "Mozilla/5.0 (compatible)",
]


# Grammars real browsers send besides ``Mozilla/5.0 (platform) engine…`` (from the second corpus's
# misses, issue 16; written out here with other models and versions), and words in device names,
# build ids and TV comments that are not a tool's.
BROWSERS_IN_OTHER_GRAMMARS = [
    # The platform's parentheses stripped by whatever relayed it; spaces squeezed out.
    "Mozilla/5.0 Linux; Android 8.1.0; BQ-5000L AppleWebKit/537.36 KHTML, like Gecko Chrome/74.0.3729.157 Mobile Safari/537.36",
    "Mozilla/5.0(Linux; Android 6.0; X200 Build/MRA58K)AppleWebKit/537.36(KHTML, like Gecko)Chrome/60.0.3112.116MobileSafari/537.36",
    # Feature phones: Openwave, MediaTek's MAUI, i-mode, Dorado.
    "KDDI-SA3B UP.Browser/6.2_7.2.7.1.K.4.305 (GUI) MMP/2.0",
    "NOKIA1000_MAUI WAP Browser",
    "ACME61M_11C_HW (MRE/3.1.00(64);MAUI/_X100_20170101;LCD/240320;CHIP/MT6261;WAP Browser/MAUI (HTTP PGDL;HTTPS))",
    "DoCoMo/1.0/N503i",
    # UC Browser's own forms, an Apple model's name, a platform list without its head.
    "Mozilla 5.0 (Linux; U; Android 4.0.4; en-us; GT-S7562 Build IMM76I) UC AppleWebKit 534.31 (KHTML, like Gecko) Mobile Safari 534.31",
    "dv(iPh12,1);pr(UCBrowser/13.4.0.1306);ov(16_1);ss(414x896);bt(UC);pm(0);bv(0);nm(0);im(0);nt(1);",
    "iPhone15ProMax",
    "Android 4.2.2;AppleWebKit/534.30;Build/JDQ39;TAB-7 Build/JDQ39",
    # Tool words inside the device model or a build id, a vendor in a TV's HbbTV comment, a device
    # comment with parentheses of its own, a firmware's "SVN/".
    "Mozilla/5.0 (Linux; U; Android 2.3.6; en-us; Nova Build/CustomRom Test) AppleWebKit/533.1 (KHTML, like Gecko) Version/4.0 Mobile Safari/533.1",
    "Mozilla/5.0 (Linux; Android 5.1; Lua-L21) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/79.0.3945.93 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 9; ATV X1) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/77.0.3865.120 Safari/537.36 OPR/46.0.2207.0 HbbTV/1.5.1 (+DRM;BOTECH;ATV X1;1.0;;TVs;)",
    "Mozilla/5.0 (Linux; Android 10; M50(M5T3) Build/QP1A.190711.020; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/80.0.3987.132 Safari/537.36 SogouMSE,SogouMobileBrowser/6.1.5",
    "Mozilla/5.0 (Linux; Android 4.4.2; Smart Tab 3G Build/KOT49H) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/30.0.0.0 Safari/537.36 SVN/05RCY23",
    "Mozilla/4.0 (compatible; MSIE 7.0; Windows Phone OS 7.0; Trident/3.1; IEMobile/7.0; WpsLondonTest; NOKIA; Lumia 710)",
    # In-app browsers: the device in Instagram's comment and Facebook's brackets, Sogou's search app.
    "Mozilla/5.0 (Linux; Android 9; P30 Build/PPR1.180610.011; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/80.0.3987.99 Mobile Safari/537.36 Instagram 130.0.0.31.121 Android (28/9; 320dpi; 720x1440; CUBOT; P30; P30; mt6763; en_GB; 200396019)",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 13_3 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/17C54 [FBAN/FBIOS;FBDV/iPhone10,4;FBMD/iPhone;FBSN/iOS;FBSV/13.3;FBSS/2;FBCR/orange.fr;FBID/phone;FBLC/fr_FR;FBOP/5]",
    "Mozilla/5.0 (Linux; Android 8.1.0; V1818A Build/OPM1.171019.026; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/62.0.3202.84 Mobile Safari/537.36 SogouSearch Android1.0 version3.0 AppVersion/8012",
]
TOOLS_IN_THE_SAME_PLACES = [
    "Mozilla/5.0 (Linux; U; Android 4.0.2; en-us; Catchpoint) AppleWebKit/534.30 (KHTML, like Gecko) Version/4.0 Mobile Safari/534.30",
    "SVN/1.14.2 (x86_64-pc-linux-gnu) serf/1.3.9",
    "HTTP_Request2/2.5.1 (https://example.test/) PHP/8.2.0",
    "logic-apps/1.0 (workflow 0123456789abcdef; version 08585) flow/1.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Gecko/20100101 Firefox/115.0 SiteAdvisor",
    "Mozilla/5.0 (compatible; MSIE 9.0; Windows NT 6.1) yunjiankong 12345",
    "Mozilla/5.0 (Linux; Android 9; ATV X1) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/77.0.3865.120 Safari/537.36 HbbTV/1.5.1 (+DRM;ACME;ATV X1;) SpeedTester/1.0",
    "Mozilla/5.0 (Linux; Android 10) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/105.0.0.0MQQBrowser/6.2 TBS/045223 Mobile Safari/537.36",
]


@pytest.mark.parametrize("user_agent", BROWSERS_THAT_LOOK_LIKE_BOTS + BROWSERS_IN_OTHER_GRAMMARS)
def test_keeps_browsers_whose_names_look_like_bots(user_agent: str) -> None:
    assert describe(user_agent).bot is None


@pytest.mark.parametrize("user_agent", BOTS_ONCE_MISSED + TOOLS_IN_THE_SAME_PLACES)
def test_drops_the_bot_families_once_missed(user_agent: str) -> None:
    assert describe(user_agent).bot is not None


# --------------------------------------------------------------------------- exact answers

CHROME_WINDOWS = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"


@pytest.mark.parametrize(
    ("user_agent", "expected"),
    [
        (CHROME_WINDOWS, ("Chrome", "Windows", "desktop")),
        ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 Safari/605.1.15", ("Safari", "macOS", "desktop")),
        ("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0", ("Firefox", "Windows", "desktop")),
        ("Mozilla/5.0 (X11; Linux x86_64; rv:126.0) Gecko/20100101 Firefox/126.0", ("Firefox", "Linux", "desktop")),
        ("Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:124.0) Gecko/20100101 Firefox/124.0", ("Firefox", "Linux", "desktop")),
        ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 Edg/124.0.2478.80", ("Edge", "Windows", "desktop")),
        ("Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36", ("Chrome", "ChromeOS", "desktop")),
        ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 OPR/110.0.0.0", ("Opera", "Windows", "desktop")),
        ("Mozilla/5.0 (Windows NT 10.0; WOW64; Trident/7.0; rv:11.0) like Gecko", ("Internet Explorer", "Windows", "desktop")),
        ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 Mobile/15E148 Safari/604.1", ("Safari", "iOS", "mobile")),
        ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148", ("Safari", "iOS", "mobile")),
        ("Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1", ("Safari", "iOS", "tablet")),
        ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/124.0.6367.88 Mobile/15E148 Safari/604.1", ("Chrome", "iOS", "mobile")),
        ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) FxiOS/125.0 Mobile/15E148 Safari/605.1.15", ("Firefox", "iOS", "mobile")),
        ("Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36", ("Chrome", "Android", "mobile")),
        ("Mozilla/5.0 (Linux; Android 9; SM-T510) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0.0.0 Safari/537.36", ("Chrome", "Android", "tablet")),
        ("Mozilla/5.0 (Linux; Android 14; Pixel 8 Build/AP1A.240405.002; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/124.0.6367.82 Mobile Safari/537.36", ("Chrome", "Android", "mobile")),
        ("Mozilla/5.0 (Linux; Android 14; SAMSUNG SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/25.0 Chrome/121.0.0.0 Mobile Safari/537.36", ("Samsung Internet", "Android", "mobile")),
        ("Mozilla/5.0 (Android 14; Mobile; rv:125.0) Gecko/125.0 Firefox/125.0", ("Firefox", "Android", "mobile")),
        ("Mozilla/5.0 (Android 13; Tablet; rv:128.0) Gecko/128.0 Firefox/128.0", ("Firefox", "Android", "tablet")),
        ("Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36 EdgA/124.0.2478.64", ("Edge", "Android", "mobile")),
        ("Mozilla/5.0 (Linux; Android 13; SM-A536B Build/TP1A.220624.014; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/124.0.6367.82 Mobile Safari/537.36 [FB_IAB/FB4A;FBAV/458.0.0.54.108;]", ("Facebook", "Android", "mobile")),
        ("Mozilla/5.0 (Linux; Android 9; SHIELD Android TV Build/PPR1.180610.011; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/120.0.6099.230 Mobile Safari/537.36", ("Chrome", "Android", "desktop")),
        ("Mozilla/5.0 (Linux; Android 9; KFTRWI) AppleWebKit/537.36 (KHTML, like Gecko) Silk/124.2.1 like Chrome/124.0.6367.118 Safari/537.36", ("Amazon Silk", "Android", "tablet")),
    ],
)
def test_describes_well_known_browsers(user_agent: str, expected: tuple[str, str, str]) -> None:
    assert describe(user_agent) == Agent(*expected, bot=None)


@pytest.mark.parametrize(
    ("user_agent", "reason"),
    [
        ("", EMPTY),
        (None, EMPTY),
        ("   \t ", EMPTY),
        ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", SPIDER),
        ("Mozilla/5.0 (compatible; Sonic/1.0; http://www.yama.info.waseda.ac.jp/~crawler/info.html)", SPIDER),
        ("wget/1.21", CRAWLER_LIST),  # upstream's pattern is [wW]get
        # The crawler list names it too, but in the slot where apps that embed Chromium write their
        # name (masked for the list, see useragents._masked); the automation markers catch it.
        ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0.6099.109 Safari/537.36", AUTOMATION),
        ("Mozilla/5.0 (linux) AppleWebKit/537.36 (KHTML, like Gecko) jsdom/24.0.0", AUTOMATION),
        ("Mozilla/5.0 (Windows NT 10.0) AppleWebKit/537.36 HeadlessEdg/120.0", AUTOMATION),
        ("Mozilla/5.0 (compatible; RankSonicSiteAuditor/1.0; +https://ranksonic.com/ranksonic_sab.html)", AUTOMATION),
        ("${jndi:ldap://${hostName}.useragent.example.test}", PROBE),
        ("Mozilla/5.0 <script>alert(1)</script>", PROBE),
        ("Mozilla/5.0 (Windows NT 10.0) AppleWebKit/537.36 Chrome/120.0 Safari/537.36' OR 1=1--", PROBE),
        ("Snapchat/12.21.0.34 (T602DL; Android 12#vU6P#31; gzip) V/MUSHROOM grpc-c++/1.33.2", AUTOMATION),
        ("ddg_android/5.121.0 (com.duckduckgo.mobile.android; Android API 28)", APP_CLIENT),
        ("GoogleAuth/1.4 (a5xelte NRD90M); gzip,gzip(gfe),gzip(gfe)", APP_CLIENT),
        ("PHP-SOAP/7.4.33", AUTOMATION),
        ("Mozilla/5.0 (compatible)", MALFORMED),
        ("Viber", MALFORMED),
        ("Mozilla/5.0", MALFORMED),
        ("x/1", MALFORMED),
    ],
)
def test_bot_reasons(user_agent: str | None, reason: str) -> None:
    assert describe(user_agent).bot == reason


def test_names_stay_short_even_when_copied_from_the_header() -> None:
    agent = describe("Mozilla/5.0 (compatible; " + "A" * 300 + "/1.0)")
    assert len(agent.browser) <= 40 and len(agent.os) <= 40


def test_unknown_families_read_unknown() -> None:
    agent = describe("Mozilla/5.0 (Nintendo Switch; WifiWebAuthApplet) AppleWebKit/606.4 (KHTML, like Gecko) NF/6.0.1.15.4 NintendoBrowser/5.1.0.20393")
    assert (agent.browser, agent.os, agent.bot) == (UNKNOWN, UNKNOWN, None)


# --------------------------------------------------------------------------- machinery


def test_uses_the_rust_resolver() -> None:
    assert useragents.uses_fast_resolver()


@pytest.mark.parametrize(
    ("patterns", "ignore_case"),
    [
        (useragents.crawler_patterns(), False),
        (useragents.PROBE_PATTERNS, True),
        (useragents.SPIDER_PATTERNS, True),
        (useragents.AUTOMATION_PATTERNS, True),
        (useragents.RUNTIME_PATTERNS, False),
        (useragents.APP_CLIENT_PATTERNS, True),
        (useragents.MALFORMED_PATTERNS, False),
        (useragents.PRODUCT_START_PATTERNS, False),
        (useragents.FEATURE_PHONE_PATTERNS, True),
        (useragents.PLATFORM_PATTERNS, True),
        (useragents.BIG_SCREEN_PATTERNS, False),
        (useragents.TABLET_PATTERNS, False),
        (useragents.MOBILE_PATTERNS, False),
    ],
    ids=["crawler-list", "probe", "spider", "automation", "runtime", "app-client", "malformed", "product-start", "feature-phone", "platform", "big-screen", "tablet", "mobile"],
)
def test_rust_and_python_matchers_agree(patterns: list[str], ignore_case: bool) -> None:
    """The Rust set is an optimisation; it must not change a single verdict, and the ``re``
    fallback must accept every pattern."""
    fast = useragents.rust_matcher(patterns, ignore_case)
    slow = useragents.python_matcher(patterns, ignore_case)
    corpus = UPSTREAM_BOTS + UPSTREAM_MISLABELLED + HAND_WRITTEN_BOTS + BROWSERS
    disagreements = [ua for ua in corpus if fast(ua) != slow(ua)]
    assert disagreements == []


def test_falls_back_to_python_re_without_the_rust_binding(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing(patterns: object, ignore_case: bool = False) -> None:
        raise ImportError("ua_parser_rs")

    monkeypatch.setattr(useragents, "rust_matcher", missing)
    matcher = useragents.regex_set(useragents.crawler_patterns())
    assert matcher("Mozilla/5.0 (compatible; bingbot/2.0)") and not matcher(CHROME_WINDOWS)


def test_crawler_list_is_case_sensitive_as_upstream_intends() -> None:
    matcher = useragents.python_matcher(useragents.crawler_patterns())
    assert matcher("Wget/1.21") and matcher("wget/1.21") and not matcher("WGET/1.21")


def test_a_starting_collector_builds_the_parsers_before_its_first_beacon(tmp_path: Path, geo_db: Path, clock: Clock) -> None:
    """Built by the first beacon, they held the event loop for a second or more, and every beacon in
    flight waited; the collector builds them as it starts, and keeps no UA of its own in the cache."""
    builders = (useragents._parser, useragents._is_listed_crawler, useragents._is_isbot_listed)
    for built in builders:
        built.cache_clear()
    useragents.cache_clear()
    config = make_settings(tmp_path / "data", geo_db)
    server = Server(config, clock, add_site(config, "example.com"))
    with server.client:
        assert [built.cache_info().currsize for built in builders] == [1, 1, 1]
        assert useragents.cache_info().currsize == 0
        assert server.post("/api/event", plausible("example.com", "https://example.com/")).status_code == 202
    assert useragents.cache_info().currsize == 1


def test_repeats_come_from_the_cache() -> None:
    user_agent = CHROME_WINDOWS + " cache-probe"
    first = describe(user_agent)
    hits = useragents.cache_info().hits
    assert describe(user_agent) is first
    assert useragents.cache_info().hits == hits + 1


def test_cache_key_is_bounded() -> None:
    """A header padded past MAX_UA_LENGTH shares the entry of its prefix."""
    padded = CHROME_WINDOWS + " " * 10 + "x" * (2 * useragents.MAX_UA_LENGTH)
    assert describe(padded) is describe(padded[: useragents.MAX_UA_LENGTH])


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=2000))
def test_never_raises_on_arbitrary_text(user_agent: str) -> None:
    agent = describe(user_agent)
    assert agent.device in {"desktop", "mobile", "tablet"}
    assert agent.bot in {None, EMPTY, PROBE, SPIDER, CRAWLER_LIST, AUTOMATION, APP_CLIENT, MALFORMED}


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(codec=None, categories=["Cs", "Cc", "Lo", "Po"]), max_size=300))
def test_never_raises_on_surrogates_and_control_characters(user_agent: str) -> None:
    describe(CHROME_WINDOWS + user_agent)
    describe(user_agent)


def test_never_logs_the_user_agent(caplog: pytest.LogCaptureFixture) -> None:
    secret = "Mozilla/5.0 (X11; Linux x86_64) canary-7f3a\ud800 Gecko/20100101"
    with caplog.at_level("DEBUG"):
        describe(secret)
    assert "canary-7f3a" not in caplog.text


# --------------------------------------------------------------------------- request headers


@pytest.mark.parametrize(
    ("headers", "signal"),
    [
        ({}, None),
        ({"sec-purpose": "prefetch"}, "prefetch"),
        ({"sec-purpose": "prefetch;prerender"}, "prerender"),
        ({"sec-purpose": "prefetch;anonymous-client-ip"}, "prefetch"),
        ({"purpose": "prefetch"}, "prefetch"),
        ({"purpose": "Prefetch"}, "prefetch"),
        ({"x-purpose": "preview"}, "prefetch"),
        ({"x-moz": "prefetch"}, "prefetch"),
        ({"sec-fetch-mode": "navigate", "sec-fetch-dest": "document"}, None),
        ({"purpose": "something-else"}, None),
    ],
)
def test_request_bot_signal(headers: dict[str, str], signal: str | None) -> None:
    assert request_bot_signal(headers) == signal


def test_request_bot_signal_reads_starlette_headers_case_insensitively() -> None:
    from starlette.datastructures import Headers

    assert request_bot_signal(Headers({"Sec-Purpose": "prefetch;prerender"})) == "prerender"

"""Sources are what owners read first: pin the names and the look-alikes that must not match."""

from __future__ import annotations

import ipaddress
import socket

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.provisional import domains

from collector.referrers import (
    DIRECT,
    IP_ADDRESS,
    host_address,
    ipv4_address,
    names_an_address,
    source_from_referrer,
    source_name,
)
from collector.urls import MAX_TAG, hostname_allowed, strip_www


def own(host: str) -> bool:
    return hostname_allowed(host, "example.com", ("example.dev",))


REFERRER_CASES: list[tuple[str, str]] = [
    # direct
    ("", DIRECT),
    ("   ", DIRECT),
    ("not a url", DIRECT),
    ("example.org/no-scheme", DIRECT),
    ("about:blank", DIRECT),
    ("javascript:alert(1)", DIRECT),
    ("ftp://files.example.org/", DIRECT),
    ("chrome-extension://abcdef/", DIRECT),
    ("http://", DIRECT),
    ("http://[::1/", DIRECT),
    ("https://exa mple.org/", DIRECT),
    ("https://example.org/" + "a" * 5000, DIRECT),
    # self-referrals
    ("https://example.com/pricing", DIRECT),
    ("https://www.example.com/", DIRECT),
    ("https://blog.example.com/post", DIRECT),
    ("https://EXAMPLE.com:443/", DIRECT),
    ("https://preview.example.dev/", DIRECT),
    # search engines
    ("https://www.google.com/", "Google"),
    ("https://google.com/search?q=x", "Google"),
    ("https://www.google.co.uk/", "Google"),
    ("https://www.google.com.br/url?q=x", "Google"),
    ("https://google.de/", "Google"),
    ("https://accounts.google.com/", "Google"),
    ("https://news.google.com/articles/x", "Google News"),
    ("https://mail.google.com/mail/u/0/", "Gmail"),
    ("https://gemini.google.com/app", "Gemini"),
    ("https://www.bing.com/search?q=x", "Bing"),
    ("https://cn.bing.com/", "Bing"),
    ("https://duckduckgo.com/", "DuckDuckGo"),
    ("https://html.duckduckgo.com/html/", "DuckDuckGo"),
    ("https://search.yahoo.com/", "Yahoo"),
    ("https://r.search.yahoo.com/_ylt=x", "Yahoo"),
    ("https://search.yahoo.co.jp/", "Yahoo"),
    ("https://yandex.ru/search/", "Yandex"),
    ("https://yandex.com.tr/", "Yandex"),
    ("https://ya.ru/", "Yandex"),
    ("https://www.baidu.com/link?url=x", "Baidu"),
    ("https://www.ecosia.org/search", "Ecosia"),
    ("https://search.brave.com/search?q=x", "Brave Search"),
    ("https://www.startpage.com/", "Startpage"),
    ("https://www.qwant.com/", "Qwant"),
    ("https://kagi.com/search", "Kagi"),
    # social and communities
    ("https://www.facebook.com/", "Facebook"),
    ("https://m.facebook.com/story.php", "Facebook"),
    ("https://l.facebook.com/l.php?u=x", "Facebook"),
    ("https://lm.facebook.com/l.php?u=x", "Facebook"),
    ("https://fb.me/abc", "Facebook"),
    ("https://l.instagram.com/?u=x", "Instagram"),
    ("https://www.threads.net/@x", "Threads"),
    ("https://twitter.com/someone", "Twitter"),
    ("https://mobile.twitter.com/", "Twitter"),
    ("https://x.com/someone/status/1", "Twitter"),
    ("https://t.co/abc", "Twitter"),
    ("https://www.linkedin.com/feed/", "LinkedIn"),
    ("https://lnkd.in/abc", "LinkedIn"),
    ("https://www.reddit.com/r/python/", "Reddit"),
    ("https://old.reddit.com/", "Reddit"),
    ("https://out.reddit.com/t3_x", "Reddit"),
    ("https://a.b.reddit.com/", "Reddit"),
    ("https://news.ycombinator.com/item?id=1", "Hacker News"),
    ("https://m.youtube.com/watch?v=x", "YouTube"),
    ("https://youtu.be/x", "YouTube"),
    ("https://github.com/owner/repo", "GitHub"),
    ("https://www.pinterest.co.uk/pin/1", "Pinterest"),
    ("https://pin.it/x", "Pinterest"),
    ("https://www.tiktok.com/@x", "TikTok"),
    ("https://bsky.app/profile/x", "Bluesky"),
    ("https://go.bsky.app/x", "Bluesky"),
    ("https://en.wikipedia.org/wiki/Analytics", "Wikipedia"),
    ("https://de.m.wikipedia.org/wiki/X", "Wikipedia"),
    ("https://chatgpt.com/", "ChatGPT"),
    ("https://chat.openai.com/c/x", "ChatGPT"),
    ("https://www.perplexity.ai/search", "Perplexity"),
    ("https://claude.ai/chat/x", "Claude"),
    ("https://outlook.live.com/mail/0/", "Outlook"),
    ("https://app.slack.com/client/x", "Slack"),
    ("https://slack-redir.net/link?url=x", "Slack"),
    ("https://discord.com/channels/1", "Discord"),
    ("https://t.me/channel", "Telegram"),
    ("https://web.whatsapp.com/", "WhatsApp"),
    # apps
    ("android-app://com.google.android.gm/", "Gmail"),
    ("android-app://com.google.android.googlequicksearchbox/", "Google"),
    ("android-app://com.Some.App/", "com.some.app"),
    ("android-app://", DIRECT),
    # unknown hosts and look-alikes
    ("https://www.somesite.org/a/b?c=d", "somesite.org"),
    ("https://Blog.SomeSite.org./x", "blog.somesite.org"),
    ("https://www.com/", "www.com"),
    ("http://192.168.1.10:8080/", "(IP address)"),
    ("http://[2001:db8::5]/x", "(IP address)"),
    ("http://[2001:db8::1]/", "(IP address)"),
    ("https://m.somesite.org/", "m.somesite.org"),
    ("https://notgoogle.com/", "notgoogle.com"),
    ("https://google.com.evil.net/", "google.com.evil.net"),
    ("https://google.evil.net/", "google.evil.net"),
    ("https://googleusercontent.com/", "googleusercontent.com"),
    ("https://myreddit.com/", "myreddit.com"),
    ("https://reddit.com.evil.net/", "reddit.com.evil.net"),
    ("https://ycombinator.com/", "ycombinator.com"),
    ("https://search.brave.com.evil.net/", "search.brave.com.evil.net"),
    ("https://brave.com/", "brave.com"),
    ("https://openai.com/", "openai.com"),
    ("https://mastodon.social/@someone", "mastodon.social"),
    ("https://someone.github.io/", "someone.github.io"),
    ("https://badexample.com/", "badexample.com"),
    ("https://example.com.evil.net/", "example.com.evil.net"),
]


@pytest.mark.parametrize(("referrer", "expected"), REFERRER_CASES)
def test_source_from_referrer(referrer: str, expected: str) -> None:
    assert source_from_referrer(referrer, own) == expected


# --- an address is never stored as a source, in any spelling ----------------------------------

# 198.51.100.61 (and .65, .66) as browsers and inet_aton also read them; each was stored verbatim.
ADDRESS_REFERRERS = [
    "android-app://198.51.100.61/",
    "android-app://[2001:db8::62]/",
    "android-app://3325256769",
    "http://3325256769/",
    "http://0xc6.0x33.0x64.0x42/",
    "http://0XC6336442/",
    "http://0xc633644a/",                   # hex ending in a letter: past the fast path
    "http://0306.063.0144.0102/",
    "http://198.51.25666/",
    "http://198.51.100.61./",
    "http://www.198.51.100.61/",            # was stored as "198.51.100.61", the www. stripped
    "http://3325256769./x",
    "http://127.1/",
    "http://0x/",                           # 0.0.0.0 to WHATWG
    "http://user:pw@3325256769:8080/",
    "http://[::ffff:198.51.100.61]/",
    "http://[::ffff:c633:643d]/",
    "https://１９８．５１．１００．６１/",     # full-width: a browser maps it to ASCII
    "https://198。51。100。61/",              # ideographic full stops separate labels too
    "https://¹⁹⁸.⁵¹.¹⁰⁰.⁶¹/",                 # so do superscript digits, to UTS #46
    # A host ending in a numeric label is no name, even where it is no valid address either.
    "http://1.2.3.4.5/",
    "http://999.1.1.1/",
    "http://example.com.123/",
    "http://example.0x1f/",
]


@pytest.mark.parametrize("referrer", ADDRESS_REFERRERS)
def test_every_spelling_of_an_address_is_folded_in_every_scheme(referrer: str) -> None:
    assert source_from_referrer(referrer, own) == IP_ADDRESS


@pytest.mark.parametrize(
    "referrer",
    ["http://%31%39%38.51.100.61/", "http://198.51.100.61%2e/", "android-app://%31%39%38.51.100.61/", "http://[fe80::1%25eth0]/"],
)
def test_percent_encoded_hosts_store_nothing(referrer: str) -> None:
    """Browsers send hosts decoded; an encoded one is not read at all, so it cannot store an address."""
    assert source_from_referrer(referrer, own) == DIRECT


@pytest.mark.parametrize(
    "host",
    ["123.example.org", "1e100.net", "3com.com", "0xide.io", "0x.example.org", "a.0x1g", "www.1.2.3.4.example", "xn--80ak6aa92e.com"],
)
def test_names_with_digits_or_0x_are_still_names(host: str) -> None:
    assert source_from_referrer(f"https://{host}/", own) == strip_www(host)
    assert host_address(host) is None


@pytest.mark.parametrize(
    "spelling, address",
    [
        ("3325256769", "198.51.100.65"),
        ("0xC6336442", "198.51.100.66"),
        ("0xc6.0x33.0x64.0x42", "198.51.100.66"),
        ("0306.063.0144.0102", "198.51.100.66"),
        ("198.51.25666", "198.51.100.66"),
        ("198.0x336442", "198.51.100.66"),
        ("127.1", "127.0.0.1"),
        ("0x", "0.0.0.0"),
        ("198.51.100.61.", "198.51.100.61"),
        ("[2001:db8::62]", "2001:db8::62"),
        ("::ffff:198.51.100.61", "::ffff:c633:643d"),
        ("１９８．５１．１００．６１", "198.51.100.61"),
    ],
)
def test_host_address_reads_every_spelling(spelling: str, address: str) -> None:
    assert host_address(spelling) == ipaddress.ip_address(address)


@pytest.mark.parametrize("text", ["1.2.3.4.5", "256.1.1.1", "1.16777216", "4294967296", "08", "0x1g", "1..2", "", ".", "1_0", "+1", " 1"])
def test_what_no_ipv4_parser_accepts(text: str) -> None:
    assert ipv4_address(text) is None


@settings(max_examples=500)
@given(st.text("0123456789abcdefxX.", min_size=1, max_size=24))
def test_the_ipv4_parser_agrees_with_inet_aton(text: str) -> None:
    """Where they differ by design, WHATWG is followed: a trailing dot, and "0x" alone (0)."""
    assume(not text.endswith(".") and "0x" not in {part.lower() for part in text.split(".")})
    try:
        expected: ipaddress.IPv4Address | None = ipaddress.IPv4Address(socket.inet_aton(text))
    except OSError:
        expected = None
    assert ipv4_address(text) == expected


RADIXES = st.lists(st.sampled_from(["decimal", "hex", "HEX", "octal"]), min_size=4, max_size=4)


def spell(address: ipaddress.IPv4Address, parts: int, radixes: list[str], trailing_dot: bool) -> str:
    """``address`` in ``parts`` parts (the last fills the remaining bytes), each in its radix."""
    value = int(address)
    numbers = [(value >> (24 - 8 * i)) & 0xFF for i in range(parts - 1)] + [value & ((1 << (8 * (5 - parts))) - 1)]
    forms = {"decimal": "{:d}", "hex": "0x{:x}", "HEX": "0X{:X}", "octal": "0{:o}"}
    return ".".join(forms[r].format(n) for r, n in zip(radixes, numbers)) + ("." if trailing_dot else "")


def ipv4_spellings(addresses: st.SearchStrategy[ipaddress.IPv4Address] | None = None) -> st.SearchStrategy[tuple[ipaddress.IPv4Address, str]]:
    """(address, one of its spellings): 1 to 4 parts, each decimal, hex or octal, maybe a trailing dot."""
    return st.builds(
        lambda a, n, r, dot: (a, spell(a, n, r, dot)),
        st.ip_addresses(v=4) if addresses is None else addresses,
        st.integers(1, 4),
        RADIXES,
        st.booleans(),
    )


REFERRER_FORMS = ["http://{}/", "https://{}:8443/path?q=1", "http://user:pw@{}/x", "HTTPS://{}", "android-app://{}/", "android-app://{}"]


@settings(max_examples=500)
@given(ipv4_spellings(), st.sampled_from(REFERRER_FORMS))
def test_any_spelling_of_any_ipv4_address_in_any_referrer_form_is_folded(spelled: tuple[ipaddress.IPv4Address, str], form: str) -> None:
    address, spelling = spelled
    assert host_address(spelling) == address
    assert source_from_referrer(form.format(spelling), own) == IP_ADDRESS


@settings(max_examples=300)
@given(st.ip_addresses(v=6), st.sampled_from(REFERRER_FORMS), st.booleans())
def test_any_ipv6_address_in_any_referrer_form_is_folded(address: ipaddress.IPv6Address, form: str, exploded: bool) -> None:
    text = address.exploded if exploded else str(address)
    assert source_from_referrer(form.format(f"[{text}]"), own) == IP_ADDRESS


@settings(max_examples=200)
@given(domains(), st.sampled_from(["https://{}/", "http://www.{}:8080/x", "android-app://{}/"]))
def test_real_domain_names_are_never_addresses(domain: str, form: str) -> None:
    assert not names_an_address(domain.lower()) and host_address(domain) is None
    assert source_from_referrer(form.format(domain), own) != IP_ADDRESS


def test_own_host_check_sees_the_normalized_host() -> None:
    seen: list[str] = []
    source_from_referrer("https://user@WWW.Example.com.:8443/x", lambda h: seen.append(h) or False)
    assert seen == ["www.example.com"]


SOURCE_NAME_CASES: list[tuple[str, str, str, str]] = [
    # (utm_source, ref, referrer, expected)
    ("", "", "", DIRECT),
    ("", "", "https://www.google.com/", "Google"),
    ("Newsletter", "", "https://www.google.com/", "Newsletter"),
    ("  Newsletter  ", "", "", "Newsletter"),
    ("", "producthunt", "https://www.google.com/", "producthunt"),
    ("newsletter", "producthunt", "", "newsletter"),
    ("   ", "producthunt", "", "producthunt"),
    ("\x00", "", "https://t.co/x", "Twitter"),
    ("google", "", "", "Google"),
    ("GOOGLE", "", "", "Google"),
    ("adwords", "", "", "Google"),
    ("fb", "", "", "Facebook"),
    ("Facebook", "", "", "Facebook"),
    ("ig", "", "", "Instagram"),
    ("x", "", "", "Twitter"),
    ("twitter", "", "", "Twitter"),
    ("hn", "", "", "Hacker News"),
    ("hackernews", "", "", "Hacker News"),
    ("Hacker News", "", "", "Hacker News"),
    ("", "HN", "", "Hacker News"),
    ("yt", "", "", "YouTube"),
    ("duckduckgo", "", "", "DuckDuckGo"),
    ("mastodon", "", "", "Mastodon"),
    ("MASTODON", "", "", "Mastodon"),
    ("chatgpt.com", "", "", "ChatGPT"),
    ("news.ycombinator.com", "", "", "Hacker News"),
    ("www.reddit.com", "", "", "Reddit"),
    ("google.co.uk", "", "", "Google"),
    ("somesite.org", "", "", "somesite.org"),
    ("Spring Sale 2025", "", "", "Spring Sale 2025"),
    ("", "", "https://www.example.com/", DIRECT),
    ("y" * 300, "", "", "y" * MAX_TAG),
]


@pytest.mark.parametrize(("utm_source", "ref", "referrer", "expected"), SOURCE_NAME_CASES)
def test_source_name(utm_source: str, ref: str, referrer: str, expected: str) -> None:
    assert source_name(utm_source, ref, referrer, own) == expected


def test_tags_do_not_consult_the_own_host_check() -> None:
    """A tagged link from the site's own newsletter page is still that campaign, not Direct."""
    assert source_name("example.com", "", "", own) == "example.com"


@pytest.mark.parametrize(
    "tag",
    ["198.51.100.61", "3325256769", "0xc6.0x33.0x64.0x42", "198.51.25666", "2001:db8::1", "[2001:db8::1]", "::ffff:198.51.100.61",
     "http://198.51.100.61/x", "android-app://198.51.100.61/", "198.51.100.61:8080/landing", "user@198.51.100.61", "127.0.0.1",
     "１９８．５１．１００．６１", "¹⁹⁸.⁵¹.¹⁰⁰.⁶¹", "www.198.51.100.61", "cdn.0xc6.0x33.0x64.0x42"],
)
def test_a_tag_that_spells_an_address_is_folded_too(tag: str) -> None:
    assert source_name(tag, "", "", own) == IP_ADDRESS
    assert source_name("", tag, "", own) == IP_ADDRESS


@pytest.mark.parametrize("tag", ["12345", "16777215", "0.1.2.3", "release-1.2", "v1.2.3.4", "Spring Sale 2025", "1.2.3.4.5", "999.1.1.1"])
def test_tags_that_are_no_address_a_visitor_sends_from_stay_as_they_are(tag: str) -> None:
    """Numbers below 2**24 spell an address in 0.0.0.0/8, from which nothing is sent: a numeric
    campaign or referral id (``ref=12345``) is kept. A tag that is not a valid address at all
    (unlike a host, a tag is free text) is kept too."""
    assert source_name("", tag, "", own) == tag


@settings(max_examples=200)
@given(ipv4_spellings(st.ip_addresses(v=4).filter(lambda a: a not in ipaddress.IPv4Network("0.0.0.0/8"))), st.sampled_from(["{}", "http://{}/", "{}:80/x"]), st.booleans())
def test_any_spelling_of_an_address_as_a_tag_is_folded(spelled: tuple[ipaddress.IPv4Address, str], form: str, as_ref: bool) -> None:
    tag = form.format(spelled[1])
    assert source_name("" if as_ref else tag, tag if as_ref else "", "", own) == IP_ADDRESS


# --- never raise -----------------------------------------------------------------------------

REF_ALPHABET = st.sampled_from(list("/?#&=%:@[].+ aZ09_-\\\x00\x1f\x85\u00e9\ud800"))
referrer_like = st.one_of(
    st.text(),
    st.builds(
        lambda s, rest: s + rest,
        st.sampled_from(["http://", "https://", "android-app://", "https://www.google.", "//"]),
        st.text(REF_ALPHABET),
    ),
)


def _assert_storable(text: str) -> None:
    text.encode("utf-8")
    assert text == text.strip()
    assert not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in text)


@settings(max_examples=500)
@given(referrer_like)
def test_source_from_referrer_never_raises(referrer: str) -> None:
    _assert_storable(source_from_referrer(referrer, own))


@settings(max_examples=300)
@given(st.text(), st.text(), referrer_like)
def test_source_name_never_raises(utm_source: str, ref: str, referrer: str) -> None:
    name = source_name(utm_source, ref, referrer, own)
    _assert_storable(name)
    assert len(name) <= max(MAX_TAG, 253)


spelled_referrer = st.builds(lambda spelled, form: form.format(spelled[1]), ipv4_spellings(), st.sampled_from(REFERRER_FORMS))


@settings(max_examples=300)
@given(st.one_of(spelled_referrer, referrer_like), st.text(), st.one_of(st.builds(lambda s: s[1], ipv4_spellings()), st.text()))
def test_no_stored_source_is_what_the_audit_reads_as_an_address(referrer: str, utm_source: str, ref: str) -> None:
    """The audit judges a stored source as a host (``host_address``): for a source stored now,
    that finds nothing but the harmless 0.0.0.0/8 a small numeric tag spells."""
    for source in (source_from_referrer(referrer, own), source_name("", ref, referrer, own), source_name(utm_source, "", "", own)):
        address = host_address(source)
        assert address is None or address in ipaddress.IPv4Network("0.0.0.0/8")

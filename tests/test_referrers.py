"""Sources are what owners read first: pin the names and the look-alikes that must not match."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collector.referrers import DIRECT, source_from_referrer, source_name
from collector.urls import MAX_TAG, hostname_allowed


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

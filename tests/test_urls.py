"""Page URLs arrive from anyone on the internet; these pin what gets counted and what is refused."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collector.urls import (
    MAX_PATH,
    MAX_TAG,
    MAX_URL,
    PageUrl,
    beacon_host,
    clean_text,
    hostname_allowed,
    normalize_hostname,
    parse_page_url,
    strip_www,
)


def page(
    hostname: str, path: str, source: str = "", medium: str = "", campaign: str = "", ref: str = ""
) -> PageUrl:
    return PageUrl(hostname, path, source, medium, campaign, ref)


PARSE_CASES: list[tuple[str, PageUrl | None]] = [
    # full URLs
    ("https://example.com", page("example.com", "/")),
    ("https://example.com/", page("example.com", "/")),
    ("https://example.com/about/", page("example.com", "/about")),
    ("https://example.com/about//", page("example.com", "/about")),
    ("HTTPS://Example.COM/About", page("example.com", "/About")),
    ("http://example.com:8080/a", page("example.com", "/a")),
    ("https://user:secret@example.com/a", page("example.com", "/a")),
    ("https://example.com./a", page("example.com", "/a")),
    ("https://blog.example.com/a/b/c", page("blog.example.com", "/a/b/c")),
    ("https://xn--bcher-kva.example/", page("xn--bcher-kva.example", "/")),
    ("https://Bücher.example/", page("bücher.example", "/")),
    ("http://[::1]:8000/x", page("::1", "/x")),
    ("http://127.0.0.1:8000/x", page("127.0.0.1", "/x")),
    ("  https://example.com/padded  ", page("example.com", "/padded")),
    ("https://example.com/a?x=1#frag", page("example.com", "/a")),
    ("https://example.com/a//b/./c/../d", page("example.com", "/a//b/./c/../d")),
    # percent-decoding and unsafe characters
    ("https://example.com/caf%C3%A9", page("example.com", "/café")),
    ("https://example.com/a%20b", page("example.com", "/a b")),
    ("https://example.com/a%2Fb%2F", page("example.com", "/a/b")),
    ("https://example.com/a%00b%1Fc%7Fd%C2%85e", page("example.com", "/abcde")),
    ("https://example.com/bad%FFbyte", page("example.com", "/bad\ufffdbyte")),
    ("https://example.com/%2525", page("example.com", "/%25")),
    ("https://example.com/a+b", page("example.com", "/a+b")),
    # campaign tags
    (
        "https://example.com/?utm_source=Newsletter&utm_medium=email&utm_campaign=spring+sale",
        page("example.com", "/", "Newsletter", "email", "spring sale"),
    ),
    ("https://example.com/?UTM_SOURCE=%20padded%20", page("example.com", "/", "padded")),
    ("https://example.com/?utm_source=&utm_source=second", page("example.com", "/", "second")),
    ("https://example.com/?utm_source=first&utm_source=second", page("example.com", "/", "first")),
    ("https://example.com/?ref=producthunt", page("example.com", "/", ref="producthunt")),
    ("https://example.com/?source=a&ref=b", page("example.com", "/", ref="a")),
    ("https://example.com/?ref=b&source=a", page("example.com", "/", ref="a")),
    ("https://example.com/?utm_source=" + "x" * 500, page("example.com", "/", "x" * MAX_TAG)),
    ("https://example.com/?utm_source=a%00%0Ab", page("example.com", "/", "ab")),
    ("https://example.com/?utm_source", page("example.com", "/")),
    # path-only (older Umami)
    ("/", page("", "/")),
    ("/about?x=1#y", page("", "/about")),
    ("/about/?utm_source=twitter", page("", "/about", "twitter")),
    ("//not-a-host/x/", page("", "//not-a-host/x")),
    ("/a?b#c?d", page("", "/a")),
    # refused
    ("", None),
    ("   ", None),
    ("about", None),
    ("?x=1", None),
    ("example.com/about", None),
    ("javascript:alert(1)", None),
    ("data:text/html,hi", None),
    ("file:///etc/passwd", None),
    ("ftp://example.com/a", None),
    ("http://", None),
    ("http:///path", None),
    ("https:example.com", None),
    ("http://[::1/", None),
    ("http://example.com:port/", None),
    ("http://exa mple.com/", None),
    ("http://example..com/", None),
    ("https://example.com/" + "a" * MAX_URL, None),
]


@pytest.mark.parametrize(("raw", "expected"), PARSE_CASES)
def test_parse_page_url(raw: str, expected: PageUrl | None) -> None:
    assert parse_page_url(raw) == expected


HASH_CASES: list[tuple[str, str]] = [
    ("https://example.com/#/about", "/#/about"),
    ("https://example.com/#/about/", "/#/about"),
    ("https://example.com/app/#/x", "/app#/x"),
    ("https://example.com/#/", "/"),
    ("https://example.com/#", "/"),
    ("https://example.com/", "/"),
    ("https://example.com/#/search?q=secret", "/#/search"),
    ("https://example.com/#top", "/#top"),
    ("https://example.com/#/caf%C3%A9", "/#/café"),
    ("/about#/x?y=1", "/about#/x"),
]


@pytest.mark.parametrize(("raw", "path"), HASH_CASES)
def test_hash_mode_keeps_the_route_but_not_its_query(raw: str, path: str) -> None:
    parsed = parse_page_url(raw, hash_mode=True)
    assert parsed is not None and parsed.path == path


def test_hash_mode_reads_tags_from_the_route_only_when_the_query_lacks_them() -> None:
    raw = "https://example.com/?utm_source=real#/x?utm_source=route&utm_medium=m"
    parsed = parse_page_url(raw, hash_mode=True)
    assert parsed == page("example.com", "/#/x", "real", "m")
    assert parse_page_url("https://example.com/#/x?utm_source=route") == page("example.com", "/")


def test_long_paths_are_capped_without_a_trailing_slash() -> None:
    parsed = parse_page_url("/" + "a" * (MAX_PATH - 2) + "/b")
    assert parsed is not None and parsed.path == "/" + "a" * (MAX_PATH - 2)


NORMALIZE_CASES: list[tuple[str, str]] = [
    ("example.com", "example.com"),
    ("Example.COM", "example.com"),
    (" example.com ", "example.com"),
    ("example.com.", "example.com"),
    ("example.com:8080", "example.com"),
    ("example.com:", "example.com"),
    ("user:pw@Example.com:1", "example.com"),
    ("[::1]:8080", "::1"),
    ("[2001:DB8::1]", "2001:db8::1"),
    ("2001:db8:0:0::1", "2001:db8::1"),
    ("[fe80::1%25eth0]", ""),
    ("[::1", ""),
    ("[::1]x", ""),
    ("", ""),
    (".", ""),
    (".example.com", ""),
    ("a..b", ""),
    ("example.com:80a", ""),
    ("exa mple.com", ""),
    ("exa/mple.com", ""),
    ("exa\x00mple.com", ""),
    ("a" * 254, ""),
    ("under_score.example", "under_score.example"),
]


@pytest.mark.parametrize(("raw", "expected"), NORMALIZE_CASES)
def test_normalize_hostname(raw: str, expected: str) -> None:
    assert normalize_hostname(raw) == expected


ALLOWED_CASES: list[tuple[str, str, tuple[str, ...], bool]] = [
    ("example.com", "example.com", (), True),
    ("EXAMPLE.com", "example.COM", (), True),
    ("www.example.com", "example.com", (), True),
    ("example.com", "www.example.com", (), True),
    ("blog.example.com", "example.com", (), True),
    ("a.b.example.com", "example.com", (), True),
    ("blog.example.com", "www.example.com", (), True),
    ("example.com:8080", "example.com", (), True),
    ("badexample.com", "example.com", (), False),
    ("example.com.evil.net", "example.com", (), False),
    ("example.co", "example.com", (), False),
    ("com", "example.com", (), False),
    ("evil.com", "www.com", (), False),
    ("www.com", "www.com", (), True),
    ("", "example.com", (), False),
    ("example.com", "", (), False),
    ("anything.net", "", ("",), False),
    ("preview.example.dev", "example.com", ("example.dev",), True),
    ("example.dev", "example.com", ("other.org", "www.example.dev"), True),
    ("example.dev.evil", "example.com", ("example.dev",), False),
]


@pytest.mark.parametrize(("hostname", "domain", "extra", "expected"), ALLOWED_CASES)
def test_hostname_allowed(
    hostname: str, domain: str, extra: tuple[str, ...], expected: bool
) -> None:
    assert hostname_allowed(hostname, domain, extra) is expected


def test_hostname_allowed_accepts_any_iterable_of_extra_domains() -> None:
    assert hostname_allowed("b.org", "a.org", (d for d in ["b.org"]))


@pytest.mark.parametrize(
    ("url", "claimed", "expected"),
    [
        ("https://example.com/a", "", "example.com"),  # Plausible's body names the host once
        ("https://example.com/a", "example.com", "example.com"),
        ("https://Example.COM.:8443/a", "example.com", "example.com"),
        ("https://www.example.com/a", "example.com", "www.example.com"),
        ("https://example.com/a", "www.example.com", "example.com"),
        ("https://[2001:db8::1]/a", "[2001:db8::1]", "2001:db8::1"),
        ("/a", "example.com", "example.com"),  # older Umami: a path and the host
        ("/a", "", ""),
        ("https://example.com/a", "evil.test", ""),  # the two disagree: neither is believed
        ("https://evil.test/a", "example.com", ""),
        ("https://blog.example.com/a", "example.com", ""),
        ("https://example.com/a", "exa mple.com", ""),  # not a host at all
        ("/a", "user@", ""),
    ],
)
def test_beacon_host(url: str, claimed: str, expected: str) -> None:
    page = parse_page_url(url)
    assert page is not None
    assert beacon_host(page.hostname, claimed) == expected


@given(st.text(max_size=300), st.text(max_size=300))
def test_beacon_host_never_raises_and_agrees_with_itself(url_host: str, claimed: str) -> None:
    host = normalize_hostname(url_host)
    assert beacon_host(host, claimed) in {"", host, normalize_hostname(claimed)}
    if host:
        assert beacon_host(host, host) == host


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("www.example.com", "example.com"),
        ("www.com", "www.com"),
        ("www", "www"),
        ("wwwx.com", "wwwx.com"),
    ],
)
def test_strip_www(raw: str, expected: str) -> None:
    assert strip_www(raw) == expected


def test_clean_text_strips_controls_and_whitespace_before_capping() -> None:
    assert clean_text("  a\x00b\x9fc  ", 10) == "abc"
    assert clean_text("abc def", 4) == "abc"
    assert clean_text("\ud800x", 10) == "x"


# --- never raise -----------------------------------------------------------------------------

URL_ALPHABET = st.sampled_from(list("/?#&=%:@[].+ aZ09_-\\\x00\x1f\x7f\x85\u00e9\ud800\ufffd"))
url_like = st.one_of(
    st.text(),
    st.text(URL_ALPHABET),
    st.builds(
        lambda s, rest: s + rest,
        st.sampled_from(["http://", "https://", "/", "//", "HTTP://["]),
        st.text(URL_ALPHABET),
    ),
)


def _assert_storable(text: str) -> None:
    text.encode("utf-8")
    assert not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in text)


@settings(max_examples=500)
@given(url_like, st.booleans())
def test_parse_page_url_never_raises_and_yields_a_storable_path(raw: str, hash_mode: bool) -> None:
    parsed = parse_page_url(raw, hash_mode=hash_mode)
    if parsed is None:
        return
    assert parsed.path.startswith("/")
    assert len(parsed.path) <= MAX_PATH
    assert parsed.path == "/" or not parsed.path.endswith("/")
    for value in parsed:
        _assert_storable(value)
    for tag in (parsed.utm_source, parsed.utm_medium, parsed.utm_campaign, parsed.ref):
        assert len(tag) <= MAX_TAG and tag == tag.strip()


@settings(max_examples=300)
@given(st.text(URL_ALPHABET) | st.text(), st.text(), st.lists(st.text(), max_size=3))
def test_hostname_functions_never_raise(raw: str, domain: str, extra: list[str]) -> None:
    host = normalize_hostname(raw)
    assert host == host.lower() or ":" in host
    _assert_storable(host)
    assert isinstance(hostname_allowed(raw, domain, extra), bool)


@given(st.text())
def test_a_host_is_always_allowed_on_its_own_site(raw: str) -> None:
    host = normalize_hostname(raw)
    if host:
        assert hostname_allowed(host, host, ())

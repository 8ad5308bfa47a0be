"""Hostile input: thousands of random and malformed beacons never get a 5xx, and a rejected
beacon never changes a counter."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, event, given, settings, strategies as st

from tests.conftest import Server
from tests.support import plausible, umami

FUZZ = settings(max_examples=800, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

# Any code point, lone surrogates included: JSON's \uXXXX escapes can carry them.
any_text = st.text(st.characters(exclude_categories=()), max_size=50)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=True) | any_text,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)
field_values = json_values | st.sampled_from(["", " ", "pageview", "engagement", "https://example.com/", "/", "example.com", "x" * 5000, "javascript:1", "\x00\x1f", "https://example.com/" + "a/" * 400])
plausible_keys = st.sampled_from(["n", "u", "d", "r", "p", "h", "i", "w", "sd", "e", "name", "url", "domain", "referrer", "props", "m", "interactive"])
umami_keys = st.sampled_from(["website", "hostname", "url", "referrer", "title", "screen", "language", "name", "data"])
headers = st.fixed_dictionaries(
    {},
    optional={
        "Content-Type": st.sampled_from(["text/plain", "application/json", "application/json; charset=utf-8", "text/html", "", "multipart/form-data"]),
        "User-Agent": st.text(max_size=300) | st.sampled_from(["", "Mozilla/5.0", "curl/8.0"]),
        "X-Forwarded-For": st.text(max_size=100) | st.sampled_from(["192.0.2.1", "2001:db8::1, 198.51.100.4", "[::1]:80", "1.2.3.4:5"]),
        "Accept-Language": st.text(max_size=80),
        "CF-IPCountry": st.text(max_size=5),
        "Sec-Purpose": st.sampled_from(["prefetch", "prerender", "x"]),
    },
).map(lambda h: {k: v.replace("\r", "").replace("\n", "").encode("latin-1", "ignore") for k, v in h.items()})


def plausible_bodies(domain: str) -> st.SearchStrategy[bytes]:
    mutated = st.dictionaries(plausible_keys, field_values, max_size=8).map(
        lambda extra: json.dumps({**json.loads(plausible(domain, "https://example.com/x")), **extra}).encode()
    )
    return mutated | st.binary(max_size=2000) | json_values.map(lambda v: json.dumps(v).encode())


def umami_bodies(website_id: str) -> st.SearchStrategy[bytes]:
    def build(extra: dict[str, Any], kind: Any) -> bytes:
        body = json.loads(umami(website_id, "/x"))
        body["payload"].update(extra)
        if kind is not None:
            body["type"] = kind
        return json.dumps(body).encode()

    mutated = st.builds(build, st.dictionaries(umami_keys, field_values, max_size=6), st.none() | st.sampled_from(["event", "identify", 3, ""]))
    return mutated | st.binary(max_size=2000) | json_values.map(lambda v: json.dumps({"type": "event", "payload": v}).encode())


def check(server: Server, path: str, body: bytes, sent_headers: dict[str, Any], peer: str) -> None:
    aggregator = server.state.collector.aggregator
    aggregator.drain()
    response = server.post(path, body, peer=peer, headers=sent_headers, content_type=sent_headers.get("Content-Type", b"text/plain"))
    assert response.status_code < 500, response.text
    event(f"status {response.status_code}")
    if response.status_code >= 400:
        assert aggregator.pending() == 0, f"a rejected beacon changed counters: {response.text}"
        assert response.json()["error"]
        assert response.json()["field"]
    else:
        assert server.call(server.state.flusher.flush), "an accepted beacon's counters could not be stored"


@FUZZ
@given(
    data=st.data(),
    sent_headers=headers,
    peer=st.sampled_from(["198.51.100.3", "127.0.0.1", "2001:db8::9", "garbage"]),
    path=st.sampled_from(["/api/event", "/api/p"]),
)
def test_plausible_endpoints_survive_anything(server: Server, data: st.DataObject, sent_headers: dict[str, Any], peer: str, path: str) -> None:
    """/api/p is the tracker's own route: Plausible's body, with the site named by ``id`` or ``d``."""
    site = data.draw(st.sampled_from([{"d": "example.com"}, {"id": server.site.website_id}, {"id": "nope"}, {}]))
    body = data.draw(plausible_bodies("example.com"))
    if path == "/api/p" and body.startswith(b"{"):
        try:
            decoded = json.loads(body)
        except ValueError:
            decoded = None
        if isinstance(decoded, dict):
            decoded.pop("d", None)
            body = json.dumps({**decoded, **site}).encode()
    check(server, path, body, sent_headers, peer)


@FUZZ
@given(data=st.data(), sent_headers=headers, peer=st.sampled_from(["198.51.100.3", "127.0.0.1", "::1"]))
def test_umami_endpoint_survives_anything(server: Server, data: st.DataObject, sent_headers: dict[str, Any], peer: str) -> None:
    check(server, "/api/send", data.draw(umami_bodies(server.site.website_id)), sent_headers, peer)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(size=st.integers(0, 200_000), path=st.sampled_from(["/api/event", "/api/send"]))
def test_any_size_gets_an_answer(server: Server, size: int, path: str) -> None:
    check(server, path, b"{" + b" " * size + b"}", {}, "198.51.100.3")

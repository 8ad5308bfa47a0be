"""How the server serves tracker.js and takes its beacons: paths, encodings, validators, caching,
and the size budget. The browser side is tests/test_tracker_browser.py."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path

import brotli
import httpx
import pytest

from collector import config, tracker
from collector.config import ConfigError, Settings
from tests.conftest import Server
from tests.support import Clock, add_site, make_settings

# DESIGN §6: at most this many bytes gzipped, as served (Plausible's npm tracker: 2,694; Umami's: 2,217).
BUDGET_GZIP = 1200


def get(server: Server, path: str, **headers: str) -> httpx.Response:
    return server.client.get(path, headers=headers)


def beacon(site_id: str, **fields: object) -> bytes:
    """A body as tracker.js sends it: Plausible's fields with the website id instead of a domain."""
    body = {"n": "pageview", "u": "https://example.com/pricing?utm_source=news", "r": "", "w": 1440, "h": False, "id": site_id}
    body.update(fields)
    return json.dumps(body).encode()


@pytest.fixture
def custom(tmp_path: Path, geo_db: Path, clock: Clock) -> Iterator[Server]:
    settings = make_settings(tmp_path / "custom", geo_db, script_path="/static/v2/app.js", collect_path="/static/v2/e")
    srv = Server(settings, clock, add_site(settings, "example.com"))
    with srv.client:
        yield srv


def test_default_paths_serve_the_script_and_take_its_beacons(server: Server) -> None:
    assert (server.settings.script_path, server.settings.collect_path) == ("/js/site.js", "/api/p")
    response = get(server, "/js/site.js", **{"Accept-Encoding": "identity"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/javascript; charset=utf-8"
    assert b'"/api/p"' in response.content
    answer = server.post("/api/p", beacon(server.site.website_id))
    assert (answer.status_code, answer.text) == (202, "ok")
    engaged = server.post("/api/p", beacon(server.site.website_id, n="engagement", e=1500, sd=80))
    assert engaged.status_code == 202 and "x-crumbless-dropped" not in engaged.headers
    event = server.post("/api/p", beacon(server.site.website_id, n="Signup", p={"plan": "pro"}))
    assert event.status_code == 202
    rows = server.rows()
    day = next(day for day, dim, _ in rows if dim == "total")
    assert rows[(day, "total", "")]["pageviews"] == 1 and rows[(day, "total", "")]["events"] == 1
    assert rows[(day, "page", "/pricing")]["engaged_ms"] == 1500
    assert rows[(day, "utm_source", "news")]["visits"] == 1
    assert rows[(day, "event_prop", "Signup\x1fplan\x1fpro")]["events"] == 1
    # The old fixed path is gone: one URL per script, the one the snippet names.
    assert "javascript" not in get(server, "/script.js").headers.get("content-type", "")


def test_the_collect_path_checks_its_beacons_like_the_other_endpoints(server: Server) -> None:
    assert server.client.options("/api/p").status_code == 204
    missing = server.post("/api/p", json.dumps({"n": "pageview", "u": "https://example.com/"}).encode())
    assert (missing.status_code, missing.json()["field"]) == (400, "d")
    unknown = server.post("/api/p", beacon("no-such-site"))
    assert (unknown.status_code, unknown.json()["field"]) == (400, "website")
    elsewhere = server.post("/api/p", beacon(server.site.website_id, u="https://evil.example.net/"))
    assert elsewhere.headers["x-crumbless-dropped"] == "hostname"
    # Plausible's own script keeps naming the domain on /api/event.
    plausible = server.post("/api/event", json.dumps({"n": "pageview", "u": "https://example.com/", "d": "example.com"}).encode())
    assert plausible.status_code == 202


def test_paths_are_configurable_and_the_script_learns_its_collect_path(custom: Server) -> None:
    response = get(custom, "/static/v2/app.js", **{"Accept-Encoding": "identity"})
    assert response.status_code == 200 and b'"/static/v2/e"' in response.content
    assert b"/api/p" not in response.content
    assert "javascript" not in get(custom, "/js/site.js").headers.get("content-type", "")
    assert custom.post("/static/v2/e", beacon(custom.site.website_id)).status_code == 202
    assert custom.post("/api/p", beacon(custom.site.website_id)).status_code != 202


@pytest.mark.parametrize(
    ("accept", "encoding"),
    [
        ("gzip, deflate, br, zstd", "br"),
        ("gzip, deflate", "gzip"),
        ("br;q=0, gzip;q=0.8", "gzip"),
        ("*", "br"),
        ("*;q=0, gzip", "gzip"),
        ("identity", ""),
        ("gzip;q=0, br;q=0", ""),
        ("", ""),
    ],
)
def test_each_client_gets_an_encoding_it_accepts(server: Server, accept: str, encoding: str) -> None:
    plain = get(server, "/js/site.js", **{"Accept-Encoding": "identity"}).content
    response = server.client.get("/js/site.js", headers={"Accept-Encoding": accept})
    assert response.headers.get("content-encoding", "") == encoding
    assert response.headers["vary"] == "Accept-Encoding"
    assert response.content == plain  # httpx undoes gzip and brotli: the same script either way


def test_served_bytes_are_the_compressed_script() -> None:
    script = tracker.load("/api/p")
    assert script is not None
    assert gzip.decompress(script.gzip.body) == script.identity.body
    assert brotli.decompress(script.br.body) == script.identity.body
    assert len({script.identity.etag, script.gzip.etag, script.br.etag}) == 3


def test_validators_and_caching(server: Server) -> None:
    first = get(server, "/js/site.js", **{"Accept-Encoding": "gzip"})
    etag = first.headers["etag"]
    assert etag.startswith('"') and etag.endswith('-gz"')
    assert first.headers["cache-control"] == "public, max-age=3600, stale-while-revalidate=86400"
    for validator in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        again = get(server, "/js/site.js", **{"Accept-Encoding": "gzip", "If-None-Match": validator})
        assert (again.status_code, again.content) == (304, b"")
        assert again.headers["etag"] == etag and again.headers["cache-control"] == first.headers["cache-control"]
    # A copy in another encoding is another representation: it is sent again, not confirmed.
    other = get(server, "/js/site.js", **{"Accept-Encoding": "br", "If-None-Match": etag})
    assert other.status_code == 200 and other.headers["content-encoding"] == "br"


def test_headers_never_set_a_cookie_and_head_has_no_body(server: Server) -> None:
    responses = [
        get(server, "/js/site.js", **{"Accept-Encoding": accept}) for accept in ("br", "gzip", "identity")
    ]
    responses.append(get(server, "/js/site.js", **{"If-None-Match": "*"}))
    responses.append(server.post("/api/p", beacon(server.site.website_id)))
    for response in responses:
        assert "set-cookie" not in response.headers
    script = responses[0]
    assert script.headers["x-content-type-options"] == "nosniff"
    assert script.headers["access-control-allow-origin"] == "*"
    assert script.headers["cross-origin-resource-policy"] == "cross-origin"
    head = server.client.head("/js/site.js", headers={"Accept-Encoding": "gzip"})
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == str(len(tracker.load("/api/p").gzip.body))  # type: ignore[union-attr]


def sizes() -> str:
    script = tracker.load("/api/p")
    assert script is not None
    return (
        f"tracker.js: source {script.source_bytes} B, minified {len(script.identity.body)} B, "
        f"gzip {len(script.gzip.body)} B, brotli {len(script.br.body)} B"
    )


def test_the_script_is_within_its_budget(server: Server) -> None:
    """At most 1,200 bytes gzipped as served, with the default paths; brotli is smaller still."""
    print(sizes())
    served = {
        encoding: int(get(server, "/js/site.js", **{"Accept-Encoding": encoding}).headers["content-length"])
        for encoding in ("gzip", "br")
    }
    assert served["gzip"] <= BUDGET_GZIP, sizes()
    assert served["br"] <= served["gzip"], sizes()


def test_a_tracker_source_the_server_cannot_use_is_an_error_at_start() -> None:
    with pytest.raises(tracker.TrackerSourceError, match="COLLECT_PATH"):
        tracker.with_collect_path("(function () {})();", "/api/p")
    with pytest.raises(tracker.TrackerSourceError, match="not valid JavaScript"):
        tracker.minify("function (")
    filled = tracker.with_collect_path('var COLLECT_PATH = "/api/p";', '/a"b')
    assert filled == 'var COLLECT_PATH = "/a\\"b";'


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"script_path": "js/site.js"}, "CRUMBLESS_SCRIPT_PATH must be a path"),
        ({"script_path": "/js/site.js?v=1"}, "CRUMBLESS_SCRIPT_PATH must be a path"),
        ({"collect_path": "/api//p"}, "CRUMBLESS_COLLECT_PATH must be a path"),
        ({"collect_path": "/api/event"}, "CRUMBLESS_COLLECT_PATH must not be /api/event"),
        ({"script_path": "/healthz"}, "CRUMBLESS_SCRIPT_PATH must not be /healthz"),
        ({"script_path": "/x", "collect_path": "/x"}, "CRUMBLESS_COLLECT_PATH must not be /x"),
    ],
)
def test_bad_paths_are_configuration_errors(tmp_path: Path, geo_db: Path, overrides: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("?", r"\?")):
        make_settings(tmp_path, geo_db, **overrides)


def test_defaults_are_neutral_names() -> None:
    """Ad-block lists target analytics scripts by name; the defaults must not be one of them."""
    settings: Settings = config.load({})
    for path in (settings.script_path, settings.collect_path):
        for word in ("analytics", "track", "stats", "plausible", "umami", "collect", "crumbless", "beacon", "pixel", "event"):
            assert word not in path.lower()

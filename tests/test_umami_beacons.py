"""Umami's beacons beyond the page view: performance reports, nested event data, and a body whose two
statements of its host disagree, over HTTP against the real app."""

from __future__ import annotations

import json
from typing import Any

import pytest

from collector.beacons import parse_umami
from tests.conftest import Server
from tests.support import umami


def body(kind: str, **payload: Any) -> bytes:
    return json.dumps({"type": kind, "payload": payload}).encode()


def test_performance_reports_are_answered_as_umami_does_and_ignored(server: Server) -> None:
    report = body(
        "performance",
        website=server.site.website_id,
        hostname="example.com",
        url="https://example.com/a",
        screen="1280x800",
        language="en-US",
        title="A",
        ttfb=112.3,
        fcp=340.5,
        lcp=512,
        cls=0.01,
        inp=48,
        duration=10_004,
    )
    response = server.post("/api/send", report, content_type="application/json")
    assert response.status_code == 200
    assert response.json() == {"ok": True}
    assert response.headers["X-Crumbless-Dropped"] == "ignored"
    assert server.state.collector.aggregator.pending() == 0


def test_nested_event_data_keeps_the_event(server: Server) -> None:
    data = {"cart": {"items": 2, "coupon": None}, "tags": ["a", "b"], "rows": [{"x": 1}], "plan": "pro"}
    response = server.post(
        "/api/send", umami(server.site.website_id, "https://example.com/shop", name="Nested", data=data)
    )
    assert response.status_code == 200
    rows = server.rows()
    day = next(iter(rows))[0]
    assert rows[(day, "event", "Nested")]["events"] == 1
    props = {value for (_, dim, value) in rows if dim == "event_prop"}
    assert props == {"Nested\x1fcart.items\x1f2", "Nested\x1ftags\x1fa, b", "Nested\x1fplan\x1fpro"}


@pytest.mark.parametrize(
    ("data", "props"),
    [
        ({"a": {"b": {"c": {"d": 1}}}}, (("a.b.c.d", "1"),)),
        ({"a": {"b": {"c": {"d": {"e": 1}}}}}, ()),  # deeper than MAX_PROP_DEPTH
        ({"list": [1, 2.5, True, "x"]}, (("list", "1, 2.5, true, x"),)),
        ({"list": []}, ()),
        ({"list": [1, None]}, ()),
        ({"a.b": 1, "a": {"b": "x"}}, (("a.b", "x"),)),  # the same name twice: one wins, no error
        (
            {f"k{i}": {"x": i, "y": i} for i in range(20)},
            tuple(sorted((f"k{i}.{c}", str(i)) for i in range(20) for c in "xy"))[:30],
        ),
    ],
)
def test_nested_event_data_is_flattened(data: dict[str, Any], props: tuple[tuple[str, str], ...]) -> None:
    beacon = parse_umami(body("event", website="w", url="/", name="E", data=data))
    assert beacon is not None and beacon.props == props


def test_a_body_whose_hostname_and_url_disagree_is_dropped(server: Server) -> None:
    """The check lives in ``ingest.page_of`` (``urls.beacon_host``)."""
    response = server.post("/api/send", umami(server.site.website_id, "https://example.com/a", hostname="evil.test"))
    assert response.status_code == 200
    assert response.headers.get("X-Crumbless-Dropped") == "hostname", "ingest.page_of must use urls.beacon_host"
    rows = server.rows()
    assert {dim for (_, dim, _) in rows} == {"dropped"}
    assert [value for (_, dim, value) in rows] == ["hostname"]


def test_umami_3s_headers_pass_the_cors_preflight(server: Server) -> None:
    response = server.client.options(
        "/api/send",
        headers={
            "Origin": "https://example.com",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type,x-umami-website-id,x-umami-hostname,x-umami-cache",
        },
    )
    allowed = {name.strip().lower() for name in response.headers["Access-Control-Allow-Headers"].split(",")}
    assert {"content-type", "x-umami-website-id", "x-umami-hostname", "x-umami-cache"} <= allowed

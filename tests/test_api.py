"""The stats API: real responses validated against the OpenAPI document, errors, and agreement.

Agreement is the promise that matters: for the same seeded beacons the dashboard page, its CSV,
the API and ``crumbless stats --json`` must show the same numbers, because they all call
``dashboard.stats``.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from collector.cli import main as cli_main
from collector.config import OPTIONS
from dashboard.api import openapi_document
from tests.conftest import Server
from tests.dashboard_support import Dash, World, make_world
from tests.support import CHROME, FIREFOX, IPHONE, umami

DOC = json.loads((Path(__file__).resolve().parent.parent / "dashboard" / "openapi.json").read_text())
REGISTRY = Registry().with_resource("urn:crumbless:openapi", Resource.from_contents(DOC, default_specification=DRAFT202012))


def validate(body: Any, schema: str) -> None:
    Draft202012Validator({"$ref": f"urn:crumbless:openapi#/components/schemas/{schema}"}, registry=REGISTRY).validate(body)


def response_schema(path: str, status: int) -> str:
    """The schema the document promises for ``path`` (a template) and ``status``."""
    content = DOC["paths"][path]["get"]["responses"][str(status)]["content"]["application/json"]["schema"]
    return str(content["$ref"]).rsplit("/", 1)[1]


def send(server: Server, path: str, peer: str, ua: str = FIREFOX, **payload: Any) -> None:
    assert server.post("/api/send", umami(server.site.website_id, f"https://example.com{path}", **payload), peer=peer, user_agent=ua).status_code == 200


@pytest.fixture
def world(server: Server) -> Iterator[World]:
    # Three visitors with known answers: 3 visitors, 3 visits, 4 pageviews, 1 custom event.
    send(server, "/", "198.51.100.20", referrer="https://www.google.com/")
    server.clock.advance(30)
    send(server, "/pricing", "198.51.100.20")
    send(server, "/", "192.0.2.5", ua=CHROME)
    send(server, "/docs?utm_source=newsletter&utm_campaign=june", "203.0.113.7", ua=IPHONE)
    send(server, "/docs", "203.0.113.7", ua=IPHONE, name="Signup", data={"plan": "pro"})
    server.flush()
    yield make_world(server)


@pytest.fixture
def api(world: World) -> Iterator[tuple[Dash, dict[str, str]]]:
    yield world.anonymous(), {"Authorization": f"Bearer {world.token(world.admin)}"}


def get_json(api: tuple[Dash, dict[str, str]], path: str, status: int = 200, schema: str | None = None) -> Any:
    client, auth = api
    response = client.get(path, headers=auth)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    if schema:
        validate(body, schema)
    return body


def test_the_openapi_file_enumerates_the_models_lists() -> None:
    """The server fills the enumerations from ``collector.model``; the file a reader opens must agree."""
    assert openapi_document() == DOC


def test_the_openapi_document_is_served_and_valid(world: World) -> None:
    served = world.anonymous().get("/api/v1/openapi.json")
    assert served.status_code == 200 and served.json() == DOC
    assert DOC["openapi"].startswith("3.1")
    for name, schema in DOC["components"]["schemas"].items():
        Draft202012Validator.check_schema(schema)


def test_every_endpoint_answers_what_the_document_says(world: World, api: tuple[Dash, dict[str, str]]) -> None:
    site = world.site.website_id
    paths = {
        "/api/v1/sites": "/api/v1/sites",
        f"/api/v1/sites/{site}/aggregate?period=7d": "/api/v1/sites/{website_id}/aggregate",
        f"/api/v1/sites/{site}/timeseries?period=today": "/api/v1/sites/{website_id}/timeseries",
        f"/api/v1/sites/{site}/timeseries?period=30d": "/api/v1/sites/{website_id}/timeseries",
        f"/api/v1/sites/{site}/realtime": "/api/v1/sites/{website_id}/realtime",
    }
    for dim in DOC["components"]["schemas"]["Breakdown"]["properties"]["dimension"]["enum"]:
        paths[f"/api/v1/sites/{site}/breakdown/{dim}?period=today&limit=5"] = "/api/v1/sites/{website_id}/breakdown/{dimension}"
    for url, template in paths.items():
        get_json(api, url, schema=response_schema(template, 200))
    hourly = get_json(api, f"/api/v1/sites/{site}/timeseries?period=today")
    assert hourly["granularity"] == "hour" and len(hourly["points"]) == 24
    assert sum(p["pageviews"] for p in hourly["points"]) == 4
    daily = get_json(api, f"/api/v1/sites/{site}/timeseries?period=7d")
    assert daily["granularity"] == "day" and len(daily["points"]) == 7


@pytest.mark.parametrize(
    ("path", "status", "needle"),
    [
        ("/aggregate?period=fortnight", 400, "period must be one of"),
        ("/aggregate?period=custom&from=2026-06-10", 400, "needs to"),
        ("/aggregate?period=custom&from=2026-06-10&to=2026-06-01", 400, "from must not be after to"),
        ("/aggregate?period=", 400, "period must be one of"),
        ("/aggregate?period=7d&to=", 400, "to must be a date"),  # malformed beside a preset: refused, not ignored
        ("/timeseries?period=custom&from=20260601&to=2026-06-10", 400, "from must be a date"),  # RFC 3339 only
        ("/filtered?period=custom&from=2026-W23-1&to=2026-06-10", 400, "from must be a date"),
        ("/breakdown/page?page=1000001", 400, "page must be"),
        ("/breakdown/favourite_colour", 400, "unknown dimension"),
        ("/breakdown/page?limit=0", 400, "limit must be"),
        ("/breakdown/page?limit=5000", 400, "limit must be"),
        ("/breakdown/page?page=-1", 400, "page must be"),
    ],
)
def test_bad_parameters_are_named(world: World, api: tuple[Dash, dict[str, str]], path: str, status: int, needle: str) -> None:
    body = get_json(api, f"/api/v1/sites/{world.site.website_id}{path}", status, "Error")
    assert needle in body["error"]


def test_tokens_and_ownership(world: World, api: tuple[Dash, dict[str, str]]) -> None:
    anonymous = world.anonymous()
    for headers in ({}, {"Authorization": "Bearer not-a-token"}, {"Authorization": "Basic YWRtaW46YWRtaW4="}):
        response = anonymous.get("/api/v1/sites", headers=headers)
        assert response.status_code == 401 and "WWW-Authenticate" in response.headers
        validate(response.json(), "Error")
    viewer_api = (anonymous, {"Authorization": f"Bearer {world.token(world.viewer)}"})
    sites = get_json(viewer_api, "/api/v1/sites", schema="SiteList")
    assert [s["domain"] for s in sites["sites"]] == ["example.com"]
    for suffix in ["/aggregate", "/timeseries", "/breakdown/page", "/realtime"]:
        body = get_json(viewer_api, f"/api/v1/sites/{world.other.website_id}{suffix}", 404, "Error")
        assert "no site" in body["error"]
    assert len(get_json(api, "/api/v1/sites")["sites"]) == 2  # the admin's token reads both
    get_json(api, "/api/v1/nothing-here", 404, "Error")


def test_breakdown_pages_and_searches(world: World, api: tuple[Dash, dict[str, str]]) -> None:
    base = f"/api/v1/sites/{world.site.website_id}/breakdown/page?period=today"
    first = get_json(api, base + "&limit=2")
    second = get_json(api, base + "&limit=2&page=2")
    beyond = get_json(api, base + "&limit=2&page=9")
    assert first["total"] == second["total"] == beyond["total"] == 3
    assert [r["value"] for r in first["results"]] == ["/", "/docs"] and [r["value"] for r in second["results"]] == ["/pricing"]
    assert beyond["results"] == []
    assert [r["value"] for r in get_json(api, base + "&search=PRIC")["results"]] == ["/pricing"]


def _cli_stats(server: Server, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, day: str) -> dict[str, Any]:
    for option in OPTIONS:
        monkeypatch.delenv(option.name, raising=False)
    monkeypatch.setenv("CRUMBLESS_DATA_DIR", str(server.settings.data_dir))
    capsys.readouterr()
    assert cli_main(["stats", server.site.website_id, "--from", day, "--to", day, "--json", "--limit", "100"]) == 0
    return json.loads(capsys.readouterr().out)


def _page_number(html: str, key: str) -> str:
    found = re.search(rf'id="metric-{key}">([^<]+)<', html)
    assert found, key
    return found.group(1)


def test_page_csv_api_and_cli_agree(
    world: World, api: tuple[Dash, dict[str, str]], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    site = world.site.website_id
    day = "2026-06-10"
    query = f"period=custom&from={day}&to={day}"
    cli = _cli_stats(world.server, capsys, monkeypatch, day)
    assert cli["totals"]["visitors"] == 3 and cli["totals"]["pageviews"] == 4 and cli["totals"]["visits"] == 3 and cli["totals"]["events"] == 1

    aggregate = get_json(api, f"/api/v1/sites/{site}/aggregate?{query}")
    assert aggregate["totals"] == cli["totals"]

    html = world.admin.get(f"/sites/{site}?{query}").text
    assert _page_number(html, "visitors") == "3" and _page_number(html, "visits") == "3" and _page_number(html, "pageviews") == "4"
    assert _page_number(html, "views_per_visit") == f"{cli['totals']['views_per_visit']:g}"
    assert _page_number(html, "bounce_rate") == f"{cli['totals']['bounce_rate']:g}%"

    for dim, rows in cli["top"].items():
        api_rows = get_json(api, f"/api/v1/sites/{site}/breakdown/{dim}?{query}&limit=100")["results"]
        assert api_rows == rows, dim
        exported = list(csv.DictReader(io.StringIO(world.admin.get(f"/sites/{site}/export/{dim}.csv?{query}").text)))
        assert [{k: str(v) for k, v in r.items()} for r in rows] == [{k: v for k, v in r.items() if v != ""} for r in exported], dim
        listed = world.admin.get(f"/sites/{site}/list/{dim}?{query}").text
        assert listed.count('<td class="label">') == len(rows), dim
    assert [r["value"] for r in cli["top"]["utm_source"]] == ["newsletter"]
    assert cli["top"]["event_prop"][0]["prop_value"] == "pro"

    series = get_json(api, f"/api/v1/sites/{site}/timeseries?{query}")
    exported_series = list(csv.DictReader(io.StringIO(world.admin.get(f"/sites/{site}/export/timeseries.csv?{query}").text)))
    assert [int(r["pageviews"]) for r in exported_series] == [p["pageviews"] for p in series["points"]]
    assert sum(p["visits"] for p in series["points"]) == cli["totals"]["visits"]


def test_realtime_is_in_the_api_too(world: World, api: tuple[Dash, dict[str, str]]) -> None:
    body = get_json(api, f"/api/v1/sites/{world.site.website_id}/realtime", schema="Realtime")
    assert body["realtime"]["visitors"] == 3 and body["realtime"]["pageviews"] == 4


def test_api_answers_carry_no_cookie(world: World, api: tuple[Dash, dict[str, str]]) -> None:
    client, auth = api
    response = client.get("/api/v1/sites", headers=auth)
    assert "set-cookie" not in response.headers and response.headers["x-content-type-options"] == "nosniff"

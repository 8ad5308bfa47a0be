"""Annotations: the schema-6 migration, the API, the settings page's form and the overview chart.

An admin's dated note on a site is listed by the API in the stats range (any reader), added and
deleted only with an admin's token or session, refused with a 4xx naming the field when too long
or not one line, escaped wherever it is shown, and drawn over its day on the overview chart and in
the chart's table — but not on a share link. The browser test looks at the marker in a real
Chromium against a real ``crumbless serve``.
"""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from collector.annotations import DATE_PATTERN, MAX_TEXT, TEXT_PATTERN
from collector.config import for_database
from collector.localtime import day_number
from collector.store import opened_store
from collector.store.migrations import LATEST, MIGRATIONS
from collector.store.sqlite import sql_statements
from tests.browser import DESKTOP_CHROME, browser  # noqa: F401  (the fixture)
from tests.conftest import Server
from tests.dashboard_support import Dash, World, create_user, make_world, seed_history
from tests.live_server import REPO, LiveServer, add_site, crumbless_env, run_cli

DOC = json.loads((Path(__file__).resolve().parent.parent / "dashboard" / "openapi.json").read_text())
REGISTRY = Registry().with_resource(
    "urn:crumbless:openapi", Resource.from_contents(DOC, default_specification=DRAFT202012)
)
TODAY = date(2026, 6, 10)  # the in-process server's clock (tests/conftest.py)
ARTIFACTS = REPO / "test-artifacts"
HOSTILE = '<script>alert("x")</script> & <b>bold</b>'


def validate(body: Any, schema: str) -> None:
    Draft202012Validator({"$ref": f"urn:crumbless:openapi#/components/schemas/{schema}"}, registry=REGISTRY).validate(
        body
    )


# ── the migration ──────────────────────────────────────────────────────────────────────────────


def test_a_schema_5_database_gains_locales_and_annotations(tmp_path: Path) -> None:
    path = tmp_path / "schema5.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
        for version, sql in MIGRATIONS:
            if version <= 5:
                for statement in sql_statements(sql):
                    db.execute(statement)
                db.execute("INSERT INTO schema_version (version) VALUES (?)", (version,))
        db.execute(
            "INSERT INTO users (name, password_hash, role, created_at, session_key) "
            "VALUES ('ann', 'hash', 'admin', '2026-01-01T00:00:00+00:00', 'key')"
        )
        db.execute(
            "INSERT INTO sites (website_id, domain, name, timezone, created_at) "
            "VALUES ('w', 'example.com', 'Example', 'UTC', '2026-01-01T00:00:00+00:00')"
        )

    async def work() -> tuple[Any, ...]:
        async with opened_store(for_database(path)) as store:
            ann = await store.user_by_name("ann")
            assert ann is not None
            note = await store.add_annotation(1, day_number(TODAY), "newsletter sent")
            return ann.locale, ann.session_key, [n.text for n in await store.annotations(1, 0, 10**6)], note.id

    assert asyncio.run(work()) == (None, "key", ["newsletter sent"], 1)
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT max(version) FROM schema_version").fetchone() == (LATEST,)


def test_the_openapi_document_carries_the_rules_the_server_checks() -> None:
    text = DOC["components"]["schemas"]["AnnotationInput"]["properties"]["text"]
    day = DOC["components"]["schemas"]["AnnotationInput"]["properties"]["date"]
    assert (text["pattern"], text["maxLength"], day["pattern"]) == (TEXT_PATTERN, MAX_TEXT, DATE_PATTERN)


# ── the API ────────────────────────────────────────────────────────────────────────────────────


@pytest.fixture
def world(server: Server) -> Iterator[World]:
    yield make_world(server)


def _api(world: World, who: Dash) -> tuple[Dash, dict[str, str]]:
    return world.anonymous(), {"Authorization": f"Bearer {world.token(who)}"}


def _post(api: tuple[Dash, dict[str, str]], website_id: str, body: Any, raw: bytes | None = None) -> httpx.Response:
    client, auth = api
    content = raw if raw is not None else json.dumps(body).encode()
    return client.request(
        "POST",
        f"/api/v1/sites/{website_id}/annotations",
        content=content,
        headers={**auth, "Content-Type": "application/json"},
    )


def _list(api: tuple[Dash, dict[str, str]], website_id: str, query: str = "") -> httpx.Response:
    client, auth = api
    return client.get(f"/api/v1/sites/{website_id}/annotations{query}", headers=auth)


def test_admins_add_and_delete_and_every_reader_lists_in_the_range(world: World) -> None:
    admin, viewer = _api(world, world.admin), _api(world, world.viewer)
    site = world.site.website_id
    added = _post(admin, site, {"date": "2026-06-08", "text": "  newsletter sent \n"})
    assert added.status_code == 201, added.text
    validate(added.json(), "AnnotationCreated")
    note = added.json()["annotation"]
    assert (note["date"], note["text"]) == ("2026-06-08", "newsletter sent")
    assert _post(admin, site, {"date": "2026-04-01", "text": HOSTILE}).status_code == 201

    week = _list(viewer, site, "?period=7d")
    assert week.status_code == 200
    validate(week.json(), "AnnotationList")
    assert [(n["date"], n["text"]) for n in week.json()["annotations"]] == [("2026-06-08", "newsletter sent")]
    year = _list(viewer, site, "?period=custom&from=2026-01-01&to=2026-12-31").json()["annotations"]
    assert [n["text"] for n in year] == [HOSTILE, "newsletter sent"]
    assert _list(viewer, site, "?period=yesterday").json()["annotations"] == []

    refused = _post(viewer, site, {"date": "2026-06-08", "text": "a viewer's"})
    assert refused.status_code == 403 and "admin" in refused.json()["error"]
    client, auth = viewer
    assert client.request("DELETE", f"/api/v1/sites/{site}/annotations/{note['id']}", headers=auth).status_code == 403
    assert _post(viewer, world.other.website_id, {"date": "2026-06-08", "text": "x"}).status_code == 404

    client, auth = admin
    assert (
        client.request(
            "DELETE", f"/api/v1/sites/{world.other.website_id}/annotations/{note['id']}", headers=auth
        ).status_code
        == 404
    )
    deleted = client.request("DELETE", f"/api/v1/sites/{site}/annotations/{note['id']}", headers=auth)
    assert deleted.status_code == 204 and deleted.content == b""
    again = client.request("DELETE", f"/api/v1/sites/{site}/annotations/{note['id']}", headers=auth)
    assert again.status_code == 404 and "no annotation" in again.json()["error"]
    assert [n["text"] for n in _list(viewer, site, "?period=7d").json()["annotations"]] == []


@pytest.mark.parametrize(
    "body, raw, status, parameter, words",
    [
        ({"date": "2026-06-08", "text": "x" * (MAX_TEXT + 1)}, None, 400, "text", f"at most {MAX_TEXT}"),
        ({"date": "2026-06-08", "text": "two\nlines"}, None, 400, "text", "one line"),
        ({"date": "2026-06-08", "text": " \t "}, None, 400, "text", "empty"),
        ({"date": "2026-06-08", "text": 5}, None, 400, "text", "must be a string"),
        ({"date": "8/6/2026", "text": "x"}, None, 400, "date", "2026-11-30"),
        ({"date": "2026-02-30", "text": "x"}, None, 400, "date", "2026-11-30"),
        ({"text": "x"}, None, 400, "date", "must be a string"),
        ({"date": "2026-06-08", "text": "x", "colour": "red"}, None, 400, "colour", "unknown field"),
        (None, b"date=2026-06-08&text=x", 400, "", "must be JSON"),
        (None, b"[1, 2]", 400, "", "JSON object"),
        (None, b"[" * 30_000, 413, "", "larger than"),
        (None, json.dumps({"date": "2026-06-08", "text": "x" * 20_000}).encode(), 413, "", "larger than"),
    ],
)
def test_bad_annotations_get_a_4xx_naming_the_problem(
    world: World, body: Any, raw: bytes | None, status: int, parameter: str, words: str
) -> None:
    response = _post(_api(world, world.admin), world.site.website_id, body, raw)
    assert response.status_code == status, response.text
    validate(response.json(), "Error")
    assert words in response.json()["error"] and response.json().get("parameter", "") == parameter
    assert world.server.call(world.server.state.store.annotations, world.site.id, 0, 10**6) == []


# ── the settings page and the overview ─────────────────────────────────────────────────────────


def _settings(world: World) -> str:
    return f"/sites/{world.site.website_id}/settings"


def test_the_settings_form_adds_and_deletes_and_refuses_clearly(world: World) -> None:
    admin, site = world.admin, world.site.website_id
    page = admin.get(_settings(world))
    assert page.status_code == 200 and 'action="/sites/' + site + '/annotations"' in page.text
    assert f'value="{TODAY.isoformat()}"' in page.text, "the date field starts at the site's today"
    added = admin.post(f"/sites/{site}/annotations", {"date": "2026-06-09", "text": HOSTILE})
    assert added.status_code == 303 and added.headers["location"].endswith("#annotations")
    listed = admin.get(_settings(world)).text
    assert (
        HOSTILE not in listed
        and "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;" in listed
    )

    too_long = admin.post(f"/sites/{site}/annotations", {"date": "2026-06-09", "text": "y" * 300})
    assert too_long.status_code == 400 and f"up to {MAX_TEXT} characters" in too_long.text
    bad_day = admin.post(f"/sites/{site}/annotations", {"date": "tomorrow", "text": "z"})
    assert bad_day.status_code == 400 and "2026-11-30" in bad_day.text and 'value="z"' in bad_day.text

    note = re.search(rf'action="/sites/{site}/annotations/(\d+)/delete"', listed)
    assert note is not None
    assert world.viewer.post(f"/sites/{site}/annotations/{note.group(1)}/delete").status_code == 403
    assert world.viewer.post(f"/sites/{site}/annotations", {"date": "2026-06-09", "text": "v"}).status_code == 403
    assert admin.post(f"/sites/{site}/annotations/{note.group(1)}/delete").status_code == 303
    assert admin.post(f"/sites/{site}/annotations/{note.group(1)}/delete").status_code == 404
    assert '/delete"><input' not in admin.get(_settings(world)).text.split('id="annotations"')[1].split("</section>")[0]


def test_the_overview_marks_the_day_and_lists_the_note_but_a_share_link_does_not(world: World) -> None:
    admin, site = world.admin, world.site.website_id
    assert admin.post(f"/sites/{site}/annotations", {"date": "2026-06-08", "text": HOSTILE}).status_code == 303
    assert (
        admin.post(f"/sites/{site}/annotations", {"date": "2026-06-08", "text": "newsletter sent"}).status_code == 303
    )
    assert admin.post(f"/sites/{site}/annotations", {"date": "2026-01-02", "text": "out of range"}).status_code == 303

    page = world.viewer.get(f"/sites/{site}?period=7d").text
    marks = re.findall(r'<g class="annotation"><title>(.*?)</title>', page)
    assert len(marks) == 1, "both notes of one day share a marker"
    assert "newsletter sent" in marks[0] and "&lt;script&gt;" in marks[0] and "<script>alert" not in page
    assert "out of range" not in page
    table = re.search(r"<tbody>(.*?)</tbody>", page, re.S)
    assert table is not None
    rows = re.findall(r"<tr>(.*?)</tr>", table.group(1))
    assert len(rows) == 7
    assert "newsletter sent" in rows[4] and "&lt;b&gt;bold" in rows[4], "the 8th is the 5th day of the 7"
    assert sum("<p>" in row for row in rows) == 1

    hourly = world.viewer.get(f"/sites/{site}?period=custom&from=2026-06-08&to=2026-06-08").text
    assert len(re.findall(r'<g class="annotation">', hourly)) == 1
    hours = re.findall(r"<tr>(.*?)</tr>", re.search(r"<tbody>(.*?)</tbody>", hourly, re.S).group(1))  # type: ignore[union-attr]
    assert "newsletter sent" in hours[0] and all("<p>" not in h for h in hours[1:]), "over the day's first hour"

    assert admin.post(f"/sites/{site}/share", {"enabled": "on"}).status_code == 303
    token = re.search(r"/share/([A-Za-z0-9_-]{20,})", admin.get(_settings(world)).text)
    assert token is not None
    shared = world.anonymous().get(f"/share/{token.group(1)}?period=7d")
    assert (
        shared.status_code == 200 and "newsletter sent" not in shared.text and 'class="annotation"' not in shared.text
    )


# ── a real browser ─────────────────────────────────────────────────────────────────────────────

PASSWORD = "annotation-browser-password"


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, geo_db: Path) -> Iterator[tuple[LiveServer, str]]:
    work = tmp_path_factory.mktemp("annotations-live")
    env = crumbless_env(work / "data", geo_db, access_log="off")
    website_id = add_site(env, "example.com", cwd=work)
    database = work / "data" / "crumbless.db"
    create_user(database, "admin", PASSWORD)
    today = datetime.now(timezone.utc).date()
    seed_history(database, 1, day_number(today) - 30, 31)
    when = (today - timedelta(days=9)).isoformat()
    run_cli(env, "annotation", "add", "example.com", when, "Newsletter sent <to 2,400 readers>", cwd=work)
    server = LiveServer(env, work)
    server.start()
    try:
        yield server, website_id
    finally:
        server.kill()


def test_the_browser_shows_the_marker_with_its_text(browser: Any, live: tuple[LiveServer, str]) -> None:
    server, website_id = live
    context = browser.new_context(user_agent=DESKTOP_CHROME, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(f"{server.base_url}/sites/{website_id}?period=30d")
    page.get_by_label("User name").fill("admin")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(lambda url: "/login" not in url)
    page.goto(f"{server.base_url}/sites/{website_id}?period=30d")
    mark = page.locator(".plot g.annotation")
    assert mark.count() == 1
    assert mark.locator("text").text_content() == "Newsletter sent <to 2,4…"
    assert "Newsletter sent <to 2,400 readers>" in (mark.locator("title").text_content() or "")
    box = mark.locator("line").bounding_box()
    plot = page.locator(".plot").first.bounding_box()
    assert box is not None and plot is not None and box["height"] >= 150, "the line spans the plot"
    slot = 29 - 9  # 30 days ending today, the note nine days back
    expected_x = plot["x"] + plot["width"] * (slot + 0.5) / 30
    assert abs(box["x"] - expected_x) < 3, (box, expected_x)
    page.locator(".chart-card summary").click()
    assert page.locator(".data-table td.note").filter(has_text="Newsletter sent <to 2,400 readers>").count() == 1
    ARTIFACTS.mkdir(exist_ok=True)
    page.locator(".chart-card").screenshot(path=str(ARTIFACTS / "annotation-chart.png"))
    context.close()

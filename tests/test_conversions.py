"""Goals and funnels for people: the reports, the overview's sections, the settings forms, the API
and ``crumbless stats``.

Counter rows with known numbers are written through the store's own ``write_counts`` (goal rows
and funnel-step rows, as the counting rules write them), so every figure shown can be checked
against arithmetic done here: converting visitors and conversions summed over the range's days,
the conversion rate against the site's visitors, each funnel step's drop-off and its share of the
first step. The forms run through the real app with a real session and CSRF token.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from collector.aggregator import Batch
from collector.cli import main
from collector.config import OPTIONS
from collector.goals import Funnel, Goal
from collector.localtime import day_number
from collector.model import COUNTERS, EVENTS, VISITORS, funnel_value, segment_value
from dashboard import conversions
from dashboard.stats import Range
from tests.conftest import Server
from tests.dashboard_support import Dash, World, make_world
from tests.support import plausible

DOC = json.loads((Path(__file__).resolve().parent.parent / "dashboard" / "openapi.json").read_text())
REGISTRY = Registry().with_resource(
    "urn:crumbless:openapi", Resource.from_contents(DOC, default_specification=DRAFT202012)
)
TODAY = date(2026, 6, 10)  # the in-process server's clock (tests/conftest.py)
FIRST, LAST = TODAY - timedelta(days=2), TODAY - timedelta(days=1)
RANGE = f"period=custom&from={FIRST.isoformat()}&to={LAST.isoformat()}"


def validate(body: Any, schema: str) -> None:
    Draft202012Validator({"$ref": f"urn:crumbless:openapi#/components/schemas/{schema}"}, registry=REGISTRY).validate(
        body
    )


def _row(visitors: int, events: int = 0) -> list[int]:
    row = [0] * len(COUNTERS)
    row[VISITORS], row[EVENTS] = visitors, events
    return row


@dataclass
class Defined:
    world: World
    signup: Goal  # event Signup: filled in for earlier days, so no "counts from"
    pro: Goal  # event Signup with plan=pro: counted from its first day only
    blog: Goal  # page /blog/**: a pattern, counted from its first day only
    funnel: Funnel  # blog, then signup, within the visitor's day


def _write(server: Server, rows: dict[tuple[int, str, str], list[int]]) -> None:
    batch = Batch()
    for (day, dim, value), row in rows.items():
        batch.daily[(server.site.id, day, dim, value)] = row
    server.call(server.state.store.write_counts, batch)


@pytest.fixture
def world(server: Server) -> Iterator[World]:
    yield make_world(server)


@pytest.fixture
def defined(world: World) -> Defined:
    """Three goals and a funnel on the first site, and two days of their rows.

    Site visitors 100 + 60 = 160. Signup: 10 + 5 visitors, 12 + 7 conversions. Pro signup: 4 and 4
    on the first day only. Blog: 30 + 21 visitors, 45 + 25 conversions. The funnel's first step (Blog)
    30 + 21 = 51, its second (Signup, after Blog) 6 + 3 = 9.
    """
    server, store, site = world.server, world.server.state.store, world.site.id
    counted_from = day_number(TODAY) - 3
    signup = server.call(store.add_goal, site, "Signup", "event", "Signup", "", "", "", counted_from)
    pro = server.call(store.add_goal, site, "Pro signup", "event", "Signup", "plan", "pro", "", counted_from)
    blog = server.call(store.add_goal, site, "Blog", "page", "", "", "", "/blog/**", counted_from)
    funnel = server.call(store.add_funnel, site, "Blog to signup", (blog.id, signup.id), "day", counted_from)
    server.call(server.state.collector.sites.refresh)
    first, last = day_number(FIRST), day_number(LAST)
    _write(
        server,
        {
            (first, "total", ""): _row(100),
            (last, "total", ""): _row(60),
            (first, "goal", str(signup.id)): _row(10, 12),
            (last, "goal", str(signup.id)): _row(5, 7),
            (first, "goal", str(pro.id)): _row(4, 4),
            (first, "goal", str(blog.id)): _row(30, 45),
            (last, "goal", str(blog.id)): _row(21, 25),
            (first, "funnel", funnel_value(funnel.id, 1)): _row(30),
            (last, "funnel", funnel_value(funnel.id, 1)): _row(21),
            (first, "funnel", funnel_value(funnel.id, 2)): _row(6),
            (last, "funnel", funnel_value(funnel.id, 2)): _row(3),
        },
    )
    return Defined(world, signup, pro, blog, funnel)


def expected_goals(d: Defined) -> list[dict[str, Any]]:
    return [
        {
            "id": d.signup.id,
            "name": "Signup",
            "definition": "event Signup",
            "visitors": 15,
            "conversions": 19,
            "conversion_rate": 9.4,
            "counts_from": None,
        },
        {
            "id": d.pro.id,
            "name": "Pro signup",
            "definition": "event Signup with plan=pro",
            "visitors": 4,
            "conversions": 4,
            "conversion_rate": 2.5,
            "counts_from": "2026-06-07",
        },
        {
            "id": d.blog.id,
            "name": "Blog",
            "definition": "page /blog/**",
            "visitors": 51,
            "conversions": 70,
            "conversion_rate": 31.9,
            "counts_from": "2026-06-07",
        },
    ]


def expected_funnels(d: Defined) -> list[dict[str, Any]]:
    return [
        {
            "id": d.funnel.id,
            "name": "Blog to signup",
            "window": "day",
            "counts_from": "2026-06-07",
            "visitors": 51,
            "conversion_rate": 17.6,
            "steps": [
                {
                    "step": 1,
                    "goal": d.blog.id,
                    "name": "Blog",
                    "visitors": 51,
                    "dropoff": None,
                    "dropoff_rate": None,
                    "conversion_rate": 100.0,
                },
                {
                    "step": 2,
                    "goal": d.signup.id,
                    "name": "Signup",
                    "visitors": 9,
                    "dropoff": 42,
                    "dropoff_rate": 82.4,
                    "conversion_rate": 17.6,
                },
            ],
        }
    ]


# ── the reports ────────────────────────────────────────────────────────────────────────────────


def test_the_reports_sum_the_days_and_derive_every_rate(defined: Defined) -> None:
    server = defined.world.server
    site = next(s for s in server.call(server.state.store.sites) if s.id == defined.world.site.id)
    read = server.call(conversions.report, server.state.store, site, Range(FIRST, LAST))
    assert read == {"goals": expected_goals(defined), "funnels": expected_funnels(defined)}

    one_day = server.call(conversions.report, server.state.store, site, Range(LAST, LAST))
    assert [(g["visitors"], g["conversions"], g["conversion_rate"]) for g in one_day["goals"]] == [
        (5, 7, 8.3),
        (0, 0, 0.0),
        (21, 25, 35.0),
    ], "a goal nobody reached that day is listed with zeros"
    steps = one_day["funnels"][0]["steps"]
    assert [(s["visitors"], s["dropoff"], s["dropoff_rate"]) for s in steps] == [(21, None, None), (3, 18, 85.7)]

    empty = server.call(conversions.report, server.state.store, site, Range(TODAY, TODAY))
    assert [g["conversion_rate"] for g in empty["goals"]] == [0.0, 0.0, 0.0], "no visitors: no rate, not an error"
    assert [s["conversion_rate"] for s in empty["funnels"][0]["steps"]] == [0.0, 0.0]


def test_a_site_without_goals_has_empty_reports(world: World) -> None:
    server = world.server
    site = next(s for s in server.call(server.state.store.sites) if s.id == world.other.id)
    assert server.call(conversions.report, server.state.store, site, Range(FIRST, LAST)) == {"goals": [], "funnels": []}


# ── the API ────────────────────────────────────────────────────────────────────────────────────


def _api(world: World, who: Dash, path: str) -> Any:
    return world.anonymous().get(path, headers={"Authorization": f"Bearer {world.token(who)}"})


def test_the_api_gives_the_same_figures_as_documented(defined: Defined) -> None:
    world = defined.world
    site = world.site.website_id
    goals = _api(world, world.viewer, f"/api/v1/sites/{site}/goals?{RANGE}")
    assert goals.status_code == 200, goals.text
    validate(goals.json(), "Goals")
    assert goals.json()["goals"] == expected_goals(defined)
    assert (goals.json()["from"], goals.json()["to"]) == (FIRST.isoformat(), LAST.isoformat())

    funnels = _api(world, world.viewer, f"/api/v1/sites/{site}/funnels?{RANGE}")
    assert funnels.status_code == 200, funnels.text
    validate(funnels.json(), "Funnels")
    assert funnels.json()["funnels"] == expected_funnels(defined)

    other = world.other.website_id
    assert _api(world, world.viewer, f"/api/v1/sites/{other}/goals").status_code == 404, "not the viewer's site"
    admin_other = _api(world, world.admin, f"/api/v1/sites/{other}/funnels")
    assert admin_other.status_code == 200 and admin_other.json()["funnels"] == []
    bad = _api(world, world.admin, f"/api/v1/sites/{site}/goals?period=fortnight")
    assert bad.status_code == 400 and bad.json()["parameter"] == "period"
    assert world.anonymous().get(f"/api/v1/sites/{site}/goals").status_code == 401


# ── crumbless stats ────────────────────────────────────────────────────────────────────────────


def test_crumbless_stats_prints_goals_and_funnels(
    defined: Defined, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    server = defined.world.server
    for option in OPTIONS:
        monkeypatch.delenv(option.name, raising=False)
    monkeypatch.setenv("CRUMBLESS_DATA_DIR", str(server.settings.data_dir))
    monkeypatch.setenv("CRUMBLESS_GEO_DB", str(server.settings.geo_db))
    window = ["--from", FIRST.isoformat(), "--to", LAST.isoformat()]
    assert main(["stats", "example.com", *window, "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["goals"] == expected_goals(defined)
    assert result["funnels"] == expected_funnels(defined)
    assert result["totals"]["visitors"] == 160

    assert main(["stats", "example.com", *window]) == 0
    text = capsys.readouterr().out
    assert "    Signup  visitors 15  conversions 19  conversion rate 9.4%" in text
    assert "    Pro signup  visitors 4  conversions 4  conversion rate 2.5%  (counts from 2026-06-07)" in text
    assert "  funnel Blog to signup  (within a day, counts from 2026-06-07)" in text
    assert "    2. Signup  visitors 9  dropped 42 (82.4%)  of step 1 17.6%" in text


# ── the overview ───────────────────────────────────────────────────────────────────────────────


def _section(page: str, section_id: str) -> str:
    found = re.search(rf'<section[^>]*id="{section_id}".*?</section>', page, re.S)
    assert found, f"no section {section_id}"
    return found.group(0)


def _cells(row: str) -> list[str]:
    return [re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<td class=\"num\"[^>]*>(.*?)</td>", row)]


def test_the_overview_lists_goals_and_draws_funnels(defined: Defined) -> None:
    world = defined.world
    page = world.viewer.get(f"/sites/{world.site.website_id}?{RANGE}")
    assert page.status_code == 200
    goals = _section(page.text, "goals")
    rows = dict(re.findall(r'<tr id="goal-(\d+)">(.*?)</tr>', goals, re.S))
    assert _cells(rows[str(defined.signup.id)]) == ["15", "19", "9.4%"]
    assert _cells(rows[str(defined.pro.id)]) == ["4", "4", "2.5%"]
    assert _cells(rows[str(defined.blog.id)]) == ["51", "70", "31.9%"]
    assert "Counts from Jun 7, 2026" in rows[str(defined.pro.id)] and "Counts from" not in rows[str(defined.signup.id)]
    assert "Event Signup with plan = pro" in rows[str(defined.pro.id)] and "Page /blog/**" in rows[str(defined.blog.id)]
    link = re.search(r'<a href="([^"]+)" aria-label="Filter by goal: Pro signup"', rows[str(defined.pro.id)])
    assert link and link.group(1) == (
        f"/sites/{world.site.website_id}?period=custom&amp;from=2026-06-08&amp;to=2026-06-09&amp;filter=goal%3APro+signup"
    )

    funnels = _section(page.text, "funnels")
    assert funnels.count('<svg class="funnel-chart"') == 1
    assert 'role="img" aria-label="Funnel Blog to signup: visitors who reached each step' in funnels
    assert re.search(r'<rect class="funnel-bar" x="0" y="\d+" width="100.0%"', funnels), (
        "the first step fills the width"
    )
    assert re.search(r'<rect class="funnel-bar" x="0" y="\d+" width="17.6%"', funnels), "9 of 51"
    assert "↓ −42 (82.4%) dropped off" in funnels
    table = re.findall(r"<tr><th scope=\"row\">(.*?)</th>(.*?)</tr>", funnels)
    assert [(name, _cells(cells)) for name, cells in table] == [
        ("1. Blog", ["51", "–", "100%"]),
        ("2. Signup", ["9", "42 (82.4%)", "17.6%"]),
    ]
    assert "Within the visitor’s day" in funnels or "Within the visitor&#39;s day" in funnels
    assert "17.6% reached the last step" in funnels

    spanish = world.viewer.get(f"/sites/{world.site.website_id}?{RANGE}&lang=es", headers={"Accept-Language": "es"})
    assert "Objetivos" in spanish.text and "31,9" in spanish.text


def _google(d: Defined) -> None:
    """Google brought 40 visitors on the first day; 8 of them signed up (9 times), 2 chose the pro plan."""
    first = day_number(FIRST)
    _write(
        d.world.server,
        {
            (first, "source", "Google"): _row(40),
            (first, "source>goal", segment_value("Google", str(d.signup.id))): _row(8, 9),
            (first, "source>goal", segment_value("Google", str(d.pro.id))): _row(2, 2),
        },
    )


def test_goals_under_a_source_filter_are_that_sources_conversions(defined: Defined) -> None:
    _google(defined)
    world = defined.world
    page = world.viewer.get(f"/sites/{world.site.website_id}?{RANGE}&filter=source:Google")
    assert page.status_code == 200
    goals = _section(page.text, "goals")
    rows = dict(re.findall(r'<tr id="goal-(\d+)">(.*?)</tr>', goals, re.S))
    assert _cells(rows[str(defined.signup.id)]) == ["8", "9", "20%"], "against Google's 40 visitors"
    assert _cells(rows[str(defined.pro.id)]) == ["2", "2", "5%"]
    assert _cells(rows[str(defined.blog.id)]) == ["0", "0", "0%"]
    assert "against the visitors of this filter" in goals
    assert "Not available with this filter." in _section(page.text, "funnels")

    api = _api(world, world.viewer, f"/api/v1/sites/{world.site.website_id}/goals?{RANGE}&filter=source:Google")
    assert api.status_code == 200, api.text
    validate(api.json(), "Goals")
    assert api.json()["filter"] == {"dimension": "source", "value": "Google"}
    assert [(g["visitors"], g["conversions"], g["conversion_rate"]) for g in api.json()["goals"]] == [
        (8, 9, 20.0),
        (2, 2, 5.0),
        (0, 0, 0.0),
    ]
    refused = _api(world, world.viewer, f"/api/v1/sites/{world.site.website_id}/goals?filter=country:DE")
    assert refused.status_code == 400 and refused.json()["parameter"] == "filter"
    assert "not available with a filter by country" in refused.json()["error"]
    unknown = _api(world, world.viewer, f"/api/v1/sites/{world.site.website_id}/goals?filter=goal:Nope")
    assert unknown.status_code == 400 and unknown.json()["parameter"] == "filter"


def test_goal_filter_links_lead_to_the_goal_and_unsupported_filters_say_so(defined: Defined) -> None:
    world = defined.world
    base = f"/sites/{world.site.website_id}?{RANGE}"
    by_goal = world.viewer.get(f"{base}&filter=goal:Pro+signup")
    assert by_goal.status_code == 200
    assert "Not available with this filter." in _section(by_goal.text, "goals")
    assert "Not available with this filter." in _section(by_goal.text, "funnels")


def test_a_site_without_goals_says_so_and_shows_admins_the_way(world: World) -> None:
    _write(world.server, {(day_number(FIRST), "total", ""): _row(9), (day_number(FIRST), "page", "/"): _row(9)})
    for who, link in ((world.admin, True), (world.viewer, False)):
        page = who.get(f"/sites/{world.site.website_id}?{RANGE}").text
        goals = _section(page, "goals")
        assert "No goals are set up for this site." in goals
        assert (f'href="/sites/{world.site.website_id}/settings#goals"' in goals) is link
        assert 'id="funnels"' not in page


# ── the settings forms ─────────────────────────────────────────────────────────────────────────


def _settings(world: World) -> str:
    return f"/sites/{world.site.website_id}/settings"


def _goal_ids(world: World) -> dict[str, int]:
    return {g.name: g.id for g in world.server.call(world.server.state.store.goals, world.site.id)}


def test_admins_add_and_remove_goals_and_refusals_are_shown(world: World) -> None:
    admin, site = world.admin, world.site.website_id
    page = admin.get(_settings(world))
    assert page.status_code == 200 and f'action="/sites/{site}/goals"' in page.text
    assert "Add at least 2 goals to build a funnel from them." in page.text

    added = admin.post(f"/sites/{site}/goals", {"kind": "event", "event": "Signup", "name": ""})
    assert added.status_code == 303 and added.headers["location"].endswith("?saved=goal#goals")
    assert (
        admin.post(
            f"/sites/{site}/goals", {"kind": "event", "event": "Signup", "prop": "plan = pro", "name": "Pro"}
        ).status_code
        == 303
    )
    assert (
        admin.post(f"/sites/{site}/goals", {"kind": "page", "page": "/blog/*", "event": "ignored"}).status_code == 303
    )
    stored = world.server.call(world.server.state.store.goals, world.site.id)
    assert [(g.name, g.kind, g.event, g.prop_key, g.prop_value, g.page, g.first_day) for g in stored] == [
        ("Signup", "event", "Signup", "", "", "", day_number(TODAY)),
        ("Pro", "event", "Signup", "plan", "pro", "", day_number(TODAY)),
        ("/blog/*", "page", "", "", "", "/blog/*", day_number(TODAY)),
    ]
    listed = _section(admin.get(_settings(world)).text, "goals")
    assert "Event Signup with plan = pro" in listed and "Page /blog/*" in listed
    assert "Counts from Jun 10, 2026" in listed, "a property goal counts from today"

    refusals = [
        ({"kind": "event", "event": ""}, "Give the custom event&#39;s name"),
        ({"kind": "event", "event": "Signup", "prop": "plan"}, "Give the property as key=value"),
        ({"kind": "page", "page": "pricing"}, "Give the page as a path starting with /"),
        ({"kind": "page", "page": "/" + "a" * 600}, "Give the page as a path starting with /"),
        ({"kind": "event", "event": "x", "name": "n" * 121}, "Give the name as one line of up to 120 characters."),
        ({"kind": "sound"}, "Choose what the goal counts"),
        ({"kind": "event", "event": "Other", "name": "Signup"}, "This site already has a goal named Signup."),
    ]
    for form, words in refusals:
        refused = admin.post(f"/sites/{site}/goals", form)
        assert refused.status_code == 400, (form, refused.status_code)
        assert words in _section(refused.text, "goals"), (form, words)
    kept = admin.post(f"/sites/{site}/goals", {"kind": "page", "page": "no-slash", "name": "Kept <b>"})
    assert 'value="no-slash"' in kept.text and 'value="Kept &lt;b&gt;"' in kept.text, "what was typed stays"
    assert len(_goal_ids(world)) == 3

    ids = _goal_ids(world)
    assert world.viewer.post(f"/sites/{site}/goals", {"kind": "event", "event": "V"}).status_code == 403
    assert world.viewer.post(f"/sites/{site}/goals/{ids['Pro']}/delete").status_code == 403
    assert "goals-title" not in world.viewer.get(f"/sites/{site}/settings").text
    assert admin.post(f"/sites/{world.other.website_id}/goals/{ids['Pro']}/delete").status_code == 404, (
        "not that site's"
    )
    assert admin.post(f"/sites/{site}/goals/{ids['Pro']}/delete").status_code == 303
    assert admin.post(f"/sites/{site}/goals/{ids['Pro']}/delete").status_code == 404
    assert list(_goal_ids(world)) == ["Signup", "/blog/*"]


def test_admins_add_and_remove_funnels_and_refusals_are_shown(world: World) -> None:
    admin, site = world.admin, world.site.website_id
    for name in ("Pricing", "Signup", "Paid"):
        assert admin.post(f"/sites/{site}/goals", {"kind": "event", "event": name}).status_code == 303
    ids = _goal_ids(world)
    form = admin.get(_settings(world)).text
    assert f'action="/sites/{site}/funnels"' in form and 'name="step8"' in form

    chosen = {
        "name": "Checkout",
        "step1": str(ids["Pricing"]),
        "step2": "",
        "step3": str(ids["Signup"]),
        "step4": str(ids["Paid"]),
        "window": "day",
    }
    added = admin.post(f"/sites/{site}/funnels", chosen)
    assert added.status_code == 303 and added.headers["location"].endswith("#funnels")
    (funnel,) = world.server.call(world.server.state.store.funnels, world.site.id)
    assert (funnel.name, funnel.steps, funnel.window, funnel.first_day) == (
        "Checkout",
        (ids["Pricing"], ids["Signup"], ids["Paid"]),
        "day",
        day_number(TODAY),
    )
    listed = _section(admin.get(_settings(world)).text, "funnels")
    assert "Pricing → Signup → Paid" in listed

    refusals = [
        ({"name": "One", "step1": str(ids["Paid"])}, "Choose from 2 to 8 of this site"),
        ({"name": "Foreign", "step1": str(ids["Paid"]), "step2": "999"}, "Choose from 2 to 8 of this site"),
        ({"name": "", "step1": str(ids["Paid"]), "step2": str(ids["Signup"])}, "Give the funnel a name."),
        (
            {"name": "W", "step1": str(ids["Paid"]), "step2": str(ids["Signup"]), "window": "week"},
            "within a visit or within",
        ),
        (
            {"name": "Checkout", "step1": str(ids["Paid"]), "step2": str(ids["Signup"])},
            "already has a funnel named Checkout",
        ),
    ]
    for data, words in refusals:
        refused = admin.post(f"/sites/{site}/funnels", data)
        assert refused.status_code == 400, (data, refused.status_code)
        assert words in _section(refused.text, "funnels"), (data, words)
    assert len(world.server.call(world.server.state.store.funnels, world.site.id)) == 1

    assert world.viewer.post(f"/sites/{site}/funnels", chosen).status_code == 403
    assert world.viewer.post(f"/sites/{site}/funnels/{funnel.id}/delete").status_code == 403
    assert admin.post(f"/sites/{site}/funnels/{funnel.id}/delete").status_code == 303
    assert admin.post(f"/sites/{site}/funnels/{funnel.id}/delete").status_code == 404
    assert world.server.call(world.server.state.store.funnels, world.site.id) == []


def test_a_goal_added_in_the_settings_counts_from_the_next_beacon(world: World) -> None:
    admin, site = world.admin, world.site.website_id
    assert admin.post(f"/sites/{site}/goals", {"kind": "event", "event": "Signup"}).status_code == 303
    world.server.post("/api/event", plausible("example.com", "https://example.com/", name="Signup"))
    rows = world.server.rows()
    goal = _goal_ids(world)["Signup"]
    assert rows[(day_number(TODAY), "goal", str(goal))]["events"] == 1

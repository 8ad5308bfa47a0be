"""Filters (``filter=DIM:VALUE``): the overview, its lists, the CSV, the share view, the API and
``crumbless stats`` narrowed to one value, on a real store with known rows.

The rows are written with the store's own ``write_counts`` (segment rows as counting writes them:
``segment_value(pivot, listed)``), so every figure below is known exactly: each test checks the
numbers a reader would see, and the 400s and "not available" lists a filter has no rows for.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from collector.aggregator import Aggregator
from collector.cli import main as cli_main
from collector.config import OPTIONS
from collector.localtime import day_number
from collector.model import BOUNCES, DURATION, EVENTS, PAGEVIEWS, VISITORS, VISITS, segment_value
from collector.sites import Site
from dashboard import filters
from tests.browser import DESKTOP_CHROME, browser  # noqa: F401  (the fixture)
from tests.conftest import Server
from tests.dashboard_pages import Pages, log_in, running_pages
from tests.dashboard_support import World, make_world
from tests.live_server import REPO

DOC = json.loads((REPO / "dashboard" / "openapi.json").read_text())
REGISTRY = Registry().with_resource(
    "urn:crumbless:openapi", Resource.from_contents(DOC, default_specification=DRAFT202012)
)
SCHEMAS = {"aggregate": "Aggregate", "timeseries": "Timeseries"}

Counts = dict[int, int]


def _visit(visitors: int, visits: int, pageviews: int, bounces: int, duration: int) -> Counts:
    return {VISITORS: visitors, VISITS: visits, PAGEVIEWS: pageviews, BOUNCES: bounces, DURATION: duration}


def _rows(today: int, goal: int) -> list[tuple[int, str, str, Counts]]:
    """Today's and yesterday's rows: the site, Google and direct traffic, two pages, one goal."""
    g = str(goal)
    return [
        (today, "total", "", _visit(10, 12, 30, 4, 1200)),
        (today, "source", "Google", _visit(6, 8, 20, 2, 800)),
        (today, "source", "", _visit(4, 4, 10, 2, 400)),
        (today, "page", "/donate", {VISITORS: 5, PAGEVIEWS: 7}),
        (today, "page", "/", {VISITORS: 8, PAGEVIEWS: 23}),
        (today, "source>page", segment_value("Google", "/"), {VISITORS: 5, PAGEVIEWS: 12}),
        (today, "source>page", segment_value("Google", "/donate"), {VISITORS: 3, PAGEVIEWS: 4}),
        (today, "source>page", segment_value("Google", "(other)"), {VISITORS: 2, PAGEVIEWS: 4}),
        (today, "source>page", segment_value("", "/"), {VISITORS: 3, PAGEVIEWS: 10}),
        # a source whose name starts with "Google": none of its cells are Google's
        (today, "source>page", segment_value("Googlebot.example", "/"), {VISITORS: 9, PAGEVIEWS: 9}),
        (today, "source>country", segment_value("Google", "DE"), _visit(4, 5, 12, 1, 500)),
        (today, "source>country", segment_value("Google", "FR"), _visit(2, 3, 8, 1, 300)),
        (today, "page>source", segment_value("/donate", "Search"), {VISITORS: 3, PAGEVIEWS: 4}),
        (today, "page>source", segment_value("/donate", "Direct"), {VISITORS: 2, PAGEVIEWS: 3}),
        (today, "country>page", segment_value("DE", "/donate"), {VISITORS: 5, PAGEVIEWS: 7}),  # read as page>country
        (today, "goal", g, {VISITORS: 2, EVENTS: 3}),
        (today, "goal>source", segment_value(g, "Google"), {VISITORS: 2, EVENTS: 3}),
        (today, "source>goal", segment_value("Google", g), {VISITORS: 2, EVENTS: 3}),
        (today - 1, "total", "", _visit(5, 5, 10, 1, 500)),
        (today - 1, "source", "Google", _visit(4, 4, 8, 1, 400)),
        (today - 1, "page", "/donate", {VISITORS: 2, PAGEVIEWS: 2}),
        (today - 1, "goal", g, {VISITORS: 1, EVENTS: 1}),
    ]


@dataclass
class Seeded:
    world: World
    goal: int
    today: str
    yesterday: str

    @property
    def server(self) -> Server:
        return self.world.server

    @property
    def site(self) -> Site:
        return self.world.site

    def page(self, query: str, path: str = "") -> str:
        response = self.world.admin.get(f"/sites/{self.site.website_id}{path}?{query}")
        assert response.status_code == 200, response.text
        return response.text


@pytest.fixture
def seeded(server: Server) -> Iterator[Seeded]:
    world = make_world(server)
    store = server.state.store
    day = server.state.dashboard.today(server.site)  # the test clock's: 2026-06-10
    today = day_number(day)
    goal = server.call(store.add_goal, server.site.id, "Donated", "page", "", "", "", "/thanks/*", today - 7)
    counts = Aggregator()
    for row_day, dim, value, row in _rows(today, goal.id):
        for column, n in row.items():
            counts.add(server.site.id, row_day, dim, value, column, n)
    server.call(store.write_counts, counts.drain())
    server.call(server.state.collector.sites.refresh)
    world.site = next(s for s in server.call(store.sites) if s.id == server.site.id)
    yield Seeded(world, goal.id, day.isoformat(), (day - timedelta(days=1)).isoformat())


def _api(seeded: Seeded, path: str, **params: str) -> Any:
    token = seeded.world.token(seeded.world.admin)
    response = seeded.world.anonymous().get(
        f"/api/v1/sites/{seeded.site.website_id}/{path}", params=params, headers={"Authorization": f"Bearer {token}"}
    )
    body = response.json()
    schema = SCHEMAS.get(path, "Breakdown") if response.status_code == 200 else "Error"
    Draft202012Validator({"$ref": f"urn:crumbless:openapi#/components/schemas/{schema}"}, registry=REGISTRY).validate(
        body
    )
    return response.status_code, body


def _text(html: str, element_id: str) -> str:
    found = re.search(rf'id="{element_id}"[^>]*>(.*?)</', html, re.S)
    assert found, element_id
    return re.sub(r"<[^>]+>", "", found.group(1)).strip()


# ── the figures ─────────────────────────────────────────────────────────────────────────────────


def test_a_source_filter_gives_its_own_row_on_every_card_with_changes(seeded: Seeded) -> None:
    status, body = _api(seeded, "aggregate", period="today", filter="source:Google")
    assert status == 200
    assert body["filter"] == {"dimension": "source", "value": "Google"}
    assert body["totals"] == {
        "visitors": 6,
        "visits": 8,
        "pageviews": 20,
        "views_per_visit": 2.5,
        "bounce_rate": 25.0,
        "visit_duration": 100,
        "events": None,
    }
    assert body["previous"]["totals"]["visitors"] == 4
    assert body["change"]["visitors"] == 50.0
    assert body["change"]["bounce_rate"] == 0.0


def test_a_page_filter_has_visitors_and_pageviews_and_no_visit_figures(seeded: Seeded) -> None:
    status, body = _api(seeded, "aggregate", period="today", filter="page:/donate")
    assert status == 200
    totals = body["totals"]
    assert (totals["visitors"], totals["pageviews"]) == (5, 7)
    assert all(totals[key] is None for key in ("visits", "bounce_rate", "visit_duration", "views_per_visit"))
    assert body["change"]["visitors"] == 150.0
    html = seeded.page("period=today&filter=page:/donate")
    assert _text(html, "metric-visitors") == "5"
    assert _text(html, "metric-bounce_rate") == "–"
    assert 'id="card-note"' in html


def test_a_goal_filter_counts_conversions_and_the_rate_against_the_site(seeded: Seeded) -> None:
    status, body = _api(seeded, "aggregate", period="today", filter="goal:Donated")
    assert status == 200
    totals = body["totals"]
    assert (totals["visitors"], totals["conversions"], totals["conversion_rate"]) == (2, 3, 20.0)
    assert body["previous"]["totals"]["conversion_rate"] == 20.0
    assert body["change"]["conversion_rate"] == 0.0
    html = seeded.page("period=today&filter=goal:Donated")
    assert _text(html, "metric-conversions") == "3"
    assert _text(html, "metric-conversion_rate") == "20%"
    assert _text(html, "metric-visits") == "–"


def test_lists_under_a_filter_read_the_pivot_values_cells_only(seeded: Seeded) -> None:
    status, body = _api(seeded, "breakdown/page", period="today", filter="source:Google")
    assert status == 200
    assert [(r["value"], r["visitors"], r["pageviews"]) for r in body["results"]] == [
        ("/", 5, 12),
        ("/donate", 3, 4),
        ("(other)", 2, 4),
    ]
    assert body["total"] == 3
    _, searched = _api(seeded, "breakdown/page", period="today", filter="source:Google", search="DON")
    assert [r["value"] for r in searched["results"]] == ["/donate"]
    _, direct = _api(seeded, "breakdown/page", period="today", filter="source:")
    assert [(r["value"], r["visitors"]) for r in direct["results"]] == [("/", 3)]
    _, countries = _api(seeded, "breakdown/country", period="today", filter="source:Google")
    assert [(r["value"], r["visits"], r["bounce_rate"]) for r in countries["results"]] == [
        ("DE", 5, 20.0),
        ("FR", 3, 33.3),
    ]


def test_a_page_filter_lists_channels(seeded: Seeded) -> None:
    _, body = _api(seeded, "breakdown/source", period="today", filter="page:/donate")
    assert [(r["value"], r["visitors"], r["pageviews"]) for r in body["results"]] == [
        ("Search", 3, 4),
        ("Direct", 2, 3),
    ]
    html = seeded.page("period=today&filter=page:/donate")
    assert ">Channels<" in html


def test_the_chart_under_a_filter_is_per_day_from_the_values_rows(seeded: Seeded) -> None:
    _, body = _api(seeded, "timeseries", period="7d", filter="source:Google")
    assert body["granularity"] == "day"
    points = {p["time"]: p for p in body["points"]}
    assert len(points) == 7
    assert (points[seeded.today]["visitors"], points[seeded.today]["pageviews"]) == (6, 20)
    assert points[seeded.yesterday]["visits"] == 4
    _, today = _api(seeded, "timeseries", period="today", filter="goal:Donated")
    assert today["granularity"] == "day"
    assert today["points"] == [{"time": seeded.today, "visitors": 2, "conversions": 3}]
    html = seeded.page("period=today&filter=source:Google")
    assert 'id="chart-by-day"' in html


def test_unfiltered_answers_are_as_they_were(seeded: Seeded) -> None:
    _, body = _api(seeded, "aggregate", period="today")
    assert "filter" not in body
    assert body["totals"]["visitors"] == 10 and body["totals"]["events"] == 0
    _, series = _api(seeded, "timeseries", period="today")
    assert series["granularity"] == "hour"


def test_a_value_keeps_its_colons_and_a_goal_is_named_by_its_name(seeded: Seeded) -> None:
    parsed = filters.parse("page:/a:b", seeded.site)
    assert (parsed.dimension, parsed.value, parsed.stored, parsed.query) == ("page", "/a:b", "/a:b", "page:/a:b")
    goal = filters.parse("goal=Donated", seeded.site, separator="=")
    assert (goal.value, goal.stored) == ("Donated", str(seeded.goal))
    assert filters.requested([], seeded.site) is None


# ── mistakes ────────────────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize(
    "given",
    ["source", "browser:Firefox", "nonsense:x", "goal:No such goal", "page:/a\x1fb", "source:" + "x" * 2401],
)
def test_a_bad_filter_is_a_400_naming_the_parameter(seeded: Seeded, given: str) -> None:
    for endpoint in ("aggregate", "timeseries", "breakdown/page"):
        status, body = _api(seeded, endpoint, period="today", filter=given)
        assert status == 400, (endpoint, given)
        assert body["parameter"] == "filter"
    page = seeded.world.admin.get(f"/sites/{seeded.site.website_id}", params={"period": "today", "filter": given})
    assert page.status_code == 400
    assert "filter" in page.text


def test_two_filters_are_refused(seeded: Seeded) -> None:
    response = seeded.world.admin.get(f"/sites/{seeded.site.website_id}?filter=source:Google&filter=page:/")
    assert response.status_code == 400


def test_a_list_the_filter_does_not_keep_says_so(seeded: Seeded) -> None:
    status, body = _api(seeded, "breakdown/browser", period="today", filter="source:Google")
    assert status == 400
    assert body["parameter"] == "filter"
    assert "not available" in body["error"]
    html = seeded.page("period=today&filter=source:Google")
    browsers = html.split('id="panel-browser"', 1)[1].split("</section>", 1)[0]
    assert "Not available with this filter." in browsers
    full = seeded.page("period=today&filter=source:Google", "/list/browser")
    assert "Not available with this filter." in full
    csv_answer = seeded.world.admin.get(f"/sites/{seeded.site.website_id}/export/browser.csv?filter=source:Google")
    assert csv_answer.status_code == 400


# ── the pages ───────────────────────────────────────────────────────────────────────────────────


def test_the_overview_links_values_and_shows_a_chip_that_removes_the_filter(seeded: Seeded) -> None:
    base = f"/sites/{seeded.site.website_id}"
    plain = seeded.page("period=today")
    assert f'href="{base}?period=today&amp;filter=source%3AGoogle"' in plain
    assert "Filter by Source:" in plain
    assert "filter=page%3A%2Fdonate" in plain
    html = seeded.page("period=today&filter=source:Google")
    chip = re.search(r'<a class="filter-chip" id="filter-chip" href="([^"]+)">(.*?)</a>', html, re.S)
    assert chip, "the chip is a link"
    assert chip.group(1) == f"{base}?period=today"
    assert "Source" in chip.group(2) and "Google" in chip.group(2)
    # the range links and the CSV links keep the filter
    assert f'href="{base}?period=7d&amp;filter=source%3AGoogle"' in html
    assert f"{base}/export/page.csv?period=today&amp;filter=source%3AGoogle" in html
    assert '<input type="hidden" name="filter" value="source:Google">' in html
    pages = html.split('id="panel-page"', 1)[1].split("</section>", 1)[0]
    assert "/donate" in pages and "Googlebot" not in pages


def test_the_csv_export_under_a_filter(seeded: Seeded) -> None:
    base = f"/sites/{seeded.site.website_id}/export"
    answer = seeded.world.admin.get(f"{base}/page.csv?period=today&filter=source:Google")
    assert answer.status_code == 200
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    assert [(r["value"], r["visitors"], r["pageviews"]) for r in rows] == [
        ("/", "5", "12"),
        ("/donate", "3", "4"),
        ("(other)", "2", "4"),
    ]
    series = seeded.world.admin.get(f"{base}/timeseries.csv?period=today&filter=goal:Donated")
    assert list(csv.reader(io.StringIO(series.text))) == [["time", "visitors", "conversions"], [seeded.today, "2", "3"]]


def test_the_full_list_under_a_filter(seeded: Seeded) -> None:
    html = seeded.page("period=today&filter=source:Google", "/list/country")
    assert 'id="filter-chip"' in html
    assert '<input type="hidden" name="filter" value="source:Google">' in html
    assert "1–2 of 2" in html


def test_a_share_link_keeps_the_filter(seeded: Seeded) -> None:
    token = "filtered-share-token-0123456789"
    seeded.server.call(seeded.server.state.store.set_share_token, seeded.site.id, token)
    reader = seeded.world.anonymous()
    html = reader.get(f"/share/{token}?period=today&filter=source:Google").text
    assert _text(html, "metric-visitors") == "6"
    assert f'href="/share/{token}?period=today"' in html
    assert f"/share/{token}/export/page.csv?period=today&amp;filter=source%3AGoogle" in html
    assert reader.get(f"/share/{token}?filter=country").status_code == 400


# ── crumbless stats ─────────────────────────────────────────────────────────────────────────────


def test_crumbless_stats_takes_a_filter(
    seeded: Seeded, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for option in OPTIONS:
        monkeypatch.delenv(option.name, raising=False)
    monkeypatch.setenv("CRUMBLESS_DATA_DIR", str(seeded.server.settings.data_dir))
    capsys.readouterr()
    site = seeded.site.domain
    assert cli_main(["stats", site, "--from", seeded.today, "--filter", "source=Google", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["filter"] == {"dimension": "source", "value": "Google"}
    assert result["totals"]["visitors"] == 6
    assert [row["value"] for row in result["top"]["page"]] == ["/", "/donate", "(other)"]
    assert result["top"]["browser"] is None
    assert cli_main(["stats", site, "--from", seeded.today, "--filter", "page=/donate"]) == 0
    text = capsys.readouterr().out
    assert "filter: page = /donate" in text and "visitors 5" in text and "Search" in text
    assert cli_main(["stats", site, "--filter", "goal=Donated", "--from", seeded.today, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["totals"]["conversions"] == 3
    for bad in ("source:Google", "browser=Firefox", "goal=Nope"):
        assert cli_main(["stats", site, "--filter", bad]) == 2
        assert "--filter" in capsys.readouterr().err


# ── in a real browser ───────────────────────────────────────────────────────────────────────────


SEEDED_DAYS = 29  # of the 45 seeded days before today (dashboard_pages), those in the last 30 days


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory, geo_db: Path) -> Iterator[Pages]:
    with running_pages(tmp_path_factory.mktemp("filters"), geo_db) as running:
        yield running


def test_clicking_a_source_filters_the_overview_and_the_chip_removes_it(browser: Any, pages: Pages) -> None:  # noqa: F811
    context = browser.new_context(user_agent=DESKTOP_CHROME, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    try:
        log_in(page, pages)
        page.goto(pages.url(f"/sites/{pages.website_id}?period=30d"))
        assert page.locator("#filter-chip").count() == 0
        unfiltered_visitors = page.locator("#metric-visitors").inner_text()
        page.get_by_role("link", name="Filter by Source: Google").click()
        page.wait_for_url(lambda url: "filter=source%3AGoogle" in url)
        assert page.get_by_role("link", name="Remove the filter Source: Google").count() == 1  # the chip
        assert page.locator("#metric-visitors").inner_text() != unfiltered_visitors
        pages_panel = page.locator("section:has(#panel-page)")
        first_row = pages_panel.locator("tbody tr").first  # Google's "/" cells: 9 visitors, 20 pageviews a day
        assert first_row.locator("td.num").all_inner_texts() == [str(9 * SEEDED_DAYS), str(20 * SEEDED_DAYS)]
        assert "/pricing" in pages_panel.inner_text()
        countries = page.locator("section:has(#panel-country) tbody tr")
        # Google's three countries, and its visitors from elsewhere: Google's own row less those three
        assert countries.count() == 4 and "(other)" in " ".join(countries.all_inner_texts()), countries.all_inner_texts()
        assert "Not available with this filter." in page.locator("section:has(#panel-browser)").inner_text()
        page.get_by_role("link", name="Last 7 days").click()  # a range link keeps the filter
        page.wait_for_url(lambda url: "period=7d" in url and "filter=source%3AGoogle" in url)
        chip = page.locator("#filter-chip")
        chip.focus()
        page.keyboard.press("Enter")  # the chip is a link: the keyboard removes the filter too
        page.wait_for_url(lambda url: "filter" not in url and "period=7d" in url)
        assert page.locator("#filter-chip").count() == 0
        assert page.locator("section:has(#panel-browser) tbody tr").count() > 0
    finally:
        context.close()


@pytest.mark.parametrize("key", ["30d", "custom"])
def test_a_filter_link_is_the_ranges_query_string_with_the_filter_in_it(key: str) -> None:
    """``SiteView.filtered_by`` builds each row's link from a part worked out once per page: it must
    write what ``Period.query`` would, for any value."""
    from datetime import date

    from dashboard.access import SiteView
    from dashboard.ranges import Period, Range

    site = Site(1, "b2f1c1e0-0000-4000-8000-000000000001", "example.com", "Example", "UTC", ())
    view = SiteView(site, "/sites/x", False, Period(key, Range(date(2026, 3, 1), date(2026, 3, 31))))
    for value in ["/", "/a b?c=d&e=f#g", "Ünïcødé 🙂", "100%", "x:y", ""]:
        expected = f"/sites/x?{view.period.query(filter=f'page:{value}')}"
        assert view.filtered_by("page", value) == expected

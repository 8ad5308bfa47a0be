"""What the dashboard's pages say, over HTTP against the real app and a real SQLite file.

Each test is one thing a new user tripped over: a figure labelled "new" with nothing to compare,
bars that never fill their row, ``UTM_SOURCE`` as a header, a lowercase "mastodon" beside
"GitHub", "0s" for a time on page under a second, fifteen empty cards for a site with no data,
a half-empty last row, a heading reading "Account admin · admin", and site checkboxes offered for
an admin, whom they do not concern.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from collector.aggregator import Batch
from collector.localtime import day_number
from collector.model import COUNTERS
from dashboard.charts import Slot, timeseries_svg
from dashboard.sources import source_display
from tests.conftest import Server
from tests.dashboard_support import World, _run, _with_store, make_world, seed_history
from tests.support import umami

TODAY = day_number(date(2026, 6, 10))  # the ``clock`` fixture's day


@pytest.fixture
def world(server: Server) -> Iterator[World]:
    yield make_world(server)


def _overview(world: World, period: str = "30d") -> str:
    response = world.admin.get(f"/sites/{world.site.website_id}?period={period}")
    assert response.status_code == 200, response.text
    return response.text


def _write(world: World, rows: dict[tuple[str, str], dict[str, int]], day: int = TODAY) -> None:
    """Counter rows (by dimension and value, counters by name) for the first site, as the flusher writes them."""
    batch = Batch()
    for (dim, value), counters in rows.items():
        batch.daily[(world.site.id, day, dim, value)] = [counters.get(name, 0) for name in COUNTERS]
    _run(_with_store(world.server.settings.database, lambda store: store.write_counts(batch)))


def _panel(html: str, key: str) -> str:
    found = re.search(rf'<section class="card panel[^"]*" aria-labelledby="panel-{key}">(.*?)</section>', html, re.S)
    assert found, f"no {key} panel"
    return found.group(1)


def test_no_previous_period_shows_one_note_not_new_under_every_figure(world: World) -> None:
    seed_history(world.server.settings.database, world.site.id, TODAY - 3, 3)
    html = _overview(world, "7d")
    assert 'class="metric-change' not in html  # nothing to compare with: no figure claims a change
    assert ">new<" not in html
    assert 'id="no-change"' in html and "no change to show" in html

    seed_history(world.server.settings.database, world.site.id, TODAY - 20, 10)  # now the week before has data
    html = _overview(world, "7d")
    assert html.count('class="metric-change') == 6
    assert 'id="no-change"' not in html


def test_bars_are_scaled_to_the_largest_row(world: World) -> None:
    seed_history(world.server.settings.database, world.site.id, TODAY - 10, 10)
    html = _overview(world)
    for key in ("page", "source", "country", "browser"):
        widths = [float(w) for w in re.findall(r'<rect width="([0-9.]+)%"', _panel(html, key))]
        assert widths[0] == 100.0, key  # the top row fills its row...
        assert widths == sorted(widths, reverse=True) and widths[-1] < 100, key  # ...and the others read against it
    listing = world.admin.get(f"/sites/{world.site.website_id}/list/page?period=30d&page=2").text
    second_page = [float(w) for w in re.findall(r'<rect width="([0-9.]+)%"', listing)]
    assert second_page and max(second_page) < 100  # page 2 keeps the list's scale, not its own


def test_headers_are_words_and_source_names_are_capitalized(world: World) -> None:
    for address, query in (
        ("198.51.100.1", "utm_source=fediverse&utm_medium=social&utm_campaign=launch"),
        ("198.51.100.2", "utm_source=github"),
    ):
        world.server.post("/api/send", umami(world.site.website_id, f"https://example.com/?{query}"), peer=address)
    world.server.flush()
    html = _overview(world, "today")
    assert ">UTM source<" in html and ">UTM medium<" in html and ">UTM campaign<" in html
    assert "utm_source<" not in html and "utm_campaign<" not in html
    sources = _panel(html, "source")
    assert ">Fediverse<" in sources and ">GitHub<" in sources  # a known name, and a tag shown like one
    assert "fediverse<" not in sources
    csv = world.admin.get(f"/sites/{world.site.website_id}/export/source.csv?period=today").text
    assert "fediverse," in csv  # what was counted is kept as it came


def test_source_display_capitalizes_bare_words_only() -> None:
    assert source_display("mastodon") == "Mastodon"
    assert source_display("hacker news") == "Hacker News"
    for kept in ("GitHub", "lobste.rs", "com.example.app", "iOS", "(IP address)", "", "42things", "t.me/x"):
        assert source_display(kept) == kept


def test_time_on_page_under_a_second_is_not_zero_and_missing_is_a_dash(world: World) -> None:
    _write(
        world,
        {
            ("total", ""): {"visitors": 3, "visits": 3, "pageviews": 3},
            ("page", "/quick"): {"visitors": 1, "pageviews": 1, "engaged_ms": 400},
            ("page", "/unmeasured"): {"visitors": 1, "pageviews": 1},
            ("page", "/read"): {"visitors": 1, "pageviews": 1, "engaged_ms": 42_000},
        },
    )
    html = world.admin.get(f"/sites/{world.site.website_id}/list/page?period=today").text
    cell = r'<td class="num" data-label="[^"]*">([^<]*)</td>'
    link = r'<a class="filter-link" [^>]*><span class="visually-hidden">[^<]*</span>'  # a page filters by itself
    found = re.findall(rf'<span class="text">{link}(/[a-z]*)</a></span></td>\s*{cell}{cell}{cell}', html)
    rows = {page: time_on_page for page, _visitors, _pageviews, time_on_page in found}
    assert rows["/quick"] == "&lt;1s"
    assert rows["/unmeasured"] == "–"
    assert rows["/read"] not in ("–", "&lt;1s", "0s") and "42" in rows["/read"]


def test_a_site_without_data_shows_one_empty_state_with_the_snippet(world: World) -> None:
    html = world.admin.get(f"/sites/{world.other.website_id}").text
    assert "Nothing for this range." not in html
    assert 'class="card panel' not in html
    assert html.count('class="card empty"') == 1
    snippet = html.split('<pre id="snippet">', 1)[1].split("</pre>", 1)[0]
    assert "&lt;script" in snippet and world.other.website_id in snippet


def test_a_site_without_data_shows_dashes_for_figures_that_need_a_visit(world: World) -> None:
    html = world.admin.get(f"/sites/{world.other.website_id}").text
    figures = dict(re.findall(r'id="metric-([a-z_]+)">([^<]*)<', html))
    assert figures == {
        "visitors": "0",
        "visits": "0",
        "pageviews": "0",
        "views_per_visit": "–",
        "bounce_rate": "–",
        "visit_duration": "–",
    }


def test_a_share_link_of_a_site_without_data_says_so_without_the_install_steps(world: World) -> None:
    token = "empty-site-share-token-0123456789abcdef"
    _run(_with_store(world.server.settings.database, lambda store: store.set_share_token(world.other.id, token)))
    html = world.anonymous().get(f"/share/{token}").text
    assert html.count('class="card empty"') == 1 and "Nothing counted yet" in html
    assert world.other.domain in html
    assert 'id="snippet"' not in html and "snippet" not in html.lower() and "developer tools" not in html
    spanish = world.anonymous().get(f"/share/{token}?lang=es").text
    assert "Aún no se ha contado nada" in spanish


def test_a_range_without_data_on_a_site_with_data_says_so_once(world: World) -> None:
    seed_history(world.server.settings.database, world.site.id, TODAY - 100, 10)
    html = _overview(world, "7d")
    assert 'id="range-empty"' in html and 'class="card panel' not in html and 'class="card empty"' not in html


def test_a_lone_last_list_spans_the_row(world: World) -> None:
    seed_history(world.server.settings.database, world.site.id, TODAY - 10, 10)
    html = _overview(world)
    panels = re.findall(r'<section class="card panel( wide)?"', html)
    assert len(panels) % 2 == 1  # fifteen lists: the last one is alone on its row
    assert panels[-1] == " wide" and panels.count(" wide") == 1


def test_the_chart_axis_names_the_last_slot() -> None:
    slots = [Slot(f"{d} Nov", f"day {d}", d, 2 * d) for d in range(1, 31)]
    svg = str(timeseries_svg(slots, 100, "day"))
    labels = re.findall(r'<text class="xlabel[^"]*" x="([^"]+)" y="[^"]+" text-anchor="([a-z]+)">([^<]+)</text>', svg)
    assert labels[0][2] == "1 Nov" and labels[-1] == ("100%", "end", "30 Nov")  # today's bar is labelled
    assert "minor" not in re.findall(r'<text class="(xlabel[^"]*)"', svg)[-1]  # and stays so on a phone


def test_the_realtime_card_labels_its_chart(world: World) -> None:
    html = _overview(world, "today")
    card = html.split('id="realtime"', 1)[1].split("</section>", 1)[0]
    assert "per minute" in card and "30 min ago" in card and ">now<" in card


def test_account_heading_and_admin_rows_on_the_users_page(world: World) -> None:
    account = world.admin.get("/account").text
    heading = re.search(r"<h1>(.*?)</h1>", account, re.S)
    assert heading and "admin" not in heading.group(1)
    assert "Logged in as <strong>admin</strong>" in account

    users = world.admin.get("/users").text
    promoted = world.admin.post("/users", {"name": "boss", "password": "boss-password-1", "role": "admin"})
    assert promoted.status_code in (200, 303)
    users = world.admin.get("/users").text
    rows = dict(re.findall(r'<th scope="row">(\w+).*?</th>(.*?)</tr>', users, re.S))
    assert 'type="checkbox"' not in rows["boss"] and "every site" in rows["boss"]
    assert 'type="checkbox"' in rows["viewer"]


def test_one_english_word_can_be_two_spanish_ones() -> None:
    """ "Import" is a button (Importar) and a column (Importación); "Custom range" is the page's
    range (Periodo personalizado) and the short pill beside a phone's range menu (Personalizado)."""
    from dashboard import i18n
    from dashboard.templates import ENV

    words = ENV.from_string(
        '{{ _("Import") }}|{{ pgettext("table column", "Import") }}|'
        '{{ _("Custom range") }}|{{ pgettext("range button", "Custom range") }}'
    )
    with i18n.speaking("es"):
        assert words.render() == "Importar|Importación|Periodo personalizado|Personalizado"
    with i18n.speaking("en"):
        assert words.render() == "Import|Import|Custom range|Custom range"
    transfer = (Path(i18n.__file__).parent / "templates" / "transfer.html").read_text()
    assert '<th scope="col">{{ pgettext("table column", "Import") }}</th>' in transfer


def test_an_unknown_address_gets_the_error_page_in_the_readers_language(world: World) -> None:
    """A mistyped dashboard address is a person's, so it gets the error page in their language, with
    the dashboard's headers; an unknown API or static path stays a plain 404 for programs."""
    reader = world.anonymous()
    spanish = reader.get("/sites-typo", headers={"Accept-Language": "es"})
    english = reader.get("/nothing/here", headers={"Accept-Language": "en"})
    assert spanish.status_code == english.status_code == 404
    assert "No hay ninguna página en esta dirección." in spanish.text and 'lang="es"' in spanish.text
    assert "There is no page at this address." in english.text
    assert "Content-Security-Policy" in spanish.headers
    for plain in (reader.get("/api/nothing"), reader.get("/static/nothing.css")):
        assert plain.status_code == 404 and plain.text == "Not Found"
        assert "Content-Security-Policy" in plain.headers

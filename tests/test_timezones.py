"""Local days and hours in awkward zones: quarter-hour offsets, and days of 23 and 25 hours.

Beacons are sent at known instants (the app's injected clock) to sites in Asia/Kathmandu
(+05:45), Asia/Tehran (+03:30; until 2022 it changed clocks at midnight, so one day had no
00:00 at all), Europe/Berlin and America/Los_Angeles on their DST changes. Each must land on
the site's local day and hour, and the hourly series the dashboard and the API draw must have
one slot per hour the day really had: 23 on a spring-forward day (no slot for the hour that
never happened) and 24 on a fall-back day (the repeated hour is one bucket, as a reader of a
local-time chart expects).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from collector.config import Settings
from collector.localtime import day_end, day_number, local_day_hour
from tests.conftest import Server
from tests.dashboard_support import Dash, make_world
from tests.support import Clock, add_site, plausible

ZONES = ("Asia/Kathmandu", "Asia/Tehran", "Europe/Berlin", "America/Los_Angeles")


def utc(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc).timestamp()


@pytest.fixture
def sites(settings: Settings) -> Iterator[tuple[Server, dict[str, str]]]:
    """One running app with a site per zone (``kathmandu.example`` …); yields it and the zone → domain map."""
    domains = {zone: zone.split("/")[1].lower() + ".example" for zone in ZONES}
    first = add_site(settings, domains[ZONES[0]], ZONES[0])
    for zone in ZONES[1:]:
        add_site(settings, domains[zone], zone)
    server = Server(settings, Clock(utc("2026-06-10T10:00:00")), first)
    with server.client:
        yield server, domains


def beacon(server: Server, domain: str, at: str, peer: str) -> None:
    server.clock.now = utc(at)
    response = server.post("/api/event", plausible(domain, f"https://{domain}/"), peer=peer)
    assert response.status_code == 202 and "x-crumbless-dropped" not in response.headers, response.headers


def site_id(server: Server, domain: str) -> int:
    return next(s.id for s in server.call(server.state.store.sites) if s.domain == domain)


def day_totals(server: Server, domain: str, first: date, last: date) -> dict[str, int]:
    rows = server.call(server.state.store.daily_totals, site_id(server, domain), day_number(first), day_number(last))
    return {date.fromordinal(day + date(1970, 1, 1).toordinal()).isoformat(): row["pageviews"] for day, row in rows}


def hours(server: Server, domain: str, day: date) -> dict[int, int]:
    first = day_number(day) * 24
    rows = server.call(server.state.store.hourly, site_id(server, domain), first, first + 23)
    return {hour - first: row["visitors"] for hour, row in rows}


@pytest.mark.parametrize(
    "zone, before, after, last_day",
    [
        # The last second of a local day and the first of the next, in UTC.
        ("Asia/Kathmandu", "2026-06-10T18:14:59", "2026-06-10T18:15:00", "2026-06-10"),
        ("Asia/Tehran", "2026-06-10T20:29:59", "2026-06-10T20:30:00", "2026-06-10"),
        # Tehran's last spring-forward: 2021-03-21 24:00 +03:30 became 2021-03-22 01:00 +04:30.
        ("Asia/Tehran", "2021-03-21T20:29:59", "2021-03-21T20:30:00", "2021-03-21"),
        ("Europe/Berlin", "2026-03-28T22:59:59", "2026-03-28T23:00:00", "2026-03-28"),
        ("Europe/Berlin", "2026-10-25T22:59:59", "2026-10-25T23:00:00", "2026-10-25"),  # end of a 25-hour day
        ("America/Los_Angeles", "2026-11-02T07:59:59", "2026-11-02T08:00:00", "2026-11-01"),
        ("America/Los_Angeles", "2026-03-09T06:59:59", "2026-03-09T07:00:00", "2026-03-08"),  # end of a 23-hour day
    ],
)
def test_a_day_ends_at_the_sites_local_midnight(
    sites: tuple[Server, dict[str, str]], zone: str, before: str, after: str, last_day: str
) -> None:
    server, domains = sites
    domain = domains[zone]
    beacon(server, domain, before, "198.51.100.1")
    beacon(server, domain, after, "198.51.100.2")
    server.flush()
    ended = date.fromisoformat(last_day)
    following = date.fromordinal(ended.toordinal() + 1)
    assert day_totals(server, domain, ended, following) == {ended.isoformat(): 1, following.isoformat(): 1}
    assert hours(server, domain, ended) == {23: 1}
    first_hour = 1 if (zone, last_day) == ("Asia/Tehran", "2021-03-21") else 0  # that day had no 00:00
    assert hours(server, domain, following) == {first_hour: 1}
    # The visitor state, the salt and the Redis keys expire at this second: the same midnight.
    assert day_end(day_number(ended), ZoneInfo(zone)) == int(utc(after))
    assert local_day_hour(utc(after), ZoneInfo(zone)) == (
        day_number(following),
        day_number(following) * 24 + first_hour,
    )


def api_hours(server: Server, token: str, website_id: str, day: str) -> list[tuple[str, int]]:
    client = Dash(server)
    response = client.get(
        f"/api/v1/sites/{website_id}/timeseries?period=custom&from={day}&to={day}",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["granularity"] == "hour"
    return [(point["time"], point["visitors"]) for point in body["points"]]


@pytest.mark.parametrize(
    "zone, day, beacons, missing, busiest",
    [
        # Spring forward: 02:00 CET became 03:00 CEST at 01:00 UTC; there was no 02:00.
        ("Europe/Berlin", "2026-03-29", ["2026-03-29T00:59:00", "2026-03-29T01:00:00"], [2], {1: 1, 3: 1}),
        # Fall back: 03:00 CEST became 02:00 CET at 01:00 UTC; both 02:30s are hour 2.
        ("Europe/Berlin", "2026-10-25", ["2026-10-25T00:30:00", "2026-10-25T01:30:00"], [], {2: 2}),
        ("America/Los_Angeles", "2026-03-08", ["2026-03-08T09:59:00", "2026-03-08T10:00:00"], [2], {1: 1, 3: 1}),
        ("America/Los_Angeles", "2026-11-01", ["2026-11-01T08:30:00", "2026-11-01T09:30:00"], [], {1: 2}),
        ("Asia/Tehran", "2021-03-22", ["2021-03-21T20:30:00", "2021-03-21T21:29:59"], [0], {1: 2}),
        ("Asia/Kathmandu", "2026-06-10", ["2026-06-09T18:15:00", "2026-06-10T03:44:59"], [], {0: 1, 9: 1}),
    ],
)
def test_the_hourly_series_has_one_slot_per_hour_the_day_had(
    sites: tuple[Server, dict[str, str]],
    zone: str,
    day: str,
    beacons: list[str],
    missing: list[int],
    busiest: dict[int, int],
) -> None:
    server, domains = sites
    domain = domains[zone]
    for i, at in enumerate(beacons):
        beacon(server, domain, at, f"198.51.100.{i + 1}")
    server.flush()
    assert hours(server, domain, date.fromisoformat(day)) == busiest

    world = make_world(server)
    website_id = next(s.website_id for s in server.call(server.state.store.sites) if s.domain == domain)
    series = api_hours(server, world.token(world.admin), website_id, day)
    expected = [h for h in range(24) if h not in missing]
    assert [t for t, _ in series] == [f"{day}T{h:02d}:00" for h in expected]
    assert {int(t[11:13]): v for t, v in series if v} == busiest

    page = world.admin.get(f"/sites/{website_id}?period=custom&from={day}&to={day}")
    assert page.status_code == 200
    table = re.search(r"<tbody>(.*?)</tbody>", page.text, re.S)
    assert table is not None
    assert table.group(1).count("<tr>") == len(expected), "the chart's table lists the day's real hours"
    assert len(re.findall(r'<g class="slot"', page.text)) == len(expected)


def test_tzdata_is_a_dependency_with_every_zone_the_tests_use() -> None:
    """Where the system has no zone files (a slim container, Windows) the rules come from the
    ``tzdata`` package, which a pip upgrade updates."""
    import importlib.metadata
    import tomllib

    import tzdata

    project = tomllib.loads((Path(__file__).resolve().parent.parent / "pyproject.toml").read_text())["project"]
    assert any(dep.split(">")[0].split("=")[0].strip() == "tzdata" for dep in project["dependencies"])
    assert importlib.metadata.version("tzdata")
    assert all((Path(tzdata.__file__).parent / "zoneinfo" / zone).is_file() for zone in ZONES)


def test_zone_rules_come_from_the_tzdata_package_before_the_systems(tmp_path: Path) -> None:
    """Python's ``zoneinfo`` prefers the system's zone files, so on its own a pip upgrade of
    ``tzdata`` would change nothing where the system has them (Debian). Here the "system" is a
    zone directory whose ``Europe/Berlin`` holds Kathmandu's rules: plain ``ZoneInfo`` follows it,
    while every zone Crumbless builds (a site's, the audit's) keeps the package's Berlin."""
    import subprocess
    import sys

    import tzdata

    package = Path(tzdata.__file__).parent / "zoneinfo"
    system = tmp_path / "zoneinfo"
    (system / "Europe").mkdir(parents=True)
    (system / "Europe" / "Berlin").write_bytes((package / "Asia" / "Kathmandu").read_bytes())
    probe = (
        "from datetime import datetime\n"
        "from zoneinfo import ZoneInfo\n"
        "from collector.sites import Site\n"
        "from collector.zones import zone\n"
        "summer = datetime(2026, 6, 10, 12)\n"
        "site = Site(1, 'w', 'berlin.example', 'Berlin', 'Europe/Berlin')\n"
        "print(ZoneInfo('Europe/Berlin').utcoffset(summer))\n"
        "print(site.tz.utcoffset(summer), zone('Europe/Berlin') is site.tz)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        env={"PYTHONTZPATH": str(system), "PATH": "/usr/bin:/bin"},
        cwd=Path(__file__).resolve().parent.parent,
        capture_output=True,
        text=True,
        check=True,
    )
    stdlib, crumbless = done.stdout.splitlines()
    assert stdlib == "5:45:00", "the fake system file is what plain ZoneInfo reads"
    assert crumbless == "2:00:00 True"

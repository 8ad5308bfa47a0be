"""The site settings' export download and zip upload, through the real app: admins only, all or nothing.

The zip downloaded from one site is uploaded into the other and gives back its rows; a broken
upload changes nothing and says why on the page; a viewer, a missing CSRF token or a foreign
Origin gets nothing; the overview's chart marks the imported days.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator

import pytest

from collector.transfer.plausible_format import TABLES
from tests.conftest import Server
from tests.dashboard_support import World, make_world
from tests.support import daily_rows
from tests.test_transfer_plausible import carried, send_stream


@pytest.fixture
def world(server: Server) -> Iterator[World]:
    yield make_world(server)


def upload(world: World, site_id: str, data: bytes, replace: bool = False, **kwargs: object) -> object:
    fields = {"csrf": world.admin.csrf, **({"replace": "on"} if replace else {})}
    return world.admin.request(
        "POST",
        f"/sites/{site_id}/import/plausible",
        data=fields,
        files={"zip": ("export.zip", data, "application/zip")},
        headers={"Origin": world.admin.ORIGIN},
        **kwargs,
    )


def test_download_then_upload_into_another_site(world: World) -> None:
    send_stream(world.server)
    site, other = world.site, world.other
    settings = world.admin.get(f"/sites/{site.website_id}/settings")
    assert f'href="/sites/{site.website_id}/export/plausible.zip"' in settings.text
    got = world.admin.get(f"/sites/{site.website_id}/export/plausible.zip")
    assert got.status_code == 200 and got.headers["content-type"] == "application/zip"
    assert 'filename="example_com_' in got.headers["content-disposition"]
    with zipfile.ZipFile(io.BytesIO(got.content)) as archive:
        assert len(archive.namelist()) == len(TABLES)

    world.admin.get(f"/sites/{other.website_id}/imports")
    done = upload(world, other.website_id, got.content)
    assert done.status_code == 303 and done.headers["location"] == f"/sites/{other.website_id}/imports?imported=1"  # type: ignore[attr-defined]
    page = world.admin.get(f"/sites/{other.website_id}/imports?imported=1")
    assert "Import #1 is done." in page.text and "plausible export.zip" in page.text
    assert carried(daily_rows(world.server.settings.database, other.id)) == carried(
        daily_rows(world.server.settings.database, site.id)
    )

    # the same zip again is refused on the page, and nothing changes; replacing it changes nothing either
    before = daily_rows(world.server.settings.database, other.id)
    again = upload(world, other.website_id, got.content)
    assert again.status_code == 400 and "Nothing was imported: the site already holds import #1" in again.text  # type: ignore[attr-defined]
    assert daily_rows(world.server.settings.database, other.id) == before
    world.admin.get(f"/sites/{other.website_id}/imports")
    assert upload(world, other.website_id, got.content, replace=True).status_code == 303  # type: ignore[attr-defined]
    assert daily_rows(world.server.settings.database, other.id) == before

    # the overview marks the imported days under the chart
    overview = world.admin.get(f"/sites/{other.website_id}?period=custom&from=2026-06-01&to=2026-06-04")
    assert overview.status_code == 200
    assert overview.text.count('class="imported"') == 1 and "<title>Imported history</title>" in overview.text
    plain = world.admin.get(f"/sites/{site.website_id}?period=custom&from=2026-06-01&to=2026-06-04")
    assert 'class="imported"' not in plain.text


def test_a_broken_upload_says_why_and_changes_nothing(world: World) -> None:
    before = daily_rows(world.server.settings.database)
    world.admin.get(f"/sites/{world.site.website_id}/imports")
    done = upload(world, world.site.website_id, b"not a zip")
    assert done.status_code == 400  # type: ignore[attr-defined]
    assert "Nothing was imported: export.zip: not a zip file" in done.text  # type: ignore[attr-defined]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("imported_visitors_20260601_20260601.csv", "date,visitors\n")
    world.admin.get(f"/sites/{world.site.website_id}/imports")
    done = upload(world, world.site.website_id, buffer.getvalue())
    assert done.status_code == 400 and "no imported_sources" in done.text  # type: ignore[attr-defined]
    assert daily_rows(world.server.settings.database) == before


def test_only_admins_with_the_form_may_upload_or_download(world: World) -> None:
    site = world.site
    assert world.viewer.get(f"/sites/{site.website_id}/export/plausible.zip").status_code == 403
    assert world.viewer.get(f"/sites/{site.website_id}/imports").status_code == 403
    viewer = world.viewer.request(
        "POST",
        f"/sites/{site.website_id}/import/plausible",
        data={"csrf": world.viewer.csrf},
        files={"zip": ("export.zip", b"x", "application/zip")},
        headers={"Origin": world.viewer.ORIGIN},
    )
    assert viewer.status_code == 403
    anonymous = world.anonymous().request(
        "POST", f"/sites/{site.website_id}/import/plausible", files={"zip": ("export.zip", b"x")}
    )
    assert anonymous.status_code == 403
    world.admin.get(f"/sites/{site.website_id}/imports")
    foreign = world.admin.request(
        "POST",
        f"/sites/{site.website_id}/import/plausible",
        data={"csrf": world.admin.csrf},
        files={"zip": ("export.zip", b"x")},
        headers={"Origin": "https://evil.example"},
    )
    assert foreign.status_code == 403
    no_token = world.admin.request(
        "POST",
        f"/sites/{site.website_id}/import/plausible",
        files={"zip": ("export.zip", b"x")},
        headers={"Origin": world.admin.ORIGIN},
    )
    assert no_token.status_code == 403
    assert upload(world, "no-such-site", b"x").status_code == 404  # type: ignore[attr-defined]

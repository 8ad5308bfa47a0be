"""The dashboard in a real headless Chromium against a real ``crumbless serve``.

What only a browser shows: the login round trip with the SameSite=Strict cookie, range links
that keep working when bookmarked, the full list and its search, a CSV download, realtime moving
without a reload (the self-hosted script polling under the strict CSP), and how the overview
looks — screenshots in light and dark, desktop and phone width, saved to ``test-artifacts/``.
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest

from collector.localtime import day_number
from tests.browser import DESKTOP_CHROME, browser  # noqa: F401  (the fixture)
from tests.dashboard_support import create_user, seed_history
from tests.live_server import REPO, LiveServer, add_site, crumbless_env
from tests.support import umami

PASSWORD = "browser-test-password"
ARTIFACTS = REPO / "test-artifacts"


@dataclass
class Live:
    server: LiveServer
    website_id: str

    @property
    def overview(self) -> str:
        return f"{self.server.base_url}/sites/{self.website_id}"

    def beacon(self, path: str, forwarded: str, referrer: str = "") -> None:
        body = umami(self.website_id, f"https://example.com{path}", referrer=referrer)
        headers = {"User-Agent": DESKTOP_CHROME, "Content-Type": "text/plain", "X-Forwarded-For": forwarded}
        with httpx.Client(trust_env=False) as http:
            assert http.post(f"{self.server.base_url}/api/send", content=body, headers=headers).status_code == 200


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, geo_db: Path) -> Iterator[Live]:
    work = tmp_path_factory.mktemp("dashboard-live")
    env = crumbless_env(work / "data", geo_db, flush_interval="0.5", access_log="off")
    website_id = add_site(env, "example.com", cwd=work)
    database = work / "data" / "crumbless.db"
    create_user(database, "admin", PASSWORD)
    today = day_number(datetime.now(timezone.utc).date())
    seed_history(database, 1, today - 45, 45)
    server = LiveServer(env, work)
    server.start()
    live = Live(server, website_id)
    for i, (path, ip) in enumerate([("/", "192.0.2.10"), ("/pricing", "198.51.100.7"), ("/", "203.0.113.9")]):
        live.beacon(path, ip, referrer="https://news.ycombinator.com/item" if i == 0 else "")
    try:
        yield live
    finally:
        server.kill()


def _login(page: Any, live: Live, target: str) -> None:
    page.goto(target)
    assert "/login" in page.url
    page.get_by_label("User name").fill("admin")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(lambda url: "/login" not in url)


def test_login_ranges_full_list_csv_and_realtime(browser: Any, live: Live, tmp_path: Path) -> None:
    context = browser.new_context(user_agent=DESKTOP_CHROME, viewport={"width": 1280, "height": 900}, accept_downloads=True)
    page = context.new_page()
    csp_errors: list[str] = []
    page.on("console", lambda msg: csp_errors.append(msg.text) if "Content Security Policy" in msg.text else None)
    try:
        _login(page, live, live.overview)
        assert page.url.startswith(live.overview)
        assert page.locator("h1").inner_text() == "example.com"

        page.get_by_role("link", name="Last 7 days").click()
        page.wait_for_url("**period=7d")
        assert page.locator(".periods a[aria-current]").inner_text() == "Last 7 days"
        bookmarked = page.url
        page.get_by_role("link", name="Yesterday").click()
        page.wait_for_url("**period=yesterday")
        page.goto(bookmarked)  # a bookmark brings the same range back
        assert page.locator(".periods a[aria-current]").inner_text() == "Last 7 days"

        page.get_by_role("link", name="Details of pages").click()
        page.wait_for_url("**/list/page?**")
        assert page.locator("h1").inner_text() == "Pages"
        assert page.locator(".toplist tbody tr").count() == 50
        page.get_by_label("Search pages").fill("post-001")
        page.get_by_role("button", name="Search").click()
        page.wait_for_url("**q=post-001**")
        labels = page.locator(".toplist tbody .text").all_inner_texts()
        assert labels and all("post-001" in label for label in labels)

        with page.expect_download() as download_info:
            page.get_by_role("link", name="Export CSV").click()
        saved = tmp_path / "pages.csv"
        download_info.value.save_as(saved)
        rows = list(csv.reader(io.StringIO(saved.read_text())))
        assert rows[0] == ["value", "visitors", "pageviews", "time_on_page_s", "scroll_depth"]
        assert len(rows) > 100  # the whole list, not one page of it

        page.goto(live.overview + "?period=today")
        shown = int(page.locator("#rt-visitors").inner_text())
        live.beacon("/realtime-check", "192.0.2.99")
        deadline = time.monotonic() + 15  # the page polls every 5 s; no reload happens here
        while int(page.locator("#rt-visitors").inner_text()) <= shown:
            assert time.monotonic() < deadline, "realtime did not move after a beacon"
            page.wait_for_timeout(250)
        assert page.locator("#realtime").get_attribute("data-updated")
        assert csp_errors == []
    finally:
        context.close()


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_overview_screenshots(browser: Any, live: Live, scheme: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    sizes = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}
    context = browser.new_context(user_agent=DESKTOP_CHROME, color_scheme=scheme, viewport=sizes["desktop"])
    page = context.new_page()
    try:
        _login(page, live, live.overview + "?period=30d")
        for size, viewport in sizes.items():
            page.set_viewport_size(viewport)
            page.goto(live.overview + "?period=30d")
            page.wait_for_load_state("networkidle")
            path = ARTIFACTS / f"overview-{scheme}-{size}.png"
            page.screenshot(path=str(path), full_page=True)
            assert path.stat().st_size > 10_000
            # nothing spills sideways on a phone
            assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
    finally:
        context.close()

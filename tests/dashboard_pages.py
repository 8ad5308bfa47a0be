"""Every dashboard page a person can reach, served by a real ``crumbless serve``, for browser checks.

One running server holds a site with 45 days of history, today's beacons, two goals and a funnel,
a site nothing has been counted for yet, an admin, a viewer and a share link, so a test can walk
through the pages a new user sees (login, sites, overview with data and empty, a full list,
settings, users, account, the share view) and judge each one in a real Chromium.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from collector.localtime import day_number
from tests.browser import DESKTOP_CHROME
from tests.dashboard_support import _run, _with_store, create_user, grant, seed_history, seed_segments
from tests.live_server import LiveServer, add_site, crumbless_env
from tests.support import umami

ADMIN = ("admin", "pages-admin-password")
VIEWER = ("viewer", "pages-viewer-password")
SHARE_TOKEN = "pages-share-token-0123456789abcdefghij"
TODAY_BEACONS = (
    ("/", "192.0.2.10", "https://news.ycombinator.com/item"),
    ("/pricing?utm_source=mastodon&utm_medium=social", "198.51.100.7", ""),
    ("/", "203.0.113.9", ""),
)


@dataclass(frozen=True)
class Pages:
    server: LiveServer
    website_id: str  # the site with data
    empty_id: str  # the site nothing was counted for

    def url(self, path: str) -> str:
        return self.server.base_url + path

    def logged_in(self) -> dict[str, str]:
        """The pages behind the login, by name."""
        site, empty = f"/sites/{self.website_id}", f"/sites/{self.empty_id}"
        return {
            "sites": "/sites",
            "overview": f"{site}?period=30d",
            "overview-today": f"{site}?period=today",
            "overview-filtered": f"{site}?period=30d&filter=source:Google",
            "list-filtered": f"{site}/list/country?period=30d&filter=source:Google",
            "overview-empty": empty,
            "list": f"{site}/list/page?period=30d",
            "list-sources": f"{site}/list/source?period=30d",
            "settings": f"{site}/settings",
            "imports": f"{site}/imports",
            "new-site": "/sites/new",
            "users": "/users",
            "account": "/account",
        }

    def public(self) -> dict[str, str]:
        """The pages anyone may open."""
        return {
            "login": "/login",
            "share": f"/share/{SHARE_TOKEN}?period=30d",
            "share-list": f"/share/{SHARE_TOKEN}/list/country",
            "share-filtered": f"/share/{SHARE_TOKEN}?period=30d&filter=page:/pricing",
        }


def _beacon(base_url: str, website_id: str, path: str, forwarded: str, referrer: str) -> None:
    body = umami(website_id, f"https://example.com{path}", referrer=referrer)
    headers = {"User-Agent": DESKTOP_CHROME, "Content-Type": "text/plain", "X-Forwarded-For": forwarded}
    with httpx.Client(trust_env=False) as http:
        assert http.post(f"{base_url}/api/send", content=body, headers=headers).status_code == 200


async def _define_conversions(store: Any) -> None:
    """Goals (one filled in from the seeded Signup events, one counted from today) and a funnel of them."""
    today = day_number(datetime.now(UTC).date())
    signup = await store.add_goal(1, "Signup", "event", "Signup", "", "", "", today)
    pricing = await store.add_goal(1, "Pricing page", "page", "", "", "", "/pricing/**", today)
    await store.add_funnel(1, "Pricing to signup", (pricing.id, signup.id), "visit", today)


@contextmanager
def running_pages(work: Path, geo_db: Path) -> Iterator[Pages]:
    env = crumbless_env(work / "data", geo_db, flush_interval="0.5", access_log="off")
    website_id = add_site(env, "example.com", cwd=work)
    empty_id = add_site(env, "fresh.example.org", cwd=work)
    database = work / "data" / "crumbless.db"
    create_user(database, *ADMIN)
    viewer = create_user(database, *VIEWER, role="viewer")
    grant(database, viewer, [1])
    seed_history(database, 1, day_number(datetime.now(UTC).date()) - 45, 45)
    seed_segments(database, 1, day_number(datetime.now(UTC).date()) - 45, 45)
    _run(_with_store(database, lambda store: store.set_share_token(1, SHARE_TOKEN)))
    _run(_with_store(database, _define_conversions))
    server = LiveServer(env, work)
    server.start()
    try:
        for path, address, referrer in TODAY_BEACONS:
            _beacon(server.base_url, website_id, path, address, referrer)
        yield Pages(server, website_id, empty_id)
    finally:
        server.kill()


def log_in(page: Any, pages: Pages, who: tuple[str, str] = ADMIN) -> None:
    page.goto(pages.url("/login"))
    page.get_by_label("User name").fill(who[0])
    page.get_by_label("Password").fill(who[1])
    page.locator("form.stack button[type=submit]").click()
    page.wait_for_url(lambda url: "/login" not in url)

"""Helpers for the dashboard tests: users straight into the store, and synthetic history.

History is written as aggregate batches through the store's own ``write_counts`` — the same rows
the flusher writes — so a year of data takes a second to make instead of millions of beacons.
Values follow a Zipf-like spread so top lists and full lists look like a real site's.
"""

from __future__ import annotations

import asyncio
import random
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from collector.aggregator import Batch
from collector.model import COUNTERS, ENTRIES, ENTRY_BOUNCES, ENTRY_DURATION, ENTRY_PAGEVIEWS, ENTRY_VISITORS, EXITS
from collector.sites import Site
from collector.config import for_database
from collector.store import Store, opened_store
from dashboard.passwords import hash_password

VISITORS, VISITS, PAGEVIEWS, BOUNCES, DURATION = range(5)


def _run(coro):  # type: ignore[no-untyped-def]
    """asyncio.run in a thread of its own: Playwright's sync API keeps a loop running in this one."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


async def _with_store(database: Path, work):  # type: ignore[no-untyped-def]
    async with opened_store(for_database(database)) as store:
        return await work(store)


def create_user(database: Path, name: str, password: str, role: str = "admin") -> int:
    async def work(store: Store) -> int:
        await store.add_user(name, hash_password(password), role)
        user = await store.user_by_name(name)
        assert user is not None
        return user.id

    return _run(_with_store(database, work))


def grant(database: Path, user: int, sites: list[int]) -> None:
    _run(_with_store(database, lambda store: store.set_grants(user, sites)))


DIM_SIZES = {
    "page": 300, "entry_page": 120, "exit_page": 120, "source": 40, "utm_source": 8, "utm_medium": 5,
    "utm_campaign": 12, "country": 60, "browser": 10, "os": 8, "device": 3, "screen": 5, "language": 30,
    "event": 6, "event_prop": 24,
}
SOURCES = ["", "Google", "DuckDuckGo", "news.ycombinator.com", "Bing", "GitHub", "Mastodon", "Reddit", "Newsletter", "lobste.rs"]
COUNTRIES = ["US", "DE", "FR", "GB", "NL", "JP", "CA", "IN", "BR", "SE", "ES", "IT", "PL", "CH", "AU"]
BROWSERS = ["Chrome", "Firefox", "Safari", "Edge", "Mobile Safari", "Samsung Internet", "Opera", "Vivaldi", "Brave", "Other"]


def _value(dim: str, i: int) -> str:
    if dim in ("page", "entry_page", "exit_page"):
        return "/" if i == 0 else f"/blog/post-{i:04d}"
    if dim == "source":
        return SOURCES[i] if i < len(SOURCES) else f"site-{i}.example"
    if dim == "country":
        return COUNTRIES[i] if i < len(COUNTRIES) else f"{chr(65 + i // 26 % 26)}{chr(65 + i % 26)}"
    if dim == "browser":
        return BROWSERS[i % len(BROWSERS)]
    if dim == "device":
        return ("desktop", "mobile", "tablet")[i]
    if dim == "event_prop":
        return f"Signup\x1fplan\x1fplan-{i}"
    if dim == "event":
        return ("Signup", "Download", "Outbound Link: Click", "Newsletter", "Search", "Share")[i]
    return f"{dim}-{i}"


def history_batch(site: int, first_day: int, days: int, daily_visitors: int = 400, seed: int = 7, scale: float = 1.0) -> Batch:
    """``days`` days of counters ending the day before ``first_day + days``, weekly rhythm and Zipf values."""
    rng = random.Random(seed)
    batch = Batch()
    for offset in range(days):
        day = first_day + offset
        weekday = 0.7 if day % 7 in (2, 3) else 1.0
        visitors = int(daily_visitors * weekday * rng.uniform(0.8, 1.2))
        visits = int(visitors * 1.2)
        pageviews = int(visits * 2.3)
        row = [visitors, visits, pageviews, int(visits * 0.45), visits * 95, int(visitors * 0.1), pageviews * 30000, pageviews * 55, pageviews]
        _add(batch, (site, day, "total", ""), row)
        for dim, size in DIM_SIZES.items():
            n = max(1, int(size * scale)) if dim in ("page", "entry_page", "exit_page") else size
            weights = [1 / (i + 1) for i in range(n)]
            norm = sum(weights)
            for i, w in enumerate(weights):
                share = w / norm
                v = max(1, int(visitors * share))
                drow = [v, max(1, int(visits * share)), max(1, int(pageviews * share)), int(visits * share * 0.4), int(visits * share * 90), 0, 0, 0, 0]
                if dim in ("event", "event_prop"):
                    drow = [v, 0, 0, 0, 0, max(1, int(visitors * 0.1 * share)), 0, 0, 0]
                if dim == "page":
                    drow[6:9] = [drow[2] * rng.randint(8000, 90000), drow[2] * rng.randint(20, 95), drow[2]]
                _add(batch, (site, day, dim, _value(dim, i)), drow)
        for hour in range(24):
            curve = 0.3 + (1 if 8 <= hour <= 22 else 0) * (0.7 + 0.3 * rng.random())
            hv = int(visitors / 14 * curve)
            batch.hourly[(site, day * 24 + hour)] = [hv, int(hv * 1.1), int(hv * 2.5), int(hv * 0.5), hv * 90]
    assert all(len(r) == len(COUNTERS) for r in batch.daily.values())
    return batch


def _add(batch: Batch, key: tuple[int, int, str, str], row: list[int]) -> None:
    """Add a row given in the nine counters every dimension once had, as the model stores it now:
    an entry page's figures in the page row's entry columns, an exit page's visits as its exits."""
    site, day, dim, value = key
    stored = [0] * len(COUNTERS)
    if dim == "entry_page":
        for old, new in zip(row[:5], (ENTRY_VISITORS, ENTRIES, ENTRY_PAGEVIEWS, ENTRY_BOUNCES, ENTRY_DURATION)):
            stored[new] = old
    elif dim == "exit_page":
        stored[EXITS] = row[1]
    else:
        stored[: len(row)] = row
    target = batch.daily.setdefault((site, day, "page" if dim.endswith("_page") else dim, value), [0] * len(COUNTERS))
    for i, n in enumerate(stored):
        target[i] += n


def seed_history(database: Path, site: int, first_day: int, days: int, **kwargs) -> None:  # type: ignore[no-untyped-def]
    _run(_with_store(database, lambda store: store.write_counts(history_batch(site, first_day, days, **kwargs))))


class Dash:
    """One dashboard user's browser, in-process: its own cookie jar, forms sent with the CSRF token.

    Requests run on the app's own event loop (like ``Server.post``), so any number of users can
    share one running app without sharing cookies.
    """

    ORIGIN = "http://crumbless.test"

    def __init__(self, server: Any) -> None:
        self.server = server
        self.cookies = httpx.Cookies()
        self.csrf = ""

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        async def send() -> httpx.Response:
            transport = httpx.ASGITransport(self.server.app, client=("127.0.0.1", 50000))
            async with httpx.AsyncClient(transport=transport, base_url=self.ORIGIN, cookies=self.cookies) as http:
                response = await http.request(method, path, **kwargs)
                self.cookies = httpx.Cookies(http.cookies)
                return response

        response: httpx.Response = self.server.call(send)
        token = re.search(r'name="csrf" value="([^"]+)"', response.text) if response.headers.get("content-type", "").startswith("text/html") else None
        if token and response.status_code == 200 and self.cookies:
            self.csrf = token.group(1)
        return response

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, data: dict[str, Any] | None = None, csrf: bool = True, origin: str | None = ORIGIN, **kwargs: Any) -> httpx.Response:
        form = dict(data or {})
        if csrf:
            form.setdefault("csrf", self.csrf)
        headers = {**({"Origin": origin} if origin else {}), **kwargs.pop("headers", {})}
        return self.request("POST", path, data=form, headers=headers, **kwargs)

    def login(self, name: str, password: str) -> httpx.Response:
        page = self.get("/login")
        token = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert token, page.text
        response = self.post("/login", {"name": name, "password": password, "csrf": token.group(1), "next": "/sites"})
        if response.status_code == 303:
            self.get("/account")  # picks up the session's CSRF token
        return response


ADMIN_PASSWORD = "admin-password-1"
VIEWER_PASSWORD = "viewer-password-1"


@dataclass
class World:
    """A running app with two sites, an admin and a viewer who may read only the first site."""

    server: Any
    admin: Dash
    viewer: Dash
    site: Site      # example.com, the viewer's
    other: Site     # other.org, not the viewer's

    def anonymous(self) -> Dash:
        return Dash(self.server)

    def token(self, who: Dash) -> str:
        page = who.post("/account/tokens", {"name": "test"})
        assert page.status_code == 200, page.text
        found = re.search(r'<pre id="new-token"><code>([^<]+)</code>', page.text)
        assert found, "the new token is shown once"
        return found.group(1)


def make_world(server: Any) -> World:
    database = server.settings.database
    other = server.call(server.state.store.add_site, "other.org", "Other", "Europe/Berlin", ())
    server.call(server.state.collector.sites.refresh)
    create_user(database, "admin", ADMIN_PASSWORD, "admin")
    viewer_id = create_user(database, "viewer", VIEWER_PASSWORD, "viewer")
    grant(database, viewer_id, [server.site.id])
    admin, viewer = Dash(server), Dash(server)
    assert admin.login("admin", ADMIN_PASSWORD).status_code == 303
    assert viewer.login("viewer", VIEWER_PASSWORD).status_code == 303
    return World(server, admin, viewer, server.site, other)


def segment_batch(site: int, first_day: int, days: int, source: str = "Google") -> Batch:
    """One source's segment cells (``model.SEGMENTS``) for ``days`` days: its pages, entry pages,
    countries and devices, so a filter by it has lists to show. The source's own rows are the history's."""
    batch = Batch()
    cells = {
        "source>page": [("/", 9, 20), ("/pricing", 5, 7), ("/blog/post-0001", 3, 3), ("(other)", 2, 2)],
        "source>entry_page": [("/", 8, 18), ("/blog/post-0001", 3, 3)],
        "source>country": [("US", 6, 14), ("DE", 4, 8), ("FR", 3, 4)],
        "source>device": [("desktop", 9, 20), ("mobile", 4, 6)],
    }
    for day in range(first_day, first_day + days):
        for dim, values in cells.items():
            for value, visitors, pageviews in values:
                row = [0] * len(COUNTERS)
                row[VISITORS], row[PAGEVIEWS] = visitors, pageviews
                if dim != "source>page":  # visit cells
                    row[VISITS], row[BOUNCES], row[DURATION] = visitors + 1, visitors // 3, visitors * 80
                batch.daily[(site, day, dim, f"{source}\x1f{value}")] = row
    return batch


def seed_segments(database: Path, site: int, first_day: int, days: int) -> None:
    _run(_with_store(database, lambda store: store.write_counts(segment_batch(site, first_day, days))))

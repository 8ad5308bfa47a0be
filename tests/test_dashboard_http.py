"""The dashboard over HTTP against the real app and a real SQLite file: every page, and who may see it.

Authorization is the point of most of these tests: no page leaks a number without a session, a
viewer reads only the sites granted and changes nothing, a share link reads one site and
nothing else, and a form posted without its CSRF token or from another origin changes nothing.
"""

from __future__ import annotations

import csv
import io
import json
import re
import sqlite3
from collections.abc import Iterator

import httpx
import pytest

from collector.localtime import day_number
from dashboard.headers import CSP
from tests.conftest import Server
from tests.dashboard_support import ADMIN_PASSWORD, VIEWER_PASSWORD, Dash, World, make_world, seed_history
from tests.support import CHROME, IPHONE, umami


@pytest.fixture
def world(server: Server) -> Iterator[World]:
    yield make_world(server)


def site_pages(website_id: str) -> list[str]:
    base = f"/sites/{website_id}"
    return [base, f"{base}?period=7d", f"{base}/list/page", f"{base}/export/page.csv", f"{base}/export/timeseries.csv", f"{base}/realtime.json", f"{base}/settings"]


def test_no_page_answers_without_a_session(world: World) -> None:
    world.server.post("/api/send", umami(world.site.website_id, "https://example.com/secret-page"))
    world.server.flush()
    anonymous = world.anonymous()
    for path in [*site_pages(world.site.website_id), "/sites", "/sites/new", "/users", "/account"]:
        response = anonymous.get(path, follow_redirects=False)
        assert response.status_code == 303, path
        assert response.headers["location"].startswith("/login?next=")
        assert "secret-page" not in response.text
    for path in ["/sites/new", f"/sites/{world.site.website_id}/settings", f"/sites/{world.site.website_id}/delete", "/users", "/account/tokens", "/logout"]:
        assert anonymous.post(path, {"domain": "x.org"}, csrf=False).status_code == 403, path
    assert anonymous.get("/", follow_redirects=True).url.path == "/login"


def test_login_failures_are_limited_per_account_name(world: World) -> None:
    anonymous = world.anonymous()
    for _ in range(5):
        assert anonymous.login("admin", "wrong password").status_code == 401
    locked = anonymous.login("admin", ADMIN_PASSWORD)
    assert locked.status_code == 429 and "Too many failed attempts" in locked.text
    assert int(locked.headers["retry-after"]) > 0
    assert world.anonymous().login("viewer", "viewer-password-1").status_code == 303  # other accounts unaffected
    limiter = world.server.state.dashboard.limiter
    assert limiter.names() == {"admin"}  # keyed by account name only: no address anywhere


def test_login_form_needs_its_token_and_our_origin(world: World) -> None:
    anonymous = world.anonymous()
    token = re.search(r'name="csrf" value="([^"]+)"', anonymous.get("/login").text).group(1)  # type: ignore[union-attr]
    form = {"name": "admin", "password": ADMIN_PASSWORD, "next": "/sites"}
    assert anonymous.post("/login", form, csrf=False).status_code == 403
    assert anonymous.post("/login", {**form, "csrf": token}, origin="https://evil.example").status_code == 403
    assert anonymous.post("/login", {**form, "csrf": token}, origin=None).status_code == 403
    ok = anonymous.post("/login", {**form, "csrf": token, "next": "//evil.example/"})
    assert ok.status_code == 303 and ok.headers["location"] == "/"  # never sent off-site after login


def test_the_session_cookie_is_the_only_cookie_and_is_locked_down(world: World) -> None:
    anonymous = world.anonymous()
    token = re.search(r'name="csrf" value="([^"]+)"', anonymous.get("/login").text).group(1)  # type: ignore[union-attr]
    response = anonymous.post("/login", {"name": "admin", "password": ADMIN_PASSWORD, "csrf": token})
    cookies = response.headers.get_list("set-cookie")
    assert len(cookies) == 1
    cookie = cookies[0].lower()
    assert cookie.startswith("crumbless=") and "httponly" in cookie and "samesite=strict" in cookie and "path=/" in cookie
    assert "secure" not in cookie  # plain http here; see the next test for https
    beacon = world.server.post("/api/send", umami(world.site.website_id, "https://example.com/"))
    assert "set-cookie" not in beacon.headers and "content-security-policy" not in beacon.headers


def test_the_cookie_is_secure_behind_https(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    from dataclasses import replace

    server.state.dashboard.settings = replace(server.settings, public_url="https://stats.example.org")
    world = make_world(server)
    anonymous = world.anonymous()
    token = re.search(r'name="csrf" value="([^"]+)"', anonymous.get("/login").text).group(1)  # type: ignore[union-attr]
    response = anonymous.post("/login", {"name": "admin", "password": ADMIN_PASSWORD, "csrf": token}, origin="https://stats.example.org")
    assert "secure" in response.headers["set-cookie"].lower()


def test_security_headers_and_no_inline_code(world: World) -> None:
    world.server.post("/api/send", umami(world.site.website_id, "https://example.com/"))
    world.server.flush()
    for path in [*site_pages(world.site.website_id), "/sites", "/sites/new", "/users", "/account"]:
        response = world.admin.get(path)
        assert response.status_code == 200, path
        assert response.headers["content-security-policy"] == CSP
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "same-origin"
        if response.headers["content-type"].startswith("text/html"):
            html = response.text
            assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), path
            assert " style=" not in html and "<style" not in html, path
            assert not re.search(r"""(src|href)=["']https?://(?!db-ip\.com)""", html), path  # nothing external


def test_forms_without_csrf_or_from_elsewhere_change_nothing(world: World) -> None:
    admin = world.admin
    assert admin.post("/sites/new", {"domain": "new.org", "timezone": "UTC"}, csrf=False).status_code == 403
    assert admin.post("/sites/new", {"domain": "new.org", "timezone": "UTC", "csrf": "forged"}).status_code == 403
    assert admin.post("/sites/new", {"domain": "new.org", "timezone": "UTC"}, origin="https://evil.example").status_code == 403
    assert admin.post("/sites/new", {"domain": "new.org", "timezone": "UTC"}, origin=None).status_code == 403
    assert "new.org" not in admin.get("/sites").text
    assert admin.post("/sites/new", {"domain": "new.org", "timezone": "UTC"}).status_code == 303
    assert "new.org" in admin.get("/sites").text


def test_a_viewer_reads_only_granted_sites_and_changes_nothing(world: World) -> None:
    viewer, other = world.viewer, world.other.website_id
    listing = viewer.get("/sites").text
    assert "example.com" in listing and "other.org" not in listing and "Add a site" not in listing
    for path in site_pages(world.site.website_id)[:-1]:
        assert viewer.get(path).status_code == 200, path
    for path in site_pages(other):
        assert viewer.get(path).status_code in (403, 404), path
    assert viewer.get(f"/sites/{world.site.website_id}/settings").status_code == 403
    assert viewer.get("/users").status_code == 403
    assert viewer.post(f"/sites/{world.site.website_id}/settings", {"domain": "hijack.org", "timezone": "UTC"}).status_code == 403
    assert viewer.post(f"/sites/{world.site.website_id}/delete", {"confirm": "example.com"}).status_code == 403
    assert viewer.post(f"/sites/{world.site.website_id}/share", {"enabled": "on"}).status_code == 403
    assert viewer.post("/users", {"name": "x", "password": "long-password-1", "role": "admin"}).status_code == 403
    assert "example.com" in world.admin.get("/sites").text and "hijack.org" not in world.admin.get("/sites").text


def test_a_share_link_reads_its_site_and_nothing_else(world: World) -> None:
    admin, site = world.admin, world.site.website_id
    assert admin.post(f"/sites/{site}/share", {"enabled": "on"}).status_code == 303
    found = re.search(r"https?://[^/\s<]+(/share/[A-Za-z0-9_-]+)", admin.get(f"/sites/{site}/settings").text)
    assert found
    link = found.group(1)
    stranger = world.anonymous()
    page = stranger.get(link + "?period=7d")
    assert page.status_code == 200 and "example.com" in page.text
    assert "/settings" not in page.text and 'href="/sites' not in page.text and "Log out" not in page.text
    for suffix in ["/list/page", "/export/page.csv", "/export/timeseries.csv", "/realtime.json"]:
        assert stranger.get(link + suffix).status_code == 200, suffix
    assert stranger.get(f"/sites/{site}", follow_redirects=False).status_code == 303  # the link is no session
    assert stranger.get(f"/sites/{world.other.website_id}", follow_redirects=False).status_code == 303
    assert stranger.get("/share/not-a-token").status_code == 404
    assert admin.post(f"/sites/{site}/share", {}).status_code == 303  # turned off: revoked
    assert stranger.get(link).status_code == 404


def test_sites_can_be_added_edited_and_deleted(world: World) -> None:
    admin, server = world.admin, world.server
    bad = admin.post("/sites/new", {"domain": "https://x.org/path", "timezone": "UTC"})
    assert bad.status_code == 400 and "not a domain name" in bad.text
    assert admin.post("/sites/new", {"domain": "shop.example.net", "timezone": "Mars/Olympus"}).status_code == 400
    created = admin.post("/sites/new", {"domain": "shop.example.net", "name": "Shop", "timezone": "Asia/Tokyo", "extra_domains": "shop.example.org"})
    assert created.status_code == 303
    website_id = created.headers["location"].split("/")[2]
    settings = admin.get(f"/sites/{website_id}/settings").text
    assert f'data-website-id=&#34;{website_id}&#34;' in settings and "Copy" in settings
    assert server.post("/api/send", umami(website_id, "https://shop.example.org/", hostname="shop.example.org")).status_code == 200
    edited = admin.post(f"/sites/{website_id}/settings", {"domain": "shop.example.net", "name": "The shop", "timezone": "Europe/Paris", "extra_domains": ""})
    assert edited.status_code == 303
    assert "The shop" in admin.get("/sites").text
    assert admin.post(f"/sites/{website_id}/settings", {"domain": "example.com", "timezone": "UTC"}).status_code == 400  # taken
    assert admin.post(f"/sites/{website_id}/delete", {"confirm": "wrong"}).status_code == 400
    assert admin.post(f"/sites/{website_id}/delete", {"confirm": "shop.example.net"}).status_code == 303
    assert admin.get(f"/sites/{website_id}").status_code == 404
    with sqlite3.connect(server.settings.database) as db:
        assert db.execute("SELECT count(*) FROM daily WHERE site NOT IN (SELECT id FROM sites)").fetchone()[0] == 0


def test_users_can_be_added_granted_and_deleted(world: World) -> None:
    admin = world.admin
    assert admin.post("/users", {"name": "ann", "password": "short", "role": "viewer"}).status_code == 400
    assert admin.post("/users", {"name": "ann", "password": "ann-password-1", "role": "viewer", "sites": world.other.website_id}).status_code == 303
    ann = Dash(world.server)
    assert ann.login("ann", "ann-password-1").status_code == 303
    assert "other.org" in ann.get("/sites").text and "example.com" not in ann.get("/sites").text
    user_id = re.search(r'action="/users/(\d+)"[^>]*>(?:(?!</form>).)*?ann', admin.get("/users").text, re.S)
    ann_id = world.server.call(world.server.state.store.user_by_name, "ann").id
    assert admin.post(f"/users/{ann_id}", {"role": "viewer", "sites": world.site.website_id}).status_code == 303
    assert "example.com" in ann.get("/sites").text and "other.org" not in ann.get("/sites").text
    admin_id = world.server.call(world.server.state.store.user_by_name, "admin").id
    assert admin.post(f"/users/{admin_id}/delete").status_code == 404  # not yourself
    assert admin.post(f"/users/{ann_id}/delete").status_code == 303
    assert ann.get("/sites", follow_redirects=False).status_code == 303
    del user_id


def test_guessing_the_current_password_in_a_session_counts_as_failed_logins(world: World) -> None:
    form = {"current": "guess", "new": "new-password-22", "again": "new-password-22"}
    for _ in range(5):
        assert world.viewer.post("/account/password", form).status_code == 400
    right = world.viewer.post("/account/password", {**form, "current": VIEWER_PASSWORD})
    assert right.status_code == 429 and "Too many failed attempts" in right.text and int(right.headers["retry-after"]) > 0
    assert world.anonymous().login("viewer", VIEWER_PASSWORD).status_code == 429  # one limit per account


def test_changing_the_password_ends_other_sessions(world: World) -> None:
    other_device = Dash(world.server)
    assert other_device.login("admin", ADMIN_PASSWORD).status_code == 303
    wrong = world.admin.post("/account/password", {"current": "nope", "new": "new-password-22", "again": "new-password-22"})
    assert wrong.status_code == 400
    changed = world.admin.post("/account/password", {"current": ADMIN_PASSWORD, "new": "new-password-22", "again": "new-password-22"})
    assert changed.status_code == 303
    assert world.admin.get("/sites").status_code == 200  # this session was renewed
    assert other_device.get("/sites", follow_redirects=False).status_code == 303
    assert Dash(world.server).login("admin", "new-password-22").status_code == 303


def test_logout_ends_the_session_and_voids_copies_of_its_cookie(world: World) -> None:
    other_device = Dash(world.server)
    assert other_device.login("viewer", VIEWER_PASSWORD).status_code == 303
    stolen = Dash(world.server)
    stolen.cookies = httpx.Cookies(world.viewer.cookies)
    assert stolen.get("/sites", follow_redirects=False).status_code == 200
    assert world.viewer.post("/logout").status_code == 303
    assert world.viewer.get("/sites", follow_redirects=False).status_code == 303
    assert stolen.get("/sites", follow_redirects=False).status_code == 303  # the copy died with the logout
    assert other_device.get("/sites", follow_redirects=False).status_code == 200  # other devices stay logged in
    assert world.viewer.login("viewer", VIEWER_PASSWORD).status_code == 303
    with sqlite3.connect(world.server.settings.database) as db:
        ((kept,),) = db.execute("SELECT count(*) FROM ended_sessions WHERE length(nonce_sha256) = 64").fetchall()
    assert kept == 1


def test_api_tokens_are_shown_once_stored_hashed_and_revocable(world: World) -> None:
    token = world.token(world.admin)
    assert token not in world.admin.get("/account").text
    with sqlite3.connect(world.server.settings.database) as db:
        stored = [row[0] for row in db.execute("SELECT token_hash FROM api_tokens")]
    assert stored and token not in stored and all(len(h) == 64 for h in stored)
    api = world.anonymous()
    auth = {"Authorization": f"Bearer {token}"}
    assert api.get("/api/v1/sites", headers=auth).status_code == 200
    token_id = re.search(r'action="/account/tokens/(\d+)/delete"', world.admin.get("/account").text).group(1)  # type: ignore[union-attr]
    assert world.admin.post(f"/account/tokens/{token_id}/delete").status_code == 303
    assert api.get("/api/v1/sites", headers=auth).status_code == 401


def test_a_new_site_shows_how_to_install_the_snippet(world: World) -> None:
    page = world.admin.get(f"/sites/{world.other.website_id}").text
    assert "No data yet" in page and f'data-website-id=&#34;{world.other.website_id}&#34;' in page and "X-Crumbless-Dropped" in page
    world.server.post("/api/send", umami(world.site.website_id, "https://example.com/"))
    world.server.flush()
    assert "No data yet" not in world.admin.get(f"/sites/{world.site.website_id}?period=today").text


@pytest.mark.parametrize("period", ["today", "yesterday", "7d", "30d", "month", "lastmonth", "year"])
def test_every_range_renders_and_keeps_itself_in_links(world: World, period: str) -> None:
    page = world.admin.get(f"/sites/{world.site.website_id}?period={period}")
    assert page.status_code == 200
    # the chart's CSV: a site with nothing counted shows no lists, only the snippet's empty state
    assert f'href="/sites/{world.site.website_id}/export/timeseries.csv?period={period}"' in page.text
    assert "IP Geolocation by DB-IP" in page.text and 'href="https://db-ip.com"' in page.text


def test_bad_ranges_are_named(world: World) -> None:
    base = f"/sites/{world.site.website_id}"
    assert "period must be one of" in world.admin.get(f"{base}?period=fortnight").text
    assert world.admin.get(f"{base}?period=custom&from=2026-06-09&to=2026-06-01").status_code == 400
    assert world.admin.get(f"{base}?period=custom&from=yesterday&to=2026-06-01").status_code == 400
    ok = world.admin.get(f"{base}?period=custom&from=2026-06-01&to=2026-06-10")
    assert ok.status_code == 200 and "Jun 1\u2009–\u200910, 2026" in ok.text  # CLDR's interval, in the reader's language
    assert world.admin.get(f"{base}/list/nonsense").status_code == 404


def test_full_lists_page_and_search(world: World) -> None:
    today = day_number(world.server.state.dashboard.today(world.site))
    seed_history(world.server.settings.database, world.site.id, today - 10, 10)
    base = f"/sites/{world.site.website_id}/list/page?period=30d"
    first = world.admin.get(base).text
    assert first.count('<td class="label">') == 50 and "1–50 of 300" in first and "Page 1 of 6" in first
    second = world.admin.get(base + "&page=2").text
    assert "51–100 of 300" in second
    found = world.admin.get(base + "&q=POST-000").text
    assert "1–9 of 9" in found
    csv_rows = list(csv.reader(io.StringIO(world.admin.get(f"/sites/{world.site.website_id}/export/page.csv?period=30d").text)))
    assert len(csv_rows) == 301
    countries = world.admin.get(f"/sites/{world.site.website_id}/list/country?period=30d").text
    assert "🇺🇸" in countries and "United States" in countries and "IP Geolocation by DB-IP" in countries


def test_csv_cells_cannot_become_formulas(world: World) -> None:
    world.server.post("/api/send", umami(world.site.website_id, "https://example.com/", name="=HYPERLINK(1)"))
    world.server.flush()
    body = world.admin.get(f"/sites/{world.site.website_id}/export/event.csv?period=today").text
    assert "'=HYPERLINK(1)" in body


def test_realtime_json_comes_from_memory(world: World) -> None:
    for peer, ua in [("192.0.2.1", CHROME), ("198.51.100.2", IPHONE)]:
        world.server.post("/api/send", umami(world.site.website_id, "https://example.com/"), peer=peer, user_agent=ua)
    live = json.loads(world.admin.get(f"/sites/{world.site.website_id}/realtime.json").text)  # no flush needed
    assert live["visitors"] == 2 and live["pageviews"] == 2 and len(live["pageviews_per_minute"]) == 30

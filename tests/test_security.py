"""Regressions from an attack run on ``crumbless serve``: each test failed before its fix.

Sessions that outlived their account, numbers that ``str.isdigit`` let through to ``int()`` (a
500), a login limiter that forgot locks, share tokens in the access log, and time zones that are
no site's own. HTTP-level bounds are in ``test_http_limits.py``, referrers in ``test_referrers.py``.
"""

from __future__ import annotations

import asyncio
import logging
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from collector.accesslog import AccessLog
from collector.numbers import NotANumber, whole_number
from collector.sites import valid_timezone
from collector.store.migrations import MIGRATIONS
from collector.config import for_database
from collector.store import opened_store
from collector.store.sqlite import sql_statements
from dashboard import csrf
from dashboard.limiter import MAX_FAILURES, WINDOW_S, LoginLimiter
from tests.conftest import Server
from tests.dashboard_support import ADMIN_PASSWORD, Dash, World, make_world
from tests.support import Clock, umami

HOSTILE_NUMBERS = ["²", "①", "٥", "５", " 5", "5 ", "5_000", "+5", "-1", "0x10", "1e3", "", "9" * 5000, "1" * 19]


@pytest.fixture
def world(server: Server) -> World:
    return make_world(server)


def _user_id(world: World, name: str) -> int:
    user = world.server.call(world.server.state.store.user_by_name, name)
    assert user is not None
    return int(user.id)


# ── 1. a session never outlives its account, nor opens another ──────────────────────────────

def test_a_deleted_users_cookie_does_not_open_the_next_new_account(world: World) -> None:
    admin = world.admin
    assert admin.post("/users", {"name": "eve", "password": "eve-password-1", "role": "viewer"}).status_code == 303
    eve = Dash(world.server)
    assert eve.login("eve", "eve-password-1").status_code == 303
    kept = httpx.Cookies(eve.cookies)
    eve_id = _user_id(world, "eve")
    assert admin.post(f"/users/{eve_id}/delete").status_code == 303
    assert admin.post("/users", {"name": "carol", "password": "carol-password-1", "role": "admin"}).status_code == 303
    assert _user_id(world, "carol") != eve_id, "ids are never handed out again"
    replay = Dash(world.server)
    replay.cookies = kept
    for path in ("/users", "/account", "/sites"):
        response = replay.get(path, follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"].startswith("/login"), path
        assert "carol" not in response.text


def test_a_cookie_is_bound_to_its_account_even_when_an_id_comes_back(world: World) -> None:
    """A database restored from a backup can hand out an id again: the session key still differs."""
    viewer = world.viewer
    viewer_id = _user_id(world, "viewer")
    database = world.server.settings.database
    with sqlite3.connect(database) as db:
        db.execute("PRAGMA foreign_keys=OFF")
        row = db.execute("SELECT name, password_hash, role, created_at FROM users WHERE id = ?", (viewer_id,)).fetchone()
        db.execute("DELETE FROM users WHERE id = ?", (viewer_id,))
        db.execute(
            "INSERT INTO users (id, name, password_hash, role, created_at, session_key) VALUES (?, 'mallory', ?, 'admin', ?, ?)",
            (viewer_id, row[1], row[3], "f" * 32),
        )
    assert viewer.get("/users", follow_redirects=False).status_code == 303


def test_schema_4_rebuilds_users_and_sites_keeping_rows_and_references(tmp_path: Path) -> None:
    database = tmp_path / "crumbless.db"
    with sqlite3.connect(database) as db:
        db.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
        for version, sql in MIGRATIONS[:3]:
            for statement in sql_statements(sql):
                db.execute(statement)
            db.execute("INSERT INTO schema_version VALUES (?)", (version,))
        db.execute("INSERT INTO sites VALUES (1, 'w1', 'a.org', 'A', 'UTC', '', 'now'), (2, 'w2', 'b.org', 'B', 'UTC', '', 'now')")
        db.execute("INSERT INTO users (id, name, password_hash, role, created_at) VALUES (1, 'ann', 'h', 'admin', 'now'), (2, 'bob', 'h', 'viewer', 'now')")
        db.execute("INSERT INTO grants VALUES (2, 1)")
        db.execute("INSERT INTO api_tokens VALUES (1, 2, 't', 'abc', 'now')")
        db.execute("INSERT INTO share_links VALUES (2, 'tok', 'now')")

    async def migrate_then_add() -> tuple[set[int], str | None, int]:
        async with opened_store(for_database(database)) as store:
            await store.delete_user(2)
            await store.add_user("carl", "h", "viewer")
            carl = await store.user_by_name("carl")
            ann = await store.user_by_name("ann")
            assert carl is not None and ann is not None
            return await store.grants(2), await store.share_token(2), carl.id

    grants_of_deleted, share, new_id = asyncio.run(migrate_then_add())
    assert new_id == 3 and grants_of_deleted == set() and share == "tok"
    with sqlite3.connect(database) as db:
        assert db.execute("SELECT count(*) FROM api_tokens").fetchone()[0] == 0  # cascaded with bob
        keys = [k for (k,) in db.execute("SELECT session_key FROM users")]
        assert len(set(keys)) == 2 and all(re.fullmatch("[0-9a-f]{32}", k) for k in keys)
        assert db.execute("PRAGMA foreign_keys").fetchone()[0] == 0  # a plain connection; the store's turn them on
        assert db.execute("SELECT max(version) FROM schema_version").fetchone()[0] == MIGRATIONS[-1][0]


def test_migrations_split_where_sqlite_says_a_statement_ends() -> None:
    script = "CREATE TABLE t (a TEXT DEFAULT 'x;y');\nINSERT INTO t VALUES ('1;2');\n"
    assert list(sql_statements(script)) == ["CREATE TABLE t (a TEXT DEFAULT 'x;y');", "INSERT INTO t VALUES ('1;2');"]


# ── 3. every number goes through one strict parser; none gives a 500 ──────────────────────────

@pytest.mark.parametrize("text", HOSTILE_NUMBERS)
def test_the_strict_parser_takes_only_short_ascii_digits(text: str) -> None:
    with pytest.raises(NotANumber):
        whole_number(text, 0, 10**17)


def test_the_strict_parser_names_the_range() -> None:
    assert whole_number("42", 1, 100) == 42
    with pytest.raises(NotANumber, match="limit must be a whole number from 1 to 100, got 101"):
        whole_number("101", 1, 100, "limit")


@pytest.mark.parametrize("text", ["²", "①", "٥", "9" * 5000])
def test_hostile_numbers_in_api_pages_and_share_links_are_4xx(world: World, text: str) -> None:
    world.server.post("/api/send", umami(world.site.website_id, "https://example.com/a"))
    world.server.flush()
    token = world.token(world.admin)
    base = f"/api/v1/sites/{world.site.website_id}/breakdown/page"
    api = world.anonymous()
    for query in ({"limit": text}, {"page": text}):
        response = api.get(base, params=query, headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 400, (query, response.text)
        assert response.json()["parameter"] in query
        assert "whole number" in response.json()["error"]
    listed = world.admin.get(f"/sites/{world.site.website_id}/list/page", params={"page": text})
    assert listed.status_code == 400 and "page must be a whole number" in listed.text
    assert world.admin.post(f"/sites/{world.site.website_id}/share", {"enabled": "on"}).status_code == 303
    share = re.search(r"/share/([A-Za-z0-9_-]+)", world.admin.get(f"/sites/{world.site.website_id}/settings").text)
    assert share
    shared = world.anonymous().get(f"/share/{share.group(1)}/list/page", params={"page": text})
    assert shared.status_code == 400 and "page must be a whole number" in shared.text


@pytest.mark.parametrize("token", ["².x", "①.abc", "٥." + "0" * 32, "9" * 5000 + ".abc", "." , "x"])
def test_hostile_login_tokens_are_refused_not_crashed(world: World, token: str) -> None:
    anonymous = world.anonymous()
    anonymous.get("/login")
    response = anonymous.post("/login", {"name": "admin", "password": ADMIN_PASSWORD, "csrf": token})
    assert response.status_code == 403
    assert not csrf.login_token_valid(b"k" * 32, token)


def test_ids_in_paths_are_bounded(world: World) -> None:
    for path in ("/users/" + "9" * 5000 + "/delete", "/users/99999999999999999999", "/account/tokens/" + "1" * 30 + "/delete"):
        assert world.admin.post(path).status_code == 404, path
    assert world.admin.post("/users/999999999999999999/delete").status_code == 404  # 18 digits: no such user


@pytest.mark.parametrize("limit", ["²", "٥", "0", "5_0"])
def test_the_cli_reads_numbers_strictly(limit: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "collector.cli", "stats", "example.com", "--limit", limit], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2 and "whole number" in done.stderr and "Traceback" not in done.stderr


# ── 6. the smaller ones ──────────────────────────────────────────────────────────────────────

def test_a_lock_survives_any_number_of_other_names_failing() -> None:
    clock = Clock(1000.0)
    limiter = LoginLimiter(clock, max_names=50, max_locks=1000)
    for _ in range(MAX_FAILURES):
        limiter.failed("admin")
    assert limiter.retry_after("admin") > 0
    for i in range(10_000):
        limiter.failed(f"noise-{i}")
    assert limiter.retry_after("admin") > 0, "the lock must not be pushed out"
    assert len(limiter.names()) <= 50 + 1
    clock.advance(WINDOW_S + 1)
    assert limiter.retry_after("admin") == 0


def test_a_full_lock_table_fails_closed() -> None:
    clock = Clock(1000.0)
    limiter = LoginLimiter(clock, max_names=10, max_locks=3)
    for name in ("a", "b", "c", "d"):
        for _ in range(MAX_FAILURES):
            limiter.failed(name)
    assert all(limiter.retry_after(n) > 0 for n in ("a", "b", "c", "d", "someone-else"))
    clock.advance(WINDOW_S + 1)
    assert all(limiter.retry_after(n) == 0 for n in ("a", "b", "c", "d", "someone-else"))


def test_share_tokens_stay_out_of_the_access_log(caplog: pytest.LogCaptureFixture) -> None:
    async def app(scope: dict, receive: object, send: object) -> None:  # type: ignore[type-arg]
        await send({"type": "http.response.start", "status": 200, "headers": []})  # type: ignore[operator]
        await send({"type": "http.response.body", "body": b""})  # type: ignore[operator]

    async def ignore(message: object) -> None:
        return None

    token = "s3cret-Share-token_1234567890"
    with caplog.at_level(logging.INFO, logger="crumbless.access"):
        for path in (f"/share/{token}", f"/share/{token}/list/page", f"/share/{token}/export/page.csv"):
            asyncio.run(AccessLog(app)({"type": "http", "method": "GET", "path": path}, ignore, ignore))  # type: ignore[arg-type]
    assert token not in caplog.text
    assert "GET /share/{token}/list/page 200" in caplog.text


@pytest.mark.parametrize("zone", ["localtime", "Factory", "posixrules", "Nowhere/City", ""])
def test_zones_that_are_no_sites_own_are_refused(world: World, zone: str) -> None:
    assert not valid_timezone(zone)
    response = world.admin.post("/sites/new", {"domain": "zone.example", "timezone": zone})
    assert response.status_code == 400 and "time zone" in response.text
    assert valid_timezone("Europe/Berlin") and valid_timezone("UTC")

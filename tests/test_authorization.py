"""Who may reach what: every route in the app's route table, as every kind of caller.

The callers are: nobody (no cookie, no token); a viewer granted site A only; an admin; the API
tokens of that viewer and of that admin; and a deleted viewer's cookie and token, kept from
before the deletion and replayed after a new admin account was created (ids must not be handed
out again, and a session must not pass to another account). Share-link routes are tried with a
live token and with a dead one. Per-site routes are tried on site A (the viewer's) and site B.

``EXPECTED`` names, for each route, who gets what. A route missing from it fails the test, so a
new route cannot be added without deciding who may reach it. No answer may be a 5xx.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from starlette.routing import Mount, Route

from tests.conftest import Server
from tests.dashboard_support import ADMIN_PASSWORD, Dash, World, make_world
from tests.support import plausible

# Outcomes: what a response means for the caller.
SERVED = "served"        # the handler ran: a page, JSON, a redirect elsewhere, or a 400 naming a bad field
LOGIN = "login"          # a GET without a session, sent to the login page
DENIED = "denied"        # 403: no session on a POST, or not an admin
MISSING = "missing"      # 404: no such thing, or not yours (the two are not told apart)
NO_TOKEN = "no-token"    # 401 JSON: the API wants a valid bearer token

CALLERS = ("anonymous", "viewer", "admin", "viewer_token", "admin_token", "gone_cookie", "gone_token")
COOKIE_CALLERS = ("viewer", "admin")
GONE = ("gone_cookie", "gone_token")


def _everyone(outcome: str) -> dict[str, str]:
    return dict.fromkeys(CALLERS, outcome)


def _session(method: str, admin_only: bool = False) -> dict[str, str]:
    """A dashboard page: a cookie is needed (tokens are for the API only)."""
    without = LOGIN if method == "GET" else DENIED
    return {**_everyone(without), "viewer": DENIED if admin_only else SERVED, "admin": SERVED}


def _api(needs_token: bool = True) -> dict[str, str]:
    return {**_everyone(NO_TOKEN if needs_token else SERVED), "viewer_token": SERVED, "admin_token": SERVED}


PUBLIC = _everyone(SERVED)
SESSION_GET, SESSION_POST = _session("GET"), _session("POST")
ADMIN_GET, ADMIN_POST = _session("GET", admin_only=True), _session("POST", admin_only=True)

# Per route: the outcome by caller on site A (or with a live share token), and where it differs,
# on site B (or with a dead share token). The viewer reads A only; nobody reads through a dead link.
EXPECTED: dict[tuple[str, str], tuple[dict[str, str], dict[str, str] | None]] = {
    ("POST", "/api/send"): (PUBLIC, None),
    ("POST", "/api/event"): (PUBLIC, None),
    ("POST", "/api/p"): (PUBLIC, None),
    ("OPTIONS", "/api/send"): (PUBLIC, None),
    ("OPTIONS", "/api/event"): (PUBLIC, None),
    ("OPTIONS", "/api/p"): (PUBLIC, None),
    ("GET", "/js/site.js"): (PUBLIC, None),
    ("GET", "/healthz"): (PUBLIC, None),
    ("GET", "/metrics"): ({**_everyone(DENIED), "admin_token": SERVED}, None),  # or CRUMBLESS_METRICS_ALLOW
    ("GET", "/static"): (PUBLIC, None),
    ("GET", "/"): (PUBLIC, None),  # a redirect to /sites, which decides
    ("GET", "/login"): (PUBLIC, None),
    ("POST", "/login"): (PUBLIC, None),
    ("POST", "/logout"): (SESSION_POST, None),
    ("GET", "/account"): (SESSION_GET, None),
    ("POST", "/account/password"): (SESSION_POST, None),
    ("POST", "/account/tokens"): (SESSION_POST, None),
    ("POST", "/account/tokens/{token_id}/delete"): (SESSION_POST, None),
    ("POST", "/account/language"): (SESSION_POST, None),
    ("GET", "/sites"): (SESSION_GET, None),
    ("GET", "/sites/new"): (ADMIN_GET, None),
    ("POST", "/sites/new"): (ADMIN_POST, None),
    ("GET", "/sites/{website_id}/settings"): (ADMIN_GET, None),
    ("POST", "/sites/{website_id}/settings"): (ADMIN_POST, None),
    ("POST", "/sites/{website_id}/delete"): (ADMIN_POST, None),
    ("POST", "/sites/{website_id}/share"): (ADMIN_POST, None),
    ("GET", "/users"): (ADMIN_GET, None),
    ("POST", "/users"): (ADMIN_POST, None),
    ("POST", "/users/{user_id}"): (ADMIN_POST, None),
    ("POST", "/users/{user_id}/delete"): (ADMIN_POST, None),
    ("GET", "/api/v1/openapi.json"): (PUBLIC, None),
    ("GET", "/api/v1/sites"): (_api(), None),
    ("GET", "/api/v1/{rest}"): (_everyone(MISSING), None),
    **{
        ("GET", f"/sites/{{website_id}}{view}"): (SESSION_GET, {**SESSION_GET, "viewer": MISSING})
        for view in ("", "/list/{dim}", "/export/{what}.csv", "/realtime.json")
    },
    **{
        ("GET", f"/share/{{token}}{view}"): (PUBLIC, _everyone(MISSING))
        for view in ("", "/list/{dim}", "/export/{what}.csv", "/realtime.json")
    },
    **{
        ("GET", f"/api/v1/sites/{{website_id}}/{what}"): (_api(), {**_api(), "viewer_token": MISSING})
        for what in (
            "aggregate", "timeseries", "breakdown/{dimension}", "filtered", "realtime", "annotations",
            "goals", "funnels",
        )
    },
    # Annotations: any reader lists them (above), only an admin's token or session writes them.
    **{
        (method, f"/api/v1/sites/{{website_id}}/annotations{what}"): (
            {**_everyone(NO_TOKEN), "viewer_token": DENIED, "admin_token": SERVED},
            {**_everyone(NO_TOKEN), "viewer_token": MISSING, "admin_token": MISSING if what else SERVED},
        )
        for method, what in (("POST", ""), ("DELETE", "/{annotation_id}"))
    },
    ("POST", "/sites/{website_id}/annotations"): (ADMIN_POST, None),
    ("GET", "/sites/{website_id}/imports"): (ADMIN_GET, None),
    ("GET", "/sites/{website_id}/export/plausible.zip"): (ADMIN_GET, None),
    ("POST", "/sites/{website_id}/import/plausible"): (ADMIN_POST, None),
    ("POST", "/sites/{website_id}/annotations/{annotation_id}/delete"): (ADMIN_POST, None),
    ("POST", "/sites/{website_id}/goals"): (ADMIN_POST, None),
    ("POST", "/sites/{website_id}/goals/{goal_id}/delete"): (ADMIN_POST, None),
    ("POST", "/sites/{website_id}/funnels"): (ADMIN_POST, None),
    ("POST", "/sites/{website_id}/funnels/{funnel_id}/delete"): (ADMIN_POST, None),
}


@dataclass
class Cast:
    """A world with every kind of caller, and the values that fill each route's parameters."""

    world: World
    tokens: dict[str, str]
    gone: Dash
    share_token: str
    user_id: int              # a user the admin may change or delete (not the caller)
    viewer_token_id: int
    annotation_id: int        # site A's, which an admin may delete
    goal_id: int              # site A's, as are the funnel's steps
    funnel_id: int
    dead: dict[str, str] = field(default_factory=dict)

    def dash(self, caller: str) -> Dash:
        if caller in ("viewer", "admin"):
            return getattr(self.world, caller)
        if caller == "gone_cookie":
            return self.gone
        return self.world.anonymous()


def _token_id(world: World, who: Dash) -> int:
    found = re.search(r'action="/account/tokens/(\d+)/delete"', who.get("/account").text)
    assert found, "the account page lists the token"
    return int(found.group(1))


def make_cast(server: Server) -> Cast:
    world = make_world(server)
    tokens = {"viewer_token": world.token(world.viewer), "admin_token": world.token(world.admin)}
    viewer_token_id = _token_id(world, world.viewer)
    admin = world.admin
    assert admin.post("/users", {"name": "eve", "password": "eve-password-1", "role": "viewer", "sites": world.site.website_id}).status_code == 303
    eve = Dash(server)
    assert eve.login("eve", "eve-password-1").status_code == 303
    eve_token = world.token(eve)
    eve_id = server.call(server.state.store.user_by_name, "eve").id
    assert admin.post(f"/users/{eve_id}/delete").status_code == 303
    assert admin.post("/users", {"name": "carol", "password": "carol-password-1", "role": "admin"}).status_code == 303
    tokens["gone_token"] = eve_token
    assert admin.post("/users", {"name": "temp", "password": "temp-password-1", "role": "viewer"}).status_code == 303
    user_id = server.call(server.state.store.user_by_name, "temp").id
    assert admin.post(f"/sites/{world.site.website_id}/share", {"enabled": "on"}).status_code == 303
    share = re.search(r"/share/([A-Za-z0-9_-]{20,})", admin.get(f"/sites/{world.site.website_id}/settings").text)
    assert share
    server.post("/api/event", plausible("example.com", "https://example.com/a"))
    server.flush()
    note = server.call(server.state.store.add_annotation, world.site.id, 20_000, "newsletter sent")
    store, site = server.state.store, world.site.id
    signup = server.call(store.add_goal, site, "Signup", "event", "Signup", "", "", "", 20_000)
    pricing = server.call(store.add_goal, site, "Pricing", "page", "", "", "", "/pricing", 20_000)
    funnel = server.call(store.add_funnel, site, "Signup path", (pricing.id, signup.id), "visit", 20_000)
    return Cast(world, tokens, eve, share.group(1), user_id, viewer_token_id, note.id, signup.id, funnel.id)


def route_table(server: Server) -> Iterator[tuple[str, str]]:
    """(method, path template) of everything the app answers, beacons' short way in included."""
    for path in server.app.beacons:
        yield "POST", path
    for route in server.app.routes:
        if isinstance(route, Mount):
            yield "GET", route.path
        else:
            assert isinstance(route, Route)
            methods = set(route.methods or ())
            for method in sorted(methods - {"HEAD"} if "GET" in methods else methods):  # HEAD is GET's, unasked
                yield method, re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path)


def _fill(template: str, cast: Cast, other: bool) -> str:
    world = cast.world
    values = {
        "website_id": (world.other if other else world.site).website_id,
        "token": "no-such-share-link-token-at-all" if other else cast.share_token,
        "dim": "page", "what": "page", "dimension": "page", "rest": "nope",
        "user_id": str(cast.user_id), "token_id": str(cast.viewer_token_id), "annotation_id": str(cast.annotation_id),
        "goal_id": str(cast.goal_id), "funnel_id": str(cast.funnel_id),
    }
    return re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], template)


# Forms that reach each handler without undoing the world the next caller needs.
FORMS: dict[str, Callable[[Cast], dict[str, Any]]] = {
    "/login": lambda cast: {"name": "admin", "password": ADMIN_PASSWORD, "next": "/sites"},
    "/users/{user_id}": lambda cast: {"role": "viewer"},
    "/sites/{website_id}/settings": lambda cast: {"domain": ""},
}


def _request(cast: Cast, caller: str, method: str, template: str, other: bool) -> httpx.Response:
    dash = cast.dash(caller)
    path = _fill(template, cast, other)
    if template == "/static":
        path = "/static/style.css"
    headers = {"Authorization": f"Bearer {cast.tokens[caller]}"} if caller in cast.tokens else {}
    if method == "POST" and path in cast.world.server.app.beacons:
        return dash.request("POST", path, content=plausible("example.com", "https://example.com/"), headers={"Content-Type": "text/plain"})
    if method != "POST":
        return dash.request(method, path, headers=headers, follow_redirects=False)
    form = FORMS.get(template, lambda cast: {})(cast)
    if template == "/login":
        login_page = cast.world.anonymous().get("/login").text  # a logged-in caller's GET is redirected
        form["csrf"] = re.search(r'name="csrf" value="([^"]+)"', login_page).group(1)  # type: ignore[union-attr]
        return dash.post(path, form, csrf=False, headers=headers, follow_redirects=False)
    return dash.post(path, form, csrf=caller in COOKIE_CALLERS or caller == "gone_cookie", headers=headers, follow_redirects=False)


def outcome(response: httpx.Response) -> str:
    status = response.status_code
    assert status < 500, f"{status}: {response.text[:300]}"
    if response.request.method == "GET" and status == 303 and response.headers.get("location", "").startswith("/login"):
        return LOGIN
    return {403: DENIED, 404: MISSING, 401: NO_TOKEN}.get(status, SERVED)


def _check(cast: Cast, method: str, template: str) -> list[str]:
    wrong = []
    on_a, on_b = EXPECTED[(method, template)]
    # The viewer goes last on writes: "/logout" and "/account/tokens/…/delete" act on the caller's own things.
    order = sorted(CALLERS, key=lambda c: c == "viewer")
    for other, expected in ((False, on_a), (True, on_b)):
        if expected is None:
            continue
        for caller in order:
            got = outcome(_request(cast, caller, method, template, other))
            if got != expected[caller]:
                wrong.append(f"{method} {template} ({'B' if other else 'A'}) as {caller}: {got}, expected {expected[caller]}")
    return wrong


def test_every_route_is_in_the_expectations_table(server: Server) -> None:
    routes = set(route_table(server))
    assert routes - set(EXPECTED) == set(), "decide who may reach these routes, in EXPECTED"
    assert set(EXPECTED) - routes == set(), "these expectations name routes that no longer exist"


def test_deleted_users_credentials_open_nothing_after_a_new_account_is_made(server: Server) -> None:
    cast = make_cast(server)
    for path in ("/users", "/account", "/sites", f"/sites/{cast.world.site.website_id}"):
        assert outcome(cast.gone.get(path, follow_redirects=False)) == LOGIN, path
    response = cast.world.anonymous().get("/api/v1/sites", headers={"Authorization": f"Bearer {cast.tokens['gone_token']}"})
    assert response.status_code == 401


def test_reads_as_every_caller(server: Server) -> None:
    cast = make_cast(server)
    reads = sorted(key for key in EXPECTED if key[0] != "POST")
    wrong = [line for method, template in reads for line in _check(cast, method, template)]
    assert wrong == []


WRITES = sorted(key for key in EXPECTED if key[0] == "POST")


@pytest.mark.parametrize("method, template", WRITES, ids=[t for _, t in WRITES])
def test_writes_as_every_caller(server: Server, method: str, template: str) -> None:
    """One fresh world per write route: an admin's successful write must not change what the
    next route's callers find."""
    cast = make_cast(server)
    assert _check(cast, method, template) == []


def test_nobody_revokes_another_users_token(server: Server) -> None:
    cast = make_cast(server)
    assert cast.world.admin.post(f"/account/tokens/{cast.viewer_token_id}/delete").status_code == 303
    still = cast.world.anonymous().get("/api/v1/sites", headers={"Authorization": f"Bearer {cast.tokens['viewer_token']}"})
    assert still.status_code == 200, "an admin's own token list does not hold the viewer's token"

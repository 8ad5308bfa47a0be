"""Who is asking: logging in and out, the current user, and the guard every dashboard page wears.

Roles are deliberately two: an admin sees and changes everything; a viewer reads only the sites
granted to them and manages only their own password and API tokens. The guard (``page``) also
enforces CSRF on every POST, so no handler can forget it.
"""

from __future__ import annotations

import asyncio
import hmac
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import wraps
from urllib.parse import quote

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from collector.bodylimit import read_form
from collector.sites import Site
from collector.store import User
from dashboard import csrf, sessions
from dashboard.context import dashboard, store
from dashboard.passwords import hash_password, verify_password

# Verified against when the name is unknown, so a wrong name costs as long as a wrong password.
_DUMMY_HASH = hash_password("crumbless-timing-equaliser")


@dataclass
class Auth:
    user: User
    session: sessions.Session
    form: FormData | None = None

    @property
    def csrf(self) -> str:
        return self.session.csrf

    async def sites(self, request: Request) -> list[Site]:
        """The sites this user may read, in the store's order."""
        all_sites = await store(request).sites()
        if self.user.is_admin:
            return all_sites
        granted = await store(request).grants(self.user.id)
        return [s for s in all_sites if s.id in granted]

    async def site(self, request: Request, website_id: str) -> Site | None:
        """A site by its public id, or None if it does not exist *or* this user may not read it."""
        for site in await self.sites(request):
            if site.website_id == website_id:
                return site
        return None


class LoginLocked(Exception):
    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many failed logins; try again in {retry_after} s")
        self.retry_after = retry_after


async def check_password(request: Request, name: str, password: str) -> User | None:
    """The user if ``password`` is right; failures count against the account name only."""
    limiter = dashboard(request).limiter
    wait = limiter.retry_after(name)
    if wait:
        raise LoginLocked(wait)
    user = await store(request).user_by_name(name.strip())
    ok = await asyncio.to_thread(verify_password, user.password_hash if user else _DUMMY_HASH, password)
    if user is None or not ok:
        limiter.failed(name)
        return None
    limiter.succeeded(name)
    return user


def start_session(request: Request, response: Response, user: User) -> None:
    ctx = dashboard(request)
    secure = sessions.is_https(request, ctx.settings.public_url)
    sessions.set_cookie(response, ctx.key, sessions.new_session(user.id, user.session_key), secure)


async def end_session(request: Request, response: Response, session: sessions.Session) -> None:
    """Clear the cookie, and void it server-side: a copy taken earlier must not outlive the logout."""
    await store(request).end_session(sessions.nonce_digest(session), sessions.expires(session), int(time.time()))
    sessions.clear_cookie(response, sessions.is_https(request, dashboard(request).settings.public_url))


async def current(request: Request) -> Auth | None:
    """The logged-in user behind this request's cookie, if the cookie is genuine and still valid."""
    cookie = request.cookies.get(sessions.COOKIE)
    if not cookie:
        return None
    session = sessions.decode(dashboard(request).key, cookie)
    if session is None:
        return None
    user = await store(request).user_by_id(session.user)
    if user is None or not hmac.compare_digest(user.session_key.encode(), session.key.encode()):
        return None  # the account is gone, or its password changed, or this id is another account's
    if await store(request).session_ended(sessions.nonce_digest(session)):
        return None
    return Auth(user, session)


def safe_next(target: str | None) -> str:
    """Only local paths are followed after login, never another host."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


Handler = Callable[[Request, Auth], Awaitable[Response]]


def page(admin: bool = False) -> Callable[[Handler], Callable[[Request], Awaitable[Response]]]:
    """Guard a dashboard handler: a session (else to the login page), the role, and CSRF on POST."""

    def wrap(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        @wraps(handler)
        async def guarded(request: Request) -> Response:
            from dashboard.templates import error

            auth = await current(request)
            if auth is None:
                if request.method == "GET":
                    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                    return RedirectResponse(f"/login?next={quote(target)}", status_code=303)
                return await error(request, 403, "Your session has ended. Log in again.")
            request.state.auth = auth
            if admin and not auth.user.is_admin:
                return await error(request, 403, "Only an admin can do this.")
            if request.method == "POST":
                auth.form = await read_form(request)
                if not csrf.same_origin(request, dashboard(request).settings.public_url) or not csrf.token_matches(
                    auth.form.get(csrf.FIELD), auth.csrf
                ):
                    return await error(
                        request,
                        403,
                        "This form has expired or did not come from this dashboard. Reload the page and try again.",
                    )
            return await handler(request, auth)

        return guarded

    return wrap

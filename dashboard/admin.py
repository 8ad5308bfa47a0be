"""Sites and users: the list every user lands on, and what only admins may change.

After any change to a site the collector's registry is reloaded at once, so a new or renamed
domain counts from its first beacon and a deleted site stops counting immediately.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from collector.annotations import EVERY_DAY, MAX_TEXT, AnnotationError, annotation_day, annotation_text
from collector.localtime import date_of, day_number
from collector.sites import TIMEZONES, Site, valid_timezone
from collector.state import StateUnavailable
from collector.store import StoreError, User
from collector.tracker import snippet
from collector.urls import normalize_hostname
from dashboard import charts, goal_forms, stats
from dashboard.auth import Auth, page
from dashboard.context import dashboard, store
from dashboard.i18n import N_, gettext
from dashboard.passwords import MIN_LENGTH, hash_password
from dashboard.templates import error, render
from dashboard.tokens import new_share_token

log = logging.getLogger("crumbless.dashboard")


@dataclass(frozen=True)
class SiteRow:
    site: Site
    today: int
    trend: list[int]


async def _site_row(request: Request, site: Site) -> SiteRow:
    days = stats.sparkline_days(dashboard(request).today(site))
    first, last = days.days
    by_day = dict(await store(request).daily_totals(site.id, first, last))
    trend = [by_day.get(d, {}).get("visitors", 0) for d in range(first, last + 1)]
    return SiteRow(site, trend[-1], trend)


@page()
async def sites(request: Request, user: Auth) -> Response:
    rows = [await _site_row(request, s) for s in await user.sites(request)]
    return render(request, "sites.html", rows=rows, spark=charts.sparkline_svg)


# ── site form ──────────────────────────────────────────────────────────────────────────────────

def _hostname(raw: str) -> str:
    host = normalize_hostname(raw)
    if not host or ("." not in host and host != "localhost") or "/" in host or " " in host:
        if not raw.strip():
            raise ValueError(gettext("Give the site's domain, without https:// or a path."))
        problem = gettext("{domain} is not a domain name: give it without https:// or a path.")
        raise ValueError(problem.format(domain=repr(raw.strip())))
    return host


def site_values(form: FormData) -> tuple[dict[str, Any], str]:
    """The form's values, cleaned, and the first problem with them ('' when there is none)."""
    values: dict[str, Any] = {
        "domain": str(form.get("domain", "")).strip(),
        "name": str(form.get("name", "")).strip()[:100],
        "timezone": str(form.get("timezone", "UTC")),
        "extra": str(form.get("extra_domains", "")),
    }
    try:
        values["domain"] = _hostname(values["domain"])
        values["extra_domains"] = [_hostname(d) for d in values["extra"].replace(",", " ").split() if d]
    except ValueError as exc:
        return values, str(exc)
    if not valid_timezone(values["timezone"]):
        return values, gettext("Choose a time zone from the list.")
    values["name"] = values["name"] or values["domain"]
    return values, ""


def _store_problem(exc: StoreError, values: dict[str, Any]) -> str:
    """The store's refusal in the reader's words when it is the usual one: a domain already taken."""
    if "already exists" in str(exc):
        return gettext("Another site already counts {domain} or one of these domains.").format(domain=values["domain"])
    return str(exc)


def _site_form(
    request: Request, site: Site | None, values: dict[str, Any], message: str = "", status: int = 200, **more: Any
) -> Response:
    return render(
        request, "site_form.html", status=status, site=site, values=values, message=message, timezones=TIMEZONES, **more
    )


async def _reload_sites(request: Request) -> None:
    await request.app.state.collector.sites.refresh()


@page(admin=True)
async def new_site_form(request: Request, user: Auth) -> Response:
    return _site_form(request, None, {"domain": "", "name": "", "timezone": "UTC", "extra": ""})


@page(admin=True)
async def create_site(request: Request, user: Auth) -> Response:
    assert user.form is not None
    values, problem = site_values(user.form)
    if problem:
        return _site_form(request, None, values, problem, 400)
    try:
        site = await store(request).add_site(
            values["domain"], values["name"], values["timezone"], values["extra_domains"]
        )
    except StoreError as exc:
        return _site_form(request, None, values, _store_problem(exc, values), 400)
    await _reload_sites(request)
    return RedirectResponse(f"/sites/{site.website_id}/settings", status_code=303)


def site_admin_page(
    handler: Callable[[Request, Auth, Site], Awaitable[Response]],
) -> Callable[[Request], Awaitable[Response]]:
    """An admin page about the site named in the URL; a site the user cannot see is a 404."""

    @page(admin=True)
    @wraps(handler)
    async def with_site(request: Request, user: Auth) -> Response:
        site = await user.site(request, request.path_params["website_id"])
        if site is None:
            return await error(request, 404, N_("There is no such site."))
        return await handler(request, user, site)

    return with_site


async def _settings_page(
    request: Request,
    site: Site,
    values: dict[str, Any] | None = None,
    message: str = "",
    status: int = 200,
    annotation: tuple[dict[str, str], str] = ({}, ""),
    goal: goal_forms.Problem = goal_forms.NO_PROBLEM,
    funnel: goal_forms.Problem = goal_forms.NO_PROBLEM,
) -> Response:
    token = await store(request).share_token(site.id)
    goals, funnels = await store(request).goals(site.id), await store(request).funnels(site.id)
    base = dashboard(request).settings.public_url
    notes = await store(request).annotations(site.id, *EVERY_DAY)
    annotation_values, annotation_message = annotation
    return _site_form(
        request,
        site,
        values
        or {"domain": site.domain, "name": site.name, "timezone": site.timezone, "extra": " ".join(site.extra_domains)},
        message,
        status,
        snippet=snippet(dashboard(request).settings, site),
        share_url=f"{base}/share/{token}" if token else "",
        saved=request.query_params.get("saved", ""),
        annotations=[{"id": n.id, "date": date_of(n.day).isoformat(), "text": n.text} for n in reversed(notes)],
        annotation_values={"date": dashboard(request).today(site).isoformat(), "text": "", **annotation_values},
        annotation_message=annotation_message,
        annotation_max=MAX_TEXT,
        **goal_forms.settings_context(goals, funnels, goal, funnel),
    )


@site_admin_page
async def site_settings(request: Request, user: Auth, site: Site) -> Response:
    return await _settings_page(request, site)


@site_admin_page
async def update_site(request: Request, user: Auth, site: Site) -> Response:
    assert user.form is not None
    values, problem = site_values(user.form)
    if problem:
        return await _settings_page(request, site, values, problem, 400)
    try:
        await store(request).update_site(
            site.id, values["domain"], values["name"], values["timezone"], values["extra_domains"]
        )
    except StoreError as exc:
        return await _settings_page(request, site, values, _store_problem(exc, values), 400)
    await _reload_sites(request)
    return RedirectResponse(f"/sites/{site.website_id}/settings?saved=site", status_code=303)


@site_admin_page
async def delete_site(request: Request, user: Auth, site: Site) -> Response:
    assert user.form is not None
    if str(user.form.get("confirm", "")).strip().lower() != site.domain:
        unconfirmed = gettext("Type {domain} to confirm the deletion.").format(domain=site.domain)
        return await _settings_page(request, site, None, unconfirmed, 400)
    db = store(request)
    await db.delete_site(site.id)
    try:
        await request.app.state.day_state.forget_site(site.id)  # no collector sharing the state counts it …
    except StateUnavailable as exc:
        # The rows are gone either way and no flush writes counters of a deleted site again; what
        # Redis holds of it today (records, a salt) then expires at the end of the day.
        log.warning("site %d deleted, but the shared state could not be told (%s)", site.id, exc)
    await _reload_sites(request)          # … nor this one …
    await request.app.state.flusher.flush()
    await db.delete_site(site.id)         # … and counters that were still in memory go too
    return RedirectResponse("/sites", status_code=303)


@site_admin_page
async def share(request: Request, user: Auth, site: Site) -> Response:
    assert user.form is not None
    enabled = user.form.get("enabled") == "on"
    await store(request).set_share_token(site.id, new_share_token() if enabled else None)
    saved = "shared" if enabled else "unshared"
    return RedirectResponse(f"/sites/{site.website_id}/settings?saved={saved}#sharing", status_code=303)


# ── annotations ────────────────────────────────────────────────────────────────────────────────

def _annotation_problem(field: str, exc: AnnotationError) -> str:
    """The form's words for what ``collector.annotations`` refused (its own are the CLI's and the API's)."""
    if field == "date":
        return gettext("Give the annotation's date as a day, such as 2026-11-30.")
    return gettext("Write the annotation as one line of up to {n} characters.").format(n=MAX_TEXT)


@site_admin_page
async def add_annotation(request: Request, user: Auth, site: Site) -> Response:
    assert user.form is not None
    values = {"date": str(user.form.get("date", "")).strip(), "text": str(user.form.get("text", ""))[: 2 * MAX_TEXT]}
    try:
        day = annotation_day(values["date"])
    except AnnotationError as exc:
        return await _settings_page(request, site, status=400, annotation=(values, _annotation_problem("date", exc)))
    try:
        text = annotation_text(values["text"])
    except AnnotationError as exc:
        return await _settings_page(request, site, status=400, annotation=(values, _annotation_problem("text", exc)))
    await store(request).add_annotation(site.id, day, text)
    return RedirectResponse(f"/sites/{site.website_id}/settings?saved=annotation#annotations", status_code=303)


@site_admin_page
async def delete_annotation(request: Request, user: Auth, site: Site) -> Response:
    if not await store(request).delete_annotation(site.id, request.path_params["annotation_id"]):
        return await error(request, 404, N_("There is no such annotation."))
    return RedirectResponse(f"/sites/{site.website_id}/settings?saved=annotation#annotations", status_code=303)


# ── goals and funnels ──────────────────────────────────────────────────────────────────────────

def _definition_problem(what: str, name: str, exc: StoreError) -> str:
    """The store's refusal in the reader's words when it is the usual one, a name already taken (the
    form has checked the rest; anything else it names in the store's own words)."""
    if "already" not in str(exc):
        return str(exc)
    if what == "goal":
        return gettext("This site already has a goal named {name}.").format(name=name)
    return gettext("This site already has a funnel named {name}.").format(name=name)


def _saved(site: Site, what: str) -> Response:
    return RedirectResponse(f"/sites/{site.website_id}/settings?saved={what}#{what}s", status_code=303)


@site_admin_page
async def add_goal(request: Request, user: Auth, site: Site) -> Response:
    assert user.form is not None
    values = goal_forms.goal_values(user.form)
    try:
        goal = goal_forms.goal_input(values)
    except goal_forms.FormProblem as exc:
        return await _settings_page(request, site, status=400, goal=(values, str(exc)))
    first_day = day_number(dashboard(request).today(site))  # counted from today on, filled in before if it can be
    try:
        await store(request).add_goal(
            site.id, goal.name, goal.kind, goal.event, goal.prop_key, goal.prop_value, goal.page, first_day
        )
    except StoreError as exc:
        problem = _definition_problem("goal", goal.name, exc)
        return await _settings_page(request, site, status=400, goal=(values, problem))
    await _reload_sites(request)  # the collector matches it from the next beacon on
    return _saved(site, "goal")


@site_admin_page
async def delete_goal(request: Request, user: Auth, site: Site) -> Response:
    if not await store(request).delete_goal(site.id, request.path_params["goal_id"]):
        return await error(request, 404, N_("There is no such goal."))
    await _reload_sites(request)
    return _saved(site, "goal")


@site_admin_page
async def add_funnel(request: Request, user: Auth, site: Site) -> Response:
    assert user.form is not None
    values = goal_forms.funnel_values(user.form)
    try:
        funnel = goal_forms.funnel_input(values, await store(request).goals(site.id))
    except goal_forms.FormProblem as exc:
        return await _settings_page(request, site, status=400, funnel=(values, str(exc)))
    first_day = day_number(dashboard(request).today(site))
    try:
        await store(request).add_funnel(site.id, funnel.name, funnel.steps, funnel.window, first_day)
    except StoreError as exc:
        problem = _definition_problem("funnel", funnel.name, exc)
        return await _settings_page(request, site, status=400, funnel=(values, problem))
    await _reload_sites(request)
    return _saved(site, "funnel")


@site_admin_page
async def delete_funnel(request: Request, user: Auth, site: Site) -> Response:
    if not await store(request).delete_funnel(site.id, request.path_params["funnel_id"]):
        return await error(request, 404, N_("There is no such funnel."))
    await _reload_sites(request)
    return _saved(site, "funnel")


# ── users ──────────────────────────────────────────────────────────────────────────────────────

async def _users_page(
    request: Request, message: str = "", status: int = 200, values: dict[str, Any] | None = None
) -> Response:
    db = store(request)
    users = await db.users()
    grants = {u.id: await db.grants(u.id) for u in users if not u.is_admin}
    return render(
        request, "users.html", status=status, users=users, grants=grants, all_sites=await db.sites(),
        message=message, values=values or {}, min_length=MIN_LENGTH,
    )


@page(admin=True)
async def users(request: Request, user: Auth) -> Response:
    return await _users_page(request)


def _site_ids(form: FormData, known: list[Site]) -> list[int]:
    wanted = {str(v) for v in form.getlist("sites")}
    return [s.id for s in known if s.website_id in wanted]


@page(admin=True)
async def create_user(request: Request, user: Auth) -> Response:
    assert user.form is not None
    form = user.form
    name = str(form.get("name", "")).strip()
    password, role = str(form.get("password", "")), str(form.get("role", "viewer"))
    values = {"name": name, "role": role}
    if not name or len(name) > 64:
        return await _users_page(request, gettext("Give the user a name (up to 64 characters)."), 400, values)
    if role not in ("admin", "viewer"):
        return await _users_page(request, gettext("The role must be admin or viewer."), 400, values)
    if len(password) < MIN_LENGTH:
        too_short = gettext("The password needs at least {n} characters.").format(n=MIN_LENGTH)
        return await _users_page(request, too_short, 400, values)
    db = store(request)
    try:
        await db.add_user(name, hash_password(password), role)
    except StoreError as exc:
        taken = await db.user_by_name(name) is not None
        problem = gettext("A user named {name} already exists.").format(name=name) if taken else str(exc)
        return await _users_page(request, problem, 400, values)
    created = await db.user_by_name(name)
    if created is not None and role == "viewer":
        await db.set_grants(created.id, _site_ids(form, await db.sites()))
    return RedirectResponse("/users", status_code=303)


async def _other_user(request: Request, user: Auth) -> User | None:
    target = await store(request).user_by_id(request.path_params["user_id"])
    return None if target is None or target.id == user.user.id else target


@page(admin=True)
async def update_user(request: Request, user: Auth) -> Response:
    assert user.form is not None
    target = await _other_user(request, user)
    if target is None:
        return await error(request, 404, N_("There is no such user (and your own role cannot be changed here)."))
    role = str(user.form.get("role", target.role))
    if role not in ("admin", "viewer"):
        return await _users_page(request, gettext("The role must be admin or viewer."), 400)
    db = store(request)
    await db.set_role(target.id, role)
    await db.set_grants(target.id, _site_ids(user.form, await db.sites()) if role == "viewer" else [])
    return RedirectResponse("/users", status_code=303)


@page(admin=True)
async def delete_user(request: Request, user: Auth) -> Response:
    target = await _other_user(request, user)
    if target is None:
        return await error(request, 404, N_("There is no such user (and you cannot delete yourself)."))
    await store(request).delete_user(target.id)
    return RedirectResponse("/users", status_code=303)

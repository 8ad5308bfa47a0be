"""Logging in and out, and what every user manages for themselves: password, API tokens and language."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from collector.bodylimit import read_form
from collector.store import StoreError
from dashboard import auth, csrf
from dashboard.auth import Auth, page
from dashboard.context import dashboard, store
from dashboard.i18n import gettext, known, ngettext
from dashboard.passwords import MIN_LENGTH, hash_password
from dashboard.templates import render
from dashboard.tokens import new_api_token, token_hash


def _login_page(request: Request, status: int = 200, message: str = "", name: str = "") -> Response:
    return render(
        request,
        "login.html",
        status=status,
        message=message,
        name=name,
        next=auth.safe_next(request.query_params.get("next")),
        login_token=csrf.login_token(dashboard(request).key),
    )


async def login_form(request: Request) -> Response:
    if await auth.current(request) is not None:
        return RedirectResponse(auth.safe_next(request.query_params.get("next")), status_code=303)
    return _login_page(request)


async def login(request: Request) -> Response:
    form = await read_form(request)
    ctx = dashboard(request)
    if not csrf.same_origin(request, ctx.settings.public_url) or not csrf.login_token_valid(
        ctx.key, form.get(csrf.FIELD)
    ):
        return _login_page(request, 403, gettext("The login form expired. Please try again."))
    name, password = str(form.get("name", "")), str(form.get("password", ""))
    try:
        user = await auth.check_password(request, name, password)
    except auth.LoginLocked as exc:
        return _locked(_login_page(request, 429, _locked_message(exc), name), exc)
    if user is None:
        return _login_page(request, 401, gettext("Wrong user name or password."), name)
    response = RedirectResponse(auth.safe_next(str(form.get("next", ""))), status_code=303)
    auth.start_session(request, response, user)
    return response


def _locked_message(exc: auth.LoginLocked) -> str:
    minutes = exc.retry_after // 60 + 1
    return ngettext(
        "Too many failed attempts for this account. Try again in {n} minute.",
        "Too many failed attempts for this account. Try again in {n} minutes.",
        minutes,
    ).format(n=minutes)


def _locked(response: Response, exc: auth.LoginLocked) -> Response:
    response.headers["Retry-After"] = str(exc.retry_after)
    return response


@page()
async def logout(request: Request, user: Auth) -> Response:
    response = RedirectResponse("/login", status_code=303)
    await auth.end_session(request, response, user.session)
    return response


async def _account_page(request: Request, user: Auth, status: int = 200, **context: object) -> Response:
    tokens = await store(request).tokens(user.user.id)
    return render(request, "account.html", status=status, tokens=tokens, min_length=MIN_LENGTH, **context)


@page()
async def account(request: Request, user: Auth) -> Response:
    return await _account_page(request, user, saved=request.query_params.get("saved", ""))


@page()
async def change_password(request: Request, user: Auth) -> Response:
    assert user.form is not None
    current, new, again = (str(user.form.get(k, "")) for k in ("current", "new", "again"))
    # Behind the login limiter too: a stolen session must not become a way to guess the password.
    try:
        if await auth.check_password(request, user.user.name, current) is None:
            not_right = gettext("The current password is not right.")
            return await _account_page(request, user, 400, password_error=not_right)
    except auth.LoginLocked as exc:
        return _locked(await _account_page(request, user, 429, password_error=_locked_message(exc)), exc)
    if len(new) < MIN_LENGTH:
        too_short = gettext("The new password needs at least {n} characters.").format(n=MIN_LENGTH)
        return await _account_page(request, user, 400, password_error=too_short)
    if new != again:
        return await _account_page(request, user, 400, password_error=gettext("The two new passwords differ."))
    await store(request).set_password(user.user.id, hash_password(new))
    refreshed = await store(request).user_by_id(user.user.id)
    response = RedirectResponse("/account?saved=password", status_code=303)
    if refreshed is not None:
        auth.start_session(request, response, refreshed)  # every other session has just ended
    return response


@page()
async def create_token(request: Request, user: Auth) -> Response:
    assert user.form is not None
    name = str(user.form.get("name", "")).strip()[:100] or gettext("API token")
    token = new_api_token()
    try:
        await store(request).add_token(user.user.id, name, token_hash(token))
    except StoreError:
        unsaved = gettext("The token could not be saved. Try again.")
        return await _account_page(request, user, 500, token_error=unsaved)
    return await _account_page(request, user, new_token=token, new_token_name=name)


@page()
async def revoke_token(request: Request, user: Auth) -> Response:
    token_id = request.path_params["token_id"]
    await store(request).delete_token(user.user.id, token_id)
    return RedirectResponse("/account?saved=revoked", status_code=303)


@page()
async def set_language(request: Request, user: Auth) -> Response:
    """The account's dashboard language; empty follows the browser's ``Accept-Language`` again."""
    assert user.form is not None
    wanted = str(user.form.get("locale", "")).strip()
    code = known(wanted)
    if wanted and code != wanted:
        unknown = gettext("There is no dashboard language {code}.").format(code=wanted[:40])
        return await _account_page(request, user, 400, language_error=unknown)
    await store(request).set_locale(user.user.id, code)
    return RedirectResponse("/account?saved=language", status_code=303)

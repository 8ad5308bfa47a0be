"""Every dashboard and stats-API URL, mounted by ``collector.app.create_app`` after the beacon routes.

Every one of these routes carries the security headers (strict CSP and friends); the beacon
endpoints do not and keep their open CORS answers. Per-site views appear twice: under ``/sites/<id>`` for users
and under ``/share/<token>`` for a site's share link.
"""

from __future__ import annotations

from starlette.convertors import Convertor, register_url_convertor
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from collector.numbers import WHOLE_NUMBER
from dashboard import account, admin, api, export, transfer, views
from dashboard.headers import HEADERS, SecurityHeaders
from dashboard.i18n import N_, RequestLanguage, reading
from dashboard.templates import STATIC, error


class IdConvertor(Convertor[int]):
    """Ids in paths (``/users/{user_id:id}``): at most 18 ASCII digits, like every number Crumbless
    reads (``collector.numbers``). Starlette's ``int`` convertor takes any length, so a path with
    5,000 digits failed in ``int()`` or in SQLite (a 500); this one simply does not match (a 404)."""

    regex = WHOLE_NUMBER

    def convert(self, value: str) -> int:
        return int(value)

    def to_string(self, value: int) -> str:
        return str(value)


register_url_convertor("id", IdConvertor())


async def home(request: Request) -> Response:
    return RedirectResponse("/sites", status_code=303)


def _site_pages(prefix: str) -> list[BaseRoute]:
    """The read-only views of one site, for a user (``/sites/{website_id}``) or a share link."""
    return [
        Route(prefix, views.overview, methods=["GET"]),
        Route(f"{prefix}/list/{{dim}}", views.full_list, methods=["GET"]),
        Route(f"{prefix}/export/{{what}}.csv", export.export, methods=["GET"]),
        Route(f"{prefix}/realtime.json", views.realtime_json, methods=["GET"]),
    ]


def api_routes() -> list[BaseRoute]:
    site = "/api/v1/sites/{website_id}"
    return [
        Route("/api/v1/openapi.json", api.openapi, methods=["GET"]),
        Route("/api/v1/sites", api.list_sites, methods=["GET"]),
        Route(f"{site}/aggregate", api.aggregate, methods=["GET"]),
        Route(f"{site}/timeseries", api.timeseries, methods=["GET"]),
        Route(f"{site}/breakdown/{{dimension}}", api.breakdown, methods=["GET"]),
        Route(f"{site}/filtered", api.filtered, methods=["GET"]),
        Route(f"{site}/goals", api.goals, methods=["GET"]),
        Route(f"{site}/funnels", api.funnels, methods=["GET"]),
        Route(f"{site}/realtime", api.realtime, methods=["GET"]),
        Route(f"{site}/annotations", api.annotations_resource, methods=["GET", "POST"]),
        Route(f"{site}/annotations/{{annotation_id}}", api.delete_annotation, methods=["DELETE"]),
        Route("/api/v1/{rest:path}", api.not_found),
    ]


def routes() -> list[BaseRoute]:
    pages: list[BaseRoute] = [
        Route("/", home, methods=["GET"]),
        Route("/login", account.login_form, methods=["GET"]),
        Route("/login", account.login, methods=["POST"]),
        Route("/logout", account.logout, methods=["POST"]),
        Route("/account", account.account, methods=["GET"]),
        Route("/account/password", account.change_password, methods=["POST"]),
        Route("/account/tokens", account.create_token, methods=["POST"]),
        Route("/account/tokens/{token_id:id}/delete", account.revoke_token, methods=["POST"]),
        Route("/account/language", account.set_language, methods=["POST"]),
        Route("/sites", admin.sites, methods=["GET"]),
        Route("/sites/new", admin.new_site_form, methods=["GET"]),
        Route("/sites/new", admin.create_site, methods=["POST"]),
        Route("/sites/{website_id}/settings", admin.site_settings, methods=["GET"]),
        Route("/sites/{website_id}/settings", admin.update_site, methods=["POST"]),
        Route("/sites/{website_id}/delete", admin.delete_site, methods=["POST"]),
        Route("/sites/{website_id}/share", admin.share, methods=["POST"]),
        Route("/sites/{website_id}/annotations", admin.add_annotation, methods=["POST"]),
        Route("/sites/{website_id}/annotations/{annotation_id:id}/delete", admin.delete_annotation, methods=["POST"]),
        Route("/sites/{website_id}/goals", admin.add_goal, methods=["POST"]),
        Route("/sites/{website_id}/goals/{goal_id:id}/delete", admin.delete_goal, methods=["POST"]),
        Route("/sites/{website_id}/funnels", admin.add_funnel, methods=["POST"]),
        Route("/sites/{website_id}/funnels/{funnel_id:id}/delete", admin.delete_funnel, methods=["POST"]),
        Route("/sites/{website_id}/imports", transfer.transfer_page, methods=["GET"]),
        Route("/sites/{website_id}/export/plausible.zip", transfer.export_download, methods=["GET"]),
        Route(transfer.IMPORT_PATH, transfer.import_upload, methods=["POST"]),
        *_site_pages("/sites/{website_id}"),
        *_site_pages("/share/{token}"),
        Route("/users", admin.users, methods=["GET"]),
        Route("/users", admin.create_user, methods=["POST"]),
        Route("/users/{user_id:id}", admin.update_user, methods=["POST"]),
        Route("/users/{user_id:id}/delete", admin.delete_user, methods=["POST"]),
        *api_routes(),
        Mount("/static", app=StaticFiles(directory=STATIC), name="static"),
    ]
    return [_with_headers(route) for route in pages]


def _with_headers(route: BaseRoute) -> BaseRoute:
    """Each route gets the headers itself: a catch-all mount would also swallow the beacon paths'
    405 answers (a GET on ``/api/send`` must stay a 405, not become the dashboard's 404)."""
    secure = [Middleware(SecurityHeaders)]
    if isinstance(route, Mount):
        return Mount(route.path, app=route.app, name=route.name, middleware=secure)
    assert isinstance(route, Route)
    # Pages speak the reader's language (dashboard/i18n.py); the stats API answers machines, in English.
    if not route.path.startswith("/api/"):
        secure.append(Middleware(RequestLanguage))
    return Route(route.path, route.endpoint, methods=list(route.methods or ()), name=route.name, middleware=secure)


async def not_found(request: Request, exc: Exception) -> Response:
    """No route matched (Starlette's router raises a 404, also for a file missing under /static): a
    page's path gets the dashboard's error page in the reader's language, since a person typed or
    followed it; the API's and static files' paths keep a plain 404 for the programs that ask them.
    Either way with the dashboard's headers, which only matched routes would otherwise add."""
    if request.url.path.startswith(("/api/", "/static/")):
        return PlainTextResponse("Not Found", status_code=404, headers=HEADERS)
    with reading(request.scope):
        page = await error(request, 404, N_("There is no page at this address."))
    page.headers.update(HEADERS)
    return page

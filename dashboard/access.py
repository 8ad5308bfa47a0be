"""One site's pages, reached two ways: by a logged-in user, or through the site's share link.

Every per-site view (overview, full lists, CSV, realtime) is written once against ``SiteView``
and mounted under both ``/sites/{website_id}`` and ``/share/{token}``. The share link resolves
to exactly one site; there is no path from it to any other site or to a management page.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import cached_property, wraps
from urllib.parse import quote_plus

from starlette.requests import Request
from starlette.responses import Response

from collector.sites import Site
from dashboard import auth
from dashboard.context import dashboard, store
from dashboard.filters import Filter, FilterError, requested
from dashboard.ranges import Period, RangeError, parse
from dashboard.templates import error


@dataclass(frozen=True)
class SiteView:
    site: Site
    base: str            # URL prefix of this site's pages as reached: /sites/<id> or /share/<token>
    shared: bool         # read through a share link: no navigation, no settings
    period: Period
    can_manage: bool = False
    filter: Filter | None = None  # ``filter=DIM:VALUE``: the figures of one value (dashboard/filters.py)

    def query(self, **extra: str | int) -> str:
        """The range and the filter as a query string (plus ``extra``), for links that keep both."""
        return self.period.query(**self._filtered, **extra)

    def range_query(self, key: str) -> str:
        """A preset range's query string (``key`` as in ``ranges.PERIODS``), keeping the filter."""
        return Period(key, self.period.range).query(**self._filtered)

    def filtered_by(self, dimension: str, value: str) -> str:
        """The overview of the same range filtered by one value: what a click on a list's value opens."""
        head, tail = self._filter_link
        return f"{head}{quote_plus(f'{dimension}:{value}')}{tail}"

    @cached_property
    def _filter_link(self) -> tuple[str, str]:
        """``filtered_by``'s URL before and after its filter value, as ``Period.query`` writes it,
        worked out once: an overview has such a link on every row of every list."""
        marker = "\x00"  # in no other parameter: a period key, dates, a language tag
        head, _, tail = f"{self.base}?{self.period.query(filter=marker)}".partition(quote_plus(marker))
        return head, tail

    @property
    def _filtered(self) -> dict[str, str]:
        return {"filter": self.filter.query} if self.filter else {}


async def _shared_site(request: Request) -> Site | None:
    site_id = await store(request).site_by_share_token(request.path_params["token"])
    if site_id is None:
        return None
    return next((s for s in await store(request).sites() if s.id == site_id), None)


Handler = Callable[[Request, SiteView], Awaitable[Response]]
Failure = Callable[[Request, int, str], Awaitable[Response]]


def site_view(on_error: Failure = error) -> Callable[[Handler], Callable[[Request], Awaitable[Response]]]:
    """Resolve the site (404 when it does not exist or is not yours) and the range (400 when bad)."""

    def wrap(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def for_user(request: Request, user_auth: auth.Auth) -> Response:
            website_id = request.path_params["website_id"]
            site = await user_auth.site(request, website_id)
            if site is None:
                return await on_error(request, 404, "There is no such site, or it has not been shared with you.")
            return await _with_range(request, site, f"/sites/{website_id}", False, user_auth.user.is_admin)

        async def _with_range(request: Request, site: Site, base: str, shared: bool, manage: bool) -> Response:
            try:
                period = parse(request.query_params, dashboard(request).today(site))
                narrowed = requested(request.query_params.getlist("filter"), site)
            except (RangeError, FilterError) as exc:
                return await on_error(request, 400, str(exc))
            return await handler(request, SiteView(site, base, shared, period, manage, narrowed))

        guarded_user = auth.page()(for_user)

        @wraps(handler)
        async def dispatch(request: Request) -> Response:
            if "token" not in request.path_params:
                return await guarded_user(request)
            site = await _shared_site(request)
            if site is None:
                return await on_error(request, 404, "This share link does not exist or has been turned off.")
            return await _with_range(request, site, f"/share/{request.path_params['token']}", True, False)

        return dispatch

    return wrap

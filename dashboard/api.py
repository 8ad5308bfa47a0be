"""The stats API (``/api/v1``): the dashboard's numbers as JSON, for personal bearer tokens.

Every figure comes from the same ``dashboard.stats`` functions the pages and ``crumbless stats``
use. Errors are JSON naming the problem: 401 without a valid token, 404 for a site that does not
exist or is not the token owner's (the two are not told apart), 400 for a bad parameter.
Annotations are the one thing the API writes: any reader of a site lists them, only an admin's
token adds or deletes them (403 for a viewer's).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from functools import wraps
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from collector.annotations import AnnotationError, annotation_day, annotation_text
from collector.localtime import date_of
from collector.model import LISTS
from collector.numbers import NotANumber, whole_number
from collector.sites import Site
from collector.store import Annotation, User
from dashboard import conversions, stats
from dashboard.context import dashboard, store
from dashboard.dimensions import DIMS
from dashboard.filters import Filter, FilterError, Unavailable, requested
from dashboard.ranges import Period, RangeError, parse
from dashboard.realtime import snapshot
from dashboard.tokens import token_hash

OPENAPI = Path(__file__).resolve().parent / "openapi.json"
MAX_LIMIT = 1000
MAX_PAGE = 1_000_000  # as openapi.json says
MAX_ANNOTATION_BODY = 16 * 1024
"""Bytes of an annotation's JSON body: ample for its longest text with every character escaped (12 bytes each)."""


class ApiError(Exception):
    def __init__(self, status: int, message: str, parameter: str = "") -> None:
        super().__init__(message)
        self.status, self.message, self.parameter = status, message, parameter

    def response(self) -> JSONResponse:
        body: dict[str, str] = {"error": self.message}
        if self.parameter:
            body["parameter"] = self.parameter
        headers = {"WWW-Authenticate": 'Bearer realm="crumbless"'} if self.status == 401 else {}
        return JSONResponse(body, status_code=self.status, headers={**headers, "Cache-Control": "no-store"})


async def _token_user(request: Request) -> User:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "missing API token: send 'Authorization: Bearer <token>' (create one on the Account page)")
    user = await store(request).token_user(token_hash(token.strip()))
    if user is None:
        raise ApiError(401, "unknown or revoked API token")
    return user


async def _sites_of(request: Request, user: User) -> list[Site]:
    sites = await store(request).sites()
    if user.is_admin:
        return sites
    granted = await store(request).grants(user.id)
    return [s for s in sites if s.id in granted]


def _site_json(site: Site) -> dict[str, Any]:
    return {"id": site.website_id, "domain": site.domain, "name": site.name, "timezone": site.timezone}


def _range_json(period: Period) -> dict[str, str]:
    return {"period": period.key, "from": period.range.first.isoformat(), "to": period.range.last.isoformat()}


def _int_param(request: Request, name: str, default: int, maximum: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        return whole_number(raw, 1, maximum, name)
    except NotANumber as exc:
        raise ApiError(400, str(exc), name) from None


Handler = Callable[[Request, Site, Period], Awaitable[dict[str, Any]]]


async def _token_site(request: Request) -> tuple[User, Site]:
    user = await _token_user(request)
    website_id = request.path_params["website_id"]
    site = next((s for s in await _sites_of(request, user) if s.website_id == website_id), None)
    if site is None:
        raise ApiError(404, f"no site {website_id!r} for this token")
    return user, site


def endpoint(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """Token, site and range resolved once for every per-site endpoint; ApiErrors become JSON."""

    @wraps(handler)
    async def run(request: Request) -> Response:
        try:
            _, site = await _token_site(request)
            try:
                period = parse(request.query_params, dashboard(request).today(site))
            except RangeError as exc:
                raise ApiError(400, str(exc), "period") from None
            body = await handler(request, site, period)
        except ApiError as exc:
            return exc.response()
        return JSONResponse(
            {"site": _site_json(site), **_range_json(period), **body}, headers={"Cache-Control": "no-store"}
        )

    return run


async def list_sites(request: Request) -> Response:
    try:
        user = await _token_user(request)
    except ApiError as exc:
        return exc.response()
    return JSONResponse(
        {"sites": [_site_json(s) for s in await _sites_of(request, user)]}, headers={"Cache-Control": "no-store"}
    )


def _filter(request: Request, site: Site) -> Filter | None:
    """The request's ``filter=DIM:VALUE``, if any (400 naming ``filter`` for a bad one)."""
    try:
        return requested(request.query_params.getlist("filter"), site)
    except FilterError as exc:
        raise ApiError(400, str(exc), "filter") from None


def _with_filter(narrowed: Filter | None, body: dict[str, Any]) -> dict[str, Any]:
    """A filtered answer names its filter; an unfiltered one is as it always was."""
    return body if narrowed is None else {"filter": narrowed.as_json(), **body}


@endpoint
async def aggregate(request: Request, site: Site, period: Period) -> dict[str, Any]:
    narrowed = _filter(request, site)
    current = await stats.totals_under(store(request), site, period.range, narrowed)
    before = period.range.previous()
    previous = await stats.totals_under(store(request), site, before, narrowed)
    return _with_filter(
        narrowed,
        {
            "totals": current,
            "previous": {"from": before.first.isoformat(), "to": before.last.isoformat(), "totals": previous},
            "change": stats.change(current, previous),
        },
    )


@endpoint
async def timeseries(request: Request, site: Site, period: Period) -> dict[str, Any]:
    narrowed = _filter(request, site)
    return _with_filter(narrowed, await stats.timeseries(store(request), site, period.range, narrowed))


@endpoint
async def breakdown(request: Request, site: Site, period: Period) -> dict[str, Any]:
    dimension = request.path_params["dimension"]
    if dimension not in DIMS:
        raise ApiError(400, f"unknown dimension {dimension!r}; one of: {', '.join(DIMS)}", "dimension")
    limit = _int_param(request, "limit", 10, MAX_LIMIT)
    page = _int_param(request, "page", 1, MAX_PAGE)
    search = request.query_params.get("search", "")[:200]
    narrowed = _filter(request, site)
    try:
        rows, matched = await stats.breakdown(
            store(request), site, dimension, period.range, limit, page, search, narrowed
        )
    except Unavailable as exc:
        raise ApiError(400, str(exc), "filter") from None
    body = {"dimension": dimension, "page": page, "limit": limit, "total": matched, "results": rows}
    return _with_filter(narrowed, body)


@endpoint
async def filtered(request: Request, site: Site, period: Period) -> dict[str, Any]:
    """The overview's "Filtered" card: beacons dropped before counting, by reason, against those counted."""
    return await stats.filtered_report(store(request), site, period.range)


@endpoint
async def goals(request: Request, site: Site, period: Period) -> dict[str, Any]:
    """The overview's Goals list: converting visitors, conversions and conversion rate per goal (of one
    source's or campaign's visitors under a filter: the only pivots goals are kept under)."""
    narrowed = _filter(request, site)
    rows = await conversions.goals_report(store(request), site, period.range, narrowed)
    if rows is None:
        assert narrowed is not None
        raise ApiError(400, f"goals are not available with a filter by {narrowed.dimension}", "filter")
    return _with_filter(narrowed, {"goals": rows})


@endpoint
async def funnels(request: Request, site: Site, period: Period) -> dict[str, Any]:
    """The overview's Funnels: visitors who reached each step in order, and what each step lost."""
    return {"funnels": await conversions.funnels_report(store(request), site, period.range)}


@endpoint
async def realtime(request: Request, site: Site, period: Period) -> dict[str, Any]:
    return {"realtime": await snapshot(request, site)}


def _annotation_json(note: Annotation) -> dict[str, Any]:
    return {"id": note.id, "date": date_of(note.day).isoformat(), "text": note.text, "created_at": note.created_at}


@endpoint
async def list_annotations(request: Request, site: Site, period: Period) -> dict[str, Any]:
    first, last = period.range.days
    return {"annotations": [_annotation_json(n) for n in await store(request).annotations(site.id, first, last)]}


async def _admin_site(request: Request) -> Site:
    user, site = await _token_site(request)
    if not user.is_admin:
        raise ApiError(403, "only an admin's token may add or delete annotations")
    return site


async def _annotation_body(request: Request) -> tuple[int, str]:
    """The day and text of a JSON body ``{"date": "2026-11-30", "text": "…"}``, checked."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_ANNOTATION_BODY:
            raise ApiError(413, f"the body is larger than {MAX_ANNOTATION_BODY} bytes")
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        raise ApiError(400, 'the body must be JSON: {"date": "2026-11-30", "text": "newsletter sent"}') from None
    if not isinstance(data, dict):
        raise ApiError(400, 'the body must be a JSON object: {"date": "2026-11-30", "text": "newsletter sent"}')
    unknown = sorted(set(data) - {"date", "text"})
    if unknown:
        raise ApiError(400, f"unknown field {unknown[0][:40]!r}: an annotation has a date and a text", unknown[0][:40])
    values = {}
    for field, check in (("date", annotation_day), ("text", annotation_text)):
        raw = data.get(field)
        if not isinstance(raw, str):
            raise ApiError(400, f"{field} must be a string", field)
        try:
            values[field] = check(raw)
        except AnnotationError as exc:
            raise ApiError(400, str(exc), field) from None
    return int(values["date"]), str(values["text"])


async def add_annotation(request: Request) -> Response:
    try:
        site = await _admin_site(request)
        day, text = await _annotation_body(request)
    except ApiError as exc:
        return exc.response()
    note = await store(request).add_annotation(site.id, day, text)
    return JSONResponse(
        {"site": _site_json(site), "annotation": _annotation_json(note)},
        status_code=201,
        headers={"Cache-Control": "no-store"},
    )


async def annotations_resource(request: Request) -> Response:
    """GET lists, POST adds: one route, so that a 405 names both methods in its Allow header."""
    if request.method == "POST":
        return await add_annotation(request)
    return await list_annotations(request)


async def delete_annotation(request: Request) -> Response:
    try:
        site = await _admin_site(request)
        raw = str(request.path_params["annotation_id"])
        try:
            note = whole_number(raw, 1, name="annotation_id")
        except NotANumber:
            raise ApiError(404, f"{site.domain} has no annotation {raw[:40]!r}") from None
        if not await store(request).delete_annotation(site.id, note):
            raise ApiError(404, f"{site.domain} has no annotation {note}")
    except ApiError as exc:
        return exc.response()
    return Response(status_code=204, headers={"Cache-Control": "no-store"})


_openapi_cache: dict[str, Any] = {}


def openapi_document() -> dict[str, Any]:
    """``openapi.json`` with every enumeration of dimensions taken from the model, so the document
    served can never offer a list the API does not have (a test keeps the file itself in step)."""
    document: dict[str, Any] = json.loads(OPENAPI.read_text())
    lists = [listing.key for listing in LISTS]

    def fill(node: Any) -> None:
        """The path parameter named ``dimension`` and every schema property of that name."""
        if isinstance(node, dict):
            if node.get("name") == "dimension" and "schema" in node:
                node["schema"]["enum"] = lists
            for key, child in node.items():
                if key == "dimension" and isinstance(child, dict) and "enum" in child:
                    child["enum"] = lists
                fill(child)
        elif isinstance(node, list):
            for child in node:
                fill(child)

    fill(document)
    return document


async def openapi(request: Request) -> Response:
    if not _openapi_cache:
        _openapi_cache.update(openapi_document())
    return JSONResponse(_openapi_cache)


async def not_found(request: Request) -> Response:
    return ApiError(404, f"no API endpoint {request.url.path}").response()

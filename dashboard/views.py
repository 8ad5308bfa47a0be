"""A site's pages: the overview, a dimension's full list, and the realtime JSON the overview polls.

Numbers come from ``dashboard.stats`` — the very functions the CLI and the API call — and are
only arranged here: cards with their change, the chart's slots, top lists with share bars.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from collector.numbers import NotANumber, whole_number
from collector.tracker import snippet
from dashboard import charts, stats
from dashboard.access import SiteView, site_view
from dashboard.context import dashboard, store
from dashboard.dimensions import DIMS, HEADERS, Dimension
from dashboard.realtime import snapshot
from dashboard.templates import render

TOP_ROWS = 10
LIST_ROWS = 50

CARDS = (
    ("visitors", "Visitors", "num"),
    ("visits", "Visits", "num"),
    ("pageviews", "Pageviews", "num"),
    ("views_per_visit", "Views per visit", "num"),
    ("bounce_rate", "Bounce rate", "pct"),
    ("visit_duration", "Visit duration", "duration"),
)
# Where fewer is better, a fall is good news.
LOWER_IS_BETTER = {"bounce_rate"}


@dataclass(frozen=True)
class Panel:
    dim: Dimension
    rows: list[dict[str, Any]]
    total: int

    def share(self, row: dict[str, Any]) -> float:
        return 100 * row.get(self.dim.primary, 0) / self.total if self.total else 0.0


def _panels(top: dict[str, list[dict[str, Any]]], totals: dict[str, Any]) -> list[Panel]:
    return [Panel(dim, top[key], int(totals[dim.total])) for key, dim in DIMS.items()]


def chart_context(series: dict[str, Any]) -> dict[str, Any]:
    slots = charts.slots(series)
    top = charts.nice_ceiling(max([max(s.pageviews, s.visitors) for s in slots] or [0]))
    unit = "hour" if series["granularity"] == "hour" else "day"
    return {
        "slots": slots,
        "chart": charts.timeseries_svg(slots, top, unit),
        "ticks": charts.y_ticks(top),
        "unit": unit,
    }


@site_view()
async def overview(request: Request, view: SiteView) -> Response:
    db = store(request)
    read = await stats.overview(db, view.site, view.period.range, limit=TOP_ROWS)
    report, previous, series = read.report, read.previous, read.series
    live = await snapshot(request, view.site)
    has_data = bool(report["totals"]["pageviews"] or report["totals"]["events"]) or await db.has_data(view.site.id)
    return render(
        request,
        "overview.html",
        view=view,
        totals=report["totals"],
        change=stats.change(report["totals"], previous),
        cards=CARDS,
        lower_is_better=LOWER_IS_BETTER,
        panels=_panels(report["top"], report["totals"]),
        # Why figures differ from another tool's is the site's operators' question, not a share link's readers'.
        filtered=None if view.shared else stats.filtered_of(report),
        live=live,
        live_chart=charts.realtime_svg(live["pageviews_per_minute"]),
        has_data=has_data,
        snippet=snippet(dashboard(request).settings, view.site),
        flush_interval=dashboard(request).settings.flush_interval,
        collect_path=dashboard(request).settings.collect_path,
        **chart_context(series),
    )


MAX_PAGE = 999_999


@site_view()
async def full_list(request: Request, view: SiteView) -> Response:
    from dashboard.templates import error

    dim = DIMS.get(request.path_params["dim"])
    if dim is None:
        return await error(request, 404, "There is no such list.")
    try:
        page = whole_number(request.query_params.get("page", "1"), 1, MAX_PAGE, "page")
    except NotANumber as exc:
        return await error(request, 400, f"The {exc}.")
    search = request.query_params.get("q", "").strip()[:200]
    rows, matched = await stats.breakdown(
        store(request), view.site, dim.key, view.period.range, LIST_ROWS, page, search
    )
    totals = await stats.totals(store(request), view.site, view.period.range)
    pages = max(1, -(-matched // LIST_ROWS))
    return render(
        request,
        "list.html",
        view=view,
        dim=dim,
        panel=Panel(dim, rows, int(totals[dim.total])),
        columns=dim.figures,
        headers=HEADERS,
        page=page,
        pages=pages,
        matched=matched,
        first_row=(page - 1) * LIST_ROWS + 1,
        search=search,
    )


@site_view()
async def realtime_json(request: Request, view: SiteView) -> Response:
    return JSONResponse(await snapshot(request, view.site), headers={"Cache-Control": "no-store"})

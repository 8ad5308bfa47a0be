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
from dashboard import chart_notes, charts, conversion_views, filter_view, formats, imported_marks, stats
from dashboard.access import SiteView, site_view
from dashboard.context import dashboard, store
from dashboard.dimensions import DIMS, HEADERS, Dimension
from dashboard.filters import Filter
from dashboard.i18n import N_, gettext
from dashboard.realtime import snapshot
from dashboard.templates import render

TOP_ROWS = 10
LIST_ROWS = 50

CARDS = (
    ("visitors", N_("Visitors"), "num"),
    ("visits", N_("Visits"), "num"),
    ("pageviews", N_("Pageviews"), "num"),
    ("views_per_visit", N_("Views per visit"), "num"),
    ("bounce_rate", N_("Bounce rate"), "pct"),
    ("visit_duration", N_("Visit duration"), "duration"),
)
GOAL_CARDS = (
    ("visitors", N_("Converting visitors"), "num"),
    ("conversions", N_("Conversions"), "num"),
    ("conversion_rate", N_("Conversion rate"), "pct"),
    ("visits", N_("Visits"), "num"),
    ("pageviews", N_("Pageviews"), "num"),
    ("visit_duration", N_("Visit duration"), "duration"),
)
"""The cards under a goal filter: what the goal's rows count, then the visit's figures it has not ("–")."""
# Where fewer is better, a fall is good news.
LOWER_IS_BETTER = {"bounce_rate"}


@dataclass(frozen=True)
class Panel:
    """A top list as shown: its rows, and the largest figure among them, which sets the bars' scale.

    Bars are scaled to the largest row, as Plausible does, not to the row's share of the site total:
    a top source with 40 % of visitors then fills its row, and the rows below read against it.
    """

    dim: Dimension
    rows: list[dict[str, Any]]
    largest: int
    available: bool = True  # False: the list is not kept under the page's filter (``model.FILTERED``)

    @property
    def sets(self) -> str | None:
        """The filter a click on one of its values sets (``filter_view.sets``)."""
        return filter_view.sets(self.dim)

    def bar(self, row: dict[str, Any]) -> float:
        return 100 * row.get(self.dim.primary, 0) / self.largest if self.largest else 0.0


def _panel(dim: Dimension, rows: list[dict[str, Any]], largest: int | None = None) -> Panel:
    rows = filter_view.displayed(dim, rows)
    top = largest if largest is not None else max((int(row.get(dim.primary, 0)) for row in rows), default=0)
    return Panel(dim, rows, top)


def _panels(top: dict[str, list[dict[str, Any]] | None], filter: Filter | None) -> list[Panel]:
    """Every list, as it reads under ``filter``; one not kept under it says so instead of numbers."""
    panels = []
    for key, dim in DIMS.items():
        shown, rows = filter_view.shown(dim, filter), top[key]
        panels.append(Panel(dim, [], 0, available=False) if shown is None or rows is None else _panel(shown, rows))
    return panels


def chart_context(
    series: dict[str, Any], notes: list[list[Any]] | None = None, imported: list[bool] | None = None
) -> dict[str, Any]:
    slots = charts.slots(series)
    top = charts.nice_ceiling(max([max(s.pageviews, s.visitors) for s in slots] or [0]))
    unit = "hour" if series["granularity"] == "hour" else "day"
    notes = notes if notes and any(notes) else []
    band = imported_marks.band_svg(imported or [], charts.PLOT_HEIGHT)  # imported history (docs/import.md)
    return {
        "slots": slots,
        "slot_notes": notes,
        "chart": charts.timeseries_svg(slots, top, unit, chart_notes.marks_svg(notes, charts.PLOT_HEIGHT) + band),
        "ticks": charts.y_ticks(top),
        "unit": unit,
    }


@site_view()
async def overview(request: Request, view: SiteView) -> Response:
    db = store(request)
    read = await stats.overview(db, view.site, view.period.range, limit=TOP_ROWS, filter=view.filter)
    report, previous, series = read.report, read.previous, read.series
    live = await snapshot(request, view.site)
    shown = report["totals"]
    counted_here = bool(shown["visitors"] or shown["pageviews"] or shown["events"]) or view.filter is not None
    has_data = counted_here or await db.has_data(view.site.id)
    notes = None if view.shared else await chart_notes.per_slot(db, view.site, view.period.range, series)
    return render(
        request,
        "overview.html",
        view=view,
        totals=report["totals"],
        change=stats.change(report["totals"], previous),
        cards=GOAL_CARDS if view.filter and view.filter.dimension == "goal" else CARDS,
        card_note=filter_view.CARD_NOTES.get(view.filter.dimension, "") if view.filter else "",
        chip=_chip(view.filter),
        lower_is_better=LOWER_IS_BETTER,
        panels=_panels(report["top"], view.filter),
        # Why figures differ from another tool's is the site's operators' question, not a share link's readers';
        # beacons are dropped before any value is known, so there is no such card under a filter.
        filtered=None if view.shared or view.filter else stats.filtered_of(report),
        live=live,
        live_chart=charts.realtime_svg(live["pageviews_per_minute"]),
        conversions=await conversion_views.section(db, view),  # the Goals list and the Funnels
        has_data=has_data,
        counted_here=counted_here,
        snippet=snippet(dashboard(request).settings, view.site),
        flush_interval=dashboard(request).settings.flush_interval,
        collect_path=dashboard(request).settings.collect_path,
        **chart_context(series, notes, await imported_marks.per_slot(db, view.site, view.period.range, series)),
    )


def _chip(filter: Filter | None) -> dict[str, Any] | None:
    """What the chip above the cards names: the filter's dimension and its value, shown as its list shows it."""
    if filter is None:
        return None
    return {
        "label": filter_view.LABELS[filter.dimension],
        "dim": filter_view.chip_dim(filter),
        "row": filter_view.chip_row(filter),
    }


MAX_PAGE = 999_999


@site_view()
async def full_list(request: Request, view: SiteView) -> Response:
    from dashboard.templates import error

    dim = DIMS.get(request.path_params["dim"])
    if dim is None:
        return await error(request, 404, N_("There is no such list."))
    try:
        page = whole_number(request.query_params.get("page", "1"), 1, MAX_PAGE, "page")
    except NotANumber:
        problem = gettext("The page must be a whole number from 1 to {largest}.")
        return await error(request, 400, problem.format(largest=formats.number(MAX_PAGE)))
    search = request.query_params.get("q", "").strip()[:200]
    shown = filter_view.shown(dim, view.filter)
    rows: list[dict[str, Any]] = []
    matched, largest = 0, None
    if shown is not None:
        rows, matched = await stats.breakdown(
            store(request), view.site, dim.key, view.period.range, LIST_ROWS, page, search, view.filter
        )
        if page > 1:  # every page's bars keep the scale of the list's first row
            first, _ = await stats.breakdown(
                store(request), view.site, dim.key, view.period.range, 1, 1, search, view.filter
            )
            largest = int(first[0].get(dim.primary, 0)) if first else 0
    pages = max(1, -(-matched // LIST_ROWS))
    return render(
        request,
        "list.html",
        view=view,
        dim=shown or dim,
        available=shown is not None,
        chip=_chip(view.filter),
        panel=_panel(shown or dim, rows, largest),
        columns=(shown or dim).figures,
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

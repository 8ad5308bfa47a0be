"""CSV export of any list and of the time series, for the range in the URL.

Cells that a spreadsheet would read as a formula (=, +, -, @ first) get a leading apostrophe:
page paths, sources and event properties come from the public internet, and a CSV opened in a
spreadsheet must not run what a visitor typed.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from dashboard import filter_view, filtered, stats
from dashboard.access import SiteView, site_view
from dashboard.context import store
from dashboard.dimensions import DIMS
from dashboard.i18n import N_
from dashboard.templates import error

MAX_ROWS = 100_000
FILTERED = "filtered"  # not a list of ``DIMS``: beacons dropped before counting, by reason
SERIES_COLUMNS = ("time", "visitors", "visits", "pageviews", "bounce_rate", "visit_duration")


def _cell(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def to_csv(columns: Sequence[str], rows: Iterable[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(c, "")) for c in columns])
    return out.getvalue()


def _attachment(view: SiteView, what: str, body: str) -> Response:
    r = view.period.range
    name = f"{view.site.domain}-{what}-{r.first.isoformat()}-{r.last.isoformat()}.csv"
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"},
    )


@site_view()
async def export(request: Request, view: SiteView) -> Response:
    what = request.path_params["what"]
    if what == "timeseries":
        series = await stats.timeseries(store(request), view.site, view.period.range, view.filter)
        points = series["points"]
        columns = tuple(points[0]) if view.filter and points else SERIES_COLUMNS  # what a filter's rows have
        return _attachment(view, what, to_csv(columns, points))
    if what == FILTERED and not view.shared:  # a share link's overview has no Filtered card either
        summary = await stats.filtered_report(store(request), view.site, view.period.range)
        return _attachment(view, what, to_csv(filtered.CSV_COLUMNS, filtered.csv_rows(summary)))
    dim = DIMS.get(what)
    if dim is None:
        return await error(request, 404, "There is no such list to export.")
    shown = filter_view.shown(dim, view.filter)
    if shown is None:
        return await error(request, 400, N_("This list is not available with this filter."))
    rows, _ = await stats.breakdown(store(request), view.site, dim.key, view.period.range, MAX_ROWS, filter=view.filter)
    return _attachment(view, what, to_csv(shown.columns, rows))

"""The overview's Goals list and Funnels section: ``dashboard.conversions``'s figures, arranged to be shown.

Kept apart from the reads so the API and ``crumbless stats`` never depend on how a page words a
goal or draws a funnel; this adds only what a reader of the page needs: each goal's definition in
the reader's language, the link that filters the overview by it, and each funnel's chart.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from markupsafe import Markup

from collector.goals import Goal
from collector.store import CounterReader
from dashboard import conversions
from dashboard.access import SiteView
from dashboard.funnel_chart import funnel_svg
from dashboard.i18n import gettext


@dataclass(frozen=True)
class Shown:
    funnel: dict[str, Any]
    chart: Markup
    window: str  # "Within a visit", in the reader's language


@dataclass(frozen=True)
class Section:
    defined: bool  # the site has goals at all (else one line, and for an admin a way to set them up)
    goals: list[dict[str, Any]] | None = field(default_factory=list)  # None: not kept under the page's filter
    largest: int = 0  # the largest converting-visitors figure, which sets the bars' scale
    funnels: list[Shown] | None = field(default_factory=list)  # None: not kept under the page's filter

    def bar(self, row: dict[str, Any]) -> float:
        return 100 * row["visitors"] / self.largest if self.largest else 0.0


def described(goal: Goal) -> str:
    """What the goal counts, in the reader's words (``Goal.describe`` is the CLI's and the API's)."""
    if goal.kind == "page":
        return gettext("Page {pattern}").format(pattern=goal.page)
    if goal.prop_key:
        return gettext("Event {event} with {key} = {value}").format(
            event=goal.event, key=goal.prop_key, value=goal.prop_value
        )
    return gettext("Event {event}").format(event=goal.event)


def window_text(window: str) -> str:
    return gettext("Within a visit") if window == "visit" else gettext("Within the visitor's day")


def filter_link(view: SiteView, goal_name: str) -> str:
    """The overview filtered by a goal: the same range, ``filter=goal:NAME``."""
    return f"{view.base}?{view.period.query(filter=f'goal:{goal_name}')}"


async def section(store: CounterReader, view: SiteView) -> Section:
    site = view.site
    if not site.conversions.goals:
        return Section(defined=False)
    read = await conversions.report(store, site, view.period.range, view.filter)
    by_id = {goal.id: goal for goal in site.conversions.goals}
    goals = read["goals"]
    if goals is not None:
        goals = [
            {**row, "description": described(by_id[row["id"]]), "link": filter_link(view, row["name"])} for row in goals
        ]
    funnels = read["funnels"]
    return Section(
        defined=True,
        goals=goals,
        largest=max((row["visitors"] for row in goals or ()), default=0),
        funnels=None if funnels is None else [Shown(f, funnel_svg(f), window_text(f["window"])) for f in funnels],
    )

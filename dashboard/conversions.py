"""Goals and funnels as reports: the figures the overview, the API and ``crumbless stats`` show.

The counting rules store only how many visitors converted on a goal (and how often) and how many
reached each step of a funnel, per day; a report adds the days of a range up and derives the
rates here, once, so the three readers always agree. Definitions come with the ``Site`` the store
returns (``Site.conversions``), in the order they were made.

A goal is counted from the day it was defined: Crumbless keeps no raw events to count it from
afterwards. Only a goal naming one exact event or path is filled in for earlier days
(``Goal.backfillable``); for any other goal, and for every funnel, a report says from which day it
counts (``counts_from``), so an empty day before it reads as "not counted yet", not as "nobody".
"""

from __future__ import annotations

import asyncio
from typing import Any

from collector.goals import Funnel, Goal
from collector.localtime import date_of
from collector.model import FUNNEL_STEPS, GOALS, TopList, funnel_value
from collector.sites import Site
from collector.store import CounterReader, Row
from dashboard.filters import Filter
from dashboard.stats import Range

MAX_ROWS = 100_000
"""Rows read per report: every goal's, every funnel step's (a site has a few dozen at most)."""


def percent(part: int, whole: int) -> float:
    return round(100 * part / whole, 1) if whole else 0.0


def counts_from(first_day: int) -> str:
    return date_of(first_day).isoformat()


async def _rows(
    store: CounterReader, site: Site, period: Range, listing: TopList, within: str | None = None
) -> dict[str, Row]:
    rows, _ = await store.breakdown(site.id, listing, *period.days, MAX_ROWS, within=within)
    return dict(rows)


def goal_rows(goals: tuple[Goal, ...], stored: dict[str, Row], site_visitors: int) -> list[dict[str, Any]]:
    """One row per goal, in definition order, zeros included (a goal nobody reached is news too)."""
    result = []
    for goal in goals:
        row = stored.get(str(goal.id), {})
        visitors, conversions = row.get("visitors", 0), row.get("events", 0)
        result.append(
            {
                "id": goal.id,
                "name": goal.name,
                "definition": goal.describe(),
                "visitors": visitors,
                "conversions": conversions,
                "conversion_rate": percent(visitors, site_visitors),
                "counts_from": None if goal.backfillable else counts_from(goal.first_day),
            }
        )
    return result


def funnel_row(funnel: Funnel, goals: dict[int, Goal], stored: dict[str, Row]) -> dict[str, Any]:
    """A funnel's steps with the visitors who reached each in order, what each step lost against
    the one before it, and what is left of the first step."""
    steps: list[dict[str, Any]] = []
    first = previous = 0
    for number, goal_id in enumerate(funnel.steps, start=1):
        reached = stored.get(funnel_value(funnel.id, number), {}).get("visitors", 0)
        goal = goals.get(goal_id)
        if number == 1:
            first = reached
        steps.append(
            {
                "step": number,
                "goal": goal_id,
                "name": goal.name if goal else "",
                "visitors": reached,
                "dropoff": None if number == 1 else previous - reached,
                "dropoff_rate": None if number == 1 else percent(previous - reached, previous),
                "conversion_rate": percent(reached, first),
            }
        )
        previous = reached
    return {
        "id": funnel.id,
        "name": funnel.name,
        "window": funnel.window,
        "counts_from": counts_from(funnel.first_day),
        "visitors": first,
        "conversion_rate": percent(previous, first),
        "steps": steps,
    }


async def goals_report(
    store: CounterReader, site: Site, period: Range, filter: Filter | None = None
) -> list[dict[str, Any]] | None:
    """Every goal's figures; under ``filter``, those of the filter's visitors (a goal's conversions
    from one source, against that source's visitors), or None where no rows pair the two."""
    defined = site.conversions.goals
    if filter is None:
        if not defined:
            return []
        stored, totals = await asyncio.gather(_rows(store, site, period, GOALS), store.totals(site.id, *period.days))
        return goal_rows(defined, stored, totals["visitors"])
    listing = filter.listing("goal")
    if listing is None:
        return None
    stored, totals = await asyncio.gather(
        _rows(store, site, period, listing, filter.stored),
        store.value_totals(site.id, filter.dimension, filter.stored, *period.days),
    )
    return goal_rows(defined, stored, totals["visitors"])


async def funnels_report(
    store: CounterReader, site: Site, period: Range, filter: Filter | None = None
) -> list[dict[str, Any]] | None:
    """Every funnel's steps; None under a filter, since no rows pair a funnel with another value."""
    defined = site.conversions.funnels
    if filter is not None:
        return None
    if not defined:
        return []
    stored = await _rows(store, site, period, FUNNEL_STEPS)
    by_id = {goal.id: goal for goal in site.conversions.goals}
    return [funnel_row(funnel, by_id, stored) for funnel in defined]


async def report(
    store: CounterReader, site: Site, period: Range, filter: Filter | None = None
) -> dict[str, list[dict[str, Any]] | None]:
    """Both reports, as ``crumbless stats`` adds them to its output and the overview shows them."""
    goals, funnels = await asyncio.gather(
        goals_report(store, site, period, filter), funnels_report(store, site, period, filter)
    )
    return {"goals": goals, "funnels": funnels}


def text_lines(result: dict[str, Any]) -> list[str]:
    """``crumbless stats``'s lines for the goals and funnels of a ``report``."""
    lines: list[str] = []
    if result.get("goals"):
        lines += ["", "  goals"]
        for goal in result["goals"]:
            since = f"  (counts from {goal['counts_from']})" if goal["counts_from"] else ""
            lines.append(
                f"    {goal['name']}  visitors {goal['visitors']}  conversions {goal['conversions']}  "
                f"conversion rate {goal['conversion_rate']}%{since}"
            )
    for funnel in result.get("funnels") or []:
        lines += ["", f"  funnel {funnel['name']}  (within a {funnel['window']}, counts from {funnel['counts_from']})"]
        for step in funnel["steps"]:
            lost = "" if step["dropoff"] is None else f"  dropped {step['dropoff']} ({step['dropoff_rate']}%)"
            lines.append(
                f"    {step['step']}. {step['name']}  visitors {step['visitors']}{lost}  "
                f"of step 1 {step['conversion_rate']}%"
            )
    return lines

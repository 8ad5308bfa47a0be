"""The site settings' Goals and Funnels forms: what they hold, how it is checked, what the page lists.

A refused form comes back with what was typed and one sentence naming the problem (a 400, never
a 500), as the site and annotation forms do. What is accepted here is what ``collector.goals``
can match: an event name with at most one property, or a path with ``*`` (one segment) and
``**`` (any number of them); a funnel of 2–8 of the site's goals, followed within a visit or
within the visitor's day.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.datastructures import FormData

from collector.beacons import MAX_NAME as MAX_EVENT_NAME, MAX_PROP_KEY, MAX_PROP_VALUE
from collector.goals import MAX_NAME, MAX_PATTERN, MAX_STEPS, MIN_STEPS, Funnel, FunnelWindow, Goal, GoalKind
from collector.localtime import date_of
from collector.urls import clean_text
from dashboard.conversion_views import described, window_text
from dashboard.i18n import gettext

Values = dict[str, Any]
Problem = tuple[Values, str]  # a form's values as typed, and what is wrong with them ('' when nothing)
NO_PROBLEM: Problem = ({}, "")
STEP_FIELDS = tuple(f"step{n}" for n in range(1, MAX_STEPS + 1))


@dataclass(frozen=True)
class GoalInput:
    name: str
    kind: GoalKind
    event: str = ""
    prop_key: str = ""
    prop_value: str = ""
    page: str = ""


@dataclass(frozen=True)
class FunnelInput:
    name: str
    steps: tuple[int, ...]
    window: FunnelWindow


class FormProblem(ValueError):
    """What is wrong with a form, in the reader's words."""


def _one_line(text: str, longest: int, problem: str) -> str:
    """As the store checks a definition's texts (``collector.store.conversions.checked_text``)."""
    cleaned = text.strip()
    if len(cleaned) > longest or clean_text(cleaned, len(cleaned)) != cleaned:
        raise FormProblem(problem)
    return cleaned


def _name(raw: str, default: str) -> str:
    problem = gettext("Give the name as one line of up to {n} characters.").format(n=MAX_NAME)
    return _one_line(raw or default, MAX_NAME, problem)


def goal_values(form: FormData) -> Values:
    fields = ("name", "kind", "event", "prop", "page")
    return {key: str(form.get(key, ""))[: 2 * MAX_PATTERN] for key in fields}


def goal_input(values: Values) -> GoalInput:
    """The goal the form describes; FormProblem names what keeps it from being one."""
    if values["kind"] == "page":
        page = values["page"].strip()
        problem = gettext(
            "Give the page as a path starting with /, such as /pricing or /blog/** (up to {n} characters)."
        )
        if not page.startswith("/") or any(c.isspace() for c in page):
            raise FormProblem(problem.format(n=MAX_PATTERN))
        page = _one_line(page, MAX_PATTERN, problem.format(n=MAX_PATTERN))
        return GoalInput(_name(values["name"], page), "page", page=page)
    if values["kind"] != "event":
        raise FormProblem(gettext("Choose what the goal counts: a custom event or a page."))
    event = values["event"].strip()
    if not event:
        raise FormProblem(gettext("Give the custom event's name, such as Signup."))
    too_long = gettext("Give the event name as one line of up to {n} characters.").format(n=MAX_EVENT_NAME)
    event = _one_line(event, MAX_EVENT_NAME, too_long)
    key, value = "", ""
    if values["prop"].strip():
        key, equals, value = values["prop"].strip().partition("=")
        not_a_property = gettext("Give the property as key=value, such as plan=pro, or leave it empty.")
        key, value = _one_line(key, MAX_PROP_KEY, not_a_property), _one_line(value, MAX_PROP_VALUE, not_a_property)
        if not equals or not key or not value:
            raise FormProblem(not_a_property)
    return GoalInput(_name(values["name"], event), "event", event, key, value)


def funnel_values(form: FormData) -> Values:
    values: Values = {key: str(form.get(key, ""))[: 2 * MAX_NAME] for key in ("name", "window", *STEP_FIELDS)}
    values["window"] = values["window"] or "visit"
    return values


def funnel_input(values: Values, goals: list[Goal]) -> FunnelInput:
    """The funnel the form describes, its steps the site's own goals in the order chosen."""
    name = values["name"].strip()
    if not name:
        raise FormProblem(gettext("Give the funnel a name."))
    known = {str(goal.id): goal.id for goal in goals}
    chosen = [values[field] for field in STEP_FIELDS if values[field]]
    if len(chosen) < MIN_STEPS or any(step not in known for step in chosen):
        problem = gettext("Choose from {low} to {high} of this site's goals as steps, in order.")
        raise FormProblem(problem.format(low=MIN_STEPS, high=MAX_STEPS))
    window = values["window"]
    if window not in ("visit", "day"):
        raise FormProblem(gettext("Choose whether the steps must happen within a visit or within the visitor's day."))
    return FunnelInput(_name(name, ""), tuple(known[step] for step in chosen), "visit" if window == "visit" else "day")


def _goal_shown(goal: Goal) -> dict[str, Any]:
    since = "" if goal.backfillable else date_of(goal.first_day).isoformat()
    return {"id": goal.id, "name": goal.name, "description": described(goal), "counts_from": since}


def _funnel_shown(funnel: Funnel, names: dict[int, str]) -> dict[str, Any]:
    return {
        "id": funnel.id,
        "name": funnel.name,
        "steps": [names.get(goal, "") for goal in funnel.steps],
        "window": window_text(funnel.window),
        "counts_from": date_of(funnel.first_day).isoformat(),
    }


def settings_context(
    goals: list[Goal], funnels: list[Funnel], goal: Problem = NO_PROBLEM, funnel: Problem = NO_PROBLEM
) -> dict[str, Any]:
    """What the settings page's Goals and Funnels sections show, with a refused form's values kept."""
    names = {g.id: g.name for g in goals}
    return {
        "goals": [_goal_shown(g) for g in goals],
        "goal_choices": [{"id": g.id, "name": g.name} for g in goals],
        "funnels": [_funnel_shown(f, names) for f in funnels],
        "goal_values": {"name": "", "kind": "event", "event": "", "prop": "", "page": "", **goal[0]},
        "goal_message": goal[1],
        "funnel_values": {"name": "", "window": "visit", **dict.fromkeys(STEP_FIELDS, ""), **funnel[0]},
        "funnel_message": funnel[1],
        "goal_limits": {"name": MAX_NAME, "pattern": MAX_PATTERN, "steps": STEP_FIELDS, "min_steps": MIN_STEPS},
    }

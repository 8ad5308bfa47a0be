"""Goals and funnels as the stores keep them: their definitions, a goal's earlier days, their rows' removal.

Every job here runs in the caller's transaction (``SQLStore`` picks the connection), in the SQL
both databases answer, like ``imports``. A definition is checked before it is written, so the
CLI and the dashboard refuse the same mistakes with the same words.

A goal that names one exact event or one exact path (``Goal.backfillable``) is filled in for the
days before it was defined from the rows that already hold its numbers, through the flush's own
statements (``Queries.write_batch``), so its monthly roll-ups stay the sums of its days. Removing
a goal or a funnel takes every row that names it with it: a deleted goal's id is never handed out
again, but its counts must not stay on disk under a name nobody can read any more.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from typing import Any, get_args

from collector.aggregator import Batch
from collector.beacons import MAX_NAME as MAX_EVENT_NAME, MAX_PROP_KEY, MAX_PROP_VALUE
from collector.goals import (
    MAX_NAME,
    MAX_PATTERN,
    MAX_STEPS,
    MIN_STEPS,
    Conversions,
    Funnel,
    FunnelWindow,
    Goal,
    GoalKind,
)
from collector.model import BY_KEY, COUNTERS, EVENTS, PROP_SEPARATOR, SEGMENTS, VISITORS
from collector.store.errors import StoreError
from collector.store.queries import Connection, Queries, batch_rows, to_json
from collector.urls import clean_text


class InvalidDefinition(StoreError):
    """A goal or funnel that is not one (or that names what the site does not have): the caller's
    mistake, which the CLI reports as one, unlike the database's own faults."""


_GOAL = "id, site, name, kind, event, prop_key, prop_value, page, first_day"
_FUNNEL = 'id, site, name, steps, "window", first_day'
GOAL_CODE = BY_KEY["goal"].code
FUNNEL_CODE = BY_KEY["funnel"].code
_STARTING = tuple(BY_KEY[s.key].code for s in SEGMENTS if s.pivot == "goal")
"""Segment dimensions whose values start with a goal's id (``goal>source``: ``7␟Google``)."""
_ENDING = tuple(BY_KEY[s.key].code for s in SEGMENTS if s.listed == "goal")
"""Segment dimensions whose values end with one (``source>goal``: ``Google␟7``)."""


def _known_site(db: Connection, site: int) -> None:
    if db.execute("SELECT 1 FROM sites WHERE id = ?", (site,)).fetchone() is None:
        raise InvalidDefinition("no such site")


def goal_of(row: Sequence[Any]) -> Goal:
    kind: GoalKind = "event" if row[3] == "event" else "page"
    texts = (str(row[4]), str(row[5]), str(row[6]), str(row[7]))
    return Goal(int(row[0]), int(row[1]), str(row[2]), kind, *texts, first_day=int(row[8]))


def funnel_of(row: Sequence[Any]) -> Funnel:
    window: FunnelWindow = "day" if row[4] == "day" else "visit"
    steps = tuple(int(goal) for goal in json.loads(str(row[3])))
    return Funnel(int(row[0]), int(row[1]), str(row[2]), steps, window, int(row[5]))


# ── checking a definition ─────────────────────────────────────────────────────────────────────


def checked_text(what: str, value: str, limit: int, required: bool = True) -> str:
    """``value`` without the spaces around it, refused if empty (when ``required``), longer than
    ``limit`` or not one line: a name is shown in lists, an event or a path compared as stored."""
    text = value.strip()
    if required and not text:
        raise InvalidDefinition(f"the {what} must not be empty")
    if len(text) > limit:
        raise InvalidDefinition(f"the {what} must be at most {limit} characters")
    if clean_text(text, len(text)) != text:
        raise InvalidDefinition(f"the {what} must be one line without control characters")
    return text


def checked_goal(goal: Goal) -> Goal:
    """``goal`` with each text as it is stored, or an InvalidDefinition saying what is wrong (what
    it counts first: a name is often the event's or the pattern's own)."""
    if goal.kind == "event":
        if goal.page:
            raise InvalidDefinition("an event goal has no page")
        event = checked_text("event name", goal.event, MAX_EVENT_NAME)
        prop_key = checked_text("property name", goal.prop_key, MAX_PROP_KEY, required=False)
        prop_value = checked_text("property value", goal.prop_value, MAX_PROP_VALUE, required=False)
        if prop_value and not prop_key:
            raise InvalidDefinition("a property value needs a property name")
        counted = replace(goal, event=event, prop_key=prop_key, prop_value=prop_value)
    elif goal.kind == "page":
        if goal.event or goal.prop_key or goal.prop_value:
            raise InvalidDefinition("a page goal has no event or property")
        page = checked_text("page pattern", goal.page, MAX_PATTERN)
        if not page.startswith("/"):
            raise InvalidDefinition("the page pattern must start with / (a path, with * for one segment, ** for any)")
        counted = replace(goal, page=page)
    else:
        raise InvalidDefinition("a goal is an event or a page")
    return replace(counted, name=checked_text("goal's name", goal.name, MAX_NAME))


def already(what: str, name: str) -> InvalidDefinition:
    """The error for a name the site's goals or funnels have already (their unique key's)."""
    return InvalidDefinition(f"the site has a {what} named {name} already")


def checked_funnel(name: str, steps: Sequence[int], window: str, goals: Sequence[int]) -> str:
    """The funnel's name as stored, or an InvalidDefinition: 2–8 steps, each one of the site's ``goals``."""
    name = checked_text("funnel's name", name, MAX_NAME)
    if not MIN_STEPS <= len(steps) <= MAX_STEPS:
        raise InvalidDefinition(f"a funnel has {MIN_STEPS} to {MAX_STEPS} steps, not {len(steps)}")
    unknown = [str(step) for step in steps if step not in goals]
    if unknown:
        raise InvalidDefinition(f"the site has no goal {', '.join(unknown)}")
    if window not in get_args(FunnelWindow):
        raise InvalidDefinition("a funnel's window is visit or day")
    return name


# ── goals ─────────────────────────────────────────────────────────────────────────────────────


def goals(db: Connection, site: int | None = None) -> list[Goal]:
    """The site's goals (every site's without ``site``), oldest first."""
    where, params = ("WHERE site = ?", (site,)) if site is not None else ("", ())
    return [goal_of(row) for row in db.execute(f"SELECT {_GOAL} FROM goals {where} ORDER BY id", params)]


def funnels(db: Connection, site: int | None = None) -> list[Funnel]:
    """The site's funnels (every site's without ``site``), oldest first."""
    where, params = ("WHERE site = ?", (site,)) if site is not None else ("", ())
    return [funnel_of(row) for row in db.execute(f"SELECT {_FUNNEL} FROM funnels {where} ORDER BY id", params)]


def conversions(db: Connection, site: int | None = None) -> dict[int, Conversions]:
    """Each site's goals and funnels, in two queries whatever the number of sites; sites without any are absent."""
    found: dict[int, tuple[list[Goal], list[Funnel]]] = {}
    for goal in goals(db, site):
        found.setdefault(goal.site, ([], []))[0].append(goal)
    for funnel in funnels(db, site):
        found.setdefault(funnel.site, ([], []))[1].append(funnel)
    return {key: Conversions(tuple(g), tuple(f)) for key, (g, f) in found.items()}


def add_goal(queries: Queries, db: Connection, site: int, goal: Goal, now: str) -> Goal:
    """Record ``goal`` (its id and site aside) and fill in its earlier days if it can be. A name the
    site has already raises the driver's unique-key error, which the caller words."""
    _known_site(db, site)
    row = db.execute(
        "INSERT INTO goals (site, name, kind, event, prop_key, prop_value, page, first_day, created_at) "
        f"VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING {_GOAL}",
        (site, goal.name, goal.kind, goal.event, goal.prop_key, goal.prop_value, goal.page, goal.first_day, now),
    ).fetchone()
    added = goal_of(row)
    if added.backfillable:
        backfill(queries, db, added)
    return added


def backfill(queries: Queries, db: Connection, goal: Goal) -> int:
    """The goal's rows for the days before it counts live, from the rows that hold the same numbers:
    an event's (its visitors and events) or a page's (its visitors, its pageviews as conversions).
    Returns the days filled."""
    source, value, converted = (
        ("event", goal.event, "events") if goal.kind == "event" else ("page", goal.page, "pageviews")
    )
    found = db.execute(
        f"SELECT d.day, d.visitors, d.{converted} FROM daily AS d JOIN dim_values AS v ON v.id = d.value "
        "WHERE d.site = ? AND d.dim = ? AND v.value = ? AND d.day < ? ORDER BY d.day",
        (goal.site, BY_KEY[source].code, value, goal.first_day),
    ).fetchall()
    batch = Batch()
    for day, visitors, conversions_ in found:
        row = [0] * len(COUNTERS)
        row[VISITORS], row[EVENTS] = int(visitors), int(conversions_)
        batch.daily[(goal.site, int(day), "goal", str(goal.id))] = row
    daily, hourly = batch_rows(batch)
    if daily:
        queries.write_batch(db, daily, to_json(hourly))
    return len(daily)


def delete_goal(db: Connection, site: int, goal: int) -> bool:
    """The goal, the funnels it is a step of, and every row naming it; False if the site has no such goal."""
    if db.execute("DELETE FROM goals WHERE id = ? AND site = ?", (goal, site)).rowcount == 0:
        return False
    for funnel in funnels(db, site):
        if goal in funnel.steps:
            delete_funnel(db, site, funnel.id)
    named = f"{goal}{PROP_SEPARATOR}"
    _delete_rows(db, site, [(GOAL_CODE, "v.value = ?", str(goal))])
    _delete_rows(db, site, [(code, "v.value LIKE ?", f"{named}%") for code in _STARTING])
    _delete_rows(db, site, [(code, "v.value LIKE ?", f"%{PROP_SEPARATOR}{goal}") for code in _ENDING])
    return True


def delete_funnel(db: Connection, site: int, funnel: int) -> bool:
    """The funnel and its step rows; False if the site has no such funnel."""
    if db.execute("DELETE FROM funnels WHERE id = ? AND site = ?", (funnel, site)).rowcount == 0:
        return False
    _delete_rows(db, site, [(FUNNEL_CODE, "v.value LIKE ?", f"{funnel}{PROP_SEPARATOR}%")])
    return True


def _delete_rows(db: Connection, site: int, matches: Sequence[tuple[int, str, str]]) -> None:
    """Every daily and monthly row, and the value text, of the site's values that a (dimension code,
    condition on ``v.value``, parameter) names. The LIKE patterns hold only digits and the unit
    separator, so no character in them is a wildcard."""
    for code, condition, param in matches:
        ids = "SELECT v.id FROM dim_values AS v WHERE v.site = ? AND v.dim = ? AND " + condition
        for table in ("daily", "monthly"):
            db.execute(
                f"DELETE FROM {table} WHERE site = ? AND dim = ? AND value IN ({ids})", (site, code, site, code, param)
            )
        db.execute(f"DELETE FROM dim_values WHERE id IN ({ids})", (site, code, param))


def add_funnel(db: Connection, site: int, funnel: Funnel, now: str) -> Funnel:
    """Record ``funnel`` (its id and site aside) once its steps are checked against the site's goals;
    a name the site has already raises the driver's unique-key error, as for a goal."""
    _known_site(db, site)
    name = checked_funnel(funnel.name, funnel.steps, funnel.window, [goal.id for goal in goals(db, site)])
    row = db.execute(
        f'INSERT INTO funnels (site, name, steps, "window", first_day, created_at) VALUES (?, ?, ?, ?, ?, ?) '
        f"RETURNING {_FUNNEL}",
        (site, name, json.dumps(list(funnel.steps)), funnel.window, funnel.first_day, now),
    ).fetchone()
    return funnel_of(row)

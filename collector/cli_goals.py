"""``crumbless goal add|list|remove`` and ``crumbless funnel add|list|remove``: a site's conversions.

``collector.cli`` hands its sub-command table to ``add_commands``. A definition is checked by the
store (``collector.store.conversions``), so the command and the dashboard refuse the same
mistakes in the same words; every such mistake, and a site, goal or funnel that does not exist,
ends in one line and exit status 2, the status of a command given wrong arguments.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from collector.cli import CliError, _table, _with_store, find_site
from collector.config import Settings
from collector.goals import MAX_NAME, MAX_PATTERN, Funnel, FunnelWindow, Goal
from collector.localtime import date_of, today
from collector.sites import Site
from collector.store import Store
from collector.store.conversions import InvalidDefinition

T = TypeVar("T")


class DefinitionError(CliError):
    """A goal or funnel that cannot be defined as asked, or a site, goal or funnel that is not there."""

    status = 2


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    goal = commands.add_parser("goal", help="what a site counts as a conversion").add_subparsers(
        dest="goal_command", required=True, metavar="ACTION"
    )
    gadd = goal.add_parser("add", help="count an event (--event) or the views of pages (--page) as a goal")
    gadd.add_argument("site", help="site id or domain")
    gadd.add_argument("--event", default="", metavar="NAME", help="a custom event's name")
    gadd.add_argument("--prop", default="", metavar="KEY=VALUE", help="... only with this property value")
    gadd.add_argument(
        "--page", default="", metavar="PATTERN", help="a path; * matches one segment, ** any number (/blog/**)"
    )
    gadd.add_argument("--name", default="", help="the goal's name (default: the event's name or the pattern)")
    gadd.set_defaults(run=goal_add)
    glist = goal.add_parser("list", help="list a site's goals")
    glist.add_argument("site", help="site id or domain")
    glist.set_defaults(run=goal_list)
    gremove = goal.add_parser("remove", help="remove a goal, its counts and the funnels it is a step of")
    gremove.add_argument("site", help="site id or domain")
    gremove.add_argument("goal", help="the goal's id or name (from `goal list`)")
    gremove.set_defaults(run=goal_remove)

    funnel = commands.add_parser("funnel", help="ordered steps of goals a visitor goes through").add_subparsers(
        dest="funnel_command", required=True, metavar="ACTION"
    )
    fadd = funnel.add_parser("add", help="a funnel of 2 to 8 goals, in order")
    fadd.add_argument("site", help="site id or domain")
    fadd.add_argument("name", help="the funnel's name")
    fadd.add_argument(
        "--step", action="append", default=[], metavar="GOAL", help="a goal (id or name); give one --step per step"
    )
    fadd.add_argument(
        "--window",
        choices=("visit", "day"),
        default="visit",
        help="steps count within one visit (default) or within the visitor's day",
    )
    fadd.set_defaults(run=funnel_add)
    flist = funnel.add_parser("list", help="list a site's funnels")
    flist.add_argument("site", help="site id or domain")
    flist.set_defaults(run=funnel_list)
    fremove = funnel.add_parser("remove", help="remove a funnel and its counts")
    fremove.add_argument("site", help="site id or domain")
    fremove.add_argument("funnel", help="the funnel's id or name (from `funnel list`)")
    fremove.set_defaults(run=funnel_remove)


# ── finding what the arguments name ───────────────────────────────────────────────────────────


async def _site(store: Store, key: str) -> Site:
    try:
        return find_site(await store.sites(), key)
    except CliError as exc:
        raise DefinitionError(str(exc)) from None


async def _defined(work: Awaitable[T]) -> T:
    """The store's refusal of a definition as this command's mistake."""
    try:
        return await work
    except InvalidDefinition as exc:
        raise DefinitionError(str(exc)) from None


def _named(items: Sequence[T], key: str, ids: Callable[[T], int], names: Callable[[T], str]) -> T | None:
    """The item whose id is ``key``, else the one whose name is."""
    wanted = key.strip()
    return next((i for i in items if str(ids(i)) == wanted), None) or next(
        (i for i in items if names(i) == wanted), None
    )


def _goal(goals: Sequence[Goal], key: str, site: Site) -> Goal:
    found = _named(goals, key, lambda g: g.id, lambda g: g.name)
    if found is None:
        raise DefinitionError(f"{site.domain} has no goal {key!r}: `crumbless goal list {site.domain}` shows them")
    return found


def _local_today(site: Site) -> int:
    return today(site.tz, time.time())


# ── goals ─────────────────────────────────────────────────────────────────────────────────────


def _definition(args: argparse.Namespace) -> tuple[str, str, str, str]:
    """(kind, event, prop_key, prop_value) from the options, or the one-line mistake."""
    if bool(args.event) == bool(args.page):
        raise DefinitionError("give either --event NAME or --page PATTERN")
    if args.page:
        if args.prop:
            raise DefinitionError("--prop goes with --event, not with --page")
        return "page", "", "", ""
    key, equals, value = args.prop.partition("=")
    if args.prop and (not equals or not key.strip()):
        raise DefinitionError(f"--prop takes KEY=VALUE, got {args.prop!r}")
    return "event", args.event, key.strip(), value.strip()


def _counts_from(goal: Goal) -> str:
    return "every day kept" if goal.backfillable else date_of(goal.first_day).isoformat()


async def goal_add(settings: Settings, args: argparse.Namespace) -> int:
    kind, event, prop_key, prop_value = _definition(args)

    async def work(store: Store) -> int:
        site = await _site(store, args.site)
        name = args.name or args.event or args.page
        if not args.name and MAX_NAME < len(name.strip()) <= MAX_PATTERN:  # a longer pattern is refused as such
            raise DefinitionError(f"a goal's name is at most {MAX_NAME} characters: give a shorter one with --name")
        added = await _defined(
            store.add_goal(
                site.id,
                name,
                "page" if kind == "page" else "event",
                event,
                prop_key,
                prop_value,
                args.page,
                _local_today(site),
            )  # fmt: skip
        )
        print(f'goal {added.id} "{added.name}" added to {site.domain}: {added.describe()}')
        if added.backfillable:
            source = "event's" if added.kind == "event" else "page's"
            print(f"Its earlier days were filled in from the {source} stored counts.")
        else:
            kept = "a pattern" if added.kind == "page" else "a property value"
            print(
                f"It counts from today, {date_of(added.first_day).isoformat()}: earlier days cannot be counted for "
                f"{kept}, since Crumbless keeps no single hits."
            )
        return 0

    return await _with_store(settings, work)


async def goal_list(settings: Settings, args: argparse.Namespace) -> int:
    async def work(store: Store) -> int:
        site = await _site(store, args.site)
        goals = await store.goals(site.id)
        if not goals:
            print(f"no goals for {site.domain}: add one with `crumbless goal add {site.domain} --event NAME`")
            return 0
        rows = [(str(g.id), g.name, g.describe(), _counts_from(g)) for g in goals]
        print(_table(("ID", "NAME", "COUNTS", "FROM"), rows))
        return 0

    return await _with_store(settings, work)


async def goal_remove(settings: Settings, args: argparse.Namespace) -> int:
    async def work(store: Store) -> int:
        site = await _site(store, args.site)
        goal = _goal(await store.goals(site.id), args.goal, site)
        steps_of = [f'"{f.name}"' for f in await store.funnels(site.id) if goal.id in f.steps]
        if not await store.delete_goal(site.id, goal.id):
            raise DefinitionError(f"{site.domain} has no goal {args.goal!r} any more")
        also = f", and the funnels it was a step of: {', '.join(steps_of)}" if steps_of else ""
        print(f'goal {goal.id} "{goal.name}" removed from {site.domain} with its counts{also}')
        return 0

    return await _with_store(settings, work)


# ── funnels ───────────────────────────────────────────────────────────────────────────────────


def _steps(funnel: Funnel, goals: Sequence[Goal]) -> str:
    names = {g.id: g.name for g in goals}
    return " → ".join(names.get(step, f"#{step}") for step in funnel.steps)


def _window(funnel: Funnel) -> str:
    return "within a visit" if funnel.window == "visit" else "within the visitor's day"


async def funnel_add(settings: Settings, args: argparse.Namespace) -> int:
    window: FunnelWindow = "day" if args.window == "day" else "visit"

    async def work(store: Store) -> int:
        site = await _site(store, args.site)
        goals = await store.goals(site.id)
        steps = [_goal(goals, key, site).id for key in args.step]
        added = await _defined(store.add_funnel(site.id, args.name, steps, window, _local_today(site)))
        print(f'funnel {added.id} "{added.name}" added to {site.domain}: {_steps(added, goals)}, {_window(added)}')
        print(f"It counts from today, {date_of(added.first_day).isoformat()}.")
        return 0

    return await _with_store(settings, work)


async def funnel_list(settings: Settings, args: argparse.Namespace) -> int:
    async def work(store: Store) -> int:
        site = await _site(store, args.site)
        funnels = await store.funnels(site.id)
        if not funnels:
            print(f"no funnels for {site.domain}: add one with `crumbless funnel add {site.domain} NAME --step GOAL …`")
            return 0
        goals = await store.goals(site.id)
        rows = [(str(f.id), f.name, _steps(f, goals), f.window, date_of(f.first_day).isoformat()) for f in funnels]
        print(_table(("ID", "NAME", "STEPS", "WINDOW", "FROM"), rows))
        return 0

    return await _with_store(settings, work)


async def funnel_remove(settings: Settings, args: argparse.Namespace) -> int:
    async def work(store: Store) -> int:
        site = await _site(store, args.site)
        funnel = _named(await store.funnels(site.id), args.funnel, lambda f: f.id, lambda f: f.name)
        if funnel is None or not await store.delete_funnel(site.id, funnel.id):
            raise DefinitionError(
                f"{site.domain} has no funnel {args.funnel!r}: `crumbless funnel list {site.domain}` shows them"
            )
        print(f'funnel {funnel.id} "{funnel.name}" removed from {site.domain} with its counts')
        return 0

    return await _with_store(settings, work)

"""Goals and funnels: what a site counts as a conversion, matched against each hit at ingest.

A goal is a custom event name (optionally with one property value) or a page path pattern. It is
counted from the moment it is defined, because Crumbless keeps no raw events to count it from
afterwards; a goal that names one exact event or one exact path can be filled in for earlier days
from the rows that already hold that number (``backfillable``), a pattern cannot.

A funnel is an ordered list of 2–8 goals; the counting rules follow each visitor's progress
through it in the visitor state (within a visit, or within the visitor's day) and store only how
many visitors reached each step.

Definitions travel with the ``Site`` the ingest path already resolves (``Conversions``), so
matching a hit costs a few comparisons and no lookup.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal

from collector.hits import FunnelStep, Kind, Props

GoalKind = Literal["event", "page"]
FunnelWindow = Literal["visit", "day"]
MIN_STEPS, MAX_STEPS = 2, 8
MAX_NAME = 120
MAX_PATTERN = 500


def page_pattern(pattern: str) -> re.Pattern[str]:
    """``/blog/*`` matches one path segment (``/blog/post``, not ``/blog/a/b``), ``/blog/**`` any
    number of them, as in Plausible; everything else matches itself."""
    parts = re.split(r"(\*\*|\*)", pattern)
    regex = "".join(".*" if part == "**" else "[^/]*" if part == "*" else re.escape(part) for part in parts)
    return re.compile(f"^{regex}$")


@dataclass(frozen=True)
class Goal:
    id: int
    site: int
    name: str
    kind: GoalKind
    event: str = ""  # kind "event": the event's name
    prop_key: str = ""  # ... and optionally one property it must carry
    prop_value: str = ""
    page: str = ""  # kind "page": a path or a pattern with * and **
    first_day: int = 0  # the site-local day it counts from (the day it was defined)

    @cached_property
    def _path(self) -> re.Pattern[str]:
        return page_pattern(self.page)

    @property
    def backfillable(self) -> bool:
        """One exact event name without a property, or one exact path: the event or page rows
        already hold this goal's visitors and conversions for every earlier day."""
        if self.kind == "event":
            return not self.prop_key
        return "*" not in self.page

    def matches(self, kind: Kind, path: str, event: str, props: Props) -> bool:
        if self.kind == "event":
            return (
                kind is Kind.EVENT
                and event == self.event
                and (not self.prop_key or (self.prop_key, self.prop_value) in props)
            )
        return kind is Kind.PAGEVIEW and self._path.match(path) is not None

    def describe(self) -> str:
        """What the goal counts, in the words of its definition (``crumbless goal list``)."""
        if self.kind == "page":
            return f"page {self.page}"
        prop = f" with {self.prop_key}={self.prop_value}" if self.prop_key else ""
        return f"event {self.event}{prop}"


@dataclass(frozen=True)
class Funnel:
    id: int
    site: int
    name: str
    steps: tuple[int, ...]  # goal ids, in order
    window: FunnelWindow = "visit"
    first_day: int = 0


@dataclass(frozen=True)
class Conversions:
    """A site's goals and funnels, as the ingest path matches them."""

    goals: tuple[Goal, ...] = ()
    funnels: tuple[Funnel, ...] = ()
    _steps: dict[int, tuple[FunnelStep, ...]] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        for funnel in self.funnels:
            for position, goal in enumerate(funnel.steps):
                steps = self._steps.get(goal, ())
                self._steps[goal] = (*steps, FunnelStep(funnel.id, position, funnel.window == "day"))

    def reached(self, kind: Kind, path: str, event: str, props: Props) -> tuple[int, ...]:
        """The ids of the goals a hit converts (an engagement ping converts none)."""
        if not self.goals or kind is Kind.ENGAGEMENT:
            return ()
        return tuple(goal.id for goal in self.goals if goal.matches(kind, path, event, props))

    def steps(self, goals: tuple[int, ...]) -> tuple[FunnelStep, ...]:
        """Every funnel step the reached ``goals`` are, in the order of the funnels' definitions."""
        if not self._steps:
            return ()
        return tuple(step for goal in goals for step in self._steps.get(goal, ()))

    def goal(self, goal_id: int) -> Goal | None:
        return next((goal for goal in self.goals if goal.id == goal_id), None)


NO_CONVERSIONS = Conversions()

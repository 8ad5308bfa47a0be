"""Segments, goals and funnels are exact: for a generated stream, every cell the counting rules
write equals a brute-force count over the stream, computed here from the hits themselves.

The brute force knows nothing of visitor records, fingerprints or deltas: it sorts each visitor's
hits, cuts them into visits (30 minutes of inactivity), takes each visit's values from its first
hit, and counts distinct visitors, visits, pageviews, bounces, durations, conversions and funnel
steps with sets and sums. The counting rules run as the collector runs them, with each visitor's
record packed and unpacked between hits as the memory state keeps it.
"""

from __future__ import annotations

import asyncio
import random
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from collector.aggregator import Aggregator, Batch
from collector.channels import channel
from collector.config import for_database
from collector.counting import VISIT_TIMEOUT_S, count
from collector.goals import Conversions, Funnel, Goal
from collector.guard import MemoryGuard, wanted
from collector.hits import Hit, Kind
from collector.model import BY_KEY, COUNTERS, FILTERED, SEGMENTS, funnel_value, segment_value
from collector.store import opened_store
from collector.store.queries import Queries
from collector.visitors import Strings, pack, unpack

DAY = 20_000
START = DAY * 86_400
PAGES = ["/", "/donate", "/about", "/blog/a", "/blog/b", "/thanks", "/signup"]
SOURCES = ["", "", "Google", "Facebook", "news.example", "Gmail"]
CAMPAIGNS = ["", "", "", "spring", "letter"]
MEDIA = ["", "", "", "email", "cpc"]
COUNTRIES = ["DE", "FR", "AR", "KE"]
DEVICES = ["desktop", "mobile", "tablet"]
EVENTS = ["Signup", "Donate", "Outbound Link: Click"]

GOALS = (
    Goal(1, 1, "Signed up", "event", event="Signup"),
    Goal(2, 1, "Donated by card", "event", event="Donate", prop_key="method", prop_value="card"),
    Goal(3, 1, "Read the blog", "page", page="/blog/*"),
    Goal(4, 1, "Thanks page", "page", page="/thanks"),
)
FUNNELS = (
    Funnel(1, 1, "Blog to signup", (3, 1), "visit"),
    Funnel(2, 1, "Donation", (3, 4, 2), "day"),
)
CONVERSIONS = Conversions(GOALS, FUNNELS)


@dataclass(frozen=True)
class Visitor:
    id: int
    country: str  # a visitor's country and device never change: they follow from its address and browser
    device: str


def stream(seed: int, visitors: int = 400) -> list[Hit]:
    rng = random.Random(seed)
    hits: list[Hit] = []
    for number in range(1, visitors + 1):
        who = Visitor(number, rng.choice(COUNTRIES), rng.choice(DEVICES))
        ts = START + rng.randrange(0, 80_000)
        for _ in range(rng.choice([1, 1, 2, 3])):  # visits
            source, campaign, medium = rng.choice(SOURCES), rng.choice(CAMPAIGNS), rng.choice(MEDIA)
            for _ in range(rng.choice([1, 1, 2, 3, 5])):
                kind = Kind.EVENT if rng.random() < 0.25 else Kind.PAGEVIEW
                hits.append(_hit(rng, who, ts, kind, source, campaign, medium))
                ts += rng.choice([5, 30, 200, 900])
            ts += VISIT_TIMEOUT_S + rng.randrange(1, 3_000)
    hits = [h for h in hits if h.ts < START + 86_400]
    hits.sort(key=lambda h: (h.ts, h.visitor))
    return hits


def _hit(rng: random.Random, who: Visitor, ts: int, kind: Kind, source: str, campaign: str, medium: str) -> Hit:
    path = rng.choice(PAGES)
    event, props = "", ()
    if kind is Kind.EVENT:
        event = rng.choice(EVENTS)
        props = (("method", rng.choice(["card", "bank"])),) if event == "Donate" else ()
    goals = CONVERSIONS.reached(kind, path, event, props)
    return Hit(
        site=1,
        day=DAY,
        hour=DAY * 24 + (ts - START) // 3600,
        ts=ts,
        kind=kind,
        visitor=who.id,
        path=path,
        source=source,
        utm_source="",
        utm_medium=medium,
        utm_campaign=campaign,
        country=who.country,
        browser="Firefox",
        os="Linux",
        device=who.device,
        screen="laptop",
        language="en",
        event=event,
        props=props,
        interactive=rng.random() < 0.7,
        goals=goals,
        funnel_steps=CONVERSIONS.steps(goals),
    )


def counted(hits: Iterable[Hit]) -> dict[tuple[str, str], list[int]]:
    """The rows the counting rules write, by (dimension, value), through a packed record per visitor."""
    guard, counts, strings = MemoryGuard(1_000_000), Aggregator(), Strings()
    records: dict[int, bytes] = {}
    for h in hits:
        values = {(dim, value): guard.fold(h.site, h.day, dim, value) for dim, value in wanted(h)}
        packed = records.get(h.visitor)
        record = None if packed is None else unpack(packed, lambda site, day: strings)
        step = count(h, record, values)
        if step is not None:
            records[h.visitor] = pack(step.record, strings)
            counts.apply(step.deltas)
    return {(dim, value): row for (_, _, dim, value), row in counts.drain().daily.items()}


@dataclass
class Cell:
    visitors: set[int] = field(default_factory=set)
    visits: int = 0
    pageviews: int = 0
    bounces: int = 0
    duration: int = 0
    events: int = 0


@dataclass
class Visit:
    visitor: int
    values: dict[str, str]
    hits: list[Hit]

    @property
    def pageviews(self) -> int:
        return sum(h.kind is Kind.PAGEVIEW for h in self.hits)

    @property
    def bounced(self) -> bool:
        return self.pageviews < 2 and not any(h.kind is Kind.EVENT and h.interactive for h in self.hits)

    @property
    def duration(self) -> int:
        return self.hits[-1].ts - self.hits[0].ts


def visits_of(hits: list[Hit]) -> list[Visit]:
    by_visitor: dict[int, list[Hit]] = defaultdict(list)
    for h in hits:
        by_visitor[h.visitor].append(h)
    visits: list[Visit] = []
    for visitor, own in by_visitor.items():
        for h in own:
            if not visits or visits[-1].visitor != visitor or h.ts - visits[-1].hits[-1].ts >= VISIT_TIMEOUT_S:
                first = {
                    "source": h.source,
                    "utm_campaign": h.utm_campaign,
                    "utm_medium": h.utm_medium,
                    "country": h.country,
                    "device": h.device,
                    "entry_page": h.path,
                }
                visits.append(Visit(visitor, {k: v for k, v in first.items() if v}, []))
            visits[-1].hits.append(h)
    return visits


def brute_force(hits: list[Hit]) -> dict[tuple[str, str], Cell]:
    cells: dict[tuple[str, str], Cell] = defaultdict(Cell)
    for visit in visits_of(hits):
        for segment in SEGMENTS:
            if segment.kind == "visit":
                _visit_cell(cells, segment.key, segment.pivot, segment.listed, visit)
        for h in visit.hits:
            if h.kind is Kind.PAGEVIEW:
                for segment in SEGMENTS:
                    if segment.kind == "pageview":
                        _pageview_cell(cells, segment.key, segment.pivot, segment.listed, visit, h)
            for goal in h.goals:
                cell = cells[("goal", str(goal))]
                cell.visitors.add(visit.visitor)
                cell.events += 1
                for segment in SEGMENTS:
                    if segment.kind == "conversion":
                        _conversion_cell(cells, segment.key, segment.pivot, segment.listed, visit, str(goal))
    _funnels(cells, hits)
    return cells


def _visit_cell(cells: dict[tuple[str, str], Cell], key: str, pivot: str, listed: str, visit: Visit) -> None:
    if pivot not in visit.values or listed not in visit.values:
        return
    cell = cells[(key, segment_value(visit.values[pivot], visit.values[listed]))]
    cell.visitors.add(visit.visitor)
    cell.visits += 1
    cell.pageviews += visit.pageviews
    cell.bounces += visit.bounced
    cell.duration += visit.duration


def _pageview_cell(cells: dict[tuple[str, str], Cell], key: str, pivot: str, listed: str, visit: Visit, h: Hit) -> None:
    other = listed if pivot == "page" else pivot
    if other == "source" and pivot == "page":
        value = channel(visit.values.get("source", ""), visit.values.get("utm_medium", ""))
    elif other in visit.values:
        value = visit.values[other]
    else:
        return
    cell = cells[(key, segment_value(h.path, value) if pivot == "page" else segment_value(value, h.path))]
    cell.visitors.add(visit.visitor)
    cell.pageviews += 1


def _conversion_cell(
    cells: dict[tuple[str, str], Cell], key: str, pivot: str, listed: str, visit: Visit, goal: str
) -> None:
    other = listed if pivot == "goal" else pivot
    if other not in visit.values:
        return
    value = visit.values[other]
    cell = cells[(key, segment_value(goal, value) if pivot == "goal" else segment_value(value, goal))]
    cell.visitors.add(visit.visitor)
    cell.events += 1


def _funnels(cells: dict[tuple[str, str], Cell], hits: list[Hit]) -> None:
    """Steps reached in order: within each visit, or over the visitor's whole day; one step a hit."""
    for funnel in FUNNELS:
        groups: Iterable[tuple[int, list[Hit]]]
        if funnel.window == "visit":
            groups = [(v.visitor, v.hits) for v in visits_of(hits)]
        else:
            by_visitor: dict[int, list[Hit]] = defaultdict(list)
            for h in hits:
                by_visitor[h.visitor].append(h)
            groups = by_visitor.items()
        for visitor, own in groups:
            reached = 0
            for h in own:
                if reached < len(funnel.steps) and funnel.steps[reached] in h.goals:
                    reached += 1
                    cells[("funnel", funnel_value(funnel.id, reached))].visitors.add(visitor)


def _figures(dim: str, row: list[int]) -> dict[str, int]:
    return {name: row[COUNTERS.index(name)] for name in BY_KEY[dim].counters}


def _expected(dim: str, cell: Cell) -> dict[str, int]:
    known = {
        "visitors": len(cell.visitors),
        "visits": cell.visits,
        "pageviews": cell.pageviews,
        "bounces": cell.bounces,
        "duration_s": cell.duration,
        "events": cell.events,
    }
    return {name: known[name] for name in BY_KEY[dim].counters}


READ_ONLY = {s.key for s in SEGMENTS if s.read_from}
CHECKED = {s.key for s in SEGMENTS} - READ_ONLY | {"goal", "funnel"}
"""What counting writes: every segment but those read from another's cells the other way round
(``model.Segment.read_from``), which the store's reading is checked for below."""


def test_every_segment_goal_and_funnel_cell_equals_a_brute_force_count() -> None:
    for seed in (1, 2, 3):
        hits = stream(seed)
        every = counted(hits)
        assert not [key for key in every if key[0] in READ_ONLY], "read from their transposed cells, never written"
        rows = {key: row for key, row in every.items() if key[0] in CHECKED}
        expected = {key: cell for key, cell in brute_force(hits).items() if key[0] in CHECKED}
        assert {k: _figures(k[0], r) for k, r in rows.items()} == {k: _expected(k[0], c) for k, c in expected.items()}
        kinds = {dim for dim, _ in expected}
        assert kinds == CHECKED, f"the stream must reach every declared cell kind, missed {CHECKED - kinds}"


def test_a_pivots_cells_sum_to_its_own_row() -> None:
    """Visit-level segments of one pivot value add up to the pivot's own row: no visit is lost or
    counted twice when the dashboard is filtered by it (the listed value is always there)."""
    rows = counted(stream(4))
    for (dim, value), row in rows.items():
        if dim != "source":
            continue
        for listed in ("country", "device", "entry_page"):
            cells = [r for (d, v), r in rows.items() if d == f"source>{listed}" and v.startswith(value + "\x1f")]
            for counter in ("visits", "pageviews", "bounces", "duration_s"):
                index = COUNTERS.index(counter)
                assert sum(r[index] for r in cells) == row[index], (value, listed, counter)


@pytest.mark.parametrize("by_key", [True, False], ids=["cells by key", "cells by range"])
def test_every_filtered_list_read_from_a_real_store_equals_the_brute_force(
    tmp_path: Path, by_key: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same stream through the store: each filter's lists, as the dashboard and the API read
    them (``breakdown`` within a pivot value), give the brute force's figures for that value,
    whichever way a pivot value's cells are read (``Queries.cells_by_key``)."""
    monkeypatch.setattr(Queries, "cells_by_key", lambda *args: by_key)
    hits = stream(5)
    expected = brute_force(hits)

    async def read() -> dict[tuple[str, str], dict[str, int]]:
        async with opened_store(for_database(tmp_path / "crumbless.db")) as store:
            site = await store.add_site("example.com", "Example", "UTC", [])
            batch = Batch()
            for (dim, value), row in counted(hits).items():
                batch.daily[(site.id, DAY, dim, value)] = row
            await store.write_counts(batch)
            found: dict[tuple[str, str], dict[str, int]] = {}
            pivots = {(key.split(">")[0], value.partition("\x1f")[0]) for key, value in expected if ">" in key}
            for (pivot_dim, _), listing in FILTERED.items():
                for dim, pivot in pivots:
                    if dim != pivot_dim:
                        continue
                    rows, _ = await store.breakdown(site.id, listing, DAY, DAY, 1000, within=pivot)
                    for value, row in rows:
                        found[(listing.dimension, segment_value(pivot, value))] = {c: row[c] for c in listing.counters}
            return found

    found = asyncio.run(read())
    want = {
        key: {c: v for c, v in _expected(key[0], cell).items() if c in FILTERED_COUNTERS[key[0]]}
        for key, cell in expected.items()
        if ">" in key[0] and len(cell.visitors)
    }
    assert len(want) > 300 and {dim for dim, _ in want} == {s.key for s in SEGMENTS}
    assert found == want


FILTERED_COUNTERS = {listing.dimension: set(listing.counters) for listing in FILTERED.values()}

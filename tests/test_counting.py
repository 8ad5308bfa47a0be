"""Table-driven tests of the counting rules (DESIGN §4), straight on ``collector.counting``."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from collector.aggregator import Aggregator
from collector.counting import count
from collector.guard import OTHER, MemoryGuard, wanted
from collector.model import COUNTERS, HOURLY_COUNTERS
from collector.hits import Hit, Kind
from collector.localtime import day_number, local_day_hour
from collector.visitors import VisitorRecord

BERLIN = ZoneInfo("Europe/Berlin")


def at(local: str, tz: ZoneInfo = BERLIN, fold: int = 0) -> float:
    return datetime.fromisoformat(local).replace(tzinfo=tz, fold=fold).timestamp()


def hit(ts: float, path: str = "/", kind: Kind = Kind.PAGEVIEW, visitor: int = 1, tz: ZoneInfo = BERLIN, **fields: Any) -> Hit:
    day, hour = local_day_hour(ts, tz)
    base = Hit(
        site=fields.pop("site", 1), day=day, hour=hour, ts=int(ts), kind=kind, visitor=visitor, path=path,
        source="", utm_source="", utm_medium="", utm_campaign="", country="DE", browser="Firefox",
        os="Linux", device="desktop", screen="laptop", language="de",
    )
    return replace(base, **fields)


class Run:
    """Applies hits in order with an in-memory visitor table, like the collector does."""

    def __init__(self, max_values: int = 5000) -> None:
        self.guard = MemoryGuard(max_values)
        self.counts = Aggregator()
        self.records: dict[int, VisitorRecord] = {}
        self.daily: dict[tuple[int, int, str, str], list[int]] = {}
        self.hourly: dict[tuple[int, int], list[int]] = {}

    def apply(self, *hits: Hit) -> "Run":
        for h in hits:
            values = {(dim, value): self.guard.fold(h.site, h.day, dim, value) for dim, value in wanted(h)}
            step = count(h, self.records.get(h.visitor), values)
            if step is not None:
                self.records[h.visitor] = step.record
                self.counts.apply(step.deltas)
        batch = self.counts.drain()
        for key, row in batch.daily.items():
            self.daily[key] = [a + b for a, b in zip(self.daily.get(key, [0] * len(COUNTERS)), row)]
        for hkey, hrow in batch.hourly.items():
            self.hourly[hkey] = [a + b for a, b in zip(self.hourly.get(hkey, [0] * len(HOURLY_COUNTERS)), hrow)]
        return self

    def row(self, day: str, dim: str = "total", value: str = "", site: int = 1) -> dict[str, int]:
        values = self.daily.get((site, day_number(datetime.fromisoformat(day).date()), dim, value), [0] * len(COUNTERS))
        return dict(zip(COUNTERS, values))

    def hour(self, local: str, site: int = 1) -> dict[str, int]:
        _, hour = local_day_hour(at(local), BERLIN)
        return dict(zip(HOURLY_COUNTERS, self.hourly.get((site, hour), [0] * len(HOURLY_COUNTERS))))


DAY = "2026-06-10"


@pytest.mark.parametrize(
    "gap_minutes, visits, bounces, duration",
    [
        (31, 2, 2, 0),      # a 31-minute gap starts a new visit; each single-page visit bounces
        (30, 2, 2, 0),      # exactly 30 minutes of inactivity also ends the visit
        (29, 1, 0, 29 * 60),  # under 30 minutes: one visit of two pages
    ],
)
def test_inactivity_splits_visits(gap_minutes: int, visits: int, bounces: int, duration: int) -> None:
    t0 = at(f"{DAY}T10:00:00")
    run = Run().apply(hit(t0), hit(t0 + gap_minutes * 60, "/next"))
    total = run.row(DAY)
    assert (total["visitors"], total["visits"], total["pageviews"]) == (1, visits, 2)
    assert total["bounces"] == bounces
    assert total["duration_s"] == duration


def test_visit_across_local_midnight_counts_on_both_days() -> None:
    run = Run().apply(hit(at("2026-06-10T23:50:00")), hit(at("2026-06-10T23:55:00"), "/a"), hit(at("2026-06-11T00:05:00"), "/b"))
    first, second = run.row("2026-06-10"), run.row("2026-06-11")
    assert (first["visitors"], first["visits"], first["pageviews"], first["bounces"], first["duration_s"]) == (1, 1, 2, 0, 300)
    assert (second["visitors"], second["visits"], second["pageviews"], second["bounces"], second["duration_s"]) == (1, 1, 1, 1, 0)
    assert run.row("2026-06-10", "page", "/a")["exits"] == 1
    assert run.row("2026-06-11", "page", "/b")["entries"] == 1


@pytest.mark.parametrize(
    "second, bounces",
    [
        (None, 1),
        (hit(at(f"{DAY}T10:01:00"), "/two"), 0),                                        # second pageview
        (hit(at(f"{DAY}T10:01:00"), kind=Kind.EVENT, event="Signup"), 0),               # interactive event
        (hit(at(f"{DAY}T10:01:00"), kind=Kind.EVENT, event="Video", interactive=False), 1),
        (hit(at(f"{DAY}T10:01:00"), kind=Kind.ENGAGEMENT, engaged_ms=5000, scroll=40), 1),
        (hit(at(f"{DAY}T10:01:00"), "/"), 0),                                           # a reload is a pageview too
    ],
)
def test_second_pageview_or_interaction_unbounces(second: Hit | None, bounces: int) -> None:
    hits = [hit(at(f"{DAY}T10:00:00"), source="Google")] + ([second] if second else [])
    run = Run().apply(*hits)
    assert run.row(DAY)["bounces"] == bounces
    assert run.row(DAY, "source", "Google")["bounces"] == bounces
    assert run.row(DAY, "page", "/")["entry_bounces"] == bounces
    assert run.hour(f"{DAY}T10:00:00")["bounces"] == bounces


def test_unbounce_happens_once_per_visit() -> None:
    t0 = at(f"{DAY}T10:00:00")
    run = Run().apply(*(hit(t0 + i * 60, f"/p{i}") for i in range(5)))
    assert run.row(DAY)["bounces"] == 0
    assert run.row(DAY)["visits"] == 1


def test_exit_moves_with_each_pageview() -> None:
    t0 = at(f"{DAY}T10:00:00")
    run = Run().apply(hit(t0, "/"), hit(t0 + 60, "/a"), hit(t0 + 120, "/b"), hit(t0 + 180, "/b"))
    exits = {p: run.row(DAY, "page", p)["exits"] for p in ("/", "/a", "/b")}
    assert exits == {"/": 0, "/a": 0, "/b": 1}
    # a second visit that ends on "/" adds one exit there
    run.apply(hit(t0 + 3 * 3600, "/"))
    assert run.row(DAY, "page", "/")["exits"] == 1
    assert run.row(DAY, "page", "/b")["exits"] == 1


def test_duration_accrues_hit_by_hit_on_visit_values_and_start_hour() -> None:
    t0 = at(f"{DAY}T10:58:00")
    run = Run().apply(
        hit(t0, source="Bing"),
        hit(t0 + 60, "/a", source="Google"),                   # later hits keep the visit's source
        hit(t0 + 200, kind=Kind.ENGAGEMENT, path="/a", engaged_ms=1000),
    )
    assert run.row(DAY)["duration_s"] == 200
    assert run.row(DAY, "source", "Bing")["duration_s"] == 200
    assert run.row(DAY, "source", "Bing")["pageviews"] == 2
    assert run.row(DAY, "source", "Google")["visits"] == 0
    assert run.hour(f"{DAY}T10:00:00")["duration_s"] == 200   # booked in the hour the visit started
    assert run.hour(f"{DAY}T11:00:00")["duration_s"] == 0
    assert run.hour(f"{DAY}T11:00:00")["visitors"] == 1      # but the visitor was active in both hours
    assert run.hour(f"{DAY}T10:00:00")["visitors"] == 1


def test_visitor_on_two_pages_counts_once_for_the_site_and_once_per_page() -> None:
    t0 = at(f"{DAY}T10:00:00")
    run = Run().apply(hit(t0, "/"), hit(t0 + 60, "/a"), hit(t0 + 120, "/"), hit(t0 + 4000, "/a"))
    assert run.row(DAY)["visitors"] == 1
    assert run.row(DAY)["visits"] == 2
    assert run.row(DAY, "page", "/") == {**run.row(DAY, "page", "/"), "visitors": 1, "pageviews": 2}
    assert run.row(DAY, "page", "/a")["visitors"] == 1
    assert run.row(DAY, "page", "/a")["pageviews"] == 2
    assert run.row(DAY, "country", "DE")["visitors"] == 1
    assert run.row(DAY, "country", "DE")["visits"] == 2


def test_two_visitors_add_up() -> None:
    t0 = at(f"{DAY}T10:00:00")
    run = Run().apply(hit(t0, visitor=1), hit(t0, visitor=2, country="FR"), hit(t0 + 30, "/a", visitor=2))
    assert run.row(DAY)["visitors"] == 2
    assert run.row(DAY)["bounces"] == 1
    assert run.row(DAY, "country", "FR")["visitors"] == 1
    assert run.row(DAY, "country", "DE")["bounces"] == 1


@pytest.mark.parametrize(
    "first, second, same_day",
    [
        # spring forward: 02:00 CET jumps to 03:00 CEST; 01:50 and 03:10 are 20 minutes apart
        (("2026-03-29T01:50:00", 0), ("2026-03-29T03:10:00", 0), True),
        # fall back: 02:50 CEST, then 02:10 CET twenty minutes later (the repeated hour)
        (("2026-10-25T02:50:00", 0), ("2026-10-25T02:10:00", 1), True),
    ],
)
def test_dst_change_does_not_break_the_day(first: tuple[str, int], second: tuple[str, int], same_day: bool) -> None:
    t1, t2 = at(first[0], fold=first[1]), at(second[0], fold=second[1])
    assert t2 - t1 == 20 * 60
    run = Run().apply(hit(t1), hit(t2, "/a"))
    day = first[0][:10]
    total = run.row(day)
    assert (total["visitors"], total["visits"], total["pageviews"], total["bounces"], total["duration_s"]) == (1, 1, 2, 0, 1200)
    hourly_pageviews = sum(row[2] for row in run.hourly.values())
    assert hourly_pageviews == 2


def test_engagement_never_starts_a_visit() -> None:
    run = Run().apply(hit(at(f"{DAY}T10:00:00"), kind=Kind.ENGAGEMENT, engaged_ms=4000, scroll=50))
    assert run.daily == {} and run.hourly == {}


def test_engagement_time_and_max_scroll_per_pageview() -> None:
    t0 = at(f"{DAY}T10:00:00")
    ping = lambda dt, ms, sd, path="/": hit(t0 + dt, path, Kind.ENGAGEMENT, engaged_ms=ms, scroll=sd)  # noqa: E731
    run = Run().apply(hit(t0), ping(10, 3000, 30), ping(20, 2000, 70), ping(25, 500, 50), hit(t0 + 30, "/a"), ping(40, 1000, 20, "/a"))
    page = run.row(DAY, "page", "/")
    assert (page["engaged_ms"], page["scroll_sum"], page["scroll_n"]) == (5500, 70, 1)
    other = run.row(DAY, "page", "/a")
    assert (other["engaged_ms"], other["scroll_sum"], other["scroll_n"]) == (1000, 20, 1)
    assert run.row(DAY)["duration_s"] == 40


def test_events_and_properties_count_events_and_distinct_visitors() -> None:
    t0 = at(f"{DAY}T10:00:00")
    signup = lambda dt, plan, visitor=1: hit(t0 + dt, kind=Kind.EVENT, event="Signup", props=(("plan", plan),), visitor=visitor)  # noqa: E731
    run = Run().apply(hit(t0), signup(10, "pro"), signup(20, "pro"), signup(30, "free"), signup(40, "pro", visitor=2))
    assert run.row(DAY, "event", "Signup") == {**run.row(DAY, "event", "Signup"), "events": 4, "visitors": 2}
    assert run.row(DAY, "event_prop", "Signup\x1fplan\x1fpro")["events"] == 3
    assert run.row(DAY, "event_prop", "Signup\x1fplan\x1fpro")["visitors"] == 2
    assert run.row(DAY, "event_prop", "Signup\x1fplan\x1ffree")["visitors"] == 1
    assert run.row(DAY)["events"] == 4
    assert run.row(DAY)["visits"] == 2          # visitor 2's event started a visit
    assert run.row(DAY)["pageviews"] == 1


def test_cardinality_guard_folds_new_values_into_other() -> None:
    t0 = at(f"{DAY}T10:00:00")
    run = Run(max_values=3).apply(*(hit(t0 + i, f"/p{i}") for i in range(6)))
    pages = {k[3]: v[2] for k, v in run.daily.items() if k[2] == "page"}
    assert pages == {"/p0": 1, "/p1": 1, "/p2": 1, OTHER: 3}
    assert run.row(DAY)["pageviews"] == 6


def test_other_sites_and_days_do_not_share_records() -> None:
    t0 = at(f"{DAY}T10:00:00")
    run = Run().apply(hit(t0, site=1), hit(t0 + 10, site=2))
    assert run.row(DAY, site=1)["visits"] == 1
    assert run.row(DAY, site=2)["visits"] == 1
    assert run.row(DAY, site=2)["visitors"] == 1


def test_a_late_ping_for_the_previous_page_raises_its_sample() -> None:
    """Keepalive requests can overtake each other: /'s last ping may land after /a's pageview."""
    t0 = at(f"{DAY}T10:00:00")
    ping = lambda dt, sd, path: hit(t0 + dt, path, Kind.ENGAGEMENT, engaged_ms=1000, scroll=sd)  # noqa: E731
    run = Run().apply(hit(t0), ping(5, 30, "/"), hit(t0 + 10, "/a"), ping(11, 80, "/"), ping(20, 50, "/a"))
    page = run.row(DAY, "page", "/")
    assert (page["scroll_sum"], page["scroll_n"], page["engaged_ms"]) == (80, 1, 2000)
    other = run.row(DAY, "page", "/a")
    assert (other["scroll_sum"], other["scroll_n"]) == (50, 1)


def test_count_changes_nothing_it_is_given() -> None:
    """A refused commit is counted again from the newer record, so the step must leave its inputs as they were."""
    from copy import deepcopy

    t0 = at(f"{DAY}T10:00:00")
    run = Run().apply(hit(t0))
    record = run.records[1]
    kept = deepcopy(record)
    later = hit(t0 + 60, "/next", kind=Kind.EVENT, event="Signup", props=(("plan", "pro"),))
    values = {(dim, value): value for dim, value in wanted(later)}
    kept_values = dict(values)
    step = count(later, record, values)
    assert step is not None and step.record is not record
    assert record == kept and values == kept_values
    assert step.record.last_seen == int(t0 + 60) and record.last_seen == int(t0)

"""What the "Filtered" card, its CSV and the API's ``/filtered`` say about beacons dropped before counting.

The collector keeps a dropped beacon only as one more in its reason's counter (``Collector.drop`` in
``collector.ingest``), under a terse code such as ``bot:crawler-list``. An admin who compares
Crumbless with another tool needs more than the code: which kind of traffic it was, in words, and
how much it weighs against what was counted. So the codes are grouped here (bots by kind, foreign
hostnames, prefetches, floods), each with a name and a one-line explanation.

These are beacons — requests — not people: one crawler sends hundreds, so nothing here is
comparable with a visitor figure, and nothing here is a visitor figure.

A code not described here (a reason added to the collector later, or stored by another version)
is still shown, under "Other" with its code as its name: a dropped beacon must never vanish from
the card because nobody wrote a label for it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from collector.useragents import APP_CLIENT, AUTOMATION, CRAWLER_LIST, EMPTY, ISBOT_LIST, MALFORMED, PROBE, SPIDER
from dashboard.i18n import N_

FLOOD = "flood"
HOSTNAME = "hostname"
PREFETCH_SIGNALS = ("prefetch", "prerender")
"""What ``useragents.request_bot_signal`` answers for a speculative load; ingest counts it as ``bot:<signal>``."""


@dataclass(frozen=True)
class Group:
    key: str  # stable: the API's and the CSV's ``group``
    label: str
    description: str


@dataclass(frozen=True)
class Reason:
    code: str  # as stored in the ``dropped`` dimension
    group: str
    label: str
    description: str


GROUPS: tuple[Group, ...] = (
    Group("bots", N_("Bots"), N_("Requests from software, not from a person's browser.")),
    Group(HOSTNAME, N_("Foreign hostnames"), N_("Beacons about pages that are not on this site's domains.")),
    Group("prefetch", N_("Prefetches"), N_("Pages a browser loaded ahead of time, which nobody may ever look at.")),
    Group(FLOOD, N_("Floods"), N_("Beacons beyond the per-visitor rate limit.")),
    Group("other", N_("Other"), N_("Reasons this version of the dashboard has no description for.")),
)
GROUP_BY_KEY: Mapping[str, Group] = {g.key: g for g in GROUPS}
OTHER = GROUP_BY_KEY["other"]


def _bot(kind: str, label: str, description: str) -> Reason:
    return Reason(f"bot:{kind}", "bots", label, description)


REASONS: tuple[Reason, ...] = (
    _bot(SPIDER, N_("Self-declared crawlers"), N_("The User-Agent says it is a crawler, spider or bot.")),
    _bot(CRAWLER_LIST, N_("Listed crawlers"), N_("The User-Agent matches a published list of crawlers.")),
    _bot(ISBOT_LIST, N_("Listed bots"), N_("The User-Agent matches isbot's list of bots, monitors and fetchers.")),
    _bot(
        AUTOMATION,
        N_("Monitors and tools"),
        N_("Uptime monitors, test runners, headless renderers, HTTP libraries and feed readers."),
    ),
    _bot(APP_CLIENT, N_("App HTTP clients"), N_("A native app's own HTTP client, not a page shown in a browser.")),
    _bot(PROBE, N_("Probes"), N_("Injection attempts or markup in the User-Agent: someone testing the endpoint.")),
    _bot(EMPTY, N_("No User-Agent"), N_("The request named no browser at all; every browser names itself.")),
    _bot(MALFORMED, N_("Malformed User-Agents"), N_("A User-Agent in a shape no browser sends.")),
    Reason(
        HOSTNAME,
        HOSTNAME,
        N_("Other hosts"),
        N_("From a page not on this site's domains (a copied snippet, a mirror), or naming another host than its URL."),
    ),
    Reason(
        f"bot:{PREFETCH_SIGNALS[0]}",
        "prefetch",
        N_("Prefetched pages"),
        N_("Loaded ahead of a click (link prefetch, Safari's Top Sites preview), not necessarily seen."),
    ),
    Reason(
        f"bot:{PREFETCH_SIGNALS[1]}",
        "prefetch",
        N_("Prerendered pages"),
        N_("Rendered by the browser in the background before anyone opened the page."),
    ),
    Reason(
        FLOOD,
        FLOOD,
        N_("Too many from one visitor"),
        N_("More beacons in a minute than a person's browser sends: a script or a reload loop."),
    ),
)
REASON_BY_CODE: Mapping[str, Reason] = {r.code: r for r in REASONS}

CSV_COLUMNS = ("group", "reason", "label", "beacons", "description")


def reason(code: str) -> Reason:
    """The description of a stored code; an unknown one is shown by its code, under "Other"."""
    return REASON_BY_CODE.get(code) or Reason(code, OTHER.key, code or N_("(no reason)"), OTHER.description)


def percent(part: int, whole: int) -> float:
    return round(100 * part / whole, 1) if whole else 0.0


def summary(dropped: Mapping[str, int], counted: int) -> dict[str, Any]:
    """The card's, the API's and the CSV's figures, in the order the card shows them.

    ``counted`` is the beacons that made it into the figures: pageviews and custom events (an
    engagement ping adds to a pageview's time on page, not a count of its own). Groups keep the
    order of ``GROUPS`` whatever their size, so the card reads the same from one range to the next;
    within a group the largest reason comes first. Empty groups and reasons are left out.
    """
    by_group: dict[str, list[dict[str, Any]]] = {}
    for code, beacons in dropped.items():
        if beacons <= 0:
            continue
        described = reason(code)
        row = {"reason": code, "label": described.label, "description": described.description, "beacons": beacons}
        by_group.setdefault(described.group, []).append(row)
    groups = [
        {
            "group": group.key,
            "label": group.label,
            "description": group.description,
            "beacons": sum(r["beacons"] for r in rows),
            "reasons": sorted(rows, key=lambda r: (-r["beacons"], r["reason"])),
        }
        for group in GROUPS
        if (rows := by_group.get(group.key))
    ]
    filtered = sum(g["beacons"] for g in groups)
    return {
        "filtered": filtered,
        "counted": counted,
        "filtered_percent": percent(filtered, filtered + counted),
        "groups": groups,
    }


def csv_rows(filtered: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per reason, its group named on every row so a spreadsheet can pivot on it."""
    return [{"group": g["group"], **r} for g in filtered["groups"] for r in g["reasons"]]

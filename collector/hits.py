"""The plain data handed from one ingest step to the next (see docs/architecture.md).

``Beacon`` is what a browser said, validated but not yet trusted; ``Hit`` is what is left after
enrichment. The privacy boundary is visible in the types: ``Hit`` has no field that could hold an
IP address or a User-Agent string, only values derived from them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import NamedTuple


class Kind(str, Enum):  # noqa: UP042 -- StrEnum would change what str() and format() give for a member
    PAGEVIEW = "pageview"
    EVENT = "event"
    ENGAGEMENT = "engagement"


Props = tuple[tuple[str, str], ...]


class FunnelStep(NamedTuple):
    """A hit's place in one funnel (``collector.goals``): it reaches the step at ``position``."""

    funnel: int
    position: int  # 0-based
    day_window: bool  # progress survives the end of a visit, until the visitor's day ends


@dataclass(frozen=True, slots=True)
class Beacon:
    kind: Kind
    website_id: str          # Umami-style site id ("" when the beacon names a domain)
    domain: str              # Plausible-style site domain ("" when the beacon names an id)
    url: str                 # full URL or a path
    hostname: str            # hostname given separately (Umami); "" means take it from url
    referrer: str
    screen_width: int | None
    language: str
    event_name: str
    props: Props
    hash_mode: bool
    interactive: bool
    engaged_ms: int          # engagement pings only
    scroll: int              # max scroll depth in percent, -1 when not sent


@dataclass(frozen=True, slots=True)
class Hit:
    site: int
    day: int                 # site-local day number
    hour: int                # site-local hour number (day * 24 + hour)
    ts: int                  # server time in whole seconds; lives in memory only
    kind: Kind
    visitor: int             # 64-bit keyed hash; lives in memory only
    path: str
    source: str
    utm_source: str
    utm_medium: str
    utm_campaign: str
    country: str
    browser: str
    os: str
    device: str
    screen: str
    language: str
    event: str = ""
    props: Props = ()
    interactive: bool = True
    engaged_ms: int = 0
    scroll: int = -1
    goals: tuple[int, ...] = ()              # the site's goals this hit converts
    funnel_steps: tuple[FunnelStep, ...] = ()  # ... and the funnel steps those goals are

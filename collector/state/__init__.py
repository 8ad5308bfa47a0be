"""The day's state: what lives only until a site's local day is over, never in the database.

Visitor records, the cardinality guard, the realtime figures and (in scale-out mode) today's
salts. One process keeps them in memory (``memory.py``); several collectors share them in Redis
(``redis.py``), which is what lets them count exactly as one. The contract is split by role, like
the store's: the ingest path reads and commits one visitor at a time, housekeeping closes days,
the dashboard reads the realtime figures. ``open_state`` picks the implementation.

Counting rules never live here: a state stores the record ``counting.count`` returns and
refuses it when the visitor's record changed since it was read, which is all a backend that
waits (a network round trip) needs to keep two racing beacons from both counting a visit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from collector.guard import Admitted, Wanted
from collector.hits import Hit
from collector.visitors import VisitorRecord

if TYPE_CHECKING:
    from collector.config import Settings
    from collector.store import SaltStore, Store

__all__ = [
    "CountingState",
    "DayEnds",
    "DayState",
    "RealtimeReader",
    "Snapshot",
    "StateUnavailable",
    "VisitorState",
    "open_state",
]

DayEnds = Callable[[int, int], int]
"""(site, day) → the Unix second the site's local day ends: when a backend may forget it."""


class StateUnavailable(Exception):
    """The shared state cannot be reached or keeps refusing a commit: the beacon is refused (503)
    rather than counted on a guess, since a guess made on one collector would differ from the
    others' and count its visitor twice."""


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One read: the visitor's record today (None: none yet), the guard's answer for the hit's
    values, and ``version``, which only the state that made it reads (what a commit compares)."""

    record: VisitorRecord | None
    values: Admitted
    version: object


class CountingState(Protocol):
    """The ingest path's use: one read and one commit per counted beacon."""

    async def read(self, hit: Hit, wanted: Sequence[Wanted]) -> Snapshot:
        """The visitor's record and the guard's answer for ``wanted``, together (one round trip)."""
        ...

    async def commit(self, hit: Hit, snapshot: Snapshot, record: VisitorRecord) -> bool:
        """Store ``record`` as the visitor's, unless it changed since ``snapshot`` was read (False:
        read again and count again). A committed hit also counts in the realtime figures.
        Raises ``LookupError`` when the hit's site was deleted meanwhile."""
        ...


class DayState(Protocol):
    """Housekeeping's use."""

    evicted: int  # visitor records forgotten to stay within a memory cap (memory state only)

    async def close_days(self, site: int, before_day: int) -> int:
        """Forget ``site``'s records and guard values of days before ``before_day``; returns how
        many records were forgotten (a backend that expires them itself may return 0)."""
        ...

    def seed(self, values: Iterable[tuple[int, int, str, str]]) -> None:
        """(site, day, dim, value) already stored or restored: they count against the guard's
        bound after a restart. A shared guard outlives any one collector and ignores this."""
        ...

    async def forget_site(self, site: int) -> None:
        """A deleted site: its records go, and no collector may create state for it again."""
        ...


class RealtimeReader(Protocol):
    """The dashboard's use: figures as fresh as the last beacon, from the state, not the database."""

    async def active_since(self, site: int, since: int) -> int:
        """Visitors of ``site`` seen at or after ``since`` (Unix seconds)."""
        ...

    async def pageviews_per_minute(self, site: int, now: float, minutes: int) -> list[int]:
        """Pageviews of each of the last ``minutes`` minutes, oldest first, ending with the current one."""
        ...


class VisitorState(CountingState, DayState, RealtimeReader, Protocol):
    """Everything above, as one implementation provides it; closed by ``close``."""

    async def reachable(self) -> bool:
        """Whether the state answers now (``/healthz``): one cheap round trip, never an exception."""
        ...

    async def close(self) -> None: ...


async def open_state(settings: Settings, store: Store, day_ends: DayEnds) -> tuple[VisitorState, SaltStore]:
    """The day's state ``settings`` name, and where today's salts live with it.

    Salts follow the state: in Redis with Redis; else in the SQLite file, which can erase them
    securely; else (PostgreSQL without Redis) in memory only, since a PostgreSQL ``DELETE``
    cannot erase bytes from its files and WAL.
    """
    if settings.redis_url:
        from collector.state.redis import connect

        return await connect(settings.redis_url, settings.max_values, day_ends)
    from collector.state.memory import MemorySalts, MemoryState
    from collector.store import SaltStore

    state = MemoryState(settings.max_visitors, settings.max_values)
    return state, store if isinstance(store, SaltStore) else MemorySalts()

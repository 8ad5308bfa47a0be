"""The store: where aggregate counters, sites, accounts and today's salts live.

The contract is split by role, so each part of Crumbless depends on the few methods it uses:
the ingest side writes counters and handles salts, housekeeping deletes expired rows, the
dashboard reads counters and manages sites and accounts. ``Store`` is all of them but the salts
together, what each implementation (the SQLite file, or PostgreSQL shared by several collectors)
provides; ``open_store`` picks and opens it, and nothing else constructs one. Counting rules
never live here: a store only adds up the numbers it is given.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from collector.aggregator import Batch
from collector.goals import Funnel, FunnelWindow, Goal, GoalKind
from collector.model import TopList
from collector.sites import Site
from collector.store.errors import StoreError

if TYPE_CHECKING:
    from collector.config import Settings

__all__ = [
    "AccountStore",
    "Annotation",
    "AnnotationStore",
    "ApiToken",
    "ImportRecord",
    "ImportStore",
    "CounterReader",
    "CounterWriter",
    "GoalStore",
    "Row",
    "SaltStore",
    "SegmentStore",
    "SiteStore",
    "Store",
    "StoreError",
    "User",
    "new_session_key",
    "open_store",
    "opened_store",
]

Row = dict[str, int]


@dataclass(frozen=True)
class User:
    """A dashboard account.

    ``session_key`` is random per account and replaced by a password change: a session cookie
    carries it, so it opens only the account it was issued for (never a later account given the
    same id) and ends with every password change.
    """

    id: int
    name: str
    role: str  # 'admin' or 'viewer'
    password_hash: str
    session_key: str
    locale: str | None = None  # the dashboard language chosen on the account page; None: the browser's

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


@dataclass(frozen=True)
class ApiToken:
    """A personal API token as listed in the dashboard; the token itself is never stored."""

    id: int
    user: int
    name: str
    created_at: str


@dataclass(frozen=True)
class Annotation:
    """An admin's dated note on a site ("newsletter sent"), shown on its chart; ``day`` is a
    site-local day number (``localtime.day_number``), as the counters' days are."""

    id: int
    site: int
    day: int
    text: str
    created_at: str


@dataclass(frozen=True)
class ImportRecord:
    """One import of another tool's history into a site (``collector.transfer``): its source and
    the site-local days it covers (day numbers, as the counters' days)."""

    id: int
    site: int
    source: str
    first_day: int
    last_day: int
    created_at: str


def new_session_key() -> str:
    return secrets.token_hex(16)


class CounterWriter(Protocol):
    """What the flusher and the cardinality guard need: the ingest side's whole use of the store."""

    async def write_counts(self, batch: Batch) -> None:
        """Add every counter of ``batch`` to the stored ones in one transaction: all of it or none
        of it, so a failed write can be retried with the same batch without counting anything twice.
        Rows whose counters end at zero are not kept."""
        ...

    async def recent_values(self, since_day: int) -> list[tuple[int, int, str, str]]:
        """(site, day, dim, value) stored since a day, to seed the cardinality guard at start."""
        ...


class RetentionStore(Protocol):
    async def delete_before(self, site: int, first_kept_day: int) -> int:
        """Delete a site's daily and hourly rows of days before ``first_kept_day``; returns rows deleted.
        Idempotent: a failed run is simply run again."""
        ...


class SegmentStore(Protocol):
    """The privacy budget's use (``collector.budget``): small segment cells of closed days fold away."""

    async def fold_segments(self, site: int, first_day: int, last_day: int, min_visitors: int) -> int:
        """Fold every segment cell (a daily row of a ``model.SEGMENTS`` dimension) of the site's days
        in the range with fewer than ``min_visitors`` visitors into its pivot's ``(other)`` cell of
        the same day and segment: every counter added there and the cell deleted, in the months'
        roll-up too, and the text of values no row refers to any more deleted, out of the database's
        files where it can. A pivot's ``(other)`` cell stays whatever its size: it is an aggregate.
        Returns how many cells were folded; idempotent; nothing to do with ``min_visitors`` <= 1."""
        ...

    async def last_counted_day(self, site: int, before_day: int) -> int | None:
        """The site's last day before ``before_day`` with counters, None if it has none."""
        ...


@runtime_checkable
class SaltStore(Protocol):
    async def load_salt(self, site: int, day: int) -> bytes | None: ...

    async def save_salt(self, site: int, day: int, salt: bytes) -> bytes:
        """Store a site-day's salt unless one is stored already: the first saved wins, and is
        returned, so every worker that raced to create one ends up hashing with the same salt."""
        ...

    async def erase_salts(self, site: int, before_day: int) -> int:
        """Delete salts of days before ``before_day`` so that their bytes are gone from disk
        (not merely unlinked: overwritten, and out of any write-ahead log); returns how many."""
        ...


class CounterReader(Protocol):
    """The dashboard's, the API's and ``crumbless stats``'s reads of the counters."""

    async def totals(self, site: int, first_day: int, last_day: int) -> Row:
        """The site totals summed over the days: every counter of ``model.COUNTERS``, 0 without data."""
        ...

    async def hourly(self, site: int, first_hour: int, last_hour: int) -> list[tuple[int, Row]]:
        """Site totals per local hour, oldest first; hours without data are absent."""
        ...

    async def daily_totals(self, site: int, first_day: int, last_day: int) -> list[tuple[int, Row]]:
        """Site totals per day, oldest first; days without data are absent."""
        ...

    async def breakdown(
        self,
        site: int,
        listing: TopList,
        first_day: int,
        last_day: int,
        limit: int,
        offset: int = 0,
        search: str = "",
        within: str | None = None,
    ) -> tuple[list[tuple[str, Row]], int]:
        """One page of a list's values in its order, and how many values match in all.

        The rows are those of ``listing.dimension``; each comes with the stored counters the list
        reads (``listing.counters``; others may be absent). Order: the ranking counter, then the
        list's pageviews if it shows them, both descending, then the value. ``search`` matches
        values that contain it, ignoring case. Values whose ranking counter sums to 0 over the
        range are left out.

        ``within`` is a segment's pivot value (``model.segment_value``): then only the cells of that
        pivot value are read, and their values come without it (``search`` matches what remains).
        """
        ...

    async def top(
        self, site: int, listing: TopList, first_day: int, last_day: int, limit: int, within: str | None = None
    ) -> list[tuple[str, Row]]:
        """Exactly ``breakdown(site, listing, first_day, last_day, limit, within=within)``'s rows (no
        count, no search), read however is fastest: the overview's lists over long ranges."""
        ...

    async def value_totals(self, site: int, dim: str, value: str, first_day: int, last_day: int) -> Row:
        """One value's row of a dimension summed over the days (every counter, 0 without data): a
        filtered overview's cards."""
        ...

    async def value_series(
        self, site: int, dim: str, value: str, first_day: int, last_day: int
    ) -> list[tuple[int, Row]]:
        """One value's row of a dimension per day, oldest first; days without data are absent (a
        filtered overview's chart: there are no per-value hourly rows)."""
        ...

    async def has_data(self, site: int) -> bool: ...


class SiteStore(Protocol):
    async def sites(self) -> list[Site]:
        """Every site, oldest first."""
        ...

    async def add_site(self, domain: str, name: str, timezone: str, extra_domains: Sequence[str]) -> Site:
        """A new site with a new random public id; StoreError if the domain has a site already.
        Site ids are never handed out again after a deletion."""
        ...

    async def update_site(
        self, site: int, domain: str, name: str, timezone: str, extra_domains: Sequence[str]
    ) -> Site: ...

    async def delete_site(self, site: int) -> None:
        """Delete a site and every row about it (counters, salts, grants, share link).

        Idempotent, so a caller can repeat it after a last flush to catch counters still in flight.
        """
        ...

    async def share_token(self, site: int) -> str | None: ...

    async def set_share_token(self, site: int, token: str | None) -> None:
        """Turn the site's share link on with ``token`` (replacing any older one), or off with None."""
        ...

    async def site_by_share_token(self, token: str) -> int | None: ...


class AccountStore(Protocol):
    """Dashboard accounts, their grants, API tokens and ended sessions."""

    async def add_user(self, name: str, password_hash: str, role: str) -> None:
        """StoreError if the name is taken. User ids are never handed out again after a deletion."""
        ...

    async def user_count(self) -> int: ...

    async def users(self) -> list[User]: ...

    async def user_by_name(self, name: str) -> User | None: ...

    async def user_by_id(self, user: int) -> User | None: ...

    async def set_password(self, user: int, password_hash: str) -> None:
        """Store a new hash and a new session key, so every existing session ends."""
        ...

    async def set_role(self, user: int, role: str) -> None: ...

    async def set_locale(self, user: int, locale: str | None) -> None:
        """The account's dashboard language (a catalog's name, e.g. ``es``); None follows the browser."""
        ...

    async def delete_user(self, user: int) -> None:
        """Delete the account with its grants and API tokens."""
        ...

    async def grants(self, user: int) -> set[int]: ...

    async def set_grants(self, user: int, sites: Sequence[int]) -> None:
        """Replace the user's grants with ``sites``, in one step."""
        ...

    async def add_token(self, user: int, name: str, token_hash: str) -> ApiToken: ...

    async def tokens(self, user: int) -> list[ApiToken]: ...

    async def token_user(self, token_hash: str) -> User | None: ...

    async def delete_token(self, user: int, token: int) -> bool:
        """Delete one of ``user``'s own tokens; False (and nothing deleted) if it is not theirs."""
        ...

    async def end_session(self, nonce_sha256: str, expires: int, now: int) -> None:
        """Remember a logged-out session until ``expires``; forget those expired by ``now`` (Unix seconds)."""
        ...

    async def session_ended(self, nonce_sha256: str) -> bool: ...


class AnnotationStore(Protocol):
    """Admins' dated notes on a site; deleted with the site."""

    async def add_annotation(self, site: int, day: int, text: str) -> Annotation: ...

    async def annotations(self, site: int, first_day: int, last_day: int) -> list[Annotation]:
        """The site's notes on days in the range, oldest day first (then in the order they were added)."""
        ...

    async def delete_annotation(self, site: int, annotation: int) -> bool:
        """Delete one of the site's notes; False (and nothing deleted) if the site has no such note."""
        ...


class ImportStore(Protocol):
    """Imported history: added in one transaction, recorded, replaceable (``collector.transfer``)."""

    async def add_import(
        self,
        site: int,
        source: str,
        days: tuple[int, int],
        batch: Batch,
        replace: bool = False,
        fold_through: int | None = None,
        min_visitors: int = 1,
    ) -> ImportRecord:
        """Add ``batch`` and record it as an import of ``source`` over ``days`` (first, last), in one
        transaction. StoreError, and nothing written, if an earlier import overlaps those days,
        unless ``replace``: then the rows each overlapping import added are subtracted first.
        With ``fold_through`` (the site's last closed day), the days imported up to it fold their
        segment cells under ``min_visitors`` in the same transaction (``SegmentStore.fold_segments``)."""
        ...

    async def imports(self, site: int) -> list[ImportRecord]:
        """The site's imports, by first day."""
        ...

    async def daily_rows(self, site: int, first_day: int, last_day: int) -> list[tuple[int, str, str, Row]]:
        """Every stored day row of the site in the range: (day, dimension key, value, every counter)."""
        ...


class GoalStore(Protocol):
    """A site's goals and funnels (``collector.goals``); deleted with the site. ``sites()`` carries
    them on each ``Site`` (``Site.conversions``), which is how the ingest path matches hits against them."""

    async def add_goal(
        self,
        site: int,
        name: str,
        kind: GoalKind,
        event: str,
        prop_key: str,
        prop_value: str,
        page: str,
        first_day: int,
    ) -> Goal:
        """A new goal counted live from ``first_day`` (the site-local day it is defined on); StoreError
        for a name the site has already or a definition that is not one (``conversions.checked_goal``).
        A ``backfillable`` goal gets, in the same transaction, its rows for every earlier day still
        stored, from the event's or the page's rows (a page's pageviews are its conversions)."""
        ...

    async def goals(self, site: int) -> list[Goal]:
        """The site's goals, oldest first."""
        ...

    async def delete_goal(self, site: int, goal: int) -> bool:
        """Delete one of the site's goals with the funnels it is a step of and every row naming it
        (its goal rows and the segment rows pairing it); False, and nothing deleted, if it has no such goal."""
        ...

    async def add_funnel(
        self, site: int, name: str, steps: Sequence[int], window: FunnelWindow, first_day: int
    ) -> Funnel:
        """A new funnel of 2–8 steps, each one of the site's goals (in order); StoreError otherwise,
        or for a name the site has already."""
        ...

    async def funnels(self, site: int) -> list[Funnel]:
        """The site's funnels, oldest first."""
        ...

    async def delete_funnel(self, site: int, funnel: int) -> bool:
        """Delete one of the site's funnels and its step rows; False if it has no such funnel."""
        ...


class Store(
    CounterWriter,
    RetentionStore,
    SegmentStore,
    CounterReader,
    SiteStore,
    AccountStore,
    AnnotationStore,
    ImportStore,
    GoalStore,
    Protocol,
):
    """Everything above but salts, as every implementation provides it; closed by ``close``.

    Salts are not part of it: the SQLite store is also a ``SaltStore`` (it can erase them from its
    file), the PostgreSQL store is not (a DELETE cannot erase bytes from PostgreSQL's files and
    WAL), so in scale-out mode they live in Redis only.
    """

    async def close(self) -> None: ...

    async def erases_securely(self) -> bool:
        """Whether deleted rows are overwritten in the database's files (what the audit relies on)."""
        ...


async def open_store(settings: Settings) -> Store:
    """The store ``settings`` name, opened and migrated to the latest schema: PostgreSQL for a
    ``postgresql://`` database URL, else the SQLite file."""
    if settings.database_url.startswith(("postgresql://", "postgres://")):
        from collector.store.postgres import PostgresStore

        shared = PostgresStore(settings.database_url)
        await shared.open()
        return shared
    from collector.store.sqlite import SQLiteStore

    store = SQLiteStore(settings.database)
    await store.open()
    return store


@contextlib.asynccontextmanager
async def opened_store(settings: Settings) -> AsyncIterator[Store]:
    """``open_store`` for one piece of work (a command, a test), closed after it whatever happened."""
    store = await open_store(settings)
    try:
        yield store
    finally:
        await store.close()

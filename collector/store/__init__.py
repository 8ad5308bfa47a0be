"""The store: where aggregate counters, sites, users and today's salts live.

``Store`` is the whole contract between Crumbless and its database. SQLite is the embedded
default; a PostgreSQL implementation of the same protocol follows for scale-out. Counting rules
never live here: a store only adds up the numbers it is given.
"""

from __future__ import annotations

from typing import Protocol, Sequence

from collector.aggregator import Batch
from collector.sites import Site

Row = dict[str, int]


class StoreError(Exception):
    """A store operation failed; the message is safe to show (it never carries hit data)."""


class Store(Protocol):
    async def open(self) -> None:
        """Connect and apply pending migrations."""
        ...

    async def close(self) -> None: ...

    async def write_counts(self, batch: Batch) -> None:
        """Add a batch of counters in one transaction: all of it or none of it."""
        ...

    async def load_salt(self, site: int, day: int) -> bytes | None: ...

    async def save_salt(self, site: int, day: int, salt: bytes) -> bytes: ...

    async def erase_salts(self, site: int, before_day: int) -> int:
        """Delete salts of days before ``before_day`` so that their bytes are gone from disk."""
        ...

    async def sites(self) -> list[Site]: ...

    async def add_site(self, domain: str, name: str, timezone: str, extra_domains: Sequence[str]) -> Site: ...

    async def add_user(self, name: str, password_hash: str, role: str) -> None: ...

    async def user_count(self) -> int: ...

    async def recent_values(self, since_day: int) -> list[tuple[int, int, str, str]]:
        """(site, day, dim, value) stored since a day, to seed the cardinality guard at start."""
        ...

    async def totals(self, site: int, first_day: int, last_day: int) -> Row: ...

    async def top_values(self, site: int, dim: str, first_day: int, last_day: int, limit: int) -> list[tuple[str, Row]]: ...

    async def hourly(self, site: int, first_hour: int, last_hour: int) -> list[tuple[int, Row]]: ...

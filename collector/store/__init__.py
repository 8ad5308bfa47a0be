"""The store: where aggregate counters, sites, users and today's salts live.

``Store`` is the whole contract between Crumbless and its database. SQLite is the embedded
default; a PostgreSQL implementation of the same protocol follows for scale-out. Counting rules
never live here: a store only adds up the numbers it is given.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Protocol, Sequence

from collector.aggregator import COLUMNS, Batch
from collector.sites import Site

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
    role: str               # 'admin' or 'viewer'
    password_hash: str
    session_key: str

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


def new_session_key() -> str:
    return secrets.token_hex(16)


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

    async def delete_before(self, site: int, first_kept_day: int) -> int:
        """Delete a site's daily and hourly rows of days before ``first_kept_day`` (retention); returns rows deleted."""
        ...

    async def sites(self) -> list[Site]: ...

    async def add_site(self, domain: str, name: str, timezone: str, extra_domains: Sequence[str]) -> Site: ...

    async def add_user(self, name: str, password_hash: str, role: str) -> None: ...

    async def user_count(self) -> int: ...

    async def recent_values(self, since_day: int) -> list[tuple[int, int, str, str]]:
        """(site, day, dim, value) stored since a day, to seed the cardinality guard at start."""
        ...

    async def totals(self, site: int, first_day: int, last_day: int) -> Row: ...

    async def hourly(self, site: int, first_hour: int, last_hour: int) -> list[tuple[int, Row]]: ...

    # ── the dashboard's read side ──

    async def daily_totals(self, site: int, first_day: int, last_day: int) -> list[tuple[int, Row]]:
        """Site totals per day (dim 'total'), oldest first; days without data are absent."""
        ...

    async def breakdown(
        self, site: int, dim: str, first_day: int, last_day: int, limit: int, offset: int = 0, search: str = "",
        columns: Sequence[str] = COLUMNS,
    ) -> tuple[list[tuple[str, Row]], int]:
        """One page of a dimension's values in top-list order, and how many values match in all.

        Only ``columns`` need be summed; the others may come back as 0.
        """
        ...

    async def has_data(self, site: int) -> bool: ...

    # ── sites, users, grants, tokens, share links ──

    async def update_site(self, site: int, domain: str, name: str, timezone: str, extra_domains: Sequence[str]) -> Site: ...

    async def delete_site(self, site: int) -> None:
        """Delete a site and every row about it (counters, salts, grants, share link)."""
        ...

    async def users(self) -> list[User]: ...

    async def user_by_name(self, name: str) -> User | None: ...

    async def user_by_id(self, user: int) -> User | None: ...

    async def set_password(self, user: int, password_hash: str) -> None:
        """Store a new hash and a new session key, so every existing session ends."""
        ...

    async def set_role(self, user: int, role: str) -> None: ...

    async def delete_user(self, user: int) -> None: ...

    async def grants(self, user: int) -> set[int]: ...

    async def set_grants(self, user: int, sites: Sequence[int]) -> None: ...

    async def add_token(self, user: int, name: str, token_hash: str) -> ApiToken: ...

    async def tokens(self, user: int) -> list[ApiToken]: ...

    async def token_user(self, token_hash: str) -> User | None: ...

    async def delete_token(self, user: int, token: int) -> bool: ...

    async def share_token(self, site: int) -> str | None: ...

    async def set_share_token(self, site: int, token: str | None) -> None: ...

    async def site_by_share_token(self, token: str) -> int | None: ...

    async def end_session(self, nonce_sha256: str, expires: int, now: int) -> None:
        """Remember a logged-out session until ``expires``; forget those expired by ``now`` (Unix seconds)."""
        ...

    async def session_ended(self, nonce_sha256: str) -> bool: ...

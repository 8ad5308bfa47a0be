"""What SQLite and PostgreSQL stores share: the whole store contract, over their own connections.

``SQLStore`` implements every protocol of ``collector.store`` except ``SaltStore`` in terms of
jobs (``queries``) and three ways of running one, which each store provides: ``_read`` on a
reading connection, ``_write`` on a writing one, ``_atomic`` inside one transaction there. A
store adds what only it has: SQLite its salts and the emptying of its WAL after a deletion
(``_erase``), PostgreSQL its batch ids and the row locks that keep several collectors apart
(``_claim`` and ``_hold_site``).
"""

from __future__ import annotations

import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, ClassVar, TypeVar

from collector.aggregator import Batch
from collector.goals import Funnel, FunnelWindow, Goal, GoalKind
from collector.model import BY_CODE, COUNTERS, HOURLY_COUNTERS, TOTAL, TopList
from collector.sites import Site
from collector.store import (
    Annotation,
    ApiToken,
    ImportRecord,
    Row,
    User,
    conversions,
    imports,
    new_session_key,
    segments,
)
from collector.store.errors import StoreError
from collector.store.queries import Connection, Queries, batch_rows, to_json

T = TypeVar("T")
Work = Callable[[Connection], T]

_USER = "id, name, role, password_hash, session_key, locale"
_ANNOTATION = "id, site, day, text, created_at"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _user(row: Sequence[Any] | None) -> User | None:
    if row is None:
        return None
    locale = None if row[5] is None else str(row[5])
    return User(int(row[0]), str(row[1]), str(row[2]), str(row[3]), str(row[4]), locale)


def _annotation(row: Sequence[Any]) -> Annotation:
    return Annotation(int(row[0]), int(row[1]), int(row[2]), str(row[3]), str(row[4]))


def _one(db: Connection, sql: str, params: Sequence[Any] = ()) -> Any:
    return db.execute(sql, params).fetchone()


def _with_conversions(db: Connection, sites: list[Site], only: int | None = None) -> list[Site]:
    """``sites`` with their goals and funnels attached: two queries for all of them (or for ``only``)."""
    found = conversions.conversions(db, only)
    return [replace(site, conversions=found[site.id]) if site.id in found else site for site in sites]


def _statement(sql: str, *params: Any) -> Work[None]:
    """A write that is one statement (atomic on its own)."""

    def run(db: Connection) -> None:
        db.execute(sql, params)

    return run


@dataclass(frozen=True)
class _Imported:
    record: ImportRecord
    folded: int

    def __bool__(self) -> bool:
        """What ``_erase`` asks of its job's result: whether anything was deleted (folded cells)."""
        return self.folded > 0


class SQLStore(ABC):
    queries: ClassVar[Queries]
    duplicates: ClassVar[tuple[type[Exception], ...]]
    """What the driver raises for a row that a unique key already has."""
    site_tables: ClassVar[tuple[tuple[str, str], ...]] = (
        ("daily", "site"),
        ("monthly", "site"),
        ("dim_values", "site"),
        ("hourly", "site"),
        ("grants", "site"),
        ("share_links", "site"),
        ("annotations", "site"),
        ("imports", "site"),
        ("funnels", "site"),
        ("goals", "site"),
        ("sites", "id"),
    )
    """Every table with rows about a site, and the column naming it; the site's own row last."""

    @abstractmethod
    async def _read(self, job: Work[T], what: str) -> T: ...

    @abstractmethod
    async def _write(self, job: Work[T], what: str) -> T:
        """``job`` whole on a writing connection; each statement is atomic, the job as a whole need not be."""

    @abstractmethod
    async def _atomic(self, job: Work[T], what: str) -> T:
        """``job`` whole inside one transaction: all of it, or none of it."""

    async def _erase(self, job: Work[T], what: str) -> T:
        """A deletion in one transaction, after which nothing deleted may be read from the database's files."""
        return await self._atomic(job, what)

    def _claim(self, db: Connection, batch: Batch, sites: Sequence[int]) -> bool:
        """Called first in a flush's transaction; False skips the batch (already written)."""
        return True

    def _hold_site(self, db: Connection, site: int) -> None:
        """Called first in a transaction that deletes a site's rows: no flush may write them meanwhile."""
        return None

    # ── counters ──────────────────────────────────────────────────────────────────────────────

    async def write_counts(self, batch: Batch) -> None:
        daily, hourly = batch_rows(batch)  # checks every number before anything is written
        hours = to_json(hourly)
        sites = sorted({row[0] for row in daily} | {row[0] for row in hourly})

        def write(db: Connection) -> None:
            if self._claim(db, batch, sites):
                self.queries.write_batch(db, daily, hours)

        await self._atomic(write, "write_counts")

    async def recent_values(self, since_day: int) -> list[tuple[int, int, str, str]]:
        rows = await self._read(lambda db: self.queries.recent_values(db, since_day), "recent_values")
        return [(site, day, BY_CODE[dim].key, text) for site, day, dim, text in rows]

    async def delete_before(self, site: int, first_kept_day: int) -> int:
        """Days before ``first_kept_day`` go, and so do months that ended before it; the month it
        falls in is summed again from the days it keeps, so the roll-up stays exact; the text of
        values no row refers to any more goes too, out of the database's files where it can."""

        def delete(db: Connection) -> int:
            self._hold_site(db, site)
            return self.queries.delete_before(db, site, first_kept_day)

        return await self._erase(delete, "delete_before")

    async def fold_segments(self, site: int, first_day: int, last_day: int, min_visitors: int) -> int:
        """A read first, for which segments have cells to fold (usually none); then one transaction
        per group of them (``segments.fold_plan``), each holding the site against flushes (a value's
        text deleted while a flush looks it up would lose that flush's row), the WAL emptied after
        each where there is one."""
        if min_visitors <= 1 or first_day > last_day:
            return 0

        def plan(db: Connection) -> list[tuple[int, ...]]:
            return segments.fold_plan(self.queries, db, site, first_day, last_day, min_visitors)

        folded = 0
        for group in await self._read(plan, "fold_segments"):

            def fold(db: Connection, group: tuple[int, ...] = group) -> int:
                self._hold_site(db, site)
                return segments.fold_segments(self.queries, db, site, first_day, last_day, min_visitors, group)

            folded += await self._erase(fold, "fold_segments")
        return folded

    async def last_counted_day(self, site: int, before_day: int) -> int | None:
        return await self._read(lambda db: segments.last_counted_day(db, site, before_day), "last_counted_day")

    # ── the dashboard's reads ─────────────────────────────────────────────────────────────────

    async def totals(self, site: int, first_day: int, last_day: int) -> Row:
        return await self._read(lambda db: self.queries.totals(db, site, first_day, last_day), "totals")

    async def hourly(self, site: int, first_hour: int, last_hour: int) -> list[tuple[int, Row]]:
        sql = (
            f"SELECT hour, {', '.join(HOURLY_COUNTERS)} FROM hourly "
            "WHERE site = ? AND hour BETWEEN ? AND ? ORDER BY hour"
        )
        params = (site, first_hour, last_hour)
        return await self._read(lambda db: self.queries.series(db, sql, params, HOURLY_COUNTERS), "hourly")

    async def daily_totals(self, site: int, first_day: int, last_day: int) -> list[tuple[int, Row]]:
        sql = (
            f"SELECT day, {', '.join(COUNTERS)} FROM daily WHERE site = ? AND dim = ? AND day BETWEEN ? AND ? "
            "ORDER BY day"
        )
        params = (site, TOTAL.code, first_day, last_day)
        return await self._read(lambda db: self.queries.series(db, sql, params, COUNTERS), "daily_totals")

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
        def read(db: Connection) -> tuple[list[tuple[str, Row]], int]:
            if within is not None and listing.dimension in segments.DERIVED:
                return segments.with_derived_other(
                    self.queries, db, listing, site, first_day, last_day, limit, offset, search, within
                )
            return self.queries.breakdown(db, listing, site, first_day, last_day, limit, offset, search, within)

        return await self._read(read, "breakdown")

    async def value_totals(self, site: int, dim: str, value: str, first_day: int, last_day: int) -> Row:
        def read(db: Connection) -> Row:
            return self.queries.value_totals(db, site, dim, value, first_day, last_day)

        return await self._read(read, "value_totals")

    async def value_series(
        self, site: int, dim: str, value: str, first_day: int, last_day: int
    ) -> list[tuple[int, Row]]:
        def read(db: Connection) -> list[tuple[int, Row]]:
            return self.queries.value_series(db, site, dim, value, first_day, last_day)

        return await self._read(read, "value_series")

    async def top(
        self, site: int, listing: TopList, first_day: int, last_day: int, limit: int, within: str | None = None
    ) -> list[tuple[str, Row]]:
        """The first ``limit`` values of a list, as ``breakdown`` gives them, without summing every value.

        A threshold algorithm (Fagin's): each month the range touches is read best first from its
        ``monthly`` index, and a value met there gets its exact total over the range. A value not
        met yet has, in each month, at most the last figure read there (a part of a month holds
        no more than the month), so once that sum is below the ``limit``-th exact total no unread
        value can enter or tie: the answer is exact. Skewed lists (pages, sources) stop after a
        few dozen values per month; short ranges, and lists that would need to read deep, are
        simply summed like ``breakdown``, and so are one pivot value's cells (``within``): few after
        the day's fold, and one range of the value index.
        """
        if within is not None or self.queries.top_is_summed(listing, first_day, last_day):
            return (await self.breakdown(site, listing, first_day, last_day, limit, within=within))[0]
        rows = await self._read(lambda db: self.queries.top(db, listing, site, first_day, last_day, limit), "top")
        return rows if rows is not None else (await self.breakdown(site, listing, first_day, last_day, limit))[0]

    async def has_data(self, site: int) -> bool:
        sql = "SELECT 1 FROM daily WHERE site = ? AND dim = ? LIMIT 1"
        return await self._read(lambda db: _one(db, sql, (site, TOTAL.code)) is not None, "has_data")

    # ── sites and share links ─────────────────────────────────────────────────────────────────

    async def sites(self) -> list[Site]:
        return await self._read(lambda db: _with_conversions(db, self.queries.sites(db)), "sites")

    async def add_site(self, domain: str, name: str, timezone: str, extra_domains: Sequence[str]) -> Site:
        website_id, extra, now = str(uuid.uuid4()), ",".join(extra_domains), _now()

        def add(db: Connection) -> Site:
            try:
                return self.queries.add_site(db, website_id, domain, name, timezone, extra, now)
            except self.duplicates:
                raise StoreError(f"a site for {domain} already exists") from None

        return await self._write(add, "add_site")

    async def update_site(self, site: int, domain: str, name: str, timezone: str, extra_domains: Sequence[str]) -> Site:
        def update(db: Connection) -> Site:
            try:
                updated = self.queries.update_site(db, site, domain, name, timezone, ",".join(extra_domains))
            except self.duplicates:
                raise StoreError(f"a site for {domain} already exists") from None
            if updated is None:
                raise StoreError("no such site")
            return _with_conversions(db, [updated], site)[0]

        return await self._write(update, "update_site")

    async def delete_site(self, site: int) -> None:
        def delete(db: Connection) -> bool:
            self._hold_site(db, site)
            self.queries.delete_site(db, site, self.site_tables)
            return True

        await self._erase(delete, "delete_site")

    async def share_token(self, site: int) -> str | None:
        row = await self._read(
            lambda db: _one(db, "SELECT token FROM share_links WHERE site = ?", (site,)), "share_token"
        )
        return None if row is None else str(row[0])

    async def set_share_token(self, site: int, token: str | None) -> None:
        if token is None:
            await self._write(_statement("DELETE FROM share_links WHERE site = ?", site), "set_share_token")
            return
        sql = (
            "INSERT INTO share_links (site, token, created_at) VALUES (?, ?, ?) "
            "ON CONFLICT (site) DO UPDATE SET token = excluded.token, created_at = excluded.created_at"
        )
        await self._write(_statement(sql, site, token, _now()), "set_share_token")

    async def site_by_share_token(self, token: str) -> int | None:
        row = await self._read(
            lambda db: _one(db, "SELECT site FROM share_links WHERE token = ?", (token,)), "site_by_share_token"
        )
        return None if row is None else int(row[0])

    # ── accounts, grants, tokens, sessions ────────────────────────────────────────────────────

    async def add_user(self, name: str, password_hash: str, role: str) -> None:
        sql = "INSERT INTO users (name, password_hash, role, created_at, session_key) VALUES (?, ?, ?, ?, ?)"
        params = (name, password_hash, role, _now(), new_session_key())

        def add(db: Connection) -> None:
            try:
                db.execute(sql, params)
            except self.duplicates:
                raise StoreError(f"a user named {name} already exists") from None

        await self._write(add, "add_user")

    async def user_count(self) -> int:
        row = await self._read(lambda db: _one(db, "SELECT count(*) FROM users"), "user_count")
        return int(row[0]) if row is not None else 0

    async def users(self) -> list[User]:
        def read(db: Connection) -> list[User]:
            return [u for u in map(_user, db.execute(f"SELECT {_USER} FROM users ORDER BY name")) if u is not None]

        return await self._read(read, "users")

    async def user_by_name(self, name: str) -> User | None:
        sql = f"SELECT {_USER} FROM users WHERE name = ?"
        return await self._read(lambda db: _user(_one(db, sql, (name,))), "user_by_name")

    async def user_by_id(self, user: int) -> User | None:
        sql = f"SELECT {_USER} FROM users WHERE id = ?"
        return await self._read(lambda db: _user(_one(db, sql, (user,))), "user_by_id")

    async def set_password(self, user: int, password_hash: str) -> None:
        sql = "UPDATE users SET password_hash = ?, session_key = ? WHERE id = ?"
        await self._write(_statement(sql, password_hash, new_session_key(), user), "set_password")

    async def set_role(self, user: int, role: str) -> None:
        await self._write(_statement("UPDATE users SET role = ? WHERE id = ?", role, user), "set_role")

    async def set_locale(self, user: int, locale: str | None) -> None:
        await self._write(_statement("UPDATE users SET locale = ? WHERE id = ?", locale, user), "set_locale")

    async def delete_user(self, user: int) -> None:
        await self._write(_statement("DELETE FROM users WHERE id = ?", user), "delete_user")

    async def grants(self, user: int) -> set[int]:
        sql = 'SELECT site FROM grants WHERE "user" = ?'
        return await self._read(lambda db: {int(row[0]) for row in db.execute(sql, (user,))}, "grants")

    async def set_grants(self, user: int, sites: Sequence[int]) -> None:
        def replace(db: Connection) -> None:
            db.execute('DELETE FROM grants WHERE "user" = ?', (user,))
            for site in sites:
                db.execute('INSERT INTO grants ("user", site) VALUES (?, ?)', (user, site))

        await self._atomic(replace, "set_grants")

    async def add_token(self, user: int, name: str, token_hash: str) -> ApiToken:
        created = _now()
        sql = 'INSERT INTO api_tokens ("user", name, token_hash, created_at) VALUES (?, ?, ?, ?) RETURNING id'

        def add(db: Connection) -> ApiToken:
            return ApiToken(int(_one(db, sql, (user, name, token_hash, created))[0]), user, name, created)

        return await self._write(add, "add_token")

    async def tokens(self, user: int) -> list[ApiToken]:
        sql = 'SELECT id, "user", name, created_at FROM api_tokens WHERE "user" = ? ORDER BY id'
        return await self._read(
            lambda db: [ApiToken(int(i), int(u), str(n), str(c)) for i, u, n, c in db.execute(sql, (user,))], "tokens"
        )

    async def token_user(self, token_hash: str) -> User | None:
        columns = ", ".join(f"users.{c}" for c in _USER.split(", "))
        sql = f'SELECT {columns} FROM api_tokens JOIN users ON users.id = api_tokens."user" WHERE token_hash = ?'
        return await self._read(lambda db: _user(_one(db, sql, (token_hash,))), "token_user")

    async def delete_token(self, user: int, token: int) -> bool:
        sql = 'DELETE FROM api_tokens WHERE id = ? AND "user" = ?'
        return await self._write(lambda db: db.execute(sql, (token, user)).rowcount > 0, "delete_token")

    async def end_session(self, nonce_sha256: str, expires: int, now: int) -> None:
        def end(db: Connection) -> None:
            db.execute("DELETE FROM ended_sessions WHERE expires < ?", (now,))
            db.execute(self.queries.session_end, (nonce_sha256, expires))

        await self._atomic(end, "end_session")

    async def session_ended(self, nonce_sha256: str) -> bool:
        sql = "SELECT 1 FROM ended_sessions WHERE nonce_sha256 = ?"
        return await self._read(lambda db: _one(db, sql, (nonce_sha256,)) is not None, "session_ended")

    # ── annotations ───────────────────────────────────────────────────────────────────────────

    async def add_annotation(self, site: int, day: int, text: str) -> Annotation:
        sql = f"INSERT INTO annotations (site, day, text, created_at) VALUES (?, ?, ?, ?) RETURNING {_ANNOTATION}"
        params = (site, day, text, _now())
        return await self._write(lambda db: _annotation(_one(db, sql, params)), "add_annotation")

    async def annotations(self, site: int, first_day: int, last_day: int) -> list[Annotation]:
        sql = f"SELECT {_ANNOTATION} FROM annotations WHERE site = ? AND day BETWEEN ? AND ? ORDER BY day, id"
        params = (site, first_day, last_day)
        return await self._read(lambda db: [_annotation(row) for row in db.execute(sql, params)], "annotations")

    async def delete_annotation(self, site: int, annotation: int) -> bool:
        sql = "DELETE FROM annotations WHERE id = ? AND site = ?"
        return await self._write(lambda db: db.execute(sql, (annotation, site)).rowcount > 0, "delete_annotation")

    # ── imports (collector.transfer) ──────────────────────────────────────────────────────────

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
        """The fold in the same transaction: an import killed after its commit leaves no small cell."""
        rows, now = imports.rows_of(batch), _now()  # every number checked before the transaction starts
        last = days[0] - 1 if fold_through is None or min_visitors <= 1 else min(days[1], fold_through)

        def add(db: Connection) -> _Imported:
            self._hold_site(db, site)
            record = imports.add_import(self.queries, db, site, source, days, batch, rows, replace, now)
            return _Imported(record, segments.fold_segments(self.queries, db, site, days[0], last, min_visitors))

        # Erased (the file emptied of what the fold deleted) only when there is a fold to do.
        run = self._erase if last >= days[0] else self._atomic
        return (await run(add, "add_import")).record

    async def imports(self, site: int) -> list[ImportRecord]:
        return await self._read(lambda db: imports.imports(db, site), "imports")

    async def daily_rows(self, site: int, first_day: int, last_day: int) -> list[tuple[int, str, str, Row]]:
        return await self._read(lambda db: imports.daily_rows(db, site, first_day, last_day), "daily_rows")

    # ── goals and funnels (collector.goals) ───────────────────────────────────────────────────

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
        goal = conversions.checked_goal(Goal(0, site, name, kind, event, prop_key, prop_value, page, first_day))
        now = _now()

        def add(db: Connection) -> Goal:
            self._hold_site(db, site)  # no flush may add to the rows the backfill reads meanwhile
            try:
                return conversions.add_goal(self.queries, db, site, goal, now)
            except self.duplicates:
                raise conversions.already("goal", goal.name) from None

        return await self._atomic(add, "add_goal")

    async def goals(self, site: int) -> list[Goal]:
        return await self._read(lambda db: conversions.goals(db, site), "goals")

    async def delete_goal(self, site: int, goal: int) -> bool:
        def delete(db: Connection) -> bool:
            self._hold_site(db, site)
            return conversions.delete_goal(db, site, goal)

        return await self._erase(delete, "delete_goal")

    async def add_funnel(
        self, site: int, name: str, steps: Sequence[int], window: FunnelWindow, first_day: int
    ) -> Funnel:
        funnel, now = Funnel(0, site, name, tuple(steps), window, first_day), _now()

        def add(db: Connection) -> Funnel:
            try:
                return conversions.add_funnel(db, site, funnel, now)
            except self.duplicates:
                raise conversions.already("funnel", funnel.name.strip()) from None

        return await self._atomic(add, "add_funnel")

    async def funnels(self, site: int) -> list[Funnel]:
        return await self._read(lambda db: conversions.funnels(db, site), "funnels")

    async def delete_funnel(self, site: int, funnel: int) -> bool:
        def delete(db: Connection) -> bool:
            self._hold_site(db, site)
            return conversions.delete_funnel(db, site, funnel)

        return await self._erase(delete, "delete_funnel")

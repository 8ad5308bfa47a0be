"""SQLite connections that each live on one thread of their own, and take whole jobs.

A job is a plain function of a ``sqlite3.Connection``, run start to end on the connection's
thread (Datasette's ``execute_write_fn`` is the model). A write therefore runs as one function
with its transaction inside: no transaction spans an ``await``, so no other task's statement can
land inside somebody else's transaction, and no lock is needed to prevent it — the writer's
single thread runs one job at a time, in the order they were sent.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import TypeVar

from collector.store.errors import StoreError

T = TypeVar("T")
Job = Callable[[sqlite3.Connection], T]

FAULTS = (sqlite3.Error, OSError, ValueError, OverflowError)
"""What a database can raise for reasons outside our control (locked, full, corrupt, gone);
callers handle one ``StoreError`` whatever it was, with a message that never carries hit data."""


class Connection:
    def __init__(self, path: Path, pragmas: Sequence[str], name: str) -> None:
        self.path, self.pragmas, self.name = path, tuple(pragmas), name
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"crumbless-{name}")
        self._db: sqlite3.Connection | None = None

    async def open(self) -> None:
        await self._on_thread(self._connect)

    def _connect(self) -> None:
        db = sqlite3.connect(self.path, isolation_level=None)
        db.row_factory = sqlite3.Row
        try:
            for pragma in self.pragmas:
                db.execute(pragma)
        except BaseException:
            db.close()
            raise
        self._db = db

    async def run(self, job: Job[T], what: str) -> T:
        """``job(connection)`` on this connection's thread; a database fault becomes a StoreError."""

        def call() -> T:
            if self._db is None:
                raise StoreError("the store is not open")
            return job(self._db)

        try:
            return await self._on_thread(call)
        except FAULTS as exc:
            raise StoreError(f"{what} failed: {exc}") from None

    async def close(self) -> None:
        def close() -> None:
            db, self._db = self._db, None
            if db is not None:
                db.close()

        try:
            await self._on_thread(close)
        finally:
            self._thread.shutdown(wait=True)

    async def _on_thread(self, call: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._thread, call)


def transaction(db: sqlite3.Connection, work: Callable[[sqlite3.Connection], T], mode: str = "IMMEDIATE") -> T:
    """``work`` inside one transaction: all of it, or none of it."""
    db.execute(f"BEGIN {mode}")
    try:
        result = work(db)
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
    return result


def in_transaction(work: Callable[[sqlite3.Connection], T]) -> Job[T]:
    return partial(transaction, work=work)

"""The store shares one writing connection between the flusher, housekeeping and the dashboard.

A transaction spans several awaits on that connection, so without care another task's statement
runs inside it: a write would be committed or rolled back with somebody else's batch, and a WAL
checkpoint (after erasing a salt) fails with "database table is locked" — leaving the erased
salt's old page images in the WAL.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from collector.aggregator import PAGEVIEWS, Aggregator
from collector.store.sqlite import SQLiteStore


def big_batch(site: int, day: int) -> Aggregator:
    counts = Aggregator(max_values=1_000_000)
    for i in range(20_000):
        counts.add(site, day, "page", f"/page/{i}", PAGEVIEWS, 1)
    return counts


def test_writes_from_other_tasks_wait_for_an_open_transaction(tmp_path: Path) -> None:
    path = tmp_path / "crumbless.db"

    async def scenario() -> None:
        store = SQLiteStore(path)
        await store.open()
        try:
            site = await store.add_site("example.com", "example.com", "UTC", [])
            await store.add_user("ann", "argon2-hash", "admin")
            await store.save_salt(site.id, 100, b"\x01" * 32)
            batch = big_batch(site.id, 101).drain()
            await asyncio.gather(
                store.write_counts(batch),
                store.erase_salts(site.id, 101),
                store.end_session("ab" * 32, 2_000_000_000, 1_000_000_000),
            )
        finally:
            await store.close()

    asyncio.run(scenario())
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT count(*) FROM daily WHERE dim = 'page'").fetchone()[0] == 20_000
        assert db.execute("SELECT count(*) FROM salts").fetchone()[0] == 0
        assert db.execute("SELECT count(*) FROM ended_sessions").fetchone()[0] == 1
    wal = path.with_name(path.name + "-wal")
    assert not wal.exists() or b"\x01" * 32 not in wal.read_bytes()

"""The SQLite store's writes: what a flush stores, and how writers share one connection.

The store shares one writing connection between the flusher, housekeeping and the dashboard.
A transaction spans several awaits on that connection, so without care another task's statement
runs inside it: a write would be committed or rolled back with somebody else's batch, and a WAL
checkpoint (after erasing a salt) fails with "database table is locked" — leaving the erased
salt's old page images in the WAL.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from collector.aggregator import Aggregator, Batch
from collector.model import BY_CODE, COUNTERS, HOURLY_COUNTERS, PAGEVIEWS
from collector.config import for_database
from collector.store import opened_store


def big_batch(site: int, day: int) -> Aggregator:
    counts = Aggregator()
    for i in range(20_000):
        counts.add(site, day, "page", f"/page/{i}", PAGEVIEWS, 1)
    return counts


def test_writes_from_other_tasks_wait_for_an_open_transaction(tmp_path: Path) -> None:
    path = tmp_path / "crumbless.db"

    async def scenario() -> None:
        async with opened_store(for_database(path)) as store:
            site = await store.add_site("example.com", "example.com", "UTC", [])
            await store.add_user("ann", "argon2-hash", "admin")
            await store.save_salt(site.id, 100, b"\x01" * 32)
            batch = big_batch(site.id, 101).drain()
            await asyncio.gather(
                store.write_counts(batch),
                store.erase_salts(site.id, 101),
                store.end_session("ab" * 32, 2_000_000_000, 1_000_000_000),
            )

    asyncio.run(scenario())
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT count(*) FROM daily WHERE dim = 1").fetchone()[0] == 20_000
        assert db.execute("SELECT count(*) FROM salts").fetchone()[0] == 0
        assert db.execute("SELECT count(*) FROM ended_sessions").fetchone()[0] == 1
    wal = path.with_name(path.name + "-wal")
    assert not wal.exists() or b"\x01" * 32 not in wal.read_bytes()


# Any text a value can hold: urls.clean_text leaves no controls and no lone surrogates, and the
# counting rules add only the event_prop separator, \x1f. (SQLite's JSON functions would cut a
# value at a NUL, which therefore never gets this far.)
texts = st.text(st.characters(exclude_categories=("Cs", "Cc"), include_characters="\x1f"), max_size=40)
counters = st.lists(st.integers(-(2**40), 2**40), min_size=len(COUNTERS), max_size=len(COUNTERS))


@settings(max_examples=25, deadline=None)
@given(st.dictionaries(st.tuples(st.sampled_from(["page", "source", "event_prop"]), texts), counters, min_size=1, max_size=30))
def test_a_flush_stores_every_value_and_counter_exactly(tmp_path_factory: object, rows: dict[tuple[str, str], list[int]]) -> None:
    path = tmp_path_factory.mktemp("store") / "crumbless.db"  # type: ignore[attr-defined]
    batch = Batch(
        daily={(1, 20_000, dim, value): row for (dim, value), row in rows.items()},
        hourly={(1, 480_000): [1, 2, 3, 4, 5]},
    )

    async def write_twice() -> None:
        async with opened_store(for_database(path)) as store:
            await store.add_site("example.com", "example.com", "UTC", ())  # site 1: rows of no site are not kept
            await store.write_counts(batch)
            await store.write_counts(batch)  # the second adds to the first

    asyncio.run(write_twice())
    with sqlite3.connect(path) as db:
        query = f"SELECT d.dim, v.value, {', '.join('d.' + c for c in COUNTERS)} FROM daily AS d JOIN dim_values AS v ON v.id = d.value"
        stored = {(BY_CODE[dim].key, value): list(row) for dim, value, *row in db.execute(query)}
        months = {(BY_CODE[dim].key, value): list(row) for dim, value, *row in db.execute(query.replace("daily", "monthly", 1))}
        hourly = db.execute(f"SELECT {', '.join(HOURLY_COUNTERS)} FROM hourly").fetchall()
    assert stored == {key: [2 * n for n in row] for key, row in rows.items() if any(row)}
    assert months == stored, "a day's rows are its month's roll-up, written in the same transaction"
    assert hourly == [(2, 4, 6, 8, 10)]

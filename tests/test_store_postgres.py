"""What only the PostgreSQL store promises: it keeps no salts, survives its server restarting, and
its errors say what failed without a value from the data or the URL's password.

The contract it shares with SQLite is ``tests/test_store_contract.py``; these run on the private
server of ``tests/services.py``, which they stop and restart.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest

from collector.aggregator import Batch
from collector.config import Settings
from collector.model import COUNTERS, PAGEVIEWS
from collector.store import SaltStore, StoreError, opened_store
from collector.store.migrations import LATEST, POSTGRES_MIGRATIONS, POSTGRES_SCHEMA
from collector.store.postgres import WAIT_S
from tests.services import PostgresServer, free_port, postgres_settings

DAY = 20_500


@pytest.fixture
def settings(postgres_url: str, tmp_path: Path) -> Settings:
    return postgres_settings(postgres_url, tmp_path)


def pageviews(site: int, n: int = 1) -> Batch:
    row = [0] * len(COUNTERS)
    row[PAGEVIEWS] = n
    return Batch(daily={(site, DAY, "total", ""): row, (site, DAY, "page", "/"): list(row)})


def test_every_schema_version_has_its_postgres_twin() -> None:
    """The SQLite migrations and the PostgreSQL schema must not drift apart: a new migration needs both."""
    versions = [POSTGRES_SCHEMA[0], *(version for version, _ in POSTGRES_MIGRATIONS)]
    assert versions == sorted(versions) and versions[-1] == LATEST


def test_no_salt_is_ever_kept_in_postgres(settings: Settings) -> None:
    async def work() -> tuple[bool, bool, list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        async with opened_store(settings) as store:
            tables = await store.execute_write_fn(  # type: ignore[attr-defined]
                lambda db: db.execute(
                    "SELECT table_name FROM information_schema.tables WHERE table_name LIKE '%salt%'"
                ).fetchall()
            )
            version = await store.execute_write_fn(  # type: ignore[attr-defined]
                lambda db: db.execute("SELECT version FROM schema_version ORDER BY version").fetchall()
            )
            return isinstance(store, SaltStore), await store.erases_securely(), tables, version

    created = [(POSTGRES_SCHEMA[0],), *((version,) for version, _ in POSTGRES_MIGRATIONS)]
    assert asyncio.run(work()) == (False, False, [], created)
    assert created[-1] == (LATEST,)


def test_collectors_starting_at_once_create_the_schema_once(settings: Settings) -> None:
    async def start() -> None:
        async with opened_store(settings) as store:
            await store.user_count()

    async def together() -> None:
        await asyncio.gather(*(start() for _ in range(4)))

    asyncio.run(together())
    with psycopg.connect(settings.database_url) as db:
        versions = db.execute("SELECT version FROM schema_version ORDER BY version").fetchall()
        assert versions == [(POSTGRES_SCHEMA[0],), *((version,) for version, _ in POSTGRES_MIGRATIONS)]


def test_the_store_outlives_a_server_restart_and_a_retried_flush_counts_once(
    postgres_server: PostgresServer, settings: Settings
) -> None:
    async def work() -> tuple[int, float, int]:
        async with opened_store(settings) as store:
            site = (await store.add_site("example.com", "example.com", "UTC", ())).id
            await store.write_counts(pageviews(site))
            postgres_server.restart()  # every pooled connection is now dead
            await store.write_counts(pageviews(site))
            postgres_server.stop()
            batch = pageviews(site, 10)
            began = time.monotonic()
            with pytest.raises(StoreError):
                await store.write_counts(batch)
            waited = time.monotonic() - began
            postgres_server.start()
            for _ in range(50):  # the flusher retries the same batch, as it is
                try:
                    await store.write_counts(batch)
                    break
                except StoreError:
                    await asyncio.sleep(0.2)
            await store.write_counts(batch)  # had the answer of the last try been lost
            return (await store.totals(site, DAY, DAY))["pageviews"], waited, len(await store.sites())

    total, waited, sites = asyncio.run(work())
    assert (total, sites) == (12, 1)
    assert waited < WAIT_S + 5


def test_errors_name_the_failure_not_the_data(settings: Settings) -> None:
    async def work() -> str:
        async with opened_store(settings) as store:
            await store.add_user("ann", "hash", "admin")
            ann = await store.user_by_name("ann")
            assert ann is not None
            with pytest.raises(StoreError) as failed:
                await store.set_grants(ann.id, [987654321])  # no such site
            return str(failed.value)

    message = asyncio.run(work())
    assert message == "set_grants failed: ForeignKeyViolation (SQLSTATE 23503)"


def test_an_unreachable_server_is_named_without_its_password(tmp_path: Path) -> None:
    url = f"postgresql://crumbless:not-for-your-eyes@127.0.0.1:{free_port()}/crumbless"

    async def work() -> None:
        async with opened_store(postgres_settings(url, tmp_path)):
            pass

    with pytest.raises(StoreError) as failed:
        asyncio.run(work())
    message = str(failed.value)
    assert "not-for-your-eyes" not in message and "crumbless:***@127.0.0.1" in message
    assert "Connection refused" in message


def test_batch_ids_older_than_a_day_are_pruned(settings: Settings) -> None:
    async def work() -> list[tuple[Any, ...]]:
        async with opened_store(settings) as store:
            site = (await store.add_site("example.com", "example.com", "UTC", ())).id
            await store.execute_write_fn(  # type: ignore[attr-defined]
                lambda db: db.execute("INSERT INTO applied_batches (id, day) VALUES ('old', 1), ('older', 0)")
            )
            store._pruned = float("-inf")  # type: ignore[attr-defined]  # as if an hour had passed
            await store.write_counts(pageviews(site))
            return await store.execute_write_fn(  # type: ignore[attr-defined]
                lambda db: db.execute("SELECT id FROM applied_batches WHERE id LIKE 'old%'").fetchall()
            )

    assert asyncio.run(work()) == []

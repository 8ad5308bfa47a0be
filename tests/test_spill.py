"""A stop must not discard acknowledged counters, however long the database stays locked.

The defect: with another process holding a lock on the database, 1,000 acknowledged beacons and
a SIGTERM ended with 0 of them counted, because the final flush retried for ~80 s and gave up
(and a service manager kills a stop long before that). Now the final flush has a budget that
fits the documented stop timeout, spills what it could not write to ``pending-counters.json``,
and the next start counts it exactly once. These tests run the real command against a real
SQLite lock, check the file is as anonymous as the database, and pin down each step of the
restore (merge, crash before the flush, corrupt file) in-process.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import signal
import sqlite3
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from collector import cli, config
from collector.aggregator import Aggregator, Batch
from collector.model import COUNTERS, PAGEVIEWS, VISITORS
from collector.audit import audit
from collector.audit.findings import ADDRESS, SCHEMA, UNCHECKED, Finding
from collector.flusher import STOP_BUDGET_S, Flusher
from collector.guard import OTHER
from collector.state.memory import MemoryState
from collector.identity import visitor_hash
from collector.spill import FILENAME, SET_ASIDE_SUFFIX, TEMPORARY_SUFFIX, SpillFile, decode, encode
from collector.store import Store, StoreError, opened_store
from tests import support
from tests.live_server import REPO, LiveServer, add_site, clean_exit_codes, crumbless_env, stats
from tests.support import FIREFOX, build_geo_db, daily_rows, make_settings, plausible
from tests.test_privacy_e2e import assert_all_counted, make_beacons, read_salts, search_hashes, search_strings, send, site_number, text_needles

DOMAIN = "example.com"
SITE, DAY, HOUR = 1, 20_000, 20_000 * 24
MARGIN_S = 5.0
"""What the documented stop timeout must leave beyond uvicorn's grace and the flush budget: the
spill write, closing the store, and an attempt that started just inside the budget."""


def documented_stop_timeout() -> float:
    unit = (REPO / "docs" / "deployment.md").read_text()
    match = re.search(r"^TimeoutStopSec=(\d+)\s*$", unit, re.MULTILINE)
    assert match, "docs/deployment.md's systemd unit has no TimeoutStopSec"
    return float(match.group(1))


def counters(*pairs: tuple[str, int], hourly: int = 0) -> Batch:
    """A batch like the aggregator's: pageviews (and as many visitors) per page, plus an hourly total."""
    aggregator = Aggregator()
    for page, n in pairs:
        aggregator.add(SITE, DAY, "page", page, PAGEVIEWS, n)
        aggregator.add(SITE, DAY, "page", page, VISITORS, n)
    if hourly:
        aggregator.add_hourly(SITE, HOUR, PAGEVIEWS, hourly)
    return aggregator.drain()


# ── the documented stop timeout and the budget agree ────────────────────────────────────────


def test_the_documented_stop_timeout_holds_the_grace_the_flush_budget_and_a_margin(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, geo_db: Path) -> None:
    """If the unit's TimeoutStopSec were shorter than this sum, systemd would SIGKILL a stop that was about to spill."""
    import uvicorn

    seen: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: seen.update(options))
    monkeypatch.setattr("collector.logs.configure", lambda level: None)
    cli.serve(make_settings(tmp_path / "data", geo_db), cli.parser().parse_args(["serve"]))
    grace = float(seen["timeout_graceful_shutdown"])
    assert documented_stop_timeout() >= grace + STOP_BUDGET_S + MARGIN_S, (grace, STOP_BUDGET_S)


# ── the file: format, atomic write, and what a bad one does ─────────────────────────────────


def test_a_batch_survives_the_file_exactly(tmp_path: Path) -> None:
    aggregator = Aggregator()
    odd = ["/", "/caf\u00e9?utm_source=x", "Signup\x1fplan\x1fpro", "/\ud800lone", "(other)"]
    for i, value in enumerate(odd):
        aggregator.add(SITE, DAY + i, "event_prop" if "\x1f" in value else "page", value, i % len(COUNTERS), -3 if i == 2 else 40 + i)
    aggregator.add_hourly(2, HOUR + 5, VISITORS, 7)
    aggregator.add(SITE, DAY, "page", "/zero", PAGEVIEWS, 0)  # an all-zero row changes nothing: left out
    batch = aggregator.drain()
    spill = SpillFile(tmp_path)
    assert spill.save(batch)
    restored = decode(spill.path.read_bytes())
    assert restored.hourly == batch.hourly
    assert restored.daily == {k: v for k, v in batch.daily.items() if any(v)}
    assert spill.path.stat().st_mode & 0o777 == 0o600
    assert spill.path.read_bytes().isascii()
    assert not (tmp_path / (FILENAME + TEMPORARY_SUFFIX)).exists()


def test_a_file_written_with_fewer_counters_still_counts(tmp_path: Path) -> None:
    """Counters are matched by name, so an upgrade that adds one does not orphan a spilled file."""
    document = json.loads(encode(counters(("/a", 2))))
    document["daily"]["columns"] = ["site", "day", "dim", "value", "pageviews"]
    document["daily"]["rows"] = [[SITE, DAY, "page", "/a", 2]]
    batch = decode(json.dumps(document).encode())
    assert batch.daily[(SITE, DAY, "page", "/a")][PAGEVIEWS] == 2 and sum(batch.daily[(SITE, DAY, "page", "/a")]) == 2


def _spoiled(change: str) -> bytes:
    good = encode(counters(("/a", 2), hourly=2))
    document = json.loads(good)
    if change == "truncated":
        return good[: len(good) // 2]
    if change == "binary":
        return b"\x00\xff\xfe" * 50
    if change == "deeply nested":
        return b"[" * 100_000
    if change == "an extra field":
        document["visitors"] = ["192.0.2.44"]
    elif change == "another version":
        document["version"] = 99
    elif change == "a text counter":
        document["daily"]["rows"][0][-1] = "3"
    elif change == "a boolean counter":
        document["hourly"]["rows"][0][-1] = True
    elif change == "a negative site":
        document["daily"]["rows"][0][0] = -1
    elif change == "a longer row":
        document["daily"]["rows"][0].append(5)
    elif change == "an unknown column":
        document["hourly"]["columns"][-1] = "user_agent"
    elif change == "not an object":
        document = [document]
    return json.dumps(document).encode()


SPOILS = ["truncated", "binary", "deeply nested", "an extra field", "another version", "a text counter", "a boolean counter",
          "a negative site", "a longer row", "an unknown column", "not an object"]


@pytest.mark.parametrize("change", SPOILS)
def test_a_file_crumbless_did_not_write_is_set_aside_with_one_clear_line(tmp_path: Path, change: str, caplog: pytest.LogCaptureFixture) -> None:
    spill = SpillFile(tmp_path)
    spill.path.write_bytes(_spoiled(change))
    with caplog.at_level(logging.INFO, logger="crumbless.spill"):
        assert spill.load() is None
    assert not spill.path.exists()
    [aside] = [p for p in tmp_path.iterdir() if p.name.startswith(FILENAME + SET_ASIDE_SUFFIX)]
    assert aside.read_bytes() == _spoiled(change), "the file is kept for the operator, untouched"
    [line] = caplog.records
    assert line.levelno == logging.ERROR and aside.name in line.getMessage() and "starting without its counters" in line.getMessage()
    assert "192.0.2" not in line.getMessage(), "the log must not repeat what the file holds"


def test_a_temporary_file_a_crash_left_mid_write_is_not_counted(tmp_path: Path) -> None:
    """Renaming is the commit: a half-written temporary file never counts, the file before it does."""
    spill = SpillFile(tmp_path)
    assert spill.save(counters(("/a", 2)))
    temporary = tmp_path / (FILENAME + TEMPORARY_SUFFIX)
    temporary.write_bytes(encode(counters(("/a", 2), ("/b", 9)))[:40])
    batch = spill.load()
    assert batch is not None and batch.daily == counters(("/a", 2)).daily
    assert not temporary.exists()


# ── restoring: merged, written once, and removed only once written ─────────────────────────


class Deployment:
    """A data directory with a database and one site, for flushers built the way the lifespan builds them."""

    def __init__(self, root: Path, geo_db: Path) -> None:
        self.settings = make_settings(root / "data", geo_db)
        self.spill = SpillFile(self.settings.data_dir)
        assert support.add_site(self.settings, DOMAIN).id == SITE

    @contextlib.asynccontextmanager
    async def store(self) -> AsyncIterator[Store]:
        """Opened inside the test's own event loop, as the lifespan opens it."""
        async with opened_store(self.settings) as store:
            yield store

    def flusher(self, store: Store, budget: float = STOP_BUDGET_S) -> Flusher:
        flusher = Flusher(Aggregator(), store, 3600, self.spill, budget)
        flusher.restore_spilled()
        return flusher

    def pageviews(self) -> dict[str, int]:
        return {value: row["pageviews"] for (day, dim, value), row in daily_rows(self.settings.database, SITE).items() if dim == "page"}


@pytest.fixture
def deployment(tmp_path: Path, geo_db: Path) -> Deployment:
    return Deployment(tmp_path, geo_db)


class LockedStore:
    """A store whose every write fails after ``delay`` seconds, as a locked SQLite does after its busy timeout."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.attempts = 0

    async def write_counts(self, batch: Batch) -> None:
        self.attempts += 1
        await asyncio.sleep(self.delay)
        raise StoreError("write_counts failed: database is locked")


def test_restored_counters_merge_with_stored_and_new_ones_and_the_file_goes(deployment: Deployment) -> None:
    async def scenario() -> None:
        async with deployment.store() as store:
            await store.write_counts(counters(("/a", 5)))
            assert deployment.spill.save(counters(("/a", 2), ("/b", 3), hourly=5))
            flusher = Flusher(Aggregator(), store, 3600, deployment.spill)
            restored = flusher.restore_spilled()
            assert restored is not None
            state = MemoryState(10, max_values=2)
            state.seed(restored.daily)                                          # as the app does
            flusher.aggregator.add(SITE, DAY, "page", "/a", PAGEVIEWS, 1)      # counted after the start
            assert deployment.spill.path.exists(), "kept until its counters are written"
            assert await flusher.flush()
            assert not deployment.spill.path.exists()
            assert state.guard.fold(SITE, DAY, "page", "/b") == "/b"          # restored values are known to the guard
            assert state.guard.fold(SITE, DAY, "page", "/c") == OTHER        # and count against its bound

    asyncio.run(scenario())
    assert deployment.pageviews() == {"/a": 5 + 2 + 1, "/b": 3}


async def start_and_flush(deployment: Deployment) -> None:
    async with deployment.store() as store:
        assert await deployment.flusher(store).flush()


def test_a_crash_between_restore_and_flush_neither_loses_nor_doubles(deployment: Deployment) -> None:
    """The file outlives a process that restored it but never flushed: the next one restores it again, once."""
    assert deployment.spill.save(counters(("/a", 2)))
    deployment.flusher(LockedStore())          # restored, then "killed": nothing written, nothing removed
    assert deployment.spill.path.exists()
    asyncio.run(start_and_flush(deployment))
    asyncio.run(start_and_flush(deployment))   # and the start after finds nothing to restore
    assert deployment.pageviews() == {"/a": 2}


def test_a_failed_flush_keeps_the_file_and_a_later_one_removes_it(deployment: Deployment) -> None:
    assert deployment.spill.save(counters(("/a", 2)))

    async def scenario() -> None:
        flusher = deployment.flusher(LockedStore())
        assert await flusher.flush() is False
        assert deployment.spill.path.exists()
        flusher.aggregator.add(SITE, DAY, "page", "/b", PAGEVIEWS, 1)
        async with deployment.store() as store:
            flusher.store = store
            assert await flusher.flush()
        assert not deployment.spill.path.exists()

    asyncio.run(scenario())
    assert deployment.pageviews() == {"/a": 2, "/b": 1}


def test_a_second_stop_while_still_locked_keeps_restored_and_new_counters(deployment: Deployment) -> None:
    """The file is replaced by one holding both, never appended to or lost."""
    assert deployment.spill.save(counters(("/a", 2)))

    async def locked_run() -> None:
        flusher = deployment.flusher(LockedStore(), budget=0.2)
        flusher.aggregator.add(SITE, DAY, "page", "/a", PAGEVIEWS, 1)
        assert await flusher.final_flush() is False

    async def unlocked_run() -> None:
        async with deployment.store() as store:
            assert await deployment.flusher(store).final_flush()

    asyncio.run(locked_run())
    asyncio.run(unlocked_run())
    assert deployment.pageviews() == {"/a": 3}
    assert not deployment.spill.path.exists()


# ── the final flush: bounded, then spilled ──────────────────────────────────────────────────


def test_the_final_flush_stops_trying_within_its_budget_and_spills(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Each try lasts 0.4 s (a busy timeout): 1.5 s hold two tries and their pause, not a third."""
    store = LockedStore(delay=0.4)
    spill = SpillFile(tmp_path)
    flusher = Flusher(Aggregator(), store, 3600, spill, stop_budget=1.5)
    flusher.aggregator.restore(counters(("/a", 4), hourly=4))
    started = time.monotonic()
    with caplog.at_level(logging.WARNING):
        assert asyncio.run(flusher.final_flush()) is False
    took = time.monotonic() - started
    assert store.attempts == 2 and took < 1.5, (store.attempts, took)
    assert decode(spill.path.read_bytes()).daily == counters(("/a", 4)).daily
    assert any("kept in" in r.getMessage() and FILENAME in r.getMessage() for r in caplog.records)


def test_a_stop_waits_for_the_write_it_interrupted_instead_of_losing_its_batch(tmp_path: Path) -> None:
    """Cancelling the flush loop mid-write would drop the batch it had drained; the stop waits for it."""
    spill = SpillFile(tmp_path)
    flusher = Flusher(Aggregator(), LockedStore(delay=0.3), 0.01, spill, stop_budget=0.1)
    flusher.aggregator.restore(counters(("/a", 4)))

    async def stop_during_a_write() -> None:
        loop = asyncio.create_task(flusher.run())
        await asyncio.sleep(0.1)               # the periodic flush is now waiting on the "lock"
        loop.cancel()
        await asyncio.gather(loop, return_exceptions=True)
        assert await flusher.final_flush() is False

    asyncio.run(stop_during_a_write())
    assert decode(spill.path.read_bytes()).daily == counters(("/a", 4)).daily


def test_nothing_is_spilled_when_the_store_takes_the_counters(deployment: Deployment) -> None:
    async def scenario() -> None:
        async with deployment.store() as store:
            flusher = deployment.flusher(store)
            flusher.aggregator.restore(counters(("/a", 1)))
            assert await flusher.final_flush()

    asyncio.run(scenario())
    assert not deployment.spill.path.exists() and deployment.pageviews() == {"/a": 1}


# ── the audit knows the file ────────────────────────────────────────────────────────────────


def audit_findings(data_dir: Path, geo_db: Path) -> list[Finding]:
    return audit(make_settings(data_dir, geo_db)).findings


def test_the_audit_reads_a_spill_file_of_counters_as_clean(tmp_path: Path, geo_db: Path) -> None:
    SpillFile(tmp_path).save(counters(("/pricing", 2), ("/docs/v1.2.3", 1), hourly=3))
    assert audit_findings(tmp_path, geo_db) == []


def test_the_audit_reports_anything_in_the_spill_file_that_is_not_a_counter_row(tmp_path: Path, geo_db: Path) -> None:
    (tmp_path / FILENAME).write_bytes(_spoiled("an extra field"))
    findings = audit_findings(tmp_path, geo_db)
    assert any(f.kind == SCHEMA and FILENAME in f.where and "'visitors'" in f.where for f in findings), findings
    assert any(f.kind == ADDRESS and f.address == "192.0.2.44" for f in findings), "still read for addresses"


def test_the_audit_judges_spilled_values_as_it_judges_stored_ones(tmp_path: Path, geo_db: Path) -> None:
    batch = counters(("/ip/198.51.100.7", 1), ("0123456789abcdef", 1))
    batch.daily[(SITE, DAY, "page", "/a")] = [1 << 60] + [0] * (len(COUNTERS) - 1)
    SpillFile(tmp_path).save(batch)
    found = {(f.kind, f.where.split(f"{FILENAME} ", 1)[-1].split(" ")[0]) for f in audit_findings(tmp_path, geo_db)}
    assert {(ADDRESS, "daily.value"), (SCHEMA, "daily.value"), (SCHEMA, "daily.visitors")} <= found, found


def test_the_audit_reports_a_set_aside_file_until_it_is_removed(tmp_path: Path, geo_db: Path) -> None:
    (tmp_path / FILENAME).write_bytes(_spoiled("truncated"))
    assert SpillFile(tmp_path).load() is None
    [finding] = audit_findings(tmp_path, geo_db)
    assert finding.kind == UNCHECKED and SET_ASIDE_SUFFIX in finding.where


# ── the defect, end to end: a real server, a real lock, a real SIGTERM ─────────────────────


@contextlib.contextmanager
def database_lock(database: Path) -> Iterator[None]:
    """Another process's write lock, as a backup tool or a stray ``sqlite3`` shell would hold it."""
    locker = sqlite3.connect(database, isolation_level=None)
    try:
        locker.execute("BEGIN EXCLUSIVE")
        yield
        locker.execute("ROLLBACK")
    finally:
        locker.close()


def test_sigterm_while_the_database_stays_locked_loses_no_acknowledged_hit(tmp_path: Path) -> None:
    pageviews = 1000
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    database, spill = data_dir / "crumbless.db", data_dir / FILENAME
    geo_db = build_geo_db(data_dir / "dbip-country.mmdb")
    env = crumbless_env(data_dir, geo_db, flush_interval="3600", log_level="info")
    website_id = add_site(env, DOMAIN, cwd=tmp_path)
    beacons = [b for b in make_beacons(website_id, pageviews * 4 // 3 + 4) if not b.event][:pageviews]
    server = LiveServer(env, tmp_path)
    timeout = documented_stop_timeout()
    try:
        server.start()
        assert_all_counted(beacons[:1], send(server, beacons[:1], workers=1))  # today's salt is stored before the lock
        with database_lock(database):
            assert_all_counted(beacons[1:], send(server, beacons[1:]))
            started = time.monotonic()
            code = server.stop(signal.SIGTERM, timeout=timeout)
            took = time.monotonic() - started
            log = server.stderr_text()
            assert code in clean_exit_codes(signal.SIGTERM), log[-3000:]
            assert took < timeout, f"the stop took {took:.1f}s, the documented unit kills it after {timeout:.0f}s"
            logging.getLogger(__name__).info("SIGTERM with the database locked: stopped in %.1fs", took)
            assert re.search(rf"WARNING crumbless\.flush: .* counter rows kept in \S*{FILENAME}", log), log[-3000:]
            assert "Traceback" not in log, log[-3000:]
            salt = read_salts(database)[0][2]            # readers still read: the lock only stops writers

        # ── the file: counters only, private ──
        assert spill.stat().st_mode & 0o777 == 0o600
        contents = {FILENAME: spill.read_bytes()}
        site = site_number(database, DOMAIN)
        hashes = {visitor_hash(salt, site, str(b.address), b.user_agent): f"visitor hash of {b.address}" for b in beacons}
        leaks = search_strings(contents, text_needles(beacons)) + search_hashes(contents, hashes)
        assert not leaks, "\n".join(map(str, leaks[:10]))
        assert not [f for f in audit(config.load(env)).findings if FILENAME in f.where]
        assert stats(env, DOMAIN, cwd=tmp_path)["totals"]["pageviews"] == 0, "the file is the only place these hits are"

        # ── the next start counts them, once ──
        server.env["CRUMBLESS_FLUSH_INTERVAL"] = "1"
        server.start()
        deadline = time.monotonic() + 20
        while (spill.exists() or stats(env, DOMAIN, cwd=tmp_path)["totals"]["pageviews"] < pageviews) and time.monotonic() < deadline:
            time.sleep(0.3)
        assert not spill.exists(), "removed once its counters are written"
        assert "restored" in server.stderr_text()
        assert server.stop() in clean_exit_codes(signal.SIGTERM)
        server.start()                                   # nothing left to restore: no double count
        assert server.stop() in clean_exit_codes(signal.SIGTERM)
        assert "restored" not in server.stderr_text()
        totals = stats(env, DOMAIN, cwd=tmp_path)["totals"]
        assert (totals["pageviews"], totals["visitors"], totals["visits"]) == (pageviews, pageviews, pageviews), totals
        assert not [p.name for p in data_dir.iterdir() if p.name.startswith(FILENAME)]
    finally:
        server.kill()


def test_a_corrupt_spill_file_does_not_stop_the_server_from_starting(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    geo_db = build_geo_db(data_dir / "dbip-country.mmdb")
    env = crumbless_env(data_dir, geo_db, flush_interval="3600", log_level="info")
    add_site(env, DOMAIN, cwd=tmp_path)
    (data_dir / FILENAME).write_bytes(_spoiled("truncated"))
    server = LiveServer(env, tmp_path)
    try:
        server.start()
        [line] = [line for line in server.stderr_text().splitlines() if FILENAME in line]
        assert " ERROR crumbless.spill: " in line and "moved it to " in line, line
        assert [p.name for p in data_dir.iterdir() if p.name.startswith(FILENAME)][0].startswith(FILENAME + SET_ASIDE_SUFFIX)
        with httpx.Client(base_url=server.base_url, trust_env=False, timeout=5) as http:
            answer = http.post("/api/event", content=plausible(DOMAIN, f"https://{DOMAIN}/"), headers={"Content-Type": "text/plain", "User-Agent": FIREFOX})
        assert answer.status_code == 202 and "x-crumbless-dropped" not in answer.headers
        assert server.stop() in clean_exit_codes(signal.SIGTERM)
    finally:
        server.kill()
    assert stats(env, DOMAIN, cwd=tmp_path)["totals"]["pageviews"] == 1


def test_each_process_on_a_data_directory_spills_to_a_slot_of_its_own(tmp_path: Path) -> None:
    """``serve --workers N``: N processes, one data directory; a stop of each must not overwrite another's."""
    from collector.spill import claim, is_spill_name

    first, second = claim(tmp_path), claim(tmp_path)
    assert (first.path.name, second.path.name) == (FILENAME, "pending-counters-1.json")
    assert first.save(counters(("/a", 1))) and second.save(counters(("/b", 2)))
    first.release()
    again = claim(tmp_path)  # a worker started again takes the free slot, and what was left in it
    assert again.path == first.path and again.load() == counters(("/a", 1))
    assert is_spill_name(second.path.name) and not is_spill_name("pending-counters-0.lock")
    again.release()
    second.release()

"""Daily salts: stored for the open day only, then erased so their bytes are gone from disk."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from tests.conftest import Server
from tests.support import plausible


def salts(database: Path) -> list[tuple[int, int, bytes]]:
    db = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        return [(s, d, bytes(b)) for s, d, b in db.execute("SELECT site, day, salt FROM salts")]
    finally:
        db.close()


def disk_bytes(database: Path) -> bytes:
    return b"".join(p.read_bytes() for p in database.parent.glob(database.name + "*") if p.is_file())


def test_salt_is_erased_from_file_and_wal_when_the_day_closes(server: Server) -> None:
    database = server.settings.database
    assert server.post("/api/event", plausible("example.com", "https://example.com/")).status_code == 202
    server.flush()
    [(site, day, salt)] = salts(database)
    assert len(salt) == 32
    assert salt in disk_bytes(database), "the salt should be on disk while its day is open"

    server.clock.advance(24 * 3600)
    server.call(server.state.housekeeping.close_days)

    assert salts(database) == []
    assert salt not in disk_bytes(database)
    wal = database.with_name(database.name + "-wal")
    assert not wal.exists() or wal.stat().st_size == 0


def test_new_day_gets_a_new_salt_and_new_hashes(server: Server) -> None:
    beacon = plausible("example.com", "https://example.com/")
    server.post("/api/event", beacon)
    server.flush()
    [(_, day1, salt1)] = salts(server.settings.database)
    server.clock.advance(24 * 3600)
    server.call(server.state.housekeeping.close_days)
    server.post("/api/event", beacon)
    server.flush()
    [(_, day2, salt2)] = salts(server.settings.database)
    assert day2 == day1 + 1 and salt2 != salt1
    assert len(server.state.day_state) == 1   # yesterday's record is gone


def test_salt_follows_the_sites_local_day(server: Server) -> None:
    from tests.support import add_site

    tokyo = add_site(server.settings, "tokyo.example", timezone="Asia/Tokyo")
    server.call(server.state.collector.sites.refresh)
    server.clock.now = server.clock.now - server.clock.now % 86400 + 14 * 3600 + 30 * 60  # 14:30 UTC = 23:30 Tokyo
    server.post("/api/event", plausible("tokyo.example", "https://tokyo.example/"))
    server.flush()
    [(_, day_before, salt)] = [s for s in salts(server.settings.database) if s[0] == tokyo.id]
    server.clock.advance(60 * 60)                      # 00:30 in Tokyo, still the same UTC day
    server.call(server.state.housekeeping.close_days)
    assert [s for s in salts(server.settings.database) if s[0] == tokyo.id] == []
    assert salt not in disk_bytes(server.settings.database)


def test_database_outage_loses_no_counted_hit(server: Server) -> None:
    """A locked database delays the flush; the batch stays in memory and lands on the next try."""
    server.call(server.state.store.execute_write_fn, lambda db: db.execute("PRAGMA busy_timeout=50"))
    for i in range(3):
        server.post("/api/event", plausible("example.com", f"https://example.com/{i}"), peer=f"192.0.2.{i + 1}")
    blocker = sqlite3.connect(server.settings.database)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        assert server.call(server.state.flusher.flush) is False
        server.post("/api/event", plausible("example.com", "https://example.com/late"), peer="192.0.2.99")
        assert server.state.collector.aggregator.pending() > 0
    finally:
        blocker.rollback()
        blocker.close()
    rows = server.rows()
    day = next(iter(rows))[0]
    assert rows[(day, "total", "")]["pageviews"] == 4
    assert rows[(day, "total", "")]["visitors"] == 4

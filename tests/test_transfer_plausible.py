"""``crumbless export plausible`` and ``crumbless import plausible``, as an operator runs them.

A site is counted from a generated beacon stream by the real app (real SQLite file), exported
by the real command, and imported by it into a fresh site: the rows must come back identical.
The ledger (refusal, --replace, --dry-run), a SIGKILL in the middle of an import, and broken
zips are each shown to leave the site exactly as it was.
"""

from __future__ import annotations

import csv
import io
import signal
import subprocess
import time
import zipfile
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from collector.config import Settings
from collector.model import SEGMENT_BY_KEY
from collector.transfer.plausible_zip import MAX_MEMBER_BYTES
from tests.conftest import Server
from tests.live_server import EVERY_CELL_KEPT, crumbless_command, crumbless_env, run_cli
from tests.support import daily_rows
from tests.transfer_support import DOMAIN, PLAUSIBLE_DIMENSIONS, cli, stream

START = int(datetime(2026, 6, 1, tzinfo=UTC).timestamp())
NOT_IN_FORMAT = {"device", "language", "event_prop", "dropped", *SEGMENT_BY_KEY}
"""Dimensions Plausible's format has no table for (docs/import.md): segment cells neither."""


def send_stream(server: Server) -> None:
    for event in stream(START):
        server.clock.now = event.ts
        answer = server.post(
            "/api/event", event.plausible_body(), peer=event.person.address, user_agent=event.person.user_agent
        )
        assert answer.status_code == 202, answer.text
    server.flush()


def carried(rows: dict[tuple[int, str, str], dict[str, int]]) -> dict[tuple[int, str, str], dict[str, int]]:
    return {key: row for key, row in rows.items() if key[1] not in NOT_IN_FORMAT}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The server's too (see ``env``): its housekeeping would fold the stream's closed days mid-test."""
    return replace(settings, segment_min_visitors=1)


@pytest.fixture
def env(server: Server, geo_db: Path) -> dict[str, str]:
    # Imports fold the past days' small segment cells; this server's clock never closes its days,
    # so its live rows would be folded by the first import: keep every cell (the fold has its own tests).
    return crumbless_env(server.settings.data_dir, geo_db, access_log="off", **EVERY_CELL_KEPT)


def test_round_trip_gives_back_every_row(server: Server, env: dict[str, str], tmp_path: Path) -> None:
    send_stream(server)
    original = daily_rows(server.settings.database, server.site.id)
    out = tmp_path / "export.zip"
    exported = run_cli(env, "export", "plausible", "--site", DOMAIN, str(out), cwd=tmp_path).stdout
    assert "exported example.com, 2026-06-01 to" in exported
    assert "not in Plausible's format, left out: device" in exported
    with zipfile.ZipFile(out) as archive:
        names = sorted(archive.namelist())
        assert len(names) == 10 and all(n.endswith(".csv") and "_20260601_" in n for n in names)

    run_cli(env, "site", "add", "copy.example", cwd=tmp_path)
    imported = run_cli(env, "import", "plausible", str(out), "--site", "copy.example", cwd=tmp_path).stdout
    assert "as import #1, 2026-06-01 to 2026-06-0" in imported
    assert "not in the zip: devices by User-Agent and languages" in imported
    copy_id = max(site for site, *_ in _sites(server))
    copied = daily_rows(server.settings.database, copy_id)
    assert carried(copied) == carried(original)
    assert len(carried(original)) > 80  # every dimension the format carries, over four days
    assert {key[1] for key in carried(original)} == PLAUSIBLE_DIMENSIONS
    assert not {key[1] for key in copied} & NOT_IN_FORMAT
    # the ledger holds nothing identifying (the stream's old days left their salts, the fake clock's doing)
    findings = [line.strip() for line in cli(env, tmp_path, "audit").stdout.splitlines()[2:] if line.strip()]
    assert findings and all(f.startswith("salt ") or f.startswith("Checked ") for f in findings), findings

    # and what an operator reads: the same totals and lists in `crumbless stats`
    for site in (DOMAIN, "copy.example"):
        assert stats(env, tmp_path, site)["totals"] == stats(env, tmp_path, DOMAIN)["totals"]
    for listing in ("page", "entry_page", "exit_page", *sorted(PLAUSIBLE_DIMENSIONS - {"total", "page"})):
        assert stats(env, tmp_path, "copy.example")["top"][listing] == stats(env, tmp_path, DOMAIN)["top"][listing]


def _sites(server: Server) -> list[tuple[int, str]]:
    import sqlite3

    with sqlite3.connect(server.settings.database) as db:
        return [(int(i), str(d)) for i, d in db.execute("SELECT id, domain FROM sites")]


def stats(env: dict[str, str], cwd: Path, site: str) -> dict[str, object]:
    import json

    out = run_cli(env, "stats", site, "--from", "2026-06-01", "--to", "2026-06-04", "--json", "--limit", "100", cwd=cwd)
    result = json.loads(out.stdout)
    result.pop("site")
    return result  # type: ignore[no-any-return]


def test_ledger_refuses_a_repeat_and_replaces_exactly(server: Server, env: dict[str, str], tmp_path: Path) -> None:
    send_stream(server)
    live = daily_rows(server.settings.database, server.site.id)
    out = tmp_path / "export.zip"
    run_cli(env, "export", "plausible", "--site", DOMAIN, str(out), cwd=tmp_path)

    dry = run_cli(env, "import", "plausible", str(out), "--site", DOMAIN, "--dry-run", cwd=tmp_path).stdout
    assert dry.startswith("dry run, nothing written") and daily_rows(server.settings.database, server.site.id) == live

    # into the site it came from: live and imported counts of a day add up
    run_cli(env, "import", "plausible", str(out), "--site", DOMAIN, cwd=tmp_path)
    doubled = daily_rows(server.settings.database, server.site.id)
    for key, row in carried(live).items():
        assert doubled[key] == {c: 2 * n for c, n in row.items()}, key

    again = cli(env, tmp_path, "import", "plausible", str(out), "--site", DOMAIN)
    assert again.returncode == 1
    assert again.stderr.strip().count("\n") == 0
    assert "already holds import #1 (plausible export.zip)" in again.stderr and "--replace" in again.stderr
    assert daily_rows(server.settings.database, server.site.id) == doubled

    dry = run_cli(env, "import", "plausible", str(out), "--site", DOMAIN, "--dry-run", cwd=tmp_path).stdout
    assert "would be refused: overlaps import #1" in dry

    replaced = run_cli(env, "import", "plausible", str(out), "--site", DOMAIN, "--replace", cwd=tmp_path).stdout
    assert "as import #2" in replaced and "replaced import #1" in replaced
    assert daily_rows(server.settings.database, server.site.id) == doubled


def big_zip(path: Path, days: int = 120, pages: int = 1500) -> int:
    """A valid export of many rows (for timing and for killing mid-way); returns its CSV lines."""
    from collector.transfer.plausible_format import TABLES

    lines = 0
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for table in TABLES:
            buffer = io.StringIO()
            writer = csv.writer(buffer)
            writer.writerow(table.columns)
            for day in range(days):
                when = f"2025-{1 + day // 28:02d}-{1 + day % 28:02d}"
                keys = (
                    range(pages)
                    if table.name in ("imported_pages", "imported_entry_pages", "imported_exit_pages")
                    else range(1)
                )
                for k in keys:
                    writer.writerow(
                        [
                            when
                            if c == "date"
                            else (
                                f"/p/{k}"
                                if c in ("page", "entry_page", "exit_page")
                                else ("x" if c in table.texts else k % 7 + 1)
                            )
                            for c in table.columns
                        ]
                    )
                    lines += 1
            archive.writestr(f"{table.name}_20250101_20251231.csv", buffer.getvalue())
    return lines


def test_killed_import_leaves_the_site_as_it_was(server: Server, env: dict[str, str], tmp_path: Path) -> None:
    """SIGKILL at growing delays: while the zip is read, and after (while the one transaction is
    being written), until an import finishes. Every killed one left the site as it was, unless the
    kill came after its commit, on its way out: then the import is there whole, as if it had ended."""
    send_stream(server)
    before = daily_rows(server.settings.database, server.site.id)
    big = tmp_path / "big.zip"
    big_zip(big, days=60, pages=400)
    started = time.monotonic()
    run_cli(env, "import", "plausible", str(big), "--site", DOMAIN, "--dry-run", cwd=tmp_path, timeout=300)
    read_s = time.monotonic() - started  # the process's start, reading and checking, without writing
    killed_after_reading = 0
    for fraction in (0.5, 1.0, 1.1, 1.2, 1.35, 1.5, 1.7, 2.0, 2.5, 3.0, 4.0, 6.0):
        proc = subprocess.Popen(
            [*crumbless_command(), "import", "plausible", str(big), "--site", DOMAIN],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(read_s * fraction)
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
        if proc.returncode == 0:
            break
        assert proc.returncode == -signal.SIGKILL
        imports = run_cli(env, "import", "list", "--site", DOMAIN, cwd=tmp_path).stdout
        if "import #1" in imports:  # committed before the kill landed
            break
        assert daily_rows(server.settings.database, server.site.id) == before, fraction
        assert "no imports" in imports
        killed_after_reading += fraction > 1.0
    else:
        raise AssertionError("no import finished even at 6 times the reading time")
    assert killed_after_reading >= 1
    assert daily_rows(server.settings.database, server.site.id) != before
    assert "import #1" in run_cli(env, "import", "list", "--site", DOMAIN, cwd=tmp_path).stdout


def test_import_speed(server: Server, env: dict[str, str], tmp_path: Path) -> None:
    big = tmp_path / "big.zip"
    lines = big_zip(big, days=60, pages=1000)
    started = time.monotonic()
    run_cli(env, "import", "plausible", str(big), "--site", DOMAIN, cwd=tmp_path, timeout=300)
    took = time.monotonic() - started
    rows = daily_rows(server.settings.database, server.site.id)
    assert rows[(20089, "page", "/p/3")]["pageviews"] == 4  # 2025-01-01's row of /p/3: k % 7 + 1
    assert rows[(20089, "page", "/p/3")]["exits"] == 4 and rows[(20089, "page", "/p/3")]["entries"] == 4
    print(
        f"plausible import: {lines:,} CSV lines, {len(rows):,} daily rows in {took:.2f} s ({lines / took:,.0f} rows/s)"
    )


# ── broken zips ────────────────────────────────────────────────────────────────────────────────


def good_members(tmp_path: Path, server: Server, env: dict[str, str]) -> dict[str, str]:
    send_stream(server)
    out = tmp_path / "good.zip"
    run_cli(env, "export", "plausible", "--site", DOMAIN, str(out), cwd=tmp_path)
    with zipfile.ZipFile(out) as archive:
        return {name: archive.read(name).decode() for name in archive.namelist()}


def write_zip(path: Path, members: dict[str, str]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, text in members.items():
            archive.writestr(name, text)
    return path


def _member(members: dict[str, str], table: str) -> str:
    return next(name for name in members if name.startswith(table + "_2"))


def _break_line(text: str, line: int, column: int, value: str) -> str:
    rows = list(csv.reader(io.StringIO(text)))
    rows[line - 1][column] = value
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return buffer.getvalue()


BROKEN = {
    "missing": (lambda m: {k: v for k, v in m.items() if "imported_browsers" not in k}, "no imported_browsers file"),
    "extra": (lambda m: {**m, "notes.txt": "hello"}, "notes.txt is not one of Plausible's export files"),
    "malformed": (
        lambda m: {**m, _member(m, "imported_pages"): m[_member(m, "imported_pages")] + '"2026-06-02","x"\n'},
        "fields, the header has 10",
    ),
    "quote": (
        lambda m: {**m, _member(m, "imported_sources"): m[_member(m, "imported_sources")] + '"2026-06-02,"x\n'},
        "imported_sources_20260601_",
    ),
    "wrong type": (
        lambda m: {**m, _member(m, "imported_visitors"): _break_line(m[_member(m, "imported_visitors")], 3, 1, "many")},
        "line 3: visitors 'many' is not a whole number",
    ),
    "negative": (
        lambda m: {**m, _member(m, "imported_devices"): _break_line(m[_member(m, "imported_devices")], 2, 3, "-4")},
        "line 2: visits '-4' is not a whole number",
    ),
    "date out of the file's range": (
        lambda m: {
            **m,
            _member(m, "imported_locations"): _break_line(m[_member(m, "imported_locations")], 2, 0, "2026-07-30"),
        },
        "line 2: date 2026-07-30 is outside 2026-06-01 to 2026-06-0",
    ),
    "future": (
        lambda m: {
            **{k: v for k, v in m.items() if "imported_visitors" not in k},
            "imported_visitors.csv": _break_line(m[_member(m, "imported_visitors")], 2, 0, "2099-01-01"),
        },
        "imported_visitors.csv line 2: date 2099-01-01 is outside 1990-01-01 to ",
    ),
    "not a date": (
        lambda m: {
            **m,
            _member(m, "imported_browsers"): _break_line(m[_member(m, "imported_browsers")], 4, 0, "yesterday"),
        },
        "line 4: date 'yesterday' is not YYYY-MM-DD",
    ),
    "header": (
        lambda m: {**m, _member(m, "imported_custom_events"): "date,name,visitors\n"},
        "line 1: the header lacks link_url, path, events",
    ),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_zip_changes_nothing(case: str, server: Server, env: dict[str, str], tmp_path: Path) -> None:
    members = good_members(tmp_path, server, env)
    before = daily_rows(server.settings.database, server.site.id)
    make, expected = BROKEN[case]
    broken = write_zip(tmp_path / "broken.zip", make(members))
    done = cli(env, tmp_path, "import", "plausible", str(broken), "--site", DOMAIN)
    assert done.returncode == 1, done.stdout
    message = done.stderr.strip()
    assert "\n" not in message and message.startswith("crumbless: error: ") and "Traceback" not in message
    assert expected in message and message.endswith("nothing was imported"), message
    assert daily_rows(server.settings.database, server.site.id) == before


def test_a_member_declared_2_gb_is_refused_unread(server: Server, env: dict[str, str], tmp_path: Path) -> None:
    members = good_members(tmp_path, server, env)
    before = daily_rows(server.settings.database, server.site.id)
    path = write_zip(tmp_path / "huge.zip", members)
    data = bytearray(path.read_bytes())
    # Declare 2 GiB uncompressed for the first member in the central directory (what zipfile reads).
    at = data.index(b"PK\x01\x02")
    data[at + 24 : at + 28] = (2 * 1024**3).to_bytes(4, "little")
    path.write_bytes(bytes(data))
    assert path.stat().st_size < 100_000
    done = cli(env, tmp_path, "import", "plausible", str(path), "--site", DOMAIN)
    assert done.returncode == 1
    assert f"is 2,147,483,648 bytes uncompressed, over the {MAX_MEMBER_BYTES:,} an import reads" in done.stderr
    assert done.stderr.count("\n") == 1
    assert daily_rows(server.settings.database, server.site.id) == before


def test_not_a_zip(server: Server, env: dict[str, str], tmp_path: Path) -> None:
    path = tmp_path / "export.zip"
    path.write_text("date,visitors\n")
    done = cli(env, tmp_path, "import", "plausible", str(path), "--site", DOMAIN)
    assert done.returncode == 1 and "export.zip: not a zip file" in done.stderr and done.stderr.count("\n") == 1


def test_export_and_import_on_postgresql(
    server: Server, env: dict[str, str], tmp_path: Path, postgres_url: str
) -> None:
    """The same commands against a PostgreSQL store (scale-out mode): the rows come back identical."""
    send_stream(server)
    out = tmp_path / "export.zip"
    run_cli(env, "export", "plausible", "--site", DOMAIN, str(out), cwd=tmp_path)
    shared = {**env, "CRUMBLESS_DATABASE_URL": postgres_url}
    run_cli(shared, "site", "add", DOMAIN, cwd=tmp_path)
    run_cli(shared, "import", "plausible", str(out), "--site", DOMAIN, cwd=tmp_path)
    refused = cli(shared, tmp_path, "import", "plausible", str(out), "--site", DOMAIN)
    assert refused.returncode == 1 and "already holds import #1" in refused.stderr
    run_cli(shared, "import", "plausible", str(out), "--site", DOMAIN, "--replace", cwd=tmp_path)
    copy = tmp_path / "copy.zip"
    run_cli(shared, "export", "plausible", "--site", DOMAIN, str(copy), cwd=tmp_path)
    with zipfile.ZipFile(out) as first, zipfile.ZipFile(copy) as second:
        assert sorted(first.namelist()) == sorted(second.namelist())
        for name in first.namelist():
            assert first.read(name) == second.read(name), name

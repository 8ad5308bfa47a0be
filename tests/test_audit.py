"""``crumbless audit``: every planted leak is found where it was planted, and a real deployment is clean.

A privacy audit that stays silent proves something only if it demonstrably speaks up: so each
place the issue names (a row, an unexpected table, a WAL page, a log line, a stray file, an IPv6
and an IPv4-mapped address) gets its own planted address and must be reported there, with a
location precise enough to find it. The last test sends 10,000 beacons from distinct addresses
through a real ``crumbless serve`` and requires the audit of what it left behind to be clean.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import hashlib
import io
import ipaddress
import json
import shutil
import signal
import sqlite3
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collector.audit import Report, audit
from collector.audit.addresses import NOT_A_SOURCE, AddressRules, could_be_a_visitor, mask, parse, sightings
from collector.audit.database import SQLiteDatabase
from collector.audit.files import CHUNK, windows
from collector.audit.findings import ADDRESS, CONFIG, RESIDUE, SALT, SCHEMA, UNCHECKED, Finding
from collector.audit.schema import EXPLAINED, check_rows, identifier_like, reference
from collector.cli import main
from collector.config import OPTIONS
from collector.model import BY_KEY
from collector.referrers import IP_ADDRESS
from tests.conftest import Server
from tests.live_server import LOOPBACK, LiveServer, add_site, clean_exit_codes, crumbless_command, crumbless_env, stats
from tests.support import build_geo_db, make_settings, plausible
from tests.test_referrers import ipv4_spellings


def run_audit(server: Server, logs: tuple[str, ...] = (), **settings: object) -> Report:
    """The audit of the in-process server's deployment, judged at the server's (fake) time."""
    return audit(replace(server.settings, **settings), logs, now=server.clock.now)  # type: ignore[arg-type]


def describe(report: Report) -> str:
    return "\n".join(f"{f.kind} {f.where}: {f.detail} {f.address or ''}" for f in report.findings)


def offset_of(finding: Finding) -> int:
    return int(finding.where.rsplit(" @ ", 1)[1].split()[0])


def counted(server: Server, peers: list[str]) -> None:
    for i, peer in enumerate(peers):
        assert server.post("/api/event", plausible("example.com", f"https://example.com/p{i % 3}"), peer=peer).status_code == 202
    server.flush()


PEERS = ["192.0.2.10", "198.51.100.20", "203.0.113.30", "2001:db8::40", "2001:db8:aaaa:bbbb:cccc:dddd:eeee:50"]


# ── a clean deployment, and what the audit reads ────────────────────────────────────────────


def test_a_deployment_that_counted_visitors_audits_clean(server: Server) -> None:
    counted(server, PEERS)
    report = run_audit(server)
    assert report.ok, describe(report)
    assert report.salts == 1 and report.tables >= 6 and report.rows > 0
    assert report.files >= 2 and report.bytes > 0   # the database and its live WAL at least


def test_known_schema_comes_from_the_migrations() -> None:
    """New migrations (the dashboard's tables) are known without a list to maintain."""
    known = reference()
    assert {"sites", "users", "salts", "daily", "hourly", "schema_version"} <= known.schema.tables.keys()
    assert known.schema.tables["daily"].columns[:4] == ("site", "dim", "day", "value")
    assert known.secure_delete


def test_every_identifier_like_column_of_the_schema_is_explained() -> None:
    """The review gate: a migration adding a column named like ``*_hash`` or ``session*`` must say
    why it holds no visitor identifier, in ``collector.audit.schema.EXPLAINED`` (and docs/privacy.md)."""
    schema = reference().schema
    unexplained = [
        f"{t.name}.{c}" for t in schema.tables.values() for c in t.columns if identifier_like(c) and (t.name, c) not in EXPLAINED
    ]
    assert unexplained == []
    docs = (Path(__file__).resolve().parent.parent / "docs" / "privacy.md").read_text()
    assert all(f"`{table}.{column}`" in docs for table, column in EXPLAINED), "docs/privacy.md must list every explained column"


@pytest.mark.parametrize(
    "name, suspicious",
    [("client_ip", True), ("ip", True), ("userAgent", True), ("user_agent", True), ("ua", True), ("visitor_id", True),
     ("visitorHash", True), ("fingerprint", True), ("session", True), ("remote_addr", True), ("IPAddress", True),
     ("visitors", False), ("website_id", False), ("pageviews", False), ("duration_s", False), ("value", False), ("salt", False)],
)
def test_identifier_like_column_names(name: str, suspicious: bool) -> None:
    assert identifier_like(name) is suspicious


# ── finding addresses in bytes ──────────────────────────────────────────────────────────────


def found(data: bytes, rules: AddressRules | None = None) -> list[tuple[int, str]]:
    return [(s.offset, s.text) for s in sightings(data, rules or AddressRules()) if s.excuse is None]


@pytest.mark.parametrize(
    "data, expected",
    [
        (b"seen 192.0.2.1.", [(5, "192.0.2.1")]),
        (b"[2001:db8::1]:443", [(1, "2001:db8::1")]),
        (b"x ::ffff:192.0.2.1 y", [(2, "::ffff:192.0.2.1")]),                    # judged once, as IPv6
        (b"2001:0db8:0000:0000:0000:ff00:0042:8329", [(0, "2001:0db8:0000:0000:0000:ff00:0042:8329")]),
        (b"fe80::1%eth0", [(0, "fe80::1")]),
        (b"a=10.0.0.7;", [(2, "10.0.0.7")]),                                      # private ranges count: intranets
        (b"192.168.001.001", [(0, "192.168.001.001")]),                           # zero-padded
        ("ip 203.0.113.9".encode("utf-16-le"), [(6, "203.0.113.9")]),
        (b"\x00\x86" + b"5192.0.2.1" + b"\x00", [(3, "192.0.2.1")]),              # glued to a binary integer
        (b"\x05A2001:db8::7\x00", [(2, "2001:db8::7")]),
        # SQLite stores a row's values back to back: the next column's text follows directly.
        (b"\x05\x0b2001:db8:4:5::9" + b"2026-11-28", [(2, "2001:db8:4:5::9202")]),
        (b"\x05\x0b192.0.2.1" + b"20261128", [(2, "192.0.2.120")]),
    ],
)
def test_addresses_are_found_at_their_offset(data: bytes, expected: list[tuple[int, str]]) -> None:
    assert found(data) == expected


@pytest.mark.parametrize(
    "data",
    [
        b"Python 3.11.7.0.1 and 1.2.3.4.5",               # part of a longer dotted number
        b"version 1.2.3.4, v1.2.3.4, rv:1.2.3.4",         # a version word before it
        b"Mozilla/5.0 Chrome/130.0.0.0 Safari/537.36",    # a Chromium version in a User-Agent
        b"0.0.0.0 127.0.0.1 ::1 :: 255.255.255.0 224.0.0.1",  # no visitor sends from these
        b"2026-06-10 10:00:00,123 std::vector a::b",      # times and C++ are not IPv6
        b"date 2024.10.12.1 cafe80::1",                   # text is never trimmed into an address
    ],
)
def test_what_is_not_an_address_of_a_visitor(data: bytes) -> None:
    assert found(data) == []


def test_the_bind_address_and_operator_allowances_are_the_only_other_exceptions() -> None:
    rules = AddressRules("203.0.113.1", frozenset({ipaddress.ip_address("198.51.100.1")}))
    assert found(b"listening on 203.0.113.1:8000, public 198.51.100.1, peer 198.51.100.2", rules) == [(57, "198.51.100.2")]
    assert found(b"::ffff:203.0.113.1", rules) == []  # the mapped spelling of an allowed address too


def test_a_dotted_quad_after_a_path_segment_is_still_an_address() -> None:
    """Only the exact Chromium product names excuse a version: "/ip/192.0.2.1" is a visitor's address."""
    assert found(b"/ip/192.0.2.1 /Chrome/192.0.2.2") == [(4, "192.0.2.1")]


def test_addresses_straddling_chunk_boundaries_are_found_once() -> None:
    """The scanner reads large files in overlapping chunks: nothing may fall between them."""
    text = b"2001:db8::beef"
    wide = "192.0.2.99".encode("utf-16-le")
    positions = [CHUNK - 5, 2 * CHUNK - 1, 3 * CHUNK - 7]
    data = bytearray(3 * CHUNK + 100)
    data[positions[0] : positions[0] + len(text)] = text
    data[positions[1] : positions[1] + len(wide)] = wide
    data[positions[2] : positions[2] + len(text)] = text
    stream = io.BytesIO(bytes(data))
    hits = []
    for buffer, base, first, end in windows(stream):
        hits += [(s.offset, s.text) for s in sightings(buffer, AddressRules(), base) if first <= s.offset < end]
    assert hits == [(positions[0], "2001:db8::beef"), (positions[1], "192.0.2.99"), (positions[2], "2001:db8::beef")]


def test_json_output_masks_addresses() -> None:
    assert mask("192.0.2.123") == "192.0.x.x"
    assert mask("2001:db8:1:2::3") == "2001:db8:…"
    assert mask("::ffff:192.0.2.1") == "::ffff:192.0.x.x"
    # Cutting the text of other spellings would keep the whole address: they are masked as dotted quads.
    assert mask("3325256769") == mask("0xc6.0x33.0x64.0x41") == mask("198.51.25665") == "198.51.x.x"


# ── the other spellings browsers and inet_aton accept ──────────────────────────────────────


@pytest.mark.parametrize(
    "data, spelled",
    [
        (b"seen 0xc6.0x33.0x64.0x42 here", "0xc6.0x33.0x64.0x42"),
        (b"0XC6.0X33.0X64.0X42", "0XC6.0X33.0X64.0X42"),
        (b"a=0306.063.0144.0102;", "0306.063.0144.0102"),
        (b"x 1.2.3.0x4 y", "1.2.3.0x4"),                                     # the hex reading, not "1.2.3.0"
        (b'GET / 200 "http://3325256769/" "Mozilla/5.0"', "3325256769"),
        (b"https://0xC6336442:8443/x", "0xC6336442"),
        (b"https://0xc633644a/x", "0xc633644a"),
        (b"ref=http://198.51.25666/", "198.51.25666"),
        (b"ftp://user:pw@3325256769./", "3325256769"),
        (b"android-app://3325256769", "3325256769"),
        ("Referer: http://3325256769/".encode("utf-16-le"), "3325256769"),
        (b"\x05\x0b0xc6.0x33.0x64.0x42" + b"20261128", "0xc6.0x33.0x64.0x42"),   # glued to the next column
    ],
)
def test_other_spellings_of_an_address_are_found(data: bytes, spelled: str) -> None:
    at = data.find(spelled.encode())
    assert found(data) == [(at if at >= 0 else data.find(spelled.encode("utf-16-le")), spelled)]


@pytest.mark.parametrize(
    "data",
    [
        b"size 3325256769 bytes, id 0xC6336442, order 0306",   # away from "://" a number is a number
        b"0x1f.0x2 0xdeadbeef. 1.5 19.99 3.11.7",              # and fewer than four parts are other numbers
        b"http://12345/ http://2025/x http://127.1/ http://0x7f000001/",  # 0.0.0.0/8 and loopback
        b"http://1.2.3.4.5/ http://3325256769abc/ http://0x1g/",   # not addresses
        b"jdbc:postgresql://db:5432/x https://example.com:443/",
    ],
)
def test_numbers_that_are_no_visitor_address(data: bytes) -> None:
    assert found(data) == []


VISITOR_SPELLINGS = ipv4_spellings(st.ip_addresses(v=4).filter(could_be_a_visitor))


@settings(max_examples=300)
@given(VISITOR_SPELLINGS, st.sampled_from(["http", "https", "android-app"]))
def test_any_spelling_as_the_host_of_a_url_is_found(spelled: tuple[ipaddress.IPv4Address, str], scheme: str) -> None:
    address, spelling = spelled
    data = f"GET /x 200 referer={scheme}://{spelling}/page 0.013s".encode()
    assert [(s.text, s.address) for s in sightings(data, AddressRules()) if s.excuse is None] == [(spelling.rstrip("."), address)]


@settings(max_examples=300)
@given(VISITOR_SPELLINGS.filter(lambda spelled: spelled[1].rstrip(".").count(".") == 3))
def test_any_four_part_spelling_is_found_anywhere(spelled: tuple[ipaddress.IPv4Address, str]) -> None:
    """Away from "://", zero-padded decimal parts (``010``) keep their documented decimal reading."""
    address, spelling = spelled
    text = spelling.rstrip(".")
    [sighting] = [s for s in sightings(f"seen {spelling} here".encode(), AddressRules()) if s.excuse is None]
    assert sighting.text == text and sighting.address in {address, parse(text.encode())}


def source_rows(path: Path, values: list[str], dim: str = "source") -> None:
    """Values as the store keeps their text: once per site and dimension, in ``dim_values``."""
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS dim_values (id INTEGER PRIMARY KEY, site INTEGER, dim INTEGER, value TEXT)")
        conn.executemany("INSERT INTO dim_values (site, dim, value) VALUES (1, ?, ?)", [(BY_KEY[dim].code, v) for v in values])
        conn.commit()


def rows_report(path: Path) -> Report:
    report = Report()
    database = SQLiteDatabase(path)
    try:
        check_rows(database, database.schema(), AddressRules(), report)
    finally:
        database.close()
    return report


@settings(max_examples=25, deadline=None)
@given(st.lists(ipv4_spellings(), min_size=1, max_size=30))
def test_any_spelling_stored_as_a_source_is_found_in_its_row(tmp_path_factory: pytest.TempPathFactory, spelled: list[tuple[ipaddress.IPv4Address, str]]) -> None:
    """An older version stored these as sources; the row check judges a source as a host, every spelling included."""
    path = tmp_path_factory.mktemp("rows") / "crumbless.db"
    source_rows(path, [spelling for _, spelling in spelled])
    report = rows_report(path)
    visitors = [(f"dim_values.value rowid {i}", spelling) for i, (address, spelling) in enumerate(spelled, 1) if could_be_a_visitor(address)]
    assert sorted((f.where, f.address) for f in report.findings) == sorted(visitors)
    assert report.allowed[NOT_A_SOURCE] == len(spelled) - len(visitors)


def test_the_integer_form_is_an_address_only_where_a_host_is_stored(tmp_path: Path) -> None:
    """In a campaign, a path or a property a large number is just that; in a source it is a host."""
    path = tmp_path / "crumbless.db"
    source_rows(path, ["3325256769", "１９８．５１．１００．６１", "198。51。100。61", "¹⁹⁸.⁵¹.¹⁰⁰.⁶¹", "google.com", "(IP address)", "com.some.app"])
    source_rows(path, ["3325256769", "0xC6336442"], dim="utm_campaign")
    source_rows(path, ["/order/3325256769"], dim="page")
    database = SQLiteDatabase(path)
    try:
        [table] = database.schema().tables.values()
        inspected = {row.values["value"] for row in database.rows_to_inspect(table)}
    finally:
        database.close()
    assert {"3325256769", "１９８．５１．１００．６１", "198。51。100。61", "¹⁹⁸.⁵¹.¹⁰⁰.⁶¹"} <= inspected and "google.com" not in inspected
    report = rows_report(path)
    assert [(f.where, f.address) for f in report.findings] == [
        ("dim_values.value rowid 1", "3325256769"),
        ("dim_values.value rowid 2", "１９８．５１．１００．６１"),
        ("dim_values.value rowid 3", "198。51。100。61"),
        ("dim_values.value rowid 4", "¹⁹⁸.⁵¹.¹⁰⁰.⁶¹"),
    ]


# ── each planted leak is found where it was planted ─────────────────────────────────────────


@dataclass(frozen=True)
class Planted:
    kind: str
    where: str            # how the finding's location starts
    address: str | None   # the address the finding must name
    logs: tuple[str, ...] = ()


def db(server: Server) -> sqlite3.Connection:
    return sqlite3.connect(server.settings.database, isolation_level=None)


def stored_value(conn: sqlite3.Connection, dim: str, text: str, **counters: int) -> int:
    """A value and one day's row for it, as the store writes them; returns the value's id."""
    value = conn.execute("INSERT INTO dim_values (site, dim, value) VALUES (1, ?, ?)", (BY_KEY[dim].code, text)).lastrowid
    names = ", ".join(["site", "dim", "day", "value", *counters])
    conn.execute(f"INSERT INTO daily ({names}) VALUES (1, ?, 20614, ?{', ?' * len(counters)})", (BY_KEY[dim].code, value, *counters.values()))
    assert value is not None
    return value


def plant_row(server: Server, tmp: Path) -> Planted:
    with contextlib.closing(db(server)) as conn:
        value = stored_value(conn, "page", "/who/192.0.2.77", pageviews=1)
    return Planted(ADDRESS, f"dim_values.value rowid {value}", "192.0.2.77")


def plant_table(server: Server, tmp: Path) -> Planted:
    with contextlib.closing(db(server)) as conn:
        conn.execute("CREATE TABLE visits (seen TEXT)")
        conn.execute("INSERT INTO visits VALUES ('visitor 198.51.100.9')")
    return Planted(ADDRESS, "visits.seen rowid 1", "198.51.100.9")


def plant_wal(server: Server, tmp: Path) -> Planted:
    """Written and deleted again: the address survives only in an old WAL frame (the server's open
    connection keeps the WAL from being checkpointed away)."""
    with contextlib.closing(db(server)) as conn:
        conn.execute("PRAGMA secure_delete=OFF")
        conn.execute("INSERT INTO dim_values (site, dim, value) VALUES (1, 2, 'from 203.0.113.66')")
        conn.execute("DELETE FROM dim_values WHERE value = 'from 203.0.113.66'")
    return Planted(ADDRESS, f"{server.settings.database}-wal @ ", "203.0.113.66")


def plant_log(server: Server, tmp: Path) -> Planted:
    log = tmp / "proxy.log"
    log.write_text("2026-06-10T10:00:00Z GET / 200\n2026-06-10T10:00:01Z client=198.51.100.200 GET /x 200\n")
    return Planted(ADDRESS, f"{log} @ ", "198.51.100.200", logs=(str(log),))


def plant_gzipped_log(server: Server, tmp: Path) -> Planted:
    log = tmp / "proxy.log.1.gz"
    with gzip.open(log, "wt") as f:
        f.write("old line from 192.0.2.201\n")
    return Planted(ADDRESS, f"{log} (gzip-decompressed) @ ", "192.0.2.201", logs=(str(log),))


def plant_stray_file(server: Server, tmp: Path) -> Planted:
    stray = server.settings.data_dir / "backup" / "export.csv"
    stray.parent.mkdir()
    stray.write_text("day,visitor\n2026-06-10,203.0.113.77\n")
    return Planted(ADDRESS, f"{stray} @ ", "203.0.113.77")


def plant_ipv6(server: Server, tmp: Path) -> Planted:
    stray = server.settings.data_dir / "debug.txt"
    stray.write_bytes(b"\x00\x01peer=2001:db8:85a3::8a2e:370:7334\n")
    return Planted(ADDRESS, f"{stray} @ ", "2001:db8:85a3::8a2e:370:7334")


def plant_mapped(server: Server, tmp: Path) -> Planted:
    log = tmp / "app.log"
    log.write_text("accepted connection from ::ffff:192.0.2.44 port 51000\n")
    return Planted(ADDRESS, f"{log} @ ", "::ffff:192.0.2.44", logs=(str(log),))


def plant_utf16(server: Server, tmp: Path) -> Planted:
    stray = server.settings.data_dir / "events.evtx.txt"
    stray.write_bytes("\ufeffClient Address: 198.51.100.150\r\n".encode("utf-16-le"))
    return Planted(ADDRESS, f"{stray} @ ", "198.51.100.150")


def plant_file_name(server: Server, tmp: Path) -> Planted:
    named = server.settings.data_dir / "ratelimit" / "198.51.100.77.json"
    named.parent.mkdir()
    named.write_text("{}")
    return Planted(ADDRESS, f"name of {named}", "198.51.100.77")


PLANTS: dict[str, Callable[[Server, Path], Planted]] = {
    "row in a known table": plant_row,
    "unexpected table": plant_table,
    "text in the WAL": plant_wal,
    "log line": plant_log,
    "rotated gzip log": plant_gzipped_log,
    "stray file": plant_stray_file,
    "IPv6 address": plant_ipv6,
    "IPv4-mapped IPv6 address": plant_mapped,
    "UTF-16 text": plant_utf16,
    "file name": plant_file_name,
}


@pytest.mark.parametrize("plant", PLANTS.values(), ids=PLANTS.keys())
def test_a_planted_address_is_found_where_it_was_planted(server: Server, tmp_path: Path, plant: Callable[[Server, Path], Planted]) -> None:
    counted(server, PEERS[:2])
    planted = plant(server, tmp_path)
    report = run_audit(server, planted.logs)
    assert not report.ok
    matches = [f for f in report.findings if f.kind == planted.kind and f.where.startswith(planted.where) and f.address == planted.address]
    assert matches, f"nothing at {planted.where!r}:\n{describe(report)}"
    for finding in matches:
        if " @ " in finding.where and "decompressed" not in finding.where:
            path = Path(finding.where.rsplit(" @ ", 1)[0])
            data = path.read_bytes()
            at = offset_of(finding)
            spelled = finding.address.encode()  # type: ignore[union-attr]
            assert data[at : at + len(spelled)] == spelled or data[at : at + 2 * len(spelled)] == finding.address.encode("utf-16-le")  # type: ignore[union-attr]
    assert not [f for f in report.findings if f.kind == UNCHECKED]


def test_an_unexpected_table_and_identifier_columns_are_schema_findings(server: Server) -> None:
    with contextlib.closing(db(server)) as conn:
        conn.execute("CREATE TABLE pageviews_raw (ts INTEGER, path TEXT, visitor_hash BLOB)")
        conn.execute("INSERT INTO pageviews_raw VALUES (1, '/', x'0011223344556677')")
        conn.execute("ALTER TABLE sites ADD COLUMN last_ip TEXT")
        conn.execute("CREATE TRIGGER copy_hits AFTER INSERT ON daily BEGIN SELECT 1; END")
        page = stored_value(conn, "page", "/h", visitors=12345678901234567)
        campaign = stored_value(conn, "utm_campaign", "9f86d081884c7d659a2feaa0c55ad015")
    report = run_audit(server)
    schema = {(f.where, f.detail.split(" (")[0]) for f in report.findings if f.kind == SCHEMA}
    assert ("table pageviews_raw", "table is not in Crumbless's schema") in schema
    assert ("pageviews_raw.visitor_hash", "column name suggests a visitor identifier") in schema
    assert ("sites.last_ip", "column is not in Crumbless's schema") in schema
    assert ("sites.last_ip", "column name suggests a visitor identifier") in schema
    assert ("trigger copy_hits", "trigger is not in Crumbless's schema") in schema
    assert ("pageviews_raw.visitor_hash rowid 1", "binary value of 8 bytes") in schema
    assert (f"daily.visitors (site=1, dim=1, day=20614, value={page})", "integer too large for a counter, day or id") in schema
    assert (f"dim_values.value rowid {campaign}", "value looks like a hex digest") in schema


def test_the_country_database_is_skipped_by_content_not_by_name(server: Server, geo_db: Path) -> None:
    shutil.copy(geo_db, server.settings.data_dir / "countries.bin")
    (server.settings.data_dir / "looks-like.mmdb").write_text("visitor 192.0.2.5\n")
    report = run_audit(server)
    assert [path for path, _ in report.skipped] == [str(server.settings.data_dir / "countries.bin")]
    assert [f.where.split(" @ ")[0] for f in report.findings] == [str(server.settings.data_dir / "looks-like.mmdb")]


def test_a_compressed_format_the_audit_cannot_read_is_reported_not_skipped(server: Server, tmp_path: Path) -> None:
    log = tmp_path / "old.log.zst"
    log.write_bytes(b"\x28\xb5\x2f\xfd" + b"\x00" * 32)
    report = run_audit(server, (str(log), str(tmp_path / "missing.log")))
    assert {(f.kind, f.where) for f in report.findings} == {(UNCHECKED, str(log)), (UNCHECKED, str(tmp_path / "missing.log"))}


# ── salts and deleted data ──────────────────────────────────────────────────────────────────


def read_salts(database: Path) -> list[bytes]:
    with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as conn:
        return [bytes(row[0]) for row in conn.execute("SELECT salt FROM salts")]


def disk_bytes(directory: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file())


def test_after_a_sites_day_closes_neither_its_salt_row_nor_its_bytes_remain(server: Server, tmp_path: Path) -> None:
    counted(server, PEERS)
    [salt] = read_salts(server.settings.database)
    assert salt in disk_bytes(server.settings.data_dir)
    stale = tmp_path / "stale-copy"   # what a backup taken during the day would hold
    shutil.copytree(server.settings.data_dir, stale)

    report = run_audit(server)
    assert report.ok and report.salts == 1, describe(report)

    server.clock.advance(24 * 3600)
    server.call(server.state.housekeeping.close_days)
    report = run_audit(server)
    assert report.ok and report.salts == 0, describe(report)
    assert salt not in disk_bytes(server.settings.data_dir)

    # The audit would have seen the bytes, had they survived: the stale copy still holds them.
    shutil.copytree(stale, server.settings.data_dir / "backup")
    report = run_audit(server)
    carved = [f for f in report.findings if f.kind == SALT and f.where.startswith(str(server.settings.data_dir / "backup"))]
    assert carved and all("2026-06-10" in f.detail and "not a current salt" in f.detail for f in carved), describe(report)
    for finding in carved:
        path, at = Path(finding.where.rsplit(" @ ", 1)[0]), offset_of(finding)
        assert salt in path.read_bytes()[at : at + 64]


def test_deleting_a_site_leaves_no_salt_bytes(server: Server) -> None:
    from tests.support import add_site as add_site_in_process

    other = add_site_in_process(server.settings, "other.example")
    server.call(server.state.collector.sites.refresh)
    assert server.post("/api/event", plausible("other.example", "https://other.example/")).status_code == 202
    server.flush()
    server.call(server.state.store.delete_site, other.id)
    report = run_audit(server)
    assert report.ok, describe(report)


def stored_sources(server: Server) -> set[str]:
    with contextlib.closing(db(server)) as conn:
        return {value for (value,) in conn.execute("SELECT value FROM dim_values WHERE dim = ?", (BY_KEY["source"].code,))}


def test_a_referrer_from_an_ip_address_host_stores_no_address(server: Server) -> None:
    """The attack run's referrers and tags, each the first hit of its own visit."""
    beacons = [
        ("https://example.com/", "http://192.168.1.10/admin"),
        ("https://example.com/", "android-app://198.51.100.61/"),
        ("https://example.com/", "android-app://[2001:db8::62]/"),
        ("https://example.com/", "http://3325256769/"),
        ("https://example.com/", "http://0xc6.0x33.0x64.0x42/"),
        ("https://example.com/", "http://198.51.100.61./"),
        ("https://example.com/", "https://198.51.25666/x"),
        ("https://example.com/?ref=3325256769", None),
        ("https://example.com/?source=http://198.51.100.63/", None),
    ]
    for i, (url, referrer) in enumerate(beacons):
        assert server.post("/api/event", plausible("example.com", url, r=referrer), peer=f"192.0.2.{i + 1}").status_code == 202
    server.flush()
    assert stored_sources(server) == {IP_ADDRESS}
    report = run_audit(server)
    assert report.ok, describe(report)


def test_utm_values_written_as_addresses_fold_like_sources(server: Server) -> None:
    """Campaign tags follow the source tag's rule: an address is stored as "(IP address)"."""
    url = "https://example.com/?utm_source=198.51.100.64&utm_medium=http://198.51.100.65/&utm_campaign=3325256769"
    server.post("/api/event", plausible("example.com", url), peer="192.0.2.1")
    server.flush()
    assert stored_sources(server) == {IP_ADDRESS}
    with contextlib.closing(db(server)) as conn:
        codes = [BY_KEY[d].code for d in ("utm_source", "utm_medium", "utm_campaign")]
        tags = {v for (v,) in conn.execute("SELECT value FROM dim_values WHERE dim IN (?, ?, ?)", codes)}
    assert tags == {IP_ADDRESS}
    report = run_audit(server)
    assert report.ok, describe(report)


def test_a_utm_value_stored_by_an_older_version_is_reported(server: Server) -> None:
    with contextlib.closing(db(server)) as conn:
        value = stored_value(conn, "utm_source", "198.51.100.64", visitors=1)
    report = run_audit(server)
    assert any(f.address == "198.51.100.64" and f.where == f"dim_values.value rowid {value}" for f in report.findings), describe(report)


def test_a_source_stored_by_an_older_version_is_reported_with_its_row_masked(server: Server) -> None:
    with contextlib.closing(db(server)) as conn:
        value = stored_value(conn, "source", "3325256769", visitors=12345678901234567)
    report = run_audit(server)
    where = {f.where: f for f in report.findings}
    assert where[f"dim_values.value rowid {value}"].address == "3325256769"
    assert f"daily.visitors (site=1, dim=2, day=20614, value={value})" in where, describe(report)


def test_yesterdays_salt_is_allowed_only_for_a_short_grace_after_midnight(server: Server) -> None:
    counted(server, PEERS[:1])
    midnight = server.clock.now - server.clock.now % 86400 + 86400
    within = audit(server.settings, now=midnight + 60)
    assert within.ok, describe(within)
    late = audit(server.settings, now=midnight + 600)
    [row] = [f for f in late.findings if f.where.startswith("salts (")]
    assert row.kind == SALT and row.where.startswith("salts (site=1, day=") and "2026-06-10 is still stored" in row.detail
    assert all(f.kind == SALT for f in late.findings), describe(late)  # and its bytes, wherever they are


def test_deleted_rows_left_on_free_pages_are_found(server: Server) -> None:
    with contextlib.closing(db(server)) as conn:
        conn.execute("PRAGMA secure_delete=OFF")
        conn.execute("CREATE TABLE scratch (x TEXT)")
        conn.executemany("INSERT INTO scratch VALUES (?)", [("left behind " * 50,)] * 50)
        conn.execute("DROP TABLE scratch")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    report = run_audit(server)
    assert report.free_pages > 0
    assert any(f.kind == RESIDUE and "free page" in f.where for f in report.findings), describe(report)


def test_pages_freed_by_the_store_itself_are_zeroed(server: Server) -> None:
    """The store's connections run with secure_delete on: rows it deletes leave nothing behind."""
    counted(server, PEERS)
    many = [(1, 1, day, i) for day in range(20000, 20020) for i in range(100)]
    server.call(server.state.store.execute_write_fn, lambda db: db.executemany("INSERT INTO daily (site, dim, day, value, pageviews) VALUES (?, ?, ?, ?, 1)", many))
    server.clock.advance(24 * 3600)
    server.call(server.state.housekeeping.close_days)
    server.call(server.state.store.delete_before, 1, 30000)  # frees every page of daily and hourly
    server.call(server.state.store.execute_write_fn, lambda db: db.execute("PRAGMA wal_checkpoint(TRUNCATE)"))
    report = run_audit(server)
    assert report.free_pages > 0 and report.ok, describe(report)


# ── configuration ───────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize(
    "overrides, expected",
    [
        ({"log_level": "debug"}, ["CRUMBLESS_LOG_LEVEL=debug"]),
        ({"trusted_proxies": "0.0.0.0/0"}, ["CRUMBLESS_TRUSTED_PROXIES 0.0.0.0/0"]),
        ({"trusted_proxies": "127.0.0.1/32,::/0"}, ["CRUMBLESS_TRUSTED_PROXIES ::/0"]),
        ({"trusted_proxies": "8.0.0.0/7,2000::/16"}, ["CRUMBLESS_TRUSTED_PROXIES 8.0.0.0/7", "CRUMBLESS_TRUSTED_PROXIES 2000::/16"]),
        # Private networks, and CDN-sized public ranges (Cloudflare's largest), are fine.
        ({"trusted_proxies": "10.0.0.0/8,172.16.0.0/12,fc00::/7,104.16.0.0/13,2a06:98c0::/29"}, []),
        ({"log_level": "info", "access_log": "on"}, []),
    ],
)
def test_settings_that_would_log_or_forge_identifiers(tmp_path: Path, geo_db: Path, overrides: dict[str, str], expected: list[str]) -> None:
    settings = make_settings(tmp_path / "data", geo_db, **overrides)
    report = audit(settings)
    assert [f.where for f in report.findings] == expected
    assert all(f.kind == CONFIG for f in report.findings)


# ── the command ─────────────────────────────────────────────────────────────────────────────


@pytest.fixture
def deployment(server: Server, monkeypatch: pytest.MonkeyPatch) -> Server:
    """The CLI pointed at the in-process server's deployment."""
    for option in OPTIONS:
        monkeypatch.delenv(option.name, raising=False)
    monkeypatch.setenv("CRUMBLESS_DATA_DIR", str(server.settings.data_dir))
    monkeypatch.setenv("CRUMBLESS_GEO_DB", str(server.settings.geo_db))
    monkeypatch.setattr("collector.audit.command.clock", server.clock)
    return server


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_json_report_shape(deployment: Server, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    counted(deployment, PEERS)
    code, out, _ = run_cli(capsys, "audit", "--json")
    clean = json.loads(out)
    assert code == 0
    assert list(clean) == ["format", "ok", "checked", "findings_total", "findings"]
    assert clean["format"] == 1 and clean["ok"] is True and clean["findings"] == [] and clean["findings_total"] == 0
    assert set(clean["checked"]) == {"files", "bytes", "tables", "rows", "salts", "free_pages", "skipped", "allowed_addresses"}
    assert clean["checked"]["salts"] == 1 and clean["checked"]["files"] >= 2

    log = tmp_path / "x.log"
    log.write_text("GET / from 192.0.2.123\n")
    code, out, _ = run_cli(capsys, "audit", "--json", "--log", str(log))
    result = json.loads(out)
    assert code == 1 and result["ok"] is False and result["findings_total"] == 1
    assert result["findings"] == [{"kind": "address", "where": f"{log} @ 11", "detail": "IPv4 address 192.0.x.x"}]
    assert "192.0.2.123" not in out, "--json output must not repeat the address it reports"


def test_human_report_names_the_address_and_its_place(deployment: Server, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    counted(deployment, PEERS)
    log = tmp_path / "x.log"
    log.write_text("ok\nfrom 2001:db8::9 and 127.0.0.1 version 1.2.3.4\n")
    code, out, _ = run_cli(capsys, "audit", "--log", str(log))
    assert code == 1
    assert out.startswith("crumbless audit: 1 finding\n")
    assert f"  address  {log} @ 8: IPv6 address 2001:db8::9\n" in out
    assert "Addresses not reported (see docs/privacy.md): " in out and "1 × a version number" in out

    code, out, _ = run_cli(capsys, "audit")
    assert code == 0 and out.startswith("crumbless audit: no findings\n\nChecked ")


def test_allow_takes_exact_addresses_only(deployment: Server, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = tmp_path / "x.log"
    log.write_text("public address of this server: 198.51.100.1\n")
    code, out, _ = run_cli(capsys, "audit", "--log", str(log), "--allow", "198.51.100.1")
    assert code == 0 and "1 × allowed by the operator (--allow)" in out
    code, _, err = run_cli(capsys, "audit", "--allow", "198.51.100.0/24")
    assert code == 1 and "--allow takes one IP address (not a network)" in err and err.count("\n") == 1


def tree_fingerprint(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}


def test_self_test_finds_every_plant_and_leaves_the_deployment_alone(deployment: Server, capsys: pytest.CaptureFixture[str]) -> None:
    counted(deployment, PEERS)
    deployment.call(deployment.state.store.execute_write_fn, lambda db: db.execute("PRAGMA wal_checkpoint(TRUNCATE)"))  # hold the files still
    before = tree_fingerprint(deployment.settings.data_dir)
    code, out, _ = run_cli(capsys, "audit", "--self-test")
    assert code == 0, out
    assert out.startswith("crumbless audit --self-test: all 16 planted leaks were found.")
    assert "MISSED" not in out
    assert tree_fingerprint(deployment.settings.data_dir) == before

    code, out, _ = run_cli(capsys, "audit", "--self-test", "--json")
    result = json.loads(out)
    assert code == 0 and result["ok"] is True and len(result["planted"]) == 16
    assert {p["kind"] for p in result["planted"]} == {ADDRESS, SCHEMA, SALT, RESIDUE, CONFIG}
    assert all(p["found"] and p["where"] for p in result["planted"])


def test_self_test_works_before_anything_was_stored(tmp_path: Path, geo_db: Path) -> None:
    from collector.audit.selftest import self_test

    outcomes = self_test(make_settings(tmp_path / "data", geo_db))
    assert [o.plant.what for o in outcomes if o.finding is None] == []
    assert not (tmp_path / "data").exists()


# ── 10,000 beacons through the real server ─────────────────────────────────────────────────


def distinct_addresses(count: int) -> list[str]:
    """Every host of the three IPv4 documentation /24s, then IPv6 from 2001:db8::/32 in varied shapes."""
    v4 = [f"{net}.{host}" for net in ("192.0.2", "198.51.100", "203.0.113") for host in range(1, 255)]
    base = int(ipaddress.IPv6Address("2001:db8::"))
    v6 = []
    for i in range(count - len(v4)):
        if i % 3 == 0:
            v6.append(str(ipaddress.IPv6Address(base + i + 1)))                                  # 2001:db8::2b
        elif i % 3 == 1:
            v6.append(ipaddress.IPv6Address(base + (i << 64) + 0x1234_0000_5678 + i).exploded)    # full form
        else:
            v6.append(f"[{ipaddress.IPv6Address(base + (0xABCD << 80) + i)}]:{40000 + i % 20000}")  # with a port
    return v4 + v6


def beacon_request(i: int, address: str) -> bytes:
    body = plausible("example.com", f"https://example.com/docs/{i % 40}", r="https://www.example.org/")
    head = (
        f"POST /api/event HTTP/1.1\r\nHost: {LOOPBACK}\r\nContent-Type: text/plain\r\n"
        f"User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:131.0) Gecko/20100101 Firefox/131.0\r\n"
        f"X-Forwarded-For: {address}\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def post_all(port: int, requests: list[bytes], connections: int = 8) -> list[int]:
    """Keep-alive HTTP/1.1 over a few loopback connections: fast enough that the server is what is timed."""

    async def one_connection(part: list[bytes]) -> list[int]:
        reader, writer = await asyncio.open_connection(LOOPBACK, port)
        statuses = []
        try:
            for request in part:
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                statuses.append(int(head.split(b" ", 2)[1]))
                length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")), 0)
                await reader.readexactly(length)
        finally:
            writer.close()
        return statuses

    parts = await asyncio.gather(*(one_connection(requests[k::connections]) for k in range(connections)))
    return [status for part in parts for status in part]


def cli_audit(env: dict[str, str], cwd: Path, *args: str) -> tuple[int, dict[str, object]]:
    done = subprocess.run([*crumbless_command(), "audit", "--json", *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=120)
    assert done.stderr == "", done.stderr
    return done.returncode, json.loads(done.stdout)


def test_ten_thousand_beacons_from_distinct_addresses_leave_a_clean_audit(tmp_path: Path) -> None:
    started = time.monotonic()
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    geo_db = build_geo_db(data_dir / "dbip-country.mmdb")
    env = crumbless_env(data_dir, geo_db, flush_interval="1")
    add_site(env, "example.com", cwd=tmp_path)
    server = LiveServer(env, tmp_path)
    addresses = distinct_addresses(10_000)
    assert len(set(addresses)) == 10_000
    try:
        server.start()
        statuses = asyncio.run(post_all(int(server.env["CRUMBLESS_PORT"]), [beacon_request(i, a) for i, a in enumerate(addresses)]))
        assert statuses == [202] * 10_000
        deadline = time.monotonic() + 20
        while (totals := stats(env, "example.com", cwd=tmp_path)["totals"])["pageviews"] < 10_000 and time.monotonic() < deadline:
            time.sleep(0.5)
        assert (totals["pageviews"], totals["visitors"]) == (10_000, 10_000), totals

        logs = [str(p) for p in server.log_files]
        code, live = cli_audit(env, tmp_path, "--log", *logs)        # the live files, WAL and all
        assert (code, live["findings"]) == (0, []), live
        assert live["checked"]["salts"] == 1 and live["checked"]["files"] >= 4
        assert live["checked"]["skipped"] == [{"path": str(geo_db), "reason": live["checked"]["skipped"][0]["reason"]}]
        assert server.stop() in clean_exit_codes(signal.SIGTERM)
    finally:
        server.kill()
    countries = {row["value"]: row["visitors"] for row in stats(env, "example.com", cwd=tmp_path)["top"]["country"]}
    assert countries == {"DE": 254, "FR": 254, "JP": 254, "NL": 10_000 - 762}, "the addresses were used, then dropped"
    assert server.stderr_text().count("POST /api/event 202") == 10_000, "the access log was on, so its silence counts"

    code, stopped = cli_audit(env, tmp_path, "--log", *logs)         # after the shutdown checkpoint
    assert (code, stopped["findings"]) == (0, []), stopped
    assert time.monotonic() - started < 60

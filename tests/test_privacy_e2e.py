"""End-to-end privacy tests against a real ``crumbless serve`` process.

The promise under test (README, first paragraph): a visitor's IP address is used only while its
request is handled, and no IP address, User-Agent string or visitor hash ever reaches disk or a
log. Unit tests can only show that a function does not keep a value; these tests run the shipped
command with its own logging at the most talkative settings, feed it real HTTP beacons through a
trusted-proxy header, stop it the way an operator would, and then search every byte it left
behind: the SQLite file, its WAL and shared-memory files (also copied while the server ran, since
a clean stop checkpoints and deletes the WAL), everything else under the data directory, and the
captured stdout/stderr.

All traffic goes to 127.0.0.1; the visitor addresses exist only inside X-Forwarded-For headers and
come from the documentation ranges (RFC 5737, RFC 3849), which the tiny test country database
maps to DE/FR/JP/NL.
"""

from __future__ import annotations

import ipaddress
import json
import random
import re
import shutil
import signal
import sqlite3
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from collector.identity import visitor_hash
from collector.spill import lock_name

SPILL_LOCK = lock_name(0)
from tests.live_server import LiveServer, add_site, clean_exit_codes, crumbless_env, stats
from tests.support import COUNTRIES, build_geo_db, plausible, umami

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

DOMAIN = "example.com"
GEO_NAME = "dbip-country.mmdb"
DB_NAME = "crumbless.db"
SQLITE_FILES = {DB_NAME, f"{DB_NAME}-wal", f"{DB_NAME}-shm", f"{DB_NAME}-journal"}
NETWORKS = {ipaddress.ip_network(net): code for net, code in COUNTRIES.items()}
ACCESS_LINE = re.compile(rb"crumbless\.access: POST /api/(send 200|event 202) ")


# ── beacons ──────────────────────────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class Beacon:
    """One request as sent, and what the server must make of it."""

    address: Address           # the client address the server should derive (canonical)
    forwarded: str             # the X-Forwarded-For header as sent
    spellings: frozenset[str]  # every text form of the address worth searching for
    user_agent: str
    token: str                 # the part of the User-Agent that is unique to this beacon
    endpoint: str              # /api/send or /api/event
    body: bytes
    event: bool                # custom event (True) or pageview
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def country(self) -> str:
        return next(code for net, code in NETWORKS.items() if self.address in net)


# Real browsers' User-Agents with one version field made unique per beacon. ``{n}`` is always four
# digits, so no token is a prefix of another. Each template was checked against
# collector.useragents.describe: a person (not a bot), so every one of them reaches the hashing.
UA_TEMPLATES: tuple[tuple[str, str], ...] = (
    ("Mozilla/5.0 (X11; Linux x86_64; rv:131.0) Gecko/20100101 Firefox/131.0.{n}", "Firefox/131.0.{n}"),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.{n}.91 Safari/537.36", "Chrome/130.0.{n}.91"),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E{n} Safari/604.1", "Mobile/15E{n}"),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/129.0.6668.71 Safari/537.36 Edg/129.0.{n}.61", "Edg/129.0.{n}.61"),
    ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.{n}.102 Mobile Safari/537.36", "Chrome/130.0.{n}.102"),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.{n}", "Firefox/128.{n}"),
)


def user_agent(i: int) -> tuple[str, str]:
    template, token = UA_TEMPLATES[i % len(UA_TEMPLATES)]
    n = 1000 + i
    return template.format(n=n), token.format(n=n)


def ipv4_addresses(rng: random.Random, count: int) -> list[ipaddress.IPv4Address]:
    hosts = [ipaddress.IPv4Address(int(net.network_address) + h) for net in NETWORKS if net.version == 4 for h in range(1, 255)]
    return rng.sample(hosts, count)


def ipv6_addresses(rng: random.Random, count: int) -> list[ipaddress.IPv6Address]:
    """Varied shapes, so compression, leading zeros and long forms all get exercised."""
    base = int(ipaddress.IPv6Address("2001:db8::"))
    shapes: list[Callable[[], int]] = [
        lambda: base + rng.randrange(1, 1 << 16),                                   # 2001:db8::a3f
        lambda: base + sum(rng.randrange(0x1000, 0x10000) << (16 * k) for k in range(6)),  # no zero group: long canonical form
        lambda: base + sum(rng.randrange(1, 0x1000) << (16 * k) for k in range(6)),        # leading zeros: exploded differs
        lambda: base + (rng.randrange(1, 1 << 16) << 80) + rng.randrange(1, 1 << 48),      # zeros in the middle
        lambda: base + rng.getrandbits(96),                                           # anywhere in the /32
    ]
    seen: dict[ipaddress.IPv6Address, None] = {}
    i = 0
    while len(seen) < count:
        seen.setdefault(ipaddress.IPv6Address(shapes[i % len(shapes)]()), None)
        i += 1
    return list(seen)


def forwarded_for(address: Address, i: int) -> tuple[str, set[str]]:
    """The header a proxy might send for ``address``, plus the spellings it contains."""
    if isinstance(address, ipaddress.IPv4Address):
        mapped = f"::ffff:{address}"
        forms = [str(address), f"{address}:{40000 + i}", f"{address}, 127.0.0.1", mapped]
        return forms[i % len(forms)], {str(address), mapped}
    canonical, exploded = str(address), address.exploded
    forms = [canonical, exploded, canonical.upper(), f"[{canonical}]:{40000 + i}", f"{exploded}, ::1"]
    return forms[i % len(forms)], {canonical, exploded, canonical.upper(), exploded.upper()}


def make_beacons(website_id: str, count: int, seed: int = 20261128) -> list[Beacon]:
    """``count`` beacons, half IPv4 and half IPv6, each with its own address and User-Agent."""
    rng = random.Random(seed)
    addresses: list[Address] = [*ipv4_addresses(rng, count // 2), *ipv6_addresses(rng, count - count // 2)]
    rng.shuffle(addresses)
    beacons = []
    for i, address in enumerate(addresses):
        forwarded, spellings = forwarded_for(address, i)
        ua, token = user_agent(i)
        event = i % 4 == 3
        url = f"https://{DOMAIN}/docs/{i % 7}?ref=e2e"
        props = {"plan": ("free", "pro", "team")[i % 3], "seats": i % 5}
        name = ("Signup", "Download")[i % 2] if event else None
        if i % 2:
            endpoint = "/api/send"
            extra: dict[str, Any] = {"name": name, "data": props} if event else {}
            body = umami(website_id, url, hostname=DOMAIN, **extra)
        else:
            endpoint = "/api/event"
            body = plausible(DOMAIN, url, name=name or "pageview", **({"p": json.dumps(props)} if event else {}))
        headers = {"Accept-Language": "de-DE,de;q=0.9,en;q=0.5"} if i % 3 == 0 else {}
        beacons.append(Beacon(address, forwarded, frozenset(spellings), ua, token, endpoint, body, event, headers))
    return beacons


@dataclass(frozen=True)
class Answer:
    index: int
    status: int
    dropped: str | None
    text: str


def send(server: LiveServer, beacons: Sequence[Beacon], workers: int = 4) -> list[Answer]:
    """Post every beacon to 127.0.0.1 over ``workers`` keep-alive connections."""

    def worker(part: int) -> list[Answer]:
        answers = []
        with httpx.Client(base_url=server.base_url, trust_env=False, timeout=15.0) as http:
            for i in range(part, len(beacons), workers):
                b = beacons[i]
                headers = {"User-Agent": b.user_agent, "X-Forwarded-For": b.forwarded, "Content-Type": "text/plain", **b.headers}
                r = http.post(b.endpoint, content=b.body, headers=headers)
                answers.append(Answer(i, r.status_code, r.headers.get("x-crumbless-dropped"), r.text[:200]))
        return answers

    with ThreadPoolExecutor(workers) as pool:
        results = [a for part in pool.map(worker, range(workers)) for a in part]
    return sorted(results, key=lambda a: a.index)


def assert_all_counted(beacons: Sequence[Beacon], answers: Sequence[Answer]) -> None:
    """Every beacon accepted and counted: a bot verdict or a 4xx would weaken the leak search."""
    expected = {"/api/send": 200, "/api/event": 202}
    bad = [(a.index, beacons[a.index].endpoint, a.status, a.dropped, a.text) for a in answers if a.status != expected[beacons[a.index].endpoint] or a.dropped]
    assert len(answers) == len(beacons)
    assert not bad, f"{len(bad)} beacons not counted, first: {bad[:5]}"


# ── searching for leaks ─────────────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class Leak:
    source: str
    offset: int
    what: str

    def __str__(self) -> str:
        return f"{self.source} @ {self.offset}: {self.what}"


def search_strings(haystacks: Mapping[str, bytes], needles: Mapping[bytes, str], prefix: int = 8) -> list[Leak]:
    """Every occurrence of any needle, found by scanning for the few prefixes the needles share.

    Thousands of needles share a handful of 8-byte prefixes (``192.0.2.``, ``2001:db8``,
    ``Mozilla/``...), so scanning for those and checking candidates only where one occurs keeps
    the search to a few passes over each file instead of one per needle.
    """
    groups: dict[bytes, list[tuple[bytes, str]]] = defaultdict(list)
    for needle, what in needles.items():
        assert len(needle) >= prefix, needle
        groups[needle[:prefix]].append((needle, what))
    leaks = []
    for source, data in haystacks.items():
        for start_bytes, members in groups.items():
            at = data.find(start_bytes)
            while at != -1:
                found = [(len(needle), what) for needle, what in members if data.startswith(needle, at)]
                if found:  # the longest match only: 192.0.2.1 inside 192.0.2.17 is the same leak
                    leaks.append(Leak(source, at, max(found)[1]))
                at = data.find(start_bytes, at + 1)
    return leaks


def search_hashes(haystacks: Mapping[str, bytes], hashes: Mapping[int, str]) -> list[Leak]:
    """64-bit visitor hashes as raw bytes (either order), decimal (unsigned or signed) and hex."""
    raw: dict[bytes, str] = {}
    decimal: dict[bytes, str] = {}
    hexes: dict[bytes, str] = {}
    for value, what in hashes.items():
        raw[value.to_bytes(8, "big")] = f"{what} as 8 bytes big-endian"
        raw[value.to_bytes(8, "little")] = f"{what} as 8 bytes little-endian"
        decimal[str(value).encode()] = f"{what} in decimal"
        if value >= 1 << 63:
            decimal[str(value - (1 << 64)).encode()] = f"{what} in signed decimal"
        hexes[f"{value:016x}".encode()] = f"{what} in hex"
    leaks = []
    for source, data in haystacks.items():
        for at in range(len(data) - 7):
            what = raw.get(data[at : at + 8])
            if what:
                leaks.append(Leak(source, at, what))
        for match in re.finditer(rb"-?\d{10,}", data):
            if match.group() in decimal:
                leaks.append(Leak(source, match.start(), decimal[match.group()]))
        for match in re.finditer(rb"[0-9a-fA-F]{16,}", data):
            run = match.group().lower()
            leaks += [Leak(source, match.start() + k, hexes[run[k : k + 16]]) for k in range(len(run) - 15) if run[k : k + 16] in hexes]
    return leaks


def text_needles(beacons: Sequence[Beacon]) -> dict[bytes, str]:
    """Each address in all its spellings and each User-Agent (whole and its unique token), in UTF-8 and UTF-16-LE."""
    needles: dict[bytes, str] = {}
    for b in beacons:
        texts = {s: f"address {b.address} spelled {s!r}" for s in b.spellings}
        texts[b.user_agent] = f"User-Agent of {b.address}"
        texts[b.token] = f"User-Agent token {b.token!r}"
        for text, what in texts.items():
            needles[text.encode("utf-8")] = what
            needles[text.encode("utf-16-le")] = f"{what} (UTF-16-LE)"
    return needles


def files_under(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root.parent)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def read_salts(database: Path) -> list[tuple[int, int, bytes]]:
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as db:
        rows = db.execute("SELECT site, day, salt FROM salts ORDER BY site, day").fetchall()
    db.close()
    return [(int(site), int(day), bytes(salt)) for site, day, salt in rows]


def site_number(database: Path, domain: str) -> int:
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as db:
        row = db.execute("SELECT id FROM sites WHERE domain = ?", (domain,)).fetchone()
    db.close()
    return int(row[0])


# ── deployments ──────────────────────────────────────────────────────────────────────────────


@dataclass
class Deployment:
    """A data directory with a site, the environment for every ``crumbless`` command, one server."""

    workdir: Path
    data_dir: Path
    env: dict[str, str]
    website_id: str
    server: LiveServer

    @property
    def database(self) -> Path:
        return self.data_dir / DB_NAME

    def stats(self) -> dict[str, Any]:
        return stats(self.env, DOMAIN, cwd=self.workdir)


@pytest.fixture
def deploy(tmp_path: Path) -> Iterator[Callable[..., Deployment]]:
    """Factory for a fresh deployment; every server it made is killed at teardown, whatever happened."""
    made: list[LiveServer] = []

    def make(geo: bool = True, **settings: str) -> Deployment:
        data_dir = tmp_path / "data"
        data_dir.mkdir()
        geo_db = data_dir / GEO_NAME if geo else data_dir / "no-such-country.mmdb"
        if geo:
            build_geo_db(geo_db)
        options = {"access_log": "on", "log_level": "debug", **settings}
        env = crumbless_env(data_dir, geo_db, **options)
        website_id = add_site(env, DOMAIN, cwd=tmp_path)
        server = LiveServer(env, tmp_path)
        made.append(server)
        return Deployment(tmp_path, data_dir, env, website_id, server)

    yield make
    for server in made:
        server.kill()


def wait_for_pageviews(deployment: Deployment, pageviews: int, events: int, timeout: float = 20) -> dict[str, Any]:
    """Poll ``crumbless stats`` until the periodic flush has written everything sent."""
    deadline = time.monotonic() + timeout
    while True:
        deployment.server.check_alive()
        result = deployment.stats()
        totals = result["totals"]
        if (totals["pageviews"], totals["events"]) == (pageviews, events) or time.monotonic() > deadline:
            return result
        time.sleep(0.5)


def country_visitors(result: Mapping[str, Any]) -> dict[str, int]:
    return {row["value"]: row["visitors"] for row in result["top"]["country"]}


def stop_gracefully(server: LiveServer, sig: int = signal.SIGTERM) -> None:
    code = server.stop(sig)
    log = server.stderr_text()
    assert code in clean_exit_codes(sig), f"exit status {code} after {signal.Signals(sig).name}\nstderr:\n{log[-3000:]}"
    assert "stopped; all counters written" in log, f"no final flush after {signal.Signals(sig).name}\nstderr:\n{log[-3000:]}"


# ── the tests ────────────────────────────────────────────────────────────────────────────────


def test_leak_search_finds_every_planted_spelling() -> None:
    """The search itself must work, or the end-to-end test's silence would prove nothing.

    Each identifier is planted in one spelling the search claims to cover, in text and binary
    surroundings, and must be reported at the right offset.
    """
    beacons = make_beacons("00000000-0000-0000-0000-000000000000", 40)
    v4 = next(b for b in beacons if b.address.version == 4)
    v6 = next(b for b in beacons if b.address.version == 6 and b.address.exploded != str(b.address))
    planted = {
        "canonical v4": f"x={v4.address};".encode(),
        "mapped v4": f"[::ffff:{v4.address}]".encode(),
        "exploded v6": b"\x00\x01" + v6.address.exploded.encode() + b"\xff",
        "utf-16 v6": "ip ".encode("utf-16-le") + str(v6.address).encode("utf-16-le"),
        "user agent": b"ua=" + v4.user_agent.encode(),
        "ua token": b"(" + v6.token.encode("utf-16-le") + b")",
    }
    leaks = search_strings(planted, text_needles(beacons))
    first = {source: min(leak.offset for leak in leaks if leak.source == source) for source in {leak.source for leak in leaks}}
    assert first == {"canonical v4": 2, "mapped v4": 1, "exploded v6": 2, "utf-16 v6": 6, "user agent": 3, "ua token": 1}, leaks
    assert search_strings({"clean": b"192.0.2 2001:db8: Mozilla/5.0 Firefox/131.0."}, text_needles(beacons)) == []

    value = (1 << 64) - 12345678901234567  # high bit set: signed and unsigned spellings differ
    hashes = {value: "h"}
    planted_hashes = {
        "big-endian": b"\x00" * 3 + value.to_bytes(8, "big"),
        "little-endian": b"ab" + value.to_bytes(8, "little"),
        "decimal": f"visitor {value} seen".encode(),
        "signed": f"id={value - (1 << 64)}".encode(),
        "hex": f"0x{value:016X}".encode(),
    }
    found = {leak.source: leak.offset for leak in search_hashes(planted_hashes, hashes)}
    assert found == {"big-endian": 3, "little-endian": 2, "decimal": 8, "signed": 3, "hex": 2}


def test_no_address_user_agent_or_visitor_hash_reaches_disk_or_log(deploy: Callable[..., Deployment]) -> None:
    """The issue's end-to-end test: 1,000 beacons in, counters out, and not one identifier left behind.

    Debug logging and the access log are on because the most talkative configuration is the one
    most likely to print a request's details. The counters are checked too: they prove the
    addresses were used (countries) and the User-Agents parsed, so an empty database cannot pass.
    """
    d = deploy(flush_interval="1")
    beacons = make_beacons(d.website_id, 1000)
    assert len({b.address for b in beacons}) == len({b.user_agent for b in beacons}) == len({b.token for b in beacons}) == 1000
    assert sum(b.address.version == 6 for b in beacons) == 500

    d.server.start()
    assert_all_counted(beacons, send(d.server, beacons))

    events = sum(b.event for b in beacons)
    during = wait_for_pageviews(d, len(beacons) - events, events)
    assert during["totals"]["pageviews"] + during["totals"]["events"] == len(beacons), during["totals"]

    # A clean stop checkpoints the WAL into the database and deletes it: copy what a crash (or a
    # backup taken now) would leave, so the WAL is searched while it still holds the pages.
    snapshot = d.workdir / "live-copy"
    snapshot.mkdir()
    live_files = [p for p in d.data_dir.iterdir() if p.name in SQLITE_FILES]
    for p in live_files:
        shutil.copyfile(p, snapshot / p.name)
    assert {p.name for p in live_files} >= {DB_NAME, f"{DB_NAME}-wal"}, f"expected a live WAL, found {sorted(p.name for p in live_files)}"

    stop_gracefully(d.server)
    after = d.stats()

    # ── the counters made it, and the addresses were used before they were dropped ──
    totals = after["totals"]
    assert totals["pageviews"] == len(beacons) - events and totals["events"] == events, totals
    assert totals["visitors"] == len(beacons), totals
    assert after["dropped"] == {}, after["dropped"]
    expected_countries = Counter(b.country for b in beacons)
    assert set(expected_countries) == {"DE", "FR", "JP", "NL"}
    assert country_visitors(after) == dict(expected_countries)
    assert sum(row["visitors"] for row in after["top"]["browser"]) == len(beacons)

    # ── the log was written (so its silence about visitors means something) ──
    log = d.server.stderr_path.read_bytes()
    assert len(ACCESS_LINE.findall(log)) == len(beacons), f"expected {len(beacons)} access lines\n{log[-2000:]!r}"
    assert b" DEBUG " in log, "debug logging was not active"

    # ── search every byte left behind ──
    haystacks = {
        **files_under(d.data_dir),
        **files_under(snapshot),
        **{p.name: p.read_bytes() for p in d.server.log_files},
        "crumbless stats --json": json.dumps(after, ensure_ascii=False).encode(),
    }
    salts = read_salts(d.database)
    site = site_number(d.database, DOMAIN)
    assert len(salts) == 1 and salts[0][0] == site, f"expected one salt for today, got {[(s, day) for s, day, _ in salts]}"
    salt = salts[0][2]
    hashes = {visitor_hash(salt, site, str(b.address), b.user_agent): f"visitor hash of {b.address}" for b in beacons}
    assert len(hashes) == len(beacons)

    leaks = search_strings(haystacks, text_needles(beacons)) + search_hashes(haystacks, hashes)
    sizes = {name: len(data) for name, data in haystacks.items()}
    assert not leaks, f"{len(leaks)} identifiers found on disk or in logs, first ones:\n" + "\n".join(map(str, leaks[:10])) + f"\nsearched: {sizes}"

    # ── the data directory holds the database, the country database and the (empty) lock of the
    # spill slot the server held (collector/spill.py), nothing else ──
    present = sorted(str(p.relative_to(d.data_dir)) for p in d.data_dir.rglob("*"))
    assert set(present) <= SQLITE_FILES | {GEO_NAME, SPILL_LOCK}, f"unexpected files in the data directory: {present}"
    assert not (d.data_dir / SPILL_LOCK).exists() or (d.data_dir / SPILL_LOCK).stat().st_size == 0
    assert DB_NAME in present


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_graceful_stop_writes_every_counted_hit(deploy: Callable[..., Deployment], sig: int) -> None:
    """With an hour between flushes only the shutdown flush can write: nothing counted may be lost.

    This is what makes ``CRUMBLESS_FLUSH_INTERVAL`` safe to raise: a deploy or ``docker stop``
    (SIGTERM) or Ctrl-C (SIGINT) must not cost the hits of the current interval.
    """
    d = deploy(flush_interval="3600", log_level="info")
    beacons = [b for b in make_beacons(d.website_id, 400, seed=int(sig)) if not b.event][:200]
    assert len(beacons) == 200
    d.server.start()
    assert_all_counted(beacons, send(d.server, beacons))

    assert d.stats()["totals"]["pageviews"] == 0, "nothing should be written before the shutdown flush"

    stop_gracefully(d.server, sig)
    totals = d.stats()["totals"]
    assert (totals["pageviews"], totals["visitors"], totals["visits"]) == (200, 200, 200), totals


def test_missing_country_database_still_counts_as_unknown(deploy: Callable[..., Deployment]) -> None:
    """A fresh install may serve before ``crumbless geo fetch`` ran: it must start, say why, and count."""
    d = deploy(geo=False, flush_interval="3600", log_level="info")
    d.server.start()
    log = d.server.stderr_text()
    assert re.search(r"WARNING crumbless\.geo: no country database at .*no-such-country\.mmdb", log), log

    beacons = make_beacons(d.website_id, 2)
    assert_all_counted(beacons, send(d.server, beacons, workers=1))
    stop_gracefully(d.server)

    result = d.stats()
    assert result["totals"]["visitors"] == 2, result["totals"]
    assert country_visitors(result) == {"Unknown": 2}
    assert not (d.data_dir / "no-such-country.mmdb").exists()


def test_restart_keeps_todays_salt(deploy: Callable[..., Deployment]) -> None:
    """Today's salt survives a restart, so today's visitor hashes stay the same.

    What a restart does forget is *who was seen* (visitor state is memory-only, README "What is
    stored"): the same visitor after a restart is counted again. Within one run the same address
    and User-Agent stay one visitor and a different address is a new one.
    """
    d = deploy(flush_interval="3600", log_level="info")
    first, second = make_beacons(d.website_id, 4)[:2]
    assert not first.event and not second.event and first.address != second.address
    returning = replace(first, forwarded=str(first.address))  # same visitor, plainest header

    d.server.start()
    assert_all_counted([first], send(d.server, [first], workers=1))
    stop_gracefully(d.server)
    salts_before = read_salts(d.database)
    assert len(salts_before) == 1, salts_before

    d.server.start()
    again = [returning, returning, replace(second, user_agent=first.user_agent)]
    assert_all_counted(again, send(d.server, again, workers=1))
    stop_gracefully(d.server)

    assert read_salts(d.database) == salts_before, "the restart replaced today's salt, so today's hashes changed"
    site, _, salt = salts_before[0]
    assert visitor_hash(salt, site, str(first.address), first.user_agent) != visitor_hash(salt, site, str(second.address), first.user_agent)
    totals = d.stats()["totals"]
    # 1 before the restart; after it the same visitor once more (forgotten, README) but only once
    # for two pageviews; plus the second address: 3 visitors, 4 pageviews.
    assert (totals["visitors"], totals["pageviews"]) == (3, 4), totals


def test_debug_log_does_not_contain_the_salt(deploy: Callable[..., Deployment]) -> None:
    """The salt is erased at day end so nobody can recompute a day's hashes; a log copy defeats that."""
    d = deploy(flush_interval="3600", log_level="debug")
    d.server.start()
    beacons = make_beacons(d.website_id, 1)
    assert_all_counted(beacons, send(d.server, beacons, workers=1))
    stop_gracefully(d.server)
    [(_, _, salt)] = read_salts(d.database)
    needles = {salt: "raw salt", salt.hex().encode(): "salt in hex", repr(salt)[2:-1].encode(): "salt as Python bytes repr"}
    logs = {p.name: p.read_bytes() for p in d.server.log_files}
    found = [Leak(name, data.find(n), what) for name, data in logs.items() for n, what in needles.items() if n in data]
    assert not found, "\n".join(map(str, found))

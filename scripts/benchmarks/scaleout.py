"""Scale-out: what sharing the day's state in Redis and the counters in PostgreSQL costs a beacon.

Three set-ups take turns under the ingest benchmark's wrk load (its beacon file, ``beacons.lua``,
threads and connections, its ``Server`` and ``Wrk``):

1. one ``crumbless serve`` on SQLite, the visitor state in its memory: this run's baseline;
2. one on PostgreSQL + Redis, wrk straight at it;
3. three on the same PostgreSQL + Redis behind HAProxy (round robin), wrk at HAProxy.

All of them run side by side for the whole benchmark: a warm-up each, then runs in rotating
order, and the median of each, so the ratios compare runs minutes apart on the same machine.
Set-ups 2 and 3 share one database and one Redis, as one deployment growing would.

Redis's ``INFO commandstats`` is read before and after every run against them: its calls per
beacon are what the shared state costs, whatever the machine. wrk replays a day of beacons in
about a minute, so half of them have another beacon of the same visitor among the 31 sent just
before: their reads and commits race, and a lost race costs a commit and a read more. A short
run with one connection after the others measures the same set-ups without those races, which is
what a real site's beacons, seconds apart per visitor, cost.

There is no target: DESIGN sets no time budget for scale-out, and on a machine with fewer cores
than collectors three collectors measure contention, not scaling. The counted-equals-sent
check of the ingest benchmark holds for both stores: after the runs every collector is stopped
(its last flush) and ``crumbless stats`` must report as many pageviews and events as wrk
completed, give or take the requests in flight when each run ended and the ones refused.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
import shutil
import statistics
import tempfile
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import redis

from collector import config
from scripts.benchmarks import countries, traffic
from scripts.benchmarks.ingest import FULL, QUICK, Load, Server, Wrk, cli, write_beacons
from scripts.benchmarks.results import Figure, Result
from tests.live_server import crumbless_command, crumbless_env, free_port
from tests.services import (
    PostgresServer,
    RedisServer,
    find_binary,
    haproxy_config,
    postgres_bindir,
    start_postgres,
    start_redis,
)

COLLECTORS = 3                  # behind HAProxy
SERIAL_SECONDS = {True: 2, False: 5}    # of the one-connection run, by ``quick``
SETTINGS = {"trusted_proxies": "127.0.0.1"}    # the ingest benchmark's; HAProxy's hop is loopback too
WRK, SERIAL = "wrk", "one at a time"    # the two kinds of measured run
ROUND_TRIPS = (
    "Per beacon a collector makes two Redis round trips: the read, a GET of the visitor's record (in one pipeline "
    "with the guard's EVALSHA when the beacon brings a value this collector has not yet seen admitted today), and "
    "the commit, one EVALSHA. Redis counts the commands those scripts run too (SISMEMBER, GET, SET, ZADD, "
    "ZREMRANGEBYSCORE, EXPIRE, INCR and EXPIREAT; SCARD and SADD for a new value). Each read and each commit holds "
    "exactly one GET (the commit script reads the record it compares), so GET calls are round trips. A commit "
    "refused because another beacon of the visitor committed first costs a read and a commit more: refused commits "
    "= (GET - beacons - ZADD) / 2, ZADD being once per commit that succeeded."
)
ACCESS_LINE = re.compile(r"crumbless\.access: [A-Z]+ \S+ (\d{3}) ")
REFUSAL_REASON = re.compile(r"refused \d+ beacon\(s\) with 503: (.*)")


@dataclass
class Setup:
    """One of the three set-ups: where wrk sends, and, on Redis, what each run asked of it."""

    label: str
    target: Server
    wrk: Wrk                    # its store's: the expected counts of set-ups 2 and 3 add up in one
    redis: redis.Redis | None = None
    calls: dict[str, Counter[str]] = field(default_factory=lambda: {WRK: Counter(), SERIAL: Counter()})
    beacons: Counter[str] = field(default_factory=Counter)     # 2xx of the measured runs, by kind of run

    def run(self, seconds: int, measured: bool, serial: bool = False) -> dict[str, Any]:
        """One wrk run; ``serial`` with one connection instead of the load's, in the same accounting."""
        load = self.wrk.load
        if serial:
            self.wrk.load = dataclasses.replace(load, threads=1, connections=1)
        before = commandstats(self.redis) if self.redis is not None else Counter()
        try:
            result = self.wrk.run(self.target, seconds, measured)
        finally:
            self.wrk.load = load
        kind = SERIAL if serial else WRK
        result.update(kind=kind, load_average=os.getloadavg())
        if self.redis is not None:
            calls = commandstats(self.redis) - before
            calls.pop("info", None)  # our own reading
            result["redis_calls"] = dict(calls)
            if measured:
                self.calls[kind] += calls
        if measured:
            self.beacons[kind] += result["requests"] - result["status_errors"]
        return result

    def measured(self, kind: str) -> list[dict[str, Any]]:
        return [r for r in self.wrk.runs if r["server"] == self.target.name and r["kind"] == kind and r["measured"]]

    def redis_figures(self, kind: str) -> dict[str, float]:
        """Per beacon: Redis commands, round trips, commits refused by a race, beacons not committed."""
        calls, beacons = self.calls[kind], max(self.beacons[kind], 1)
        return {
            "commands": sum(calls.values()) / beacons,
            "round_trips": calls["get"] / beacons,
            "refused_commits": (calls["get"] - beacons - calls["zadd"]) / 2 / beacons,
            "not_committed": 1 - calls["zadd"] / beacons,
        }


def commandstats(client: redis.Redis) -> Counter[str]:
    """Calls per command since Redis started, the ones scripts make included."""
    stats: dict[str, dict[str, Any]] = client.info("commandstats")
    return Counter({name.removeprefix("cmdstat_"): int(s["calls"]) for name, s in stats.items()})


def check_tools() -> None:
    """Fail with what to install, not with the test suite's skip (which a benchmark must not raise)."""
    wanted = {
        "PostgreSQL (initdb, pg_ctl)": postgres_bindir() is not None,
        "redis-server": find_binary("redis-server") is not None,
        "haproxy": find_binary("haproxy") is not None,
        "wrk": shutil.which("wrk") is not None,
    }
    absent = [name for name, there in wanted.items() if not there]
    if absent:
        raise RuntimeError(f"the scale-out benchmark needs {', '.join(absent)} (scripts/bench installs them on Debian)")


def add_site(env: Mapping[str, str]) -> str:
    """``crumbless site add`` in the store ``env`` names; its website id, which the beacons carry."""
    return cli(env, "site", "add", traffic.DOMAIN).splitlines()[0].rsplit(" id ", 1)[1].strip()


@dataclass(frozen=True)
class Store:
    """A store beacons are counted in: ``crumbless stats`` there must add up to its ``wrk``'s 2xx."""

    name: str
    env: Mapping[str, str]
    site: str
    wrk: Wrk


@dataclass
class Deployment:
    """Everything the three set-ups run on, started; ``setups`` in the order of the question asked."""

    setups: list[Setup]
    stores: list[Store]
    servers: list[Server]       # every process of ours, the proxy first, so nothing new arrives while they stop

    def stop(self) -> dict[str, int | None]:
        """SIGTERM each (collectors flush on the way out); their exit codes. Stopping twice is harmless."""
        return {server.name: server.stop() for server in self.servers}


@contextlib.contextmanager
def deployment(load: Load, work: Path) -> Iterator[Deployment]:
    """PostgreSQL, Redis, HAProxy and five collectors, all of them gone afterwards whatever happened."""
    check_tools()
    geo = countries.build(work / "country.mmdb")
    serve = [*crumbless_command(), "serve"]
    postgres: PostgresServer | None = None
    state: RedisServer | None = None
    servers: list[Server] = []
    try:
        postgres, state = start_postgres(), start_redis()
        shared = {**SETTINGS, "database_url": postgres.url(postgres.create_database()), "redis_url": state.url}
        # each collector has a data directory of its own, as on machines of their own
        envs = {"sqlite": crumbless_env(work / "sqlite", geo, **SETTINGS)}
        envs.update({f"postgres-{i}": crumbless_env(work / f"postgres-{i}", geo, **shared)
                     for i in range(COLLECTORS + 1)})
        collect_path = config.load(envs["sqlite"]).collect_path
        stores = []
        for name in ("sqlite", "postgres-0"):
            site = add_site(envs[name])
            kinds = write_beacons(work / f"{name}.tsv", traffic.Site(site, pages=5_000), load.visitors, collect_path)
            stores.append(Store(name.split("-")[0], envs[name], site, Wrk(load, work / f"{name}.tsv", kinds)))
        collectors = {name: Server(name, serve, env, int(env["CRUMBLESS_PORT"]), work, counts=True)
                      for name, env in envs.items()}
        proxy = haproxy([collectors[f"postgres-{i}"] for i in range(1, COLLECTORS + 1)], work)
        servers = [proxy, *collectors.values()]
        for server in [*collectors.values(), proxy]:
            server.start()
        client = redis.Redis.from_url(state.url)
        yield Deployment(
            setups=[
                Setup("1 × SQLite", collectors["sqlite"], stores[0].wrk),
                Setup("1 × PostgreSQL + Redis", collectors["postgres-0"], stores[1].wrk, client),
                Setup(f"{COLLECTORS} × PostgreSQL + Redis behind HAProxy", proxy, stores[1].wrk, client),
            ],
            stores=stores,
            servers=servers,
        )
    finally:
        for server in servers:
            server.stop()
        if state is not None:
            state.remove()
        if postgres is not None:
            postgres.remove()


def haproxy(backends: list[Server], work: Path) -> Server:
    """HAProxy round robin over ``backends``, run as a ``Server`` (its /healthz is a collector's).

    Without health checks: they would add requests of their own to the collectors' load.
    """
    binary = find_binary("haproxy")
    assert binary is not None  # check_tools
    port = free_port()
    (work / "haproxy.cfg").write_text(haproxy_config([b.port for b in backends], port, health=None))
    return Server("haproxy", [binary, "-f", str(work / "haproxy.cfg"), "-db"], os.environ, port, work, counts=True)


def run(quick: bool) -> Result:
    load = QUICK if quick else FULL
    with tempfile.TemporaryDirectory(prefix="crumbless-bench-") as tmp, deployment(load, Path(tmp)) as deployed:
        started = datetime.now(timezone.utc).date()
        setups = deployed.setups
        for setup in setups:
            setup.run(load.warmup_seconds, measured=False)
        for i in range(load.runs):
            for setup in setups[i % len(setups):] + setups[:i % len(setups)]:
                setup.run(load.seconds, measured=True)
        for setup in setups:
            setup.run(SERIAL_SECONDS[quick], measured=True, serial=True)
        exit_codes = deployed.stop()
        totals = {store.name: counted_totals(store, started) for store in deployed.stores}
        logs = {s.name: (s.workdir / f"{s.name}.err").read_text(errors="replace") for s in deployed.servers}
        unshared = ("CRUMBLESS_DATA_DIR", "CRUMBLESS_GEO_DB", "CRUMBLESS_PORT")
        settings = {k: v for k, v in deployed.stores[1].env.items() if k.startswith("CRUMBLESS_") and k not in unshared}
        return figures(load, setups, deployed.stores, totals, exit_codes, logs, settings)


def counted_totals(store: Store, started: date) -> dict[str, Any]:
    since = (started - timedelta(days=1)).isoformat()  # a run across midnight counts into two days
    report = json.loads(cli(store.env, "stats", store.site, "--json", "--from", since))
    totals: dict[str, Any] = report["totals"]
    return totals


def refusals(logs: dict[str, str]) -> tuple[Counter[int], list[str]]:
    """The collectors' answers ≥ 400 by status, from their access logs, and why the state refused beacons."""
    statuses = Counter(int(m[1]) for text in logs.values() for m in ACCESS_LINE.finditer(text) if int(m[1]) >= 400)
    reasons = sorted({m[1] for text in logs.values() for m in REFUSAL_REASON.finditer(text)})
    return statuses, reasons


def compared(label: str, values: list[float], i: int, unit: str) -> Figure:
    """The ``i``-th set-up's figure, against the first's (the baseline) unless it is the first."""
    if i == 0:
        return Figure(label, values[0], unit)
    return Figure(label, values[i], unit, baseline=values[0], ratio=values[i] / values[0])


def figures(load: Load, setups: list[Setup], stores: list[Store], totals: dict[str, dict[str, Any]],
            exit_codes: dict[str, int | None], logs: dict[str, str], settings: dict[str, str]) -> Result:
    rates = [statistics.median(r["hits_per_s"] for r in s.measured(WRK)) for s in setups]
    latencies = [statistics.median(r["latency_p50_us"] for r in s.measured(SERIAL)) / 1000 for s in setups]
    lines = [compared(f"hits/s, {s.label}", rates, i, "/s") for i, s in enumerate(setups)]
    lines += [compared(f"ms per beacon one at a time (p50), {s.label}", latencies, i, "ms")
              for i, s in enumerate(setups)]
    shared = [s for s in setups if s.redis is not None]
    costs = {s.label: {kind: s.redis_figures(kind) for kind in (WRK, SERIAL)} for s in shared}
    for s in shared:
        cost = costs[s.label]
        lines += [
            Figure(f"Redis commands per beacon, {s.label}", cost[WRK]["commands"], ""),
            Figure(f"Redis round trips per beacon, {s.label}", cost[WRK]["round_trips"], ""),
            Figure(f"of which refused commits and their reads, {s.label}", 2 * cost[WRK]["refused_commits"], ""),
            Figure(f"Redis commands per beacon one at a time, {s.label}", cost[SERIAL]["commands"], ""),
            Figure(f"Redis round trips per beacon one at a time, {s.label}", cost[SERIAL]["round_trips"], ""),
        ]
    runs = [r for store in stores for r in store.wrk.runs]
    statuses, reasons = refusals(logs)
    status_errors = sum(r["status_errors"] for r in runs)
    socket_errors = sum(r[k] for r in runs for k in ("connect_errors", "read_errors", "write_errors", "timeouts"))
    lines += [
        Figure("503: the visitor state refused the beacon", statuses[503], ""),
        Figure("other responses ≥ 400 (wrk's, less the 503s)", status_errors - statuses[503], "", "= 0",
               status_errors == statuses[503]),
        Figure("socket errors and timeouts (wrk)", socket_errors, "", "= 0", socket_errors == 0),
    ]
    for store in stores:
        wrk, counted = store.wrk, totals[store.name]["pageviews"] + totals[store.name]["events"]
        refused = sum(r["status_errors"] for r in wrk.runs)  # of kinds unknown: some may have been engagement pings
        lines.append(Figure(f"pageviews + events counted / sent, {store.name}", counted, "", "= sent",
                            wrk.expected - refused <= counted <= wrk.expected + wrk.in_flight, baseline=wrk.expected,
                            ratio=counted / wrk.expected if wrk.expected else None))
    return Result(
        figures=lines,
        details={
            "machine": (f"{os.cpu_count()} cores shared by wrk, HAProxy, PostgreSQL, Redis and all five collectors: "
                        f"with fewer cores than collectors, '{setups[-1].label}' measures contention, not scaling; "
                        "what the run shows is what the shared state costs per beacon."),
            "round_trips": ROUND_TRIPS,
            "races": ("wrk replays a day of beacons in about a minute: half of them have another beacon of the same "
                      "visitor among the 31 sent just before, so reads and commits race; the one-connection runs "
                      "have no races, as a real site's beacons, seconds apart per visitor, have none."),
            "load": load.__dict__,
            "serial_seconds": setups[0].measured(SERIAL)[0]["seconds"],
            "settings": settings,
            "redis_per_beacon": costs,
            "redis_calls_per_beacon": {s.label: {k: {name: n / max(s.beacons[k], 1) for name, n in c.most_common()}
                                                 for k, c in s.calls.items()} for s in shared},
            "beacons_measured": {s.label: dict(s.beacons) for s in setups},
            "runs": {s.label: [r for r in s.wrk.runs if r["server"] == s.target.name] for s in setups},
            "statuses_logged": dict(statuses),
            "refusal_reasons": reasons,
            "counted": totals,
            "expected_counted": {store.name: store.wrk.expected for store in stores},
            "in_flight_allowance": {store.name: store.wrk.in_flight for store in stores},
            "exit_codes": exit_codes,
            "stderr_tails": {name: text[-600:] for name, text in logs.items()},
        },
    )

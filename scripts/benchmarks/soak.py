"""Soak: one ``crumbless serve`` under a steady load of a million distinct visitors for ten minutes.

The server keeps the day's visitor state in its memory, capped by ``CRUMBLESS_MAX_VISITORS``
well below the visitors sent, so the cap, not the day's traffic, is what bounds its memory:
once it is reached, every new visitor evicts the least recently seen one. The question is
whether the process's memory then stays flat, and under what the cap allows (about 300 B per
visitor on top of what the idle server holds).

The load is the ingest benchmark's, with its ``Server``, ``Wrk`` and ``beacons.lua``: one wrk
thread with 32 connections, each sending its next beacon as soon as the last one is answered,
so the rate is steady at what the server sustains (plain wrk, no throttling). The beacons are the
synthetic site's (``traffic``), with short visits so that ten minutes at a quiet 2-core machine's
rate (~1,800 beacons/s) reach a million visitors: one pageview each, an engagement ping after 10 %
of them, an event in 6 %; a slower run sends fewer ("distinct visitors sent" says how many).
Every visitor has an address of its own, and the site has 50,000 pages (Zipf), so the
cardinality guard's bound of 5,000 values a day is reached within the first minute.

Every few seconds the server's resident memory is read from ``/proc/PID/status`` (VmRSS), and
its log for what it did since: the access-log lines (beacons answered, and any that were not
2xx) and the eviction warning housekeeping writes every 15 s. The warm-up ends a while after
the first evictions are reported: from then on the state holds exactly the cap (it evicts only
beyond it, and nothing else drops a record before the day ends), so RSS should stay flat. After
the run, the server is stopped (its last flush) and ``crumbless stats`` must count as many
pageviews and events as wrk completed, as in the ingest benchmark.

Ten minutes, so ``scripts/bench`` runs it only when asked (``--only soak``); ``--quick`` makes
it a one-minute smoke test with a tenth of the visitors and the cap.
"""

from __future__ import annotations

import json
import os
import re
import statistics
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from collector import config
from scripts.benchmarks import countries, machine, traffic
from scripts.benchmarks.ingest import Load, Server, Wrk, cli, write_beacons
from scripts.benchmarks.results import Figure, Result, at_least, at_most
from scripts.benchmarks.scaleout import add_site
from tests.live_server import crumbless_command, crumbless_env

BYTES_PER_VISITOR = 300         # DESIGN §9's budget per visitor held
FLAT_SHARE = 0.05               # growth after the warm-up allowed, as a share of RSS at its end
MIB = 1 << 20
# One pageview a visit, so that 10 minutes at ~1,800 beacons/s hold about a million visitors.
HABITS = traffic.Habits(pageviews_per_visit=1.0, engagement_share=0.1, second_visit_share=0.0)
ACCESS_LINE = re.compile(rb"crumbless\.access: [A-Z]+ \S+ (\d{3}) ")
EVICTED = re.compile(rb"because CRUMBLESS_MAX_VISITORS was reached \((\d+) in all\)")


@dataclass(frozen=True)
class Soak:
    seconds: int                # of the one wrk run
    visitors: int               # distinct: the beacon file holds this many visitors' beacons
    max_visitors: int           # CRUMBLESS_MAX_VISITORS
    settle_seconds: int         # the warm-up ends this long after the first evictions are reported
    row_seconds: int            # one row of the curve per this many seconds
    sample_seconds: float = 5.0
    pages: int = 50_000

    def load(self) -> Load:
        return Load(seconds=self.seconds, warmup_seconds=0, runs=1, visitors=self.visitors)


FULL = Soak(seconds=600, visitors=1_000_000, max_visitors=200_000, settle_seconds=60, row_seconds=60)
QUICK = Soak(seconds=60, visitors=100_000, max_visitors=10_000, settle_seconds=10, row_seconds=10)


class Crowd(traffic.Site):
    """The synthetic site, but no two visitors share an address: once a country's IPv4 block is
    used up, its visitors come from its /48. A million visitors would otherwise wrap the blocks,
    and two visitors with the same address and browser are one to the collector."""

    def address(self) -> str:
        block = self.countries.draw(self.rng)
        self.serials[block.code] += 1
        serial = self.serials[block.code]
        return block.address(serial, serial >= block.ipv4_size or self.rng.random() < countries.IPV6_SHARE)


@dataclass(frozen=True)
class Sample:
    at: float                   # time.monotonic()
    rss: int                    # bytes
    answered: int               # access-log lines so far
    not_2xx: int                # of which not 2xx
    evicted: int                # visitors forgotten so far, as the log last said
    load_average: float         # the machine's, over the last minute


class Sampler(threading.Thread):
    """Reads the server's RSS and the new part of its log every ``every`` seconds until stopped."""

    def __init__(self, server: Server, every: float) -> None:
        super().__init__(daemon=True)
        assert server.proc is not None
        self.pid, self.every = server.proc.pid, every
        self.log = open(server.workdir / f"{server.name}.err", "rb")
        self.answered = self.not_2xx = self.evicted = 0
        self.samples: list[Sample] = []
        self.stopping = threading.Event()

    def take(self) -> Sample:
        chunk = self.log.read()
        whole = chunk.rfind(b"\n") + 1       # a line still being written is read next time
        self.log.seek(whole - len(chunk), os.SEEK_CUR)
        statuses = ACCESS_LINE.findall(chunk, 0, whole)
        self.answered += len(statuses)
        self.not_2xx += sum(not s.startswith(b"2") for s in statuses)
        self.evicted = max([self.evicted, *(int(n) for n in EVICTED.findall(chunk, 0, whole))])
        rss_kb = machine._first(f"/proc/{self.pid}/status", "VmRSS").split(" ")[0]
        load_average = os.getloadavg()[0]
        sample = Sample(time.monotonic(), int(rss_kb) * 1024, self.answered, self.not_2xx, self.evicted, load_average)
        self.samples.append(sample)
        return sample

    def run(self) -> None:
        while not self.stopping.wait(self.every):
            self.take()

    def finish(self) -> Sample:
        """Stop sampling; one last sample, taken now."""
        self.stopping.set()
        self.join()
        last = self.take()
        self.log.close()
        return last


def run(quick: bool) -> Result:
    soak = QUICK if quick else FULL
    with tempfile.TemporaryDirectory(prefix="crumbless-soak-") as tmp:
        work = Path(tmp)
        env = crumbless_env(work / "data", countries.build(work / "country.mmdb"), trusted_proxies="127.0.0.1",
                            max_visitors=str(soak.max_visitors))
        website_id = add_site(env)
        site = Crowd(website_id, pages=soak.pages, habits=HABITS)
        collect_path = config.load(env).collect_path
        kinds = write_beacons(work / "beacons.tsv", site, soak.visitors, collect_path)
        wrk = Wrk(soak.load(), work / "beacons.tsv", kinds)
        serve = [*crumbless_command(), "serve"]
        server = Server("crumbless", serve, env, int(env["CRUMBLESS_PORT"]), work, counts=True)
        started = datetime.now(UTC).date()
        try:
            server.start()
            prime(server, site, collect_path)
            sampler = Sampler(server, soak.sample_seconds)
            sampler.take()
            sampler.start()
            try:
                result = wrk.run(server, soak.seconds, measured=True)
            finally:
                last = sampler.finish()
            load_started = last.at - result["duration_us"] / 1e6
        finally:
            exit_code = server.stop()
        since = (started - timedelta(days=1)).isoformat()
        report = json.loads(cli(env, "stats", website_id, "--json", "--from", since))
        sent = distinct_visitors(work / "beacons.tsv", result["requests"])
        return figures(soak, wrk, sampler.samples, load_started, sent, report["totals"], exit_code, server.stderr())


def prime(server: Server, site: traffic.Site, collect_path: str) -> None:
    """An engagement ping with each browser's User-Agent before the load, so that what the server
    builds on first use (the User-Agent parser, ~30 MB) is in the idle figure, not the visitors'.
    A ping without a visit counts nothing and keeps no record."""
    address = countries.BLOCKS[0].address(0, ipv6=False)  # serial 0: never a visitor's
    with httpx.Client(trust_env=False, timeout=10) as http:
        for agent, _, screens in traffic.USER_AGENTS:
            ping = site.beacon(traffic.Visitor(agent, screens[0], traffic.LANGUAGES[0], address), 0,
                               {"n": "engagement", "u": traffic.ORIGIN + "/", "e": 1000, "sd": 50})
            headers = {"Content-Type": "text/plain", "User-Agent": ping.user_agent, "X-Forwarded-For": ping.address}
            http.post(server.url + collect_path, content=ping.body, headers=headers).raise_for_status()


def distinct_visitors(beacons: Path, sent: int) -> int:
    """Distinct (User-Agent, address) pairs among the first ``sent`` beacons of the file (wrk wraps)."""
    seen: set[int] = set()
    with beacons.open() as lines:
        next(lines)  # the collect path
        for _, line in zip(range(sent), lines, strict=False):
            _, agent, _, address = line.rstrip("\n").split("\t")
            seen.add(hash((agent, address)))
    return len(seen)


def curve(samples: list[Sample], baseline: Sample, load_started: float, row_seconds: int,
          warmup_end: float | None) -> list[dict[str, Any]]:
    """The idle sample, then a row every ``row_seconds`` of load (the first sample from each mark
    on), and the last sample; each with the rate since the row before."""
    idle = {"seconds": None, "rss_mib": round(baseline.rss / MIB, 1), "beacons_per_s": None, "evicted": 0,
            "warmed_up": False, "load_average": round(baseline.load_average, 2)}
    rows: list[dict[str, Any]] = [idle]
    previous, mark = baseline, float(row_seconds)
    during = [s for s in samples if s.at >= load_started]
    for sample in during:
        elapsed = sample.at - load_started
        due = elapsed + 1 >= mark or (sample is during[-1] and sample.at - previous.at >= row_seconds / 4)
        if not due:
            continue
        rows.append({"seconds": round(elapsed, 1), "rss_mib": round(sample.rss / MIB, 1),
                     "beacons_per_s": round((sample.answered - previous.answered) / (sample.at - previous.at)),
                     "evicted": sample.evicted, "warmed_up": warmup_end is not None and sample.at >= warmup_end,
                     "load_average": round(sample.load_average, 2)})
        previous, mark = sample, (elapsed + 1) // row_seconds * row_seconds + row_seconds
    return rows


def markdown(rows: list[dict[str, Any]]) -> str:
    """The curve as BENCHMARKS.md shows it."""
    lines = ["| time | RSS | beacons/s since the row before | visitors evicted (log) | load average |",
             "|---:|---:|---:|---:|---:|"]
    for r in rows:
        when = "idle" if r["seconds"] is None else f"{int(r['seconds'] + 0.5) // 60}:{int(r['seconds'] + 0.5) % 60:02d}"
        when += "" if r["warmed_up"] or r["seconds"] is None else " (warm-up)"
        rate = "—" if r["beacons_per_s"] is None else f"{r['beacons_per_s']:,}"
        lines.append(f"| {when} | {r['rss_mib']:,.1f} MiB | {rate} | {r['evicted']:,} | {r['load_average']:.1f} |")
    return "\n".join(lines)


def slope_mib_per_minute(samples: list[Sample]) -> float:
    if len(samples) < 2:
        return 0.0
    fit = statistics.linear_regression([s.at / 60 for s in samples], [s.rss / MIB for s in samples])
    return fit.slope


def figures(soak: Soak, wrk: Wrk, samples: list[Sample], load_started: float, sent_visitors: int,
            totals: dict[str, Any], exit_code: int | None, stderr: str) -> Result:
    result = wrk.runs[-1]
    baseline = max((s for s in samples if s.at < load_started), key=lambda s: s.at, default=samples[0])
    during = [s for s in samples if s.at >= load_started]
    end = during[-1]
    first_eviction = next((s.at for s in during if s.evicted), None)
    settled = (s for s in during if first_eviction is not None and s.at >= first_eviction + soak.settle_seconds)
    warm = next(settled, None)
    after = [s for s in during if s.at >= warm.at] if warm else []
    bound = baseline.rss + soak.max_visitors * BYTES_PER_VISITOR
    if warm:
        peak = max(s.rss for s in after)
        growth, flat = end.rss - warm.rss, FLAT_SHARE * warm.rss
        flatness = at_most(round(growth / MIB, 1), round(flat / MIB, 1))
    else:  # the cap was never reached, or too late to see memory settle: nothing was soaked
        peak, growth, flatness = max(s.rss for s in during), 0, ("cap reached", False)
    per_visitor = ((warm or end).rss - baseline.rss) / soak.max_visitors
    counted = totals["pageviews"] + totals["events"]
    plausible = wrk.expected <= counted <= wrk.expected + wrk.in_flight
    errors = sum(result[k] for k in ("status_errors", "connect_errors", "read_errors", "write_errors", "timeouts"))
    rows = curve(samples, baseline, load_started, soak.row_seconds, warm.at if warm else None)
    return Result(
        figures=[
            Figure("RSS idle, before the load", baseline.rss / MIB, "MiB"),
            Figure("RSS at warm-up end", (warm or end).rss / MIB, "MiB"),
            Figure("RSS at the end", end.rss / MIB, "MiB"),
            Figure("RSS above idle at warm-up end, per visitor held", per_visitor, "B"),
            Figure("RSS max after warm-up, against idle + cap × 300 B", peak / MIB, "MiB",
                   *at_most(round(peak / MIB, 1), round(bound / MIB, 1)), baseline=bound / MIB, ratio=peak / bound),
            Figure(f"RSS growth, warm-up end to end (≤ {FLAT_SHARE:.0%})", growth / MIB, "MiB", *flatness),
            Figure("RSS trend after warm-up (least squares)", slope_mib_per_minute(after), "MiB/min"),
            Figure("beacons/s (wrk -t1 -c32)", result["hits_per_s"], "/s"),
            Figure("distinct visitors sent, against the cap", sent_visitors, "", baseline=soak.max_visitors,
                   ratio=sent_visitors / soak.max_visitors),
            Figure("visitors evicted (log)", end.evicted, "", *at_least(end.evicted, 1)),
            Figure("responses not 2xx (access log)", end.not_2xx, "", "= 0", end.not_2xx == 0),
            Figure("responses ≥ 400, socket errors and timeouts (wrk)", errors, "", "= 0", errors == 0),
            Figure("pageviews + events counted / sent", counted, "", "= sent", plausible, baseline=wrk.expected,
                   ratio=counted / wrk.expected if wrk.expected else None),
        ],
        details={"soak": asdict(soak), "load": asdict(wrk.load), "run": result, "rss_bound_bytes": bound,
                 "warmup_end_seconds": round(warm.at - load_started, 1) if warm else None,
                 "curve": rows, "curve_markdown": markdown(rows),
                 "samples": [{**asdict(s), "at": round(s.at - load_started, 1)} for s in samples],
                 "counted": totals, "expected_counted": wrk.expected, "in_flight_allowance": wrk.in_flight,
                 "crumbless_exit_code": exit_code, "crumbless_stderr_tail": stderr[-1000:]},
    )

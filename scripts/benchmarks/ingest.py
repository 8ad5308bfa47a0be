"""Ingest: beacons per second of one ``crumbless serve`` process under wrk, against a bare ASGI app.

Both servers run side by side for the whole benchmark, one uvicorn worker each with the same
options, and take turns under the same wrk load (same script, threads and connections): a
warm-up each, then alternating runs, and the median of each. Machines are noisy, so only the
ratio of the two medians, measured minutes apart, is compared with the target.

Each server's CPU time per request over the measured runs is reported beside the rates: it is
what a change to the pipeline moves, and other work on a shared machine sways it less.

Fast answers prove nothing if nothing was counted: every 2xx must be a beacon counted, so after
the runs the server is stopped (its last flush) and ``crumbless stats`` must report as many
pageviews and events as wrk completed, give or take the requests still in flight when each
wrk run ended.
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Mapping

import httpx

from collector import config
from scripts.benchmarks import countries, traffic
from scripts.benchmarks.results import Figure, Result, at_least
from tests.live_server import LOOPBACK, crumbless_command, crumbless_env, free_port

TARGET_RATIO = 0.5
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
HERE = Path(__file__).resolve().parent
COUNTED_KINDS = ("pageview", "event")


@dataclass(frozen=True)
class Load:
    seconds: int
    warmup_seconds: int
    runs: int
    visitors: int               # whose beacons the wrk script cycles through
    threads: int = 1
    connections: int = 32


FULL = Load(seconds=10, warmup_seconds=3, runs=3, visitors=15_000)
QUICK = Load(seconds=3, warmup_seconds=1, runs=3, visitors=1_500)


class Server:
    """A server process on a loopback port, its output kept in files, stopped by its own handle."""

    def __init__(self, name: str, command: list[str], env: Mapping[str, str], port: int, workdir: Path, counts: bool) -> None:
        self.name, self.command, self.env, self.port, self.workdir = name, command, dict(env), port, workdir
        self.counts = counts        # its answers must show up in ``crumbless stats``
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def start(self, timeout: float = 30) -> None:
        with open(self.workdir / f"{self.name}.out", "wb") as out, open(self.workdir / f"{self.name}.err", "wb") as err:
            self.proc = subprocess.Popen(self.command, env=self.env, cwd=self.workdir, stdin=subprocess.DEVNULL, stdout=out, stderr=err, start_new_session=True)
        deadline = time.monotonic() + timeout
        with httpx.Client(trust_env=False, timeout=1.0) as http:
            while True:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n{self.stderr()}")
                try:
                    http.get(f"{self.url}/healthz")
                    return
                except httpx.TransportError:
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"{self.name} did not answer within {timeout} s:\n{self.stderr()}") from None
                    time.sleep(0.1)

    def cpu_seconds(self) -> float | None:
        """User and system CPU time the process has used so far (Linux ``/proc``); None without it."""
        if self.proc is None:
            return None
        try:
            fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # not Linux, or the process has gone
            return None
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS

    def stderr(self) -> str:
        return (self.workdir / f"{self.name}.err").read_text(errors="replace")[-3000:]

    def stop(self, timeout: float = 30) -> int | None:
        """SIGTERM and wait: Crumbless flushes its counters on the way out. None if never started."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        return self.proc.returncode


def cli(env: Mapping[str, str], *args: str) -> str:
    done = subprocess.run([*crumbless_command(), *args], env=dict(env), capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        raise RuntimeError(f"`crumbless {' '.join(args)}` exited {done.returncode}: {done.stderr}")
    return done.stdout


def write_beacons(path: Path, site: traffic.Site, visitors: int, collect_path: str) -> list[str]:
    """The data file beacons.lua reads; returns each beacon's kind, in the order wrk sends them."""
    beacons = site.day(0, visitors)
    fields = ((b.body.decode(), b.user_agent, b.accept_language, b.address) for b in beacons)
    path.write_text("\n".join([collect_path, *("\t".join(f) for f in fields), ""]))
    return [b.kind for b in beacons]


@dataclass
class Wrk:
    """Runs wrk against a server, each run picking up the beacon list where the last one stopped."""

    load: Load
    data_file: Path
    kinds: list[str]
    offset: int = 0
    expected: int = 0           # pageviews and events among the beacons completed so far
    in_flight: int = 0          # requests that may have reached the server uncounted by wrk
    runs: list[dict[str, Any]] = field(default_factory=list)

    def run(self, server: Server, seconds: int, measured: bool) -> dict[str, Any]:
        """One wrk run; ``measured`` runs (not warm-ups) give the medians."""
        command = ["wrk", f"-t{self.load.threads}", f"-c{self.load.connections}", f"-d{seconds}s", "--timeout", "5s",
                   "-s", str(HERE / "beacons.lua"), server.url + "/", "--", str(self.data_file), str(self.offset)]
        cpu_before = server.cpu_seconds()
        done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60)
        cpu_after = server.cpu_seconds()
        cpu = None if cpu_before is None or cpu_after is None else cpu_after - cpu_before
        line = next((out for out in done.stdout.splitlines() if out.startswith("BENCH-RESULT ")), None)
        if done.returncode != 0 or line is None:
            raise RuntimeError(f"wrk failed ({done.returncode}): {done.stdout}\n{done.stderr}")
        result: dict[str, Any] = json.loads(line.removeprefix("BENCH-RESULT "))
        result.update(server=server.name, seconds=seconds, measured=measured, hits_per_s=result["requests"] / (result["duration_us"] / 1e6),
                      cpu_us_per_request=1e6 * cpu / result["requests"] if cpu is not None and result["requests"] else None)
        if server.counts:
            self.expected += sum(self.kinds[(self.offset + i) % len(self.kinds)] in COUNTED_KINDS for i in range(result["requests"]))
            self.in_flight += self.load.connections
        self.offset += result["requests"]
        self.runs.append(result)
        return result


def run(quick: bool) -> Result:
    load = QUICK if quick else FULL
    with tempfile.TemporaryDirectory(prefix="crumbless-bench-") as tmp:
        work = Path(tmp)
        env = crumbless_env(work / "data", countries.build(work / "country.mmdb"), trusted_proxies="127.0.0.1")
        website_id = cli(env, "site", "add", "example.com").splitlines()[0].rsplit(" id ", 1)[1].strip()
        collect_path = config.load(env).collect_path
        kinds = write_beacons(work / "beacons.tsv", traffic.Site(website_id, pages=5_000), load.visitors, collect_path)
        wrk = Wrk(load, work / "beacons.tsv", kinds)
        crumbless = Server("crumbless", [*crumbless_command(), "serve"], env, int(env["CRUMBLESS_PORT"]), work, counts=True)
        bare_port = free_port()
        bare = Server("bare", [sys.executable, str(HERE / "bare_app.py"), str(bare_port)], env, bare_port, work, counts=False)
        started = datetime.now(timezone.utc).date()
        try:
            crumbless.start()
            bare.start()
            for server in (bare, crumbless):
                wrk.run(server, load.warmup_seconds, measured=False)
            for i in range(load.runs):
                for server in (bare, crumbless) if i % 2 == 0 else (crumbless, bare):
                    wrk.run(server, load.seconds, measured=True)
        finally:
            exit_code = crumbless.stop()
            bare.stop()
        report = json.loads(cli(env, "stats", website_id, "--json", "--from", (started - timedelta(days=1)).isoformat()))
        settings = {k: v for k, v in env.items() if k.startswith("CRUMBLESS_") and k not in ("CRUMBLESS_DATA_DIR", "CRUMBLESS_GEO_DB")}
        return figures(wrk, report["totals"], exit_code, crumbless.stderr(), settings)


def figures(wrk: Wrk, totals: dict[str, Any], exit_code: int | None, stderr: str, settings: dict[str, str]) -> Result:
    measured = [r for r in wrk.runs if r["measured"]]
    rates = {name: statistics.median(r["hits_per_s"] for r in measured if r["server"] == name) for name in ("crumbless", "bare")}
    ratio = rates["crumbless"] / rates["bare"]
    cpu = {name: statistics.median([r["cpu_us_per_request"] for r in measured if r["server"] == name and r["cpu_us_per_request"] is not None] or [0.0])
           for name in ("crumbless", "bare")}
    target, passed = at_least(ratio, TARGET_RATIO)
    status_errors = sum(r["status_errors"] for r in wrk.runs)
    socket_errors = sum(r[k] for r in wrk.runs for k in ("connect_errors", "read_errors", "write_errors", "timeouts"))
    counted = totals["pageviews"] + totals["events"]
    plausible = wrk.expected <= counted <= wrk.expected + wrk.in_flight
    return Result(
        figures=[
            Figure("hits/s, Crumbless vs bare ASGI", rates["crumbless"], "/s", target, passed, baseline=rates["bare"], ratio=ratio),
            Figure("CPU per request (user + system), Crumbless vs bare ASGI", cpu["crumbless"], "µs", "", None,
                   baseline=cpu["bare"], ratio=cpu["crumbless"] / cpu["bare"] if cpu["bare"] else None),
            Figure("responses ≥ 400 (wrk)", status_errors, "", "= 0", status_errors == 0),
            Figure("socket errors and timeouts (wrk)", socket_errors, "", "= 0", socket_errors == 0),
            Figure("pageviews + events counted / sent", counted, "", "= sent", plausible, baseline=wrk.expected,
                   ratio=counted / wrk.expected if wrk.expected else None),
        ],
        details={"load": wrk.load.__dict__, "settings": settings, "runs": wrk.runs, "counted": totals, "expected_counted": wrk.expected,
                 "in_flight_allowance": wrk.in_flight, "crumbless_exit_code": exit_code, "crumbless_stderr_tail": stderr[-1000:]},
    )

"""``scripts/bench``: measure Crumbless against the performance budgets of DESIGN §9.

Runs the benchmarks, prints one table line per figure (value, baseline, ratio, target, ✓/✗) and
writes everything, raw runs included, to a JSON file. Each benchmark runs in a fresh process, so
no benchmark inherits another's heap, caches or event loop. The ones whose figures are not times
(storage, memory) run side by side; the timed ones (dashboard, busy, ingest, scaleout) run alone
afterwards, so nothing of ours competes with them for the machine's cores. The soak (ten
minutes; one with ``--quick``) runs only when named in ``--only``.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import importlib
import json
import multiprocessing
import shlex
import subprocess
import sys
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Sequence

REPO = Path(__file__).resolve().parents[2]
if __package__ in (None, ""):
    sys.path.insert(0, str(REPO))  # run as a script: make ``scripts.benchmarks`` and ``tests`` importable

from scripts.benchmarks import machine  # noqa: E402
from scripts.benchmarks.results import Figure, Result, table  # noqa: E402

# name → whether its figures are times (then it runs with the machine to itself)
BENCHMARKS: dict[str, bool] = {
    "storage": False, "memory": False, "dashboard": True, "busy": True, "ingest": True, "scaleout": True, "soak": True,
}
ON_REQUEST = ("soak",)          # too long for every run: only with --only


def names(raw: str) -> list[str]:
    chosen = [n.strip() for n in raw.split(",") if n.strip()]
    unknown = [n for n in chosen if n not in BENCHMARKS]
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(f"choose from {', '.join(BENCHMARKS)} (got {raw!r})")
    return chosen


def parse(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="scripts/bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes and short runs: a smoke test, not figures to quote")
    parser.add_argument("--json", type=Path, default=REPO / "bench-results.json", metavar="PATH", help="where to write the results (default: bench-results.json)")
    parser.add_argument("--only", type=names, default=[n for n in BENCHMARKS if n not in ON_REQUEST],
                        metavar="NAME[,NAME]", help=f"run only these: {', '.join(BENCHMARKS)}; without it, all but "
                        f"{', '.join(ON_REQUEST)} (the soak takes 10 minutes, 1 with --quick)")
    return parser.parse_args(argv)


def run_one(name: str, quick: bool) -> dict[str, Any]:
    """In the child process: one benchmark, its result as JSON-ready data."""
    module = importlib.import_module(f"scripts.benchmarks.{name}")
    started = time.perf_counter()
    result: Result = module.run(quick)
    return {"seconds": round(time.perf_counter() - started, 1), **result.to_json()}


def pool(workers: int) -> concurrent.futures.ProcessPoolExecutor:
    return concurrent.futures.ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"), max_tasks_per_child=1)


def collect(name: str, future: concurrent.futures.Future[dict[str, Any]]) -> dict[str, Any]:
    try:
        outcome = future.result()
    except Exception as exc:  # a broken benchmark must not hide the others' figures
        outcome = {"error": "".join(traceback.format_exception_only(exc)).strip()}
        print(f"{name}: failed: {outcome['error']}", file=sys.stderr, flush=True)
    else:
        print(f"{name}: done in {outcome['seconds']} s", file=sys.stderr, flush=True)
    return outcome


def run_all(selected: list[str], quick: bool) -> dict[str, dict[str, Any]]:
    outcomes: dict[str, dict[str, Any]] = {}
    side_by_side = [n for n in selected if not BENCHMARKS[n]]
    alone = [n for n in selected if BENCHMARKS[n]]
    with pool(2) as executor:
        futures = {name: executor.submit(run_one, name, quick) for name in side_by_side}
        if side_by_side:
            print(f"running {', '.join(side_by_side)} side by side…", file=sys.stderr, flush=True)
        outcomes.update({name: collect(name, future) for name, future in futures.items()})
    for name in alone:
        print(f"running {name}…", file=sys.stderr, flush=True)
        with pool(1) as executor:
            outcomes[name] = collect(name, executor.submit(run_one, name, quick))
    return {name: outcomes[name] for name in selected}


def as_results(outcomes: dict[str, dict[str, Any]]) -> dict[str, Result]:
    return {name: Result([Figure(**f) for f in o.get("figures", [])]) for name, o in outcomes.items()}


def revision() -> dict[str, Any] | None:
    """The commit measured and the tracked files changed since: figures belong to a version of the code."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=True).stdout

    try:
        return {"commit": git("rev-parse", "HEAD").strip(), "modified": [line[3:] for line in git("status", "--porcelain", "--untracked-files=no").splitlines()]}
    except (OSError, subprocess.CalledProcessError):
        return None  # not a git checkout


def main(argv: Sequence[str]) -> int:
    args = parse(argv)
    started = datetime.now(timezone.utc)
    code = revision()
    outcomes = run_all(args.only, args.quick)
    report = {
        "format": 1,
        "machine": machine.describe(),
        "command": shlex.join(["scripts/bench", *argv]),
        "revision": code,
        "started": started.isoformat(timespec="seconds"),
        "seconds": round((datetime.now(timezone.utc) - started).total_seconds(), 1),
        "quick": args.quick,
        "results": outcomes,
    }
    args.json.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    print()
    print(table(as_results(outcomes)))
    failed = [name for name, o in outcomes.items() if "error" in o]
    verdicts = [f["passed"] for o in outcomes.values() for f in o.get("figures", []) if f["passed"] is not None]
    print(f"\n{sum(verdicts)} of {len(verdicts)} targets met in {report['seconds']} s; results in {args.json}")
    if failed:
        print(f"failed to run: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

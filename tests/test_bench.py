"""scripts/bench's in-process benchmarks at --quick sizes: the JSON they write, and that it adds up.

Only behaviour is checked (structure, positive figures, beacons counted equal beacons sent),
never a time or whether a budget was met: those are the bench's to report, on a quiet machine.
The ingest benchmark needs wrk and a minute of load, so it is left to ``scripts/bench``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
IN_PROCESS = ("storage", "memory", "dashboard", "busy")
YEARS = ("dashboard", "busy")  # one implementation, two sizes of site


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("bench") / "results.json"
    command = [sys.executable, str(REPO / "scripts/benchmarks/main.py"), "--quick", "--only", ",".join(IN_PROCESS), "--json", str(out)]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "targets met" in done.stdout
    loaded: dict[str, Any] = json.loads(out.read_text())
    return loaded


def figures(report: dict[str, Any], name: str) -> dict[str, dict[str, Any]]:
    return {f["label"]: f for f in report["results"][name]["figures"]}


def test_the_report_says_what_ran_where(report: dict[str, Any]) -> None:
    assert report["format"] == 1
    assert report["quick"] is True
    assert report["command"].startswith("scripts/bench --quick")
    assert "revision" in report  # the commit measured, when run from a git checkout
    assert {"cpu", "cores", "memory_bytes", "python", "os"} <= set(report["machine"])
    assert report["machine"]["cores"] >= 1
    assert list(report["results"]) == list(IN_PROCESS)
    for name in IN_PROCESS:
        result = report["results"][name]
        assert "error" not in result, result.get("error")
        for figure in result["figures"]:
            assert set(figure) == {"label", "value", "unit", "target", "passed", "baseline", "ratio"}
            assert figure["value"] >= 0
            assert (figure["passed"] is None) == (figure["target"] == ""), figure


def test_storage_counts_every_pageview_it_sent_and_measures_the_file(report: dict[str, Any]) -> None:
    details = report["results"]["storage"]["details"]
    sent = details["sent"]["beacons"]
    assert sent["pageview"] > 0 and sent["engagement"] > 0 and sent["event"] > 0
    assert details["pageviews"] == sent["pageview"]
    assert figures(report, "storage")["pageviews counted / sent"]["passed"] is True
    assert details["rows"]["daily"] > 0 and details["rows"]["hourly"] > 0
    assert details["rows"]["salts"] <= 1  # every day but the current one was closed
    size = figures(report, "storage")["database file (+WAL)"]["value"]
    assert size == details["file"]["database"] + details["file"]["wal"] > 0
    assert figures(report, "storage")["bytes per pageview"]["value"] == pytest.approx(size / details["pageviews"])


def test_memory_drops_one_record_per_visitor(report: dict[str, Any]) -> None:
    details = report["results"]["memory"]["details"]
    assert details["visitors"] >= 10_000
    assert details["records_dropped"] == details["visitors"]
    assert details["outcomes"] == {"counted": details["hits"]}
    per_visitor = figures(report, "memory")
    assert per_visitor["bytes per daily visitor (tracemalloc)"]["value"] > 0
    assert 0 < per_visitor["of which freed at day close"]["value"] <= per_visitor["bytes per daily visitor (tracemalloc)"]["value"]


@pytest.mark.parametrize("name", YEARS)
def test_a_year_of_data_times_both_ranges(report: dict[str, Any], name: str) -> None:
    details = report["results"][name]["details"]
    assert set(details["timings"]) == {"30d", "365d"}
    for timing in details["timings"].values():
        for kind in ("http_ms", "stats_ms"):
            runs = timing["runs"][kind]
            assert len(runs) == details["year"]["runs"] and all(ms > 0 for ms in runs)
            assert timing[kind]["median"] <= timing[kind]["p95"] <= max(runs)
    year, month = details["totals"]["365"], details["totals"]["30"]
    assert year["pageviews"] > month["pageviews"] > 0


@pytest.mark.parametrize("name", YEARS)
def test_a_year_of_data_stores_every_pageview_written_and_weighs_the_file(report: dict[str, Any], name: str) -> None:
    details = report["results"][name]["details"]
    shown = figures(report, name)
    samples = details["samples"]
    assert len(samples) == details["year"]["sample_days"]
    for sample in samples:  # each sample day counted every pageview it sent
        assert sample["pageviews"] == sample["sent"]["pageview"] > 0
    written = details["pageviews_written"]
    # the year, and the visits running past its last midnight
    assert written * 0.99 <= details["totals"]["365"]["pageviews"] <= written
    assert details["pageviews_stored"] == written
    assert shown[label(details, "pageviews stored / written")]["passed"] is True
    size = shown[label(details, "database file (+WAL)")]["value"]
    assert size == details["file"]["database"] + details["file"]["wal"] > 0
    assert shown[label(details, "bytes per pageview")]["value"] == pytest.approx(size / written)
    per_day = sum(s["pageviews"] for s in samples) / len(samples)
    assert shown[label(details, "pageviews per day")]["value"] == pytest.approx(per_day)


def label(details: dict[str, Any], figure: str) -> str:
    prefix = details["year"]["label"]
    return f"{prefix} {figure}" if prefix else figure


def test_the_busy_year_is_labelled_and_judged_on_its_file(report: dict[str, Any]) -> None:
    busy, small = figures(report, "busy"), figures(report, "dashboard")
    assert all(text.startswith("busy year ") for text in busy)
    assert {text.removeprefix("busy year ") for text in busy} == set(small)  # the same figures, one implementation
    assert busy["busy year bytes per pageview"]["target"] != ""
    assert small["bytes per pageview"]["target"] == ""
    year = report["results"]["busy"]["details"]["year"]
    assert (year["pages"], year["referring_sites"], year["countries"]) == (20_000, 3_000, 150)

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
    command = [sys.executable, str(REPO / "scripts/benchmarks/main.py"), "--quick", "--only", ",".join(IN_PROCESS)]
    command += ["--json", str(out)]
    # minutes on a busy machine: the memory benchmark counts 100,000 visitors even at --quick
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=900)
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


def test_storage_weighs_the_month_with_and_without_its_segment_rows(report: dict[str, Any]) -> None:
    details = report["results"]["storage"]["details"]["segments"]
    shown = figures(report, "storage")
    weighed = details["vacuumed_bytes"]
    assert weighed["with_segments"] > weighed["without_segments"] > 0
    cost = shown["bytes per pageview VACUUMed, with segment rows / without"]
    pageviews = report["results"]["storage"]["details"]["pageviews"]
    assert cost["value"] == pytest.approx(weighed["with_segments"] / pageviews)
    assert cost["baseline"] == pytest.approx(weighed["without_segments"] / pageviews)
    assert cost["ratio"] == pytest.approx(cost["value"] / cost["baseline"])
    tables = details["vacuumed_table_bytes"]
    assert tables["with_segments"]["daily"] > tables["without_segments"]["daily"]


def test_storage_counts_the_cells_the_fold_finds_and_folds(report: dict[str, Any]) -> None:
    details = report["results"]["storage"]["details"]["segments"]
    census, left = details["census"], details["cells_left"]
    assert census["days"] == left["closed_days"] == report["results"]["storage"]["details"]["month"]["days"]
    before = census["before_fold"]
    assert {"country>page", "page>source"} <= set(before)
    for cells in before.values():
        assert cells["cells"] >= cells["under_k"] >= cells["single"] >= 0
    under_k = sum(c["under_k"] for c in before.values())
    assert 0 < under_k <= census["folded"]  # late rows' cells are folded too, but counted once per day
    assert 0 < left["on_closed_days"] < sum(c["cells"] for c in before.values())
    shown = figures(report, "storage")
    assert shown["segment cells folded"]["value"] == census["folded"]
    whole = sum(c["cells"] for c in before.values())
    assert shown["segment cells under k before the fold"]["value"] == pytest.approx(100 * under_k / whole)
    page_country = before["country>page"]
    quoted = shown["country>page cells of one visitor before the fold"]["value"]
    assert quoted == pytest.approx(100 * page_country["single"] / page_country["cells"])


def test_memory_drops_one_record_per_visitor(report: dict[str, Any]) -> None:
    details = report["results"]["memory"]["details"]
    assert details["visitors"] >= 10_000
    assert details["records_dropped"] == details["visitors"]
    assert details["outcomes"] == {"counted": details["hits"]}
    per_visitor = figures(report, "memory")
    assert per_visitor["bytes per daily visitor (tracemalloc)"]["value"] > 0
    per_day = per_visitor["bytes per daily visitor (tracemalloc)"]["value"]
    assert 0 < per_visitor["of which freed at day close"]["value"] <= per_day


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
def test_a_year_of_data_times_the_overview_filtered_by_its_top_source_and_page(
    report: dict[str, Any], name: str
) -> None:
    details = report["results"][name]["details"]
    shown = figures(report, name)
    for days in ("30", "365"):
        timing = details["timings"][f"{days}d"]
        assert set(timing["filtered"]) == {"source", "page"}
        for dim, filtered in timing["filtered"].items():
            assert filtered["filter"].startswith(f"{dim}:")
            for kind in ("http_ms", "stats_ms"):
                assert len(filtered["runs"][kind]) == details["year"]["runs"]
                assert all(ms > 0 for ms in filtered["runs"][kind])
            figure = shown[label(details, f"{days} d overview filtered by {dim} HTTP p95")]
            assert figure["value"] == filtered["http_ms"]["p95"]
            assert figure["baseline"] == timing["http_ms"]["p95"]
            assert figure["ratio"] == pytest.approx(figure["value"] / figure["baseline"])
            assert figure["target"] == "≤ 1.5"


@pytest.mark.parametrize("name", YEARS)
def test_a_year_of_data_is_written_from_folded_days(report: dict[str, Any], name: str) -> None:
    for sample in report["results"][name]["details"]["samples"]:
        assert sample["segment_cells_folded"] > 0
        assert sample["rows"] < sample["counted_rows"]  # its daily rows once folded, and its hours


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

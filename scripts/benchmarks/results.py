"""What a benchmark hands back, and the table the run ends with.

Each benchmark decides for itself whether it met its target (a throughput ratio, a byte count,
a latency percentile, a check that must hold) and says so in a ``Figure``; the table and the
JSON only present those decisions, so a figure and its verdict can never disagree.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import asdict, dataclass, field
from typing import Any, Sequence


@dataclass(frozen=True)
class Figure:
    """One line of the table."""

    label: str
    value: float
    unit: str
    target: str = ""                # as shown, e.g. "≥ 0.5"; "" when the line is for information
    passed: bool | None = None      # None: no target
    baseline: float | None = None   # what ``value`` is compared with, measured in the same run
    ratio: float | None = None


@dataclass
class Result:
    figures: list[Figure] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"figures": [asdict(f) for f in self.figures], "details": self.details}


def at_least(value: float, target: float) -> tuple[str, bool]:
    return f"≥ {target:g}", value >= target


def at_most(value: float, target: float) -> tuple[str, bool]:
    return f"≤ {target:g}", value <= target


def percentile(samples: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile: with 20 samples, p95 is the 19th smallest, a value that occurred."""
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def summary(samples: Sequence[float]) -> dict[str, float]:
    return {"median": statistics.median(samples), "p95": percentile(samples, 0.95), "min": min(samples), "max": max(samples), "runs": len(samples)}


def _number(value: float | None, unit: str = "") -> str:
    if value is None:
        return "—"
    text = f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.3g}" if value % 1 else f"{value:,.0f}"
    return f"{text} {unit}".rstrip()


def _verdict(passed: bool | None) -> str:
    return {True: "✓", False: "✗", None: ""}[passed]


def _rows(results: dict[str, Result]) -> list[tuple[str, ...]]:
    return [
        (name, f.label, _number(f.value, f.unit), _number(f.baseline, f.unit),
         "—" if f.ratio is None else f"{f.ratio:.3f}", f.target or "—", _verdict(f.passed))
        for name, result in results.items()
        for f in result.figures
    ]


HEADER = ("benchmark", "figure", "value", "baseline", "ratio", "target", "")


def table(results: dict[str, Result]) -> str:
    rows = [HEADER, *_rows(results)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEADER))]
    lines = ["  ".join(cell.ljust(w) if i < 2 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths))).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def markdown(results: dict[str, Result]) -> str:
    """The same table for BENCHMARKS.md."""
    lines = ["| " + " | ".join(HEADER) + " |", "|---|---|---:|---:|---:|---:|:-:|"]
    lines += ["| " + " | ".join(row) + " |" for row in _rows(results)]
    return "\n".join(lines)

"""Rendering an audit: short and readable for a person, stable and documented for monitoring.

The human report prints an address as it was found, because the operator at the terminal needs
it to find and remove the line. The JSON report masks it (``192.0.x.x``, ``2001:db8:…``): it is
meant for monitoring, which ships output into yet more logs, and the location alone is enough to
act on. The JSON shape is documented in ``docs/privacy.md``; ``format`` changes if it ever must.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from collector.audit.addresses import mask, mask_all
from collector.audit.findings import Finding, Report

if TYPE_CHECKING:
    from collector.audit.selftest import Outcome

JSON_FORMAT = 1
SHOWN = 50
"""Findings a person is shown; --json lists up to ``findings.MAX_FINDINGS``."""


def as_json(report: Report) -> str:
    document: dict[str, Any] = {
        "format": JSON_FORMAT,
        "ok": report.ok,
        "checked": {
            "files": report.files,
            "bytes": report.bytes,
            "tables": report.tables,
            "rows": report.rows,
            "salts": report.salts,
            "free_pages": report.free_pages,
            "skipped": [{"path": path, "reason": why} for path, why in report.skipped],
            "allowed_addresses": dict(sorted(report.allowed.items())),
        },
        "findings_total": report.total,
        "findings": [_json_finding(f) for f in report.findings],
    }
    return json.dumps(document, indent=2, ensure_ascii=False)


def _json_finding(finding: Finding) -> dict[str, str]:
    detail = finding.detail if finding.address is None else f"{finding.detail} {mask(finding.address)}"
    return {"kind": finding.kind, "where": mask_all(finding.where), "detail": detail}


def as_text(report: Report) -> str:
    if report.ok:
        lines = ["crumbless audit: no findings"]
    else:
        width = max(len(f.kind) for f in report.findings)
        lines = [f"crumbless audit: {report.total} finding{'s' if report.total != 1 else ''}", ""]
        lines += [f"  {f.kind:<{width}}  {_human_finding(f)}" for f in report.findings[:SHOWN]]
        if report.total > SHOWN:
            lines.append(f"  … and {report.total - SHOWN} more (--json lists up to {len(report.findings)})")
    lines += ["", _checked(report)]
    lines += [f"Skipped {path}: {why}." for path, why in report.skipped]
    if report.allowed:
        excused = "; ".join(f"{n} × {why}" for why, n in sorted(report.allowed.items()))
        lines.append(f"Addresses not reported (see docs/privacy.md): {excused}.")
    return "\n".join(lines)


def _human_finding(finding: Finding) -> str:
    address = f" {finding.address}" if finding.address is not None else ""
    return f"{finding.where}: {finding.detail}{address}"


def _checked(report: Report) -> str:
    return (
        f"Checked {_n(report.files, 'file')} ({_size(report.bytes)}), {_n(report.tables, 'table')} "
        f"({_n(report.rows, 'row')}), {_n(report.salts, 'salt')}, {_n(report.free_pages, 'free page')}."
    )


def _n(count: int, noun: str) -> str:
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


def _size(n: int) -> str:
    if n < 1024:
        return f"{n:,} bytes"
    exponent = min(3, (n.bit_length() - 1) // 10)
    return f"{n / 1024 ** exponent:.1f} {('KB', 'MB', 'GB')[exponent - 1]}"


def self_test_text(outcomes: Sequence[Outcome]) -> str:
    missed = sum(o.finding is None for o in outcomes)
    verdict = (
        f"all {len(outcomes)} planted leaks were found"
        if not missed
        else f"{missed} of {len(outcomes)} planted leaks were NOT found"
    )
    lines = [f"crumbless audit --self-test: {verdict}.", ""]
    width = max(len(o.plant.what) for o in outcomes)
    for o in outcomes:
        status, where = ("found ", o.finding.where) if o.finding else ("MISSED", "no finding")
        lines.append(f"  {status}  {o.plant.what:<{width}}  {where}")
    lines += ["", "Everything was planted in a scratch copy, deleted now; the deployment was only read."]
    return "\n".join(lines)


def self_test_json(outcomes: Sequence[Outcome]) -> str:
    planted = [
        {
            "what": o.plant.what,
            "kind": o.plant.kind,
            "found": o.finding is not None,
            "where": o.finding.where if o.finding else None,
        }
        for o in outcomes
    ]
    document = {"format": JSON_FORMAT, "ok": all(p["found"] for p in planted), "planted": planted}
    return json.dumps(document, indent=2, ensure_ascii=False)

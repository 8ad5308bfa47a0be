"""The spill file (``collector/spill.py``): Crumbless's own, and nothing in it but counter rows.

A stop that could not write its counters leaves them in ``pending-counters.json`` in the data
directory. Like every file there it is read byte by byte for addresses (``files.scan_files``);
being Crumbless's own, it is also held to its format, which only this check knows: every field
and row that is not a counter row of the known shape is reported, and the values of the rows
are judged exactly as the database's are (an address, a hash-sized integer, a hex digest).

A temporary file a crash left mid-write, or a file set aside at a start because it could not be
read, carries the same name with a suffix: it is checked the same way, so one that is not a
readable counter file is reported (the audit cannot vouch for it) until the operator removes it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from collector.audit.addresses import AddressRules
from collector.audit.database import Row, Table
from collector.audit.files import Target, spill_files
from collector.audit.findings import SCHEMA, UNCHECKED, Finding, Report
from collector.audit.schema import judge_value  # one judgement for a row, stored or pending
from collector.model import COUNTERS, HOURLY_COUNTERS
from collector.spill import DAILY_KEY, HOURLY_KEY, decode, problems


def check_spill_files(files: Sequence[Target], data_dir: Path, rules: AddressRules, report: Report) -> None:
    for target, path in spill_files(files, data_dir):
        try:
            data = path.read_bytes()
            document = json.loads(data)
        except OSError as exc:
            reason = exc.strerror or exc
            report.add(Finding(UNCHECKED, target.label, f"pending-counters file could not be read: {reason}"))
            continue
        except (ValueError, RecursionError) as exc:
            reason = f"pending-counters file is not JSON ({type(exc).__name__}); its contents cannot be vouched for"
            report.add(Finding(UNCHECKED, target.label, reason))
            continue
        clean = True
        for where, what in problems(document):
            label = f"{target.label}: {where}" if where else target.label
            report.add(Finding(SCHEMA, label, f"{what} (only counter rows belong here)"))
            clean = False
        if clean:
            _judge_rows(target.label, data, rules, report)


def _judge_rows(label: str, data: bytes, rules: AddressRules, report: Report) -> None:
    batch = decode(data)
    daily = Table(f"{label} daily", (*DAILY_KEY, *COUNTERS), DAILY_KEY, rowid=False)
    hourly = Table(f"{label} hourly", (*HOURLY_KEY, *HOURLY_COUNTERS), HOURLY_KEY, rowid=False)
    for table, rows in ((daily, batch.daily), (hourly, batch.hourly)):
        for key, counts in rows.items():
            row = Row(table, None, dict(zip(table.columns, (*key, *counts), strict=True)))
            for column, value in row.values.items():
                judge_value(row, column, value, rules, report)

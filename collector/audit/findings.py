"""What an audit found and what it looked at: the one structure every check writes into.

The checks never print; they add findings and counts here, and ``report.py`` renders the same
result for a person and for monitoring. Keeping "what was checked" next to "what was found" is
what makes a clean result mean something: zero findings over zero files proves nothing.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

# The kinds of finding; docs/privacy.md documents each for --json consumers.
ADDRESS = "address"      # an IP address in text form in a file or a database value
SCHEMA = "schema"        # a table, column or trigger that could hold identifiers
SALT = "salt"            # a salt row older than allowed, or the bytes of a deleted salt
RESIDUE = "residue"      # deleted data left in the database file's free pages
CONFIG = "config"        # a setting that would store or log identifiers, or let clients choose them
SEGMENT = "segment"      # a segment cell of a closed day with fewer visitors than the privacy budget's k
UNCHECKED = "unchecked"  # something the audit could not inspect, so it cannot vouch for it

MAX_FINDINGS = 1000
"""Findings kept in full; beyond it only counted, so a log full of addresses cannot flood the output."""


@dataclass(frozen=True)
class Finding:
    kind: str
    where: str                   # file + byte offset, or table.column + row
    detail: str                  # what is wrong, without the address itself
    address: str | None = None   # the address as written, when the finding is one


@dataclass
class Report:
    keep: int = MAX_FINDINGS
    findings: list[Finding] = field(default_factory=list)
    total: int = 0
    files: int = 0
    bytes: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, why)
    tables: int = 0
    rows: int = 0
    salts: int = 0
    free_pages: int = 0
    allowed: Counter[str] = field(default_factory=Counter)     # excuse → addresses not reported

    @property
    def ok(self) -> bool:
        return self.total == 0

    def add(self, finding: Finding) -> None:
        self.total += 1
        if len(self.findings) < self.keep:
            self.findings.append(finding)

    def excuse(self, reason: str) -> None:
        self.allowed[reason] += 1

    def skip(self, path: str, why: str) -> None:
        self.skipped.append((path, why))

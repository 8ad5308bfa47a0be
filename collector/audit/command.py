"""What ``crumbless audit`` does with its arguments: run the audit or the self-test, render, exit status.

Kept apart from ``collector/cli.py`` so the CLI stays a table of commands, and so tests can run
exactly what the command runs without going through ``argparse``.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable, Sequence

from collector.audit import Address, audit
from collector.audit.report import as_json, as_text, self_test_json, self_test_text
from collector.audit.selftest import self_test
from collector.config import Settings

clock: Callable[[], float] = time.time
"""The time salts are judged against; a module attribute so tests can run the command on a fake day."""


class UsageError(ValueError):
    """A bad argument; the message is the whole explanation."""


def run(
    settings: Settings, logs: Sequence[str], allow: Sequence[str], json: bool, self_testing: bool
) -> tuple[str, int]:
    """(what to print, exit status): 0 when nothing was found (or every plant was), 1 otherwise."""
    if self_testing:
        outcomes = self_test(settings, now=clock())
        ok = all(o.finding is not None for o in outcomes)
        return (self_test_json(outcomes) if json else self_test_text(outcomes)), 0 if ok else 1
    report = audit(settings, logs, now=clock(), allow=frozenset(_address(a) for a in allow))
    return (as_json(report) if json else as_text(report)), 0 if report.ok else 1


def _address(text: str) -> Address:
    """One exact address: a network would let a whole range of visitors through unexamined."""
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        raise UsageError(f"--allow takes one IP address (not a network), got {text!r}") from None

"""How a long import or export tells the operator where it is.

On a terminal: rich's progress bar with rate and time left, redrawn in place on stderr. Anywhere
else (a log, a pipe, cron): a plain line now and then, since a redrawn bar is noise in a file.
Either way the work calls only ``advance``, so what is counted is the same.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn

PLAIN_EVERY_S = 5.0
"""Seconds between two plain progress lines."""


class Meter:
    """A progress report of ``total`` units (0: not known in advance) named ``unit``."""

    def __init__(self, label: str, total: int, unit: str, stream: TextIO | None = None, quiet: bool = False) -> None:
        self.label, self.total, self.unit = label, total, unit
        self.stream = sys.stderr if stream is None else stream
        self.done = 0
        self.started = time.monotonic()
        self._last_line = self.started
        self.quiet = quiet  # the dashboard's upload: nobody reads a terminal there
        self._bar: Progress | None = None
        if not quiet and self.stream.isatty():
            self._bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TaskProgressColumn(),
                TextColumn("{task.fields[rate]}"),
                TimeRemainingColumn(),
                transient=True,
            )
            self._task = self._bar.add_task(label, total=total or None, rate="")
            self._bar.start()

    def advance(self, n: int = 1) -> None:
        self.done += n
        now = time.monotonic()
        if self._bar is not None:
            self._bar.update(self._task, advance=n, rate=f"{self.rate():,.0f} {self.unit}/s")
        elif not self.quiet and now - self._last_line >= PLAIN_EVERY_S:
            self._last_line = now
            of = f" of {self.total:,}" if self.total else ""
            print(f"{self.label}: {self.done:,}{of} {self.unit}, {self.rate():,.0f}/s", file=self.stream, flush=True)

    def rate(self) -> float:
        elapsed = time.monotonic() - self.started
        return self.done / elapsed if elapsed > 0 else 0.0

    def close(self) -> float:
        """Stop the bar; returns the seconds the work took."""
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
        return time.monotonic() - self.started

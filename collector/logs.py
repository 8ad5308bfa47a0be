"""Logging set-up for every Crumbless process: one format, to stderr, and no uvicorn access log.

``CRUMBLESS_LOG_LEVEL=debug`` makes Crumbless's own loggers talkative, never other libraries':
at debug level aiosqlite logs each statement with its parameters, today's salt included, and
uvicorn's lower levels name client addresses. Third-party loggers therefore stay at info or above.
"""

from __future__ import annotations

import logging
import sys
import time

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
ACCESS_LINES = "access_lines"
"""A record's attribute holding a batch of access-log lines, ``[(time, message), ...]``
(``accesslog.BatchedAccessLog``): each is written as a line of its own, with its own time."""


class Formatter(logging.Formatter):
    """``FORMAT``, and a batch of access-log lines as the lines a record each would have given."""

    def __init__(self) -> None:
        super().__init__(FORMAT)
        self._cached = (-1, "")  # one attribute: the flusher's thread logs too

    def format(self, record: logging.LogRecord) -> str:
        lines: list[tuple[float, str]] | None = getattr(record, ACCESS_LINES, None)
        if lines is None:
            return super().format(record)
        tail = f" {record.levelname} {record.name}: "
        return "\n".join(f"{self._asctime(created)}{tail}{text}" for created, text in lines)

    def _asctime(self, created: float) -> str:
        """What ``formatTime`` gives for a record made at ``created``, its date part made once a second."""
        second = int(created)
        cached_second, stamp = self._cached
        if second != cached_second:
            stamp = time.strftime(self.default_time_format, self.converter(created))
            self._cached = (second, stamp)
        return f"{stamp},{int((created - second) * 1000):03d}"  # as ``default_msec_format``


def configure(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(Formatter())
    chosen = logging.getLevelName(level.upper())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(max(chosen, logging.INFO))
    logging.getLogger("crumbless").setLevel(chosen)
    # Uvicorn's access logger prints client addresses; it must never emit a line.
    access = logging.getLogger("uvicorn.access")
    access.handlers[:] = []
    access.propagate = False
    access.disabled = True
